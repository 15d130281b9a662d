// What the API layer knows of a resource type (TypeInfo), on its own so that
// the modules that define types (types.ts, rbac-types.ts) can share it
// without importing each other.

import type { FieldCause } from "../errors.ts";
import type { PrinterColumn } from "./printer-columns.ts";

/**
 * Checks one part (`spec` or `status`) of an object; returns causes. With
 * `old` (an update), an error at a value the update left unchanged is not
 * reported, as kube-apiserver ratchets CRD validation.
 */
export type PartCheck = (value: unknown, fieldPrefix: string, old?: { value: unknown }) => FieldCause[];

/** A live resource type, as the API layer uses it. */
export interface TypeInfo {
  /** `plural.group`; also the store's type key. */
  name: string;
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  specCheck?: PartCheck;
  statusCheck?: PartCheck;
  /** The JSON Schemas as declared (for OpenAPI documents). */
  specSchema?: unknown;
  statusSchema?: unknown;
  /** What the type is for, one or two sentences (OpenAPI, `kubectl explain`). */
  description?: string;
  /** Short names kubectl accepts for the plural (`kubectl get pr`). */
  shortNames?: string[];
  /** Categories the type belongs to (`kubectl get all`, `kubectl get setpoint`). */
  categories?: string[];
  /** Table columns after Name (and before Age), as CRDs declare them. */
  printerColumns?: PrinterColumn[];
  /** Revision of the ResourceType object it came from (0 for built-ins). */
  revision: number;
  /** Fields at the top level, no spec (the RBAC types): whole-object checks run on every write. */
  specless?: boolean;
  /**
   * For a specless built-in type, the JSON Schema (`properties`, `items` only)
   * of its top-level fields beside apiVersion, kind and metadata: a field it
   * does not list is unknown (fieldValidation) and is not stored, as kube
   * decodes a built-in type into its Go struct.
   */
  fieldsSchema?: Record<string, unknown>;
}
