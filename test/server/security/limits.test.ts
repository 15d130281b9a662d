// Limits from outside (API.md §8): under a burst of writes past
// --max-mutating-requests-inflight every answer is 201 or 429 (with
// Retry-After), and exactly the acknowledged writes exist afterwards; watches
// do not take in-flight slots; a per-user cap on open watches answers 429
// (gRPC RESOURCE_EXHAUSTED) across transports and frees as watches close.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
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

  const httpWatch = async (token: string) => {
    const abort = new AbortController();
    const res = await fetch(`${t.url}/apis/${G}/v1/namespaces/w/items?watch=true`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    return {
      status: res.status,
      headers: res.headers,
      body: (res.status === 200 ? undefined : await res.json()) as { message: string },
      close: () => abort.abort(),
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
