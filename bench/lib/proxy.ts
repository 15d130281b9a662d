// A TCP proxy on 127.0.0.1 that counts the bytes each way, so a bench can
// say how many bytes a client exchanged with a server (TLS passes through).

import { connect, createServer, type Socket } from "node:net";

export interface CountingProxy {
  /** host:port to connect to instead of the upstream. */
  address: string;
  /** Bytes from upstream to clients since the last reset. */
  down: number;
  /** Bytes from clients to upstream since the last reset. */
  up: number;
  reset(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `upstream` (host:port). */
export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const i = upstream.lastIndexOf(":");
  const host = upstream.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(upstream.slice(i + 1));
  const sockets = new Set<Socket>();
  const proxy: CountingProxy = {
    address: "",
    down: 0,
    up: 0,
    reset() {
      proxy.down = 0;
      proxy.up = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((client) => {
    const remote = connect(port, host);
    sockets.add(client);
    sockets.add(remote);
    client.on("data", (d: Buffer) => {
      proxy.up += d.length;
    });
    remote.on("data", (d: Buffer) => {
      proxy.down += d.length;
    });
    client.pipe(remote);
    remote.pipe(client);
    const end = () => {
      client.destroy();
      remote.destroy();
      sockets.delete(client);
      sockets.delete(remote);
    };
    client.on("close", end);
    remote.on("close", end);
    client.on("error", end);
    remote.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  proxy.address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return proxy;
}
