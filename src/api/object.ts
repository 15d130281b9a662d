// Object rules shared by every verb and transport (API.md §1): the shape of a
// stored object, server-owned metadata, validation of names, labels and the
// type's schemas, generation, and the size bound.

import { isDeepStrictEqual } from "node:util";
import { ApiError, BadRequestError, fieldErrorsMessage, InvalidError, type FieldCause } from "../errors.ts";
import type { LooseObject } from "../wire.ts";
import { parseGoRfc3339 } from "./go-time.ts";
import { apiVersionOf, type TypeInfo } from "./types.ts";
import {
  validateAnnotations,
  validateFinalizers,
  validateGenerateName,
  validateLabels,
  validateName,
  validateNamespace,
  validateOtherMetadata,
} from "./validation.ts";

/** The most JSON one stored object may take (API.md §1). */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

/** The second `timestamp` last formatted, and its text: every create stamps one, mostly in the same second as the last. */
let stampedSecond = Number.NaN;
let stamped = "";

/** RFC 3339 time with second precision, as Kubernetes writes it. */
export function timestamp(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === stampedSecond) return stamped;
  const iso = new Date(ms).toISOString(); // always ends ".sssZ"
  stamped = iso.slice(0, -5) + "Z";
  stampedSecond = second;
  return stamped;
}

/**
 * How deep JSON values may nest. Deeper ones would overflow the stack in the
 * recursive JSON code every write runs (stringify, merge patch, deep equality).
 */
export const MAX_JSON_DEPTH = 512;

/** The 400 for a value nested deeper than MAX_JSON_DEPTH; `what` names it ("body", "patch"). */
export function nestedTooDeeply(what: string): BadRequestError {
  const message = `${what} is nested too deeply: at most ${MAX_JSON_DEPTH} levels`;
  return new BadRequestError(message, { causes: [{ field: "", message, reason: "FieldValueInvalid" }] });
}

/** BadRequest if `value` nests deeper than MAX_JSON_DEPTH; walks without recursion. */
export function checkDepth(value: unknown, what = "body"): void {
  const nodes: unknown[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (depth > MAX_JSON_DEPTH) throw nestedTooDeeply(what);
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === "object") {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
}

/** Checks that a request body is a JSON object (nested at most MAX_JSON_DEPTH deep); BadRequest otherwise. */
export function asObject(body: unknown, what = "body"): LooseObject {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new BadRequestError(`${what} must be a JSON object`, {
      causes: [{ field: "", message: `${what} must be a JSON object`, reason: "FieldValueInvalid" }],
    });
  }
  checkDepth(body, what);
  const o = body as LooseObject;
  if (o.metadata === undefined || o.metadata === null) o.metadata = {};
  if (typeof o.metadata !== "object" || Array.isArray(o.metadata)) {
    throw new BadRequestError("metadata must be an object", { causes: [{ field: "metadata", message: "must be an object", reason: "FieldValueInvalid" }] });
  }
  return o;
}

/**
 * A Go type a metadata value must decode into, as kube's ObjectMeta
 * declares it: the name Go's errors give the type, and what a value of it
 * holds (a struct's fields, a slice's or map's elements). `time` is
 * metav1.Time, which decodes itself (src/api/go-time.ts).
 */
type GoType =
  | { kind: "string" | "int64" | "bool" | "time"; name: string }
  | { kind: "slice" | "map"; name: string; element: GoType }
  | { kind: "struct"; name: string; struct: string; fields: Record<string, GoType> }
  | { kind: "any" };

const GO_STRING: GoType = { kind: "string", name: "string" };
const GO_UID: GoType = { kind: "string", name: "types.UID" };
const GO_INT64: GoType = { kind: "int64", name: "int64" };
const GO_BOOL: GoType = { kind: "bool", name: "bool" };
const GO_TIME: GoType = { kind: "time", name: "v1.Time" };
const GO_STRING_MAP: GoType = { kind: "map", name: "map[string]string", element: GO_STRING };

