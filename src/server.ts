// The Setpoint server: wires the store, the watch hub and the API verbs to the
// network. HTTP serves REST and chunked watches (src/server/rest.ts); the same
// list paths opened as WebSockets serve watches too; gRPC serves the same
// verbs (src/server/grpc.ts) unless grpcPort is -1; a timer compacts history.
//
// Shutdown (close()): /readyz turns 503, the listeners stop accepting, every
// watch gets a final bookmark and is closed, in-flight requests and gRPC calls
// finish (or are cut after `shutdownGraceMs`, --shutdown-grace: a list of
// 50,000 objects to a client reading slowly was cut mid-body by the 2 s grace
// there was before), the store flushes and closes.

import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { pino, type Logger } from "pino";
import { WebSocketServer } from "ws";
import { TypeRegistry } from "./api/registry.ts";
import type { AuditNote } from "./server/audit.ts";
import { RBAC_VALIDATORS } from "./api/rbac-types.ts";
import { Resources } from "./api/resources.ts";
import { RESOURCE_TYPES } from "./api/types.ts";
import type { ObjectCheck, TypeValidators } from "./api/type-validators.ts";
import { systemClock, type Clock, type Timer } from "./clock.ts";
import { ApiError, BadRequestError, NotFoundError } from "./errors.ts";
import { keepWebSocketsAlive, logSpaceAlarm, startCompactor, watchStoreHealth } from "./server/background.ts";
import { expireAgentLeases } from "./server/lease-expiry.ts";
import { startGrpcServer, type GrpcServerOptions, type RunningGrpcServer } from "./server/grpc.ts";
import { ListenError, probePort } from "./server/listen-error.ts";
import { addLimitMetrics, createMetrics, type Metrics } from "./server/metrics.ts";
import { defaultServerOptions, type ServerOptions } from "./server/options.ts";
import { handleRequest, isWatch, rawQuery, watchRendering, type RestContext } from "./server/rest.ts";
import { parseRoute } from "./server/routes.ts";
import { createSecurity, watchSubprotocol, type Security } from "./server/security.ts";
import { rawHttpReply, statusOf, toApiError } from "./server/status.ts";
import { hasDotSegment, malformedTargetMessage } from "./server/target.ts";
import { WatchLimit } from "./server/watch-limit.ts";
import { flushWatchSockets, webSocketWatchSink } from "./server/watch-sinks.ts";
import { openLmdbStore, type Store } from "./store.ts";
import type { CommitPeers } from "./store/commit-peers.ts";
import { WatchHub, type CutOffReason, type WatchRequest } from "./watch.ts";

export { defaultServerOptions, type ServerOptions } from "./server/options.ts";
export { ListenError } from "./server/listen-error.ts";

