// The Setpoint server: wires the store, the watch hub and the API verbs to the
// network. HTTP serves REST and chunked watches (src/server/rest.ts); the same
// list paths opened as WebSockets serve watches too; gRPC serves the same
// verbs (src/server/grpc.ts) unless grpcPort is -1; a timer compacts history.
//
// Shutdown (close()): /readyz turns 503, the listeners stop accepting, every
// watch gets a final bookmark and is closed, in-flight requests and gRPC calls
// finish (or are cut after 2 s), the store flushes and closes.

import { createServer, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { pino, type Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { TypeRegistry } from "./api/registry.ts";
import { Resources } from "./api/resources.ts";
import type { TypeValidators } from "./api/type-validators.ts";
import { systemClock, type Clock } from "./clock.ts";
import { ApiError, NotFoundError } from "./errors.ts";
import { startGrpcServer, type RunningGrpcServer } from "./server/grpc.ts";
import { createMetrics } from "./server/metrics.ts";
import { defaultServerOptions, type ServerOptions } from "./server/options.ts";
import { authenticate, handleRequest, isWatch, rawQuery, type RestContext } from "./server/rest.ts";
import { parseRoute } from "./server/routes.ts";
import { statusOf } from "./server/status.ts";
import { webSocketWatchSink } from "./server/watch-sinks.ts";
import { openLmdbStore, type Store } from "./store.ts";
import { WatchHub } from "./watch.ts";

export { defaultServerOptions, type ServerOptions } from "./server/options.ts";

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
}

const PING_INTERVAL_MS = 30_000;

/** Starts a server with `options` (missing fields take their defaults). */
export async function startServer(options: Partial<ServerOptions> = {}, extra: StartOptions = {}): Promise<RunningServer> {
  const o: ServerOptions = { ...defaultServerOptions, ...options };
  const clock = extra.clock ?? systemClock;
  const log = extra.logger ?? pino({ name: "setpoint", level: o.logLevel });
  const store = openLmdbStore(o.dataDir, { durable: o.durable, now: () => clock.now() });
  const hub = new WatchHub(store, { bookmarkIntervalMs: o.bookmarkIntervalMs, bufferBytes: o.watchBufferBytes, clock });
  const registry = new TypeRegistry(store);
  const resources = new Resources(store, hub, registry, { clock, validators: extra.validators ?? new Map() });
  const metrics = createMetrics(store, hub);
  let ready = true;
  const watches = new Set<() => void>();

  const ctx: RestContext = {
    resources,
    registry,
    metrics,
    log,
    version: extra.version ?? "0.1.0",
    token: o.token,
    ready: () => ready,
    trackWatch(stop) {
      watches.add(stop);
      return () => watches.delete(stop);
    },
  };

  const http = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    void handleRequest(ctx, req, res);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  http.on("upgrade", (req, socket, head) => {
    void upgrade(ctx, wss, req, socket, head);
  });
  // Requests Node cannot parse (unknown methods, oversized headers) still get a Status.
  http.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const code = tooLarge ? 431 : 400;
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: tooLarge ? "request headers too large" : `malformed HTTP request: ${err.code ?? err.message}`,
      reason: "BadRequest",
      code,
    });
    socket.end(`HTTP/1.1 ${code} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });

  // Keepalive: a WebSocket that misses a pong between two pings is dropped.
  const alive = new WeakMap<WebSocket, boolean>();
  wss.on("connection", (ws) => {
    alive.set(ws, true);
    ws.on("pong", () => alive.set(ws, true));
  });
  const pinger = clock.every(PING_INTERVAL_MS, () => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  });

  const compactEvery = Math.max(1000, Math.min(30_000, o.historyWindowMs / 10));
  let compacting = false;
  const compactor = clock.every(compactEvery, () => {
    if (compacting) return;
    compacting = true;
    const before = store.compacted();
    store
      .compact({ minEvents: o.historyMinEvents, windowMs: o.historyWindowMs })
      .then((after) => {
        if (after > before) metrics.compaction();
      })
      .catch((err: unknown) => log.error({ err }, "compaction failed"))
      .finally(() => (compacting = false));
  });

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(o.httpPort, o.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const address = http.address();
  const port = typeof address === "object" && address ? address.port : o.httpPort;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  let grpc: RunningGrpcServer | undefined;
  if (o.grpcPort !== -1) {
    try {
      grpc = await startGrpcServer(resources, { host: o.host, port: o.grpcPort, token: o.token, log, metrics });
    } catch (err) {
      compactor.cancel();
      pinger.cancel();
      hub.close();
      await new Promise((resolve) => http.close(resolve));
      await store.close();
      throw err;
    }
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    grpcPort: grpc?.port ?? -1,
    store,
    hub,
    resources,
    close() {
      closing ??= (async () => {
        ready = false;
        compactor.cancel();
        pinger.cancel();
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        const grpcStopped = grpc?.close();
        hub.close();
        for (const stop of watches) stop();
        for (const ws of wss.clients) ws.close(1001, "server shutting down");
        // Give in-flight requests a moment, then drop what is left.
        const grace = setTimeout(() => http.closeAllConnections(), 2000);
        await stopped;
        clearTimeout(grace);
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        await grpcStopped;
        while (compacting) await new Promise((r) => setTimeout(r, 10));
        await store.close();
      })();
      return closing;
    },
  };
}

/** Serves a WebSocket watch on a list path, or answers the upgrade with a Status. */
async function upgrade(ctx: RestContext, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const reject = (err: unknown) => {
    const status = statusOf(err);
    const body = JSON.stringify(status);
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${status.code} ${status.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  };
  try {
    const url = new URL(req.url ?? "/", "http://setpoint");
    authenticate(ctx, req);
    const route = parseRoute(url.pathname);
    if (!route || route.kind !== "collection") throw new NotFoundError(`no watch at ${url.pathname}: open a list path`);
    if (url.searchParams.has("watch") && !isWatch(url.searchParams)) throw new ApiError("BadRequest", "a WebSocket on a list path is a watch: drop watch=false");
    if (!ctx.ready()) throw new ApiError("TooManyRequests", "the server is shutting down; retry against another replica");
    const start = await ctx.resources.openWatch(route.ref, rawQuery(url.searchParams));
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
    reject(err);
  }
}
