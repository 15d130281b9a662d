// The bound on gRPC request messages being received at once (docs/security.md,
// src/server/grpc-receiving.ts): each call's bytes count from the first byte
// of a message until it is whole or the call ends; past the bound a call gets
// RESOURCE_EXHAUSTED (a TooManyRequests Status) at once and its stream is
// reset, while a message alone is always served. A call without valid
// credentials is refused before any of its bytes count. Counted by the gRPC framing
// (unit tests), and against the real server over a raw HTTP/2 client, which
// can leave a message unfinished as no gRPC client would.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/clock.ts";
import type { TimeoutError } from "../../src/errors.ts";
import { loadResourcesService, STATUS_TRAILER } from "../../src/proto.ts";
import { ReceivingMessages } from "../../src/server/grpc-receiving.ts";
import { TooManyRequestsError } from "../../src/server/limits.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";
import { within as withinMs } from "../helpers/within.ts";

const DEADLINE_MS = 10_000;
const MiB = 1024 * 1024;
const GROUP = "receiving.example.com";

/** A gRPC message's length prefix (uncompressed flag, 4-byte length, which may lie) before `payload`, in a buffer of its own (Buffer.alloc never pools). */
function frame(announced: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt32BE(announced, 1);
  payload.copy(out, 5);
  return out;
}

/** `p`, or a failure naming `what` after DEADLINE_MS. */
const within = <T>(p: Promise<T>, what: string): Promise<T> => withinMs(p, what, DEADLINE_MS);

/** A sample's value from the server's /metrics. */
async function gauge(t: TestServer, name: string, token?: string): Promise<number> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const text = await (await fetch(`${t.url}/metrics`, { headers, signal: AbortSignal.timeout(DEADLINE_MS) })).text();
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

/** A Create call on `h2` that sends `bytes` (never ending the request), with `metadata`; `closed` resolves once its stream closes. */
function send(h2: ClientHttp2Session, bytes: Buffer, metadata: Record<string, string> = {}) {
  const req = h2.request({ ":method": "POST", ":path": "/setpoint.v1.Resources/Create", "content-type": "application/grpc", te: "trailers", ...metadata });
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
  const written = new Promise<void>((resolve) => req.write(bytes, () => resolve()));
  return { req, closed, written };
}

/** Resolves once `h2`'s server answered a PING sent after everything `h2` has written: it has read all of that. */
function pinged(h2: ClientHttp2Session): Promise<void> {
  return within(new Promise((resolve, reject) => h2.ping((err) => (err ? reject(err) : resolve()))), "the server answered a PING");
}

