// The gRPC edge (API.md §6): `setpoint.v1.Resources` served by thin adapters
// onto the transport-neutral verbs in src/api/resources.ts, so every rule is
// the REST one. Wire conventions are in src/proto.ts: a failed call carries
// the gRPC code of its reason (src/server/status.ts), the Status message as
// details and the Status JSON in the `setpoint-status-bin` trailer.
//
// A call is authenticated by the edge interceptor (src/server/grpc-guards.ts)
// from its metadata, before any of its message is read or counted: one that
// is not gets UNAUTHENTICATED at once. The handlers then admit it in full
// (authentication again, limits, RBAC on the ref its message names).
//
// Watch streams are served by src/server/grpc-watch-sink.ts (flow control,
// the slow-reader bound, how a watch ends). A cancelled call stops its watcher.
//
// Shutdown (close()): stop accepting calls, let running calls finish for
// `graceMs`, then cut what is left.

import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { checkJsonNumbers } from "../api/json-numbers.ts";
import { patchTypeOf } from "../api/patch.ts";
import { encodeContinue, type RawQuery } from "../api/query.ts";
import type { ListPage, ReadOptions, ResourceRef, Resources } from "../api/resources.ts";
import { parseFieldSelector } from "../api/selector.ts";
import { systemClock, type Clock } from "../clock.ts";
import { ApiError, BadRequestError } from "../errors.ts";
import { bearerOf, type Credentials } from "./auth/authenticator.ts";
import * as wire from "../proto.ts";
import type { AuditNote } from "./audit.ts";
import type { Metrics } from "./metrics.ts";
import { MAX_BODY_BYTES } from "./rest.ts";
import { edgeInterceptor, malformedRequest, withMalformedRequests } from "./grpc-guards.ts";
import { gzipListItems, listAcceptsGzip } from "./grpc-list-gzip.ts";
import { addReceivingMetrics, ReceivingMessages } from "./grpc-receiving.ts";
import { grpcWatchSink, withPreSerializedWatch } from "./grpc-watch-sink.ts";
import { selectedName, type Admission, type GrpcCall, type Security } from "./security.ts";
import { serviceError, statusOf, toApiError } from "./status.ts";

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
  /** Times the shutdown grace and a request message's 60 s to arrive whole (src/server/grpc-receiving.ts). Default: the system clock. */
  clock?: Clock;
  /** Ping an idle connection this often, so a vanished agent's watch is dropped. Default 30000 ms. */
  keepaliveMs?: number;
  /** The security edge (src/server/security.ts): authentication, limits, RBAC, audit, TLS. */
  security?: Security;
  /** Bytes of request messages being received at once, across every call; past it a call gets RESOURCE_EXHAUSTED (src/server/grpc-receiving.ts). 0 for no bound. Default 200 MiB. */
  maxReceivingBytes?: number;
  /**
   * Calls one connection may have open at once: the HTTP/2
   * SETTINGS_MAX_CONCURRENT_STREAMS the server announces. A client holds its
   * further calls until one ends (grpc-js, grpc-go); a stream opened past it
   * anyway is refused (RST_STREAM REFUSED_STREAM, which gRPC clients retry)
   * before any handler runs. 0 for no limit. Default 250 (--grpc-max-streams-per-connection).
   */
  maxStreamsPerConnection?: number;
  /** Whether a List that asks for it (accept_encoding "gzip") may be answered gzipped (src/server/grpc-list-gzip.ts). Default true; `--no-response-compression` turns it off with REST's. */
  responseCompression?: boolean;
}

export interface RunningGrpcServer {
  /** The bound port. */
  port: number;
  /** Graceful shutdown: tryShutdown, then forceShutdown after `graceMs`. */
  close(): Promise<void>;
}

