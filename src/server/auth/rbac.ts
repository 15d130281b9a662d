// Authorization (API.md §8): `AlwaysAllow`, or RBAC evaluated from an
// in-memory index of the Role, ClusterRole, RoleBinding and
// ClusterRoleBinding objects.
//
// The index is kept current by watching the four types through the watch hub
// (followRbac), so it follows the store's change stream whoever wrote it: a
// role written through any replica reaches every replica's index as soon as
// that replica's hub sees the commit. The store tells this process's hub of
// a commit before the write is acknowledged, so a change committed through
// this process applies to the very next request.
//
// A decision looks up the bindings of the user's name and each of its groups
// (a map lookup each), resolves each binding's role by name at that moment,
// and matches rules: microseconds, no store reads. Members of
// `system:masters` may do everything; authenticated users may read discovery
// documents and create SelfSubjectAccessReviews (kube's system:discovery and
// system:basic-user bootstrap roles).

import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES, type PolicyRule, type RoleRef, type Subject } from "../../api/rbac-types.ts";
import { apiVersionOf, type TypeInfo } from "../../api/types.ts";
import type { WatchHub, WatchSink } from "../../watch.ts";
import { AUTHENTICATED_GROUP, MASTERS_GROUP, type UserInfo } from "./authenticator.ts";
import type { RequestAttributes, ResourceAttributes } from "./attributes.ts";

export interface Decision {
  allowed: boolean;
  /** Why (for SelfSubjectAccessReview `status.reason`); "" when there is nothing to say. */
  reason: string;
}

/** The rules that apply to a user in a namespace (SelfSubjectRulesReview, `kubectl auth can-i --list`). */
export interface RuleList {
  resourceRules: Array<{ verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }>;
  nonResourceRules: Array<{ verbs: string[]; nonResourceURLs: string[] }>;
  incomplete: boolean;
}

/** Decides whether a user may do what a request asks. */
export interface Authorizer {
  authorize(user: UserInfo, attributes: RequestAttributes): Decision;
  /** Lists the rules that apply to `user` in `namespace`, if the authorizer can. */
  rulesFor?(user: UserInfo, namespace: string): RuleList;
}

const EVERYTHING: RuleList = Object.freeze({
  resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }],
  nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
  incomplete: false,
});

/** What every authenticated user may do (kube's system:basic-user and system:discovery). */
const BASIC: RuleList = Object.freeze({
  resourceRules: [
    { verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] },
    { verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"] },
  ],
  nonResourceRules: [
    {
      verbs: ["get"],
      nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/", "/healthz", "/livez", "/readyz"],
    },
  ],
  incomplete: false,
});

const ALLOW: Decision = Object.freeze({ allowed: true, reason: "" });
const DENY: Decision = Object.freeze({ allowed: false, reason: "" });

/** `--authorization-mode AlwaysAllow`: every authenticated request is allowed. */
export const alwaysAllow: Authorizer = { authorize: () => ALLOW, rulesFor: () => EVERYTHING };

interface Binding {
  /** Undefined for a ClusterRoleBinding. */
  namespace: string | undefined;
  roleRef: RoleRef;
}

/** Paths every authenticated user may GET (kube's system:discovery and system:public-info-viewer). */
const DISCOVERY = /^\/(api|apis|openapi)(\/.*)?$|^\/(version|healthz|livez|readyz)\/?$/;

/** Whether `rule` grants resource request `a`. */
export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (a.kind === "nonResource") {
    const urls = rule.nonResourceURLs;
    if (!Array.isArray(urls)) return false;
    for (const u of urls) {
      if (u === "*" || u === a.path) return true;
      if (u.endsWith("*") && a.path.startsWith(u.slice(0, -1))) return true;
    }
    return false;
  }
  return (
    has(rule.apiGroups, a.group) &&
    resourceMatches(rule, a) &&
    (!Array.isArray(rule.resourceNames) || rule.resourceNames.length === 0 || rule.resourceNames.includes(a.name))
  );
}

function has(list: string[] | undefined, value: string): boolean {
  if (!Array.isArray(list)) return false;
  for (const v of list) if (v === "*" || v === value) return true;
  return false;
}

function resourceMatches(rule: PolicyRule, a: ResourceAttributes): boolean {
  const resources = rule.resources;
  if (!Array.isArray(resources)) return false;
  const combined = a.subresource === "" ? a.resource : `${a.resource}/${a.subresource}`;
  for (const r of resources) {
    if (r === "*" || r === combined) return true;
    if (a.subresource !== "" && r === `*/${a.subresource}`) return true;
  }
  return false;
}

