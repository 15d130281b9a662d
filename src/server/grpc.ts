// The gRPC edge (API.md §6): `setpoint.v1.Resources` served by thin adapters
// onto the transport-neutral verbs in src/api/resources.ts, so every rule is
// the REST one. Wire conventions are in src/proto.ts: a failed call carries
// the gRPC code of its reason (src/server/status.ts), the Status message as
// details and the Status JSON in the `setpoint-status-bin` trailer.
//
// Watch streams: events go out in hub order, each serialized once (GRPC_EVENT)
// and the bytes shared by every watcher. Once `call.write()` returns
// false the sink queues events until 'drain'; `buffered()` counts queued
// bytes plus bytes handed to grpc-js and not yet written, so the hub's
// send-buffer bound cuts a slow reader off (RESOURCE_EXHAUSTED, queue dropped).
// A watch that fails (410 Expired) sends one ERROR event with the Status, then
// ends with the error's code; one that ends on purpose (timeout, shutdown)
// ends OK after its final bookmark. A cancelled call stops its watcher.
//
// Shutdown (close()): stop accepting calls, let running calls finish for
// `graceMs`, then cut what is left.

import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { patchTypeOf } from "../api/patch.ts";
import type { RawQuery } from "../api/query.ts";
import type { ResourceRef, Resources } from "../api/resources.ts";
import { ApiError, BadRequestError } from "../errors.ts";
import * as wire from "../proto.ts";
import type { CloseReason, WatchEncoding, WatchSink } from "../watch.ts";
import type { Metrics } from "./metrics.ts";
import { MAX_BODY_BYTES } from "./rest.ts";
import { grpcCodeOf, statusOf, toApiError } from "./status.ts";

export interface GrpcServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** If set, every call must carry metadata `authorization: Bearer <token>`. */
  token?: string;
  log: Logger;
  /** Records each call like a REST request (HTTP code of the outcome). Optional. */
  metrics?: Metrics;
  /** How long close() lets running calls finish before cutting them. Default 2000 ms. */
  graceMs?: number;
}

export interface RunningGrpcServer {
  /** The bound port. */
  port: number;
  /** Graceful shutdown: tryShutdown, then forceShutdown after `graceMs`. */
  close(): Promise<void>;
}

const KEEPALIVE_MS = 30_000;

