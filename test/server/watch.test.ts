// Watch over real sockets (API.md §5), for both transports: HTTP chunked
// (`?watch=true`, one JSON event per line) and WebSocket (the same list path,
// one JSON event per text message). Covers resume from R, initial events and
// their end bookmark, periodic bookmarks, selector transitions, DELETED's last
// state, 410 for compacted revisions, 504 for revisions ahead of the server,
// timeoutSeconds, graceful shutdown and the slow-reader cut-off (close 4008).

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { ManualClock } from "../../src/clock.ts";
import type { ResourceRef } from "../../src/api/resources.ts";
import type { Store } from "../../src/store.ts";
import type { CloseReason } from "../../src/watch.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const DEADLINE_MS = 15_000;
const GROUP = "watch.example.com";
const GV = `/apis/${GROUP}/v1`;

type Transport = "http" | "ws";

interface WireObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec?: unknown;
  // Status objects (ERROR events)
  code?: number;
  reason?: string;
  message?: string;
  status?: unknown;
}

interface WireEvent {
  type: string;
  object: WireObject;
}

const rv = (e: WireEvent): number => Number(e.object.metadata?.resourceVersion);

/** One open watch stream, recording its events. */
class Stream {
  readonly events: WireEvent[] = [];
  ended = false;
  /** WebSocket close code and reason, when it was a WebSocket. */
  closeCode: number | undefined;
  closeReason = "";
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  #waiters = new Set<() => void>();
  #stop: () => void;

  constructor(stop: () => void) {
    this.#stop = stop;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  push(e: WireEvent): void {
    this.events.push(e);
    this.#wake();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.#resolveDone();
    this.#wake();
  }

  stop(): void {
    this.#stop();
  }

  changes(): WireEvent[] {
    return this.events.filter((e) => e.type !== "BOOKMARK");
  }

