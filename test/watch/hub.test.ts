// The watch hub over a real LMDB store, driven by a ManualClock: ordering and
// exactly-once delivery, replay from the in-memory window and from the store's
// log, initial events and their end bookmark, selector transitions, periodic
// and closing bookmarks, the slow-watcher bound, 410 for compacted revisions,
// waitFor, and commits made by a second store on the same directory (in this
// process and in another one).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ManualClock } from "../../src/clock.ts";
import type { ApiError } from "../../src/errors.ts";
import { openLmdbStore, type Change, type Store } from "../../src/store.ts";
import { parseFieldSelector, parseLabelSelector } from "../../src/api/selector.ts";
import { WatchHub, type CloseReason, type WatchHubOptions, type WatchRequest, type WatchEvent, type WatchSink } from "../../src/watch.ts";
import { nodeModule } from "../helpers/node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const STORE_MODULE = nodeModule(fileURLToPath(new URL("../../src/store.ts", import.meta.url)));
const DEADLINE_MS = 10_000;

const WIDGETS = "widgets.example.com";
const GADGETS = "gadgets.example.com";
const API_VERSION = "example.com/v1";

// ---------------------------------------------------------------------------
// A sink that records what the hub sends.

interface Ev {
  type: string;
  object: {
    apiVersion?: string;
    kind?: string;
    metadata: { name?: string; namespace?: string; resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: unknown;
  };
  /** The revision the hub passed along with the event (when it passes one). */
  revision: number | undefined;
}

const rv = (e: Ev): number => Number(e.object.metadata.resourceVersion);

class TestSink implements WatchSink {
  readonly events: Ev[] = [];
  closedWith: CloseReason | undefined;
  failedWith: ApiError | undefined;
  /** Events sent after the sink was closed or failed (must stay 0). */
  sentAfterEnd = 0;
  /** What buffered() reports. With `accumulate`, every send adds its size (nothing drains). */
  pending = 0;
  accumulate = false;
  #waiters = new Set<() => void>();

  /** Every WatchEvent received, in order (to check that watchers share them). */
  readonly received: WatchEvent[] = [];

  send(event: WatchEvent): void {
    if (this.closedWith !== undefined || this.failedWith !== undefined) this.sentAfterEnd++;
    this.received.push(event);
    this.events.push({ type: event.type, object: JSON.parse(event.object) as Ev["object"], revision: event.revision });
    if (this.accumulate) this.pending += event.size;
    this.#wake();
  }

  buffered(): number {
    return this.pending;
  }

  #drainListeners: Array<() => void> = [];

  onDrain(listener: () => void): void {
    this.#drainListeners.push(listener);
  }

  /** The peer read everything: buffered() drops to 0 and drain listeners run. */
  drain(): void {
    this.pending = 0;
    const listeners = this.#drainListeners;
    this.#drainListeners = [];
    for (const l of listeners) l();
  }

  fail(error: ApiError): void {
    assert.equal(this.failedWith, undefined, "fail() called twice");
    this.failedWith = error;
    this.#wake();
  }

  close(reason: CloseReason): void {
    assert.equal(this.closedWith, undefined, "close() called twice");
    this.closedWith = reason;
    this.#wake();
  }

  get ended(): boolean {
    return this.closedWith !== undefined || this.failedWith !== undefined;
  }

  /** Events other than bookmarks. */
  changes(): Ev[] {
    return this.events.filter((e) => e.type !== "BOOKMARK");
  }

  bookmarks(): Ev[] {
    return this.events.filter((e) => e.type === "BOOKMARK");
  }

