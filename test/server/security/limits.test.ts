// Limits from outside (API.md §8): under a burst of writes past
// --max-mutating-requests-inflight every answer is 201 or 429 (with
// Retry-After), and exactly the acknowledged writes exist afterwards; watches
// do not take in-flight slots; a per-user cap on open watches answers 429
// (gRPC RESOURCE_EXHAUSTED) across transports and frees as watches close.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import WebSocket from "ws";
import { loadResourcesService, type ResourcesClient } from "../../../src/proto.ts";
import { Limits, TooManyRequestsError } from "../../../src/server/limits.ts";
import { api, createType, startTestServer, type TestServer } from "../../helpers/server.ts";

const { Client } = loadResourcesService();
const G = "limits.example.com";

describe("Limits", () => {
  it("counts reads, writes and each user's watches; a release is idempotent", () => {
    const l = new Limits({ maxRequestsInflight: 1, maxMutatingRequestsInflight: 2, maxWatchesPerUser: 1 });
    const r = l.request(false);
    assert.throws(() => l.request(false), TooManyRequestsError);
    const w1 = l.request(true);
    l.request(true);
    assert.throws(() => l.request(true), /Too many requests, please try again later\./);
    r();
    r();
    l.request(false);
    w1();
    l.request(true);
    const a = l.watch("alice");
    assert.throws(() => l.watch("alice"), /too many watches open for user "alice": at most 1/);
    l.watch("bob");
    a();
    a();
    l.watch("alice");
    assert.deepEqual(l.stats(), { read: 1, write: 2, watches: 2 });
    const unlimited = new Limits({ maxRequestsInflight: 0, maxMutatingRequestsInflight: 0, maxWatchesPerUser: 0 });
    for (let i = 0; i < 1000; i++) unlimited.request(i % 2 === 0);
  });

  it("a request receiving its body does not count against the limit; once it is in, it does (429 past the limit)", () => {
    const l = new Limits({ maxMutatingRequestsInflight: 2 });
    l.request(true);
    const slow = l.receiving(true);
    l.request(true);
    const other = l.receiving(true);
    assert.equal(other.end(), undefined, "two working of two");
    l.request(true);
    const third = l.receiving(true);
    assert.equal(third.end(), undefined, "two working of two, the slow one still receiving");
    assert.throws(() => l.request(true), TooManyRequestsError);
    assert.equal(slow.end()?.reason, "TooManyRequests", "three working of two");
    assert.equal(slow.end(), undefined, "end is idempotent");
    // The bodies being received are bounded by their bytes: 1 MiB per write slot.
    assert.equal(l.receiving(true).add(1024 * 1024), undefined);
    const big = l.receiving(true);
    assert.equal(big.add(1024 * 1024), undefined);
    assert.match(big.add(1)?.message ?? "", /request bodies being received at once passed 2 MiB/);
    assert.equal(l.receiving(true).add(1), undefined, "the refused body's bytes are no longer counted");
  });

  it("a body alone passes the bound of bodies being received, up to the body size limit (--max-mutating-requests-inflight 1)", () => {
    const l = new Limits({ maxMutatingRequestsInflight: 1 });
    l.request(true);
    const lone = l.receiving(true);
    assert.equal(lone.add(1024 * 1024), undefined);
    assert.equal(lone.add(2 * 1024 * 1024), undefined, "3 MiB alone: the body size limit, not this bound, applies");
    const beside = l.receiving(true);
    assert.match(beside.add(1)?.message ?? "", /request bodies being received at once passed 1 MiB/, "beside another body, the bound holds");
    assert.equal(lone.end()?.reason, undefined);
  });
});