/** The RBAC objects in memory, indexed by subject. Mutated only by put/remove. */
export class RbacIndex {
  readonly #clusterRoles = new Map<string, PolicyRule[]>();
  /** Roles by `namespace/name`. */
  readonly #roles = new Map<string, PolicyRule[]>();
  /** Every binding by `type/namespace/name`, and the subject keys it was filed under. */
  readonly #bindings = new Map<string, { binding: Binding; keys: string[] }>();
  /** Bindings by subject key: `u:<user>` or `g:<group>`. */
  readonly #bySubject = new Map<string, Set<Binding>>();
  #changes = 0;

  /** How many changes the index has taken (for tests and metrics). */
  get changes(): number {
    return this.#changes;
  }

  /** Adds or replaces an object of one of the four RBAC types. Malformed parts are ignored (they grant nothing). */
  put(type: TypeInfo, object: Record<string, unknown>): void {
    const meta = (object.metadata ?? {}) as { name?: string; namespace?: string };
    const name = String(meta.name ?? "");
    const namespace = String(meta.namespace ?? "");
    this.#changes++;
    if (type === CLUSTER_ROLES || type === ROLES) {
      const rules = Array.isArray(object.rules) ? (object.rules as unknown[]).filter((r): r is PolicyRule => r !== null && typeof r === "object") : [];
      if (type === CLUSTER_ROLES) this.#clusterRoles.set(name, rules);
      else this.#roles.set(`${namespace}/${name}`, rules);
      return;
    }
    const key = `${type.name}/${namespace}/${name}`;
    this.#unfile(key);
    const ref = object.roleRef as RoleRef | undefined;
    if (!ref || typeof ref !== "object" || typeof ref.name !== "string") return;
    if (type === CLUSTER_ROLE_BINDINGS && ref.kind !== "ClusterRole") return;
    const binding: Binding = { namespace: type === ROLE_BINDINGS ? namespace : undefined, roleRef: ref };
    const keys: string[] = [];
    for (const s of Array.isArray(object.subjects) ? (object.subjects as Subject[]) : []) {
      if (!s || typeof s.name !== "string") continue;
      if (s.kind === "User") keys.push(`u:${s.name}`);
      else if (s.kind === "Group") keys.push(`g:${s.name}`);
      else if (s.kind === "ServiceAccount") keys.push(`u:system:serviceaccount:${s.namespace ?? namespace}:${s.name}`);
    }
    for (const k of keys) {
      let set = this.#bySubject.get(k);
      if (!set) this.#bySubject.set(k, (set = new Set()));
      set.add(binding);
    }
    this.#bindings.set(key, { binding, keys });
  }

  /** Removes an object of one of the four RBAC types. */
  remove(type: TypeInfo, namespace: string, name: string): void {
    this.#changes++;
    if (type === CLUSTER_ROLES) this.#clusterRoles.delete(name);
    else if (type === ROLES) this.#roles.delete(`${namespace}/${name}`);
    else this.#unfile(`${type.name}/${namespace}/${name}`);
  }

  /** Forgets every object of `type` (before re-reading them all). */
  clear(type: TypeInfo): void {
    this.#changes++;
    if (type === CLUSTER_ROLES) this.#clusterRoles.clear();
    else if (type === ROLES) this.#roles.clear();
    else for (const key of [...this.#bindings.keys()]) if (key.startsWith(`${type.name}/`)) this.#unfile(key);
  }

  #unfile(key: string): void {
    const old = this.#bindings.get(key);
    if (!old) return;
    this.#bindings.delete(key);
    for (const k of old.keys) {
      const set = this.#bySubject.get(k);
      set?.delete(old.binding);
      if (set?.size === 0) this.#bySubject.delete(k);
    }
  }

  /** The rules a binding grants now (its role looked up by name); empty if the role does not exist. */
  #rulesOf(b: Binding): PolicyRule[] {
    if (b.roleRef.kind === "ClusterRole") return this.#clusterRoles.get(b.roleRef.name) ?? [];
    if (b.roleRef.kind === "Role" && b.namespace !== undefined) return this.#roles.get(`${b.namespace}/${b.roleRef.name}`) ?? [];
    return [];
  }

  /** The rules of the role a binding in `namespace` refers to; undefined if it does not exist. */
  rulesOfRef(ref: RoleRef, namespace: string): PolicyRule[] | undefined {
    if (ref.kind === "ClusterRole") return this.#clusterRoles.get(ref.name);
    if (ref.kind === "Role") return this.#roles.get(`${namespace}/${ref.name}`);
    return undefined;
  }

