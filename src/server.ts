// The Setpoint server: wires the store, the watch hub and the API verbs to the
// network. HTTP serves REST and chunked watches (src/server/rest.ts); the same
// list paths opened as WebSockets serve watches too; gRPC serves the same
// verbs (src/server/grpc.ts) unless grpcPort is -1; a timer compacts history.
//
// Shutdown (close()): /readyz turns 503, the listeners stop accepting, every
// watch gets a final bookmark and is closed, in-flight requests and gRPC calls
// finish (or are cut after 2 s), the store flushes and closes.

import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { pino, type Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { TypeRegistry } from "./api/registry.ts";
import { RBAC_VALIDATORS } from "./api/rbac-types.ts";
import { Resources } from "./api/resources.ts";
import type { ObjectCheck, TypeValidators } from "./api/type-validators.ts";
import { systemClock, type Clock, type Timer } from "./clock.ts";
import { ApiError, BadRequestError, NotFoundError } from "./errors.ts";
import { startGrpcServer, type RunningGrpcServer } from "./server/grpc.ts";
import { ListenError, probePort } from "./server/listen-error.ts";
import { createMetrics } from "./server/metrics.ts";
import { defaultServerOptions, type ServerOptions } from "./server/options.ts";
import { handleRequest, isWatch, rawQuery, type RestContext } from "./server/rest.ts";
import { parseRoute } from "./server/routes.ts";
import { createSecurity, WATCH_SUBPROTOCOL, type Security } from "./server/security.ts";
import { rawHttpReply, statusOf } from "./server/status.ts";
import { WatchLimit } from "./server/watch-limit.ts";
import { webSocketWatchSink } from "./server/watch-sinks.ts";
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
  /** How long close() lets in-flight requests and gRPC calls finish before cutting them. Default 2000 ms. */
  shutdownGraceMs?: number;
  /** Other server processes on the same data directory, told of each commit and telling of theirs (src/cli/cluster.ts). */
  commitPeers?: CommitPeers;
}

