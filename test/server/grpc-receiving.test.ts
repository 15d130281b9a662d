// The bound on gRPC request messages being received at once (docs/security.md,
// src/server/grpc-receiving.ts): each call's bytes count from the first byte
// of a message until it is whole or the call ends; past the bound a call gets
// RESOURCE_EXHAUSTED (a TooManyRequests Status) at once and its stream is
// reset, while a message alone is always served. Counted by the gRPC framing
// (unit tests), and against the real server over a raw HTTP/2 client, which
// can leave a message unfinished as no gRPC client would.

import assert from "node:assert/strict";
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/clock.ts";
import type { TimeoutError } from "../../src/errors.ts";
import { loadResourcesService, STATUS_TRAILER } from "../../src/proto.ts";
import { ReceivingMessages } from "../../src/server/grpc-receiving.ts";
import { TooManyRequestsError } from "../../src/server/limits.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

const DEADLINE_MS = 10_000;
const MiB = 1024 * 1024;
const GROUP = "receiving.example.com";

/** A gRPC message's length prefix (uncompressed flag, 4-byte length, which may lie) before `payload`. */
function frame(announced: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(announced, 1);
  return Buffer.concat([prefix, payload]);
}

/** `p`, or a failure naming `what` after DEADLINE_MS. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${DEADLINE_MS} ms: ${what}`)), DEADLINE_MS)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A sample's value from the server's /metrics. */
async function gauge(t: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`, { signal: AbortSignal.timeout(DEADLINE_MS) })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(" ").at(-1));
}

/** Polls `check` every 20 ms until it holds; fails after DEADLINE_MS naming `what`. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Answer {
  status: number;
  message: string;
  reason?: string;
  /** The stream's RST_STREAM code once closed. */
  rstCode?: number;
}

/** A Create call on `h2` that sends `bytes` (never ending the request); `closed` resolves once its stream closes. */
function send(h2: ClientHttp2Session, bytes: Buffer) {
  const req = h2.request({ ":method": "POST", ":path": "/setpoint.v1.Resources/Create", "content-type": "application/grpc", te: "trailers" });
  let fields: IncomingHttpHeaders = {};
  req.on("response", (h) => (fields = { ...fields, ...h }));
  req.on("trailers", (t) => (fields = { ...fields, ...t }));
  req.on("data", () => {});
  req.on("error", () => {});
  const closed = new Promise<Answer>((resolve) =>
    req.on("close", () => {
      const trailer = fields[STATUS_TRAILER] as string | undefined;
      resolve({
        status: Number(fields["grpc-status"]),
        message: decodeURIComponent(String(fields["grpc-message"] ?? "")),
        reason: trailer === undefined ? undefined : JSON.parse(Buffer.from(trailer, "base64").toString("utf8")).reason,
        rstCode: req.rstCode,
      });
    }),
  );
  req.write(bytes);
  return { req, closed };
}

describe("ReceivingMessages", () => {
  it("counts a message's bytes, its prefix included, from its first byte until it is whole, however the chunks split it", () => {
    const r = new ReceivingMessages({ maxBytes: 0 });
    const a = r.receipt();
    const message = frame(10, Buffer.alloc(10, 1));
    assert.equal(a.add(message.subarray(0, 3)), undefined);
    assert.deepEqual(r.stats(), { calls: 1, bytes: 3 });
    a.add(message.subarray(3, 9));
    assert.deepEqual(r.stats(), { calls: 1, bytes: 9 });
    a.add(message.subarray(9));
    assert.deepEqual(r.stats(), { calls: 0, bytes: 0 }, "whole: no longer counted");
    // Two whole messages and the start of a third in one chunk: only the third's bytes count.
    a.add(Buffer.concat([frame(2, Buffer.from("ab")), frame(0), frame(100, Buffer.alloc(7))]));
    assert.deepEqual(r.stats(), { calls: 1, bytes: 12 });
    const b = r.receipt();
    b.add(frame(50, Buffer.alloc(20)));
    assert.deepEqual(r.stats(), { calls: 2, bytes: 37 });
    a.end();
    a.end();
    assert.deepEqual(r.stats(), { calls: 1, bytes: 25 }, "an ended call's bytes are released once");
    assert.equal(a.add(Buffer.alloc(10)), undefined);
    assert.deepEqual(r.stats(), { calls: 1, bytes: 25 }, "an ended receipt counts nothing more");
    b.end();
    assert.deepEqual(r.stats(), { calls: 0, bytes: 0 });
  });

  it("refuses the call whose chunk takes the total past the bound beside other calls, never a message alone", () => {
    const r = new ReceivingMessages({ maxBytes: 100 });
    const alone = r.receipt();
    assert.equal(alone.add(frame(1000, Buffer.alloc(500))), undefined, "alone: bounded only by the message size bound");
    alone.add(Buffer.alloc(500));
    assert.deepEqual(r.stats(), { calls: 0, bytes: 0 });
    const held = r.receipt();
    held.add(frame(1000, Buffer.alloc(80)));
    const other = r.receipt();
    assert.equal(other.add(frame(50, Buffer.alloc(5))), undefined, "within the bound");
    assert.deepEqual(r.stats(), { calls: 2, bytes: 95 });
    const refused = other.add(Buffer.alloc(10));
    assert.ok(refused instanceof TooManyRequestsError, "past the bound beside the held call");
    assert.match(refused.message, /^Too many requests, please try again later: request messages being received at once passed 100 bytes$/);
    assert.equal(refused.retryAfterSeconds, 1);
    assert.deepEqual(r.stats(), { calls: 1, bytes: 85 }, "the refused call's bytes are released");
    assert.equal(other.add(Buffer.alloc(1000)), undefined, "a refused receipt is ended");
    held.end();
    assert.deepEqual(r.stats(), { calls: 0, bytes: 0 });
  });

  it("ends a call whose message is not whole within the message timeout, and only such a call", () => {
    const clock = new ManualClock(0);
    const r = new ReceivingMessages({ maxBytes: 0, messageTimeoutMs: 60_000, clock });
    const timedOut: TimeoutError[] = [];
    const slow = r.receipt((err) => timedOut.push(err));
    const quick = r.receipt(() => assert.fail("a message whole in time is not timed out"));
    slow.add(frame(100, Buffer.alloc(10)));
    clock.advance(30_000);
    quick.add(frame(20, Buffer.alloc(5)));
    clock.advance(29_999);
    quick.add(Buffer.alloc(15));
    assert.equal(timedOut.length, 0);
    assert.deepEqual(r.stats(), { calls: 1, bytes: 15 });
    clock.advance(1);
    assert.equal(timedOut.length, 1);
    assert.match(timedOut[0]!.message, /^Timeout: the request message was not received in full within 60 s$/);
    assert.deepEqual(r.stats(), { calls: 0, bytes: 0 }, "the timed-out call's bytes are released");
    // The quick call's next message gets its own 60 s.
    quick.add(frame(20, Buffer.alloc(1)));
    clock.advance(59_999);
    quick.add(Buffer.alloc(19));
    clock.advance(60_000);
    assert.equal(timedOut.length, 1);
  });
});

describe("gRPC request messages being received at once", () => {
  let s: TestServer;
  let session: ClientHttp2Session | undefined;
  // --max-mutating-requests-inflight 1: 1 MiB of request messages being received at once.
  before(async () => {
    s = await startTestServer({ grpcPort: 0, maxMutatingRequestsInflight: 1 });
    await createType(api(s.url), { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
  });
  after(async () => {
    session?.destroy();
    await s.stop();
  });

  it("past the bound a new call gets RESOURCE_EXHAUSTED at once and its stream is reset; the bound frees as the held calls end", async () => {
    session = connect(`http://127.0.0.1:${s.server.grpcPort}`);
    session.on("error", () => {});
    const half = MiB / 2 - 4096;
    const held = [send(session, frame(3 * MiB, Buffer.alloc(half, 0x20))), send(session, frame(3 * MiB, Buffer.alloc(half, 0x20)))];
    // Both partial messages are in before the next call starts: which chunk crosses the bound is then certain.
    const heldBytes = 2 * (5 + half);
    await until(async () => (await gauge(s, "setpoint_grpc_request_message_bytes_receiving")) === heldBytes, `${heldBytes} bytes being received`);
    assert.equal(await gauge(s, "setpoint_grpc_request_messages_receiving"), 2);

    const over = send(session, frame(3 * MiB, Buffer.alloc(64 * 1024, 0x20)));
    // The request is never ended: the stream closes only because the server answered and reset it.
    const answer = await within(over.closed, "the call past the bound answered and its stream closed");
    assert.equal(answer.status, grpc.status.RESOURCE_EXHAUSTED, JSON.stringify(answer));
    assert.equal(answer.message, "Too many requests, please try again later: request messages being received at once passed 1 MiB");
    assert.equal(answer.reason, "TooManyRequests");
    assert.equal(answer.rstCode, 0, "reset with NO_ERROR after the answer");
    assert.equal(await gauge(s, "setpoint_grpc_request_message_bytes_receiving"), heldBytes, "the refused call's bytes are not counted");

    // The held calls are still waiting for the rest of their messages; once they are gone, their bytes are released.
    for (const h of held) h.req.close();
    await within(Promise.all(held.map((h) => h.closed)), "the held calls closed");
    await until(async () => (await gauge(s, "setpoint_grpc_request_message_bytes_receiving")) === 0, "no bytes counted once the held calls ended");
    assert.equal(await gauge(s, "setpoint_grpc_request_messages_receiving"), 0);
    session.destroy();
    session = undefined;
  });

  it("a message alone is served even when it is larger than the bound", async () => {
    const { Client } = loadResourcesService();
    const client = new Client(`127.0.0.1:${s.server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const object = Buffer.from(JSON.stringify({ apiVersion: `${GROUP}/v1`, kind: "Item", metadata: { name: "big" }, spec: { data: "x".repeat(1.4 * MiB) } }));
      // Over the 1 MiB bound, under the largest object the store takes (1.5 MiB of JSON).
      assert.ok(object.length > MiB);
      const ref = { group: GROUP, version: "v1", plural: "items", namespace: "default", name: "" };
      const created = await new Promise<{ object: Buffer }>((resolve, reject) =>
        client.create({ ref, object }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res!))),
      );
      assert.equal(JSON.parse(created.object.toString("utf8")).metadata.name, "big");
    } finally {
      client.close();
    }
  });
});

describe("gRPC request messages that never arrive whole", () => {
  it("a call whose message is not whole 60 s after its first byte gets DEADLINE_EXCEEDED and its stream is reset", async () => {
    // The server's clock moves only when the test moves it.
    const clock = new ManualClock(Date.now());
    const t = await startTestServer({ grpcPort: 0 }, { clock });
    const h2 = connect(`http://127.0.0.1:${t.server.grpcPort}`);
    h2.on("error", () => {});
    try {
      const stalled = send(h2, frame(1000, Buffer.alloc(100, 0x20)));
      await until(async () => (await gauge(t, "setpoint_grpc_request_message_bytes_receiving")) === 105, "the partial message counted");
      clock.advance(59_999);
      assert.equal(await gauge(t, "setpoint_grpc_request_messages_receiving"), 1, "still receiving before 60 s");
      clock.advance(1);
      const answer = await within(stalled.closed, "the stalled call answered and its stream closed");
      assert.equal(answer.status, grpc.status.DEADLINE_EXCEEDED, JSON.stringify(answer));
      assert.equal(answer.message, "Timeout: the request message was not received in full within 60 s");
      assert.equal(answer.reason, "Timeout");
      assert.equal(answer.rstCode, 0, "reset with NO_ERROR after the answer");
      assert.equal(await gauge(t, "setpoint_grpc_request_message_bytes_receiving"), 0);
      assert.equal(await gauge(t, "setpoint_grpc_request_messages_receiving"), 0);
    } finally {
      h2.destroy();
      await t.stop();
    }
  });
});
