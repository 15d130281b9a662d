// The RBAC types (API.md §8), built in like ResourceType and Lease, in
// Kubernetes' shapes (rbac.authorization.k8s.io/v1): Role and RoleBinding
// (namespaced), ClusterRole and ClusterRoleBinding (cluster-scoped). Their
// fields sit at the top level, not under `spec`; the checks here run on every
// write of them and reject what kube-apiserver's validation rejects.
// Evaluating them is the server's business (src/server/auth/rbac.ts).

import type { FieldCause } from "../errors.ts";
import type { LooseObject } from "../wire.ts";
import type { ObjectCheck } from "./type-validators.ts";
import type { TypeInfo } from "./type-info.ts";

export const RBAC_GROUP = "rbac.authorization.k8s.io";

/** One rule of a Role or ClusterRole. */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: "User" | "Group" | "ServiceAccount";
  name: string;
  apiGroup?: string;
  namespace?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: "Role" | "ClusterRole";
  name: string;
}

/** A closed object schema of these fields (unknown-field checks, OpenAPI for `kubectl explain`; values are checked below). */
const fields = (description: string, props: Record<string, Record<string, unknown>>, required?: string[]): Record<string, unknown> => ({
  type: "object",
  description,
  properties: props,
  ...(required ? { required } : {}),
});
const list = (description: string, items: Record<string, unknown>): Record<string, unknown> => ({ type: "array", description, items });
const str = (description: string): Record<string, unknown> => ({ type: "string", description });
const strings = (description: string): Record<string, unknown> => list(description, { type: "string" });

const POLICY_RULE = fields(
  "One permission: verbs on resources of API groups (or on non-resource URLs), optionally only the named objects.",
  {
    verbs: strings("Verbs allowed: get, list, watch, create, update, patch, delete, deletecollection, or * for all."),
    apiGroups: strings('API groups of the resources; "" is the core group, * any group.'),
    resources: strings("Resources (plurals) the rule applies to, or plural/status for the status subresource; * for all."),
    resourceNames: strings("Names of the objects the rule is limited to; empty means every object."),
    nonResourceURLs: strings("URL paths (such as /metrics; a trailing * matches a prefix), in ClusterRoles only."),
  },
  ["verbs"],
);
const LABEL_SELECTOR = fields("Selects ClusterRoles by their labels.", {
  matchLabels: { type: "object", description: "Labels a ClusterRole must have, key to value.", additionalProperties: { type: "string" } },
  matchExpressions: list(
    "Requirements on labels.",
    fields("One requirement on a label.", {
      key: str("The label key."),
      operator: str("In, NotIn, Exists or DoesNotExist."),
      values: strings("The values of In and NotIn."),
    }),
  ),
});
const SUBJECTS = list(
  "Who the binding grants the role to.",
  fields(
    "A user, a group or a service account.",
    {
      kind: str("User, Group or ServiceAccount."),
      apiGroup: str('rbac.authorization.k8s.io for User and Group (the default), "" for ServiceAccount.'),
      name: str("The user's, group's or service account's name."),
      namespace: str("The service account's namespace."),
    },
    ["kind", "name"],
  ),
);
const ROLE_REF = fields(
  "The role granted: a Role in the binding's namespace or a ClusterRole. It cannot change once set.",
  { apiGroup: str("rbac.authorization.k8s.io (the default)."), kind: str("Role or ClusterRole."), name: str("The role's name.") },
  ["kind", "name"],
);

/** kube's rbac/v1 Go structs, as schemas of the top-level fields (API.md §8). */
const FIELDS: Record<string, Record<string, unknown>> = {
  Role: fields("", { rules: list("The permissions the role holds.", POLICY_RULE) }),
  ClusterRole: fields("", {
    rules: list("The permissions the role holds.", POLICY_RULE),
    aggregationRule: fields("Stored, not acted on: Setpoint does not aggregate ClusterRoles.", {
      clusterRoleSelectors: list("Selectors of the ClusterRoles to aggregate.", LABEL_SELECTOR),
    }),
  }),
  RoleBinding: fields("", { subjects: SUBJECTS, roleRef: ROLE_REF }, ["roleRef"]),
};
FIELDS.ClusterRoleBinding = FIELDS.RoleBinding!;

const rbacType = (kind: string, plural: string, namespaced: boolean): TypeInfo => ({
  name: `${plural}.${RBAC_GROUP}`,
  group: RBAC_GROUP,
  version: "v1",
  kind,
  plural,
  singular: kind.toLowerCase(),
  namespaced,
  specless: true,
  fieldsSchema: FIELDS[kind],
  revision: 0,
});

