// Unknown fields in a written object, and what kube-apiserver's
// `fieldValidation` (Strict, Warn, Ignore) does with them. Unknown are: a
// top-level field other than apiVersion, kind, metadata, spec and status (for
// types with a spec; for the specless RBAC types, a field their Go structs do
// not have, at any depth: TypeInfo.fieldsSchema), a metadata field
// Kubernetes' ObjectMeta does not have, and a field of spec or status outside the `properties` of a schema that says
// nothing of others (no additionalProperties, patternProperties or
// combinators). Unknown top-level and metadata fields are never stored, as
// kube prunes them; within spec and status the type's JSON Schema decides what
// is stored (API.md §3), so an open schema keeps them (a deliberate
// difference: kube prunes them too) and only Strict refuses them.
//
// Strict answers 400 with kube's message; Warn (the default, as in kube) sends
// one `Warning` header per unknown field; Ignore says nothing.

import { BadRequestError, InvalidError } from "../errors.ts";
import type { LooseObject } from "../wire.ts";
import type { TypeInfo } from "./type-info.ts";

export type FieldValidation = "Strict" | "Warn" | "Ignore";

const DIRECTIVES: readonly string[] = ["Ignore", "Strict", "Warn"];

/**
 * The `fieldValidation` query parameter: absent or "" is Warn (kube's
 * default); anything else but Strict, Warn or Ignore is 422 naming it.
 */
export function parseFieldValidation(value: string | null | undefined): FieldValidation {
  if (value === null || value === undefined || value === "") return "Warn";
  if (DIRECTIVES.includes(value)) return value as FieldValidation;
  const message = `Unsupported value: ${JSON.stringify(value)}: supported values: "", "Ignore", "Strict", "Warn"`;
  throw new InvalidError(`fieldValidation: ${message}`, [{ field: "fieldValidation", message, reason: "FieldValueNotSupported" }]);
}

/** Top-level fields of an object of a type with a spec. */
const TOP_LEVEL = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);

/** Kubernetes' ObjectMeta fields (v1.32). */
const OBJECT_META = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

/** JSON Schema keywords after which an object's keys may be known elsewhere than in `properties`. */
const OPENING_KEYWORDS = [
  "additionalProperties",
  "patternProperties",
  "unevaluatedProperties",
  "allOf",
  "anyOf",
  "oneOf",
  "$ref",
  "$dynamicRef",
  "if",
  "dependentSchemas",
];

type Schema = Record<string, unknown>;
const isSchema = (s: unknown): s is Schema => s !== null && typeof s === "object" && !Array.isArray(s);

/** Whether a schema can call any field unknown (it lists properties somewhere); cached per schema object. */
const declares = new WeakMap<object, boolean>();
function declaresProperties(schema: unknown): boolean {
  if (!isSchema(schema)) return false;
  let known = declares.get(schema);
  if (known === undefined) {
    known = JSON.stringify(schema).includes('"properties"');
    declares.set(schema, known);
  }
  return known;
}

/** The most unknown fields reported for one object (a message and its headers stay bounded). */
const MAX_REPORTED = 100;

function walk(value: unknown, schema: unknown, path: string, out: string[]): void {
  if (!isSchema(schema) || out.length >= MAX_REPORTED) return;
  if (schema["x-kubernetes-preserve-unknown-fields"] === true) return;
  if (Array.isArray(value)) {
    if (isSchema(schema.items)) for (let i = 0; i < value.length; i++) walk(value[i], schema.items, `${path}[${i}]`, out);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const props = schema.properties;
  if (!isSchema(props)) return;
  let closed: boolean | undefined;
  for (const key in value) {
    if (Object.hasOwn(props, key)) walk((value as Record<string, unknown>)[key], props[key], `${path}.${key}`, out);
    else if ((closed ??= !OPENING_KEYWORDS.some((k) => schema[k] !== undefined)) && out.length < MAX_REPORTED) out.push(`${path}.${key}`);
  }
}

/**
 * Paths of `o`'s unknown fields (`extra`, `metadata.bogus`, `spec.colour`),
 * sorted, at most MAX_REPORTED.
 */
export function unknownFields(o: LooseObject, type: TypeInfo): string[] {
  const out: string[] = [];
  // for-in, not Object.keys: every REST write runs this (Warn is the default), and most find nothing.
  if (!type.specless) {
    for (const key in o) if (!TOP_LEVEL.has(key)) out.push(key);
  } else if (type.fieldsSchema) walkFields(o, type.fieldsSchema, out);
  for (const key in o.metadata) if (!OBJECT_META.has(key)) out.push(`metadata.${key}`);
  if (o.spec !== undefined && declaresProperties(type.specSchema)) walk(o.spec, type.specSchema, "spec", out);
  if (o.status !== undefined && declaresProperties(type.statusSchema)) walk(o.status, type.statusSchema, "status", out);
  return out.length > 1 ? out.sort() : out;
}

/** The fields of a specless built-in type's object (its fieldsSchema) that the schema does not list. */
function walkFields(o: LooseObject, schema: Schema, out: string[]): void {
  const props = (schema.properties ?? {}) as Schema;
  for (const key in o) {
    if (key === "apiVersion" || key === "kind" || key === "metadata") continue;
    if (Object.hasOwn(props, key)) walk(o[key], props[key], key, out);
    else if (out.length < MAX_REPORTED) out.push(key);
  }
}

/** `value` without the fields `schema` does not list (a closed built-in schema); the same value when it has none. */
function pruned(value: unknown, schema: unknown): unknown {
  if (!isSchema(schema) || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    if (!isSchema(schema.items)) return value;
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const p = pruned(item, schema.items);
      if (p !== item) (copy ??= [...value])[i] = p;
    });
    return copy ?? value;
  }
  const props = schema.properties;
  if (!isSchema(props)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(props, key)) {
      copy ??= { ...value };
      delete copy[key];
      continue;
    }
    const p = pruned(v, props[key]);
    if (p !== v) (copy ??= { ...value })[key] = p;
  }
  return copy ?? value;
}

