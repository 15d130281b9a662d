// Ports for listeners a test must start on a fixed number (etcd members, a
// server cluster's gRPC port).

import { createServer } from "node:net";

/**
 * A port free now, chosen at random below Linux's ephemeral range
 * (32768–60999): a port the kernel hands out for port 0 could be taken again,
 * by another test file's listener or by the local end of any outgoing
 * connection, between this check and the real bind.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; ; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
    if (tries >= 100) throw new Error("test/helpers/ports.ts: no free port found in 20000–31999");
  }
}

/**
 * `count` ports free now, all different: freePort's picks are random, so
 * independent calls (Promise.all of freePort) can return the same port twice,
 * and the second listener then fails with EADDRINUSE (12 picks: about one
 * run in 180).
 */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries >= 10 * count + 100) throw new Error(`test/helpers/ports.ts: no ${count} different free ports found`);
    ports.add(await freePort());
  }
  return [...ports];
}