/** Starts serving `setpoint.v1.Resources` on host:port. */
export async function startGrpcServer(resources: Resources, options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { log, metrics, token } = options;
  const graceMs = options.graceMs ?? 2000;
  const server = new grpc.Server({
    // A little over the REST body bound, for the envelope around the object.
    "grpc.max_receive_message_length": MAX_BODY_BYTES + 64 * 1024,
    // Ping idle connections, so a vanished agent's watch is dropped (as WebSockets are).
    "grpc.keepalive_time_ms": KEEPALIVE_MS,
    "grpc.keepalive_timeout_ms": 10_000,
  });

  let closing: Promise<void> | undefined;
  const authenticate = (md: grpc.Metadata) => {
    if (token !== undefined && md.get("authorization")[0] !== `Bearer ${token}`) {
      throw new ApiError("Unauthorized", "Unauthorized: a valid bearer token is required");
    }
  };
  const record = (verb: string, ref: wire.ResourceRef | null | undefined, err: unknown, started: number, sub = "") => {
    const resource = ref ? `${ref.plural}.${ref.group}${sub}` : "unknown";
    const code = err === undefined ? (verb === "create" ? 201 : 200) : statusOf(err).code;
    if (code === 500) log.error({ err: toApiError(err).cause ?? err, verb, resource }, "internal error (grpc)");
    metrics?.request(verb, resource, code, (performance.now() - started) / 1000);
  };
  /** One unary RPC: authenticate, run, answer with the response or the error. */
  const unary = <Req extends { ref: wire.ResourceRef | null }, Res>(verb: string, run: (req: Req) => Promise<Res> | Res, sub = ""): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      const started = performance.now();
      Promise.resolve()
        .then(() => {
          authenticate(call.metadata);
          return run(call.request);
        })
        .then(
          (res) => {
            record(verb, call.request.ref, undefined, started, sub);
            callback(null, res);
          },
          (err: unknown) => {
            record(verb, call.request.ref, err, started, sub);
            callback(serviceError(err));
          },
        );
    };
  };
  /** A unary RPC answering with one object. */
  const object = <Req extends { ref: wire.ResourceRef | null }>(verb: string, run: (req: Req) => Promise<string> | string, sub = "") =>
    unary<Req, wire.ObjectResponse>(verb, async (r) => ({ object: Buffer.from(await run(r)) }), sub);

  const handlers: grpc.UntypedServiceImplementation = {
    Get: object<wire.GetRequest>("get", (r) => resources.get(refOf(r.ref, true))),
    List: unary<wire.ListRequest, wire.ListResponse>("list", async (r) => {
      const page = await resources.listPage(refOf(r.ref, false), listQuery(r));
      return { revision: page.revision, continue: page.continue ?? "", items: page.items.map((s) => Buffer.from(s)) };
    }),
    Watch: (call: grpc.ServerWritableStream<wire.WatchRequest, wire.WatchEvent>) => {
      const started = performance.now();
      const r = call.request;
      Promise.resolve()
        .then(() => {
          authenticate(call.metadata);
          return resources.openWatch(refOf(r.ref, false), watchQuery(r));
        })
        .then(
          (start) => {
            if (call.cancelled) return;
            let stop: () => void;
            try {
              stop = start(grpcWatchSink(call));
            } catch (err) {
              // The hub refuses new watches once it is closed: close() has begun.
              const error = closing ? new ApiError("TooManyRequests", "the server is shutting down; retry against another replica") : err;
              record("watch", r.ref, error, started);
              call.emit("error", serviceError(error));
              return;
            }
            record("watch", r.ref, undefined, started);
            call.on("cancelled", stop);
          },
          (err: unknown) => {
            record("watch", r.ref, err, started);
            call.emit("error", serviceError(err));
          },
        );
    },
    Create: object<wire.CreateRequest>("create", (r) => resources.create(refOf(r.ref, false), jsonOf(r.object, "object"))),
    Update: object<wire.UpdateRequest>("update", (r) => resources.update(refOf(r.ref, true), jsonOf(r.object, "object"))),
    UpdateStatus: object<wire.UpdateRequest>("update", (r) => resources.update(refOf(r.ref, true), jsonOf(r.object, "object"), "status"), "/status"),
    Patch: object<wire.PatchRequest>("patch", (r) => {
      const ref = refOf(r.ref, true);
      const type = patchTypeOf(r.patchType);
      return resources.patch(ref, type, jsonOf(r.patch, "patch"), r.status ? "status" : undefined);
    }),
    Delete: object<wire.DeleteRequest>("delete", (r) => {
      const ref = refOf(r.ref, true);
      const pre: { resourceVersion?: string; uid?: string } = {};
      if (r.resourceVersion) pre.resourceVersion = r.resourceVersion;
      if (r.uid) pre.uid = r.uid;
      return resources.delete(ref, { preconditions: pre });
    }),
  };
  server.addService(withPreSerializedWatch(wire.loadResourcesService().definition), handlers);

  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}

/** A failed call: the reason's gRPC code, the Status message, the Status JSON in the trailer. */
function serviceError(err: unknown): Partial<grpc.StatusObject> & { code: number; details: string } {
  const status = statusOf(err);
  const metadata = new grpc.Metadata();
  metadata.set(wire.STATUS_TRAILER, Buffer.from(JSON.stringify(status)));
  return { code: grpcCodeOf(err), details: status.message, metadata };
}

/** The API's ResourceRef from the wire's: "" means absent. */
function refOf(ref: wire.ResourceRef | null | undefined, needName: boolean): ResourceRef {
  if (!ref || !ref.group || !ref.version || !ref.plural) {
    throw new BadRequestError("ref.group, ref.version and ref.plural are required", {
      causes: [{ field: "ref", message: "group, version and plural are required", reason: "FieldValueRequired" }],
    });
  }
  if (needName && !ref.name) {
    throw new BadRequestError("ref.name is required", { causes: [{ field: "ref.name", message: "Required value", reason: "FieldValueRequired" }] });
  }
  const out: ResourceRef = { group: ref.group, version: ref.version, plural: ref.plural };
  if (ref.namespace) out.namespace = ref.namespace;
  if (ref.name) out.name = ref.name;
  return out;
}

