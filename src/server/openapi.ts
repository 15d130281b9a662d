// OpenAPI v3 documents, enough for standard Kubernetes clients: kubectl reads
// /openapi/v3 to learn that the server validates fields itself (the
// `fieldValidation` parameter on each type's PATCH operation), so `kubectl
// create/apply` send objects without needing client-side schemas; `kubectl
// explain` reads the component schemas built from each type's JSON Schema.

import type { TypeRegistry } from "../api/registry.ts";
import { apiVersionOf, type TypeInfo } from "../api/types.ts";
import { REVIEW_RESOURCES } from "./discovery.ts";

/** `/openapi/v3`: one entry per served group/version. */
export function openApiRoot(registry: TypeRegistry): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const t of registry.all()) {
    const gv = `apis/${apiVersionOf(t)}`;
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${t.revision}` };
  }
  for (const r of REVIEW_RESOURCES) paths[`apis/${r.group}/v1`] ??= { serverRelativeURL: `/openapi/v3/apis/${r.group}/v1?hash=0` };
  return { paths };
}

/**
 * The reviews' group/version document: their create operation and open
 * schemas. kubectl learns that the server validates fields from a PATCH
 * operation of the kind carrying `fieldValidation`, and otherwise falls back
 * to /openapi/v2, which Setpoint does not serve: so one is listed, though a
 * review is only ever created (PATCH answers 405).
 */
function reviewsGroupVersion(group: string): unknown {
  const reviews = REVIEW_RESOURCES.filter((r) => r.group === group);
  if (reviews.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const r of reviews) {
    const t = { group, version: "v1", kind: r.kind };
    const name = `${group.split(".").reverse().join(".")}.v1.${r.kind}`;
    const operation = {
      "x-kubernetes-group-version-kind": t,
      parameters: [{ name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } }],
      responses: { "201": { description: "Created", content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } } } },
    };
    paths[`/apis/${group}/v1/${r.name}`] = { post: operation, patch: { ...operation, description: "Not served (405): see above." } };
    schemas[name] = {
      type: "object",
      description: `${r.kind}: the server's answer about the caller, as kube-apiserver's.`,
      "x-kubernetes-group-version-kind": [t],
      properties: {
        apiVersion: { type: "string", description: API_VERSION_DESCRIPTION },
        kind: { type: "string", description: KIND_DESCRIPTION },
        metadata: { type: "object", description: METADATA_DESCRIPTION },
        spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      },
    };
  }
  return { openapi: "3.0.0", info: { title: "Setpoint", version: "v1" }, paths, components: { schemas } };
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
  if (types.length === 0) return version === "v1" ? reviewsGroupVersion(group) : undefined;
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
        // A specless built-in (the RBAC types) has its fields at the top level, as kube documents them.
        ...(t.specless
          ? (t.fieldsSchema?.properties as Record<string, unknown> | undefined)
          : {
              spec: withDescription(t.specSchema, "Desired state, written by users."),
              status: withDescription(t.statusSchema, "Observed state, written by the agent that acts on the object."),
            }),
      },
      ...(t.specless && Array.isArray(t.fieldsSchema?.required) ? { required: t.fieldsSchema.required } : {}),
    };
  }
  return { openapi: "3.0.0", info: { title: "Setpoint", version: "v1" }, paths, components: { schemas } };
}