/** kube's ObjectMeta (k8s.io/apimachinery/pkg/apis/meta/v1), field by JSON name. */
const OBJECT_META: Record<string, GoType> = {
  name: GO_STRING,
  generateName: GO_STRING,
  namespace: GO_STRING,
  selfLink: GO_STRING,
  uid: GO_UID,
  resourceVersion: GO_STRING,
  generation: GO_INT64,
  creationTimestamp: GO_TIME,
  deletionTimestamp: GO_TIME,
  deletionGracePeriodSeconds: GO_INT64,
  labels: GO_STRING_MAP,
  annotations: GO_STRING_MAP,
  ownerReferences: {
    kind: "slice",
    name: "[]v1.OwnerReference",
    element: {
      kind: "struct",
      name: "v1.OwnerReference",
      struct: "OwnerReference",
      fields: { apiVersion: GO_STRING, kind: GO_STRING, name: GO_STRING, uid: GO_UID, controller: GO_BOOL, blockOwnerDeletion: GO_BOOL },
    },
  },
  finalizers: { kind: "slice", name: "[]string", element: GO_STRING },
  managedFields: {
    kind: "slice",
    name: "[]v1.ManagedFieldsEntry",
    element: {
      kind: "struct",
      name: "v1.ManagedFieldsEntry",
      struct: "ManagedFieldsEntry",
      fields: {
        manager: GO_STRING,
        operation: { kind: "string", name: "v1.ManagedFieldsOperationType" },
        apiVersion: GO_STRING,
        time: GO_TIME,
        fieldsType: GO_STRING,
        fieldsV1: { kind: "any" }, // FieldsV1 keeps any JSON as it is
        subresource: GO_STRING,
      },
    },
  },
};

/** What Go's encoding/json calls a JSON value in an UnmarshalTypeError. */
function goJsonKind(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "boolean") return "bool";
  return typeof value === "object" ? "object" : typeof value;
}

interface MetadataTypeError {
  field: string;
  message: string;
}

/** Keeps the first type mismatch, in Go's words (`json: cannot unmarshal number into Go struct field ObjectMeta.name of type string`). */
function saveMismatch(found: { mismatch?: MetadataTypeError }, at: { field: string; struct: string; goPath: string }, goType: string, got: string): undefined {
  found.mismatch ??= { field: at.field, message: `json: cannot unmarshal ${got} into Go struct field ${at.struct}.${at.goPath} of type ${goType}` };
  return undefined;
}

/**
 * The first value in `value` (at `field`, Go's struct `struct` and path
 * `goPath`) that does not decode into `type`, walking in document order as
 * Go's decoder does. A type mismatch is kept while the walk goes on (Go saves
 * the first); a metav1.Time that does not parse ends it (Go returns that at
 * once), so it wins over a mismatch found before it. null decodes into
 * anything (it leaves the zero value).
 */
function decodeError(
  value: unknown,
  type: GoType,
  at: { field: string; struct: string; goPath: string },
  found: { mismatch?: MetadataTypeError },
): MetadataTypeError | undefined {
  if (value === null || type.kind === "any") return undefined;
  switch (type.kind) {
    case "string":
      return typeof value === "string" ? undefined : saveMismatch(found, at, type.name, goJsonKind(value));
    case "bool":
      return typeof value === "boolean" ? undefined : saveMismatch(found, at, type.name, goJsonKind(value));
    case "int64":
      if (typeof value !== "number") return saveMismatch(found, at, type.name, goJsonKind(value));
      return Number.isSafeInteger(value) ? undefined : saveMismatch(found, at, type.name, `number ${String(value)}`);
    case "time": {
      // metav1.Time's UnmarshalJSON: a string, parsed by Go's time.Parse(time.RFC3339, …); its errors carry no field.
      if (typeof value !== "string") return { field: at.field, message: `json: cannot unmarshal ${goJsonKind(value)} into Go value of type string` };
      const parsed = parseGoRfc3339(value);
      return "error" in parsed ? { field: at.field, message: parsed.error } : undefined;
    }
    case "slice":
      if (!Array.isArray(value)) return saveMismatch(found, at, type.name, goJsonKind(value));
      for (const [i, item] of value.entries()) {
        if (typeof item === "string" && type.element.kind === "string") continue; // the common case, without building a path
        const fatal = decodeError(item, type.element, { ...at, field: `${at.field}[${i}]` }, found);
        if (fatal) return fatal;
      }
      return undefined;
    case "map":
      if (typeof value !== "object" || Array.isArray(value)) return saveMismatch(found, at, type.name, goJsonKind(value));
      for (const [key, item] of Object.entries(value)) {
        if (typeof item === "string") continue; // a map holds strings: the common case, without building a path
        const fatal = decodeError(item, type.element, { ...at, field: `${at.field}[${key}]` }, found);
        if (fatal) return fatal;
      }
      return undefined;
    case "struct":
      if (typeof value !== "object" || Array.isArray(value)) return saveMismatch(found, at, type.name, goJsonKind(value));
      for (const [key, item] of Object.entries(value)) {
        const fieldType = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
        if (fieldType === undefined) continue; // unknown fields: dropped, as Go's decoder skips them
        const fatal = decodeError(item, fieldType, { field: `${at.field}.${key}`, struct: type.struct, goPath: `${at.goPath}.${key}` }, found);
        if (fatal) return fatal;
      }
      return undefined;
  }
}

