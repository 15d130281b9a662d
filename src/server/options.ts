// Options of a Setpoint server process, with their defaults. The command line
// (src/main.ts) fills them from flags and SETPOINT_* environment variables;
// tests pass them directly to startServer.

import { availableParallelism } from "node:os";

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
  /** fsync every commit before acknowledging it. Default true. */
  durable: boolean;
  /** If set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Log level: "silent", "error", "warn", "info", "debug". Default "info". */
  logLevel: string;
  /**
   * Server processes sharing the listening sockets and the data directory
   * (src/cli/cluster.ts); 1 runs the server in the calling process. Only the
   * command line reads it (startServer always runs one). Default: the number of cores.
   */
  workers: number;
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
  durable: true,
  logLevel: "info",
  workers: availableParallelism(),
};