describe("ReceivingMessages", () => {
  it("counts the buffers a message's chunks hold, from its first byte until it is whole, however the chunks split it", () => {
    const r = new ReceivingMessages({ maxBytes: 0 });
    const a = r.receipt();
    const message = frame(10, Buffer.alloc(10, 1));
    assert.equal(a.add(message.subarray(0, 3)), undefined);
    assert.deepEqual(r.stats(), { calls: 1, bytes: 15 }, "a view holds its whole buffer");
    a.add(message.subarray(3, 9));
    assert.deepEqual(r.stats(), { calls: 1, bytes: 15 }, "a buffer is counted once");
    a.add(message.subarray(9));
    assert.deepEqual(r.stats(), { calls: 0, bytes: 0 }, "whole: no longer counted");
    // Two whole messages and the start of a third in one chunk: the third holds the chunk's buffer.
    const three = Buffer.concat([frame(2, Buffer.from("ab")), frame(0), frame(100, Buffer.alloc(7))]);
    a.add(three);
    assert.deepEqual(r.stats(), { calls: 1, bytes: three.buffer.byteLength });
    a.end();
    // A few bytes cut out of a large buffer (an HTTP/2 read buffer with other streams' frames) count as that buffer.
    const readBuffer = Buffer.alloc(64 * 1024);
    frame(50, Buffer.alloc(3)).copy(readBuffer, 1000);
    const b = r.receipt();
    b.add(readBuffer.subarray(1000, 1008));
    assert.deepEqual(r.stats(), { calls: 1, bytes: 64 * 1024 });
    b.add(Buffer.alloc(20));
    assert.deepEqual(r.stats(), { calls: 1, bytes: 64 * 1024 + 20 });
    a.end();
    assert.deepEqual(r.stats(), { calls: 1, bytes: 64 * 1024 + 20 }, "an ended call's bytes are released once");
    assert.equal(a.add(Buffer.alloc(10)), undefined);
    assert.deepEqual(r.stats(), { calls: 1, bytes: 64 * 1024 + 20 }, "an ended receipt counts nothing more");
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
  // --max-mutating-requests-inflight 1: 1 MiB of request messages being received at once.
  before(async () => {
    s = await startTestServer({ grpcPort: 0, maxMutatingRequestsInflight: 1 });
    await createType(api(s.url), { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
  });
  after(() => s.stop());

  it("past the bound a new call gets RESOURCE_EXHAUSTED at once and its stream is reset; the bound frees as the held calls end", async () => {
    const sessions: ClientHttp2Session[] = [];
    const open = () => {
      const h2 = connect(`http://127.0.0.1:${s.server.grpcPort}`);
      h2.on("error", () => {});
      sessions.push(h2);
      return h2;
    };
    try {
      // Two calls, each on its own connection (so no read buffer holds both), each with 400 KiB of a 3 MiB message.
      const held = [];
      for (const n of [1, 2]) {
        const h2 = open();
        const call = send(h2, frame(3 * MiB, Buffer.alloc(400 * 1024, 0x20)));
        held.push(call);
        await within(call.written, "the held call's bytes written");
        await pinged(h2);
        await until(async () => (await gauge(s, "setpoint_grpc_request_messages_receiving")) === n, `${n} held calls receiving`);
      }
      const heldBytes = await gauge(s, "setpoint_grpc_request_message_bytes_receiving");
      assert.ok(heldBytes >= 2 * (5 + 400 * 1024) && heldBytes <= MiB, `the held calls' bytes, within the bound: ${heldBytes}`);

      // 300 KiB more take the messages being received past 1 MiB: the new call is refused, the held ones are not.
      const over = send(open(), frame(3 * MiB, Buffer.alloc(300 * 1024, 0x20)));
      // The request is never ended: the stream closes only because the server answered and reset it.
      const answer = await within(over.closed, "the call past the bound answered and its stream closed");
      assert.equal(answer.status, grpc.status.RESOURCE_EXHAUSTED, JSON.stringify(answer));
      assert.equal(answer.message, "Too many requests, please try again later: request messages being received at once passed 1 MiB");
      assert.equal(answer.reason, "TooManyRequests");
      assert.equal(answer.rstCode, 0, "reset with NO_ERROR after the answer");
      assert.equal(await gauge(s, "setpoint_grpc_request_messages_receiving"), 2, "the held calls still receiving");
      assert.equal(await gauge(s, "setpoint_grpc_request_message_bytes_receiving"), heldBytes, "the refused call's bytes are not counted");

      // Once the held calls are gone, their bytes are released.
      for (const h of held) h.req.close();
      await within(Promise.all(held.map((h) => h.closed)), "the held calls closed");
      await until(async () => (await gauge(s, "setpoint_grpc_request_message_bytes_receiving")) === 0, "no bytes counted once the held calls ended");
      assert.equal(await gauge(s, "setpoint_grpc_request_messages_receiving"), 0);
    } finally {
      for (const h2 of sessions) h2.destroy();
    }
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
      await within(stalled.written, "the partial message written");
      await pinged(h2);
      await until(async () => (await gauge(t, "setpoint_grpc_request_messages_receiving")) === 1, "the partial message counted");
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

describe("gRPC request messages of calls without valid credentials", () => {
  let s: TestServer;
  const TOKEN = "s3cret-receiving";
  const dir = mkdtempSync(join(tmpdir(), "setpoint-grpc-unauthenticated-"));
  const auditLog = join(dir, "audit.log");
  // --max-mutating-requests-inflight 1: 1 MiB of request messages being received at once.
  before(async () => {
    s = await startTestServer({ grpcPort: 0, maxMutatingRequestsInflight: 1, token: TOKEN, auditLogPath: auditLog });
    await createType(api(s.url, { token: TOKEN }), { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
  });
  after(async () => {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("are audited and counted as 401s of their method's verb", async () => {
    const { Client } = loadResourcesService();
    const client = new Client(`127.0.0.1:${s.server.grpcPort}`, grpc.credentials.createInsecure());
    const ref = { group: GROUP, version: "v1", plural: "items", namespace: "default", name: "" };
    const wrong = new grpc.Metadata();
    wrong.set("authorization", "Bearer wrong");
    try {
      const listed = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.list({ ref }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err) => resolve(err)),
      );
      assert.equal(listed?.code, grpc.status.UNAUTHENTICATED);
      const watch = client.watch({ ref }, wrong, { deadline: Date.now() + DEADLINE_MS });
      watch.on("data", () => assert.fail("an unauthenticated watch gets no event"));
      const watched = await within(new Promise<grpc.ServiceError>((resolve) => watch.on("error", resolve)), "the unauthenticated watch refused");
      assert.equal(watched.code, grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
    const refused = () =>
      (existsSync(auditLog) ? readFileSync(auditLog, "utf8").trim().split("\n") : [])
        .map((line) => JSON.parse(line))
        .filter((e) => e.responseStatus.code === 401);
    await until(async () => refused().length === 2, "both refusals audited");
    assert.deepEqual(
      refused()
        .map((e) => [e.verb, e.requestURI, e.sourceIPs, e.user, e.responseStatus.reason, e.objectRef])
        .sort(),
      [
        ["list", "/setpoint.v1.Resources/List", ["127.0.0.1"], {}, "Unauthorized", undefined],
        ["watch", "/setpoint.v1.Resources/Watch", ["127.0.0.1"], {}, "Unauthorized", undefined],
      ],
    );
    // Counted under no resource: it is named in the message, which is never read.
    for (const verb of ["list", "watch"]) {
      assert.equal(await gauge(s, `setpoint_requests_total{verb="${verb}",resource="unknown",code="401"}`, TOKEN), 1, verb);
    }
  });

  it("are answered UNAUTHENTICATED at once, their streams reset, their bytes never counted; an agent's large write still passes", async () => {
    const sessions: ClientHttp2Session[] = [];
    try {
      // No token, a wrong one, a malformed header: each sends 400 KiB of a 3 MiB message it never finishes, on its own connection.
      const calls = [{} as Record<string, string>, { authorization: "Bearer wrong" }, { authorization: `Bearer  ${TOKEN}` }].map((metadata) => {
        const h2 = connect(`http://127.0.0.1:${s.server.grpcPort}`);
        h2.on("error", () => {});
        sessions.push(h2);
        return send(h2, frame(3 * MiB, Buffer.alloc(400 * 1024, 0x20)), metadata);
      });
      for (const call of calls) {
        // The request is never ended: the stream closes only because the server answered and reset it.
        const answer = await within(call.closed, "the unauthenticated call answered and its stream closed");
        assert.equal(answer.status, grpc.status.UNAUTHENTICATED, JSON.stringify(answer));
        assert.equal(answer.message, "Unauthorized");
        assert.equal(answer.reason, "Unauthorized");
        assert.equal(answer.rstCode, 0, "reset with NO_ERROR after the answer");
      }
      await Promise.all(sessions.map(pinged));
      assert.equal(await gauge(s, "setpoint_grpc_request_messages_receiving", TOKEN), 0, "no unauthenticated call counted");
      assert.equal(await gauge(s, "setpoint_grpc_request_message_bytes_receiving", TOKEN), 0);

      // Their connections stay open; an authenticated client's 1.4 MiB write, sent in many chunks, is served.
      const { Client } = loadResourcesService();
      const client = new Client(`127.0.0.1:${s.server.grpcPort}`, grpc.credentials.createInsecure());
      try {
        const object = Buffer.from(
          JSON.stringify({ apiVersion: `${GROUP}/v1`, kind: "Item", metadata: { name: "agent" }, spec: { data: "x".repeat(1.4 * MiB) } }),
        );
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${TOKEN}`);
        const ref = { group: GROUP, version: "v1", plural: "items", namespace: "default", name: "" };
        const created = await new Promise<{ object: Buffer }>((resolve, reject) =>
          client.create({ ref, object }, md, { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res!))),
        );
        assert.equal(JSON.parse(created.object.toString("utf8")).metadata.name, "agent");
      } finally {
        client.close();
      }
    } finally {
      for (const h2 of sessions) h2.destroy();
    }
  });
});