export interface RunningServer {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:8080`. */
  url: string;
  port: number;
  /** gRPC port, or -1 when gRPC is off. */
  grpcPort: number;
  store: Store;
  hub: WatchHub;
  resources: Resources;
  /** Graceful shutdown; resolves when everything is closed. */
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  logger?: Logger;
  /** Server version for /version. */
  version?: string;
  /**
   * Whole-object checks by type name, run with the schema on spec writes
   * (src/api/type-validators.ts). Default: none. The CLI passes
   * PIPELINE_VALIDATORS (src/pipelines/resource-type.ts).
   */
  validators?: TypeValidators;
  /** A WebSocket that misses a pong between two pings this far apart is dropped. Default 30000 ms. */
  pingIntervalMs?: number;
  /** How long close() lets in-flight requests and gRPC calls finish before cutting them. Default: ServerOptions.shutdownGraceMs. */
  shutdownGraceMs?: number;
  /** Other server processes on the same data directory, told of each commit and telling of theirs (src/cli/cluster.ts). */
  commitPeers?: CommitPeers;
}

/** Starts a server with `options` (missing fields take their defaults). */
export async function startServer(options: Partial<ServerOptions> = {}, extra: StartOptions = {}): Promise<RunningServer> {
  const o: ServerOptions = { ...defaultServerOptions, ...options };
  const clock = extra.clock ?? systemClock;
  const graceMs = extra.shutdownGraceMs ?? o.shutdownGraceMs;
  const log = extra.logger ?? pino({ name: "setpoint", level: o.logLevel });
  const core = await openCore(o, { clock, log, validators: extra.validators, commitPeers: extra.commitPeers });
  const { store, hub, resources, metrics, security } = core;
  let ready = true;
  const storeCheck = watchStoreHealth(store, clock);
  const watches = new Set<() => void>();
  const ctx = restContext(core, { o, log, clock, version: extra.version ?? "0.1.0", ready: () => ready, storeReady: () => storeCheck.ok, watches });
  const { http, wss } = createHttpServer(ctx, security, o.maxRequestHeaderBytes);
  const pinger = keepWebSocketsAlive(wss, clock, extra.pingIntervalMs ?? 30_000);
  const alarmWatch = logSpaceAlarm(store, clock, log);
  const compactor = startCompactor(store, { clock, minEvents: o.historyMinEvents, windowMs: o.historyWindowMs, log, onCompacted: () => metrics.compaction() });
  const leaseExpiry = expireAgentLeases(store, resources, { clock, log });
  const parts: ServerParts = { core, http, wss, watches, clock, graceMs, timers: [pinger, alarmWatch], compactor, leaseExpiry, storeCheck };

  let bound: { port: number; grpc: RunningGrpcServer | undefined };
  try {
    bound = await listenAll(http, o, { resources, log, metrics, graceMs, clock, security, responseCompression: o.responseCompression });
  } catch (err) {
    await abandon(parts);
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    url: `${security.tls ? "https" : "http"}://${o.host.includes(":") ? `[${o.host}]` : o.host}:${bound.port}`,
    port: bound.port,
    grpcPort: bound.grpc?.port ?? -1,
    store,
    hub,
    resources,
    close() {
      closing ??= (() => {
        ready = false;
        return shutdown(parts, bound.grpc);
      })();
      return closing;
    },
  };
}

/** What the server is made of below its listeners. */
interface Core {
  store: Store;
  hub: WatchHub;
  registry: TypeRegistry;
  resources: Resources;
  metrics: Metrics;
  security: Security;
}

/**
 * Opens the store and builds the hub, the type registry, the API verbs, the
 * metrics and the security edge on it. If the security edge cannot be built
 * (bad TLS or auth files), closes what was opened and throws.
 */
async function openCore(
  o: ServerOptions,
  extra: { clock: Clock; log: Logger; validators: TypeValidators | undefined; commitPeers: CommitPeers | undefined },
): Promise<Core> {
  const { clock, log } = extra;
  // Both are set once the metrics and the security edge exist, below.
  let onCommitFailure = (_err: Error) => {};
  let escalation = (_type: string, _object: object): void => {};
  const store = await openStore(o, clock, log, { peers: extra.commitPeers, onCommitFailure: (err) => onCommitFailure(err) });
  const hub = new WatchHub(store, {
    bookmarkIntervalMs: o.bookmarkIntervalMs,
    bufferBytes: o.watchBufferBytes,
    memoryBudgetBytes: o.watchMemoryBudgetBytes,
    onCutOff: logCutOffs(log),
    onDelivered: flushWatchSockets,
    typesType: RESOURCE_TYPES.name,
    clock,
  });
  const registry = new TypeRegistry(store, { log });
  const validators = new Map([...rbacChecks((type, object) => escalation(type, object)), ...(extra.validators ?? [])]);
  const resources = new Resources(store, hub, registry, { clock, log, validators });
  const metrics = createMetrics(store, hub);
  onCommitFailure = (err) => {
    metrics.commitFailure();
    log.error({ err, space: store.space() }, "store commit failed; its writes were answered with the error");
  };
  let security: Security;
  try {
    // Where other processes write too (etcd replicas, --workers peers), RBAC decisions catch up with them first (src/server/security.ts).
    const shared = o.store === "etcd" || extra.commitPeers !== undefined;
    security = createSecurity(o, { hub, log, clock, sync: shared && store.sync ? (options) => store.sync!(options) : undefined });
  } catch (err) {
    hub.close();
    await store.close();
    throw err;
  }
  escalation = (type, object) => security.checkEscalation(type, object);
  addLimitMetrics(metrics.registry, security.limits);
  return { store, hub, registry, resources, metrics, security };
}

