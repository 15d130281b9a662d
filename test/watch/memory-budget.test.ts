// The watch hub's memory budget across all watchers: when the unsent bytes of
// every watcher together pass it, the watchers furthest behind (most unsent
// bytes) are cut off first, until the total is back under 90% of it; a
// watcher that keeps up is never cut. Sinks here never drain unless told, so
// what they "hold" is exactly what the hub sent them.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import type { ApiError } from "../../src/errors.ts";
import { openLmdbStore } from "../../src/store.ts";
import { WatchHub, type CloseReason, type CutOffReason, type WatchEvent, type WatchRequest, type WatchSink } from "../../src/watch.ts";

const TYPE = "widgets.example.com";
const KiB = 1024;

class HoldingSink implements WatchSink {
  held = 0;
  closed: CloseReason | undefined;
  constructor(
    readonly name: string,
    readonly keepsUp = false,
  ) {}
  send(event: WatchEvent): void {
    if (!this.keepsUp) this.held += event.size;
  }
  buffered(): number {
    return this.held;
  }
  onDrain(listener: () => void): void {
    setImmediate(listener);
  }
  fail(_error: ApiError): void {}
  close(reason: CloseReason): void {
    this.closed = reason;
  }
}

const request = (resourceVersion: number): WatchRequest => ({
  type: TYPE,
  apiVersion: "example.com/v1",
  kind: "Widget",
  resourceVersion,
  allowBookmarks: false,
});

describe("watch memory budget", () => {
  it("cuts off the watchers furthest behind first, only down to 90% of the budget, and never one that keeps up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-budget-"));
    const store = openLmdbStore(dir, { pollIntervalMs: 0, durable: false });
    const cuts: Array<{ name: string; why: CutOffReason; bytes: number }> = [];
    const sinks = new Map<WatchRequest, HoldingSink>();
    const hub = new WatchHub(store, {
      clock: new ManualClock(0),
      bufferBytes: 100 * 1024 * KiB, // the per-watcher bound never applies here
      memoryBudgetBytes: 1024 * KiB,
      onCutOff: (r, why, bytes) => cuts.push({ name: sinks.get(r)!.name, why, bytes }),
    });
    let n = 0;
    const write = async () => {
      const name = `w-${n++}`;
      await store.write({ type: TYPE, namespace: "default", name }, (_cur, rev) => ({
        op: "put",
        object: JSON.stringify({
          apiVersion: "example.com/v1",
          kind: "Widget",
          metadata: { name, namespace: "default", resourceVersion: String(rev) },
          spec: { pad: "x".repeat(20 * KiB) },
        }),
      }));
      hub.pump();
    };
    const watch = (sink: HoldingSink) => {
      const r = request(store.head());
      sinks.set(r, sink);
      hub.watch(r, sink);
    };
    try {
      const oldest = new HoldingSink("oldest");
      const newer = new HoldingSink("newer");
      const reader = new HoldingSink("reader", true);
      watch(oldest);
      watch(reader);
      for (let i = 0; i < 20; i++) await write(); // ~400 KiB held by `oldest`
      watch(newer);
      for (let i = 0; i < 200 && !oldest.closed; i++) await write();

      assert.equal(oldest.closed, "slow", "the watcher furthest behind is cut off");
      assert.equal(newer.closed, undefined, "the newer one is kept while that is enough");
      assert.equal(reader.closed, undefined);
      assert.deepEqual(
        cuts.map((c) => [c.name, c.why]),
        [["oldest", "budget"]],
      );
      assert.ok(cuts[0]!.bytes > newer.held, "the cut watcher held the most");
      assert.ok(newer.held < 1024 * KiB * 0.9, "what is left is under 90% of the budget");
      assert.equal(hub.stats().cutOffBudget, 1);

      for (let i = 0; i < 200 && !newer.closed; i++) await write();
      assert.equal(newer.closed, "slow");
      assert.equal(reader.closed, undefined, "a watcher that keeps up is never cut");
      assert.equal(hub.stats().watchers, 1);
    } finally {
      hub.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a negative budget", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-budget-"));
    const store = openLmdbStore(dir, { pollIntervalMs: 0, durable: false });
    try {
      assert.throws(() => new WatchHub(store, { memoryBudgetBytes: -1, clock: new ManualClock(0) }), RangeError);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