  until(condition: () => boolean, what: string, ms = DEADLINE_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const tail = this.events
          .slice(-8)
          .map((e) => `${e.type}@${e.object.metadata?.resourceVersion}`)
          .join(" ");
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; ended=${this.ended}; ${this.events.length} events, last: ${tail}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  untilRevision(revision: number, type?: string): Promise<void> {
    return this.until(
      () => this.events.some((e) => rv(e) >= revision && (type === undefined || e.type === type)),
      `${type ?? "an event"} at revision ${revision}`,
    );
  }

  untilEnded(what = "the stream to end"): Promise<void> {
    return this.until(() => this.ended, what);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

type Opened = { status: 200; stream: Stream; ws?: WebSocket } | { status: number; body: unknown; retryAfter?: string | null };

/** Opens a watch of `path` (a list path) with `query` over `transport`. */
async function openWatch(transport: Transport, base: string, path: string, query: Record<string, string> = {}): Promise<Opened> {
  const params = new URLSearchParams(query);
  if (transport === "http") {
    params.set("watch", "true");
    const ac = new AbortController();
    const res = await fetch(`${base}${path}?${params}`, { signal: AbortSignal.any([ac.signal, AbortSignal.timeout(60_000)]) });
    if (res.status !== 200) {
      const text = await res.text();
      return { status: res.status, body: JSON.parse(text), retryAfter: res.headers.get("retry-after") };
    }
    assert.equal(res.headers.get("content-type"), "application/json");
    const stream = new Stream(() => ac.abort());
    void (async () => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            stream.push(JSON.parse(line) as WireEvent);
          }
        }
        assert.equal(buf, "", "the stream ends on a line boundary");
      } catch {
        // aborted or reset: the stream is over
      }
      stream.end();
    })();
    return { status: 200, stream };
  }
  const query_ = params.toString();
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}${path}${query_ ? "?" + query_ : ""}`);
  return new Promise<Opened>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WebSocket ${path}: no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    const stream = new Stream(() => ws.close(1000));
    ws.on("message", (data, isBinary) => {
      assert.equal(isBinary, false, "events are text messages");
      const text = data.toString();
      assert.equal(text.includes("\n"), false, "one event per message, no newline");
      stream.push(JSON.parse(text) as WireEvent);
    });
    ws.on("close", (code, reason) => {
      stream.closeCode = code;
      stream.closeReason = reason.toString();
      stream.end();
    });
    ws.on("error", () => {});
    ws.on("open", () => {
      clearTimeout(timer);
      resolve({ status: 200, stream, ws });
    });
    ws.on("unexpected-response", (_req, res: IncomingMessage) => {
      clearTimeout(timer);
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), retryAfter: res.headers["retry-after"] ?? null });
        ws.terminate();
      });
    });
  });
}

async function mustOpen(transport: Transport, base: string, path: string, query: Record<string, string> = {}): Promise<Stream> {
  const o = await openWatch(transport, base, path, query);
  assert.equal(o.status, 200, `open watch ${path}: ${"body" in o ? JSON.stringify(o.body) : ""}`);
  return (o as { stream: Stream }).stream;
}

// ---------------------------------------------------------------------------
// Objects over REST.

class Objects {
  constructor(
    readonly client: ApiClient,
    readonly plural: string,
    readonly namespace = "default",
  ) {}

  path(name?: string, namespace = this.namespace): string {
    return `${GV}/namespaces/${namespace}/${this.plural}${name === undefined ? "" : "/" + name}`;
  }

  async create(name: string, o: { labels?: Record<string, string>; spec?: unknown; finalizers?: string[]; namespace?: string } = {}): Promise<WireObject> {
    const ns = o.namespace ?? this.namespace;
    const res = await this.client.post(this.path(undefined, ns), {
      apiVersion: `${GROUP}/v1`,
      kind: kindOf(this.plural),
      metadata: { name, ...(o.labels ? { labels: o.labels } : {}), ...(o.finalizers ? { finalizers: o.finalizers } : {}) },
      spec: o.spec ?? { n: 1 },
    });
    assert.equal(res.status, 201, res.text);
    return res.body as WireObject;
  }

  async patch(name: string, patch: unknown, namespace = this.namespace): Promise<WireObject> {
    const res = await this.client.patch(this.path(name, namespace), patch);
    assert.equal(res.status, 200, res.text);
    return res.body as WireObject;
  }

  async delete(name: string, namespace = this.namespace): Promise<WireObject> {
    const res = await this.client.del(this.path(name, namespace));
    assert.equal(res.status, 200, res.text);
    return res.body as WireObject;
  }
}

function kindOf(plural: string): string {
  const s = plural.replace(/s$/, "");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

let typeCounter = 0;
/** A fresh namespaced type per test, so tests do not see each other's objects. */
async function freshType(client: ApiClient, prefix = "thing"): Promise<{ objects: Objects; typeName: string }> {
  const plural = `${prefix}${++typeCounter}s`;
  await createType(client, { group: GROUP, kind: kindOf(plural), plural });
  return { objects: new Objects(client, plural), typeName: `${plural}.${GROUP}` };
}

/** The store's log after `after` for `typeName`, as "TYPE ns/name rv". */
function expectedFromLog(store: Store, after: number, typeName: string): string[] {
  const out: string[] = [];
  for (let from = after; ; ) {
    const batch = store.changes(from, 1000);
    if (batch.length === 0) break;
    for (const c of batch) if (c.key.type === typeName) out.push(`${c.type} ${c.key.namespace}/${c.key.name} ${c.revision}`);
    from = batch[batch.length - 1]!.revision;
  }
  return out;
}

function got(events: WireEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.object.metadata.namespace}/${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
}

function assertIncreasing(events: WireEvent[]): void {
  let last = 0;
  for (const e of events) {
    assert.ok(rv(e) > last, `revisions must increase: ${rv(e)} after ${last}`);
    last = rv(e);
  }
}

// ---------------------------------------------------------------------------

for (const transport of ["http", "ws"] as const) {
  describe(`watch over ${transport === "http" ? "HTTP chunked" : "WebSocket"}`, () => {
    let ts: TestServer;
    let client: ApiClient;
    const streams: Stream[] = [];
    const open = async (path: string, query: Record<string, string> = {}) => {
      const s = await mustOpen(transport, ts.url, path, query);
      streams.push(s);
      return s;
    };

    before(async () => {
      ts = await startTestServer({ bookmarkIntervalMs: 200 });
      client = api(ts.url);
    });
    after(async () => {
      for (const s of streams) s.stop();
      await ts.stop();
    });

    it("from R: every later change exactly once, in revision order; a later watcher from R replays the same", async () => {
      const { objects, typeName } = await freshType(client);
      const first = await objects.create("first");
      const from = Number(first.metadata.resourceVersion);
      const live = await open(objects.path(), { resourceVersion: String(from) });

      const names = Array.from({ length: 40 }, (_, i) => `o${i}`);
      await Promise.all(names.map((n, i) => objects.create(n, { namespace: i % 2 ? "default" : "other" })));
      await Promise.all(names.map((n, i) => objects.patch(n, { spec: { n: 2 } }, i % 2 ? "default" : "other")));
      await Promise.all(names.slice(0, 15).map((n, i) => objects.delete(n, i % 2 ? "default" : "other")));
      const other = await freshType(client, "noise"); // writes of other types interleave
      await other.objects.create("x");
      const sentinel = Number((await objects.create("sentinel")).metadata.resourceVersion);

      // The namespaced path only sees its namespace; use the cluster-wide path for all.
      const all = await open(`${GV}/${objects.plural}`, { resourceVersion: String(from) });
      await live.untilRevision(sentinel);
      await all.untilRevision(sentinel);
      const expected = expectedFromLog(ts.server.store, from, typeName);
      assert.equal(expected.length, 96);
      assert.deepEqual(got(all.events), expected);
      assert.deepEqual(
        got(live.events),
        expected.filter((e) => e.includes(" default/")),
      );
      assertIncreasing(live.events);
      assert.ok(live.events.every((e) => e.object.kind === kindOf(objects.plural) && e.object.metadata.namespace === "default"));
    });

    it("no resourceVersion + sendInitialEvents + allowWatchBookmarks: ADDED for each object, then the initial-events-end BOOKMARK, then live", async () => {
      const { objects } = await freshType(client);
      for (const n of ["c", "a", "b"]) await objects.create(n);
      await objects.create("elsewhere", { namespace: "other" });
      await objects.patch("b", { spec: { n: 5 } });
      const head = ts.server.store.head();
      const s = await open(objects.path(), { sendInitialEvents: "true", allowWatchBookmarks: "true" });
      await s.until(() => s.events.length >= 4, "initial events and their bookmark");
      assert.deepEqual(
        s.events.slice(0, 3).map((e) => `${e.type} ${e.object.metadata.name}`),
        ["ADDED a", "ADDED b", "ADDED c"],
      );
      assert.deepEqual(s.events[1]!.object.spec, { n: 5 });
      const bm = s.events[3]!;
      assert.equal(bm.type, "BOOKMARK");
      assert.equal(bm.object.metadata.resourceVersion, String(head));
      assert.deepEqual(bm.object.metadata.annotations, { "k8s.io/initial-events-end": "true" });
      assert.equal(bm.object.kind, kindOf(objects.plural));
      assert.equal(bm.object.apiVersion, `${GROUP}/v1`);
      const d = Number((await objects.create("d")).metadata.resourceVersion);
      await s.untilRevision(d, "ADDED");
      assert.deepEqual(got(s.changes().slice(3)), [`ADDED default/d ${d}`]);

      // resourceVersion=0 without sendInitialEvents: the ADDED events, no end bookmark.
      const plain = await open(objects.path(), { resourceVersion: "0" });
      const e = Number((await objects.create("e")).metadata.resourceVersion);
      await plain.untilRevision(e);
      assert.deepEqual(
        plain.events.map((x) => `${x.type} ${x.object.metadata.name}`),
        ["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"],
      );
    });

    it("periodic bookmarks carry the newest revision even when only another type changed", async () => {
      const { objects } = await freshType(client);
      const from = Number((await objects.create("a")).metadata.resourceVersion);
      const withBookmarks = await open(objects.path(), { resourceVersion: String(from), allowWatchBookmarks: "true" });
      const without = await open(objects.path(), { resourceVersion: String(from) });
      const other = await freshType(client, "noise");
      const x = Number((await other.objects.create("x")).metadata.resourceVersion);
      await withBookmarks.untilRevision(x, "BOOKMARK");
      const bm = withBookmarks.events.find((e) => e.type === "BOOKMARK" && rv(e) >= x)!;
      assert.deepEqual(bm.object, { apiVersion: `${GROUP}/v1`, kind: kindOf(objects.plural), metadata: { resourceVersion: String(x) } });
      // Bookmarks keep coming while nothing changes.
      const count = withBookmarks.events.length;
      await withBookmarks.until(() => withBookmarks.events.length >= count + 2, "two more bookmarks");
      assert.ok(withBookmarks.events.every((e) => e.type === "BOOKMARK"));
      const sentinel = Number((await objects.create("sentinel")).metadata.resourceVersion);
      await without.untilRevision(sentinel);
      assert.deepEqual(
        without.events.map((e) => e.type),
        ["ADDED"],
        "no bookmarks unless asked for",
      );
    });

    it("label selector: starts matching → ADDED, stops → DELETED, DELETED only if it matched; field selector filters", async () => {
      const { objects } = await freshType(client);
      const from = Number((await objects.create("pre")).metadata.resourceVersion);
      const s = await open(objects.path(), { resourceVersion: String(from), labelSelector: "app=web" });
      const named = await open(`${GV}/${objects.plural}`, { resourceVersion: String(from), fieldSelector: "metadata.name=x" });
      const r = (o: WireObject) => o.metadata.resourceVersion;
      const x1 = await objects.create("x", { labels: { app: "web" } });
      await objects.create("y", { labels: { app: "db" } });
      const y2 = await objects.patch("y", { metadata: { labels: { app: "web" } } });
      const x2 = await objects.patch("x", { spec: { n: 9 } });
      const x3 = await objects.patch("x", { metadata: { labels: { app: "db" } } });
      const x4 = await objects.delete("x");
      const y3 = await objects.delete("y");
      const sentinel = await objects.create("z", { labels: { app: "web" } });
      await s.untilRevision(Number(r(sentinel)));
      assert.deepEqual(got(s.events), [
        `ADDED default/x ${r(x1)}`,
        `ADDED default/y ${r(y2)}`,
        `MODIFIED default/x ${r(x2)}`,
        `DELETED default/x ${r(x3)}`,
        `DELETED default/y ${r(y3)}`,
        `ADDED default/z ${r(sentinel)}`,
      ]);
      // As kube-apiserver's watch cache: the DELETED for leaving the selector
      // carries the last state that matched, at the change's revision.
      assert.deepEqual(s.events[3]!.object.metadata.labels, { app: "web" }, "the DELETED for leaving the selector carries the previous state");
      assert.equal(s.events[3]!.object.metadata.resourceVersion, r(x3));
      assert.equal((s.events[3]!.object.spec as { n?: number }).n, 9);
      await named.untilRevision(Number(r(x4)));
      assert.deepEqual(got(named.events), [
        `ADDED default/x ${r(x1)}`,
        `MODIFIED default/x ${r(x2)}`,
        `MODIFIED default/x ${r(x3)}`,
        `DELETED default/x ${r(x4)}`,
      ]);
    });

    it("DELETED carries the object's last state with the deletion's revision (also when finalizers delay it)", async () => {
      const { objects } = await freshType(client);
      const from = Number((await objects.create("pre")).metadata.resourceVersion);
      const s = await open(objects.path(), { resourceVersion: String(from) });
      await objects.create("plain", { labels: { a: "b" }, spec: { n: 1 } });
      const patched = await objects.patch("plain", { spec: { n: 2 } });
      const last = await objects.delete("plain");
      await s.untilRevision(Number(last.metadata.resourceVersion), "DELETED");
      const deleted = s.events.find((e) => e.type === "DELETED")!;
      assert.ok(rv(deleted) > Number(patched.metadata.resourceVersion));
      assert.deepEqual(deleted.object, last, "the event's object is the DELETE response's last state");
      assert.deepEqual(deleted.object.spec, { n: 2 });
      assert.deepEqual(deleted.object.metadata.labels, { a: "b" });
      assert.equal(deleted.object.metadata.uid, patched.metadata.uid);
      const log = ts.server.store.changes(rv(deleted) - 1, 1)[0]!;
      assert.equal(log.type, "DELETED");
      assert.equal(log.revision, rv(deleted));

      await objects.create("held", { finalizers: ["example.com/hold"] });
      const marked = await objects.delete("held");
      assert.ok(marked.metadata.deletionTimestamp, "a finalizer keeps it: only marked");
      await s.untilRevision(Number(marked.metadata.resourceVersion));
      assert.equal(s.events.at(-1)!.type, "MODIFIED");
      const released = await objects.patch("held", { metadata: { finalizers: null } });
      await s.untilRevision(Number(released.metadata.resourceVersion), "DELETED");
      const gone = s.events.at(-1)!;
      assert.equal(gone.type, "DELETED");
      assert.equal(gone.object.metadata.resourceVersion, released.metadata.resourceVersion);
      assert.equal(gone.object.metadata.deletionTimestamp, marked.metadata.deletionTimestamp);
      assert.deepEqual(gone.object.metadata.finalizers ?? [], []);
      assert.equal((await client.get(objects.path("held"))).status, 404);
    });

    it("R older than the retained history: one ERROR event with a 410 Expired Status, then the stream ends", async () => {
      const { objects } = await freshType(client);
      const old = Number((await objects.create("a")).metadata.resourceVersion);
      for (let i = 0; i < 5; i++) await objects.create(`b${i}`);
      ts.skipTime(1000); // every change so far is older than the window
      await ts.server.store.compact({ minEvents: 0, windowMs: 0 });
      const oldest = ts.server.store.compacted();
      assert.ok(oldest > old, `compaction must pass ${old} (oldest ${oldest})`);
      const s = await open(objects.path(), { resourceVersion: String(old), allowWatchBookmarks: "true" });
      await s.untilEnded();
      assert.equal(s.events.length, 1, JSON.stringify(s.events));
      const e = s.events[0]!;
      assert.equal(e.type, "ERROR");
      assert.equal(e.object.kind, "Status");
      assert.equal(e.object.apiVersion, "v1");
      assert.equal(e.object.status, "Failure");
      assert.equal(e.object.code, 410);
      assert.equal(e.object.reason, "Expired");
      assert.equal(e.object.message, `too old resource version: ${old} (${oldest})`);
      if (transport === "ws") assert.equal(s.closeCode, 1000);
      // From the oldest retained revision the watch works.
      const ok = await open(objects.path(), { resourceVersion: String(oldest) });
      const c = Number((await objects.create("c")).metadata.resourceVersion);
      await ok.untilRevision(c);
      assert.equal(ok.ended, false);
    });

    it("R newer than the server's head: 504 Timeout after the catch-up wait, never a stream", async () => {
      const { objects } = await freshType(client);
      const ahead = ts.server.store.head() + 1000;
      const started = performance.now();
      const o = await openWatch(transport, ts.url, objects.path(), { resourceVersion: String(ahead) });
      const waited = performance.now() - started;
      assert.equal(o.status, 504);
      const body = (o as { body: WireObject }).body;
      assert.equal(body.kind, "Status");
      assert.equal(body.code, 504);
      assert.equal(body.reason, "Timeout");
      // kube's NewTimeoutError words, and its Retry-After header beside details.retryAfterSeconds (client-go retries on it).
      assert.match(body.message!, new RegExp(`^Timeout: Too large resource version: ${ahead}, current: \\d+$`));
      assert.equal((body as { details?: { causes?: Array<{ reason?: string }> } }).details?.causes?.[0]?.reason, "ResourceVersionTooLarge");
      assert.equal((o as { retryAfter?: string | null }).retryAfter, "1");
      assert.ok(waited >= 2900, `waited ${waited} ms, expected about 3 s`);
    });

    it("timeoutSeconds ends the stream right after a bookmark", async () => {
      const { objects } = await freshType(client);
      const from = Number((await objects.create("a")).metadata.resourceVersion);
      const s = await open(objects.path(), { resourceVersion: String(from), allowWatchBookmarks: "true", timeoutSeconds: "1" });
      const quiet = await open(objects.path(), { resourceVersion: String(from), timeoutSeconds: "1" });
      const b = Number((await objects.create("b")).metadata.resourceVersion);
      await s.untilEnded();
      await quiet.untilEnded();
      const last = s.events.at(-1)!;
      assert.equal(last.type, "BOOKMARK");
      assert.ok(rv(last) >= b);
      assert.deepEqual(got(s.changes()), [`ADDED default/b ${b}`]);
      assert.deepEqual(
        quiet.events.map((e) => e.type),
        ["ADDED"],
      );
      if (transport === "ws") {
        assert.equal(s.closeCode, 1000);
        assert.equal(quiet.closeCode, 1000);
      }
    });
  });
}

/**
 * Creates object "a", opens three watches of `objects` from its revision
 * (chunked HTTP and WebSocket with bookmarks, a WebSocket without), creates
 * "b" and waits until all three have it. `q`: the query of the first two.
 */
/** Resolves once `ts.server` (with replicas, the first one) no longer knows the type of `ref`. */
async function typeGone(ts: TestServer, ref: ResourceRef): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    try {
      ts.server.resources.resolve(ref, false);
    } catch {
      return;
    }
    if (Date.now() > deadline) assert.fail(`the server still knows ${ref.plural} ${DEADLINE_MS} ms after its type was deleted`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function threeWatches(url: string, objects: { create(name: string): Promise<WireObject>; path(): string }) {
  const from = Number((await objects.create("a")).metadata.resourceVersion);
  const q = { resourceVersion: String(from), allowWatchBookmarks: "true" };
  const http = await mustOpen("http", url, objects.path(), q);
  const ws = await mustOpen("ws", url, objects.path(), q);
  const quiet = await mustOpen("ws", url, objects.path(), { resourceVersion: String(from) });
  const b = Number((await objects.create("b")).metadata.resourceVersion);
  for (const s of [http, ws, quiet]) await s.untilRevision(b);
  return { q, http, ws, quiet, b };
}

describe("watch: graceful close", () => {
  it("close() sends a final bookmark on every watch (both transports) and ends the streams", async () => {
    const ts = await startTestServer({ bookmarkIntervalMs: 60_000 });
    let stopped = false;
    try {
      const client = api(ts.url);
      const { objects } = await freshType(client);
      const { http, ws, quiet, b } = await threeWatches(ts.url, objects);
      const head = ts.server.store.head();
      const closing = ts.stop();
      for (const s of [http, ws, quiet]) await s.untilEnded();
      await closing;
      stopped = true;
      for (const s of [http, ws]) {
        assert.deepEqual(
          s.events.map((e) => `${e.type}@${rv(e)}`),
          [`ADDED@${b}`, `BOOKMARK@${head}`],
        );
      }
      assert.deepEqual(
        quiet.events.map((e) => e.type),
        ["ADDED"],
      );
      assert.equal(ws.closeCode, 1000);
      assert.equal(quiet.closeCode, 1000);
    } finally {
      if (!stopped) await ts.stop();
    }
  });
});

describe("watch: close() past its grace", () => {
  it("a WebSocket whose client never answers the close frame is cut at the grace, not held for ws's 30 s close timeout", async () => {
    const clock = new ManualClock(Date.now());
    const ts = await startTestServer({}, { clock, shutdownGraceMs: 1000 });
    const client = api(ts.url);
    const { objects } = await freshType(client);
    // A raw WebSocket client that stops reading once upgraded: it never sees (so never answers) the server's close frame.
    const socket = connect(Number(new URL(ts.url).port), "127.0.0.1");
    socket.on("error", () => {});
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        let head = "";
        const onData = (b: Buffer) => {
          head += b.toString("latin1");
          if (!head.includes("\r\n\r\n")) return;
          socket.off("data", onData);
          socket.pause();
          if (head.startsWith("HTTP/1.1 101")) resolve();
          else reject(new Error(`no upgrade: ${head.slice(0, 200)}`));
        };
        socket.on("data", onData);
        socket.write(
          `GET ${objects.path()}?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
      });
      const closing = ts.stop();
      let done = false;
      void closing.finally(() => (done = true));
      // The grace is timed on the server's clock: move it on until close() is done (the grace cut), within the deadline.
      const deadline = Date.now() + DEADLINE_MS;
      while (!done && Date.now() < deadline) {
        clock.advance(500);
        await Promise.race([closing, new Promise((r) => setTimeout(r, 50))]);
      }
      assert.ok(done, `close() not done within ${DEADLINE_MS} ms past a 1 s grace`);
      await closing;
      socket.resume(); // read on: the server closed the connection
      await closed;
    } finally {
      socket.destroy();
      await ts.stop();
    }
  });
});

