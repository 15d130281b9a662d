// The per-client cap on open watches (--max-watches-per-client): past it a
// WebSocket upgrade or an HTTP watch from the same address gets 429
// TooManyRequests, lists are not affected, and a closed watch frees its place.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { api, assertStatus, createType, startTestServer, type TestServer } from "../helpers/server.ts";

const DEADLINE_MS = 10_000;

/** Opens a WebSocket watch; resolves once open, or with the HTTP status of a refused upgrade. */
function openWs(url: string): Promise<{ ws?: WebSocket; refused?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`websocket ${url}: no answer in ${DEADLINE_MS} ms`)), DEADLINE_MS);
    ws.on("open", () => {
      clearTimeout(timer);
      resolve({ ws });
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ refused: res.statusCode, body });
      });
    });
    ws.on("error", () => {});
  });
}

describe("per-client watch cap", () => {
  let s: TestServer;
  let list: string;
  before(async () => {
    s = await startTestServer({ maxWatchesPerClient: 3 });
    const prefix = await createType(api(s.url), { group: "cap.example.com", kind: "Thing", plural: "things" });
    list = `${prefix}/namespaces/default/things`;
  });
  after(() => s.stop());

  it("refuses the watch past the cap with 429 on both transports, and frees a place when a watch ends", async () => {
    const wsUrl = s.url.replace("http", "ws") + list;
    const a = await openWs(wsUrl);
    const b = await openWs(wsUrl);
    assert.ok(a.ws && b.ws, "the first two WebSockets open");
    const http = new AbortController();
    const third = await fetch(`${s.url}${list}?watch=true`, { signal: http.signal });
    assert.equal(third.status, 200);

    const refused = await openWs(wsUrl);
    assert.equal(refused.refused, 429);
    const status = JSON.parse(refused.body!);
    assert.equal(status.reason, "TooManyRequests");
    assert.match(status.message, /too many open watches from .*at most 3 per client/);
    const c = api(s.url);
    assertStatus(await c.get(`${list}?watch=true`), 429, "TooManyRequests");
    // Lists are not watches.
    assert.equal((await c.get(list)).status, 200);

    // Closing a watch frees its place (once the server has seen the close).
    a.ws!.close();
    const deadline = Date.now() + DEADLINE_MS;
    let again = await openWs(wsUrl);
    while (again.refused === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      again = await openWs(wsUrl);
    }
    assert.ok(again.ws, `a watch after one closed: ${again.refused} ${again.body}`);

    // Ending the HTTP watch frees its place too.
    http.abort();
    let fourth = await c.get(`${list}?watch=true&timeoutSeconds=1`);
    while (fourth.status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      fourth = await c.get(`${list}?watch=true&timeoutSeconds=1`);
    }
    assert.equal(fourth.status, 200);
    b.ws!.close();
    again.ws!.close();
  });
});