/**
 * The metadata field whose JSON does not decode into kube's ObjectMeta
 * (`"generateName": 5`, `"labels": {"a": 1}`, `"ownerReferences":
 * [{"controller": "yes"}]`, `"creationTimestamp": "2026-02-30T00:00:00Z"`),
 * with Go's encoding/json (or time.Parse) message, as kube-apiserver decodes
 * a custom resource's metadata on every write; `undefined` when it decodes
 * (null and absent fields do). `field` names the value (`metadata.labels[a]`).
 */
export function metadataTypeError(o: LooseObject): MetadataTypeError | undefined {
  const m = o.metadata as Record<string, unknown>;
  const found: { mismatch?: MetadataTypeError } = {};
  for (const [key, value] of Object.entries(m)) {
    const type = Object.hasOwn(OBJECT_META, key) ? OBJECT_META[key] : undefined;
    if (type === undefined) continue;
    const fatal = decodeError(value, type, { field: `metadata.${key}`, struct: "ObjectMeta", goPath: key }, found);
    if (fatal) return fatal;
  }
  return found.mismatch;
}

/**
 * Whether `value`, at metadata field `key`, decodes into kube's ObjectMeta
 * (absent, null and unknown fields do). An object stored by an older release
 * may hold one that does not (`"generateName": 5`): such a stored value is
 * not carried into an update (src/api/resources.ts).
 */
export function metadataFieldDecodes(key: string, value: unknown): boolean {
  const type = Object.hasOwn(OBJECT_META, key) ? OBJECT_META[key] : undefined;
  if (type === undefined || value === undefined) return true;
  const found: { mismatch?: MetadataTypeError } = {};
  return decodeError(value, type, { field: `metadata.${key}`, struct: "ObjectMeta", goPath: key }, found) === undefined && found.mismatch === undefined;
}

/**
 * A copy of `metadata` without the fields that do not decode into kube's
 * ObjectMeta (metadataFieldDecodes), as kube-apiserver reads a stored custom
 * resource: its storage decoder drops them field by field
 * (dropInvalidMetadata, for objects stored before metadata was checked).
 * name and namespace, which the object's key holds, stay.
 */
export function decodableMetadata(metadata: LooseObject["metadata"]): LooseObject["metadata"] {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (key === "name" || key === "namespace" || metadataFieldDecodes(key, value)) out[key] = value;
  }
  return out as LooseObject["metadata"];
}

/**
 * What Go's decoder makes of null inside metadata that decodes (run after
 * metadataTypeError): a label's or annotation's null value is "", a null
 * finalizer "", a null owner reference an empty one (then refused by
 * validation for its empty fields), as kube stores them once it decoded the
 * ObjectMeta and wrote it back. A null field itself stays absent.
 */
export function goZeroNulls(o: LooseObject): void {
  const m = o.metadata as Record<string, unknown>;
  for (const key of ["labels", "annotations"]) {
    const map = m[key];
    if (map === null || typeof map !== "object" || Array.isArray(map)) continue;
    for (const [k, v] of Object.entries(map)) if (v === null) (map as Record<string, unknown>)[k] = "";
  }
  for (const [key, zero] of [
    ["finalizers", () => ""],
    ["ownerReferences", () => ({})],
    ["managedFields", () => ({})],
  ] as const) {
    const list = m[key];
    if (Array.isArray(list)) for (let i = 0; i < list.length; i++) if (list[i] === null) list[i] = zero();
  }
}

/**
 * BadRequest when a request body's metadata does not decode as kube's
 * ObjectMeta (see metadataTypeError), in kube-apiserver's words for a body it
 * cannot decode: `Kind in version "v1" cannot be handled as a Kind: json: …`;
 * once it decodes, nulls inside it become Go's zero values (goZeroNulls).
 */
export function checkMetadataTypes(o: LooseObject, type: TypeInfo): void {
  const bad = metadataTypeError(o);
  if (bad === undefined) {
    goZeroNulls(o);
    return;
  }
  const message = `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: ${bad.message}`;
  throw new BadRequestError(message, { causes: [{ field: bad.field, message: bad.message, reason: "FieldValueTypeInvalid" }] });
}

