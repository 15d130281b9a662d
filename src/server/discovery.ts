// Discovery documents (API.md §4) so that standard Kubernetes clients find
// Setpoint's types: /api, /api/v1, /apis, /apis/G, /apis/G/V and /version.
// Built from the live type registry on each request.

import type { TypeRegistry } from "../api/registry.ts";
import type { TypeInfo } from "../api/types.ts";

const OBJECT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS = ["get", "patch", "update"];

/**
 * The reviews the security edge answers itself (src/server/security.ts), as
 * kube-apiserver lists them: create-only, cluster-scoped. Discovery lets
 * clients map their kinds (`kubectl create -f` a SelfSubjectAccessReview).
 */
export const REVIEW_RESOURCES: ReadonlyArray<{ group: string; name: string; kind: string }> = [
  { group: "authorization.k8s.io", name: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview" },
  { group: "authorization.k8s.io", name: "selfsubjectrulesreviews", kind: "SelfSubjectRulesReview" },
  { group: "authentication.k8s.io", name: "selfsubjectreviews", kind: "SelfSubjectReview" },
];
const REVIEW_GROUPS = [...new Set(REVIEW_RESOURCES.map((r) => r.group))];

function reviewGroup(name: string): unknown {
  const version = { groupVersion: `${name}/v1`, version: "v1" };
  return { name, versions: [version], preferredVersion: version };
}

/**
 * `/api`: Setpoint serves no core (legacy) group, so it lists no versions.
 * kubectl then leaves the core group out of discovery; advertising an empty
 * `v1` would make `kubectl api-resources` fail ("received empty response for: v1").
 */
export function apiVersions(serverAddress: string): unknown {
  return {
    kind: "APIVersions",
    apiVersion: "v1",
    versions: [],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

/** Setpoint serves no core (`/api/v1`) resources; the list says so. */
export function coreResources(): unknown {
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: "v1", resources: [] };
}

const KUBE_VERSION = /^v(\d+)(?:(alpha|beta)(\d+))?$/;
const STABILITY: Record<string, number> = { alpha: 0, beta: 1, "": 2 };

/**
 * kube's CompareKubeAwareVersionStrings, for a descending sort: GA before
 * beta before alpha, then the higher major, then the higher minor
 * (v10, v2, v1, v2beta1, v1beta1, v1alpha1); other names last, by name.
 */
export function compareVersions(a: string, b: string): number {
  const ma = KUBE_VERSION.exec(a);
  const mb = KUBE_VERSION.exec(b);
  if (!ma || !mb) return ma ? -1 : mb ? 1 : a.localeCompare(b);
  const key = (m: RegExpExecArray) => [STABILITY[m[2] ?? ""]!, Number(m[1]), Number(m[3] ?? 0)];
  const [ka, kb] = [key(ma), key(mb)];
  for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return kb[i]! - ka[i]!;
  return 0;
}

/** A group's versions, the preferred (first) one as kube orders CRD versions. */
function groupOf(name: string, types: TypeInfo[]): unknown {
  const versions = [...new Set(types.filter((t) => t.group === name).map((t) => t.version))]
    .sort(compareVersions)
    .map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions, preferredVersion: versions[0] };
}

export function apiGroupList(registry: TypeRegistry): unknown {
  const types = registry.all();
  const names = [...new Set(types.map((t) => t.group))];
  const groups = names.map((n) => groupOf(n, types));
  for (const g of REVIEW_GROUPS) if (!names.includes(g)) groups.push(reviewGroup(g));
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

/** The APIGroup document, or undefined if no type is in the group. */
export function apiGroup(registry: TypeRegistry, group: string): unknown {
  const types = registry.all();
  if (!types.some((t) => t.group === group))
    return REVIEW_GROUPS.includes(group) ? { kind: "APIGroup", apiVersion: "v1", ...(reviewGroup(group) as object) } : undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...(groupOf(group, types) as object) };
}

/** The APIResourceList for one group/version, or undefined if nothing is served there. */
export function apiResourceList(registry: TypeRegistry, group: string, version: string): unknown {
  const types = registry.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) {
    const reviews = version === "v1" ? REVIEW_RESOURCES.filter((r) => r.group === group) : [];
    if (reviews.length === 0) return undefined;
    const resources = reviews.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: false, kind: r.kind, verbs: ["create"] }));
    return { kind: "APIResourceList", apiVersion: "v1", groupVersion: `${group}/${version}`, resources };
  }
  const resources = types.flatMap((t) => [
    {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: OBJECT_VERBS,
      ...(t.shortNames && { shortNames: t.shortNames }),
      ...(t.categories && { categories: t.categories }),
    },
    // A specless built-in (RBAC) has no status subresource, as in kube.
    ...(t.specless ? [] : [{ name: `${t.plural}/status`, singularName: "", namespaced: t.namespaced, kind: t.kind, verbs: STATUS_VERBS }]),
  ]);
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: `${group}/${version}`, resources };
}

/** The Kubernetes API version Setpoint's REST API follows (what kubectl compares its own version with). */
export const KUBERNETES_COMPAT = { major: "1", minor: "32" };

/**
 * `/version`: a Kubernetes-style version kubectl does not warn about
 * (`v1.32.0-setpoint.0.1.0`), with Setpoint's own version as the pre-release
 * part of gitVersion and in `setpointVersion`.
 */
export function versionInfo(version: string): unknown {
  return {
    major: KUBERNETES_COMPAT.major,
    minor: KUBERNETES_COMPAT.minor,
    gitVersion: `v${KUBERNETES_COMPAT.major}.${KUBERNETES_COMPAT.minor}.0-setpoint.${version}`,
    setpointVersion: version,
    gitCommit: "",
    gitTreeState: "",
    buildDate: "",
    goVersion: "",
    compiler: "setpoint",
    platform: `${process.platform}/${process.arch}`,
  };
}
