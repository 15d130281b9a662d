// Shared helpers for integration tests: start the real server on an ephemeral
// port with a fresh data directory, talk to it over real HTTP, and create
// ResourceTypes. Every request has a deadline so a hung server fails the test
// instead of stalling it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { startServer, type RunningServer, type ServerOptions, type StartOptions } from "../../src/server.ts";
import type { Store } from "../../src/store/types.ts";
import type { WatchHub } from "../../src/watch/hub.ts";
import { skewedClock } from "./clock.ts";
import { startEtcd, type EtcdCluster } from "./etcd.ts";
import { roundRobinHttp, roundRobinTcp } from "./round-robin.ts";

/**
 * The store test servers use unless a test names one: "lmdb", or "etcd" with
 * SETPOINT_TEST_STORE=etcd (one etcd per test process, started on first use,
 * each server on a fresh key prefix), so a whole test file can run on etcd.
 */
export const TEST_STORE: "lmdb" | "etcd" = process.env.SETPOINT_TEST_STORE === "etcd" ? "etcd" : "lmdb";

/**
 * With the etcd store, how many replicas make one test server
 * (SETPOINT_TEST_REPLICAS, default 1): each on the same etcd prefix, behind a
 * round-robin front end (test/helpers/round-robin.ts) that sends each HTTP
 * request, WebSocket and gRPC connection to the next replica.
 */
export const TEST_REPLICAS = TEST_STORE === "etcd" ? Math.max(1, Number(process.env.SETPOINT_TEST_REPLICAS ?? 1) || 1) : 1;

let etcdStarting: Promise<EtcdCluster> | undefined;
let prefixes = 0;
/** The etcd prefix of each data directory a test named, so that a server started again on it sees what the last one wrote. */
const prefixByDataDir = new Map<string, string>();

/** The test process's etcd (1 member), started on first use and killed when the process exits. */
export function testEtcd(): Promise<EtcdCluster> {
  etcdStarting ??= startEtcd({ size: 1 }).then((cluster) => {
    process.once("exit", () => {
      for (const m of cluster.members) m.child?.kill("SIGKILL");
      for (const m of cluster.members) rmSync(m.dataDir, { recursive: true, force: true });
    });
    return cluster;
  });
  return etcdStarting;
}

/**
 * Options for a server on the test etcd: a fresh prefix unless `prefix` is given (replicas share one).
 * Its etcd requests may take 15 s, not the default 5: this etcd fsyncs to the
 * same disk as the rest of a parallel suite, and once an etcd write there took
 * over 5 s, failing an API test that says nothing about latency. Nothing here
 * stops this etcd; the fault tests that do run their own, with their own timeout.
 */
export async function etcdServerOptions(prefix?: string): Promise<Partial<ServerOptions>> {
  const etcd = await testEtcd();
  return {
    store: "etcd",
    etcdServers: etcd.endpoints.split(","),
    etcdPrefix: prefix ?? `/test-${process.pid}-${++prefixes}`,
    etcdRequestTimeoutMs: 15_000,
  };
}

/**
 * `count` replicas on one etcd prefix and one clock, seen as one server: its
 * URL and gRPC port are round-robin front ends over the replicas. `store` is
 * the first replica's, except that its head is the newest of any replica and a
 * compaction returns once every replica has seen it; `hub.stats()` adds up the
 * replicas' figures.
 */
