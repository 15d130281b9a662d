// Patches (API.md §4): JSON merge patch (RFC 7386, src/api/merge-patch.ts) and
// JSON patch (RFC 6902, `test` included, by fast-json-patch); for the built-in
// RBAC types also strategic merge patch (src/api/strategic-merge-patch.ts). Any
// other content type is 415; a malformed patch is 400; a patch that cannot apply (a failed `test`, a
// missing path, an unknown op) is 422, one of over 10,000 operations 413, as
// kube-apiserver answers.

import jsonpatch from "fast-json-patch";
import { ApiError, BadRequestError, InvalidError } from "../errors.ts";
import { mergePatch } from "./merge-patch.ts";
import { STRATEGIC_MERGE_PATCH, strategicMergePatch } from "./strategic-merge-patch.ts";
import { checkDepth } from "./object.ts";

export const MERGE_PATCH = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";
export type PatchType = typeof MERGE_PATCH | typeof JSON_PATCH | typeof STRATEGIC_MERGE_PATCH;

/** The most operations a JSON patch may hold (kube-apiserver's maxJSONPatchOperations). */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;

/**
 * Checks a Content-Type for PATCH; throws UnsupportedMediaType for anything
 * else. `strategic`: the target is a built-in type that takes a strategic
 * merge patch (the RBAC types, src/api/strategic-merge-patch.ts).
 */
export function patchTypeOf(contentType: string | undefined, strategic = false): PatchType {
  const base = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (base === MERGE_PATCH || base === JSON_PATCH) return base;
  if (strategic && base === STRATEGIC_MERGE_PATCH) return base;
  // Server-side apply needs field management (managedFields, conflicts, owned
  // fields removed): refused with kube's 415, which kubectl reports as
  // "Server-side apply not available on the server", saying what to use instead.
  const apply = base.startsWith("application/apply-patch+")
    ? "server-side apply is not supported by this server: use client-side apply (kubectl apply without --server-side) or a merge patch; "
    : "";
  throw new ApiError(
    "UnsupportedMediaType",
    `${apply}the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}`,
    {
      causes: [{ field: "Content-Type", message: `unsupported patch type ${JSON.stringify(base)}`, reason: "FieldValueNotSupported" }],
    },
  );
}

/** Checks a patch body's shape before it is applied (so errors come before any write). */
export function checkPatch(type: PatchType, patch: unknown): void {
  checkDepth(patch, "patch");
  if (type === JSON_PATCH) {
    if (!Array.isArray(patch))
      throw new BadRequestError("json patch must be an array of operations", {
        causes: [{ field: "", message: "must be an array", reason: "FieldValueInvalid" }],
      });
    // As kube-apiserver: more operations than it applies is 413, before any is looked at.
    if (patch.length > MAX_JSON_PATCH_OPERATIONS)
      throw new ApiError(
        "RequestEntityTooLarge",
        `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`,
      );
    const err = jsonpatch.validate(patch as jsonpatch.Operation[]);
    if (err) {
      const message = err.message.split("\n")[0]!;
      const causes = [{ field: `[${err.index ?? 0}]`, message, reason: "FieldValueInvalid" as const }];
      // As kube: a list of objects decodes, and an operation json-patch cannot apply (an unknown op,
      // a path without its leading slash, a missing value) is 422; anything else in the list is 400.
      if (err.name === "OPERATION_NOT_AN_OBJECT") throw new BadRequestError(`invalid json patch: ${message}`, { causes });
      throw new InvalidError(`the patch could not be applied: ${message}`, causes);
    }
  } else if (patch === null || typeof patch !== "object" || Array.isArray(patch)) {
    throw new BadRequestError("merge patch must be a JSON object", { causes: [{ field: "", message: "must be a JSON object", reason: "FieldValueInvalid" }] });
  }
}

/** Applies a checked patch to a copy of `target`. */
export function applyPatch(type: PatchType, target: unknown, patch: unknown): unknown {
  if (type === MERGE_PATCH) return mergePatch(target, patch);
  if (type === STRATEGIC_MERGE_PATCH) return strategicMergePatch(target, patch);
  // One operation at a time, so the cause names the operation that failed:
  // fast-json-patch reports index 0 for a path error in any operation.
  let document = structuredClone(target);
  for (const [index, operation] of (patch as jsonpatch.Operation[]).entries()) {
    try {
      document = jsonpatch.applyOperation(document, operation, true, true, true, index).newDocument;
    } catch (err) {
      const message = ((err as { message?: string }).message ?? String(err)).split("\n")[0]!;
      throw new InvalidError(`the patch could not be applied: ${message}`, [{ field: `[${index}]`, message, reason: "FieldValueInvalid" }], {
        cause: err,
      });
    }
  }
  return document;
}