/** Starts serving `setpoint.v1.Resources` on host:port. */
export async function startGrpcServer(resources: Resources, options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const receiving = new ReceivingMessages({ maxBytes: options.maxReceivingBytes ?? 200 * 1024 * 1024, clock: options.clock });
  const maxStreams = options.maxStreamsPerConnection ?? 250;
  const server = new grpc.Server({
    // A little over the REST body bound, for the envelope around the object.
    "grpc.max_receive_message_length": MAX_BODY_BYTES + 64 * 1024,
    // Ping idle connections, so a vanished agent's watch is dropped (as WebSockets are).
    "grpc.keepalive_time_ms": options.keepaliveMs ?? 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    interceptors: [edgeInterceptor(receiving, (path, call) => edge.authenticate(path, call))],
    ...(maxStreams > 0 ? { "grpc.max_concurrent_streams": maxStreams } : {}),
  });
  if (options.metrics) addReceivingMetrics(options.metrics.registry, receiving);
  let closing: Promise<void> | undefined;
  const edge = callEdge(resources, options);
  const handlers = resourceHandlers(resources, edge, () => closing !== undefined, options.responseCompression ?? true);
  server.addService(withMalformedRequests(withPreSerializedList(withPreSerializedWatch(wire.loadResourcesService().definition))), handlers);
  const port = await bind(server, options);
  return {
    port,
    close() {
      closing ??= shutdown(server, options.clock ?? systemClock, options.graceMs ?? 2000);
      return closing;
    },
  };
}

/** What every call goes through: admission by the security edge, and a metrics record of its outcome. */
interface CallEdge {
  /**
   * The edge interceptor's check (src/server/grpc-guards.ts), from a call's
   * metadata alone, before any of its message is read: the 401 for a call
   * without valid credentials (audited and recorded, for the method's verb; the
   * resource is in the message, unread), else undefined.
   */
  authenticate(path: string, call: GrpcCall): ApiError | undefined;
  /**
   * Admits a call through the security edge (or the bare token check without one); throws (or rejects) if refused.
   * `read.since`: the store's sync mark when the call arrived (GateRequest.since).
   */
  admit(call: GrpcCall, verb: string, ref: wire.ResourceRef | null | undefined, sub: string, read: ReadOptions): Admission | undefined | Promise<Admission>;
  /** Records a call like a REST request; logs an internal error. `started` is performance.now() (real elapsed time for the latency histogram). */
  record(verb: string, ref: wire.ResourceRef | null | undefined, err: unknown, started: number, sub?: string): void;
  /**
   * One unary RPC: authenticate, run (as the caller, under RBAC), answer with
   * the response or the error. `sub` ("/status" or "") may depend on the request.
   */
  unary<Req extends { ref: wire.ResourceRef | null }, Res>(
    verb: string,
    run: (req: Req, read: ReadOptions) => Promise<Res> | Res,
    sub?: string | ((req: Req) => string),
  ): grpc.handleUnaryCall<Req, Res>;
}

