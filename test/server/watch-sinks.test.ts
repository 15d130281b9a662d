// WebSocket watch sinks (src/server/watch-sinks.ts) over a real loopback
// WebSocket: events sent to a sink are corked, and go out either when the hub
// says it has delivered a batch (flushWatchSockets) or at the end of the turn.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { ExpiredError } from "../../src/errors.ts";
import { flushWatchSockets, textFrame, webSocketWatchSink } from "../../src/server/watch-sinks.ts";
import { WatchEvent } from "../../src/watch.ts";

const DEADLINE_MS = 10_000;

interface Pair {
  server: WebSocket;
  client: WebSocket;
  /** Messages the client received, as text. */
  received: string[];
  /** Resolves once the client has received `n` messages. */
  until(n: number): Promise<void>;
  close(): Promise<void>;
}

async function pair(): Promise<Pair> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  const received: string[] = [];
  const waiters: Array<() => void> = [];
  client.on("message", (data) => {
    received.push(String(data));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    client.once("open", () => resolve());
    client.once("error", reject);
  });
  const server = await accepted;
  return {
    server,
    client,
    received,
    async until(n) {
      const deadline = Date.now() + DEADLINE_MS;
      while (received.length < n) {
        assert.ok(Date.now() < deadline, `client got ${received.length} of ${n} messages within ${DEADLINE_MS} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    async close() {
      client.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

function event(name: string, revision: number): WatchEvent {
  return new WatchEvent("ADDED", JSON.stringify({ metadata: { name, resourceVersion: String(revision) } }), revision);
}

type SocketState = { writableCorked: number };
const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: SocketState })._socket;

describe("WebSocket watch sink", () => {
  it("corks what it is sent; flushWatchSockets writes it out at once, in order", async () => {
    const p = await pair();
    try {
      const sink = webSocketWatchSink(p.server, () => {});
      sink.send(event("a", 1));
      sink.send(event("b", 2));
      assert.equal(socketOf(p.server).writableCorked, 1, "corked until the batch is flushed");
      flushWatchSockets();
      assert.equal(socketOf(p.server).writableCorked, 0, "uncorked by flushWatchSockets, before the turn ends");
      await p.until(2);
      assert.deepEqual(
        p.received.map((m) => (JSON.parse(m) as { type: string; object: { metadata: { name: string } } }).object.metadata.name),
        ["a", "b"],
      );
      // Nothing corked: a no-op.
      flushWatchSockets();
      assert.equal(socketOf(p.server).writableCorked, 0);
    } finally {
      await p.close();
    }
  });

  it("writes each event as one whole frame, read back intact at every payload-length form (7-bit, 16-bit, 64-bit), then an error and the close", async () => {
    const p = await pair();
    try {
      let closed = 0;
      const sink = webSocketWatchSink(p.server, () => closed++);
      const wrapper = (pad: string) => `{"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"1"},"pad":"${pad}"}}`.length - pad.length;
      // Payloads of exactly 125, 126, 65535 and 65536 bytes (the edges of the three length forms), multi-byte UTF-8,
      // and an object at the contract's 1.5 MiB limit.
      const pads = [125, 126, 65_535, 65_536].map((n) => "p".repeat(n - wrapper(""))).concat(["é€😀".repeat(40_000), "q".repeat(1.5 * 1024 * 1024 - 64)]);
      pads.forEach((pad, i) => sink.send(new WatchEvent("ADDED", JSON.stringify({ metadata: { name: "x", resourceVersion: "1" }, pad }), i + 1)));
      sink.fail(new ExpiredError("too old resource version: 1 (5)"));
      const closing = new Promise<number>((resolve) => p.client.once("close", (code) => resolve(code)));
      await p.until(pads.length + 1);
      assert.deepEqual(
        p.received.slice(0, 4).map((m) => Buffer.byteLength(m)),
        [125, 126, 65_535, 65_536],
      );
      p.received.slice(0, pads.length).forEach((m, i) => assert.equal((JSON.parse(m) as { object: { pad: string } }).object.pad, pads[i], `event ${i}`));
      const error = JSON.parse(p.received[pads.length]!) as { type: string; object: { code: number; reason: string } };
      assert.equal(error.type, "ERROR");
      assert.equal(error.object.code, 410);
      assert.equal(await closing, 1000, "closed normally after the error");
      assert.equal(closed, 1);
    } finally {
      await p.close();
    }
  });

  it("textFrame: FIN and text opcode, an unmasked length in the shortest form, the UTF-8 payload", () => {
    assert.deepEqual([...textFrame("hi")], [0x81, 2, 0x68, 0x69]);
    const mid = textFrame("a".repeat(300));
    assert.deepEqual([...mid.subarray(0, 4)], [0x81, 126, 1, 44]);
    assert.equal(mid.length, 304);
    const big = textFrame("é".repeat(40_000)); // 80,000 bytes
    assert.deepEqual([...big.subarray(0, 10)], [0x81, 127, 0, 0, 0, 0, 0, 1, 0x38, 0x80]);
    assert.equal(big.subarray(10).toString("utf8"), "é".repeat(40_000));
  });

  it("without flushWatchSockets, what it is sent goes out at the end of the turn", async () => {
    const p = await pair();
    try {
      const sink = webSocketWatchSink(p.server, () => {});
      sink.send(event("a", 1));
      assert.equal(socketOf(p.server).writableCorked, 1);
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(socketOf(p.server).writableCorked, 0, "uncorked by the end of the turn");
      await p.until(1);
      assert.match(p.received[0]!, /^\{"type":"ADDED","object":\{"metadata":\{"name":"a"/);
    } finally {
      await p.close();
    }
  });
});