describe("watch: the type is deleted", () => {
  it("deleting its ResourceType ends every open watch of the type (both transports, after a final bookmark); a new watch is 404", async () => {
    const ts = await startTestServer({ bookmarkIntervalMs: 60_000 });
    try {
      const client = api(ts.url);
      const { objects, typeName } = await freshType(client);
      const { q, http, ws, quiet, b } = await threeWatches(ts.url, objects);
      const res = await client.del(`/apis/setpoint.dev/v1/resourcetypes/${typeName}`);
      assert.equal(res.status, 200, res.text);
      for (const s of [http, ws, quiet]) await s.untilEnded("the watch to end after its type was deleted");
      for (const s of [http, ws]) {
        assert.deepEqual(
          s.changes().map((e) => `${e.type}@${rv(e)}`),
          [`ADDED@${b}`],
        );
        assert.equal(s.events.at(-1)!.type, "BOOKMARK", "a final bookmark, as when a watch times out");
      }
      assert.deepEqual(
        quiet.events.map((e) => e.type),
        ["ADDED"],
      );
      assert.equal(ws.closeCode, 1000);
      assert.equal(ws.closeReason, "resource type deleted");
      for (const transport of ["http", "ws"] as const) {
        const again = await openWatch(transport, ts.url, objects.path(), q);
        assert.equal(again.status, 404, `a new ${transport} watch of the deleted type`);
      }
    } finally {
      await ts.stop();
    }
  });
});