/** RBAC objects: kube's shape checks, then (when the shape is right) `escalation`, which refuses granting what the writer does not hold. */
function rbacChecks(escalation: (type: string, object: object) => void): Array<[string, ObjectCheck]> {
  return [...RBAC_VALIDATORS].map(([type, shape]): [string, ObjectCheck] => [
    type,
    (o, before) => {
      const causes = shape(o, before);
      if (causes.length === 0) escalation(type, o);
      return causes;
    },
  ]);
}

/** The REST handlers' view of the server. */
function restContext(
  core: Core,
  parts: { o: ServerOptions; log: Logger; clock: Clock; version: string; ready: () => boolean; storeReady: () => boolean; watches: Set<() => void> },
): RestContext {
  const { watches } = parts;
  return {
    resources: core.resources,
    registry: core.registry,
    metrics: core.metrics,
    log: parts.log,
    clock: parts.clock,
    version: parts.version,
    ready: parts.ready,
    spaceAlarm: () => core.store.space().alarm,
    watchLimit: new WatchLimit(parts.o.maxWatchesPerClient),
    responseCompression: parts.o.responseCompression,
    storeReady: parts.storeReady,
    trackWatch(stop) {
      watches.add(stop);
      return () => watches.delete(stop);
    },
  };
}

/** The HTTP(S) server for REST and chunked watches, and the WebSocket server its upgrades go to. */
function createHttpServer(ctx: RestContext, security: Security, maxHeaderSize: number): { http: HttpServer; wss: WebSocketServer } {
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    // When the request arrived: the gate's consistent read (RBAC across processes) then serves its read too.
    const since = ctx.resources.syncMark();
    security.serveHttp(req, res, since, () => handleRequest(ctx, req, res, { since }));
  };
  const serverOptions = { keepAliveTimeout: 65_000, maxHeaderSize };
  const http = security.tls ? security.tls.createHttpsServer(serverOptions, serve) : createServer(serverOptions, serve);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    handleProtocols: (offered) => watchSubprotocol(offered),
  });
  http.on("upgrade", (req, socket, head) => {
    void upgrade({ ctx, security, wss }, { req, socket, head });
  });
  // CONNECT never reaches the request handler (Node hands it over as a raw socket): 405, as kube answers
  // a method its paths do not serve, rather than a connection closed unanswered. Nothing is read or served.
  http.on("connect", (req: IncomingMessage, socket: Duplex) => {
    const message = `the server does not allow this method on the requested resource: CONNECT ${req.url ?? ""}`;
    if (socket.writable) socket.end(rawHttpReply(statusOf(new ApiError("MethodNotAllowed", message))));
    else socket.destroy();
  });
  // Requests Node cannot parse still get a Status: oversized headers 431 (as Go's net/http answers kube's
  // clients, with a reason that says so), anything else (an unknown method) 400.
  http.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const error =
      err.code === "HPE_HEADER_OVERFLOW"
        ? new ApiError(
            "RequestHeaderFieldsTooLarge",
            `Request Header Fields Too Large: the request line and headers are larger than the server's limit of ${maxHeaderSize} bytes`,
          )
        : new BadRequestError(`malformed HTTP request: ${err.code ?? err.message}`);
    socket.end(rawHttpReply(statusOf(error)));
  });
  return { http, wss };
}

/** Binds the HTTP port, then the gRPC one (unless o.grpcPort is -1); a port that cannot be bound throws ListenError. */
async function listenAll(
  http: HttpServer,
  o: ServerOptions,
  grpcOptions: Omit<GrpcServerOptions, "host" | "port"> & { resources: Resources },
): Promise<{ port: number; grpc: RunningGrpcServer | undefined }> {
  const port = await listen(http, o.host, o.httpPort).catch((err: unknown) => {
    throw new ListenError("http", o.host, o.httpPort, err);
  });
  if (o.grpcPort === -1) return { port, grpc: undefined };
  const grpcPort = o.grpcPort;
  const { resources, ...rest } = grpcOptions;
  const bind = probePort(o.host, grpcPort).then(() =>
    startGrpcServer(resources, {
      ...rest,
      host: o.host,
      port: grpcPort,
      // As REST's bodies being received (src/server/limits.ts): 1 MiB per mutating in-flight slot.
      maxReceivingBytes: o.maxMutatingRequestsInflight * 1024 * 1024,
      maxStreamsPerConnection: o.grpcMaxStreamsPerConnection,
    }),
  );
  const grpc = await bind.catch((err: unknown) => {
    throw new ListenError("grpc", o.host, grpcPort, err);
  });
  return { port, grpc };
}

