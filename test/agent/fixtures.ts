// Shared setup for the agent SDK tests: a real server with gRPC on ephemeral
// ports, a TCP proxy that can cut an agent off from it, request counts from
// /metrics, and waiting for a condition with a deadline.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server.ts";
import { skewedClock } from "../helpers/clock.ts";
import { api, createType, type ApiClient } from "../helpers/server.ts";

export const TYPE = { group: "agent.example.com", version: "v1", plural: "widgets" } as const;
export const PREFIX = `/apis/${TYPE.group}/${TYPE.version}`;

export interface Env {
  server: RunningServer;
  http: ApiClient;
  dataDir: string;
  grpcAddress: string;
  /** Closes the server (if running) and removes the data directory. */
  stop(): Promise<void>;
  /** Closes the server and starts it again on the same data directory and ports. */
  restart(): Promise<void>;
  /**
   * Moves the server's clock forward by `ms`: later commits, and compaction's
   * history window, see the new time (timers keep running in real time). After
   * `skipTime(1000)`, `compact({ minEvents: 0, windowMs: 0 })` drops every
   * change committed before, however fast the test ran.
   */
  skipTime(ms: number): void;
}

/** A server with gRPC and fast bookmarks on a fresh data directory, with the `widgets` type created. */
export async function startEnv(options: Partial<ServerOptions> = {}): Promise<Env> {
  const dataDir = mkdtempSync(join(tmpdir(), "setpoint-agent-test-"));
  const base = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, dataDir, logLevel: "silent", bookmarkIntervalMs: 200, ...options };
  const clock = skewedClock();
  let server = await startServer(base, { clock });
  const env: Env = {
    server,
    http: api(server.url),
    dataDir,
    grpcAddress: `127.0.0.1:${server.grpcPort}`,
    async stop() {
      await env.server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await env.server.close();
      server = await startServer({ ...base, httpPort: env.server.port, grpcPort: env.server.grpcPort }, { clock });
      env.server = server;
    },
    skipTime(ms) {
      clock.skip(ms);
    },
  };
  await createType(env.http, { group: TYPE.group, kind: "Widget", plural: TYPE.plural });
  return env;
}

/** Creates widget `name` in `default` (asserting 201) and returns it. */
export async function createWidget(http: ApiClient, name: string, spec: unknown = { size: 1 }): Promise<any> {
  const res = await http.post(`${PREFIX}/namespaces/default/widgets`, { apiVersion: `${TYPE.group}/v1`, kind: "Widget", metadata: { name }, spec });
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${res.text}`);
  return res.body;
}

/** Sum of `setpoint_requests_total` for a verb on a resource (`plural.group`). */
export async function requestCount(url: string, verb: string, resource: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("setpoint_requests_total{") && line.includes(`verb="${verb}"`) && line.includes(`resource="${resource}"`))
      n += Number(line.split(" ").pop());
  }
  return n;
}

/** Resolves once `check()` is truthy, re-checking every 5 ms; rejects after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Proxy {
  port: number;
  /** Drops every connection and refuses new ones (accepts and closes them at once). */
  cut(): void;
  restore(): void;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:`target`. */
export async function startProxy(target: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let open = true;
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    if (!open) return void client.destroy();
    const upstream = connect(target, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    get connections() {
      return connections;
    },
    close() {
      open = false;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