function callEdge(resources: Resources, options: GrpcServerOptions): CallEdge {
  const { log, metrics, token, security } = options;
  /** A call's metrics label: the live type it names, as REST labels it; "unknown" otherwise, so any text a caller sends cannot add series. */
  const resourceLabel = (ref: wire.ResourceRef | null | undefined, sub: string): string => {
    if (!ref?.group || !ref.version || !ref.plural) return "unknown";
    try {
      return `${resources.resolve({ group: ref.group, version: ref.version, plural: ref.plural }, false).name}${sub}`;
    } catch {
      return "unknown";
    }
  };
  const edge: CallEdge = {
    authenticate(path, call) {
      const started = performance.now();
      const { verb, sub } = METHOD_VERBS[path.slice(path.lastIndexOf("/") + 1)] ?? { verb: "unknown", sub: "" };
      let refusal: ApiError | undefined;
      if (security) {
        if (!security.authenticator.enabled || security.authenticator.authenticate(credentialsOf(call)) !== undefined) return undefined;
        // Refused by the gate itself, so it is audited as the handler's admission would have it.
        try {
          const admitted = security.admitGrpc({ ...callOf(call), getPath: () => path }, verb, null, sub === "/status" ? "status" : "");
          // Not reached (the gate refuses a caller without valid credentials at once, as it throws): do not hold what it gave.
          void Promise.resolve(admitted).then(
            (a) => a.done(401),
            () => {},
          );
        } catch (err) {
          refusal = toApiError(err);
        }
        refusal ??= new ApiError("Unauthorized", "Unauthorized");
      } else if (token !== undefined && call.metadata.get("authorization")[0] !== `Bearer ${token}`) {
        refusal = new ApiError("Unauthorized", "Unauthorized");
      }
      if (refusal) edge.record(verb, null, refusal, started, sub);
      return refusal;
    },
    admit(call, verb, ref, sub, read) {
      if (security) return security.admitGrpc(call, verb, ref, sub === "/status" ? "status" : "", read.since);
      if (token !== undefined && call.metadata.get("authorization")[0] !== `Bearer ${token}`) {
        throw new ApiError("Unauthorized", "Unauthorized");
      }
      return undefined;
    },
    record(verb, ref, err, started, sub = "") {
      const resource = resourceLabel(ref, sub);
      const code = err === undefined ? (verb === "create" ? 201 : 200) : statusOf(err).code;
      if (code === 500) log.error({ err: toApiError(err).cause ?? err, verb, resource }, "internal error (grpc)");
      metrics?.request(verb, resource, code, (performance.now() - started) / 1000);
    },
    unary<Req extends { ref: wire.ResourceRef | null }, Res>(
      verb: string,
      run: (req: Req, read: ReadOptions) => Promise<Res> | Res,
      subOf: string | ((req: Req) => string) = "",
    ): grpc.handleUnaryCall<Req, Res> {
      return (call, callback) => {
        const started = performance.now();
        const sub = typeof subOf === "string" ? subOf : subOf(call.request);
        // When the call arrived: the gate's consistent read (RBAC across processes) then serves its read too.
        const read: ReadOptions = { since: resources.syncMark() };
        let admission: Admission | undefined;
        Promise.resolve()
          .then(() => {
            // A request that did not decode names nothing to authorize: refuse it first.
            const malformed = malformedRequest(call.request, verb);
            if (malformed) throw malformed;
            return edge.admit(call, verb, authorizedRef(verb, call.request), sub, read);
          })
          .then((admitted) => {
            admission = admitted;
            const user = admission?.user;
            return security && user ? security.runAs(user, () => run(call.request, read)) : run(call.request, read);
          })
          .then(
            (res) => {
              edge.record(verb, call.request.ref, undefined, started, sub);
              admission?.done(verb === "create" ? 201 : 200, verb === "create" && security?.audit ? createdName(call.request) : undefined);
              callback(null, res);
            },
            (err: unknown) => {
              edge.record(verb, call.request.ref, err, started, sub);
              const status = statusOf(err);
              admission?.done(status.code, {
                failure: { reason: status.reason, message: status.message },
                ...(verb === "create" && security?.audit ? createdName(call.request) : {}),
              });
              callback(serviceError(err));
            },
          );
      };
    },
  };
  return edge;
}

/** Each RPC's verb as the gate authorizes it, by method name (a Patch's subresource is in its message). */
const METHOD_VERBS: Record<string, { verb: string; sub: string }> = {
  Get: { verb: "get", sub: "" },
  List: { verb: "list", sub: "" },
  Watch: { verb: "watch", sub: "" },
  Create: { verb: "create", sub: "" },
  Update: { verb: "update", sub: "" },
  UpdateStatus: { verb: "update", sub: "/status" },
  Patch: { verb: "patch", sub: "" },
  Delete: { verb: "delete", sub: "" },
};

/** The credentials a call carries, as Security.admitGrpc reads them: the `authorization` metadata's bearer token, a verified client certificate. */
function credentialsOf(call: GrpcCall): Credentials {
  const header = call.metadata.get("authorization")[0];
  const credentials: Credentials = { token: bearerOf(typeof header === "string" ? header : header?.toString("utf8")) };
  const certificate = call.getAuthContext?.()?.sslPeerCertificate;
  if (certificate) credentials.certificate = certificate;
  return credentials;
}

/** The parts of grpc-js's base call (a class instance: its methods are not own properties) the gate reads. */
function callOf(call: GrpcCall): GrpcCall {
  return { metadata: call.metadata, getPeer: () => call.getPeer(), getAuthContext: () => call.getAuthContext?.() ?? null };
}

