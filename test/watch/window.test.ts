// The watch hub's in-memory replay window holds what its bounds say: its byte
// bound counts each transport's cached encoding of an event (made on live
// fan-out or later, on replay), it keeps of a change's previous object only
// the labels (label-selector transitions replayed from the window still come
// out right), and it lets go of events the store has compacted.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseLabelSelector } from "../../src/api/selector.ts";
import { ManualClock } from "../../src/clock.ts";
import { openLmdbStore, type Store } from "../../src/store.ts";
import { WatchEvent, WatchHub, type WatchEncoding, type WatchHubOptions, type WatchRequest, type WatchSink } from "../../src/watch.ts";

const TYPE = "widgets.example.com";

/** A sink that encodes every event with `encoding` (as a transport does) and records what it got. */
class EncodingSink implements WatchSink {
  readonly got: string[] = [];
  constructor(readonly encoding: WatchEncoding<Buffer>) {}
  send(event: WatchEvent): void {
    event.encoded(this.encoding);
    const o = JSON.parse(event.object) as { metadata: { name: string; resourceVersion: string } };
    this.got.push(`${event.type} ${o.metadata.name} ${o.metadata.resourceVersion}`);
  }
  buffered(): number {
    return 0;
  }
  onDrain(): void {}
  fail(): void {}
  close(): void {}
}

/** An encoding `factor` times the size of the object, like a transport's wire form. */
function encoding(name: string, factor: number): WatchEncoding<Buffer> {
  return { name, encode: (e) => Buffer.alloc(e.object.length * factor) };
}

