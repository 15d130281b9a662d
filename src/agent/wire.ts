// The wire shapes an agent sees (API.md §1, §5) and how the client turns
// what the server answers into them: objects, watch events, and errors (the
// error class of the Status reason, or TransportError for anything that is not
// the protocol).

import type * as grpc from "@grpc/grpc-js";
import { ApiError, BadRequestError, ConflictError, ExpiredError, NotFoundError, TimeoutError, type FieldCause, type Reason } from "../errors.ts";
import { statusOfError } from "../proto.ts";
import type { ApiObject, Status } from "../wire.ts";

export type { ApiObject, ObjectMeta } from "../wire.ts";

/** A type, and for list and watch optionally one namespace (absent: all). */
export interface TypeRef {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
}

/** One object: its type, namespace (absent for cluster-scoped types) and name. */
export interface ObjectRef extends TypeRef {
  name: string;
}

/** A watch event; `revision` is the object's resourceVersion (a bookmark's: everything up to it was delivered). */
export interface WatchEvent<T extends ApiObject = ApiObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";
  object: T;
  revision: number;
}

/**
 * What kind of transport failure a TransportError is, for callers to branch on:
 * - `unreachable`: no connection, or it broke, or the call's answer was lost
 *   (a refused or reset socket, gRPC UNAVAILABLE, a WebSocket closed abnormally);
 * - `protocol`: the address answered, but not in Setpoint's protocol (not
 *   HTTP/1.1 or not gRPC, a body that is not JSON, an event that is not one);
 * - `silent`: a watch received nothing, not even bookmarks, for too long;
 * - `grpc`: a gRPC call failed with a status code (`code`) that names no Status reason;
 * - `http`: an HTTP answer (`code`) that is neither a success nor a Status.
 */
export type TransportFailure = "unreachable" | "protocol" | "silent" | "grpc" | "http";

/** The server could not be reached, or did not speak the protocol. Retry later. */
export class TransportError extends Error {
  /** The gRPC status code, the HTTP status code or the WebSocket close code, when there was one. */
  readonly code: number | undefined;
  /** What failed (see TransportFailure). Default `unreachable`. */
  readonly kind: TransportFailure;
  constructor(message: string, options: { code?: number; cause?: unknown; kind?: TransportFailure } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransportError";
    this.code = options.code;
    this.kind = options.kind ?? "unreachable";
  }
}

/**
 * The kind of a failed connection from its Node error's `code`: the HTTP
 * parser's (`HPE_*`), or ws's frame and handshake errors (`WS_ERR_*`), mean
 * the peer answered in something else than the protocol; any other (ECONNREFUSED,
 * ECONNRESET, ETIMEDOUT, ...) that it could not be reached.
 */
export function failureOfSocketError(err: unknown): TransportFailure {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && (code.startsWith("HPE_") || code.startsWith("WS_ERR_")) ? "protocol" : "unreachable";
}

const REASON_OF_GRPC_CODE: Record<number, Reason> = {
  3: "BadRequest",
  4: "Timeout",
  5: "NotFound",
  6: "AlreadyExists",
  7: "Forbidden",
  8: "TooManyRequests",
  10: "Conflict",
  11: "Expired",
  16: "Unauthorized",
};

/** The error class of a Status reason. */
/** The error class of a Status reason, with the Status's field causes (`details.causes`) when it has any. */
export function errorOfStatus(status: Pick<Status, "reason" | "message"> & { details?: Status["details"] }): ApiError {
  const message = `server: ${status.message}`;
  const causes: FieldCause[] = [];
  for (const c of Array.isArray(status.details?.causes) ? status.details.causes : [])
    if (typeof c === "object" && c !== null)
      causes.push({ field: String(c.field ?? ""), message: String(c.message ?? ""), ...(typeof c.reason === "string" ? { reason: c.reason } : {}) });
  const options = { causes };
  switch (status.reason) {
    case "NotFound":
      return new NotFoundError(message, options);
    case "Conflict":
      return new ConflictError(message, options);
    case "Expired":
      return new ExpiredError(message, options);
    case "Timeout":
      return new TimeoutError(message, options);
    case "BadRequest":
      return new BadRequestError(message, options);
    default:
      return new ApiError(status.reason as Reason, message, options);
  }
}

export function errorOfGrpc(err: grpc.ServiceError): Error {
  const status = statusOfError(err);
  if (status && typeof status.reason === "string") return errorOfStatus(status);
  const reason = REASON_OF_GRPC_CODE[err.code];
  if (reason) return errorOfStatus({ reason, message: err.details || err.message });
  if (err.code === 14 /* UNAVAILABLE */ && /Protocol error/.test(err.details ?? err.message)) {
    // An HTTP/1.1 server answered the HTTP/2 preface: the gRPC address is the REST port.
    return new TransportError(
      "client: the gRPC address answered, but not in gRPC (Protocol error): is it the server's HTTP port? The server serves gRPC on a port of its own (its --grpc-port, 9090 by default)",
      { code: err.code, cause: err, kind: "protocol" },
    );
  }
  // grpc-js ends an unreachable address's message with an empty "Resolution note: ".
  return new TransportError(`client: gRPC call failed: ${err.message.replace(/\s*Resolution note:\s*$/, "")}`, {
    code: err.code,
    cause: err,
    kind: err.code === 14 /* UNAVAILABLE */ ? "unreachable" : "grpc",
  });
}

export function parseObject<T>(bytes: Buffer | string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === "string" ? bytes : bytes.toString("utf8"));
  } catch (cause) {
    throw new TransportError(`client: ${what} is not JSON`, { cause, kind: "protocol" });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new TransportError(`client: ${what} is not a JSON object`, { kind: "protocol" });
  return value as T;
}

/** A watch event from its wire form; throws TransportError for anything else, the mapped error for ERROR. */
export function parseEvent(type: unknown, object: Record<string, any>): WatchEvent {
  if (type === "ERROR")
    throw errorOfStatus({ reason: String(object.reason ?? "InternalError"), message: String(object.message ?? "watch error"), details: object.details });
  if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED" && type !== "BOOKMARK")
    throw new TransportError(`client: unknown watch event type ${JSON.stringify(type)}`, { kind: "protocol" });
  const rv = object.metadata?.resourceVersion;
  const revision = typeof rv === "string" && /^[1-9][0-9]{0,15}$/.test(rv) ? Number(rv) : NaN;
  if (!Number.isSafeInteger(revision))
    throw new TransportError(`client: watch event without a valid resourceVersion: ${JSON.stringify(rv)}`, { kind: "protocol" });
  if (type !== "BOOKMARK" && typeof object.metadata?.name !== "string")
    throw new TransportError("client: watch event object has no metadata.name", { kind: "protocol" });
  return { type, object: object as ApiObject, revision };
}