  /** Resolves once `condition()` holds (checked after every send/close/fail); rejects after the deadline. */
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
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${this.events.length} events: ${summary(this.events.slice(-10))}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** Resolves once an event of `type` with revision ≥ `revision` arrived. */
  untilRevision(revision: number, type?: string): Promise<void> {
    return this.until(
      () => this.events.some((e) => rv(e) >= revision && (type === undefined || e.type === type)),
      `${type ?? "an event"} at revision ${revision}`,
    );
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

function summary(events: Ev[]): string {
  return events.map((e) => `${e.type}:${e.object.metadata.namespace ?? ""}/${e.object.metadata.name ?? ""}@${e.object.metadata.resourceVersion}`).join(" ");
}

// ---------------------------------------------------------------------------
// Store and hub fixtures.

interface Fixture {
  dir: string;
  clock: ManualClock;
  store: Store;
  hub: WatchHub;
  cleanup(): Promise<void>;
}

async function withHub(options: WatchHubOptions & { pollIntervalMs?: number }, body: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-hub-test-"));
  const clock = new ManualClock(1_700_000_000_000);
  const store = openLmdbStore(dir, { pollIntervalMs: options.pollIntervalMs ?? 0, now: () => clock.now() });
  const hub = new WatchHub(store, { clock, bookmarkIntervalMs: 60_000, ...options });
  const extra: Array<() => Promise<void>> = [];
  const f: Fixture = {
    dir,
    clock,
    store,
    hub,
    async cleanup() {
      for (const e of extra) await e();
    },
  };
  try {
    await body(f);
  } finally {
    hub.close();
    await f.cleanup();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Watches `f`'s hub from a first object while a second store is open on the
 * same directory (no poll of its own, and it tells no one of its commits);
 * closes that peer after `body`.
 */
async function withPeer(f: Fixture, body: (peer: Store, sink: TestSink, from: number) => Promise<void>): Promise<void> {
  const from = await put(f.store, "a", "start");
  const sink = new TestSink();
  f.hub.watch(request({ resourceVersion: from }), sink);
  const peer = openLmdbStore(f.dir, { pollIntervalMs: 0, now: () => f.clock.now() });
  try {
    await body(peer, sink, from);
  } finally {
    await peer.close();
  }
}

interface ObjOptions {
  type?: string;
  labels?: Record<string, string>;
  /** Extra payload bytes in spec. */
  pad?: number;
  value?: number;
}

/** Creates or replaces an object; resolves to its revision. */
async function put(store: Store, namespace: string, name: string, o: ObjOptions = {}): Promise<number> {
  const type = o.type ?? WIDGETS;
  const res = await store.write({ type, namespace, name }, (_current, revision) => ({
    op: "put",
    object: JSON.stringify({
      apiVersion: API_VERSION,
      kind: type === WIDGETS ? "Widget" : "Gadget",
      metadata: { name, namespace, resourceVersion: String(revision), ...(o.labels ? { labels: o.labels } : {}) },
      spec: { value: o.value ?? revision, ...(o.pad ? { pad: "x".repeat(o.pad) } : {}) },
    }),
  }));
  assert.equal(res.op, "put");
  return res.revision;
}

/** Deletes an object; the log's object is its last state with the deletion's revision. Resolves to that revision. */
async function del(store: Store, namespace: string, name: string, type = WIDGETS): Promise<number> {
  const res = await store.write({ type, namespace, name }, (current, revision) => {
    assert.ok(current, `delete ${namespace}/${name}: not found`);
    const o = JSON.parse(current.json) as { metadata: { resourceVersion: string } };
    o.metadata.resourceVersion = String(revision);
    return { op: "delete", object: JSON.stringify(o) };
  });
  return res.revision;
}

function request(r: Partial<WatchRequest> = {}): WatchRequest {
  return { type: WIDGETS, apiVersion: API_VERSION, kind: "Widget", allowBookmarks: false, ...r };
}

/** Every change of `type` after `after` in the store's log, as [type, ns/name, revision]. */
function expectedFromLog(store: Store, after: number, type = WIDGETS, keep: (c: Change) => boolean = () => true): string[] {
  const out: string[] = [];
  for (let from = after; ; ) {
    const batch = store.changes(from, 1000);
    if (batch.length === 0) break;
    for (const c of batch) if (c.key.type === type && keep(c)) out.push(`${c.type} ${c.key.namespace}/${c.key.name} ${c.revision}`);
    from = batch[batch.length - 1]!.revision;
  }
  return out;
}

function got(events: Ev[]): string[] {
  return events.map((e) => `${e.type} ${e.object.metadata.namespace}/${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
}

/** Asserts strictly increasing revisions and that the hub's revision argument (if any) matches the object's. */
function assertOrdered(events: Ev[]): void {
  let last = 0;
  for (const e of events) {
    const r = rv(e);
    assert.ok(r > last, `revisions must increase: ${r} after ${last}`);
    if (e.revision !== undefined) assert.equal(e.revision, r, "the revision passed to send() is the event's revision");
    last = r;
  }
}

// ---------------------------------------------------------------------------

describe("WatchHub: typed events shared by watchers", () => {
  it("hands every watcher of a change the same WatchEvent, and a transport's encoding is made once per event", async () => {
    await withHub({}, async ({ store, hub }) => {
      const from = store.head();
      const a = new TestSink();
      const b = new TestSink();
      const web = new TestSink();
      hub.watch(request({ resourceVersion: from }), a);
      hub.watch(request({ resourceVersion: from }), b);
      // Selected by labels: the MODIFIED that adds the label arrives as ADDED, a different event.
      hub.watch(request({ resourceVersion: from, labelSelector: parseLabelSelector("app=web") }), web);
      await put(store, "a", "x");
      const r2 = await put(store, "a", "x", { labels: { app: "web" } });
      await a.untilRevision(r2);
      await b.untilRevision(r2);
      await web.untilRevision(r2);
      assert.deepEqual(got(a.events), got(b.events));
      assert.equal(a.received.length, 2);
      for (let i = 0; i < 2; i++) assert.equal(a.received[i], b.received[i], `event ${i} is one shared object`);
      assert.equal(web.received.length, 1);
      assert.equal(web.received[0]!.type, "ADDED");
      assert.equal(web.received[0]!.revision, r2);
      assert.notEqual(web.received[0], a.received[1], "ADDED and MODIFIED of one change are distinct events");

      let encodes = 0;
      const encoding = { name: "test", encode: (e: WatchEvent) => (encodes++, `${e.type} ${e.revision}`) };
      const ev = a.received[1]!;
      assert.equal(ev.encoded(encoding), `MODIFIED ${r2}`);
      assert.equal(b.received[1]!.encoded(encoding), `MODIFIED ${r2}`);
      assert.equal(encodes, 1, "the second watcher reuses the first one's encoding");
      assert.equal(ev.encoded({ name: "other", encode: () => "other" }), "other", "each encoding has its own cache entry");
    });
  });
});

describe("WatchHub: order and exactly-once", () => {
  it("delivers every change of the watched type after R, in revision order, exactly once, across many concurrent writes", async () => {
    await withHub({}, async ({ store, hub }) => {
      await put(store, "a", "seed");
      const from = store.head();
      const sink = new TestSink();
      const other = new TestSink();
      hub.watch(request({ resourceVersion: from }), sink);
      hub.watch(request({ type: GADGETS, kind: "Gadget", resourceVersion: from }), other);

      // 600 writes, 40 in flight at a time: creates, updates, deletes of two types.
      const names = Array.from({ length: 30 }, (_, i) => `w${i}`);
      const live = new Set<string>(["a/seed"]);
      for (let round = 0; round < 15; round++) {
        const ops: Array<Promise<number>> = [];
        for (let i = 0; i < 40; i++) {
          const name = names[(round * 7 + i) % names.length]!;
          const ns = i % 2 === 0 ? "a" : "b";
          const key = `${ns}/${name}`;
          if (i % 5 === 4) ops.push(put(store, ns, name, { type: GADGETS }));
          else if (i % 9 === 8 && live.has(key)) {
            live.delete(key);
            ops.push(del(store, ns, name));
          } else {
            live.add(key);
            ops.push(put(store, ns, name));
          }
        }
        await Promise.all(ops);
      }
      const head = store.head();
      assert.ok(head - from >= 550, `expected many writes, got ${head - from}`);
      const expected = expectedFromLog(store, from);
      const expectedOther = expectedFromLog(store, from, GADGETS);
      const lastWidget = Number(expected[expected.length - 1]!.split(" ")[2]);
      const lastGadget = Number(expectedOther[expectedOther.length - 1]!.split(" ")[2]);
      await sink.untilRevision(lastWidget);
      await other.untilRevision(lastGadget);
      // A sentinel write, then every event before it is known to have arrived.
      const sentinel = await put(store, "z", "sentinel");
      await sink.untilRevision(sentinel);

      assertOrdered(sink.events);
      assertOrdered(other.events);
      assert.deepEqual(got(sink.events), [...expected, `ADDED z/sentinel ${sentinel}`]);
      assert.deepEqual(got(other.events), expectedOther);
      assert.ok(expected.some((e) => e.startsWith("DELETED")) && expected.some((e) => e.startsWith("MODIFIED")));
      assert.equal(hub.revision, store.head());
    });
  });

  it("two watchers of one type get the same stream, even when one starts mid-way", async () => {
    await withHub({}, async ({ store, hub }) => {
      const first = new TestSink();
      await put(store, "a", "x");
      hub.watch(request({ resourceVersion: store.head() }), first);
      await Promise.all(Array.from({ length: 20 }, (_, i) => put(store, "a", `o${i}`)));
      const mid = store.head();
      const second = new TestSink();
      hub.watch(request({ resourceVersion: mid }), second);
      await Promise.all(Array.from({ length: 20 }, (_, i) => put(store, "a", `o${i}`)));
      const head = store.head();
      await first.untilRevision(head);
      await second.untilRevision(head);
      assert.equal(first.events.length, 40);
      assert.deepEqual(got(second.events), got(first.events).slice(20));
    });
  });
});

describe("WatchHub: replay", () => {
  it("replays from a revision inside the in-memory window, then goes live without a gap or repeat", async () => {
    await withHub({}, async ({ store, hub }) => {
      for (let i = 0; i < 30; i++) await put(store, "a", `o${i % 10}`, { type: i % 3 === 0 ? GADGETS : WIDGETS });
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: 10 }), sink);
      const replayed = got(sink.events);
      assert.deepEqual(replayed, expectedFromLog(store, 10), "the replay is synchronous and complete");
      const live = await put(store, "a", "live");
      await sink.untilRevision(live);
      assert.deepEqual(got(sink.events), expectedFromLog(store, 10));
      assertOrdered(sink.events);
    });
  });

  it("replays older retained revisions from the store's log when the window is small", async () => {
    await withHub({ windowEvents: 5 }, async ({ store, hub }) => {
      for (let i = 0; i < 40; i++) await put(store, "a", `o${i % 7}`, { type: i % 4 === 0 ? GADGETS : WIDGETS });
      const head = store.head();
      // Every starting point: deep in the log, at and around the window's edge, the head.
      for (const from of [1, 3, head - 7, head - 6, head - 5, head - 4, head - 1, head]) {
        const sink = new TestSink();
        hub.watch(request({ resourceVersion: from }), sink);
        assert.deepEqual(got(sink.events), expectedFromLog(store, from), `replay from ${from}`);
        assertOrdered(sink.events);
      }
      // And a replaying watcher then continues live.
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: 2 }), sink);
      const live = await put(store, "b", "live");
      await sink.untilRevision(live);
      assert.deepEqual(got(sink.events), expectedFromLog(store, 2));
    });
  });

  it("replays from the log when windowBytes evicted the start", async () => {
    await withHub({ windowBytes: 3000 }, async ({ store, hub }) => {
      for (let i = 0; i < 12; i++) await put(store, "a", `o${i % 3}`, { pad: 400 });
      for (const from of [1, 6, 9, 11]) {
        const sink = new TestSink();
        hub.watch(request({ resourceVersion: from }), sink);
        assert.deepEqual(got(sink.events), expectedFromLog(store, from), `replay from ${from}`);
      }
    });
  });

  it("a hub opened on an existing store (empty window) replays from the log", async () => {
    await withHub({}, async ({ store, hub, clock }) => {
      for (let i = 0; i < 25; i++) await put(store, "a", `o${i % 5}`);
      await del(store, "a", "o1");
      hub.close();
      const fresh = new WatchHub(store, { clock, bookmarkIntervalMs: 60_000 });
      try {
        const sink = new TestSink();
        fresh.watch(request({ resourceVersion: 4 }), sink);
        assert.deepEqual(got(sink.events), expectedFromLog(store, 4));
        const live = await put(store, "a", "o9");
        await sink.untilRevision(live);
        assert.deepEqual(got(sink.events), expectedFromLog(store, 4));
      } finally {
        fresh.close();
      }
    });
  });
});

describe("WatchHub: initial events", () => {
  async function seed(store: Store): Promise<void> {
    await put(store, "b", "two", { labels: { app: "web" } });
    await put(store, "a", "one", { labels: { app: "db" } });
    await put(store, "a", "zed", { labels: { app: "web" } });
    await put(store, "a", "gone");
    await put(store, "b", "two", { labels: { app: "web" }, value: 99 });
    await del(store, "a", "gone");
    await put(store, "a", "g", { type: GADGETS });
  }

  for (const resourceVersion of [undefined, 0]) {
    it(`resourceVersion ${resourceVersion === undefined ? "unset" : "0"}: ADDED for every current object in (namespace, name) order, then live changes`, async () => {
      await withHub({}, async ({ store, hub }) => {
        await seed(store);
        const sink = new TestSink();
        hub.watch(request(resourceVersion === undefined ? {} : { resourceVersion }), sink);
        const current = store.list({ type: WIDGETS }).items.map((j) => JSON.parse(j) as Ev["object"]);
        assert.deepEqual(
          got(sink.events),
          current.map((o) => `ADDED ${o.metadata.namespace}/${o.metadata.name} ${o.metadata.resourceVersion}`),
        );
        assert.deepEqual(
          got(sink.events).map((s) => s.split(" ")[1]),
          ["a/one", "a/zed", "b/two"],
        );
        assert.deepEqual(sink.events[2]!.object.spec, { value: 99 }, "the current state, not an older one");
        for (const e of sink.events) if (e.revision !== undefined) assert.equal(e.revision, store.head(), "initial events are taken at the head");
        assert.equal(sink.bookmarks().length, 0, "no bookmark without allowBookmarks");
        const m = await put(store, "a", "one", { labels: { app: "db" } });
        await sink.untilRevision(m);
        assert.deepEqual(got(sink.events.slice(3)), [`MODIFIED a/one ${m}`]);
      });
    });
  }

  it("sendInitialEvents + allowBookmarks: the ADDED events end with a BOOKMARK annotated k8s.io/initial-events-end at the head", async () => {
    await withHub({}, async ({ store, hub }) => {
      await seed(store);
      const head = store.head();
      const sink = new TestSink();
      hub.watch(request({ sendInitialEvents: true, allowBookmarks: true }), sink);
      assert.equal(sink.events.length, 4);
      assert.deepEqual(
        sink.events.slice(0, 3).map((e) => e.type),
        ["ADDED", "ADDED", "ADDED"],
      );
      const bm = sink.events[3]!;
      assert.equal(bm.type, "BOOKMARK");
      assert.deepEqual(bm.object, {
        apiVersion: API_VERSION,
        kind: "Widget",
        metadata: { resourceVersion: String(head), annotations: { "k8s.io/initial-events-end": "true" } },
      });
      const m = await put(store, "c", "new");
      await sink.untilRevision(m);
      assert.deepEqual(got(sink.changes().slice(3)), [`ADDED c/new ${m}`]);
    });
  });

  it("the initial-events-end bookmark needs both sendInitialEvents and allowBookmarks", async () => {
    await withHub({}, async ({ store, hub }) => {
      await seed(store);
      const onlyBookmarks = new TestSink();
      hub.watch(request({ allowBookmarks: true }), onlyBookmarks);
      const onlyInitial = new TestSink();
      hub.watch(request({ sendInitialEvents: true }), onlyInitial);
      assert.equal(onlyBookmarks.events.length, 3);
      assert.equal(onlyInitial.events.length, 3);
      assert.equal(onlyBookmarks.bookmarks().length + onlyInitial.bookmarks().length, 0);
    });
  });

  it("sendInitialEvents=false without a resourceVersion starts at the newest revision: no initial events, no replayed history", async () => {
    await withHub({}, async ({ store, hub }) => {
      await seed(store);
      const sink = new TestSink();
      hub.watch(request({ sendInitialEvents: false }), sink);
      assert.deepEqual(got(sink.events), []);
      const m = await put(store, "c", "new");
      await sink.untilRevision(m);
      assert.deepEqual(got(sink.events), [`ADDED c/new ${m}`]);
    });
  });

  it("initial events respect namespace, label and field selectors", async () => {
    await withHub({}, async ({ store, hub }) => {
      await seed(store);
      const ns = new TestSink();
      hub.watch(request({ namespace: "a" }), ns);
      const labels = new TestSink();
      hub.watch(request({ labelSelector: parseLabelSelector("app=web") }), labels);
      const fields = new TestSink();
      hub.watch(request({ fieldSelector: parseFieldSelector("metadata.name!=zed") }), fields);
      assert.deepEqual(
        got(ns.events).map((s) => s.split(" ")[1]),
        ["a/one", "a/zed"],
      );
      assert.deepEqual(
        got(labels.events).map((s) => s.split(" ")[1]),
        ["a/zed", "b/two"],
      );
      assert.deepEqual(
        got(fields.events).map((s) => s.split(" ")[1]),
        ["a/one", "b/two"],
      );
    });
  });
});

describe("WatchHub: selectors", () => {
  it("label selector transitions: starts matching → ADDED, stops matching → DELETED, DELETED only if it matched", async () => {
    await withHub({}, async ({ store, hub }) => {
      await put(store, "a", "pre");
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: store.head(), labelSelector: parseLabelSelector("app=web") }), sink);
      const r1 = await put(store, "a", "x", { labels: { app: "web" } }); // ADDED, matches
      await put(store, "a", "y", { labels: { app: "db" } }); // ADDED, no match: nothing
      const r3 = await put(store, "a", "y", { labels: { app: "web" } }); // starts matching: ADDED
      const r4 = await put(store, "a", "x", { labels: { app: "web" }, value: 7 }); // still matches: MODIFIED
      const r5 = await put(store, "a", "x", { labels: { app: "db" } }); // stops matching: DELETED
      await put(store, "a", "x", { labels: { app: "other" } }); // still no match: nothing
      await del(store, "a", "x"); // deleted while not matching: nothing
      const r8 = await del(store, "a", "y"); // deleted while matching: DELETED
      await put(store, "a", "nolabels"); // no labels: nothing
      const sentinel = await put(store, "a", "sentinel", { labels: { app: "web" } });
      await sink.untilRevision(sentinel);
      assert.deepEqual(got(sink.events), [
        `ADDED a/x ${r1}`,
        `ADDED a/y ${r3}`,
        `MODIFIED a/x ${r4}`,
        `DELETED a/x ${r5}`,
        `DELETED a/y ${r8}`,
        `ADDED a/sentinel ${sentinel}`,
      ]);
      // ADDED carries the new state; the DELETED of an object that stopped
      // matching carries its previous state (the last one this watcher was
      // meant to see) at the change's revision, as kube-apiserver's watch cache.
      assert.deepEqual(sink.events[1]!.object.metadata.labels, { app: "web" });
      assert.equal((sink.events[1]!.object.spec as { value?: number }).value, r3);
      assert.deepEqual(sink.events[3]!.object.metadata.labels, { app: "web" });
      assert.equal((sink.events[3]!.object.spec as { value?: number }).value, 7);
      assert.equal(sink.events[3]!.object.metadata.resourceVersion, String(r5));
    });
  });

  it("the same transitions are applied during replay", async () => {
    await withHub({ windowEvents: 3 }, async ({ store, hub }) => {
      const from = await put(store, "a", "pre");
      await put(store, "a", "x", { labels: { app: "db" } });
      const r2 = await put(store, "a", "x", { labels: { app: "web" } });
      const r3 = await put(store, "a", "x", { labels: { app: "db" } });
      await del(store, "a", "x");
      for (let i = 0; i < 5; i++) await put(store, "a", "filler");
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: from, labelSelector: parseLabelSelector("app in (web)") }), sink);
      assert.deepEqual(got(sink.events), [`ADDED a/x ${r2}`, `DELETED a/x ${r3}`]);
      // From the window too, the DELETED carries the state that matched, at its own revision.
      assert.deepEqual(sink.events[1]!.object.metadata.labels, { app: "web" });
      assert.equal(sink.events[1]!.object.metadata.resourceVersion, String(r3));
    });
  });

  it("namespace and field selectors filter live changes", async () => {
    await withHub({}, async ({ store, hub }) => {
      const from = await put(store, "a", "pre");
      const inA = new TestSink();
      hub.watch(request({ resourceVersion: from, namespace: "a" }), inA);
      const named = new TestSink();
      hub.watch(request({ resourceVersion: from, fieldSelector: parseFieldSelector("metadata.name=x") }), named);
      const notA = new TestSink();
      hub.watch(request({ resourceVersion: from, fieldSelector: parseFieldSelector("metadata.namespace!=a") }), notA);
      const both = new TestSink();
      hub.watch(request({ resourceVersion: from, namespace: "b", fieldSelector: parseFieldSelector("metadata.name=x") }), both);
      const r: Record<string, number> = {};
      for (const ns of ["a", "b", "c"]) for (const name of ["x", "y"]) r[`${ns}/${name}`] = await put(store, ns, name);
      r["b/x-del"] = await del(store, "b", "x");
      await put(store, "a", "x", { type: GADGETS });
      const sentinel = await put(store, "a", "x");
      for (const s of [inA, named]) await s.untilRevision(sentinel);
      assert.deepEqual(got(inA.events), [`ADDED a/x ${r["a/x"]}`, `ADDED a/y ${r["a/y"]}`, `MODIFIED a/x ${sentinel}`]);
      assert.deepEqual(got(named.events), [
        `ADDED a/x ${r["a/x"]}`,
        `ADDED b/x ${r["b/x"]}`,
        `ADDED c/x ${r["c/x"]}`,
        `DELETED b/x ${r["b/x-del"]}`,
        `MODIFIED a/x ${sentinel}`,
      ]);
      assert.deepEqual(got(notA.events), [
        `ADDED b/x ${r["b/x"]}`,
        `ADDED b/y ${r["b/y"]}`,
        `ADDED c/x ${r["c/x"]}`,
        `ADDED c/y ${r["c/y"]}`,
        `DELETED b/x ${r["b/x-del"]}`,
      ]);
      assert.deepEqual(got(both.events), [`ADDED b/x ${r["b/x"]}`, `DELETED b/x ${r["b/x-del"]}`]);
    });
  });
});

describe("WatchHub: onDelivered", () => {
  it("is called after a pump that handed events to the sinks (after the sends) and after periodic bookmarks; not for a pump with nothing new", async () => {
    const calls: string[] = [];
    let sink: TestSink | undefined;
    const onDelivered = () => calls.push(`delivered after ${sink?.events.length ?? 0} events`);
    await withHub({ bookmarkIntervalMs: 1000, onDelivered }, async ({ store, hub, clock }) => {
      const from = await put(store, "a", "w");
      sink = new TestSink();
      hub.watch(request({ resourceVersion: from, allowBookmarks: true }), sink);
      calls.length = 0;
      hub.pump();
      assert.deepEqual(calls, [], "nothing new: not called");

      const r1 = await put(store, "a", "x");
      await sink.untilRevision(r1);
      assert.deepEqual(calls, ["delivered after 1 events"]);
      hub.pump();
      assert.deepEqual(calls, ["delivered after 1 events"], "nothing new again: not called");

      clock.advance(1000);
      assert.equal(sink.events.at(-1)!.type, "BOOKMARK");
      assert.deepEqual(calls, ["delivered after 1 events", "delivered after 2 events"]);
    });
  });
});

describe("WatchHub: bookmarks", () => {
  it("periodic bookmarks carry the newest revision even when only another type changed", async () => {
    await withHub({ bookmarkIntervalMs: 1000 }, async ({ store, hub, clock }) => {
      const from = await put(store, "a", "w");
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: from, allowBookmarks: true }), sink);
      const quiet = new TestSink();
      hub.watch(request({ resourceVersion: from }), quiet);
      const gadgetsSink = new TestSink();
      hub.watch(request({ type: GADGETS, kind: "Gadget", resourceVersion: from, allowBookmarks: true }), gadgetsSink);

      let last = 0;
      for (let i = 0; i < 3; i++) last = await put(store, "a", `g${i}`, { type: GADGETS });
      await gadgetsSink.untilRevision(last);
      clock.advance(999);
      assert.equal(sink.events.length, 0, "no bookmark before the interval");
      clock.advance(1);
      assert.deepEqual(
        sink.events.map((e) => e.object),
        [{ apiVersion: API_VERSION, kind: "Widget", metadata: { resourceVersion: String(last) } }],
      );
      assert.equal(sink.events[0]!.type, "BOOKMARK");
      if (sink.events[0]!.revision !== undefined) assert.equal(sink.events[0]!.revision, last);
      assert.deepEqual(
        gadgetsSink.bookmarks().map((e) => e.object),
        [{ apiVersion: API_VERSION, kind: "Gadget", metadata: { resourceVersion: String(last) } }],
      );
      assert.equal(quiet.events.length, 0, "no bookmarks without allowBookmarks");

      // The next one moves on, and it comes even when nothing changed at all.
      const newer = await put(store, "b", "g", { type: GADGETS });
      clock.advance(1000);
      clock.advance(1000);
      assert.deepEqual(sink.events.map(rv), [last, newer, newer]);
      assert.equal(quiet.events.length, 0);
    });
  });

  it("a bookmark comes right before a timeout, and right before close()", async () => {
    await withHub({}, async ({ store, hub, clock }) => {
      const from = await put(store, "a", "w");
      const timed = new TestSink();
      hub.watch(request({ resourceVersion: from, allowBookmarks: true, timeoutMs: 5000 }), timed);
      const timedQuiet = new TestSink();
      hub.watch(request({ resourceVersion: from, timeoutMs: 5000 }), timedQuiet);
      const longLived = new TestSink();
      hub.watch(request({ resourceVersion: from, allowBookmarks: true }), longLived);
      const stopped = new TestSink();
      const stop = hub.watch(request({ resourceVersion: from, allowBookmarks: true }), stopped);

      const w = await put(store, "a", "x");
      const g = await put(store, "a", "g", { type: GADGETS });
      await timed.untilRevision(w);
      stop();
      clock.advance(4999);
      assert.equal(timed.closedWith, undefined);
      clock.advance(1);
      assert.equal(timed.closedWith, "timeout");
      assert.deepEqual(
        timed.events.map((e) => `${e.type}@${rv(e)}`),
        [`ADDED@${w}`, `BOOKMARK@${g}`],
        "the bookmark is the last thing before the end",
      );
      assert.equal(timedQuiet.closedWith, "timeout");
      assert.deepEqual(
        timedQuiet.events.map((e) => e.type),
        ["ADDED"],
      );
      assert.equal(longLived.closedWith, undefined);
      assert.equal(hub.stats().watchers, 1);

      // close(): a final bookmark at the newest revision, then the end.
      const y = await put(store, "a", "y");
      hub.close();
      assert.equal(longLived.closedWith, "shutdown");
      assert.deepEqual(
        longLived.events.map((e) => `${e.type}@${rv(e)}`),
        [`ADDED@${w}`, `ADDED@${y}`, `BOOKMARK@${y}`],
      );
      assert.deepEqual(
        stopped.events.map((e) => e.type),
        ["ADDED"],
        "a stopped watch gets nothing more",
      );
      assert.equal(stopped.closedWith, undefined, "stop() does not call close()");
      for (const s of [timed, timedQuiet, longLived, stopped]) assert.equal(s.sentAfterEnd, 0);
      const late = new TestSink();
      hub.watch(request(), late);
      assert.equal(late.closedWith, "shutdown", "a watch after close() is closed at once");
      assert.equal(late.events.length, 0);
    });
  });
});

describe("WatchHub: slow watchers", () => {
  it("a sink whose buffered() passes bufferBytes is closed as slow and gets nothing after; others are unaffected", async () => {
    await withHub({ bufferBytes: 4000 }, async ({ store, hub }) => {
      const from = await put(store, "a", "pre");
      const slow = new TestSink();
      slow.accumulate = true;
      hub.watch(request({ resourceVersion: from, allowBookmarks: true }), slow);
      const fast = new TestSink();
      hub.watch(request({ resourceVersion: from }), fast);
      let last = 0;
      for (let i = 0; i < 20; i++) last = await put(store, "a", `o${i}`, { pad: 600 });
      await fast.untilRevision(last);
      assert.equal(slow.closedWith, "slow");
      assert.ok(slow.pending > 4000, "cut off only once past the bound");
      assert.ok(slow.events.length >= 5 && slow.events.length < 10, `cut off near 4000 bytes, after ${slow.events.length} events`);
      assert.equal(slow.sentAfterEnd, 0);
      assert.equal(fast.events.length, 20);
      assert.equal(hub.stats().cutOff, 1);
      assert.equal(hub.stats().watchers, 1);
      hub.close();
      assert.equal(slow.sentAfterEnd, 0, "no final bookmark for a watcher already cut off");
      assert.equal(fast.closedWith, "shutdown");
    });
  });

  it("catch-up is paced, not cut off: replay and initial events wait for the sink to drain, then go live with nothing missed", async () => {
    await withHub({ bufferBytes: 2000, windowEvents: 4 }, async ({ store, hub }) => {
      for (let i = 0; i < 12; i++) await put(store, "a", `o${i}`, { pad: 500 });
      const replaying = new TestSink();
      replaying.accumulate = true;
      hub.watch(request({ resourceVersion: 1 }), replaying);
      const initial = new TestSink();
      initial.accumulate = true;
      hub.watch(request({ sendInitialEvents: true, allowBookmarks: true }), initial);
      // Each stopped early at the low-water mark (half the bound) instead of overrunning it.
      assert.ok(replaying.events.length < 11, `replay paused, got ${replaying.events.length}`);
      assert.ok(initial.events.length < 12, `initial events paused, got ${initial.events.length}`);
      assert.equal(replaying.closedWith, undefined);
      assert.equal(initial.closedWith, undefined);
      // A live write meanwhile is not lost: the watchers pick it up when they get there.
      await put(store, "a", "more");
      hub.pump();
      for (let round = 0; round < 100 && (replaying.pending > 0 || initial.pending > 0); round++) {
        replaying.drain();
        initial.drain();
      }
      const names = (sink: TestSink) => sink.events.filter((e) => e.type !== "BOOKMARK").map((e) => (e.object as { metadata: { name: string } }).metadata.name);
      assert.deepEqual(names(replaying), [...Array.from({ length: 11 }, (_, i) => `o${i + 1}`), "more"]);
      // Initial events come in name order.
      assert.deepEqual(names(initial).slice(0, 12), Array.from({ length: 12 }, (_, i) => `o${i}`).sort());
      assert.equal(names(initial).at(-1), "more");
      assert.equal(initial.events.filter((e) => e.type === "BOOKMARK").length, 1);
      assert.equal(hub.stats().watchers, 2);
      // Both are live now: the next write arrives at once.
      initial.accumulate = replaying.accumulate = false;
      await put(store, "a", "live");
      hub.pump();
      assert.equal(names(replaying).at(-1), "live");
      assert.equal(names(initial).at(-1), "live");
    });
  });

  it("a sink that takes one large object per drain costs each read a page of about that size, not the rest of the list", async () => {
    // Objects larger than the low-water mark: the hub stops after each one. Re-reading a
    // whole page (up to 1,000 objects) per object made initial events and replay quadratic:
    // 1,200 objects of 50 kB under --watch-buffer-bytes 64Ki streamed at 5 objects a second.
    await withHub({ bufferBytes: 2000, windowEvents: 4 }, async ({ store, hub }) => {
      const n = 60;
      for (let i = 0; i < n; i++) await put(store, "a", `o${String(i).padStart(2, "0")}`, { pad: 1500 });
      let read = 0;
      const list = store.list.bind(store);
      const changes = store.changes.bind(store);
      store.list = (o) => {
        const r = list(o);
        read += r.items.length;
        return r;
      };
      store.changes = (after, limit) => {
        const r = changes(after, limit);
        read += r.length;
        return r;
      };
      const names = (sink: TestSink) => sink.changes().map((e) => e.object.metadata.name);
      for (const r of [request({ sendInitialEvents: true }), request({ resourceVersion: 1 })]) {
        read = 0;
        const sink = new TestSink();
        sink.accumulate = true;
        hub.watch(r, sink);
        for (let round = 0; round < 10 * n && sink.changes().length < n - (r.resourceVersion ?? 0); round++) sink.drain();
        assert.equal(names(sink).length, n - (r.resourceVersion ?? 0), `all delivered (${JSON.stringify(r)})`);
        assert.ok(read <= 3 * n, `${read} items read from the store to send ${n} (${JSON.stringify(r)})`);
      }
    });
  });
});

describe("WatchHub: 410 Expired", () => {
  it("a watch from a compacted revision gets one Expired error naming R and the oldest revision, and nothing else", async () => {
    await withHub({}, async ({ store, hub, clock }) => {
      for (let i = 0; i < 20; i++) await put(store, "a", `o${i % 4}`);
      clock.advance(1000);
      const compacted = await store.compact({ minEvents: 5, windowMs: 0 });
      assert.equal(compacted, 15);
      // The hub saw all 20 changes (its window still holds them): the store's compaction decides.
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: 3 }), sink);
      assert.equal(sink.failedWith?.reason, "Expired");
      assert.equal(sink.failedWith?.message, "too old resource version: 3 (15)");
      assert.equal(sink.events.length, 0);
      assert.equal(sink.closedWith, undefined);
      assert.equal(hub.stats().watchers, 0);

      // A fresh hub (empty window) agrees.
      const fresh = new WatchHub(store, { clock, bookmarkIntervalMs: 60_000 });
      try {
        const s2 = new TestSink();
        fresh.watch(request({ resourceVersion: 14 }), s2);
        assert.equal(s2.failedWith?.message, "too old resource version: 14 (15)");
        // The oldest retained revision itself can be watched from.
        const s3 = new TestSink();
        fresh.watch(request({ resourceVersion: 15 }), s3);
        assert.equal(s3.failedWith, undefined);
        assert.deepEqual(got(s3.events), expectedFromLog(store, 15));
      } finally {
        fresh.close();
      }
      const s4 = new TestSink();
      hub.watch(request({ resourceVersion: 15 }), s4);
      assert.equal(s4.failedWith, undefined);
      assert.deepEqual(got(s4.events), expectedFromLog(store, 15));
    });
  });

  it("when another store compacts past the hub's position, every watcher gets Expired", async () => {
    await withHub({}, async ({ store, hub, clock, dir }) => {
      const from = await put(store, "a", "x");
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: from }), sink);
      // A list waiting for a revision the peer writes below.
      let waited = false;
      const waiting = hub.waitFor(from + 5).then(() => (waited = true));
      const peer = openLmdbStore(dir, { pollIntervalMs: 0, now: () => clock.now() });
      try {
        for (let i = 0; i < 10; i++) await put(peer, "a", `p${i}`);
        clock.advance(1000);
        await peer.compact({ minEvents: 2, windowMs: 0 });
      } finally {
        await peer.close();
      }
      // With polling off the hub hears nothing of the peer's commits until it pumps.
      assert.equal(sink.events.length, 0);
      hub.pump();
      assert.equal(sink.failedWith?.reason, "Expired", `events: ${summary(sink.events)}`);
      assert.equal(hub.stats().watchers, 0);
      assert.equal(hub.revision, store.head());
      // Its waiters up to the head are done at once, not after their 3 s.
      await Promise.resolve();
      assert.equal(waited, true);
      await waiting;
      // The hub goes on from the head.
      const s2 = new TestSink();
      hub.watch(request({ resourceVersion: store.head() }), s2);
      const r = await put(store, "a", "after");
      await s2.untilRevision(r);
      assert.deepEqual(got(s2.events), [`ADDED a/after ${r}`]);
    });
  });
});

describe("WatchHub: waitFor", () => {
  it("rejects with Timeout after 3 s (clock) for a revision that does not arrive", async () => {
    await withHub({}, async ({ store, hub, clock }) => {
      await put(store, "a", "x");
      const target = store.head() + 5;
      let settled = false;
      const p = hub.waitFor(target).finally(() => (settled = true));
      clock.advance(2999);
      await Promise.resolve();
      assert.equal(settled, false);
      clock.advance(1);
      await assert.rejects(p, (err: ApiError) => {
        assert.equal(err.reason, "Timeout");
        assert.match(err.message, new RegExp(`Too large resource version: ${target}`));
        return true;
      });
      // A later write does not resurrect the expired waiter.
      await put(store, "a", "y");
      hub.pump();
    });
  });

  it("resolves when the revision arrives, and at once for a revision already delivered", async () => {
    await withHub({}, async ({ store, hub, clock }) => {
      const r1 = await put(store, "a", "x");
      await hub.waitFor(r1);
      const p = hub.waitFor(r1 + 2);
      await put(store, "a", "y");
      await put(store, "a", "z");
      await p;
      assert.ok(hub.revision >= r1 + 2);
      clock.advance(5000); // the cancelled timer must not fire a rejection
    });
  });
});

describe("WatchHub: commits by another writer on the same directory", () => {
  it("a second store opened in this process: its writes are delivered in order with ours", async () => {
    await withHub({ pollIntervalMs: 5 }, (f) =>
      withPeer(f, async (peer, sink, from) => {
        const { store } = f;
        const ops: Array<Promise<number>> = [];
        for (let i = 0; i < 50; i++) {
          ops.push(put(peer, "p", `o${i % 10}`));
          ops.push(put(store, "s", `o${i % 10}`));
        }
        await Promise.all(ops);
        // Writes only by the peer: the hub learns of them by polling.
        const last = await put(peer, "p", "last");
        await sink.untilRevision(last);
        assert.deepEqual(got(sink.events), expectedFromLog(store, from));
        assert.equal(sink.events.length, 101);
        assertOrdered(sink.events);
      }),
    );
  });

  it("a peer's commit right after each of ours is found by the poll (which skips looks while nothing new is committed)", async () => {
    await withHub({ pollIntervalMs: 5 }, (f) =>
      withPeer(f, async (peer, sink, from) => {
        const { store } = f;
        for (let i = 0; i < 20; i++) {
          await put(store, "s", `o${i % 5}`);
          // Only the poll can tell the hub of this one: the peer tells no one.
          const theirs = await put(peer, "p", `o${i % 5}`);
          await sink.untilRevision(theirs);
          // Quiet polls in between must not lose the next one.
          if (i % 5 === 0) await new Promise((r) => setTimeout(r, 20));
        }
        assert.deepEqual(got(sink.events), expectedFromLog(store, from));
        assert.equal(sink.events.length, 40);
        assertOrdered(sink.events);
      }),
    );
  });

  it("another OS process: its writes are delivered too", async () => {
    await withHub({ pollIntervalMs: 5 }, async ({ store, hub, dir }) => {
      const from = await put(store, "a", "start");
      const sink = new TestSink();
      hub.watch(request({ resourceVersion: from }), sink);
      const N = 100;
      const script = `
        const [dir, n, type] = process.argv.slice(1);
        import(${JSON.stringify(STORE_MODULE.url)}).then(async ({ openLmdbStore }) => {
          const store = openLmdbStore(dir, { pollIntervalMs: 0 });
          for (let i = 0; i < Number(n); i++) {
            const name = "c" + (i % 10);
            await store.write({ type, namespace: "child", name }, (_cur, revision) => ({
              op: "put",
              object: JSON.stringify({ metadata: { name, namespace: "child", resourceVersion: String(revision) } }),
            }));
          }
          await store.close();
          process.exit(0);
        }).catch((err) => { console.error(err); process.exit(1); });
      `;
      const child = spawn(process.execPath, [...STORE_MODULE.execArgv, "-e", script, dir, String(N), WIDGETS], {
        cwd: REPO,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      // Our own writes interleave with the child's.
      const mine: number[] = [];
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      let done = false;
      void exited.then(() => (done = true));
      for (let i = 0; i < 200 && !done; i++) mine.push(await put(store, "parent", `o${i % 5}`));
      const code = await exited;
      clearTimeout(killer);
      assert.equal(code, 0, stderr);
      const last = await put(store, "a", "end");
      await sink.untilRevision(last);
      assert.deepEqual(got(sink.events), expectedFromLog(store, from));
      assert.equal(sink.events.filter((e) => e.object.metadata.namespace === "child").length, N);
      assertOrdered(sink.events);
    });
  });
});
