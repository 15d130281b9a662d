// Options of a Setpoint server process, with their defaults. The command line
// (src/main.ts) fills them from flags and SETPOINT_* environment variables;
// tests pass them directly to startServer.

import { availableParallelism, totalmem } from "node:os";

export interface ServerOptions {
  /** Address to listen on. Default "127.0.0.1". */
  host: string;
  /** HTTP/WebSocket port; 0 picks a free one. Default 8080. */
  httpPort: number;
  /** gRPC port; 0 picks a free one, -1 disables gRPC. Default 9090. */
  grpcPort: number;
  /** LMDB directory. Default "./data". */
  dataDir: string;
  /** How often watchers that asked for bookmarks get one. Default 5000 ms. */
  bookmarkIntervalMs: number;
  /** Keep at least this much change history. Default 300000 ms (5 minutes). */
  historyWindowMs: number;
  /** Keep at least this many changes. Default 100000. */
  historyMinEvents: number;
  /** A watcher whose unsent bytes pass this is cut off (close code 4008). Default 16 MiB. */
  watchBufferBytes: number;
  /**
   * Unsent bytes of all watchers together (WebSocket, HTTP and gRPC) past
   * which the watchers furthest behind are cut off. 0 for no budget.
   * Default: 1/16 of the machine's memory, between 64 MiB and 1 GiB.
   */
  watchMemoryBudgetBytes: number;
  /**
   * Bytes of live data and history past which the store raises its space
   * alarm and writes get 507 InsufficientStorage (deletes and compaction go
   * on); 0 for no quota. Default 2 GiB (etcd's default).
   */
  quotaBackendBytes: number;
  /**
   * Most WebSocket and HTTP watches one client address holds open at once;
   * past it a new watch gets 429. 0 for no cap. Default 5000.
   */
  maxWatchesPerClient: number;
  /** fsync every commit before acknowledging it. Default true. */
  durable: boolean;
  /** Shorthand for one token of user `admin` in group `system:masters` (API.md §8). */
  token?: string;
  /** Kubernetes static token file: `token,user,uid,"group1,group2"` per line. */
  tokenAuthFile?: string;
  /** CA whose client certificates authenticate (CN = user, O = groups); needs TLS. */
  clientCaFile?: string;
  /** Serving certificate (PEM) for HTTPS/WSS and gRPC over TLS; with tlsPrivateKeyFile. */
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** How often the TLS files are checked for changes. Default 10000 ms. */
  tlsReloadIntervalMs: number;
  /** `AlwaysAllow` (default) or `RBAC`. */
  authorizationMode: "AlwaysAllow" | "RBAC";
  /** Read requests in flight at once before 429; 0 = unlimited. Default 400. */
  maxRequestsInflight: number;
  /** Writes in flight at once before 429; 0 = unlimited. Default 200. */
  maxMutatingRequestsInflight: number;
  /** Watches one authenticated user may hold open at once; 0 = unlimited. Default 1000. */
  maxWatchesPerUser: number;
  /**
   * Calls one gRPC connection may have open at once (HTTP/2
   * SETTINGS_MAX_CONCURRENT_STREAMS); a client's further calls wait for one to
   * end. 0 = unlimited. Default 250, kube-apiserver's (Go's HTTP/2 default).
   */
  grpcMaxStreamsPerConnection: number;
  /**
   * Bytes of an HTTP request's line and headers; past it 431. Default 1 MiB,
   * Go's net/http default that kube-apiserver serves with (Node's own is 16 KiB,
   * short of a large bearer token or many cookies).
   */
  maxRequestHeaderBytes: number;
  /**
   * Gzip REST answers larger than 128 KiB for requests that send
   * `Accept-Encoding: gzip`, as kube-apiserver's APIResponseCompression
   * (watches never). Default true.
   */
  responseCompression: boolean;
  /** Append one audit.k8s.io/v1 Event per request to this file. */
  auditLogPath?: string;
  /** Log level: "silent", "error", "warn", "info", "debug". Default "info". */
  logLevel: string;
  /**
   * Server processes sharing the listening sockets and the data directory
   * (src/cli/cluster.ts); 1 runs the server in the calling process. Only the
   * command line reads it (startServer always runs one). Default: the number of cores.
   */
  workers: number;
  /** Where objects live: "lmdb" (embedded, in dataDir) or "etcd" (etcdServers; any number of replicas). Default "lmdb". */
  store: "lmdb" | "etcd";
  /** etcd client URLs, for store "etcd". Default none. */
  etcdServers: string[];
  /** Key prefix of every key Setpoint writes in etcd. Default "/setpoint". */
  etcdPrefix: string;
  /** PEM files for etcd over TLS: CA bundle, client certificate, client key. */
  etcdCaFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  /** Deadline of each etcd request; past it a write or list fails with 503. Default 5000 ms. */
  etcdRequestTimeoutMs: number;
  /**
   * How long a shutdown (SIGTERM) lets requests in flight (a long list, a
   * write, a gRPC call) finish before it cuts their connections. Watches do
   * not wait: they get their final bookmark and are closed at once.
   * Default 20000 ms, inside Kubernetes' default 30 s termination grace.
   */
  shutdownGraceMs: number;
}

export const defaultServerOptions: ServerOptions = {
  host: "127.0.0.1",
  httpPort: 8080,
  grpcPort: 9090,
  dataDir: "./data",
  bookmarkIntervalMs: 5000,
  historyWindowMs: 300_000,
  historyMinEvents: 100_000,
  watchBufferBytes: 16 * 1024 * 1024,
  watchMemoryBudgetBytes: Math.min(1024 ** 3, Math.max(64 * 1024 ** 2, Math.floor(totalmem() / 16))),
  quotaBackendBytes: 2 * 1024 ** 3,
  maxWatchesPerClient: 5000,
  durable: true,
  tlsReloadIntervalMs: 10_000,
  authorizationMode: "AlwaysAllow",
  maxRequestsInflight: 400,
  maxMutatingRequestsInflight: 200,
  maxWatchesPerUser: 1000,
  grpcMaxStreamsPerConnection: 250,
  maxRequestHeaderBytes: 1024 * 1024,
  responseCompression: true,
  logLevel: "info",
  workers: availableParallelism(),
  store: "lmdb",
  etcdServers: [],
  etcdPrefix: "/setpoint",
  etcdRequestTimeoutMs: 5000,
  shutdownGraceMs: 20_000,
};
