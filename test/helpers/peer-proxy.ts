// A loopback TCP proxy in front of one etcd member's peer port, for network
// partitions in tests: each peer connection is tagged with the member that
// opened it (etcd's rafthttp sends `X-Server-From: <member id>` on every
// stream and pipeline request), and a connection a partition forbids is cut,
// now or when it opens. Messages between members flow both ways on
// connections either side opened, so cutting a member off takes every proxy.

import { connect, createServer, type Socket } from "node:net";

export interface PeerProxy {
  port: number;
  /** Cuts the connections `blocked(from)` now refuses, where `from` is the hex member id that opened it. */
  enforce(): void;
  close(): Promise<void>;
}

/** `blocked(from)` decides, for a connection opened by member `from` (hex id; undefined if not said), whether it may pass. */
export async function startPeerProxy(targetPort: number, blocked: (from: string | undefined) => boolean): Promise<PeerProxy> {
  const open = new Map<Socket, { upstream: Socket | undefined; from: string | undefined }>();
  const server = createServer((client) => {
    const entry: { upstream: Socket | undefined; from: string | undefined } = { upstream: undefined, from: undefined };
    open.set(client, entry);
    client.on("error", () => {});
    client.once("close", () => {
      open.delete(client);
      entry.upstream?.destroy();
    });
    let head = Buffer.alloc(0);
    const onHead = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0 && head.length < 16 * 1024) return;
      client.off("data", onHead);
      const text = head.toString("latin1", 0, end < 0 ? head.length : end);
      entry.from = /^x-server-from:\s*([0-9a-f]+)\s*$/im.exec(text)?.[1];
      if (blocked(entry.from)) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, "127.0.0.1");
      entry.upstream = upstream;
      upstream.on("error", () => client.destroy());
      upstream.once("close", () => client.destroy());
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on("data", onHead);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const a = server.address();
  return {
    port: typeof a === "object" && a ? a.port : 0,
    enforce() {
      for (const [client, entry] of open) {
        if (entry.upstream && blocked(entry.from)) client.destroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of open.keys()) client.destroy();
        server.close(() => resolve());
      }),
  };
}