/** Everything close() (or a failed start) has to stop. */
interface ServerParts {
  core: Core;
  http: HttpServer;
  wss: WebSocketServer;
  /** Stops every open watch stream. */
  watches: Set<() => void>;
  clock: Clock;
  graceMs: number;
  /** The WebSocket pinger and the space-alarm logger. */
  timers: Timer[];
  compactor: { stop(): Promise<void> };
  /** Deletes dead agents' leases (src/server/lease-expiry.ts). */
  leaseExpiry: { stop(): Promise<void> };
  storeCheck: { stop(): Promise<void> };
}

/** Undoes a start whose listeners could not all bind. */
async function abandon(p: ServerParts): Promise<void> {
  for (const timer of p.timers) timer.cancel();
  p.core.hub.close();
  await p.compactor.stop();
  await p.leaseExpiry.stop();
  await p.storeCheck.stop();
  if (p.http.listening) await new Promise((resolve) => p.http.close(resolve));
  await p.core.security.close();
  await p.core.store.close();
}

/** Graceful shutdown (see the file's comment); /readyz already fails. */
async function shutdown(p: ServerParts, grpc: RunningGrpcServer | undefined): Promise<void> {
  const { http, wss } = p;
  for (const timer of p.timers) timer.cancel();
  const compacted = p.compactor.stop();
  const leasesStopped = p.leaseExpiry.stop();
  const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
  http.closeIdleConnections();
  const grpcStopped = grpc?.close();
  p.core.hub.close();
  for (const stop of p.watches) stop();
  for (const ws of wss.clients) ws.close(1001, "server shutting down");
  // Give in-flight requests the grace, then drop what is left: WebSockets too,
  // which closeAllConnections() does not reach once upgraded; one whose client
  // never answered the close frame held the shutdown for ws's own close
  // timeout (30 s), past the grace.
  const grace = p.clock.after(p.graceMs, () => {
    http.closeAllConnections();
    for (const ws of wss.clients) ws.terminate();
  });
  // close() closed only the connections idle at that moment: one whose answer
  // ends during the grace would stay open on keep-alive (65 s) until the cut,
  // holding the shutdown for the whole grace. Close them as they go idle.
  const idle = setInterval(() => http.closeIdleConnections(), 100);
  // The clock's timers do not keep the process alive, and neither does a
  // connection Node has stopped reading (a refused body, a paused request):
  // without this hold the event loop could empty before the grace cut, and
  // close() would never resolve.
  const hold = setInterval(() => {}, 60_000);
  await stopped.finally(() => {
    clearInterval(hold);
    clearInterval(idle);
  });
  grace.cancel();
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  await grpcStopped;
  await compacted;
  await leasesStopped;
  await p.core.security.close();
  await p.storeCheck.stop();
  await p.core.store.close();
}

/** Listens on host:port; resolves to the bound port. */
async function listen(http: HttpServer, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const address = http.address();
  return typeof address === "object" && address ? address.port : port;
}

/**
 * The hub's cut-off listener: one log line per event-loop turn in which
 * watchers were cut off (thousands can be at once), with how many, why, and
 * the types they watched.
 */
function logCutOffs(log: Logger): (request: WatchRequest, why: CutOffReason, bufferedBytes: number) => void {
  let turn: { buffer: number; budget: number; bytes: number; types: Set<string> } | undefined;
  return (request, why, bufferedBytes) => {
    if (!turn) {
      const t = (turn = { buffer: 0, budget: 0, bytes: 0, types: new Set<string>() });
      setImmediate(() => {
        turn = undefined;
        log.warn(
          { cutOff: t.buffer + t.budget, overOwnBound: t.buffer, overMemoryBudget: t.budget, unsentBytes: t.bytes, types: [...t.types].slice(0, 10) },
          "watchers cut off for not reading fast enough (WebSocket close code 4008); they resume from their last resourceVersion",
        );
      });
    }
    turn[why]++;
    turn.bytes += bufferedBytes;
    turn.types.add(request.type);
  };
}

