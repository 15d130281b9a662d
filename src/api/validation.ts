// Object-level validation with Kubernetes' rules and wording: names,
// namespaces, label/annotation keys and values, finalizers, and user-supplied
// JSON Schemas (checked against the meta-schema, then compiled once with
// TypeBox). Pure: every helper returns `FieldCause[]`, empty when the value is
// fine; callers decide whether to throw `InvalidError`. Field paths follow
// kube's style (`metadata.name`, `spec.tasks[0].name`).

import { isDeepStrictEqual } from "node:util";
import { Compile } from "typebox/compile";
import { Meta } from "typebox/schema";
import { Settings } from "typebox/system";
import type { TSchema } from "typebox";
import type { FieldCause } from "../errors.ts";

const DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const DNS1123_LABEL_RE = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const LABEL_VALUE_RE = new RegExp(`^${LABEL_VALUE_FMT}$`);
const QUALIFIED_NAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** Kubernetes' limit on the summed size of all annotation keys and values. */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

const byteLength = (s: string): number => Buffer.byteLength(s, "utf8");
const maxLenError = (n: number): string => `must be no more than ${n} bytes`;
function regexError(msg: string, re: string, ...examples: string[]): string {
  const eg = examples.map((e) => `'${e}', `).join(" or ");
  return `${msg} (e.g. ${eg}regex used for validation is '${re}')`;
}

/** Messages explaining why `value` is not a DNS-1123 subdomain (≤253); empty when it is. */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        "example.com",
      ),
    );
  }
  return errs;
}

/** Messages explaining why `value` is not a DNS-1123 label (≤63, no dots); empty when it is. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!DNS1123_LABEL_RE.test(value)) {
    if (DNS1123_SUBDOMAIN_RE.test(value)) errs.push("must not contain dots");
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          DNS1123_LABEL_FMT,
          "my-name",
          "123-abc",
        ),
      );
  }
  return errs;
}

/** Messages explaining why `value` is not a qualified name (label key, finalizer); empty when it is. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split("/");
  let name: string;
  if (parts.length === 1) {
    name = value;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push("prefix part must be non-empty");
    else for (const msg of isDNS1123Subdomain(prefix)) errs.push(`prefix part ${msg}`);
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")}` +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push("name part must be non-empty");
  else if (byteLength(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!QUALIFIED_NAME_RE.test(name)) {
    errs.push(`name part ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")}`);
  }
  return errs;
}

/** Messages explaining why `value` is not a label value (empty or name syntax, ≤63); empty when it is. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!LABEL_VALUE_RE.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT,
        "MyValue",
        "my_value",
        "12345",
      ),
    );
  }
  return errs;
}

/** Renders a bad value the way kube's `field.Invalid` does: strings quoted, scalars bare. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return "null";
  if (typeof value === "object") return Array.isArray(value) ? '"array"' : '"object"';
  return String(value);
}

const invalid = (field: string, value: unknown, detail: string): FieldCause => ({
  field,
  message: `Invalid value: ${show(value)}: ${detail}`,
  reason: "FieldValueInvalid",
});
const typeInvalid = (field: string, value: unknown, detail: string): FieldCause => ({
  field,
  message: `Invalid value: ${show(value)}: ${detail}`,
  reason: "FieldValueTypeInvalid",
});
const required = (field: string): FieldCause => ({ field, message: "Required value", reason: "FieldValueRequired" });

function validateDNSName(value: unknown, field: string, check: (s: string) => string[]): FieldCause[] {
  if (value === undefined || value === null || value === "") return [required(field)];
  if (typeof value !== "string") return [typeInvalid(field, value, "must be a string")];
  return check(value).map((msg) => invalid(field, value, msg));
}

/** Checks an object name: a DNS-1123 subdomain of at most 253 characters. */
export function validateName(name: unknown, field: string): FieldCause[] {
  return validateDNSName(name, field, isDNS1123Subdomain);
}

/**
 * Checks a `generateName` prefix as kube-apiserver does: a DNS-1123 subdomain
 * once a trailing dash is masked (its maskTrailingDash). Messages name the prefix as sent.
 */
export function validateGenerateName(prefix: string, field: string): FieldCause[] {
  const masked = prefix.length > 1 && prefix.endsWith("-") ? `${prefix.slice(0, -2)}a` : prefix;
  return isDNS1123Subdomain(masked).map((msg) => invalid(field, prefix, msg));
}