describe("watch: the type is deleted while the watch is being opened", () => {
  it("a watch checked before the deletion but started after it ends at once", async () => {
    const ts = await startTestServer({ bookmarkIntervalMs: 60_000 });
    try {
      const client = api(ts.url);
      const { objects, typeName } = await freshType(client);
      const start = await ts.server.resources.openWatch({ group: GROUP, version: "v1", plural: objects.plural, namespace: "default" }, {});
      const res = await client.del(`/apis/setpoint.dev/v1/resourcetypes/${typeName}`);
      assert.equal(res.status, 200, res.text);
      // Behind several replicas (the etcd suite) the delete may have gone to
      // another one: the replica that checked the watch applies it from its
      // etcd watch a moment later, and only then does the case arise.
      await typeGone(ts, { group: GROUP, version: "v1", plural: objects.plural, namespace: "default" });
      let closed: CloseReason | undefined;
      start({
        send: () => {},
        buffered: () => 0,
        onDrain: (listener) => setImmediate(listener),
        fail: (err) => assert.fail(`failed: ${err.message}`),
        close: (reason) => (closed = reason),
      });
      assert.equal(closed, "deleted");
      assert.equal(ts.server.hub.stats().watchers, 0);
    } finally {
      await ts.stop();
    }
  });
});

