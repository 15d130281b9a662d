// The browser/Node watch client against a real server, in Node with `ws`:
// list then watch, every change once and in order across a server restart on
// the same port and data directory, relist after 410, 401 stops it, and the
// bearer subprotocol it offers.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { WebSocket } from "ws";
import { base64url, watchList, watchSubprotocols, type ChangeEvent, type WatchState, type WebSocketConstructorLike } from "../../src/client/watch-client.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

const NOTES = { group: "client.example.com", kind: "Note", plural: "notes" };

/** Everything a watch handed over, and a way to wait for a condition on it. */
function recorder() {
  const syncs: Array<{ names: string[]; revision: string }> = [];
  const events: Array<ChangeEvent> = [];
  const states: WatchState[] = [];
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  return {
    syncs,
    events,
    states,
    onSync: (items: any[], revision: string) => {
      syncs.push({ names: items.map((i) => i.metadata.name).sort(), revision });
      poke();
    },
    onEvent: (e: ChangeEvent) => {
      events.push(e);
      poke();
    },
    onState: (s: WatchState) => {
      states.push(s);
      poke();
    },
    /** Resolves once `check()` holds; fails after `ms` naming `what`. */
    until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
      if (check()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `timed out waiting for ${what}; states: ${states.map((s) => s.phase).join(",")}; events: ${events.map((e) => `${e.type} ${e.object.metadata.name}`).join(", ")}`,
            ),
          );
        }, ms);
        const w = () => {
          if (!check()) return;
          clearTimeout(timer);
          waiters.delete(w);
          resolve();
        };
        waiters.add(w);
      });
    },
  };
}

const note = (name: string, text = name) => ({ apiVersion: "client.example.com/v1", kind: "Note", metadata: { name }, spec: { text } });

/** A `ws` class that refuses to connect while `held` is true (the client then retries). */
function gatedWebSocket() {
  const gate = { held: false, opened: 0 };
  class Gated extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      if (gate.held) throw new Error("held by the test");
      super(url, protocols);
      gate.opened++;
    }
  }
  return { gate, WebSocket: Gated as unknown as WebSocketConstructorLike };
}

