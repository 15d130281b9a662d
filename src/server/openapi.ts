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

const API_VERSION_DESCRIPTION = "APIVersion defines the versioned schema of this representation of an object: GROUP/VERSION of its type.";
const KIND_DESCRIPTION = "Kind is a string value representing the REST resource this object represents. In CamelCase.";
const METADATA_DESCRIPTION =
  "Standard object's metadata: name, namespace, labels, annotations, resourceVersion (the revision of its last write), generation, uid, finalizers.";

/** A part's schema with a description (the declared one wins), or an open object. */
function withDescription(schema: unknown, description: string): unknown {
  if (schema === undefined || schema === null || typeof schema !== "object")
    return { type: "object", description, "x-kubernetes-preserve-unknown-fields": true };
  return { description, ...(schema as object) };
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
      description: t.description ?? `${t.kind} objects of ${apiVersionOf(t)}.`,
      "x-kubernetes-group-version-kind": [gvk(t)],
      properties: {
        apiVersion: { type: "string", description: API_VERSION_DESCRIPTION },
        kind: { type: "string", description: KIND_DESCRIPTION },
        metadata: { type: "object", description: METADATA_DESCRIPTION },
        spec: withDescription(t.specSchema, "Desired state, written by users."),
        status: withDescription(t.statusSchema, "Observed state, written by the agent that acts on the object."),
      },
    };
  }
  return { openapi: "3.0.0", info: { title: "Setpoint", version: "v1" }, paths, components: { schemas } };
}