async function withHub(options: WatchHubOptions, body: (store: Store, hub: WatchHub, clock: ManualClock) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-window-test-"));
  const clock = new ManualClock(1_700_000_000_000);
  const store = openLmdbStore(dir, { pollIntervalMs: 0, now: () => clock.now() });
  const hub = new WatchHub(store, { clock, bookmarkIntervalMs: 60_000, ...options });
  try {
    await body(store, hub, clock);
  } finally {
    hub.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function put(store: Store, name: string, labels: Record<string, string> = {}, pad = 1000): Promise<number> {
  const res = await store.write({ type: TYPE, namespace: "a", name }, (_current, revision) => ({
    op: "put",
    object: JSON.stringify({
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name, namespace: "a", resourceVersion: String(revision), labels },
      spec: { pad: "x".repeat(pad) },
    }),
  }));
  return res.revision;
}

function request(r: Partial<WatchRequest> = {}): WatchRequest {
  return { type: TYPE, apiVersion: "example.com/v1", kind: "Widget", allowBookmarks: false, ...r };
}

describe("WatchHub: the replay window", () => {
  it("counts each transport's encoding of an event against its byte bound, whether made live or on replay", async () => {
    await withHub({}, async (store, hub) => {
      for (let i = 0; i < 10; i++) await put(store, `o${i}`);
      hub.pump();
      const bare = hub.stats().windowBytes;
      assert.equal(hub.stats().windowEvents, 10);
      // About the objects alone (1 KiB each), and no previous objects (all were created).
      assert.ok(bare >= 10_000 && bare < 14_000, `window bytes without encodings: ${bare}`);

      // A watcher replays from the window: its transport's encodings (2x the object) are counted.
      hub.watch(request({ resourceVersion: 1 }), new EncodingSink(encoding("two", 2)));
      const withTwo = hub.stats().windowBytes;
      assert.ok(withTwo - bare >= 9 * 2 * 1000, `replayed encodings: ${withTwo - bare}`);

      // Live: a change is counted with the encodings its fan-out made.
      await put(store, "o10");
      hub.pump();
      const live = hub.stats().windowBytes - withTwo;
      assert.ok(live >= 3 * 1000, `a live event with its encoding: ${live}`);
    });
  });

  it("keeps a cached Buffer encoding in memory of its own, not in a slice of Node's shared Buffer pool", () => {
    const event = new WatchEvent("ADDED", JSON.stringify({ metadata: { name: "a" }, spec: { pad: "x".repeat(2000) } }), 1);
    const pooled: WatchEncoding<Buffer> = { name: "pooled", encode: (e) => Buffer.from(e.object) };
    assert.ok(Buffer.from("x".repeat(2000)).buffer.byteLength > 2000, "Buffer.from of 2 KB uses the pool here");
    const b = event.encoded(pooled);
    assert.equal(b.toString(), event.object);
    assert.equal(b.buffer.byteLength, b.byteLength);
    assert.equal(event.encoded(pooled), b, "cached");
  });

  it("drops events to stay under its byte bound once the encodings are counted", async () => {
    // 10 events of ~1.1 KiB fit in 16 KiB; with a 2x encoding each (~3.3 KiB) they do not.
    await withHub({ windowBytes: 16_000 }, async (store, hub) => {
      hub.watch(request({ sendInitialEvents: false }), new EncodingSink(encoding("two", 2)));
      for (let i = 0; i < 10; i++) await put(store, `o${i}`);
      hub.pump();
      const s = hub.stats();
      assert.ok(s.windowBytes <= 16_000, `window bytes ${s.windowBytes}`);
      assert.ok(s.windowEvents < 6, `window events ${s.windowEvents}`);
      // What fell out of the window is replayed from the store's log.
      const late = new EncodingSink(encoding("other", 1));
      hub.watch(request({ resourceVersion: 1 }), late);
      assert.equal(late.got.length, 9);
    });
  });

  it("keeps only the previous object's labels unless a change moved them, and label-selector transitions replayed from it still come out right", async () => {
    await withHub({}, async (store, hub) => {
      const from = await put(store, "w", { tier: "web" });
      hub.pump();
      const one = hub.stats().windowBytes; // one event: its object and a little
      for (let i = 0; i < 4; i++) await put(store, "w", { tier: "web" }); // labels stay: MODIFIED
      const left = await put(store, "w", { tier: "db" }); // leaves the selection: DELETED
      await put(store, "w", { tier: "web" }); // enters it again: ADDED
      hub.pump();
      // Of the 6 changes after the first, only the 2 that moved the labels
      // hold their previous object: the window weighs about 7 + 2 objects
      // (7 + 0 if none were kept, 7 + 6 if all were).
      const bytes = hub.stats().windowBytes;
      assert.ok(bytes > 8.5 * one && bytes < 10 * one, `window bytes ${bytes}, one event ${one}`);
      const sink = new EncodingSink(encoding("one", 1));
      hub.watch(request({ resourceVersion: from, labelSelector: parseLabelSelector("tier=web") }), sink);
      assert.deepEqual(sink.got, [
        `MODIFIED w ${from + 1}`,
        `MODIFIED w ${from + 2}`,
        `MODIFIED w ${from + 3}`,
        `MODIFIED w ${from + 4}`,
        `DELETED w ${left}`,
        `ADDED w ${left + 1}`,
      ]);
    });
  });

  it("lets go of events the store has compacted", async () => {
    await withHub({}, async (store, hub, clock) => {
      for (let i = 0; i < 20; i++) await put(store, `o${i % 4}`, {}, 10);
      hub.pump();
      assert.equal(hub.stats().windowEvents, 20);
      clock.advance(1000);
      assert.equal(await store.compact({ minEvents: 5, windowMs: 0 }), 15);
      await put(store, "o0", {}, 10);
      hub.pump();
      assert.equal(hub.stats().windowEvents, 6, "revisions 16..21");
      // A watch from the oldest retained revision still gets everything after it.
      const sink = new EncodingSink(encoding("one", 1));
      hub.watch(request({ resourceVersion: 15 }), sink);
      assert.equal(sink.got.length, 6);
    });
  });

  it("replays from any point of a full window after it has dropped thousands of events", async () => {
    await withHub({ windowEvents: 1500 }, async (store, hub) => {
      // 5,000 changes through a window of 1,500: it drops 3,500 of them one by
      // one, giving back its emptied front (src/watch/deque.ts) twice on the way.
      await Promise.all(Array.from({ length: 5000 }, (_, i) => put(store, `o${i}`, {}, 10)));
      hub.pump();
      const head = store.head();
      assert.equal(hub.stats().windowEvents, 1500);
      for (const from of [head - 1500, head - 1499, head - 777, head - 1, head]) {
        const sink = new EncodingSink(encoding("one", 1));
        hub.watch(request({ resourceVersion: from }), sink);
        const revisions = sink.got.map((line) => Number(line.split(" ")[2]));
        assert.deepEqual(
          revisions,
          Array.from({ length: head - from }, (_, i) => from + 1 + i),
          `from ${from}`,
        );
      }
    });
  });
});