describe("watch: slow WebSocket reader", () => {
  it("is cut off with close code 4008 once its send buffer passes the bound; other watchers are unaffected", async () => {
    // The server's clock, never advanced: a cut-off client's grace before its
    // connection is destroyed (2 s) runs on it. The close frame waits behind
    // the MiBs the paused reader left unread (twice as many through the
    // replicas' front end); on the real clock, a reader draining them slower
    // than the grace, as under heavy load, would see the connection torn
    // down with the close frame unsent (1006, not 4008).
    const clock = new ManualClock(Date.now());
    const ts = await startTestServer({ bookmarkIntervalMs: 60_000, watchBufferBytes: 64 * 1024 }, { clock });
    const opened: Stream[] = [];
    try {
      const client = api(ts.url);
      const { objects } = await freshType(client);
      const from = Number((await objects.create("a")).metadata.resourceVersion);
      const q = { resourceVersion: String(from) };
      const slowOpened = await openWatch("ws", ts.url, objects.path(), q);
      assert.equal(slowOpened.status, 200);
      const { stream: slow, ws: slowWs } = slowOpened as { stream: Stream; ws: WebSocket };
      const fastWs = await mustOpen("ws", ts.url, objects.path(), q);
      const fastHttp = await mustOpen("http", ts.url, objects.path(), q);
      opened.push(slow, fastWs, fastHttp);
      const socket = (slowWs as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();

      // 12 KiB objects, 3 at a time (so one event-loop turn's burst stays under the
      // 64 KiB bound for readers that keep up), until the server cuts the slow
      // reader off. Loopback buffers hold a few MiB before the server sees any backlog.
      const pad = "x".repeat(12 * 1024);
      let n = 0;
      let last = 0;
      for (let batch = 0; batch < 1000 && ts.server.hub.stats().cutOff === 0; batch++) {
        const made = await Promise.all(Array.from({ length: 3 }, () => objects.create(`big${n++}`, { spec: { pad } })));
        last = Math.max(last, ...made.map((o) => Number(o.metadata.resourceVersion)));
      }
      assert.equal(ts.server.hub.stats().cutOff, 1, `the slow reader was cut off after ${n} objects`);
      assert.equal(slow.ended, false, "a paused reader cannot have seen the close yet");
      socket.resume();
      await slow.untilEnded("the slow reader's close");
      assert.equal(slow.closeCode, 4008);
      assert.ok(slow.events.length > 0 && slow.events.length <= n);

      // Everyone else got every change, in order, and is still connected.
      const sentinel = Number((await objects.create("sentinel")).metadata.resourceVersion);
      for (const s of [fastWs, fastHttp]) {
        await s.untilRevision(sentinel);
        assert.equal(s.ended, false);
        assert.equal(s.events.length, n + 1);
        assertIncreasing(s.events);
        assert.equal(rv(s.events.at(-2)!), last);
      }
      assert.equal(ts.server.hub.stats().watchers, 2);
      // What the slow reader got before the cut is a gap-free prefix of the stream; nothing after.
      assert.deepEqual(got(slow.events), got(fastWs.events.slice(0, slow.events.length)));
      assert.equal(
        slow.events.some((e) => rv(e) >= sentinel),
        false,
      );
      // The server still accepts new watches.
      const again = await mustOpen("ws", ts.url, objects.path(), { resourceVersion: String(sentinel - 1) });
      opened.push(again);
      await again.untilRevision(sentinel);
    } finally {
      for (const s of opened) s.stop();
      // The checks are done: time moves again while the server closes, whose
      // waits run on this clock (never advanced, one replica's close behind
      // the replicas' front end took 66 s).
      const ticking = setInterval(() => clock.advance(1000), 50);
      try {
        await ts.stop();
      } finally {
        clearInterval(ticking);
      }
    }
  });
});

describe("watch: catch-up larger than the send-buffer bound", () => {
  // Catch-up is paced by the socket: the hub sends while the unsent bytes stay
  // under a low-water mark and resumes on drain, so a reader that keeps up is
  // never cut off for how much it missed.
  it("a reader that keeps up, resuming from further back than the bound, is not cut off", async () => {
    const ts = await startTestServer({ bookmarkIntervalMs: 60_000, watchBufferBytes: 64 * 1024 });
    const opened: Stream[] = [];
    try {
      const client = api(ts.url);
      const { objects } = await freshType(client);
      const from = ts.server.store.head();
      const spec = { pad: "x".repeat(1024) };
      for (let b = 0; b < 50; b++) await Promise.all([0, 1, 2, 3].map((i) => objects.create(`s${b}-${i}`, { spec })));
      const head = ts.server.store.head();
      for (const transport of ["http", "ws"] as const) {
        const s = await mustOpen(transport, ts.url, objects.path(), { resourceVersion: String(from) });
        opened.push(s);
        await s.until(() => s.ended || s.events.length === head - from, `the ${transport} replay`);
        assert.equal(s.ended, false, `${transport}: cut off after ${s.events.length} of ${head - from} events`);
      }
    } finally {
      for (const s of opened) s.stop();
      await ts.stop();
    }
  });
});