/** Checks a namespace name: a DNS-1123 label of at most 63 characters. */
export function validateNamespace(ns: unknown, field: string): FieldCause[] {
  return validateDNSName(ns, field, isDNS1123Label);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Walks a string→string map, applying kube's key and value rules; also sums its UTF-8 size. */
function checkMap(map: unknown, field: string, keyRule: (k: string) => string[], valueRule: (v: string) => string[]): { causes: FieldCause[]; size: number } {
  if (map === undefined || map === null) return { causes: [], size: 0 };
  if (!isPlainObject(map)) return { causes: [typeInvalid(field, map, "must be a map of string keys to string values")], size: 0 };
  const causes: FieldCause[] = [];
  let size = 0;
  for (const [key, value] of Object.entries(map)) {
    for (const msg of keyRule(key)) causes.push(invalid(field, key, msg));
    if (typeof value !== "string") {
      causes.push(typeInvalid(`${field}[${key}]`, value, "must be a string"));
      continue;
    }
    for (const msg of valueRule(value)) causes.push(invalid(field, value, msg));
    size += byteLength(key) + byteLength(value);
  }
  return { causes, size };
}

/** Checks a label map: absent is fine; otherwise string→string with kube's key and value syntax. */
export function validateLabels(labels: unknown, field: string): FieldCause[] {
  return checkMap(labels, field, isQualifiedName, isValidLabelValue).causes;
}

/** Checks an annotation map: keys are qualified names (any case), values strings, total ≤256 KiB. */
export function validateAnnotations(annotations: unknown, field: string): FieldCause[] {
  const { causes, size } = checkMap(
    annotations,
    field,
    (k) => isQualifiedName(k.toLowerCase()),
    () => [],
  );
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) {
    causes.push({ field, message: `Too long: must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`, reason: "FieldValueTooLong" });
  }
  return causes;
}

/** Checks a finalizer list: absent is fine; otherwise distinct qualified-name strings. */
export function validateFinalizers(list: unknown, field: string): FieldCause[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return [typeInvalid(field, list, "must be a list of strings")];
  const causes: FieldCause[] = [];
  const seen = new Set<string>();
  list.forEach((item: unknown, i) => {
    if (typeof item !== "string") {
      causes.push(typeInvalid(`${field}[${i}]`, item, "must be a string"));
      return;
    }
    for (const msg of isQualifiedName(item)) causes.push(invalid(field, item, msg));
    if (seen.has(item)) {
      causes.push({ field: `${field}[${i}]`, message: `Duplicate value: ${show(item)}`, reason: "FieldValueDuplicate" });
    }
    seen.add(item);
  });
  return causes;
}

/** Finalizers kube knows without a domain (its standardFinalizers). */
const STANDARD_FINALIZERS = new Set(["kubernetes", "orphan", "foregroundDeletion"]);

/**
 * kube-apiserver's warnings for the finalizers a write adds to a custom
 * resource (sorted, as its generateWarningsFromObj sends them): a name
 * without a path draws `prefer a domain-qualified finalizer name …`.
 */
export function finalizerWarnings(finalizers: unknown, previous: unknown): string[] {
  if (!Array.isArray(finalizers)) return [];
  const had = new Set(Array.isArray(previous) ? previous : []);
  const added = [...new Set(finalizers.filter((f): f is string => typeof f === "string" && !had.has(f)))].sort();
  return added
    .filter((f) => !f.includes("/") && !STANDARD_FINALIZERS.has(f))
    .map(
      (f) =>
        `metadata.finalizers: ${JSON.stringify(f)}: prefer a domain-qualified finalizer name${f.includes(".") ? " including a path (/)" : ""} to avoid accidental conflicts with other finalizer writers`,
    );
}

/**
 * Checks the metadata fields stored as sent that have no rules of their own
 * above: `generateName` is a string, `ownerReferences` a list of references
 * (apiVersion, kind, name, uid: non-empty strings, as kube-apiserver
 * requires), `managedFields` a list of objects. Anything else would be stored
 * and break every typed client that decodes the object.
 */
export function validateOtherMetadata(m: Record<string, unknown>, field: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const g = m.generateName;
  if (g !== undefined && g !== null && typeof g !== "string") causes.push(typeInvalid(`${field}.generateName`, g, "must be a string"));
  const refs = m.ownerReferences;
  if (refs !== undefined && refs !== null) {
    if (!Array.isArray(refs)) causes.push(typeInvalid(`${field}.ownerReferences`, refs, "must be a list of owner references"));
    else causes.push(...validateOwnerReferences(refs, `${field}.ownerReferences`));
  }
  const managed = m.managedFields;
  if (managed !== undefined && managed !== null) {
    if (!Array.isArray(managed) || managed.some((e) => e === null || typeof e !== "object" || Array.isArray(e)))
      causes.push(typeInvalid(`${field}.managedFields`, managed, "must be a list of objects"));
  }
  return causes;
}

