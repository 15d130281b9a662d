// The error startServer throws when one of its listeners cannot bind: which
// listener (HTTP or gRPC), the address, and the system's code, so that a
// command line can name the flag to change instead of printing a stack.

import cluster from "node:cluster";
import { createServer } from "node:net";

/** A listener could not bind `host:port` (`code`: EADDRINUSE, EACCES, EADDRNOTAVAIL, …). */
export class ListenError extends Error {
  override name = "ListenError";
  readonly listener: "http" | "grpc";
  readonly host: string;
  readonly port: number;
  readonly code: string;
  constructor(listener: "http" | "grpc", host: string, port: number, cause: unknown) {
    const code = codeOf(cause);
    super(`server: cannot listen for ${listener === "http" ? "HTTP" : "gRPC"} on ${host}:${port}: ${code === "EADDRINUSE" ? "address already in use" : code}`, {
      cause,
    });
    this.listener = listener;
    this.host = host;
    this.port = port;
    this.code = code;
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  const message = err instanceof Error ? err.message : String(err);
  return /\b(E[A-Z]{4,})\b/.exec(message)?.[1] ?? message;
}

/**
 * Fails with the system's error when `host:port` cannot be bound, by binding
 * it for a moment. grpc-js logs its own bind failures to stderr; probing first
 * keeps that noise from a user who only needs to pick another port.
 */
export async function probePort(host: string, port: number): Promise<void> {
  // A cluster worker's ports are the primary's shared sockets, probed there
  // once: an exclusive bind here would fail whenever a sibling worker had
  // already bound the same (fixed) port, and fail the whole start.
  if (port === 0 || cluster.isWorker) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
