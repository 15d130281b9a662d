// Discovery documents (API.md §4) so that standard Kubernetes clients find
// Setpoint's types: /api, /api/v1, /apis, /apis/G, /apis/G/V and /version.
// Built from the live type registry on each request.

import type { TypeRegistry } from "../api/registry.ts";
import type { TypeInfo } from "../api/types.ts";

const OBJECT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS = ["get", "patch", "update"];

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

function groupOf(name: string, types: TypeInfo[]): unknown {
  const versions = [...new Set(types.filter((t) => t.group === name).map((t) => t.version))].map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions, preferredVersion: versions[0] };
}

export function apiGroupList(registry: TypeRegistry): unknown {
  const types = registry.all();
  const names = [...new Set(types.map((t) => t.group))];
  return { kind: "APIGroupList", apiVersion: "v1", groups: names.map((n) => groupOf(n, types)) };
}

/** The APIGroup document, or undefined if no type is in the group. */
export function apiGroup(registry: TypeRegistry, group: string): unknown {
  const types = registry.all();
  if (!types.some((t) => t.group === group)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...(groupOf(group, types) as object) };
}

/** The APIResourceList for one group/version, or undefined if nothing is served there. */
export function apiResourceList(registry: TypeRegistry, group: string, version: string): unknown {
  const types = registry.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
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
    { name: `${t.plural}/status`, singularName: "", namespaced: t.namespaced, kind: t.kind, verbs: STATUS_VERBS },
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