/** The version part of an apiVersion (`group/version` or `version`), "" when there is none. */
function versionOf(apiVersion: string): string {
  const parts = apiVersion.split("/");
  return parts.length === 1 ? parts[0]! : parts.length === 2 ? parts[1]! : "";
}

/**
 * Checks owner references as kube-apiserver's ValidateOwnerReferences does,
 * with its field paths (the list's, not the item's) and messages: apiVersion
 * with a version, kind, name and uid non-empty strings, and at most one
 * reference with `controller: true`.
 */
function validateOwnerReferences(refs: unknown[], field: string): FieldCause[] {
  const causes: FieldCause[] = [];
  let firstController = "";
  refs.forEach((ref: unknown, i) => {
    if (ref === null || typeof ref !== "object" || Array.isArray(ref)) return void causes.push(typeInvalid(`${field}[${i}]`, ref, "must be an object"));
    const r = ref as Record<string, unknown>;
    const text = (key: string): string => (typeof r[key] === "string" ? (r[key] as string) : "");
    if (versionOf(text("apiVersion")) === "") causes.push(invalid(`${field}.apiVersion`, r.apiVersion ?? "", "version must not be empty"));
    for (const key of ["kind", "name", "uid"]) if (text(key) === "") causes.push(invalid(`${field}.${key}`, r[key] ?? "", "must not be empty"));
    if (r.controller === true) {
      const name = `${text("kind")}/${text("name")}`;
      if (firstController === "") firstController = name;
      else
        causes.push(invalid(field, refs, `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${name}`));
    }
  });
  return causes;
}

/** A user schema compiled once; `check` is present only when `causes` is empty. */
export interface CompiledSchema {
  causes: FieldCause[];
  /**
   * Validates a value; causes' fields are `fieldPrefix` + the value's path
   * (`spec.tasks[0].name`). With `old`, the value an update replaces, errors
   * at locations whose value is unchanged are dropped (kube's validation
   * ratcheting): an object stored before its schema tightened can still be
   * written, as long as the write does not touch what no longer fits.
   */
  check?: (value: unknown, fieldPrefix: string, old?: { value: unknown }) => FieldCause[];
}

type MetaUri = keyof typeof Meta;
type Validator = ReturnType<typeof Compile>;
const DEFAULT_META: MetaUri = "https://json-schema.org/draft/2020-12/schema";
const metaValidators = new Map<MetaUri, Validator>(); // compiled on first use
const metaValidator = (uri: MetaUri): Validator => metaValidators.get(uri) ?? metaValidators.set(uri, Compile(Meta[uri] as unknown as TSchema)).get(uri)!;

interface SchemaError {
  instancePath: string;
  keyword: string;
  message: string;
  params: object;
}

/**
 * Validates a user-supplied JSON Schema against its meta-schema (its `$schema`,
 * default draft 2020-12) and compiles it once. `undefined` means "no schema":
 * no causes and no `check`. Meta-schema violations are reported at `field`.
 * @example
 * const { causes, check } = compileSchema(type.spec.schema?.spec, "spec.schema.spec");
 * const bad = check?.(obj.spec, "spec") ?? [];
 */