/** For the audit log: the name in a Create's object, as REST's create notes it (src/server/audit.ts). */
function createdName(request: unknown): AuditNote | undefined {
  try {
    const name = JSON.parse(Buffer.from((request as { object?: Uint8Array }).object ?? []).toString("utf8"))?.metadata?.name;
    return typeof name === "string" && name !== "" ? { objectName: name } : undefined;
  } catch {
    return undefined;
  }
}

/** The service's handlers: each RPC a thin adapter onto `resources`. */
function resourceHandlers(resources: Resources, edge: CallEdge, shuttingDown: () => boolean, responseCompression: boolean): grpc.UntypedServiceImplementation {
  /** A unary RPC answering with one object. */
  const object = <Req extends { ref: wire.ResourceRef | null }>(
    verb: string,
    run: (req: Req, read: ReadOptions) => Promise<string> | string,
    sub: string | ((req: Req) => string) = "",
  ) => edge.unary<Req, wire.ObjectResponse>(verb, async (r, read) => ({ object: Buffer.from(await run(r, read)) }), sub);
  return {
    Get: object<wire.GetRequest>("get", (r, read) => resources.get(refOf(r.ref, true), read)),
    List: edge.unary<wire.ListRequest, ListAnswer>("list", async (r, read) => {
      const ref = refOf(r.ref, false);
      const gzip = responseCompression && listAcceptsGzip(r.acceptEncoding);
      if (r.limit > 0) {
        const res = listResponse(await resources.listPage(ref, listQuery(r), read));
        const itemsGzip = gzip ? await gzipListItems(serializeList({ items: res.items })) : undefined;
        return itemsGzip ? { ...res, items: [], itemsGzip } : res;
      }
      // A serialized message (see withPreSerializedList), typed as the response.
      return (await wholeList(await resources.listPages(ref, listQuery(r), read), gzip)) as unknown as ListAnswer;
    }),
    Watch: watchHandler(resources, edge, shuttingDown),
    Create: object<wire.CreateRequest>("create", (r) => resources.create(refOf(r.ref, false), jsonOf(r.object, "object"))),
    Update: object<wire.UpdateRequest>("update", (r) => resources.update(refOf(r.ref, true), jsonOf(r.object, "object"))),
    UpdateStatus: object<wire.UpdateRequest>("update", (r) => resources.update(refOf(r.ref, true), jsonOf(r.object, "object"), "status"), "/status"),
    Patch: object<wire.PatchRequest>(
      "patch",
      (r) => {
        const ref = refOf(r.ref, true);
        const type = patchTypeOf(r.patchType);
        return resources.patch(ref, type, jsonOf(r.patch, "patch"), r.status ? "status" : undefined);
      },
      // A status patch is authorized (and counted) as one of `plural/status`, as REST's PATCH .../status.
      (r) => (r?.status ? "/status" : ""),
    ),
    Delete: object<wire.DeleteRequest>("delete", (r) => {
      const ref = refOf(r.ref, true);
      const pre: { resourceVersion?: string; uid?: string } = {};
      if (r.resourceVersion) pre.resourceVersion = r.resourceVersion;
      if (r.uid) pre.uid = r.uid;
      return resources.delete(ref, { preconditions: pre });
    }),
  };
}

/** The Watch RPC: admit, open the watch, stream it through a grpcWatchSink until the call ends. */
function watchHandler(resources: Resources, edge: CallEdge, shuttingDown: () => boolean): (call: WatchCall) => void {
  return (call) => {
    const started = performance.now();
    const r = call.request;
    const read: ReadOptions = { since: resources.syncMark() };
    let code = 200;
    Promise.resolve()
      .then(async () => {
        const malformed = malformedRequest(r, "watch");
        if (malformed) throw malformed;
        const admission = await edge.admit(call, "watch", authorizedRef("watch", r), "", read);
        if (admission) {
          // The watch counts (and is audited) until the call ends, however it ends.
          const end = () => admission.done(code);
          if (call.cancelled) {
            end(); // cancelled while the decision waited (security.admitFresh)
            return;
          }
          for (const event of ["finish", "cancelled", "error", "close"]) call.once(event, end);
        }
        const start = await resources.openWatch(refOf(r.ref, false), watchQuery(r), read);
        if (call.cancelled) return;
        let stop: () => void;
        try {
          stop = start(grpcWatchSink(call));
        } catch (err) {
          // The hub refuses new watches once it is closed: close() has begun.
          throw shuttingDown() ? new ApiError("TooManyRequests", "the server is shutting down; retry against another replica") : err;
        }
        call.on("cancelled", stop);
        edge.record("watch", r.ref, undefined, started);
      })
      .catch((err: unknown) => {
        code = statusOf(err).code;
        edge.record("watch", r.ref, err, started);
        call.emit("error", serviceError(err));
      });
  };
}

