// The one table that turns errors into Kubernetes Status objects (HTTP) and
// gRPC status codes. Every error that leaves the server passes through here;
// anything that is not an ApiError is an internal error (500) whose details
// are logged, not sent.

import { STATUS_CODES } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { STATUS_TRAILER } from "../proto.ts";
import type { Status } from "../wire.ts";
import { ApiError, type Reason } from "../errors.ts";

/** HTTP code and gRPC code for each reason (API.md §4, §6). */
export const REASONS: Record<Reason, { http: number; grpc: number }> = {
  BadRequest: { http: 400, grpc: 3 }, // INVALID_ARGUMENT
  Unauthorized: { http: 401, grpc: 16 }, // UNAUTHENTICATED
  Forbidden: { http: 403, grpc: 7 }, // PERMISSION_DENIED
  NotFound: { http: 404, grpc: 5 }, // NOT_FOUND
  MethodNotAllowed: { http: 405, grpc: 12 }, // UNIMPLEMENTED
  NotAcceptable: { http: 406, grpc: 3 }, // INVALID_ARGUMENT (HTTP only: an Accept header)
  AlreadyExists: { http: 409, grpc: 6 }, // ALREADY_EXISTS
  Conflict: { http: 409, grpc: 10 }, // ABORTED
  Expired: { http: 410, grpc: 11 }, // OUT_OF_RANGE
  RequestEntityTooLarge: { http: 413, grpc: 8 }, // RESOURCE_EXHAUSTED
  UnsupportedMediaType: { http: 415, grpc: 3 }, // INVALID_ARGUMENT
  // HTTP only: a request line and headers past Node's limit. Go's net/http (kube-apiserver) sends 431 as plain
  // text and kube has no reason for it; here it is a Status like every other error, with the code as its name.
  RequestHeaderFieldsTooLarge: { http: 431, grpc: 8 }, // RESOURCE_EXHAUSTED
  Invalid: { http: 422, grpc: 3 }, // INVALID_ARGUMENT
  TooManyRequests: { http: 429, grpc: 8 }, // RESOURCE_EXHAUSTED
  InsufficientStorage: { http: 507, grpc: 8 }, // RESOURCE_EXHAUSTED
  Timeout: { http: 504, grpc: 4 }, // DEADLINE_EXCEEDED
  ServiceUnavailable: { http: 503, grpc: 14 }, // UNAVAILABLE
  InternalError: { http: 500, grpc: 13 }, // INTERNAL
};

/** Any thrown value as an ApiError (non-API errors become InternalError with a generic message). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError("InternalError", "an internal error occurred; see the server log", { cause: err });
}

/** The Kubernetes Status for an error. */
export function statusOf(err: unknown): Status {
  const e = toApiError(err);
  const status: Status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: e.message,
    reason: e.reason,
    code: REASONS[e.reason].http,
  };
  if (e.continue !== undefined) status.metadata.continue = e.continue;
  const details: NonNullable<Status["details"]> = {};
  // kube's StatusDetails fields are omitempty strings: an empty (or, from a
  // malformed body, non-string) name is left out, never sent as another type.
  if (typeof e.subject.name === "string" && e.subject.name !== "") details.name = e.subject.name;
  if (e.subject.group !== undefined && e.subject.group !== "") details.group = e.subject.group;
  if (e.subject.kind !== undefined && e.subject.kind !== "") details.kind = e.subject.kind;
  if (e.causes.length > 0) details.causes = e.causes.map((c) => ({ reason: c.reason ?? "FieldValueInvalid", message: c.message, field: c.field }));
  if (e.retryAfterSeconds !== undefined) details.retryAfterSeconds = e.retryAfterSeconds;
  if (Object.keys(details).length > 0) status.details = details;
  return status;
}

/** The gRPC status code for an error. */
export function grpcCodeOf(err: unknown): number {
  return REASONS[toApiError(err).reason].grpc;
}

/** A failed gRPC call: the reason's gRPC code, the Status message, the Status JSON in the trailer. */
export function serviceError(err: unknown): Partial<grpc.StatusObject> & { code: number; details: string } {
  const status = statusOf(err);
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_TRAILER, Buffer.from(JSON.stringify(status)));
  return { code: grpcCodeOf(err), details: status.message, metadata };
}

/**
 * A whole HTTP/1.1 response carrying `status`, for a raw socket that no
 * ServerResponse serves (an unparseable request, a refused WebSocket upgrade).
 * The connection closes after it. `headers` are added; Retry-After comes
 * from the Status's `retryAfterSeconds` unless `headers` has one, as
 * kube-apiserver sends it.
 */
export function rawHttpReply(status: Status, headers: Record<string, string | number> = {}): string {
  const retryAfter = status.details?.retryAfterSeconds;
  if (retryAfter && headers["Retry-After"] === undefined) headers = { ...headers, "Retry-After": retryAfter };
  const body = JSON.stringify(status);
  const phrase = STATUS_CODES[status.code] ?? status.reason;
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return `HTTP/1.1 ${status.code} ${phrase}\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