/** The store `o.store` names: the embedded LMDB one, or etcd (its client loaded only then). */
async function openStore(
  o: ServerOptions,
  clock: Clock,
  log: Logger,
  lmdb: { peers: CommitPeers | undefined; onCommitFailure: (err: Error) => void },
): Promise<Store> {
  if (o.store === "lmdb") {
    return openLmdbStore(o.dataDir, { durable: o.durable, clock, peers: lmdb.peers, quotaBytes: o.quotaBackendBytes, onCommitFailure: lmdb.onCommitFailure });
  }
  if (o.etcdServers.length === 0) throw new RangeError("server: --store etcd needs --etcd-servers");
  const { openEtcdStore } = await import("./store/etcd.ts");
  return openEtcdStore({
    endpoints: o.etcdServers,
    prefix: o.etcdPrefix,
    tls: { caFile: o.etcdCaFile, certFile: o.etcdCertFile, keyFile: o.etcdKeyFile },
    clock,
    requestTimeoutMs: o.etcdRequestTimeoutMs,
    // The readiness check below syncs every second; the store need not too.
    syncIntervalMs: 0,
    onWarning: (message, err) => log.warn({ err }, message),
  });
}

/** Serves a WebSocket watch on a list path, or answers the upgrade with a Status. */
async function upgrade(
  edge: { ctx: RestContext; security: Security; wss: WebSocketServer },
  upgrading: { req: IncomingMessage; socket: Duplex; head: Buffer },
): Promise<void> {
  const { ctx, security, wss } = edge;
  const { req, socket, head } = upgrading;
  const reject = (err: unknown) => {
    if (socket.writable) socket.end(rawHttpReply(statusOf(err)));
  };
  const since = ctx.resources.syncMark();
  const admission = await security.gateUpgrade(req, socket, since);
  if (!admission) return;
  // The watch counts (and is audited) until its socket closes, however it ends.
  let code = 400;
  let note: AuditNote | undefined;
  if (socket.destroyed) {
    admission.done(code); // closed while the decision waited (security.admitFresh)
    return;
  }
  socket.once("close", () => admission.done(code, note));
  try {
    // As over HTTP (target.ts): a dot segment is refused, not dropped into another path.
    if (hasDotSegment(req.url ?? "/")) throw new BadRequestError(malformedTargetMessage(req.url ?? "/"));
    const url = new URL(req.url ?? "/", "http://setpoint");
    const route = parseRoute(url.pathname);
    if (route?.kind !== "collection") throw new NotFoundError(`no watch at ${url.pathname}: open a list path`);
    if (url.searchParams.has("watch") && !isWatch(url.searchParams))
      throw new ApiError("BadRequest", "a WebSocket on a list path is a watch: drop watch=false");
    if (!ctx.ready()) throw new ApiError("TooManyRequests", "the server is shutting down; retry against another replica");
    const start = await ctx.resources.openWatch(route.ref, rawQuery(url.searchParams), { since });
    // Each event's object in the form the upgrade's Accept header asks for (a Table row, metadata only), as over HTTP.
    const rendered = watchRendering(ctx, route.ref, url.searchParams, req.headers.accept);
    const release = ctx.watchLimit.acquire(req.socket.remoteAddress);
    socket.once("close", release);
    code = 101;
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit("connection", ws, req);
      let untrack = () => {};
      const stop = start(rendered(webSocketWatchSink(ws, () => untrack(), { clock: ctx.clock })));
      untrack = ctx.trackWatch(stop);
      ws.on("close", () => {
        stop();
        untrack();
      });
      ws.on("error", () => ws.terminate());
    });
  } catch (err) {
    const status = statusOf(err);
    code = status.code;
    // The refusal's reason and message, as an HTTP watch's failure is audited (rest.ts).
    note = { failure: { reason: status.reason, message: status.message } };
    if (code === 500) ctx.log.error({ err: toApiError(err).cause ?? err }, "internal error (websocket watch)");
    reject(err);
  }
}