describe("watch client (Node, ws)", () => {
  it("lists, then delivers later changes in order; close() stops callbacks", async () => {
    const s = await startTestServer();
    const rec = recorder();
    try {
      const http = api(s.url);
      const prefix = await createType(http, NOTES);
      const path = `${prefix}/namespaces/default/notes`;
      for (const n of ["a", "b", "c"]) assert.equal((await http.post(path, note(n))).status, 201);
      const view = watchList({ server: s.url, path, WebSocket: WebSocket as unknown as WebSocketConstructorLike, pageSize: 2, ...rec });
      await rec.until("live", () => view.state.phase === "live");
      assert.deepEqual(
        rec.syncs.map((x) => x.names),
        [["a", "b", "c"]],
        "one sync with every object, across list pages",
      );
      await http.post(path, note("d"));
      await http.patch(`${path}/a`, { spec: { text: "changed" } });
      await http.del(`${path}/b`);
      await rec.until("three events", () => rec.events.length >= 3);
      assert.deepEqual(
        rec.events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ["ADDED d", "MODIFIED a", "DELETED b"],
      );
      assert.equal(view.revision, rec.events[2]!.object.metadata.resourceVersion);
      view.close();
      assert.equal(view.state.phase, "closed");
      await http.post(path, note("e"));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rec.events.length, 3, "no event after close()");
    } finally {
      await s.stop();
    }
  });

  it("resumes from its last revision after the server restarts: nothing missed, nothing repeated, no relist", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-watch-client-"));
    let s: TestServer | undefined = await startTestServer({ dataDir });
    const { gate, WebSocket: Gated } = gatedWebSocket();
    const rec = recorder();
    try {
      const port = s.server.port;
      const http = api(s.url);
      const prefix = await createType(http, NOTES);
      const path = `${prefix}/namespaces/default/notes`;
      await http.post(path, note("before"));
      const view = watchList({ server: s.url, path, WebSocket: Gated, retryDelay: () => 50, ...rec });
      await rec.until("live", () => view.state.phase === "live");
      await http.post(path, note("live-1"));
      await rec.until("live-1", () => rec.events.length === 1);

      gate.held = true; // the client cannot reconnect until the test says so
      await s.stop();
      await rec.until("the drop to show", () => view.state.phase === "retrying");
      s = await startTestServer({ dataDir, httpPort: port });
      const again = api(s.url);
      await again.post(path, note("while-away-1"));
      await again.patch(`${path}/before`, { spec: { text: "edited while away" } });
      await again.del(`${path}/live-1`);
      gate.held = false;
      await rec.until("live again", () => view.state.phase === "live" && rec.events.length >= 4);
      await again.post(path, note("after"));
      await rec.until("after", () => rec.events.length >= 5);
      view.close();
      assert.equal(rec.syncs.length, 1, "resumed from the revision, no relist");
      assert.deepEqual(
        rec.events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ["ADDED live-1", "ADDED while-away-1", "MODIFIED before", "DELETED live-1", "ADDED after"],
      );
      const rvs = rec.events.map((e) => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(
        rvs,
        [...rvs].sort((x, y) => x - y),
        "in revision order",
      );
    } finally {
      await s?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("relists on 410 Expired: a sync with the current state, deletions it missed included, then live again", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-watch-client-"));
    let s: TestServer | undefined = await startTestServer({ dataDir });
    const { gate, WebSocket: Gated } = gatedWebSocket();
    const rec = recorder();
    try {
      const port = s.server.port;
      const http = api(s.url);
      const prefix = await createType(http, NOTES);
      const path = `${prefix}/namespaces/default/notes`;
      await http.post(path, note("keep"));
      await http.post(path, note("gone"));
      const view = watchList({ server: s.url, path, WebSocket: Gated, retryDelay: () => 50, ...rec });
      await rec.until("live", () => view.state.phase === "live");
      gate.held = true;
      await s.stop();
      s = await startTestServer({ dataDir, httpPort: port });
      const again = api(s.url);
      await again.del(`${path}/gone`);
      await again.post(path, note("new"));
      await s.server.store.compact({ minEvents: 0, windowMs: 0 });
      assert.ok(s.server.store.compacted() > Number(view.revision), "the client's revision is compacted away");
      gate.held = false;
      await rec.until("a second sync", () => rec.syncs.length === 2);
      assert.deepEqual(rec.syncs[1]!.names, ["keep", "new"]);
      assert.equal(rec.events.length, 0, "the missed changes come as the new state, not as events");
      await rec.until("live", () => view.state.phase === "live");
      await again.post(path, note("later"));
      await rec.until("later", () => rec.events.length === 1);
      assert.equal(rec.events[0]!.object.metadata.name, "later");
      view.close();
    } finally {
      await s?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("follows bookmarks: a quiet watch's revision moves on with writes to other types", async () => {
    const s = await startTestServer({ bookmarkIntervalMs: 100 });
    const rec = recorder();
    try {
      const http = api(s.url);
      const prefix = await createType(http, NOTES);
      const other = await createType(http, { group: "client.example.com", kind: "Other", plural: "others" });
      const view = watchList({
        server: s.url,
        path: `${prefix}/namespaces/default/notes`,
        WebSocket: WebSocket as unknown as WebSocketConstructorLike,
        ...rec,
      });
      await rec.until("live", () => view.state.phase === "live");
      const listed = Number(view.revision);
      let head = listed;
      for (let i = 0; i < 3; i++) {
        const r = await http.post(`${other}/namespaces/default/others`, { apiVersion: "client.example.com/v1", kind: "Other", metadata: { name: `o${i}` } });
        head = Number(r.body.metadata.resourceVersion);
      }
      const deadline = Date.now() + 10_000;
      while (Number(view.revision) < head && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(Number(view.revision), head, "the bookmark carried the newest revision");
      assert.equal(rec.events.length, 0, "bookmarks are not events");
      view.close();
    } finally {
      await s.stop();
    }
  });

  it("with a token configured: no token means failed with 401 and no data; the right token lists", async () => {
    const s = await startTestServer({ token: "s3cret" });
    try {
      const prefix = await createType(api(s.url, { token: "s3cret" }), NOTES);
      const path = `${prefix}/namespaces/default/notes`;
      await api(s.url, { token: "s3cret" }).post(path, note("secret-note"));
      const rec = recorder();
      const view = watchList({ server: s.url, path, WebSocket: WebSocket as unknown as WebSocketConstructorLike, ...rec });
      await rec.until("failed", () => view.state.phase === "failed");
      assert.equal(view.state.error?.code, 401);
      assert.equal(view.state.error?.reason, "Unauthorized");
      assert.equal(rec.syncs.length, 0);
      view.close();

      const ok = recorder();
      const authed = watchList({ server: s.url, path, token: () => "s3cret", WebSocket: WebSocket as unknown as WebSocketConstructorLike, ...ok });
      await ok.until("a sync", () => ok.syncs.length === 1);
      assert.deepEqual(ok.syncs[0]!.names, ["secret-note"]);
      await ok.until("live: the WebSocket authenticated with the bearer subprotocol", () => authed.state.phase === "live");
      await api(s.url, { token: "s3cret" }).post(path, note("another"));
      await ok.until("the new note", () => ok.events.length === 1);
      authed.close();
    } finally {
      await s.stop();
    }
  });

  it("offers watch.setpoint.dev, and the token as kube's base64url bearer subprotocol without padding", () => {
    assert.deepEqual(watchSubprotocols(), ["watch.setpoint.dev"]);
    assert.deepEqual(watchSubprotocols("ab?"), ["watch.setpoint.dev", "base64url.bearer.authorization.k8s.io.YWI_"]);
    assert.equal(base64url("a"), "YQ");
    assert.equal(base64url("é>>"), Buffer.from("é>>").toString("base64url"));
  });
});
