// Resource types as the console uses them: where a type's objects live on
// the API, and the shape of the objects it shows.

import type { TypeInfo as ApiTypeInfo } from "../api/type-info.ts";
import type { WatchedObject } from "../client/watch-client.ts";
import type { ApiObject } from "../wire.ts";

/** An object as the server sends it (src/wire.ts), as the watch client holds it. */
export type Obj = ApiObject<any, any> & WatchedObject;

/** What the console needs of a resource type: the API layer's TypeInfo (src/api/type-info.ts) without its checks and schemas. */
export type TypeInfo = Pick<ApiTypeInfo, "name" | "group" | "version" | "kind" | "plural" | "namespaced">;

export const RESOURCE_TYPES: TypeInfo = {
  name: "resourcetypes.setpoint.dev",
  group: "setpoint.dev",
  version: "v1",
  kind: "ResourceType",
  plural: "resourcetypes",
  namespaced: false,
};
export const LEASES: TypeInfo = { name: "leases.setpoint.dev", group: "setpoint.dev", version: "v1", kind: "Lease", plural: "leases", namespaced: true };
export const PIPELINE_RUNS = "pipelineruns.ci.setpoint.dev";

/** The TypeInfo a ResourceType object declares. */
export function typeInfo(rt: Obj): TypeInfo {
  const s = rt.spec ?? {};
  return {
    name: rt.metadata.name,
    group: String(s.group),
    version: String(s.version),
    kind: String(s.kind),
    plural: String(s.plural),
    namespaced: s.scope !== "Cluster",
  };
}

/** The list path of a type, in one namespace or across all. */
export function listPath(t: TypeInfo, namespace?: string): string {
  return `/apis/${enc(t.group)}/${enc(t.version)}/${t.namespaced && namespace ? `namespaces/${enc(namespace)}/` : ""}${enc(t.plural)}`;
}

/** The path of one object. */
export function objectPath(t: TypeInfo, namespace: string | undefined, name: string): string {
  return `${listPath(t, t.namespaced ? (namespace ?? "default") : undefined)}/${enc(name)}`;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key of an object in a list. */
export function keyOf(o: Obj): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

const enc = encodeURIComponent;
