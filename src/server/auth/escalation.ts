// RBAC escalation prevention, as kube-apiserver has it: a user may create or
// change a Role or ClusterRole only with rules they already hold (or with the
// `escalate` verb on it), and may bind a role only if they hold all of its
// rules (or have the `bind` verb on it). Otherwise anyone allowed to write
// RBAC objects could grant themselves anything.
//
// "Holds a rule" is checked rule by rule, expanded into single (API group,
// resource, verb, name) tuples, each asked of the authorizer with its literal
// values: a wildcard in the new rule is covered only by a wildcard the user
// holds, a rule without resourceNames only by one without them. Pure and
// in-memory: it runs inside the store's write transaction.

import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, RBAC_GROUP, ROLE_BINDINGS, ROLES, type PolicyRule, type RoleRef } from "../../api/rbac-types.ts";
import { ApiError } from "../../errors.ts";
import type { UserInfo } from "./authenticator.ts";
import type { RequestAttributes } from "./attributes.ts";
import type { Authorizer } from "./rbac.ts";

const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);

/** The rules of `rules` that `user` does not hold in `namespace` ("" = cluster-wide), by index. */
export function rulesNotHeld(authorizer: Authorizer, user: UserInfo, namespace: string, rules: unknown): number[] {
  const missing: number[] = [];
  (Array.isArray(rules) ? rules : []).forEach((raw: unknown, i) => {
    const rule = (raw ?? {}) as PolicyRule;
    const held = (a: RequestAttributes) => authorizer.authorize(user, a).allowed;
    let ok = true;
    for (const verb of list(rule.verbs)) {
      for (const url of list(rule.nonResourceURLs)) if (!held({ kind: "nonResource", verb, path: url })) ok = false;
      for (const group of list(rule.apiGroups)) {
        for (const res of list(rule.resources)) {
          const [resource, subresource = ""] = res.split("/", 2) as [string, string?];
          const names = list(rule.resourceNames);
          for (const name of names.length > 0 ? names : [""]) {
            if (!held({ kind: "resource", verb, group, version: "", resource, subresource, namespace, name })) ok = false;
          }
        }
      }
    }
    if (!ok) missing.push(i);
  });
  return missing;
}

/**
 * Throws 403 Forbidden (kube's message) when `user` writing `object` of the RBAC
 * type named `typeName` would grant permissions they do not hold.
 * `rolesOf` returns the rules of a referenced role (undefined if it does not exist).
 */
export function checkEscalation(
  authorizer: Authorizer,
  user: UserInfo,
  typeName: string,
  object: { metadata?: { name?: unknown; namespace?: unknown }; rules?: unknown; roleRef?: unknown },
  rolesOf: (ref: RoleRef, namespace: string) => unknown,
): void {
  const namespace = typeof object.metadata?.namespace === "string" ? object.metadata.namespace : "";
  const name = typeof object.metadata?.name === "string" ? object.metadata.name : "";
  const may = (verb: string, resource: string, ns: string, n: string) =>
    authorizer.authorize(user, { kind: "resource", verb, group: RBAC_GROUP, version: "v1", resource, subresource: "", namespace: ns, name: n }).allowed;
  const refuse = (resource: string, what: string): never => {
    throw new ApiError(
      "Forbidden",
      `${resource}.${RBAC_GROUP} ${JSON.stringify(name)} is forbidden: user ${JSON.stringify(user.name)} (groups=${JSON.stringify(user.groups)}) is attempting to grant RBAC permissions not currently held: ${what}`,
      {
        subject: { group: RBAC_GROUP, kind: resource, name },
      },
    );
  };
  if (typeName === ROLES.name || typeName === CLUSTER_ROLES.name) {
    const resource = typeName === ROLES.name ? "roles" : "clusterroles";
    if (may("escalate", resource, namespace, name)) return;
    const missing = rulesNotHeld(authorizer, user, namespace, object.rules);
    if (missing.length > 0)
      refuse(resource, `rules ${missing.map((i) => `[${i}]`).join(", ")} ${JSON.stringify(missing.map((i) => (object.rules as unknown[])[i]))}`);
    return;
  }
  if (typeName === ROLE_BINDINGS.name || typeName === CLUSTER_ROLE_BINDINGS.name) {
    const resource = typeName === ROLE_BINDINGS.name ? "rolebindings" : "clusterrolebindings";
    const ref = object.roleRef as RoleRef | undefined;
    if (!ref || typeof ref.name !== "string") return; // the shape check reports it
    const refResource = ref.kind === "Role" ? "roles" : "clusterroles";
    // `bind` on the referenced role: a Role in the binding's namespace, a ClusterRole anywhere the binding applies.
    if (may("bind", refResource, namespace, ref.name)) return;
    const missing = rulesNotHeld(authorizer, user, namespace, rolesOf(ref, namespace));
    if (missing.length > 0) refuse(resource, `${ref.kind} ${JSON.stringify(ref.name)} holds rules this user does not (or does not exist yet)`);
    if (rolesOf(ref, namespace) === undefined)
      refuse(resource, `${ref.kind} ${JSON.stringify(ref.name)} does not exist; only a user with the bind verb on it may bind it`);
  }
}