/** Starts a server with `options` (missing fields take their defaults). */
export async function startServer(options: Partial<ServerOptions> = {}, extra: StartOptions = {}): Promise<RunningServer> {
  const o: ServerOptions = { ...defaultServerOptions, ...options };
  const clock = extra.clock ?? systemClock;
  const graceMs = extra.shutdownGraceMs ?? 2000;
  const log = extra.logger ?? pino({ name: "setpoint", level: o.logLevel });
  let onCommitFailure = (_err: Error) => {};
  const store = await openStore(o, clock, log, { peers: extra.commitPeers, onCommitFailure: (err) => onCommitFailure(err) });
  const hub = new WatchHub(store, {
    bookmarkIntervalMs: o.bookmarkIntervalMs,
    bufferBytes: o.watchBufferBytes,
    memoryBudgetBytes: o.watchMemoryBudgetBytes,
    onCutOff: logCutOffs(log),
    clock,
  });
  const registry = new TypeRegistry(store, { log });
  // RBAC objects: kube's shape checks, then (RBAC mode) no granting of what the writer does not hold.
  let escalation = (_type: string, _object: object): void => {};
  const rbacChecks = [...RBAC_VALIDATORS].map(([type, shape]): [string, ObjectCheck] => [type, (o) => {
    const causes = shape(o);
    if (causes.length === 0) escalation(type, o);
    return causes;
  }]);
  const resources = new Resources(store, hub, registry, { clock, log, validators: new Map([...rbacChecks, ...(extra.validators ?? [])]) });
  const metrics = createMetrics(store, hub);
  onCommitFailure = (err) => {
    metrics.commitFailure();
    log.error({ err, space: store.space() }, "store commit failed; its writes were answered with the error");
  };
  let security: Security;
  try {
    security = createSecurity(o, { hub, log, clock });
    escalation = (type, object) => security.checkEscalation(type, object);
  } catch (err) {
    hub.close();
    await store.close();
    throw err;
  }
  let ready = true;
  const storeCheck = watchStoreHealth(store, clock);
  const watches = new Set<() => void>();

  const ctx: RestContext = {
    resources,
    registry,
    metrics,
    log,
    version: extra.version ?? "0.1.0",
    ready: () => ready,
    spaceAlarm: () => store.space().alarm,
    watchLimit: new WatchLimit(o.maxWatchesPerClient),
    storeReady: () => storeCheck.ok,
    trackWatch(stop) {
      watches.add(stop);
      return () => watches.delete(stop);
    },
  };

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    security.serveHttp(req, res, () => handleRequest(ctx, req, res));
  };
  const http = security.tls ? security.tls.createHttpsServer({ keepAliveTimeout: 65_000 }, serve) : createServer({ keepAliveTimeout: 65_000 }, serve);
  // Select the watch subprotocol when offered; never another (the bearer one would echo the token).
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, handleProtocols: (offered) => (offered.has(WATCH_SUBPROTOCOL) ? WATCH_SUBPROTOCOL : false) });
  http.on("upgrade", (req, socket, head) => {
    void upgrade(ctx, security, wss, req, socket, head);
  });
  // Requests Node cannot parse (unknown methods, oversized headers) still get a Status.
  http.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const status = statusOf(new BadRequestError(tooLarge ? "request headers too large" : `malformed HTTP request: ${err.code ?? err.message}`));
    socket.end(rawHttpReply(tooLarge ? { ...status, code: 431 } : status));
  });
  const pinger = keepWebSocketsAlive(wss, clock, extra.pingIntervalMs ?? 30_000);
  const alarmWatch = logSpaceAlarm(store, clock, log);
  const compactor = startCompactor(store, { clock, minEvents: o.historyMinEvents, windowMs: o.historyWindowMs, log, onCompacted: () => metrics.compaction() });

  let port: number;
  let grpc: RunningGrpcServer | undefined;
  try {
    port = await listen(http, o.host, o.httpPort).catch((err: unknown) => {
      throw new ListenError("http", o.host, o.httpPort, err);
    });
    if (o.grpcPort !== -1) {
      const grpcPort = o.grpcPort;
      const bind = probePort(o.host, grpcPort).then(() => startGrpcServer(resources, { host: o.host, port: grpcPort, log, metrics, graceMs, clock, security }));
      grpc = await bind.catch((err: unknown) => {
        throw new ListenError("grpc", o.host, grpcPort, err);
      });
    }
  } catch (err) {
    pinger.cancel();
    alarmWatch.cancel();
    hub.close();
    await compactor.stop();
    await storeCheck.stop();
    if (http.listening) await new Promise((resolve) => http.close(resolve));
    await security.close();
    await store.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    url: `${security.tls ? "https" : "http"}://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`,
    port,
    grpcPort: grpc?.port ?? -1,
    store,
    hub,
    resources,
    close() {
      closing ??= (async () => {
        ready = false;
        pinger.cancel();
        alarmWatch.cancel();
        const compacted = compactor.stop();
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        const grpcStopped = grpc?.close();
        hub.close();
        for (const stop of watches) stop();
        for (const ws of wss.clients) ws.close(1001, "server shutting down");
        // Give in-flight requests a moment, then drop what is left.
        const grace = clock.after(graceMs, () => http.closeAllConnections());
        await stopped;
        grace.cancel();
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        await grpcStopped;
        await compacted;
        await security.close();
        await storeCheck.stop();
        await store.close();
      })();
      return closing;
    },
  };
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

/** Pings every WebSocket each `intervalMs`; one that did not answer the previous ping is dropped. */
function keepWebSocketsAlive(wss: WebSocketServer, clock: Clock, intervalMs: number): Timer {
  const alive = new WeakMap<WebSocket, boolean>();
  wss.on("connection", (ws) => {
    alive.set(ws, true);
    ws.on("pong", () => alive.set(ws, true));
  });
  return clock.every(intervalMs, () => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  });
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

/** Logs the store's space alarm when it is raised and when it clears, once each (failed commits are logged as they happen). */
function logSpaceAlarm(store: Store, clock: Clock, log: Logger): Timer {
  let last: string | undefined;
  return clock.every(1000, () => {
    const alarm = store.space().alarm;
    if (alarm?.message === last) return;
    if (alarm) log.warn({ alarm }, "store space alarm raised: writes get 507 InsufficientStorage");
    else log.info("store space alarm cleared: writes accepted again");
    last = alarm?.message;
  });
}