async function startReplicated(count: number, opts: Partial<ServerOptions>, extra: StartOptions): Promise<RunningServer> {
  const replicas: RunningServer[] = [];
  try {
    for (let i = 0; i < count; i++) replicas.push(await startServer(opts, extra));
  } catch (err) {
    await Promise.all(replicas.map((r) => r.close()));
    throw err;
  }
  // Over TLS the replicas terminate it themselves: each new connection goes to the next replica (TCP), not each request.
  const tls = replicas[0]!.url.startsWith("https:");
  const http = tls ? await roundRobinTcp(replicas.map((r) => r.port)) : await roundRobinHttp(replicas.map((r) => r.port));
  const grpc = opts.grpcPort !== undefined && opts.grpcPort >= 0 ? await roundRobinTcp(replicas.map((r) => r.grpcPort)) : undefined;
  const first = replicas[0]!;
  const store: Store = { ...first.store };
  store.head = () => Math.max(...replicas.map((r) => r.store.head()));
  store.compact = async (o) => {
    const compacted = await first.store.compact(o);
    const deadline = Date.now() + 10_000;
    while (replicas.some((r) => r.store.compacted() < compacted) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return compacted;
  };
  const stats = () => {
    const all = replicas.map((r) => r.hub.stats() as unknown as Record<string, number>);
    const sum: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s)) sum[k] = k === "revision" ? Math.max(sum[k] ?? 0, v) : (sum[k] ?? 0) + v;
    return sum as unknown as ReturnType<WatchHub["stats"]>;
  };
  const hub = new Proxy(first.hub, {
    get(target, p) {
      if (p === "stats") return stats;
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return {
    ...first,
    url: `${tls ? "https" : "http"}://127.0.0.1:${http.port}`,
    port: http.port,
    grpcPort: grpc?.port ?? -1,
    store,
    hub,
    async close() {
      // The replicas first: their last bookmarks and stream ends pass through the front ends.
      await Promise.all(replicas.map((r) => r.close()));
      await Promise.all([http.close(), grpc?.close()]);
    },
  };
}

export interface TestServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  server: RunningServer;
  dataDir: string;
  /** Closes the server and removes its data directory. */
  stop(): Promise<void>;
  /**
   * Moves the server's clock forward by `ms` (see test/helpers/clock.ts): after
   * `skipTime(1000)`, `compact({ minEvents: 0, windowMs: 0 })` drops every change
   * committed before. Throws for a server started with a clock of the test's own.
   */
  skipTime(ms: number): void;
}

/**
 * Starts a server on 127.0.0.1, HTTP port 0, gRPC off, on a fresh temp
 * directory (unless `opts.dataDir` is given, which is then kept on stop). It
 * logs errors only: a 500 in a test run (say, a flake under load) prints its
 * cause in the file's output instead of vanishing.
 */
export async function startTestServer(opts: Partial<ServerOptions> = {}, extra: StartOptions = {}): Promise<TestServer> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "setpoint-test-"));
  const clock = extra.clock === undefined ? skewedClock() : undefined;
  // On etcd a server restarted on the same data directory (a test of what survives a restart) finds its objects under the same prefix.
  let prefix: string | undefined;
  if (opts.dataDir !== undefined) prefix = prefixByDataDir.get(opts.dataDir) ?? `/test-${process.pid}-dir-${prefixByDataDir.size + 1}`;
  const storeOpts = opts.store === undefined && TEST_STORE === "etcd" ? await etcdServerOptions(prefix) : {};
  if (prefix !== undefined && storeOpts.store === "etcd") prefixByDataDir.set(opts.dataDir!, prefix);
  const serverOpts: Partial<ServerOptions> = { host: "127.0.0.1", httpPort: 0, grpcPort: -1, logLevel: "error", ...storeOpts, ...opts, dataDir };
  const startExtra = { ...extra, clock: extra.clock ?? clock };
  const server =
    storeOpts.store === "etcd" && TEST_REPLICAS > 1 ? await startReplicated(TEST_REPLICAS, serverOpts, startExtra) : await startServer(serverOpts, startExtra);
  let stopped: Promise<void> | undefined;
  return {
    url: server.url,
    server,
    dataDir,
    stop() {
      stopped ??= server.close().finally(() => {
        if (ownDir) rmSync(dataDir, { recursive: true, force: true });
      });
      return stopped;
    },
    skipTime(ms) {
      if (!clock) throw new Error("skipTime: this server runs on the test's own clock; advance that");
      clock.skip(ms);
    },
  };
}