/** BadRequest unless `apiVersion` and `kind`, when given, name `type`. */
export function checkTypeMatches(o: LooseObject, type: TypeInfo): void {
  const av = apiVersionOf(type);
  if (o.apiVersion !== undefined && o.apiVersion !== av) {
    throw new BadRequestError(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${av})`, {
      causes: [{ field: "apiVersion", message: `must be ${av}`, reason: "FieldValueInvalid" }],
    });
  }
  if (o.kind !== undefined && o.kind !== type.kind) {
    throw new BadRequestError(`the kind in the data (${String(o.kind)}) does not match the expected kind (${type.kind})`, {
      causes: [{ field: "kind", message: `must be ${type.kind}`, reason: "FieldValueInvalid" }],
    });
  }
}

/**
 * Validates user-settable metadata, the type's schemas and, when spec is
 * checked, the type's whole-object `check`; throws InvalidError with every cause.
 * `before` (an update's current object) ratchets the schemas: what the
 * update leaves unchanged is not checked again (PartCheck).
 */
export function validateObject(
  o: LooseObject,
  type: TypeInfo,
  parts: { spec: boolean; status: boolean; check?: (object: LooseObject, before?: LooseObject) => FieldCause[]; before?: LooseObject },
): void {
  const m = o.metadata;
  const causes: FieldCause[] = [];
  if (typeof m.name !== "string" || m.name === "")
    causes.push({ field: "metadata.name", message: "Required value: name or generateName is required", reason: "FieldValueRequired" });
  else causes.push(...validateName(m.name, "metadata.name"));
  if (typeof m.generateName === "string" && m.generateName !== "") causes.push(...validateGenerateName(m.generateName, "metadata.generateName"));
  if (type.namespaced) {
    if (typeof m.namespace !== "string" || m.namespace === "")
      causes.push({ field: "metadata.namespace", message: "Required value", reason: "FieldValueRequired" });
    else causes.push(...validateNamespace(m.namespace, "metadata.namespace"));
  }
  if (m.labels !== undefined) causes.push(...validateLabels(m.labels, "metadata.labels"));
  if (m.annotations !== undefined) causes.push(...validateAnnotations(m.annotations, "metadata.annotations"));
  if (m.finalizers !== undefined) causes.push(...validateFinalizers(m.finalizers, "metadata.finalizers"));
  causes.push(...validateOtherMetadata(m as Record<string, unknown>, "metadata"));
  const old = (part: "spec" | "status") => (parts.before !== undefined ? { value: parts.before[part] } : undefined);
  if (parts.spec && type.specCheck) causes.push(...type.specCheck(o.spec, "spec", old("spec")));
  if (parts.spec && parts.check) causes.push(...parts.check(o, parts.before));
  if (parts.status && type.statusCheck && o.status !== undefined) causes.push(...type.statusCheck(o.status, "status", old("status")));
  // A name that is not a string names no object (kube drops malformed metadata: "").
  if (causes.length > 0) throw invalid(type, typeof m.name === "string" ? m.name : "", causes);
}

/** An InvalidError in kube-apiserver's words: `Kind.group "name" is invalid: field: message` (several: `[field: message, …]`). */
export function invalid(type: TypeInfo, name: string, causes: FieldCause[]): InvalidError {
  return new InvalidError(`${type.kind}.${type.group} "${name}" is invalid: ${fieldErrorsMessage(causes)}`, causes, {
    subject: { kind: type.kind, group: type.group, name },
  });
}

/** A metadata field worth writing: not absent or null (an empty map or list counts as absent where kube-apiserver omits it). */
const present = (v: unknown): boolean => v !== undefined && v !== null;
const nonEmptyMap = (v: unknown): boolean => v !== undefined && v !== null && Object.keys(v as object).length > 0;

/**
 * Serializes an object in Kubernetes' field order with only known metadata
 * fields; throws RequestEntityTooLarge past MAX_OBJECT_BYTES.
 */
export function serialize(o: LooseObject, type: TypeInfo): string {
  // Field by field, in Kubernetes' order: named property accesses, which stay
  // fast, where a loop over the field names made every access a megamorphic
  // keyed load and store (seen in the write profile).
  const m = o.metadata;
  const meta: Record<string, unknown> = {};
  if (present(m.name)) meta.name = m.name;
  if (present(m.generateName)) meta.generateName = m.generateName;
  if (present(m.namespace)) meta.namespace = m.namespace;
  if (present(m.uid)) meta.uid = m.uid;
  if (present(m.resourceVersion)) meta.resourceVersion = m.resourceVersion;
  if (present(m.generation)) meta.generation = m.generation;
  if (present(m.creationTimestamp)) meta.creationTimestamp = m.creationTimestamp;
  if (present(m.deletionTimestamp)) meta.deletionTimestamp = m.deletionTimestamp;
  if (present(m.deletionGracePeriodSeconds)) meta.deletionGracePeriodSeconds = m.deletionGracePeriodSeconds;
  if (nonEmptyMap(m.labels)) meta.labels = m.labels;
  if (nonEmptyMap(m.annotations)) meta.annotations = m.annotations;
  if (present(m.ownerReferences)) meta.ownerReferences = m.ownerReferences;
  if (present(m.finalizers) && (m.finalizers as unknown[]).length !== 0) meta.finalizers = m.finalizers;
  if (present(m.managedFields)) meta.managedFields = m.managedFields;
  const out: Record<string, unknown> = { apiVersion: apiVersionOf(type), kind: type.kind, metadata: meta };
  if (o.spec !== undefined) out.spec = o.spec;
  if (o.status !== undefined) out.status = o.status;
  for (const k of Object.keys(o)) {
    if (!(k in out) && k !== "apiVersion" && k !== "kind" && o[k] !== undefined) out[k] = o[k];
  }
  const json = JSON.stringify(out);
  if (json.length > MAX_OBJECT_BYTES && Buffer.byteLength(json) > MAX_OBJECT_BYTES) {
    throw new ApiError(
      "RequestEntityTooLarge",
      `${type.kind} "${o.metadata.name ?? ""}" is too large: ${Buffer.byteLength(json)} bytes of JSON, at most ${MAX_OBJECT_BYTES}`,
      {
        subject: { kind: type.kind, group: type.group, name: o.metadata.name },
      },
    );
  }
  return json;
}

/** Whether `after` needs a new generation compared with `before` (spec changed, or deletion started). */
export function generationChanged(before: LooseObject, after: LooseObject): boolean {
  if (!isDeepStrictEqual(before.spec, after.spec)) return true;
  return before.metadata.deletionTimestamp === undefined && after.metadata.deletionTimestamp !== undefined;
}

/**
 * Whether two objects are equal apart from resourceVersion (an update that
 * changes nothing): whether their JSON is the same up to the order of
 * members. It runs in every update's write transaction, so it compares the
 * values as JSON would write them instead of writing and parsing both (a
 * status write's 15-20 µs, most of its decider, on the reconcile bench).
 * apiVersion and kind do not count: serialize writes the type's, whatever a
 * body said or left out.
 */
export function sameContent(a: LooseObject, b: LooseObject): boolean {
  const strip = (o: LooseObject) => ({ ...o, apiVersion: undefined, kind: undefined, metadata: { ...o.metadata, resourceVersion: undefined } });
  return sameJson(strip(a), strip(b));
}

/**
 * Whether `a` and `b` have the same JSON up to member order: what
 * `isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)))`
 * says. As JSON.stringify: a value with `toJSON` (a Date) counts as what it
 * returns; members that are undefined, functions or symbols are absent; in
 * an array those, and non-finite numbers anywhere, are null.
 */
function sameJson(a: unknown, b: unknown): boolean {
  a = asJson(a);
  b = asJson(b);
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(inArray(a[i]), inArray(b[i]))) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let members = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k) || dropped(asJson(x[k]))) continue;
    members++;
    if (!Object.hasOwn(y, k) || !sameJson(x[k], y[k])) return false;
  }
  for (const k in y) if (Object.hasOwn(y, k) && !dropped(asJson(y[k]))) members--;
  return members === 0;
}

/** A value as JSON.stringify sees it: toJSON's result, non-finite numbers as null. */
function asJson(v: unknown): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "object" && v !== null && typeof (v as { toJSON?: unknown }).toJSON === "function") return asJson((v as { toJSON(): unknown }).toJSON());
  return v;
}

/** Whether JSON.stringify leaves a member with this value out of an object. */
function dropped(v: unknown): boolean {
  return v === undefined || typeof v === "function" || typeof v === "symbol";
}

/** An array element as JSON.stringify writes it: null for what it would leave out of an object. */
function inArray(v: unknown): unknown {
  return dropped(asJson(v)) ? null : v;
}
