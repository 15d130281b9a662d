// The informer through its ListerWatcher seam, with an in-memory fake and a
// manual clock: no server, no sockets. List then watch from the list's
// revision, events to handlers in order, resume from the last revision after
// a watch ends, and on 410 Expired a relist whose difference becomes events.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import {
  ExpiredError,
  Informer,
  type ApiObject,
  type ListerWatcher,
  type ListResult,
  type TypeRef,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from "../../src/agent.ts";

const TYPE: TypeRef = { group: "fake.example.com", version: "v1", plural: "things" };

const obj = (name: string, rv: number): ApiObject => ({
  apiVersion: "fake.example.com/v1",
  kind: "Thing",
  metadata: { name, namespace: "default", resourceVersion: String(rv) },
});

/** A fake server: the list answers `items` at `revision`; each watch is recorded and driven by the test. */
class FakeListerWatcher implements ListerWatcher {
  items: ApiObject[] = [];
  revision = 1;
  lists = 0;
  readonly watches: Array<{ from: string; send: (e: WatchEvent) => void; end: (err?: unknown) => void; closed: boolean }> = [];
  #wake: Array<() => void> = [];

  async list<T extends ApiObject = ApiObject>(): Promise<ListResult<T>> {
    this.lists++;
    return { revision: this.revision, continue: "", items: structuredClone(this.items) as T[] };
  }

  watch(_ref: TypeRef, options: WatchOptions, onEvent: (event: WatchEvent) => void): Watch {
    let end!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => (end = (err) => (err === undefined ? resolve() : reject(err))));
    const w = { from: options.resourceVersion ?? "", send: onEvent, end, closed: false };
    options.signal?.addEventListener("abort", () => end(), { once: true });
    this.watches.push(w);
    for (const wake of this.#wake.splice(0)) wake();
    return { done, close: () => end() };
  }

  /** Resolves once watch number `n` (1-based) is open, calling `meanwhile` (e.g. to move a manual clock) while it waits. */
  async watchOpened(n: number, meanwhile: () => void = () => {}): Promise<(typeof this.watches)[number]> {
    const deadline = Date.now() + 10_000;
    while (this.watches.length < n) {
      if (Date.now() > deadline) throw new Error(`watch ${n} never opened (${this.watches.length} so far)`);
      meanwhile();
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        setTimeout(resolve, 10);
      });
    }
    return this.watches[n - 1]!;
  }
}

test("an informer over a fake ListerWatcher: list, watch, resume, and relist on 410 with synthetic deletes", async () => {
  const fake = new FakeListerWatcher();
  fake.items = [obj("a", 1), obj("b", 1)];
  fake.revision = 1;
  const clock = new ManualClock(0);
  const informer = new Informer({ client: fake, type: TYPE, clock, backoff: { initialMs: 100, maxMs: 100, jitter: 0 } });
  const log: string[] = [];
  informer.addHandlers({
    onAdd: (o) => log.push(`add:${o.metadata.name}`),
    onUpdate: (_old, o) => log.push(`update:${o.metadata.name}`),
    onDelete: (o) => log.push(`delete:${o.metadata.name}`),
  });
  const stop = new AbortController();
  const running = informer.run(stop.signal);

  const w1 = await fake.watchOpened(1);
  assert.equal(informer.hasSynced(), true);
  assert.equal(w1.from, "1", "watches from the list's revision");
  assert.deepEqual(log.splice(0).sort(), ["add:a", "add:b"]);

  w1.send({ type: "MODIFIED", object: obj("a", 2), revision: 2 });
  w1.send({ type: "ADDED", object: obj("c", 3), revision: 3 });
  w1.send({ type: "DELETED", object: obj("b", 4), revision: 4 });
  w1.send({ type: "BOOKMARK", object: obj("", 6), revision: 6 });
  assert.deepEqual(log.splice(0), ["update:a", "add:c", "delete:b"]);
  assert.equal(informer.revision, 6, "bookmarks move the revision");

  // The watch ends on purpose: after the backoff, it resumes from revision 6 without listing.
  w1.end();
  const w2 = await fake.watchOpened(2, () => clock.advance(100));
  assert.equal(w2.from, "6");
  assert.equal(fake.lists, 1);

  // 410: the informer relists; what the list lacks becomes deletes, what differs updates.
  fake.items = [obj("a", 9), obj("d", 8)];
  fake.revision = 10;
  w2.end(new ExpiredError("too old resource version: 6 (8)"));
  const w3 = await fake.watchOpened(3, () => clock.advance(100));
  assert.equal(fake.lists, 2);
  assert.equal(informer.stats.expired, 1);
  assert.equal(w3.from, "10");
  assert.deepEqual(log.splice(0).sort(), ["add:d", "delete:c", "update:a"]);
  assert.deepEqual([...informer.cache.keys()].sort(), ["default/a", "default/d"]);

  stop.abort();
  await running;
});