/** How often the compactor runs: a tenth of the history window, between 1 s and 30 s. */
function compactionPeriodMs(windowMs: number): number {
  return Math.max(1000, Math.min(30_000, windowMs / 10));
}

interface CompactorOptions {
  clock: Clock;
  /** Keep at least this many changes and this much time of history (ServerOptions.historyMinEvents, historyWindowMs). */
  minEvents: number;
  windowMs: number;
  log: Logger;
  /** Called after a compaction that dropped history. */
  onCompacted: () => void;
}

/**
 * Compacts the store's history every tenth of the history window (between 1 s
 * and 30 s), one compaction at a time. `stop()` cancels the timer and resolves
 * once a running compaction has finished.
 */
function startCompactor(store: Store, o: CompactorOptions): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const period = compactionPeriodMs(o.windowMs);
  const timer = o.clock.every(period, () => {
    if (running) return;
    const before = store.compacted();
    // Under the space alarm history is kept for the window only, not for a
    // count of changes: old history is what compaction can free.
    const alarmed = store.space().alarm !== undefined;
    running = store
      // Replicas sharing a store compact about once per period between them, not once each.
      .compact({ minEvents: alarmed ? 0 : o.minEvents, windowMs: o.windowMs, skipIfCompactedWithinMs: alarmed ? 0 : period * 0.9 })
      .then((after) => {
        if (after > before) o.onCompacted();
      })
      .catch((err: unknown) => o.log.error({ err }, "compaction failed"))
      .finally(() => (running = undefined));
  });
  return {
    async stop() {
      timer.cancel();
      await running;
    },
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
    now: () => clock.now(),
    requestTimeoutMs: o.etcdRequestTimeoutMs,
    // The readiness check below syncs every second; the store need not too.
    syncIntervalMs: 0,
    onWarning: (message, err) => log.warn({ err }, message),
  });
}

/**
 * For a store shared between replicas (one with sync()): syncs every second,
 * which advances a quiet replica's head (bookmarks), and reports whether the
 * last sync succeeded: a replica cut off from etcd's quorum fails /readyz.
 */
function watchStoreHealth(store: Store, clock: Clock): { readonly ok: boolean; stop(): Promise<void> } {
  let ok = true;
  let running: Promise<void> | undefined;
  const timer = store.sync
    ? clock.every(1000, () => {
        if (running) return;
        running = store.sync!()
          .then(
            () => void (ok = true),
            () => void (ok = false),
          )
          .finally(() => (running = undefined));
      })
    : undefined;
  return {
    get ok() {
      return ok;
    },
    async stop() {
      timer?.cancel();
      await running;
    },
  };
}

/** Serves a WebSocket watch on a list path, or answers the upgrade with a Status. */
async function upgrade(ctx: RestContext, security: Security, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const reject = (err: unknown) => {
    if (socket.writable) socket.end(rawHttpReply(statusOf(err)));
  };
  const admission = security.gateUpgrade(req, socket);
  if (!admission) return;
  // The watch counts (and is audited) until its socket closes, however it ends.
  let code = 400;
  socket.once("close", () => admission.done(code));
  try {
    const url = new URL(req.url ?? "/", "http://setpoint");
    const route = parseRoute(url.pathname);
    if (!route || route.kind !== "collection") throw new NotFoundError(`no watch at ${url.pathname}: open a list path`);
    if (url.searchParams.has("watch") && !isWatch(url.searchParams)) throw new ApiError("BadRequest", "a WebSocket on a list path is a watch: drop watch=false");
    if (!ctx.ready()) throw new ApiError("TooManyRequests", "the server is shutting down; retry against another replica");
    const start = await ctx.resources.openWatch(route.ref, rawQuery(url.searchParams));
    const release = ctx.watchLimit.acquire(req.socket.remoteAddress);
    socket.once("close", release);
    code = 101;
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit("connection", ws, req);
      let untrack = () => {};
      const stop = start(webSocketWatchSink(ws, () => untrack()));
      untrack = ctx.trackWatch(stop);
      ws.on("close", () => {
        stop();
        untrack();
      });
      ws.on("error", () => ws.terminate());
    });
  } catch (err) {
    code = statusOf(err).code;
    reject(err);
  }
}
