// WebSocket keepalive (src/server.ts): every 30 s the server pings each
// WebSocket, and one that has not answered the previous ping is dropped, so a
// dead peer cannot hold a watch (and its buffers) forever. Time is a
// ManualClock; a peer is made "dead" by pausing its socket.

import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { WebSocket } from "ws";
import { ManualClock } from "../../src/clock.ts";
import { api, createType, startTestServer } from "../helpers/server.ts";

const GROUP = "keepalive.example.com";

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, "open");
  return ws;
}

/** `promise`, or a failure naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A ping from the client and the server's pong: TCP order means the server has read everything sent before. */
async function roundTrip(ws: WebSocket): Promise<void> {
  const pong = once(ws, "pong");
  ws.ping();
  await pong;
}

describe("WebSocket keepalive", () => {
  it("drops a peer that misses a ping, keeps one that answers", async () => {
    const clock = new ManualClock(Date.now());
    const ts = await startTestServer({}, { clock });
    const sockets: WebSocket[] = [];
    try {
      const client = api(ts.url);
      await createType(client, { group: GROUP, kind: "Beat", plural: "beats" });
      const path = `${ts.url.replace("http", "ws")}/apis/${GROUP}/v1/namespaces/default/beats`;
      const healthy = await open(path);
      const dead = await open(path);
      sockets.push(healthy, dead);
      assert.equal(ts.server.hub.stats().watchers, 2);

      const pinged = once(healthy, "ping");
      (dead as unknown as { _socket: { pause(): void } })._socket.pause();
      clock.advance(30_000); // first round: both are pinged
      await within(pinged, 5000, "the server's ping");
      await roundTrip(healthy); // its automatic pong has reached the server

      const deadClosed = once(dead, "close");
      clock.advance(30_000); // second round: the one that did not answer is dropped
      (dead as unknown as { _socket: { resume(): void } })._socket.resume();
      const [code] = (await within(deadClosed, 5000, "the server to drop the silent peer")) as [number];
      assert.equal(code, 1006, "terminated, not closed politely");
      assert.equal(ts.server.hub.stats().watchers, 1, "the dead peer's watch is gone");

      // The healthy one is still watching.
      const next = once(healthy, "message");
      const created = await client.post(`/apis/${GROUP}/v1/namespaces/default/beats`, { metadata: { name: "b1" }, spec: {} });
      assert.equal(created.status, 201);
      const [data] = (await within(next, 5000, "the healthy watcher's event")) as [Buffer];
      assert.equal(JSON.parse(data.toString()).type, "ADDED");
    } finally {
      for (const ws of sockets) ws.terminate();
      await ts.stop();
    }
  });
});