export function compileSchema(schema: unknown, field: string): CompiledSchema {
  if (schema === undefined) return { causes: [] };
  const declared = isPlainObject(schema) ? schema["$schema"] : undefined;
  if (declared !== undefined && !(typeof declared === "string" && Object.hasOwn(Meta, declared))) {
    const supported = Object.keys(Meta)
      .map((k) => JSON.stringify(k))
      .join(", ");
    const message = `Unsupported value: ${show(declared)}: supported $schema values: ${supported}`;
    return { causes: [{ field, message, reason: "FieldValueNotSupported" }] };
  }
  const meta = metaValidator((declared as MetaUri | undefined) ?? DEFAULT_META);
  if (!meta.Check(schema)) {
    // One cause per location, at the schema's own field (`spec.schema.spec.properties.a.type`, as
    // kube names a CRD schema's), with the value found there: the first error per location is the
    // most specific, and an error at a location that holds a deeper one only echoes it.
    const errors = allErrors(() => meta.Errors(schema));
    const paths = new Set(errors.map((e) => e.instancePath));
    const causes: FieldCause[] = [];
    for (const e of errors) {
      if (!paths.has(e.instancePath)) continue;
      paths.delete(e.instancePath);
      if (errors.some((d) => d.instancePath.startsWith(`${e.instancePath}/`))) continue;
      const at = resolvePointer(schema, e.instancePath, field);
      causes.push(invalid(at.path, at.value, `invalid JSON Schema at '${e.instancePath || "/"}': ${e.message}`));
    }
    return { causes };
  }
  let validator: Validator;
  try {
    validator = Compile(schema as TSchema);
  } catch (err) {
    return { causes: [invalid(field, schema, `cannot compile JSON Schema: ${(err as Error).message}`)] };
  }
  const check = (value: unknown, fieldPrefix: string, old?: { value: unknown }): FieldCause[] => {
    if (validator.Check(value)) return [];
    const all = allErrors(() => validator.Errors(value));
    let errors = all;
    if (old !== undefined) errors = all.filter((e) => !unchangedAt(value, old.value, e.instancePath));
    // Past the cap an error may be unreported: never let the ratchet pass such a value.
    if (errors.length === 0 && all.length >= MAX_SCHEMA_ERRORS) errors = all.slice(0, 1);
    return toCauses(errors, value, fieldPrefix, schema);
  };
  return { causes: [], check };
}

/**
 * The most errors one check reports. TypeBox stops at 8 by default; the
 * contract wants one cause per bad field, and the ratchet must see them all.
 */
const MAX_SCHEMA_ERRORS = 1000;

/** A validator's errors up to MAX_SCHEMA_ERRORS (TypeBox's cap is a process setting: raised for this call only). */
function allErrors(errors: () => unknown[]): SchemaError[] {
  const previous = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: MAX_SCHEMA_ERRORS });
  try {
    return errors() as SchemaError[];
  } finally {
    Settings.Set({ maxErrors: previous });
  }
}