export const ROLES = rbacType("Role", "roles", true);
export const CLUSTER_ROLES = rbacType("ClusterRole", "clusterroles", false);
export const ROLE_BINDINGS = rbacType("RoleBinding", "rolebindings", true);
export const CLUSTER_ROLE_BINDINGS = rbacType("ClusterRoleBinding", "clusterrolebindings", false);

export const RBAC_TYPES: readonly TypeInfo[] = [CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS];

/** Whether a path names one of the RBAC types (built in: protobuf bodies and strategic merge patches are read for them). */
export function isRbacResource(ref: { group: string; version: string; plural: string }): boolean {
  return ref.group === RBAC_GROUP && ref.version === "v1" && RBAC_TYPES.some((t) => t.plural === ref.plural);
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

function checkRules(o: LooseObject, allowNonResource: boolean): FieldCause[] {
  const causes: FieldCause[] = [];
  const rules = o.rules;
  if (rules === undefined || rules === null) return causes;
  if (!Array.isArray(rules)) return [{ field: "rules", message: "Invalid value: must be a list of rules", reason: "FieldValueInvalid" }];
  rules.forEach((r: unknown, i) => {
    const at = `rules[${i}]`;
    if (r === null || typeof r !== "object" || Array.isArray(r)) {
      causes.push({ field: at, message: "Invalid value: must be an object", reason: "FieldValueInvalid" });
      return;
    }
    const rule = r as Record<string, unknown>;
    for (const f of ["verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"]) {
      if (rule[f] !== undefined && rule[f] !== null && !isStringArray(rule[f]))
        causes.push({ field: `${at}.${f}`, message: "Invalid value: must be a list of strings", reason: "FieldValueInvalid" });
    }
    if (!isStringArray(rule.verbs) || rule.verbs.length === 0)
      causes.push({ field: `${at}.verbs`, message: "Required value: verbs must contain at least one value", reason: "FieldValueRequired" });
    const nonResource = isStringArray(rule.nonResourceURLs) && rule.nonResourceURLs.length > 0;
    const resource = isStringArray(rule.resources) && rule.resources.length > 0;
    if (nonResource && !allowNonResource)
      causes.push({
        field: `${at}.nonResourceURLs`,
        message: "Invalid value: namespaced rules cannot apply to non-resource URLs",
        reason: "FieldValueInvalid",
      });
    if (nonResource && resource)
      causes.push({
        field: `${at}.nonResourceURLs`,
        message: "Invalid value: rules cannot apply to both regular resources and non-resource URLs",
        reason: "FieldValueInvalid",
      });
    if (!nonResource && !resource)
      causes.push({ field: `${at}.resources`, message: "Required value: resource rules must supply at least one resource", reason: "FieldValueRequired" });
    if (resource && !(isStringArray(rule.apiGroups) && rule.apiGroups.length > 0))
      causes.push({ field: `${at}.apiGroups`, message: "Required value: resource rules must supply at least one api group", reason: "FieldValueRequired" });
  });
  return causes;
}

/** A value as kube prints the Go string it decoded (`""` for one that is absent). */
const goString = (v: unknown): string => JSON.stringify(typeof v === "string" ? v : "");

/**
 * kube's defaults for the binding types (pkg/apis/rbac/v1/defaults.go), applied
 * on every write before the checks: a `roleRef` without `apiGroup`, and a
 * `User` or `Group` subject without one, get `rbac.authorization.k8s.io`, so
 * that the manifests people write (`roleRef: {kind: ClusterRole, name: view}`)
 * are stored as kube stores them. Copies what it changes; other types are left.
 */
export function defaultRbacObject(t: TypeInfo, o: LooseObject): void {
  if (t !== ROLE_BINDINGS && t !== CLUSTER_ROLE_BINDINGS) return;
  const ref = o.roleRef;
  if (ref !== null && typeof ref === "object" && !Array.isArray(ref)) {
    const r = ref as Record<string, unknown>;
    if (r.apiGroup === undefined || r.apiGroup === null || r.apiGroup === "") o.roleRef = { ...r, apiGroup: RBAC_GROUP };
  }
  if (Array.isArray(o.subjects))
    o.subjects = o.subjects.map((s: unknown) => {
      if (s === null || typeof s !== "object" || Array.isArray(s)) return s;
      const subject = s as Record<string, unknown>;
      const unset = subject.apiGroup === undefined || subject.apiGroup === null || subject.apiGroup === "";
      return unset && (subject.kind === "User" || subject.kind === "Group") ? { ...subject, apiGroup: RBAC_GROUP } : s;
    });
}

function checkBinding(o: LooseObject, clusterBinding: boolean): FieldCause[] {
  const causes: FieldCause[] = [];
  const ref = o.roleRef as Record<string, unknown> | undefined;
  if (ref === undefined || ref === null || typeof ref !== "object" || Array.isArray(ref)) {
    causes.push({ field: "roleRef", message: "Required value", reason: "FieldValueRequired" });
  } else {
    if (ref.apiGroup !== RBAC_GROUP)
      causes.push({
        field: "roleRef.apiGroup",
        message: `Unsupported value: ${goString(ref.apiGroup)}: supported values: "${RBAC_GROUP}"`,
        reason: "FieldValueNotSupported",
      });
    const kinds = clusterBinding ? ["ClusterRole"] : ["Role", "ClusterRole"];
    if (typeof ref.kind !== "string" || !kinds.includes(ref.kind))
      causes.push({
        field: "roleRef.kind",
        message: `Unsupported value: ${goString(ref.kind)}: supported values: ${kinds.map((k) => `"${k}"`).join(", ")}`,
        reason: "FieldValueNotSupported",
      });
    if (typeof ref.name !== "string" || ref.name === "") causes.push({ field: "roleRef.name", message: "Required value", reason: "FieldValueRequired" });
  }
  const subjects = o.subjects;
  if (subjects !== undefined && subjects !== null) {
    if (!Array.isArray(subjects)) causes.push({ field: "subjects", message: "Invalid value: must be a list of subjects", reason: "FieldValueInvalid" });
    else {
      subjects.forEach((s: unknown, i) => {
        const at = `subjects[${i}]`;
        const subject = (s ?? {}) as Record<string, unknown>;
        if (!["User", "Group", "ServiceAccount"].includes(subject.kind as string))
          causes.push({
            field: `${at}.kind`,
            message: `Unsupported value: ${goString(subject.kind)}: supported values: "ServiceAccount", "User", "Group"`,
            reason: "FieldValueNotSupported",
          });
        if (typeof subject.name !== "string" || subject.name === "")
          causes.push({ field: `${at}.name`, message: "Required value", reason: "FieldValueRequired" });
        // As kube: a User or Group is rbac.authorization.k8s.io's (the default), a ServiceAccount the core group's.
        const group = subject.apiGroup ?? "";
        const wanted = subject.kind === "ServiceAccount" ? "" : subject.kind === "User" || subject.kind === "Group" ? RBAC_GROUP : undefined;
        if (wanted !== undefined && group !== wanted)
          causes.push({
            field: `${at}.apiGroup`,
            message: `Unsupported value: ${goString(group)}: supported values: ${JSON.stringify(wanted)}`,
            reason: "FieldValueNotSupported",
          });
        if (subject.kind === "ServiceAccount" && !clusterBinding && subject.namespace === undefined) return;
        if (subject.kind === "ServiceAccount" && (typeof subject.namespace !== "string" || subject.namespace === ""))
          causes.push({ field: `${at}.namespace`, message: "Required value", reason: "FieldValueRequired" });
      });
    }
  }
  return causes;
}

/**
 * kube's ValidateRoleBindingUpdate: a binding's roleRef never changes (a
 * binding means one role; to point at another, delete and recreate it).
 */
function checkRoleRefKept(o: LooseObject, before: LooseObject | undefined): FieldCause[] {
  if (before === undefined) return [];
  const was = (before.roleRef ?? {}) as Record<string, unknown>;
  const now = (o.roleRef ?? {}) as Record<string, unknown>;
  if (was.apiGroup === now.apiGroup && was.kind === now.kind && was.name === now.name) return [];
  // Go's %#v of the internal rbac.RoleRef, as kube prints the value.
  const go = (v: unknown) => JSON.stringify(typeof v === "string" ? v : "");
  const value = `rbac.RoleRef{APIGroup:${go(now.apiGroup)}, Kind:${go(now.kind)}, Name:${go(now.name)}}`;
  return [{ field: "roleRef", message: `Invalid value: ${value}: cannot change roleRef`, reason: "FieldValueInvalid" }];
}

/** Whole-object checks of the RBAC types, by type name, for the server's validators. */
export const RBAC_VALIDATORS: ReadonlyMap<string, ObjectCheck> = new Map<string, ObjectCheck>([
  [ROLES.name, (o) => checkRules(o, false)],
  [CLUSTER_ROLES.name, (o) => checkRules(o, true)],
  [ROLE_BINDINGS.name, (o, before) => [...checkBinding(o, false), ...checkRoleRefKept(o, before)]],
  [CLUSTER_ROLE_BINDINGS.name, (o, before) => [...checkBinding(o, true), ...checkRoleRefKept(o, before)]],
]);
