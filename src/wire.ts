// The wire types of the REST and gRPC API (API.md §1, §4): objects, their
// conditions, lists and the Status every error carries. One definition,
// imported by the server (src/api, src/server), the agent SDK, the CLI and the
// web console. Types only.

/** Object metadata as the server stores and sends it (API.md §1). */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: unknown[];
}

/** An object of any type as the server sends it; narrow `spec` and `status` with the type parameters. */
export interface ApiObject<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
}

/**
 * An object typed loosely: a request body or manifest not yet checked (what
 * the server fills in may be missing, unknown fields may be present), or any
 * object read where only a few fields are relied on (the CLI's printers, the
 * API layer's stored JSON). Use ApiObject where the server's shape is meant.
 */
export interface LooseObject {
  apiVersion?: string;
  kind?: string;
  metadata: Partial<ObjectMeta> & { [other: string]: unknown };
  spec?: any;
  status?: any;
  [other: string]: unknown;
}

/** A list as the server sends it: `<Kind>List` with the items and the revision it was served at. */
export interface ObjectList<T = ApiObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

/** A Kubernetes-style condition (metav1.Condition). */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** One field that failed validation. */
export interface StatusCause {
  /** The field's path, e.g. `spec.tasks[1].runAfter[0]` ("" for the whole object). */
  field: string;
  message: string;
  /** e.g. FieldValueInvalid, FieldValueRequired. */
  reason?: string;
}

/** The Kubernetes Status of a failed request (API.md §4): the HTTP body, and the gRPC `setpoint-status-bin` trailer. */
export interface Status {
  kind: "Status";
  apiVersion: "v1";
  /** `continue`: only on a 410 for an expired continue token, a token that goes on at the newest revision (as kube). */
  metadata: { continue?: string };
  status: "Failure";
  message: string;
  /** A Reason of src/errors.ts (NotFound, Conflict, Expired, …). */
  reason: string;
  /** The HTTP code of the reason (404, 409, 410, …). */
  code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
}
