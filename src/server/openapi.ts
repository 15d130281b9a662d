// OpenAPI v3 documents, enough for standard Kubernetes clients: kubectl reads
// /openapi/v3 to learn that the server validates fields itself (the
// `fieldValidation` parameter on each type's PATCH operation), so `kubectl
// create/apply` send objects without needing client-side schemas; `kubectl
// explain` reads the component schemas built from each type's JSON Schema.

import type { TypeRegistry } from "../api/registry.ts";
import { apiVersionOf, type TypeInfo } from "../api/types.ts";

/** `/openapi/v3`: one entry per served group/version. */
export function openApiRoot(registry: TypeRegistry): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const t of registry.all()) {
    const gv = `apis/${apiVersionOf(t)}`;
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${t.revision}` };
  }
  return { paths };
}

function gvk(t: TypeInfo) {
  return { group: t.group, version: t.version, kind: t.kind };
}

function operations(t: TypeInfo, verbs: string[]) {
  const ref = { $ref: `#/components/schemas/${schemaName(t)}` };
  const response = { "200": { description: "OK", content: { "application/json": { schema: ref } } } };
  const ops: Record<string, unknown> = {};
  for (const verb of verbs) {
    ops[verb] = {
      "x-kubernetes-group-version-kind": gvk(t),
      parameters: [
        { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
        { name: "dryRun", in: "query", schema: { type: "string", uniqueItems: true } },
      ],
      responses: response,
    };
  }
  return ops;
}

function schemaName(t: TypeInfo): string {
  return `${t.group.split(".").reverse().join(".")}.${t.version}.${t.kind}`;
}

/** `/openapi/v3/apis/G/V`, or undefined when nothing is served there. */
export function openApiGroupVersion(registry: TypeRegistry, group: string, version: string): unknown {
  const types = registry.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const t of types) {
    const base = t.namespaced ? `/apis/${apiVersionOf(t)}/namespaces/{namespace}/${t.plural}` : `/apis/${apiVersionOf(t)}/${t.plural}`;
    paths[base] = operations(t, ["post"]);
    paths[`${base}/{name}`] = operations(t, ["put", "patch"]);
    paths[`${base}/{name}/status`] = operations(t, ["put", "patch"]);
    schemas[schemaName(t)] = {
      type: "object",
      "x-kubernetes-group-version-kind": [gvk(t)],
      properties: {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { type: "object" },
        spec: t.specSchema ?? { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        status: t.statusSchema ?? { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      },
    };
  }
  return { openapi: "3.0.0", info: { title: "Setpoint", version: "v1" }, paths, components: { schemas } };
}