  /** Calls `visit` with the rules that apply to `user` in `namespace` ("" = cluster-wide bindings only) until it returns true. */
  visitRules(user: UserInfo, namespace: string, visit: (rule: PolicyRule) => boolean): boolean {
    const check = (key: string): boolean => {
      const set = this.#bySubject.get(key);
      if (!set) return false;
      for (const b of set) {
        if (b.namespace !== undefined && b.namespace !== namespace) continue;
        for (const rule of this.#rulesOf(b)) if (visit(rule)) return true;
      }
      return false;
    };
    if (check(`u:${user.name}`)) return true;
    for (const g of user.groups) if (check(`g:${g}`)) return true;
    return false;
  }
}

/** RBAC decisions from an index; `sync` (optional) runs first to bring the index up to date. */
export class RbacAuthorizer implements Authorizer {
  readonly #index: RbacIndex;
  readonly #sync: () => void;

  constructor(index: RbacIndex, options: { sync?: () => void } = {}) {
    this.#index = index;
    this.#sync = options.sync ?? (() => {});
  }

  authorize(user: UserInfo, a: RequestAttributes): Decision {
    if (user.groups.includes(MASTERS_GROUP)) return ALLOW;
    if (user.groups.includes(AUTHENTICATED_GROUP)) {
      if (a.kind === "nonResource" && (a.verb === "get" || a.verb === "head") && DISCOVERY.test(a.path)) return ALLOW;
      if (
        a.kind === "resource" &&
        a.verb === "create" &&
        ((a.group === "authorization.k8s.io" && (a.resource === "selfsubjectaccessreviews" || a.resource === "selfsubjectrulesreviews")) ||
          (a.group === "authentication.k8s.io" && a.resource === "selfsubjectreviews"))
      )
        return ALLOW;
    }
    this.#sync();
    const namespace = a.kind === "resource" ? a.namespace : "";
    return this.#index.visitRules(user, namespace, (rule) => ruleAllows(rule, a)) ? ALLOW : DENY;
  }

  rulesFor(user: UserInfo, namespace: string): RuleList {
    if (user.groups.includes(MASTERS_GROUP)) return EVERYTHING;
    const out: RuleList = { resourceRules: [], nonResourceRules: [], incomplete: false };
    if (user.groups.includes(AUTHENTICATED_GROUP)) {
      out.resourceRules.push(...BASIC.resourceRules);
      out.nonResourceRules.push(...BASIC.nonResourceRules);
    }
    this.#index.visitRules(user, namespace, (rule) => {
      const verbs = Array.isArray(rule.verbs) ? rule.verbs : [];
      if (Array.isArray(rule.nonResourceURLs) && rule.nonResourceURLs.length > 0) out.nonResourceRules.push({ verbs, nonResourceURLs: rule.nonResourceURLs });
      else {
        const r: RuleList["resourceRules"][number] = { verbs, apiGroups: rule.apiGroups ?? [], resources: rule.resources ?? [] };
        if (Array.isArray(rule.resourceNames) && rule.resourceNames.length > 0) r.resourceNames = rule.resourceNames;
        out.resourceRules.push(r);
      }
      return false;
    });
    return out;
  }
}

const RBAC_WATCHED = [CLUSTER_ROLES, ROLES, CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS];

/**
 * Keeps `index` current by watching the four RBAC types through `hub`: first
 * every stored object, then each change. A watch the hub ends with an error
 * (its history was compacted away) starts over from the current state.
 * Returns the function that stops following.
 */
export function followRbac(hub: WatchHub, index: RbacIndex): () => void {
  let stopped = false;
  const stops = new Map<TypeInfo, () => void>();
  const start = (type: TypeInfo): void => {
    if (stopped) return;
    index.clear(type);
    let ended = false;
    const sink: WatchSink = {
      send(event) {
        if (ended || event.type === "BOOKMARK") return;
        let object: Record<string, unknown>;
        try {
          object = JSON.parse(event.object) as Record<string, unknown>;
        } catch {
          return;
        }
        if (event.type === "DELETED") {
          const m = (object.metadata ?? {}) as { namespace?: string; name?: string };
          index.remove(type, m.namespace ?? "", m.name ?? "");
        } else index.put(type, object);
      },
      buffered: () => 0,
      onDrain: (listener) => setImmediate(listener),
      fail() {
        ended = true;
        queueMicrotask(() => start(type));
      },
      close() {
        ended = true;
      },
    };
    stops.set(type, hub.watch({ type: type.name, apiVersion: apiVersionOf(type), kind: type.kind, allowBookmarks: false }, sink));
  };
  for (const t of RBAC_WATCHED) start(t);
  return () => {
    stopped = true;
    for (const stop of stops.values()) stop();
  };
}