/** A response: status code, parsed JSON body (or the text when not JSON), headers. */
export interface Reply {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

export interface RequestOptions {
  /** JSON-encoded unless a string or Buffer (sent as is). */
  body?: unknown;
  /** Default `application/json` when there is a body. */
  contentType?: string;
  headers?: Record<string, string>;
  /** Per-request deadline. Default 10 s. */
  timeoutMs?: number;
}

export interface ApiClient {
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  get(path: string): Promise<Reply>;
  post(path: string, body: unknown): Promise<Reply>;
  put(path: string, body: unknown): Promise<Reply>;
  /** PATCH; content type defaults to `application/merge-patch+json`. */
  patch(path: string, body: unknown, contentType?: string): Promise<Reply>;
  del(path: string, body?: unknown): Promise<Reply>;
}

/** Request helpers against `url`; `token` adds a bearer Authorization header. */
export function api(url: string, options: { token?: string } = {}): ApiClient {
  const request = async (method: string, path: string, o: RequestOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...o.headers };
    if (options.token !== undefined) headers.authorization ??= `Bearer ${options.token}`;
    let body: string | Buffer | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" || Buffer.isBuffer(o.body) ? o.body : JSON.stringify(o.body);
      headers["content-type"] ??= o.contentType ?? "application/json";
    }
    const res = await fetch(url + path, { method, headers, body, signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  return {
    request,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, { body }),
    put: (path, body) => request("PUT", path, { body }),
    patch: (path, body, contentType = "application/merge-patch+json") => request("PATCH", path, { body, contentType }),
    del: (path, body) => request("DELETE", path, body === undefined ? {} : { body }),
  };
}

export interface TypeSpec {
  group: string;
  kind: string;
  plural: string;
  /** Default "v1". */
  version?: string;
  /** Default "Namespaced". */
  scope?: "Namespaced" | "Cluster";
  schema?: { spec?: unknown; status?: unknown };
  shortNames?: string[];
}

/** Creates a ResourceType (asserting 201) and returns its `/apis/G/V` prefix. */
export async function createType(client: ApiClient, spec: TypeSpec): Promise<string> {
  const version = spec.version ?? "v1";
  const res = await client.post("/apis/setpoint.dev/v1/resourcetypes", {
    apiVersion: "setpoint.dev/v1",
    kind: "ResourceType",
    metadata: { name: `${spec.plural}.${spec.group}` },
    spec: { ...spec, version, scope: spec.scope ?? "Namespaced" },
  });
  assert.equal(res.status, 201, `create ResourceType ${spec.plural}.${spec.group}: ${res.text}`);
  return `/apis/${spec.group}/${version}`;
}

/** Asserts that a reply is a well-formed Kubernetes Status failure with this code (and reason, if given). */
export function assertStatus(res: Reply, code: number, reason?: string): void {
  const context = `${res.status} ${res.text.slice(0, 500)}`;
  assert.equal(res.status, code, context);
  const b = res.body as Record<string, unknown>;
  assert.equal(typeof b, "object", context);
  assert.equal(b.kind, "Status", context);
  assert.equal(b.apiVersion, "v1", context);
  assert.equal(b.status, "Failure", context);
  assert.equal(b.code, code, context);
  assert.equal(typeof b.message, "string", context);
  assert.ok((b.message as string).length > 0, context);
  assert.equal(typeof b.reason, "string", context);
  if (reason !== undefined) assert.equal(b.reason, reason, context);
}

/** The `field`s of a Status's `details.causes`. */
export function causeFields(res: Reply): string[] {
  const causes = (res.body?.details?.causes ?? []) as Array<{ field?: string }>;
  return causes.map((c) => c.field ?? "");
}

/** One line of a chunked HTTP watch. */
export interface WatchEvent {
  type: string;
  object: any;
}

/**
 * Opens an HTTP watch (`url` is the full URL with `watch=true`) and reads
 * events until `until` accepts one, which it returns; fails if the stream
 * ends first or `deadlineMs` passes. The stream is closed either way.
 * `headers` go with the request (e.g. an Authorization header).
 */
export async function watchUntil(
  url: string,
  until: (event: WatchEvent) => boolean,
  deadlineMs = 10_000,
  headers: Record<string, string> = {},
): Promise<WatchEvent> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error("watch deadline passed")), deadlineMs);
  try {
    const res = await fetch(url, { signal: abort.signal, headers });
    assert.equal(res.status, 200);
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === "") continue;
        const event = JSON.parse(line) as WatchEvent;
        if (until(event)) return event;
      }
    }
    throw new Error("watch ended before the expected event");
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/**
 * Opens a WebSocket to `url` with `headers` and closes it at once: 200 when
 * the upgrade succeeded, else the HTTP status the server refused it with.
 */
export function webSocketUpgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
    ws.once("open", () => {
      ws.close();
      resolve(200);
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once("error", reject);
  });
}
