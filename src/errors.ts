// Errors that callers branch on. Each carries a stable `reason` (the
// Kubernetes Status reason) and, for validation errors, per-field causes.
// Only the edge (src/server/status.ts) turns them into HTTP Status objects
// and gRPC codes; everything below it throws these.

/** One invalid field, as in a Kubernetes `Status.details.causes` entry. */
export interface FieldCause {
  field: string;
  message: string;
  /** Kubernetes cause type, e.g. `FieldValueInvalid`, `FieldValueRequired`. */
  reason?: string;
}

/** Which object an error is about, for `Status.details`. */
export interface ErrorSubject {
  kind?: string;
  group?: string;
  name?: string;
}

export type Reason =
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "MethodNotAllowed"
  | "NotAcceptable"
  | "AlreadyExists"
  | "Conflict"
  | "Expired"
  | "RequestEntityTooLarge"
  | "UnsupportedMediaType"
  | "RequestHeaderFieldsTooLarge"
  | "Invalid"
  | "TooManyRequests"
  | "InsufficientStorage"
  | "Timeout"
  | "ServiceUnavailable"
  | "InternalError";

export interface ApiErrorOptions {
  subject?: ErrorSubject;
  causes?: FieldCause[];
  cause?: unknown;
  /** Seconds the client should wait before retrying (Status `details.retryAfterSeconds`). */
  retryAfterSeconds?: number;
  /** A continue token the client may use instead (Status `metadata.continue`, kube's expired-list answer). */
  continue?: string;
}

/** Base of every error that maps to a Kubernetes Status. */
export class ApiError extends Error {
  readonly reason: Reason;
  readonly subject: ErrorSubject;
  readonly causes: FieldCause[];
  readonly retryAfterSeconds?: number;
  readonly continue?: string;
  constructor(reason: Reason, message: string, options: ApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `${reason}Error`;
    this.reason = reason;
    this.subject = options.subject ?? {};
    this.causes = options.causes ?? [];
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.continue !== undefined) this.continue = options.continue;
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("NotFound", message, options);
  }
}

export class AlreadyExistsError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("AlreadyExists", message, options);
  }
}

/** A precondition (resourceVersion, uid) did not hold. */
export class ConflictError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("Conflict", message, options);
  }
}

/** A revision older than the retained history was asked for. */
export class ExpiredError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("Expired", message, options);
  }
}

/** Schema, name or field errors; one cause per field. */
export class InvalidError extends ApiError {
  constructor(message: string, causes: FieldCause[], options?: Omit<ApiErrorOptions, "causes">) {
    super("Invalid", message, { ...options, causes });
  }
}

/**
 * Field errors in one line, as kube-apiserver's `Kind "name" is invalid: …`
 * prints its error list: `field: message` for one, `[field: message, other:
 * message]` for several (a cause without a field is its message alone).
 */
export function fieldErrorsMessage(causes: FieldCause[]): string {
  const each = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  return each.length === 1 ? each[0]! : `[${each.join(", ")}]`;
}

export class BadRequestError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("BadRequest", message, options);
  }
}

/** A revision the server has not reached in time (API.md §4, §5). */
export class TimeoutError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("Timeout", message, options);
  }
}

/**
 * A list or watch at a revision this server did not reach in time, in
 * kube-apiserver's shape: client-go's reflector recognises it by the
 * `ResourceVersionTooLarge` cause and relists.
 */
export function tooLargeResourceVersion(wanted: number, current: number): TimeoutError {
  return new TimeoutError(`Timeout: Too large resource version: ${wanted}, current: ${current}`, {
    causes: [{ field: "", message: "Too large resource version", reason: "ResourceVersionTooLarge" }],
    retryAfterSeconds: 1,
  });
}

/** The backing store cannot answer now (etcd lost quorum or is unreachable); retry later or elsewhere (API.md §9). */
export class ServiceUnavailableError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("ServiceUnavailable", message, options);
  }
}

/**
 * The store is past its space quota or its disk is full (etcd's NOSPACE
 * alarm): writes that add data are refused; reads, watches, deletes and
 * compaction still work.
 */
export class InsufficientStorageError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super("InsufficientStorage", message, options);
  }
}
