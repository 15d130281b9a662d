// A DELETE's options: the body (meta.k8s.io/v1 DeleteOptions) or, when there
// is none, the query parameters kube decodes into the same struct. A value of the wrong JSON type
// is refused before anything is deleted, as kube-apiserver's decoder refuses
// it; before, `{"gracePeriodSeconds": "x"}` or `{"preconditions":
// {"resourceVersion": 5}}` were ignored or coerced and the object was deleted.

import type { DeleteOptions } from "../api/resources.ts";
import { checkDepth } from "../api/object.ts";
import { BadRequestError } from "../errors.ts";

type GoType = "string" | "int64" | "bool" | "[]string";

/** DeleteOptions' fields and their Go types (the body's; preconditions apart). */
const FIELDS: readonly [string, GoType][] = [
  ["kind", "string"],
  ["apiVersion", "string"],
  ["gracePeriodSeconds", "int64"],
  ["orphanDependents", "bool"],
  ["propagationPolicy", "string"],
  ["dryRun", "[]string"],
  ["ignoreStoreReadErrorWithClusterBreakingPotential", "bool"],
];

const PRECONDITIONS: readonly [string, GoType][] = [
  ["uid", "string"],
  ["resourceVersion", "string"],
];

/** What Go's encoding/json calls a JSON value in an UnmarshalTypeError. */
function goJsonKind(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return Number.isInteger(value) ? "number" : `number ${String(value)}`;
  return typeof value === "object" ? "object" : typeof value;
}

/** The JSON kind that does not decode into `goType`, or undefined when it does (null always does). */
function mismatch(value: unknown, goType: GoType): { got: string; goType: string } | undefined {
  if (value === undefined || value === null) return undefined;
  switch (goType) {
    case "string":
      return typeof value === "string" ? undefined : { got: goJsonKind(value), goType };
    case "bool":
      return typeof value === "boolean" ? undefined : { got: goJsonKind(value), goType };
    case "int64":
      return typeof value === "number" && Number.isSafeInteger(value) ? undefined : { got: goJsonKind(value), goType };
    case "[]string": {
      if (!Array.isArray(value)) return { got: goJsonKind(value), goType };
      const item = value.find((v) => v !== null && typeof v !== "string");
      return item === undefined ? undefined : { got: goJsonKind(item), goType: "string" };
    }
  }
}

function typeError(field: string, got: string, goType: string): BadRequestError {
  const message = `json: cannot unmarshal ${got} into Go struct field DeleteOptions.${field} of type ${goType}`;
  return new BadRequestError(message, { causes: [{ field, message, reason: "FieldValueTypeInvalid" }] });
}

/**
 * The preconditions of a DELETE's body, after checking that every field of
 * the body has DeleteOptions' type and that a `kind` it names is
 * `DeleteOptions`: a 400 `BadRequest` naming the field otherwise.
 */
export function deleteOptions(body: unknown): DeleteOptions {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body))
    throw new BadRequestError("delete options must be a JSON object", {
      causes: [{ field: "body", message: "must be an object", reason: "FieldValueInvalid" }],
    });
  checkDepth(body); // as every other body: a delete's nested thousands of levels deep was taken (its unknown fields ignored)
  const o = body as Record<string, unknown>;
  for (const [field, goType] of FIELDS) {
    const bad = mismatch(o[field], goType);
    if (bad !== undefined) throw typeError(field, bad.got, bad.goType);
  }
  if (typeof o.kind === "string" && o.kind !== "" && o.kind !== "DeleteOptions")
    throw new BadRequestError(`the kind in the data (${o.kind}) does not match the expected kind (DeleteOptions)`, {
      causes: [{ field: "kind", message: "must be DeleteOptions", reason: "FieldValueInvalid" }],
    });
  const pre = o.preconditions;
  if (pre === undefined || pre === null) return {};
  if (typeof pre !== "object" || Array.isArray(pre))
    throw new BadRequestError("preconditions must be an object", {
      causes: [{ field: "preconditions", message: "must be an object", reason: "FieldValueInvalid" }],
    });
  const p = pre as Record<string, unknown>;
  for (const [field, goType] of PRECONDITIONS) {
    const bad = mismatch(p[field], goType);
    if (bad !== undefined) throw typeError(`preconditions.${field}`, bad.got, bad.goType);
  }
  const out: DeleteOptions["preconditions"] = {};
  if (typeof p.resourceVersion === "string") out.resourceVersion = p.resourceVersion;
  if (typeof p.uid === "string") out.uid = p.uid;
  return { preconditions: out };
}

/**
 * The query parameters a DELETE's options are read from, as kube-apiserver's
 * delete handlers read them: with a body, the options are the body's alone
 * and the query's (`dryRun`, `propagationPolicy`, `orphanDependents`,
 * `gracePeriodSeconds`) are ignored, so none is returned; without one, the
 * query's, after checking it (checkDeleteQuery). A collection's selectors come
 * from the query either way, as kube's ListOptions do.
 */
export function deleteQuery(params: URLSearchParams, body: unknown): URLSearchParams {
  if (body !== undefined) return new URLSearchParams();
  checkDeleteQuery(params);
  return params;
}

/**
 * The query's `gracePeriodSeconds`, which kube decodes as an int64 before the
 * delete (400 `BadRequest` for `abc`); it changes nothing here (no graceful
 * deletion), but a malformed one must not delete.
 */
function checkDeleteQuery(params: URLSearchParams): void {
  const grace = params.get("gracePeriodSeconds");
  if (grace === null || grace === "" || /^[+-]?\d{1,18}$/.test(grace)) return;
  const message = `invalid gracePeriodSeconds ${JSON.stringify(grace)}: must be an integer`;
  throw new BadRequestError(message, { causes: [{ field: "gracePeriodSeconds", message, reason: "FieldValueInvalid" }] });
}