/**
 * Removes the fields kube would prune (never stored): top-level ones beside
 * apiVersion, kind, metadata, spec and status; for a specless built-in type,
 * every field its fieldsSchema does not list, nested ones too (copying what
 * it changes, never the values it was given).
 */
export function dropUnknownTopLevel(o: LooseObject, type: TypeInfo): void {
  if (type.specless) {
    const props = type.fieldsSchema?.properties;
    if (!isSchema(props)) return;
    for (const key of Object.keys(o)) {
      if (key === "apiVersion" || key === "kind" || key === "metadata") continue;
      if (!Object.hasOwn(props, key)) delete o[key];
      else o[key] = pruned(o[key], props[key]);
    }
    return;
  }
  for (const key of Object.keys(o)) if (!TOP_LEVEL.has(key)) delete o[key];
}

const joinPath = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

/** One JSON container on the scan's stack: an object's keys so far and its current key, or an array's index. */
interface Frame {
  keys: Set<string> | undefined;
  key: string | undefined;
  index: number;
  path: string;
}

/**
 * Paths of the keys that occur twice in one object of a JSON text that
 * JSON.parse accepted (which keeps the last silently), at most MAX_REPORTED,
 * in the order met: `spec.size`, `spec.tasks[0].name`.
 */
export function duplicateFields(text: string): string[] {
  const out: string[] = [];
  const stack: Frame[] = [];
  for (let i = 0; i < text.length && out.length < MAX_REPORTED; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const c = text.charCodeAt(j);
        if (c === 0x5c) {
          escaped = true;
          j += 2;
        } else if (c === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.key === undefined) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) out.push(joinPath(top.path, key));
        else top.keys.add(key);
        top.key = key;
      }
      i = j;
    } else if (ch === 0x7b || ch === 0x5b) {
      const top = stack[stack.length - 1];
      const path = top === undefined ? "" : top.keys ? joinPath(top.path, top.key ?? "") : `${top.path}[${top.index}]`;
      stack.push({ keys: ch === 0x7b ? new Set() : undefined, key: undefined, index: 0, path });
    } else if (ch === 0x7d || ch === 0x5d) {
      stack.pop();
    } else if (ch === 0x2c) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.key = undefined;
      else if (top) top.index++;
    }
  }
  return out;
}

/** Strict's answer, in kube-apiserver's words: duplicate fields first, then unknown ones. */
export function strictDecodingError(type: TypeInfo, paths: string[], duplicates: string[] = []): BadRequestError {
  const listed = [...duplicates.map((p) => `duplicate field ${JSON.stringify(p)}`), ...paths.map((p) => `unknown field ${JSON.stringify(p)}`)].join(", ");
  return new BadRequestError(`${type.kind} in version ${JSON.stringify(type.version)} cannot be handled as a ${type.kind}: strict decoding error: ${listed}`);
}

/** A Warn-mode warning for one duplicate field, as kube words it. */
export const duplicateFieldWarning = (path: string): string => `duplicate field ${JSON.stringify(path)}`;

/** A Warn-mode warning for one unknown field, as kube words it. */
export const unknownFieldWarning = (path: string): string => `unknown field ${JSON.stringify(path)}`;

/**
 * The unknown fields `after` adds to `before` (an update or patch): fields
 * already stored (from before a schema change) do not fail every later write.
 */
export function addedUnknownFields(after: LooseObject, before: LooseObject | undefined, type: TypeInfo): string[] {
  const found = unknownFields(after, type);
  if (found.length === 0 || !before) return found;
  const had = new Set(unknownFields(before, type));
  return found.filter((p) => !had.has(p));
}