function jsonOf(bytes: Uint8Array | null | undefined, field: string): unknown {
  if (!bytes || bytes.length === 0) return undefined;
  if (bytes.length > MAX_BODY_BYTES) throw new ApiError("RequestEntityTooLarge", `${field} too large: at most ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8"));
  } catch (err) {
    throw new BadRequestError(`invalid JSON in ${field}: ${(err as Error).message}`, { causes: [{ field, message: "invalid JSON", reason: "FieldValueInvalid" }] });
  }
}

function listQuery(r: wire.ListRequest): RawQuery {
  const q: RawQuery = {};
  if (r.labelSelector) q.labelSelector = r.labelSelector;
  if (r.fieldSelector) q.fieldSelector = r.fieldSelector;
  if (r.limit) q.limit = String(r.limit);
  if (r.continue) q.continue = r.continue;
  if (r.resourceVersion) q.resourceVersion = r.resourceVersion;
  return q;
}

function watchQuery(r: wire.WatchRequest): RawQuery {
  const q: RawQuery = {};
  if (r.labelSelector) q.labelSelector = r.labelSelector;
  if (r.fieldSelector) q.fieldSelector = r.fieldSelector;
  if (r.resourceVersion) q.resourceVersion = r.resourceVersion;
  if (r.allowBookmarks) q.allowWatchBookmarks = "true";
  if (r.sendInitialEvents) q.sendInitialEvents = "true"; // false: the default (proto3 has no "unset")
  if (r.timeoutSeconds) q.timeoutSeconds = String(r.timeoutSeconds);
  return q;
}

/**
 * A gRPC watch event: the serialized `WatchEvent` message, made once per event
 * and written as is by every watcher (the service's Watch serializer passes
 * Buffers through, see `withPreSerializedWatch`).
 */
const GRPC_EVENT: WatchEncoding<Buffer> = {
  name: "grpc",
  encode: (e) => serializeWatchEvent({ type: e.type, object: Buffer.from(e.object), revision: e.revision }),
};

function serializeWatchEvent(message: wire.WatchEvent): Buffer {
  return wire.loadResourcesService().definition.Watch!.responseSerialize(message);
}

/** The service definition with a Watch serializer that writes an already serialized message (a Buffer) unchanged. */
function withPreSerializedWatch(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const watch = definition.Watch!;
  const serialize = watch.responseSerialize;
  return { ...definition, Watch: { ...watch, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) } };
}

/** Adapts a server-streaming call to the hub's WatchSink (see the file comment). */
function grpcWatchSink(call: grpc.ServerWritableStream<wire.WatchRequest, wire.WatchEvent>): WatchSink {
  let queue: Array<{ message: Buffer; size: number }> = [];
  let head = 0; // queue[head..] are waiting for 'drain'
  let queued = 0; // bytes in queue[head..]
  let inFlight = 0; // bytes given to call.write() whose callback has not run
  let blocked = false; // the last call.write() returned false
  let done = false; // no more events accepted
  let finish: (() => void) | undefined; // how to end once the queue is empty

  // A pre-serialized message (see withPreSerializedWatch), typed as the stream's message type.
  const write = (message: Buffer, size: number) => {
    inFlight += size;
    blocked = !call.write(message as unknown as wire.WatchEvent, () => (inFlight -= size));
  };
  const flush = () => {
    while (!blocked && head < queue.length) {
      const next = queue[head++]!;
      queued -= next.size;
      write(next.message, next.size);
    }
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    if (!blocked && queue.length === 0 && finish) {
      const end = finish;
      finish = undefined;
      end();
    }
  };
  const push = (message: Buffer, size: number) => {
    if (blocked || queue.length > 0) {
      queue.push({ message, size });
      queued += size;
    } else {
      write(message, size);
    }
  };
  const drop = () => {
    queue = [];
    head = 0;
    queued = 0;
  };
  call.on("drain", () => {
    blocked = false;
    flush();
  });
  call.on("cancelled", () => {
    done = true;
    finish = undefined;
    drop();
  });

  return {
    send(event) {
      if (done) return;
      const message = event.encoded(GRPC_EVENT);
      push(message, message.length);
    },
    buffered() {
      return queued + inFlight;
    },
    onDrain(listener) {
      // Blocked: grpc-js says when it can take more. Otherwise the bytes in
      // flight are written within a turn or two: look again then.
      if (blocked && !done) call.once("drain", () => setImmediate(listener));
      else setImmediate(listener);
    },
    fail(err) {
      if (done) return;
      done = true;
      const message = serializeWatchEvent({ type: "ERROR", object: Buffer.from(JSON.stringify(statusOf(err))), revision: 0 });
      push(message, message.length);
      finish = () => call.emit("error", serviceError(err));
      flush();
    },
    close(reason: CloseReason) {
      if (done) return;
      done = true;
      if (reason === "slow") {
        drop();
        call.emit("error", {
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: "watch send buffer full: reconnect from your last resourceVersion",
        });
        return;
      }
      finish = () => call.end();
      flush();
    },
  };
}