/** Turns TypeBox errors into causes, one per distinct (field, message). */
function toCauses(errors: SchemaError[], root: unknown, prefix: string, schema: unknown): FieldCause[] {
  const causes: FieldCause[] = [];
  const seen = new Set<string>();
  const add = (c: FieldCause): void => {
    const key = `${c.field}\0${c.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      causes.push(c);
    }
  };
  for (const e of errors) {
    const { path, value } = resolvePointer(root, e.instancePath, prefix);
    if (e.keyword === "required") {
      const missing = (e.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      for (const name of missing) add(required(childPath(path, name)));
      if (missing.length === 0) add({ field: path, message: e.message, reason: "FieldValueRequired" });
    } else if (e.keyword === "additionalProperties") {
      // a summary: TypeBox also reports each extra property at its own path
    } else if (e.keyword === "boolean") {
      add(invalid(path, value, notAllowed(e, schema))); // a `false` schema, e.g. additionalProperties
    } else if (e.keyword === "type" && value === undefined) {
      add(required(path)); // a part the object leaves out (no spec at all), not a null written there
    } else if (e.keyword === "type") {
      // kube's words for a CR (go-openapi's InvalidType, as field.TypeInvalid with the value's JSON type)
      const want = (e.params as { type?: unknown }).type;
      const got = jsonType(value);
      const wanted = Array.isArray(want) ? want.join(" or ") : String(want);
      add({ field: path, message: `Invalid value: "${got}": ${path} in body must be of type ${wanted}: "${got}"`, reason: "FieldValueTypeInvalid" });
    } else if (e.keyword === "enum") {
      // kube's words for a CR: field.NotSupported with the allowed values, strings as they are, others as JSON
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
      const values = allowed.map((v) => JSON.stringify(typeof v === "string" ? v : JSON.stringify(v))).join(", ");
      add({ field: path, message: `Unsupported value: ${show(value)}: supported values: ${values}`, reason: "FieldValueNotSupported" });
    } else if (e.keyword === "format") {
      const format = String((e.params as { format?: unknown }).format);
      add({
        field: path,
        message: `Invalid value: ${show(value)}: ${path} in body must be of type ${format}: ${show(value)}`,
        reason: "FieldValueTypeInvalid",
      });
    } else if (e.keyword === "maxLength") {
      add({ field: path, message: `Too long: may not be longer than ${limitOf(e)}`, reason: "FieldValueTooLong" });
    } else if (e.keyword === "maxItems" || e.keyword === "maxProperties") {
      const count = Array.isArray(value) ? value.length : isPlainObject(value) ? Object.keys(value).length : 0;
      add({ field: path, message: `Too many: ${count}: must have at most ${limitOf(e)} items`, reason: "FieldValueTooMany" });
    } else {
      const words = KUBE_WORDS[e.keyword]?.(e);
      add(invalid(path, value, words === undefined ? e.message : `${path} in body ${words}`));
    }
  }
  return causes;
}

/** The most field names an unknown field's message lists. */
const MAX_LISTED_FIELDS = 30;

/**
 * Why a `false` schema refused a value: for a key outside an object's
 * `properties` under `additionalProperties: false` (most often a typo, as
 * `runAfterr`), that it is an unknown field and which ones the object takes.
 */
function notAllowed(e: SchemaError, schema: unknown): string {
  const suffix = "/additionalProperties";
  const schemaPath = (e as { schemaPath?: unknown }).schemaPath;
  if (typeof schemaPath === "string" && schemaPath.startsWith("#") && schemaPath.endsWith(suffix)) {
    const parent = resolvePointer(schema, schemaPath.slice(1, -suffix.length), "").value;
    const key = e.instancePath
      .slice(e.instancePath.lastIndexOf("/") + 1)
      .replace(/~1/g, "/")
      .replace(/~0/g, "~");
    if (isPlainObject(parent) && isPlainObject(parent.properties)) {
      const names = Object.keys(parent.properties).sort();
      const listed = names.length > MAX_LISTED_FIELDS ? `${names.slice(0, MAX_LISTED_FIELDS).join(", ")}, ...` : names.join(", ");
      return `unknown field ${JSON.stringify(key)}${names.length > 0 ? `: the known fields here are ${listed}` : ""}`;
    }
  }
  return "field is not allowed by the schema";
}

/** Whether `a` and `b` hold equal values at a JSON Pointer (both present). */
function unchangedAt(a: unknown, b: unknown, pointer: string): boolean {
  if (pointer !== "") {
    for (const raw of pointer.slice(1).split("/")) {
      const seg = raw.includes("~") ? raw.replace(/~1/g, "/").replace(/~0/g, "~") : raw;
      if (!isPlainObject(a) && !Array.isArray(a)) return false;
      if (!isPlainObject(b) && !Array.isArray(b)) return false;
      if (!Object.hasOwn(a, seg) || !Object.hasOwn(b, seg)) return false;
      a = (a as Record<string, unknown>)[seg];
      b = (b as Record<string, unknown>)[seg];
    }
  }
  return isDeepStrictEqual(a, b);
}

const limitOf = (e: SchemaError): string => String((e.params as { limit?: unknown }).limit);

/** go-openapi's words (as kube-apiserver reports a custom resource's schema errors), after "<field> in body ". */
const KUBE_WORDS: Record<string, (e: SchemaError) => string> = {
  minimum: (e) => `should be greater than or equal to ${limitOf(e)}`,
  maximum: (e) => `should be less than or equal to ${limitOf(e)}`,
  exclusiveMinimum: (e) => `should be greater than ${limitOf(e)}`,
  exclusiveMaximum: (e) => `should be less than ${limitOf(e)}`,
  minLength: (e) => `should be at least ${limitOf(e)} chars long`,
  pattern: (e) => `should match '${String((e.params as { pattern?: unknown }).pattern)}'`,
  minItems: (e) => `should have at least ${limitOf(e)} items`,
  uniqueItems: () => "shouldn't contain duplicates",
  multipleOf: (e) => `should be a multiple of ${String((e.params as { multipleOf?: unknown }).multipleOf)}`,
  minProperties: (e) => `should have at least ${limitOf(e)} properties`,
};

/** A value's JSON type as go-openapi names it (an integral number is "integer"). */
function jsonType(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

const childPath = (path: string, name: string): string => (path === "" ? name : `${path}.${name}`);

/** Follows a JSON Pointer through `root`, building kube's path: array items as `[i]`, properties as `.name`. */
function resolvePointer(root: unknown, pointer: string, prefix: string): { path: string; value: unknown } {
  let path = prefix;
  let node: unknown = root;
  if (pointer === "") return { path, value: node };
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.includes("~") ? raw.replace(/~1/g, "/").replace(/~0/g, "~") : raw;
    if (Array.isArray(node)) {
      path += `[${seg}]`;
      node = node[Number(seg)];
    } else {
      path = childPath(path, seg);
      node = isPlainObject(node) ? node[seg] : undefined;
    }
  }
  return { path, value: node };
}
