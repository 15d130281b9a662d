// A TCP proxy on 127.0.0.1 in front of one port that can lose an answer: armed
// with a marker, it forwards the client's bytes that carry it, then drops the
// connection without passing back what the server answered. The server got
// the request (and may have applied it); the client sees a broken connection.
// Blocked, it cuts every connection and refuses new ones: the server is
// unreachable for the client until it is unblocked.

import { connect, createServer, type Socket } from "node:net";

export interface CuttingProxy {
  port: number;
  /** The next `times` client chunks holding `marker` are forwarded, then their connections cut before any answer. */
  arm(marker: string, times?: number): void;
  /** How many connections were cut so far. */
  cuts(): number;
  /** Cuts every open connection and closes each new one at once, until unblock(). */
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  let marker: Buffer | undefined;
  let left = 0;
  let cuts = 0;
  let blocked = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    let cut = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (d: Buffer) => {
      if (cut) return;
      upstream.write(d);
      if (marker && left > 0 && d.includes(marker)) {
        if (--left === 0) marker = undefined;
        cut = true;
        cuts++;
        // Long enough for the server to get and apply it; nothing of its answer goes back.
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 200);
      }
    });
    upstream.on("data", (d: Buffer) => {
      if (!cut) client.write(d);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const a = server.address();
  return {
    port: typeof a === "object" && a ? a.port : 0,
    arm(m, times = 1) {
      marker = Buffer.from(m);
      left = times;
    },
    cuts: () => cuts,
    block() {
      blocked = true;
      for (const s of sockets) s.destroy();
    },
    unblock() {
      blocked = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