/** Binds host:port (TLS when the security edge has it); resolves to the bound port. */
function bind(server: grpc.Server, options: GrpcServerOptions): Promise<number> {
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const credentials = options.security?.tls?.grpcCredentials() ?? grpc.ServerCredentials.createInsecure();
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

type WatchCall = grpc.ServerWritableStream<wire.WatchRequest, wire.WatchEvent>;

/** tryShutdown, then forceShutdown after `graceMs`. */
function shutdown(server: grpc.Server, clock: Clock, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = clock.after(graceMs, () => {
      server.forceShutdown();
      resolve();
    });
    server.tryShutdown(() => {
      force.cancel();
      resolve();
    });
  });
}

/** The API's ResourceRef from the wire's: "" means absent. */
function refOf(ref: wire.ResourceRef | null | undefined, needName: boolean): ResourceRef {
  const missing = (["group", "version", "plural"] as const).filter((part) => !ref?.[part]).map((part) => `ref.${part}`);
  if (!ref || missing.length > 0) {
    // Each missing part by name, as the field of its own cause (a ref with only the version empty says ref.version).
    throw new BadRequestError(`${missing.join(", ").replace(/, ([^,]*)$/, " and $1")} ${missing.length === 1 ? "is" : "are"} required`, {
      causes: missing.map((field) => ({ field, message: "Required value", reason: "FieldValueRequired" })),
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
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`invalid JSON in ${field}: ${(err as Error).message}`, {
      causes: [{ field, message: "invalid JSON", reason: "FieldValueInvalid" }],
    });
  }
  checkJsonNumbers(text, field);
  return value;
}

/**
 * The ref a call is authorized for. A list or watch whose field selector pins
 * `metadata.name` is one of that name, as over REST, so RBAC `resourceNames`
 * grant it.
 */
function authorizedRef(verb: string, r: { ref: wire.ResourceRef | null; fieldSelector?: string }): wire.ResourceRef | null {
  if ((verb !== "list" && verb !== "watch") || !r.ref || r.ref.name || !r.fieldSelector) return r.ref;
  const name = selectedName(r.fieldSelector);
  return name ? { ...r.ref, name } : r.ref;
}

/**
 * The field selector of a list or watch. A ref that names an object makes it
 * a list or watch of that object alone, as kube-apiserver reads a name on a
 * list or watch: `metadata.name=NAME`; a field selector of the request's own
 * must then select exactly that name (400 otherwise). The call is authorized
 * for that name, so it must never see another object.
 */
function fieldSelectorOf(r: { ref: wire.ResourceRef | null; fieldSelector: string }): string {
  const name = r.ref?.name;
  if (!name) return r.fieldSelector;
  if (/[,=!\s\\]/.test(name)) {
    throw new BadRequestError(`invalid ref.name ${JSON.stringify(name)}: not an object name`, {
      causes: [{ field: "ref.name", message: "not an object name", reason: "FieldValueInvalid" }],
    });
  }
  if (!r.fieldSelector) return `metadata.name=${name}`;
  if (parseFieldSelector(r.fieldSelector).name !== name) {
    const message = "fieldSelector metadata.name doesn't match requested name";
    throw new BadRequestError(message, { causes: [{ field: "fieldSelector", message, reason: "FieldValueInvalid" }] });
  }
  return r.fieldSelector;
}

/**
 * Bytes of items a List answer with a limit holds at most: under the 4 MiB
 * that gRPC clients receive by default (grpc-js, grpc-go), with room for the
 * envelope, so that a page of objects near the 1.5 MiB bound still arrives.
 */
const LIST_PAGE_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/** A List answer as the handler gives it: `itemsGzip` only when gzipped (an empty one would still be sent). */
type ListAnswer = Omit<wire.ListResponse, "itemsGzip"> & { itemsGzip?: Buffer };

/**
 * A List answer with a limit. The page also ends before LIST_PAGE_BYTES
 * (after one item at least), with a continue token after its last item: a
 * limit is a most, and a shorter page with `continue` is one a client already
 * follows (kube's lists do the same).
 */
function listResponse(page: ListPage): ListAnswer {
  const items = page.items.map((s) => Buffer.from(s));
  let bytes = 0;
  let kept = 0;
  while (kept < items.length && (kept === 0 || bytes + items[kept]!.length <= LIST_PAGE_BYTES)) bytes += items[kept++]!.length;
  if (kept === items.length) return { revision: page.revision, continue: page.continue ?? "", items };
  const last = (JSON.parse(page.items[kept - 1]!) as { metadata: { namespace?: string; name: string } }).metadata;
  const next = encodeContinue({ revision: page.revision, namespace: last.namespace ?? "", name: last.name });
  return { revision: page.revision, continue: next, items: items.slice(0, kept) };
}

/**
 * A List answer without a limit: the whole list, as asked, in one message (a
 * unary reply; a client must be able to receive it, or page). Serialized a
 * store page at a time as the pages are read: protobuf reads concatenated
 * messages as one, their repeated `items` appended, so the answer is the
 * revision's message followed by one message per page. The server holds the
 * serialized answer and one page of the store's text, never the whole list as
 * strings, Buffers and the encoder's copy at once.
 */
async function wholeList(list: { revision: number; pages: Iterable<string[]> }, gzip: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  // Only `items` in the pages' messages: a field present again (revision 0) would replace the first's.
  for (const page of list.pages) parts.push(serializeList({ items: page.map((s) => Buffer.from(s)) }));
  const head = serializeList({ revision: list.revision });
  if (!gzip) return Buffer.concat([head, ...parts]);
  // Asked for gzip: the pages' messages, concatenated, are the ListResponse holding only `items` that items_gzip holds.
  const items = Buffer.concat(parts);
  parts.length = 0;
  const itemsGzip = await gzipListItems(items);
  return itemsGzip ? serializeList({ revision: list.revision, itemsGzip }) : Buffer.concat([head, items]);
}

/** Serializes a List answer (or part of one) as the wire has it. */
function serializeList(value: Partial<wire.ListResponse>): Buffer {
  return (wire.loadResourcesService().definition.List!.responseSerialize as (value: Partial<wire.ListResponse>) => Buffer)(value);
}

/** The service definition with a List serializer that writes an already serialized message (a Buffer, wholeList) unchanged. */
function withPreSerializedList(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const list = definition.List!;
  const serialize = list.responseSerialize;
  return { ...definition, List: { ...list, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) } };
}

function listQuery(r: wire.ListRequest): RawQuery {
  const q: RawQuery = {};
  const fieldSelector = fieldSelectorOf(r);
  if (r.labelSelector) q.labelSelector = r.labelSelector;
  if (fieldSelector) q.fieldSelector = fieldSelector;
  if (r.limit) q.limit = String(r.limit);
  if (r.continue) q.continue = r.continue;
  if (r.resourceVersion) q.resourceVersion = r.resourceVersion;
  return q;
}

function watchQuery(r: wire.WatchRequest): RawQuery {
  const q: RawQuery = {};
  const fieldSelector = fieldSelectorOf(r);
  if (r.labelSelector) q.labelSelector = r.labelSelector;
  if (fieldSelector) q.fieldSelector = fieldSelector;
  if (r.resourceVersion) q.resourceVersion = r.resourceVersion;
  if (r.allowBookmarks) q.allowWatchBookmarks = "true";
  if (r.sendInitialEvents) q.sendInitialEvents = "true"; // false: the default (proto3 has no "unset")
  if (r.timeoutSeconds) q.timeoutSeconds = String(r.timeoutSeconds);
  return q;
}
