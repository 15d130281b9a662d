// The wire shapes an agent sees (API.md §1, §5) and how the client turns
// what the server answers into them: objects, watch events, and errors (the
// error class of the Status reason, or TransportError for anything that is not
// the protocol).

import type * as grpc from "@grpc/grpc-js";
import { ApiError, BadRequestError, ConflictError, ExpiredError, NotFoundError, TimeoutError, type Reason } from "../errors.ts";
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

/** The server could not be reached, or did not speak the protocol. Retry later. */
export class TransportError extends Error {
  /** The gRPC status code, or the WebSocket close code, when there was one. */
  readonly code: number | undefined;
  constructor(message: string, options: { code?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransportError";
    this.code = options.code;
  }
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
export function errorOfStatus(status: Pick<Status, "reason" | "message">): ApiError {
  const message = `server: ${status.message}`;
  switch (status.reason) {
    case "NotFound":
      return new NotFoundError(message);
    case "Conflict":
      return new ConflictError(message);
    case "Expired":
      return new ExpiredError(message);
    case "Timeout":
      return new TimeoutError(message);
    case "BadRequest":
      return new BadRequestError(message);
    default:
      return new ApiError(status.reason as Reason, message);
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
      { code: err.code, cause: err },
    );
  }
  // grpc-js ends an unreachable address's message with an empty "Resolution note: ".
  return new TransportError(`client: gRPC call failed: ${err.message.replace(/\s*Resolution note:\s*$/, "")}`, { code: err.code, cause: err });
}

export function parseObject<T>(bytes: Buffer | string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === "string" ? bytes : bytes.toString("utf8"));
  } catch (cause) {
    throw new TransportError(`client: ${what} is not JSON`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TransportError(`client: ${what} is not a JSON object`);
  return value as T;
}

/** A watch event from its wire form; throws TransportError for anything else, the mapped error for ERROR. */
export function parseEvent(type: unknown, object: Record<string, any>): WatchEvent {
  if (type === "ERROR") throw errorOfStatus({ reason: String(object.reason ?? "InternalError"), message: String(object.message ?? "watch error") });
  if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED" && type !== "BOOKMARK")
    throw new TransportError(`client: unknown watch event type ${JSON.stringify(type)}`);
  const rv = object.metadata?.resourceVersion;
  const revision = typeof rv === "string" && /^[1-9][0-9]{0,15}$/.test(rv) ? Number(rv) : NaN;
  if (!Number.isSafeInteger(revision)) throw new TransportError(`client: watch event without a valid resourceVersion: ${JSON.stringify(rv)}`);
  if (type !== "BOOKMARK" && typeof object.metadata?.name !== "string") throw new TransportError("client: watch event object has no metadata.name");
  return { type, object: object as ApiObject, revision };
}