describe("limits under load", () => {
  let t: TestServer;
  let dir: string;
  let rpc: ResourcesClient;
  const USER = "t-loader";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-limits-"));
    const file = join(dir, "tokens.csv");
    writeFileSync(file, `${USER},loader,1\nt-other,other,2\nt-admin,admin,3,system:masters\n`);
    t = await startTestServer({ grpcPort: 0, tokenAuthFile: file, maxMutatingRequestsInflight: 2, maxRequestsInflight: 2, maxWatchesPerUser: 3 });
    rpc = new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    await createType(api(t.url, { token: "t-admin" }), { group: G, kind: "Item", plural: "items" });
  });
  after(async () => {
    rpc?.close();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One POST on its own connection, so the burst really is concurrent. */
  const post = (name: string, token: string) =>
    new Promise<{ status: number; retryAfter?: string; reason?: string }>((resolve, reject) => {
      const body = JSON.stringify({ metadata: { name }, spec: {} });
      const url = new URL(`${t.url}/apis/${G}/v1/namespaces/burst/items`);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          agent: false,
          timeout: 30_000,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              retryAfter: res.headers["retry-after"],
              reason: res.statusCode === 201 ? undefined : JSON.parse(text).reason,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  it("a burst of writes gets only 201 or 429 with Retry-After, and exactly the acknowledged writes exist", async () => {
    const N = 150;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => post(`item-${i}`, USER)));
    const acknowledged = new Set<string>();
    results.forEach((r, i) => {
      if (r.status === 201) acknowledged.add(`item-${i}`);
      else {
        assert.equal(r.status, 429, `item-${i}: ${r.status} ${r.reason}`);
        assert.equal(r.reason, "TooManyRequests");
        assert.equal(r.retryAfter, "1");
      }
    });
    assert.ok(acknowledged.size > 0, "some writes got through");
    assert.ok(acknowledged.size < N, "some writes were refused");
    const list = await api(t.url, { token: "t-admin" }).get(`/apis/${G}/v1/namespaces/burst/items`);
    const stored = new Set((list.body.items as Array<{ metadata: { name: string } }>).map((o) => o.metadata.name));
    assert.deepEqual([...stored].sort(), [...acknowledged].sort());
    // system:masters is exempt from the in-flight limits (as in kube).
    const admin = await Promise.all(Array.from({ length: 30 }, (_, i) => post(`admin-${i}`, "t-admin")));
    assert.deepEqual(new Set(admin.map((r) => r.status)), new Set([201]));
  });

  /** A sample's value from /metrics: `name` with its labels as printed, if any. */
  const gauge = async (name: string): Promise<number> => {
    const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer t-admin" } })).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    assert.ok(line, `${name} in /metrics`);
    return Number(line.split(" ").at(-1));
  };
  /** Polls `check` every 20 ms until it holds; fails after 10 s naming `what`. */
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it("clients sending their bodies a byte at a time (slowloris) hold no write slot; the bodies being received are bounded by their bytes", async () => {
    const url = new URL(t.url);
    const sockets: Socket[] = [];
    /** A POST whose headers announce `length` bytes of body, of which `first` are sent now; its answer when one comes. */
    const slowPost = (name: string, length: number, first: string) => {
      const socket = connect(Number(url.port), "127.0.0.1");
      sockets.push(socket);
      let text = "";
      const answered = new Promise<string>((resolve) => {
        socket.on("data", (d: Buffer) => {
          text += d.toString();
          if (/\r\n\r\n[\s\S]*\}\s*$/.test(text)) resolve(text);
        });
        socket.on("close", () => resolve(text));
        socket.on("error", () => {});
      });
      socket.write(
        `POST /apis/${G}/v1/namespaces/slow/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${first}`,
      );
      return { socket, answered, name };
    };
    try {
      // Five slow writers, more than the limit of 2, each with a byte of its body sent.
      const bodies = Array.from({ length: 5 }, (_, i) => JSON.stringify({ metadata: { name: `slow-${i}` }, spec: {} }));
      const slow = bodies.map((b, i) => slowPost(`slow-${i}`, b.length, b.slice(0, 1)));
      // Each is admitted (and receiving) or answered (before the fix: 429) before the writes below.
      const answered = new Set<string>();
      for (const s of slow) void s.answered.then(() => answered.add(s.name));
      await until(
        async () => (await gauge('setpoint_current_inflight_requests{request_kind="mutating"}')) + answered.size === 5,
        "the 5 slow writers admitted or answered",
      );
      assert.equal(answered.size, 0, "all 5 admitted, though the limit is 2");
      assert.equal(await gauge("setpoint_request_bodies_receiving"), 5);
      for (let i = 0; i < 3; i++) {
        const r = await post(`while-slow-${i}`, USER);
        assert.equal(r.status, 201, `a write while 5 bodies trickle in: ${r.status} ${r.reason}`);
      }
      // Their bodies come in one after another: each is then served, none over the limit at once.
      for (const [i, s] of slow.entries()) {
        s.socket.write(bodies[i]!.slice(1));
        assert.match(await s.answered, /^HTTP\/1\.1 201 /, s.name);
      }
      // Two bodies of 1 MiB each fill the 2 MiB bound of bodies being received: a third gets 429 at once.
      const filler = "x".repeat(1024 * 1024);
      const big = [slowPost("big-0", 3 * 1024 * 1024, filler), slowPost("big-1", 3 * 1024 * 1024, filler)];
      await until(async () => (await gauge("setpoint_request_body_bytes_receiving")) === 2 * 1024 * 1024, "2 MiB of bodies being received");
      const over = slowPost("big-2", 3 * 1024 * 1024, filler);
      const answer = await over.answered;
      assert.match(answer, /^HTTP\/1\.1 429 /, answer.slice(0, 300));
      assert.match(answer, /request bodies being received at once passed 2 MiB/);
      assert.match(answer, /Retry-After: 1/i);
      for (const b of big) b.socket.destroy();
      // Once those connections are gone their bytes are no longer counted.
      await until(async () => (await gauge("setpoint_request_body_bytes_receiving")) === 0, "no bytes counted once the senders left");
      assert.equal(await gauge("setpoint_request_bodies_receiving"), 0);
      assert.equal((await post("after-big", USER)).status, 201);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  const httpWatch = async (token: string) => {
    const abort = new AbortController();
    const res = await fetch(`${t.url}/apis/${G}/v1/namespaces/w/items?watch=true`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    return {
      status: res.status,
      headers: res.headers,
      body: (res.status === 200 ? undefined : await res.json()) as { message: string },
      close: () => abort.abort(),
      // Held: undici cancels the unread body of a response once it is garbage-collected, which closed
      // the watch and let a watch over the cap through (seen once a test before allocated more).
      response: res,
    };
  };
  const wsWatch = (token: string) =>
    new Promise<{ status: number; retryAfter?: string; close: () => void }>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace("http", "ws")}/apis/${G}/v1/namespaces/w/items`, {
        headers: { authorization: `Bearer ${token}` },
        handshakeTimeout: 10_000,
      });
      ws.once("open", () => resolve({ status: 101, close: () => ws.close() }));
      ws.once("unexpected-response", (_req, res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"], close: () => {} });
      });
      ws.once("error", reject);
    });
  const grpcWatch = (token: string) =>
    new Promise<{ code: number; close: () => void }>((resolve) => {
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${token}`);
      const stream = rpc.watch(
        { ref: { group: G, version: "v1", plural: "items", namespace: "w", name: "" }, allowBookmarks: true, sendInitialEvents: true },
        md,
      );
      stream.on("data", () => resolve({ code: 0, close: () => stream.cancel() }));
      stream.on("error", (err: grpc.ServiceError) => resolve({ code: err.code, close: () => {} }));
    });

  it("watches take no in-flight slot; each user may hold maxWatchesPerUser open across transports", async () => {
    const held = [await httpWatch(USER), await wsWatch(USER), await grpcWatch(USER)];
    assert.deepEqual(
      held.map((h) => ("code" in h ? h.code : h.status)),
      [200, 101, 0],
    );
    // Three watches are open, yet reads (limit 2) still get through.
    for (let i = 0; i < 5; i++) assert.equal((await api(t.url, { token: USER }).get(`/apis/${G}/v1/namespaces/w/items`)).status, 200);
    const overHttp = await httpWatch(USER);
    assert.equal(overHttp.status, 429);
    assert.equal(overHttp.headers.get("retry-after"), "1");
    assert.match(overHttp.body!.message, /too many watches open for user "loader": at most 3/);
    const overWs = await wsWatch(USER);
    assert.equal(overWs.status, 429);
    assert.equal(overWs.retryAfter, "1");
    assert.equal((await grpcWatch(USER)).code, grpc.status.RESOURCE_EXHAUSTED);
    const other = await wsWatch("t-other");
    assert.equal(other.status, 101, "the cap is per user");
    other.close();
    // Closing one frees its place (the server sees the close a moment later).
    held[1]!.close();
    const deadline = Date.now() + 10_000;
    let again = await httpWatch(USER);
    while (again.status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      again = await httpWatch(USER);
    }
    assert.equal(again.status, 200);
    again.close();
    for (const h of held) h.close();
  });
});
