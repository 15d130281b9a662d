// The Store contract (src/store/types.ts, API.md §2) as one node:test suite
// that every backend runs: `runStoreContract("lmdb", makeLmdbStore)`. It uses
// the public Store interface only. Time is injected (`now`), so compaction by
// age is deterministic; cross-store visibility is awaited through `onCommit`
// with a deadline, never with sleeps.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConflictError, ExpiredError, NotFoundError } from "../../src/errors.ts";
import type { Change, ListOptions, ObjectKey, Store, StoredObject, WriteResult } from "../../src/store/types.ts";
import { prng } from "../helpers/fuzz.ts";
import { storeProperty } from "./contract-property.ts";

/** What a backend's test file hands the suite: a fresh store and ways to reach its location again. */
export interface StoreFixture {
  /** A fresh, empty store. */
  store: Store;
  /** Closes the fixture's current main store (`store`, or the last one `reopen` returned) and opens its location again, as after a restart. */
  reopen(): Promise<Store>;
  /** Opens another store on the same location, as a second server process (or replica) would: every backend must. */
  openPeer(): Promise<Store>;
  /** Closes whatever is still open and removes the location. */
  cleanup(): Promise<void>;
}

export interface MakeStoreOptions {
  /** The clock every store of this fixture stamps its changes with. */
  now: () => number;
}

export type MakeStore = (options: MakeStoreOptions) => Promise<StoreFixture>;

const WIDGETS = "widgets.example.com";
/** A type whose name extends WIDGETS: must never show up in WIDGETS' lists. */
const WIDGETS_AU = "widgets.example.com.au";
const NODES = "nodes.example.com"; // cluster-scoped
const _COUNTERS = "counters.example.com";

/** Deadline for anything awaited through onCommit. */
const DEADLINE_MS = 10_000;

function key(namespace: string, name: string, type = WIDGETS): ObjectKey {
  return { type, namespace, name };
}

/** The JSON a write stores: its key, the revision it was given and some payload. */
function objectJson(k: ObjectKey, revision: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    kind: k.type,
    metadata: { namespace: k.namespace, name: k.name, resourceVersion: String(revision) },
    ...extra,
  });
}

interface Parsed {
  kind: string;
  metadata: { namespace: string; name: string; resourceVersion: string };
  [field: string]: unknown;
}

function parse(json: string): Parsed {
  return JSON.parse(json) as Parsed;
}

function put(store: Store, k: ObjectKey, extra: Record<string, unknown> = {}): Promise<WriteResult> {
  return store.write(k, (_current, revision) => ({ op: "put", object: objectJson(k, revision, extra) }));
}

/** Deletes an existing object; the DELETED change carries its last state marked `deleted: true` at the deletion's revision. */
function del(store: Store, k: ObjectKey): Promise<WriteResult> {
  return store.write(k, (current, revision) => {
    if (!current) throw new NotFoundError(`test: ${k.namespace}/${k.name} not found`);
    const last = parse(current.json);
    return { op: "delete", object: objectJson(k, revision, { v: last["v"], deleted: true }) };
  });
}

/** "namespace/name" of each item, to compare lists readably. */
function names(items: string[]): string[] {
  return items.map((json) => {
    const { metadata } = parse(json);
    return `${metadata.namespace}/${metadata.name}`;
  });
}

/** Walks every page of a list with `options.limit`, passing `next` on as `after` and calling `between` between pages; checks each page's shape. */
async function listAllPages(
  store: Store,
  options: ListOptions & { limit: number },
  between?: () => Promise<void>,
): Promise<{ items: string[]; pages: number; revisions: number[] }> {
  const { limit } = options;
  const items: string[] = [];
  const revisions: number[] = [];
  let after = options.after;
  let pages = 0;
  // Without a filter, each cut page also counts the items after it (countRemaining),
  // up to a bound small enough that most lists here pass it on their first pages.
  const counting = !options.filter;
  const bound = 6;
  const remaining: Array<{ page: number; counted: number | undefined; seen: number }> = [];
  for (;;) {
    const page = store.list({ ...options, ...(after ? { after } : {}), countRemaining: counting ? bound : undefined });
    pages++;
    revisions.push(page.revision);
    assert.ok(page.items.length <= limit, `page ${pages} has ${page.items.length} items, limit ${limit}`);
    items.push(...page.items);
    if (!page.next) {
      assert.equal(page.remaining, undefined, "no remaining count on the last page");
      break;
    }
    remaining.push({ page: pages, counted: page.remaining, seen: items.length });
    assert.equal(page.items.length, limit, `page ${pages} is short (${page.items.length} < ${limit}) yet has next`);
    const last = parse(page.items[page.items.length - 1]!).metadata;
    assert.deepEqual(page.next, { namespace: last.namespace, name: last.name }, "next is the last item of the page");
    after = page.next;
    assert.ok(pages < 1000, "pagination does not terminate");
    if (between) await between();
  }
  for (const r of remaining) {
    if (!counting) assert.equal(r.counted, undefined, `page ${r.page}: no remaining count with a filter`);
    // Pages served at one revision (none moved on between them): what follows a page is what the later pages held.
    else if (new Set(revisions).size === 1) {
      const follow = items.length - r.seen;
      assert.equal(r.counted, follow <= bound ? follow : undefined, `page ${r.page}: remaining (${follow} follow, counted up to ${bound})`);
    }
  }
  return { items, pages, revisions };
}

/**
 * Resolves once `until()` holds, checking now and at every onCommit notification of `store`;
 * rejects naming `what` after `ms` (default 10 s).
 */
export function waitForCommit(store: Store, options: { what: string; until: () => boolean; ms?: number }): Promise<void> {
  const { what, until: condition, ms = DEADLINE_MS } = options;
  return new Promise((resolve, reject) => {
    if (condition()) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const off = store.onCommit(() => {
      if (!condition()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Resolves at the next onCommit notification of `store`; rejects naming `what` after 10 s. */
function nextCommit(store: Store, what: string): Promise<void> {
  const ms = DEADLINE_MS;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const off = store.onCommit(() => {
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

function assertExpired(fn: () => unknown, revision: number, oldest: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ExpiredError, `expected ExpiredError, got ${String(err)}`);
    assert.equal(err.reason, "Expired");
    assert.equal(err.message, `too old resource version: ${revision} (${oldest})`);
    return true;
  });
}

/** A clock the test moves by hand. */
function manualClock(start = 1_800_000_000_000): { now: () => number; set(ms: number): void; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set(ms) {
      t = ms;
    },
    advance(ms) {
      t += ms;
    },
  };
}

/** Registers the Store contract tests for one backend. */
export function runStoreContract(name: string, makeStore: MakeStore): void {
  /**
   * Runs `fn` on a fresh fixture and always cleans it up. `rev(n)` is the
   * revision of the fixture's n-th write: n itself on a backend that starts
   * at 0, the head at open plus n on one that shares a revision counter (etcd:
   * the suite's writes are then the only ones, so each still takes the next).
   */
  async function withStore(fn: (f: StoreFixture, clock: ReturnType<typeof manualClock>, rev: (n: number) => number) => Promise<void>): Promise<void> {
    const clock = manualClock();
    const fixture = await makeStore({ now: clock.now });
    const base = fixture.store.head();
    try {
      await fn(fixture, clock, (n) => base + n);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`${name}: Store contract`, () => {
    describe("revisions", () => {
      it("an empty store is at revision 0 with nothing in it", () =>
        withStore(async ({ store }, _clock, rev) => {
          assert.equal(store.head(), rev(0));
          assert.equal(store.compacted(), rev(0));
          assert.equal(store.get(key("a", "x")), undefined);
          assert.deepEqual(store.list({ type: WIDGETS }), { items: [], revision: rev(0) });
          assert.deepEqual(store.changes(rev(0), 10), []);
        }));

      it("start at 1 and grow by exactly one per put or delete, across types and keys", () =>
        withStore(async ({ store }, _clock, rev) => {
          const steps: Array<[string, () => Promise<WriteResult>]> = [
            ["create widget a/x", () => put(store, key("a", "x"))],
            ["create node y", () => put(store, key("", "y", NODES))],
            ["update widget a/x", () => put(store, key("a", "x"), { v: 2 })],
            ["create widget b/x", () => put(store, key("b", "x"))],
            ["delete node y", () => del(store, key("", "y", NODES))],
            ["recreate node y", () => put(store, key("", "y", NODES))],
            ["delete widget a/x", () => del(store, key("a", "x"))],
          ];
          let expected = rev(0);
          for (const [what, step] of steps) {
            const result = await step();
            expected++;
            assert.equal(result.revision, expected, what);
            assert.equal(store.head(), expected, `head after ${what}`);
          }
          assert.deepEqual(
            store.changes(rev(0), 100).map((c) => c.revision),
            [1, 2, 3, 4, 5, 6, 7].map(rev),
          );
        }));

      it("put stores the decided JSON at the write's revision and reports it", () =>
        withStore(async ({ store }, _clock, rev) => {
          const k = key("a", "x");
          const created = await put(store, k, { v: 1 });
          assert.deepEqual(created, { revision: rev(1), object: objectJson(k, rev(1), { v: 1 }), op: "put" });
          assert.deepEqual(store.get(k), { json: objectJson(k, rev(1), { v: 1 }), revision: rev(1) });
          await put(store, key("a", "other"));
          const updated = await put(store, k, { v: 2 });
          assert.equal(updated.revision, rev(3));
          assert.deepEqual(store.get(k), { json: objectJson(k, rev(3), { v: 2 }), revision: rev(3) });
          assert.equal(store.get(key("a", "other"))?.revision, rev(2), "other keys keep their revision");
        }));

      it("a delete removes the object and reports its last state", () =>
        withStore(async ({ store }, _clock, rev) => {
          const k = key("a", "x");
          await put(store, k, { v: 1 });
          const deleted = await del(store, k);
          assert.deepEqual(deleted, { revision: rev(2), object: objectJson(k, rev(2), { v: 1, deleted: true }), op: "delete" });
          assert.equal(store.get(k), undefined);
          assert.deepEqual(store.list({ type: WIDGETS }).items, []);
          assert.equal(store.head(), rev(2));
        }));

      it("a `none` decision writes nothing and takes no revision", () =>
        withStore(async ({ store }, _clock, rev) => {
          const k = key("a", "x");
          const absent = await store.write(k, () => ({ op: "none" }));
          assert.equal(absent.op, "none");
          assert.equal(absent.object, undefined);
          assert.equal(store.head(), rev(0));
          assert.equal(store.get(k), undefined);

          await put(store, k, { v: 1 });
          await put(store, key("a", "y"));
          const present = await store.write(k, () => ({ op: "none" }));
          assert.deepEqual(present, { revision: rev(1), object: objectJson(k, rev(1), { v: 1 }), op: "none" });
          assert.equal(store.head(), rev(2));
          assert.equal(store.changes(rev(0), 100).length, 2);
          const next = await put(store, key("a", "z"));
          assert.equal(next.revision, rev(3), "the revision after a none is the next one, not one past it");
        }));

      it("the decider gets the current object and the revision the write would get", () =>
        withStore(async ({ store }, _clock, rev) => {
          const k = key("a", "x");
          const seen: Array<[StoredObject | undefined, number]> = [];
          const record = (op: "put" | "delete" | "none", extra: Record<string, unknown> = {}) =>
            store.write(k, (current, revision) => {
              seen.push([current, revision]);
              return op === "none" ? { op } : { op, object: objectJson(k, revision, extra) };
            });
          await record("put", { v: 1 });
          await put(store, key("b", "y"));
          await record("none");
          await record("put", { v: 2 });
          await record("delete");
          await record("put", { v: 3 });
          assert.deepEqual(seen, [
            [undefined, rev(1)],
            [{ json: objectJson(k, rev(1), { v: 1 }), revision: rev(1) }, rev(3)],
            [{ json: objectJson(k, rev(1), { v: 1 }), revision: rev(1) }, rev(3)],
            [{ json: objectJson(k, rev(3), { v: 2 }), revision: rev(3) }, rev(4)],
            [undefined, rev(5)],
          ]);
        }));

      it("a throwing decider rejects the write with its error and writes nothing", () =>
        withStore(async ({ store }, _clock, rev) => {
          const k = key("a", "x");
          await put(store, k, { v: 1 });
          const conflict = new ConflictError("test: the object has been modified");
          await assert.rejects(
            store.write(k, () => {
              throw conflict;
            }),
            (err: unknown) => err === conflict,
          );
          const typeError = new TypeError("test: not an object");
          await assert.rejects(
            store.write(key("a", "new"), () => {
              throw typeError;
            }),
            (err: unknown) => err === typeError,
          );
          assert.equal(store.head(), rev(1), "head unchanged");
          assert.deepEqual(store.get(k), { json: objectJson(k, rev(1), { v: 1 }), revision: rev(1) }, "object unchanged");
          assert.equal(store.get(key("a", "new")), undefined, "nothing created");
          assert.deepEqual(
            store.changes(rev(0), 100).map((c) => c.revision),
            [rev(1)],
            "no log entry",
          );
          assert.deepEqual(names(store.list({ type: WIDGETS }).items), ["a/x"]);
          assert.equal((await put(store, key("a", "y"))).revision, rev(2), "no revision was used up");
        }));

      it("a throwing decider among concurrent writes aborts only its own write", () =>
        withStore(async ({ store }, _clock, rev) => {
          const conflict = new ConflictError("test: precondition failed");
          const writes = Array.from({ length: 10 }, (_, i) =>
            i % 3 === 1
              ? store.write(key("a", `w${i}`), () => {
                  throw conflict;
                })
              : put(store, key("a", `w${i}`)),
          );
          const settled = await Promise.allSettled(writes);
          const ok = settled.filter((s): s is PromiseFulfilledResult<WriteResult> => s.status === "fulfilled");
          const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected");
          assert.equal(failed.length, 3);
          for (const f of failed) assert.equal(f.reason, conflict);
          assert.deepEqual(
            ok.map((s) => s.value.revision).sort((x, y) => x - y),
            [1, 2, 3, 4, 5, 6, 7].map(rev),
          );
          assert.equal(store.head(), rev(7));
          assert.deepEqual(names(store.list({ type: WIDGETS }).items), ["a/w0", "a/w2", "a/w3", "a/w5", "a/w6", "a/w8", "a/w9"]);
        }));

      it("compare-and-swap: 50 concurrent read-increment-writes end at 50, using revisions 1..50 once each", () =>
        withStore(async ({ store }, _clock, rev) => {
          const k = key("a", "counter");
          const increment = () =>
            store.write(k, (current, revision) => {
              const n = current ? (parse(current.json)["n"] as number) : 0;
              return { op: "put", object: objectJson(k, revision, { n: n + 1 }) };
            });
          const results = await Promise.all(Array.from({ length: 50 }, increment));
          const revisions = results.map((r) => r.revision).sort((x, y) => x - y);
          assert.deepEqual(
            revisions,
            Array.from({ length: 50 }, (_, i) => rev(i + 1)),
          );
          const final = store.get(k);
          assert.ok(final);
          assert.equal(parse(final.json)["n"], 50);
          assert.equal(final.revision, rev(50));
          assert.equal(store.head(), rev(50));
          // Each write saw the one before it: the counter equals the revision at every step.
          const log = store.changes(rev(0), 100);
          assert.deepEqual(
            log.map((c) => c.revision),
            revisions,
          );
          for (const c of log) assert.equal(rev(parse(c.object)["n"] as number), c.revision);
        }));

      it("concurrent writes to many keys and types get distinct, gap-free revisions", () =>
        withStore(async ({ store }, _clock, rev) => {
          const types = [WIDGETS, WIDGETS_AU, NODES];
          const results = await Promise.all(
            Array.from({ length: 60 }, (_, i) => put(store, key(types[i % 3] === NODES ? "" : `ns${i % 4}`, `o${i}`, types[i % 3]))),
          );
          assert.deepEqual(
            results.map((r) => r.revision).sort((x, y) => x - y),
            Array.from({ length: 60 }, (_, i) => rev(i + 1)),
          );
          for (const r of results) {
            assert.equal(parse(r.object!).metadata.resourceVersion, String(r.revision), "stored JSON carries its own revision");
          }
          assert.equal(store.head(), rev(60));
        }));
    });

    describe("get and list", () => {
      const namespaces = ["a", "a-b", "b"];
      const objectNames = ["a", "a-b", "a.b", "ab", "b"];
      /** Creates the same objects in shuffled order: widgets in 3 namespaces, lookalike types, cluster-scoped nodes. */
      async function seed(store: Store): Promise<void> {
        const keys: ObjectKey[] = [];
        for (const ns of namespaces) for (const n of objectNames) keys.push(key(ns, n));
        for (const n of objectNames) keys.push(key("", n, NODES));
        keys.push(key("a", "a", WIDGETS_AU), key("a", "zz", WIDGETS_AU), key("", "a", WIDGETS_AU));
        const random = prng(7);
        for (let i = keys.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [keys[i], keys[j]] = [keys[j]!, keys[i]!];
        }
        for (const k of keys) await put(store, k, { v: `${k.type}:${k.namespace}/${k.name}` });
      }
      const allWidgets = namespaces.flatMap((ns) => objectNames.map((n) => `${ns}/${n}`));

      it("lists in (namespace, name) order, each type on its own", () =>
        withStore(async ({ store }) => {
          await seed(store);
          const all = store.list({ type: WIDGETS });
          assert.deepEqual(names(all.items), allWidgets);
          assert.equal(all.revision, store.head());
          assert.equal(all.next, undefined);
          for (const json of all.items) assert.equal(parse(json).kind, WIDGETS);
          assert.deepEqual(names(store.list({ type: WIDGETS_AU }).items), ["/a", "a/a", "a/zz"]);
          assert.deepEqual(store.list({ type: "widgets.example" }).items, [], "a type's prefix is another type");
          assert.deepEqual(store.list({ type: "nothing.example.com" }).items, []);
        }));

      it("filters by namespace without mixing namespaces that share a prefix", () =>
        withStore(async ({ store }) => {
          await seed(store);
          for (const ns of namespaces) {
            assert.deepEqual(
              names(store.list({ type: WIDGETS, namespace: ns }).items),
              objectNames.map((n) => `${ns}/${n}`),
              ns,
            );
          }
          assert.deepEqual(store.list({ type: WIDGETS, namespace: "" }).items, []);
          assert.deepEqual(store.list({ type: WIDGETS, namespace: "a-" }).items, []);
          assert.deepEqual(store.list({ type: WIDGETS, namespace: "c" }).items, []);
        }));

      it('serves cluster-scoped objects (namespace "")', () =>
        withStore(async ({ store }) => {
          await seed(store);
          const expected = objectNames.map((n) => `/${n}`);
          assert.deepEqual(names(store.list({ type: NODES }).items), expected);
          assert.deepEqual(names(store.list({ type: NODES, namespace: "" }).items), expected);
          assert.deepEqual(store.list({ type: NODES, namespace: "a" }).items, []);
          assert.equal(parse(store.get(key("", "a-b", NODES))!.json)["v"], `${NODES}:/a-b`);
        }));

      it("gets exactly the addressed object", () =>
        withStore(async ({ store }) => {
          await seed(store);
          for (const ns of namespaces) {
            for (const n of objectNames) {
              const got = store.get(key(ns, n));
              assert.ok(got, `${ns}/${n}`);
              assert.equal(parse(got.json)["v"], `${WIDGETS}:${ns}/${n}`);
            }
          }
          assert.equal(store.get(key("a", "a-")), undefined);
          assert.equal(store.get(key("a", "")), undefined);
          assert.equal(store.get(key("", "a")), undefined, "a namespaced object is not found cluster-wide");
          assert.equal(store.get(key("a", "a-b", NODES)), undefined);
          assert.equal(store.get(key("a", "a.b", WIDGETS_AU)), undefined);
          assert.equal(parse(store.get(key("a", "a", WIDGETS_AU))!.json)["v"], `${WIDGETS_AU}:a/a`);
        }));

      it("`after` resumes strictly after a (namespace, name), present or not", () =>
        withStore(async ({ store }) => {
          await seed(store);
          const after = (namespace: string, name: string, ns?: string) =>
            names(store.list({ type: WIDGETS, after: { namespace, name }, ...(ns === undefined ? {} : { namespace: ns }) }).items);
          assert.deepEqual(after("a", "a"), allWidgets.slice(1));
          assert.deepEqual(after("a", "a-b"), allWidgets.slice(2));
          assert.deepEqual(after("a", "aa"), allWidgets.slice(3), "an absent name: resume at the next one");
          assert.deepEqual(after("a", "b"), allWidgets.slice(5), "the end of a namespace: the next namespace");
          assert.deepEqual(after("a", "zzz"), allWidgets.slice(5));
          assert.deepEqual(after("a-b", "b"), allWidgets.slice(10));
          assert.deepEqual(after("b", "b"), []);
          assert.deepEqual(after("", ""), allWidgets);
          assert.deepEqual(
            after("a", "a", "a"),
            objectNames.slice(1).map((n) => `a/${n}`),
          );
          assert.deepEqual(after("a", "b", "a"), []);
          assert.deepEqual(after("a-b", "a.b", "a-b"), ["a-b/ab", "a-b/b"]);
        }));

      it("`limit` + `next` pagination covers every item exactly once, in order", () =>
        withStore(async ({ store }) => {
          await seed(store);
          for (const limit of [1, 2, 3, 4, 5, 7, 14, 15, 16, 100]) {
            const { items, pages } = await listAllPages(store, { type: WIDGETS, limit });
            assert.deepEqual(names(items), allWidgets, `limit ${limit}`);
            assert.ok(pages >= Math.ceil(allWidgets.length / limit), `limit ${limit}: ${pages} pages`);
            const one = await listAllPages(store, { type: WIDGETS, namespace: "a-b", limit });
            assert.deepEqual(
              names(one.items),
              objectNames.map((n) => `a-b/${n}`),
              `namespace a-b, limit ${limit}`,
            );
          }
          const first = store.list({ type: WIDGETS, limit: 4 });
          assert.deepEqual(names(first.items), allWidgets.slice(0, 4));
          assert.equal(first.remaining, undefined, "not counted unless asked");
          const follow = allWidgets.length - 4;
          assert.equal(store.list({ type: WIDGETS, limit: 4, countRemaining: follow }).remaining, follow, "counted up to the bound");
          assert.equal(store.list({ type: WIDGETS, limit: 4, countRemaining: follow - 1 }).remaining, undefined, "past the bound: left out");
          assert.deepEqual(first.next, { namespace: "a", name: "ab" });
          const rest = store.list({ type: WIDGETS, limit: 100 });
          assert.equal(rest.next, undefined, "no next when the limit did not cut the list");
        }));

      it("`filter` keeps matching items and is applied before `limit`", () =>
        withStore(async ({ store }) => {
          await seed(store);
          const calls: Array<[string, string, string]> = [];
          const ab = store.list({
            type: WIDGETS,
            filter: (json, namespace, name) => {
              calls.push([namespace, name, parse(json)["v"] as string]);
              return name === "ab";
            },
          });
          assert.deepEqual(names(ab.items), ["a/ab", "a-b/ab", "b/ab"]);
          for (const [ns, n, v] of calls) assert.equal(v, `${WIDGETS}:${ns}/${n}`, "filter gets an item's own namespace and name");
          assert.equal(calls.length, allWidgets.length, "filter sees each item once");

          const startsWithA = (_json: string, _ns: string, n: string) => n.startsWith("a");
          const first = store.list({ type: WIDGETS, filter: startsWithA, limit: 5 });
          assert.deepEqual(names(first.items), ["a/a", "a/a-b", "a/a.b", "a/ab", "a-b/a"]);
          const pages = await listAllPages(store, { type: WIDGETS, filter: startsWithA, limit: 3 });
          assert.deepEqual(
            names(pages.items),
            allWidgets.filter((s) => s.split("/")[1]!.startsWith("a")),
          );
          // The limit is reached with the last matching item: nothing is cut, so no next.
          const exact = store.list({ type: WIDGETS, filter: (_json, _ns, n) => n === "a", limit: 3 });
          assert.deepEqual(names(exact.items), ["a/a", "a-b/a", "b/a"]);
          assert.equal(exact.next, undefined, "no next when no later item matches");
          const none = store.list({ type: WIDGETS, filter: () => false, limit: 2 });
          assert.deepEqual(none.items, []);
          assert.equal(none.next, undefined);
        }));
    });

    describe("reads at a past revision", () => {
      it("list({revision}) returns exactly the state at every retained revision", () =>
        withStore(async ({ store }, _clock, rev) => {
          // A scripted random history over two namespaces and a second type; after each write,
          // remember what the newest list showed. Then ask for every revision again.
          const random = prng(42);
          const snapshots: Array<{ all: string[]; a: string[]; b: string[]; other: string[] }> = [];
          const snap = () => ({
            all: store.list({ type: WIDGETS }).items,
            a: store.list({ type: WIDGETS, namespace: "a" }).items,
            b: store.list({ type: WIDGETS, namespace: "b" }).items,
            other: store.list({ type: WIDGETS_AU }).items,
          });
          snapshots.push(snap());
          for (let i = 0; i < 80; i++) {
            const type = random() < 0.2 ? WIDGETS_AU : WIDGETS;
            const k = key(random() < 0.5 ? "a" : "b", `o${Math.floor(random() * 8)}`, type);
            if (store.get(k) && random() < 0.35) await del(store, k);
            else await put(store, k, { v: i });
            snapshots.push(snap());
            assert.equal(store.head(), rev(snapshots.length - 1));
          }
          const deletes = store.changes(rev(0), 1000).filter((c) => c.type === "DELETED").length;
          assert.ok(deletes >= 5, `the history has deletes (${deletes})`);
          for (let i = 0; rev(i) <= store.head(); i++) {
            const r = rev(i);
            const want = snapshots[i]!;
            const all = store.list({ type: WIDGETS, revision: r });
            assert.equal(all.revision, r);
            assert.deepEqual(all.items, want.all, `all at ${r}`);
            assert.deepEqual(store.list({ type: WIDGETS, namespace: "a", revision: r }).items, want.a, `a at ${r}`);
            assert.deepEqual(store.list({ type: WIDGETS, namespace: "b", revision: r }).items, want.b, `b at ${r}`);
            assert.deepEqual(store.list({ type: WIDGETS_AU, revision: r }).items, want.other, `other type at ${r}`);
            const paged = await listAllPages(store, { type: WIDGETS, revision: r, limit: 2 });
            assert.deepEqual(paged.items, want.all, `paged at ${r}`);
            assert.ok(paged.revisions.every((x) => x === r));
          }
        }));

      it("includes objects deleted since, excludes ones added since, shows previous versions", () =>
        withStore(async ({ store }, _clock, rev) => {
          for (const n of ["k1", "k2", "k3", "k4", "k5"]) await put(store, key("a", n), { v: 1 });
          await put(store, key("b", "k1"), { v: 1 });
          const r = store.head();
          const atR = store.list({ type: WIDGETS }).items;

          await put(store, key("a", "k2"), { v: 2 }); // modified
          await put(store, key("a", "k2"), { v: 3 }); // modified twice
          await del(store, key("a", "k3")); // deleted
          await del(store, key("a", "k4"));
          await put(store, key("a", "k4"), { v: 2 }); // deleted and recreated
          await put(store, key("a", "k0"), { v: 1 }); // added, sorts first
          await put(store, key("a", "k6"), { v: 1 }); // added, sorts last
          await put(store, key("a", "k7"), { v: 1 });
          await del(store, key("a", "k7")); // added and deleted
          await del(store, key("b", "k1"));
          await put(store, key("c", "k1"), { v: 1 }); // a new namespace
          await put(store, key("a", "k1", WIDGETS_AU), { v: 1 }); // another type

          assert.deepEqual(names(store.list({ type: WIDGETS }).items), ["a/k0", "a/k1", "a/k2", "a/k4", "a/k5", "a/k6", "c/k1"]);
          const past = store.list({ type: WIDGETS, revision: r });
          assert.equal(past.revision, r);
          assert.deepEqual(past.items, atR);
          assert.deepEqual(names(past.items), ["a/k1", "a/k2", "a/k3", "a/k4", "a/k5", "b/k1"]);
          for (const json of past.items) assert.equal(parse(json)["v"], 1, "versions as of r");
          assert.deepEqual(store.list({ type: WIDGETS, namespace: "a", revision: r }).items, atR.slice(0, 5));
          assert.deepEqual(names(store.list({ type: WIDGETS, namespace: "c", revision: r }).items), []);
          assert.deepEqual(store.list({ type: WIDGETS_AU, revision: r }).items, []);
          assert.deepEqual(store.list({ type: WIDGETS, revision: rev(0) }).items, [], "nothing existed at the start");
          assert.deepEqual(names(store.list({ type: WIDGETS, revision: r, after: { namespace: "a", name: "k2" } }).items), ["a/k3", "a/k4", "a/k5", "b/k1"]);
          const filtered = store.list({ type: WIDGETS, revision: r, filter: (json) => parse(json)["v"] === 1 });
          assert.deepEqual(filtered.items, atR, "filter sees the past JSON");
        }));

      it("pages at a past revision stay at that revision while writes continue between pages", () =>
        withStore(async ({ store }) => {
          for (let i = 0; i < 12; i++) await put(store, key(i % 2 ? "a" : "b", `o${String(i).padStart(2, "0")}`), { v: 1 });
          const r = store.head();
          const atR = store.list({ type: WIDGETS }).items;
          let step = 0;
          const { items, revisions, pages } = await listAllPages(store, { type: WIDGETS, revision: r, limit: 3 }, async () => {
            // Churn every part of the key space: before, at and after the next page.
            step++;
            await put(store, key("a", `o${String(step * 2 - 1).padStart(2, "0")}`), { v: 2 });
            const victim = key("b", `o${String(step * 2 + 2).padStart(2, "0")}`);
            if (store.get(victim)) await del(store, victim);
            await put(store, key("a", `o${String(step * 2 + 1).padStart(2, "0")}x`), { v: 9 });
            await put(store, key("a-b", `new${step}`), { v: 9 });
            await put(store, key("", `new${step}`), { v: 9 });
          });
          assert.ok(pages >= 4, `${pages} pages`);
          assert.ok(store.head() > r + 10, "writes happened between pages");
          assert.deepEqual(items, atR);
          assert.ok(
            revisions.every((x) => x === r),
            `every page served at ${r}: ${revisions.join(",")}`,
          );
          assert.notDeepEqual(store.list({ type: WIDGETS }).items, atR, "the newest state did move on");
        }));

      it("pages pinned to the first page's revision do not see later writes", () =>
        withStore(async ({ store }) => {
          for (let i = 0; i < 9; i++) await put(store, key("a", `o${i}`), { v: 1 });
          const first = store.list({ type: WIDGETS, limit: 4 });
          const pinned = first.revision;
          assert.equal(pinned, store.head());
          await put(store, key("a", "o5"), { v: 2 });
          await put(store, key("a", "o55"), { v: 2 });
          await del(store, key("a", "o8"));
          const rest = await listAllPages(store, { type: WIDGETS, revision: pinned, after: first.next!, limit: 4 });
          assert.deepEqual(
            names([...first.items, ...rest.items]),
            [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => `a/o${i}`),
          );
          for (const json of rest.items) assert.equal(parse(json)["v"], 1);
        }));
    });

    describe("change log", () => {
      it("records ADDED, MODIFIED and DELETED in order, with previous states and commit times", () =>
        withStore(async ({ store }, clock, rev) => {
          const x = key("a", "x");
          const n = key("", "n", NODES);
          const t0 = clock.now();
          await put(store, x, { v: 1 });
          clock.advance(10);
          await put(store, x, { v: 2 });
          clock.advance(10);
          await put(store, n, { v: 1 });
          clock.advance(10);
          await del(store, x);
          clock.advance(10);
          await del(store, n);
          const expected: Change[] = [
            { revision: rev(1), type: "ADDED", key: x, object: objectJson(x, rev(1), { v: 1 }), time: t0 },
            { revision: rev(2), type: "MODIFIED", key: x, object: objectJson(x, rev(2), { v: 2 }), previous: objectJson(x, rev(1), { v: 1 }), time: t0 + 10 },
            { revision: rev(3), type: "ADDED", key: n, object: objectJson(n, rev(3), { v: 1 }), time: t0 + 20 },
            {
              revision: rev(4),
              type: "DELETED",
              key: x,
              object: objectJson(x, rev(4), { v: 2, deleted: true }),
              previous: objectJson(x, rev(2), { v: 2 }),
              time: t0 + 30,
            },
            {
              revision: rev(5),
              type: "DELETED",
              key: n,
              object: objectJson(n, rev(5), { v: 1, deleted: true }),
              previous: objectJson(n, rev(3), { v: 1 }),
              time: t0 + 40,
            },
          ];
          const log = store.changes(rev(0), 100);
          assert.deepEqual(log, expected);
          for (const c of log) if (c.type === "ADDED") assert.equal(c.previous, undefined);
        }));

      it("the DELETED object is what the decider returned, not the stored one", () =>
        withStore(async ({ store }, _clock, rev) => {
          const x = key("a", "x");
          await put(store, x, { v: 1 });
          const last = JSON.stringify({ custom: "tombstone", rv: "2" });
          await store.write(x, () => ({ op: "delete", object: last }));
          const [change] = store.changes(rev(1), 10);
          assert.ok(change);
          assert.equal(change.type, "DELETED");
          assert.equal(change.object, last);
          assert.equal(change.previous, objectJson(x, rev(1), { v: 1 }));
        }));

      it("changes(after, limit) starts after `after` and returns at most `limit`", () =>
        withStore(async ({ store }, _clock, rev) => {
          for (let i = 0; i < 10; i++) await put(store, key("a", `o${i % 3}`, i % 2 ? WIDGETS : NODES), { v: i });
          const revs = (after: number, limit: number) => store.changes(rev(after), limit).map((c) => c.revision - rev(0));
          assert.deepEqual(revs(0, 3), [1, 2, 3]);
          assert.deepEqual(revs(3, 3), [4, 5, 6]);
          assert.deepEqual(revs(6, 100), [7, 8, 9, 10]);
          assert.deepEqual(revs(9, 1), [10]);
          assert.deepEqual(revs(10, 5), []);
          assert.deepEqual(revs(0, 1), [1]);
          // Walking in pages of any size sees the same log.
          const whole = store.changes(rev(0), 100);
          for (const size of [1, 2, 3, 4, 7]) {
            const walked: Change[] = [];
            for (let after = rev(0); ; ) {
              const page = store.changes(after, size);
              if (page.length === 0) break;
              assert.ok(page.length <= size);
              walked.push(...page);
              after = page[page.length - 1]!.revision;
            }
            assert.deepEqual(walked, whole, `pages of ${size}`);
          }
        }));
    });

    describe("compaction", () => {
      /** Writes `n` changes one `stepMs` apart (revision i at start + i*stepMs); returns the snapshot after each. */
      async function history(store: Store, clock: ReturnType<typeof manualClock>, n: number, stepMs = 100): Promise<string[][]> {
        const snapshots: string[][] = [store.list({ type: WIDGETS }).items];
        const start = clock.now();
        for (let i = 1; i <= n; i++) {
          clock.set(start + i * stepMs);
          const k = key("a", `o${i % 4}`);
          if (i % 5 === 0) await del(store, k);
          else await put(store, k, { v: i });
          snapshots.push(store.list({ type: WIDGETS }).items);
        }
        return snapshots;
      }

      it("keeps everything younger than the window", () =>
        withStore(async ({ store }, clock, rev) => {
          const start = clock.now();
          await history(store, clock, 10);
          assert.equal(store.compacted(), rev(0));
          clock.set(start + 1000); // revision i is (10 - i) * 100 ms old
          assert.equal(await store.compact({ minEvents: 0, windowMs: 650 }), rev(3), "revisions 1..3 are older than 650 ms");
          assert.equal(store.compacted(), rev(3));
          assert.deepEqual(
            store.changes(rev(3), 100).map((c) => c.revision),
            [4, 5, 6, 7, 8, 9, 10].map(rev),
          );
          clock.set(start + 1200);
          assert.equal(await store.compact({ minEvents: 0, windowMs: 650 }), rev(5), "time moved on");
        }));

      it("keeps at least minEvents changes", () =>
        withStore(async ({ store }, clock, rev) => {
          const start = clock.now();
          await history(store, clock, 10);
          clock.set(start + 1_000_000);
          assert.equal(await store.compact({ minEvents: 4, windowMs: 650 }), rev(6));
          assert.deepEqual(
            store.changes(rev(6), 100).map((c) => c.revision),
            [7, 8, 9, 10].map(rev),
          );
          assert.equal(await store.compact({ minEvents: 100, windowMs: 0 }), rev(6), "never moves back");
          assert.equal(store.compacted(), rev(6));
        }));

      it("keeps whatever either bound keeps", () =>
        withStore(async ({ store }, clock, rev) => {
          const start = clock.now();
          await history(store, clock, 10);
          clock.set(start + 1000);
          assert.equal(await store.compact({ minEvents: 8, windowMs: 250 }), rev(2), "minEvents binds");
          assert.equal(await store.compact({ minEvents: 2, windowMs: 450 }), rev(5), "the window binds");
          assert.equal(await store.compact({ minEvents: 100, windowMs: 100_000 }), rev(5));
          clock.advance(1);
          assert.equal(await store.compact({ minEvents: 0, windowMs: 0 }), rev(10), "both at zero: everything");
          assert.deepEqual(store.changes(rev(10), 100), []);
        }));

      it("concurrent compactions never move compacted back", () =>
        withStore(async ({ store }, clock, rev) => {
          await history(store, clock, 12);
          clock.advance(1_000_000);
          const results = await Promise.all([
            store.compact({ minEvents: 2, windowMs: 0 }),
            store.compact({ minEvents: 6, windowMs: 0 }),
            store.compact({ minEvents: 4, windowMs: 0 }),
          ]);
          assert.equal(store.compacted(), rev(10));
          for (const r of results) assert.ok(r >= rev(6) && r <= rev(10), `compact resolved to ${r}`);
          assert.deepEqual(
            store.changes(rev(10), 100).map((c) => c.revision),
            [11, 12].map(rev),
          );
          assertExpired(() => store.changes(rev(9), 10), rev(9), rev(10));
        }));

      it("does nothing on a young or short log", () =>
        withStore(async ({ store }, clock, rev) => {
          assert.equal(await store.compact({ minEvents: 0, windowMs: 0 }), rev(0), "empty store");
          await history(store, clock, 5);
          assert.equal(await store.compact({ minEvents: 10, windowMs: 0 }), rev(0));
          assert.equal(await store.compact({ minEvents: 0, windowMs: 1_000_000 }), rev(0));
          assert.deepEqual(
            store.changes(rev(0), 100).map((c) => c.revision),
            [1, 2, 3, 4, 5].map(rev),
          );
        }));

      it("below compacted, changes and list({revision}) throw Expired; at or above, they work", () =>
        withStore(async ({ store }, clock, rev) => {
          const start = clock.now();
          const snapshots = await history(store, clock, 12);
          clock.set(start + 1_000_000);
          const c = await store.compact({ minEvents: 5, windowMs: 0 });
          assert.equal(c, rev(7));
          assert.equal(store.compacted(), c);
          for (const r of [rev(0), rev(1), c - 1]) {
            assertExpired(() => store.changes(r, 10), r, c);
            assertExpired(() => store.list({ type: WIDGETS, revision: r }), r, c);
            assertExpired(() => store.list({ type: WIDGETS, revision: r, limit: 1, after: { namespace: "a", name: "o1" } }), r, c);
          }
          assert.deepEqual(
            store.changes(c, 100).map((ch) => ch.revision),
            [8, 9, 10, 11, 12].map(rev),
          );
          for (let i = c - rev(0); i <= 12; i++) {
            assert.deepEqual(store.list({ type: WIDGETS, revision: rev(i) }).items, snapshots[i], `list at ${rev(i)}`);
          }
          assert.deepEqual(store.list({ type: WIDGETS }).items, snapshots[12]);
        }));

      it("keeps current objects, whatever their revision, and the revision counter", () =>
        withStore(async ({ store }, clock, rev) => {
          await put(store, key("a", "old"), { v: "old" });
          await put(store, key("", "old", NODES), { v: "old" });
          await history(store, clock, 10);
          clock.advance(1_000_000);
          assert.equal(await store.compact({ minEvents: 0, windowMs: 0 }), rev(12));
          // etcd: the cluster-wide compaction marker is a write of its own, so the head may pass 12.
          const head = store.head();
          assert.ok(head >= rev(12), `head ${head} kept`);
          assert.deepEqual(store.get(key("a", "old")), { json: objectJson(key("a", "old"), rev(1), { v: "old" }), revision: rev(1) });
          assert.equal(store.list({ type: NODES }).items.length, 1);
          assert.deepEqual(store.list({ type: WIDGETS, revision: rev(12) }).items, store.list({ type: WIDGETS }).items);
          assert.ok(store.list({ type: WIDGETS }).items.length >= 2);
          const next = await put(store, key("a", "new"));
          assert.equal(next.revision, head + 1);
          assert.deepEqual(
            store.changes(rev(12), 10).map((ch) => ch.revision),
            [head + 1],
          );
        }));
    });

    describe("onCommit", () => {
      it("notifies after writes, with the head already advanced", () =>
        withStore(async ({ store }, _clock, rev) => {
          const heads: number[] = [];
          const off = store.onCommit(() => heads.push(store.head()));
          const fired = waitForCommit(store, { what: "a notification at head 1", until: () => heads.includes(rev(1)) });
          await put(store, key("a", "x"));
          await fired;
          const second = waitForCommit(store, { what: "a notification at head 2", until: () => heads.includes(rev(2)) });
          await del(store, key("a", "x"));
          await second;
          assert.ok(
            heads.every((h) => h >= rev(1)),
            `heads seen: ${heads.join(",")}`,
          );
          off();
        }));

      it("stops notifying a listener once it unsubscribes", () =>
        withStore(async ({ store }) => {
          let a = 0;
          let b = 0;
          const offA = store.onCommit(() => a++);
          const offB = store.onCommit(() => b++);
          await put(store, key("a", "x"));
          await waitForCommit(store, { what: "both listeners", until: () => a > 0 && b > 0 });
          offA();
          const seenA = a;
          const bBefore = b;
          await put(store, key("a", "y"));
          await waitForCommit(store, { what: "the remaining listener", until: () => b > bBefore });
          assert.equal(a, seenA, "the unsubscribed listener was not called");
          offB();
        }));
    });

    describe("reopen", () => {
      it("data, head, compacted and history survive close and reopen", () =>
        withStore(async (fixture, clock, rev) => {
          const start = clock.now();
          for (let i = 1; i <= 10; i++) {
            clock.set(start + i * 100);
            const k = key(i % 2 ? "a" : "", `o${i % 4}`, i % 2 ? WIDGETS : NODES);
            if (i === 9) await del(fixture.store, key("a", "o1"));
            else await put(fixture.store, k, { v: i });
          }
          clock.set(start + 10_000);
          const compacted = await fixture.store.compact({ minEvents: 4, windowMs: 0 });
          assert.equal(compacted, rev(6));
          const before = {
            head: fixture.store.head(),
            compacted: fixture.store.compacted(),
            widgets: fixture.store.list({ type: WIDGETS }),
            nodes: fixture.store.list({ type: NODES }),
            at7: fixture.store.list({ type: WIDGETS, revision: rev(7) }),
            changes: fixture.store.changes(compacted, 100),
            got: fixture.store.get(key("a", "o3")),
          };
          assert.ok(before.widgets.items.length > 0 && before.nodes.items.length > 0);

          const store = await fixture.reopen();
          assert.equal(store.head(), before.head);
          assert.equal(store.compacted(), before.compacted);
          assert.deepEqual(store.list({ type: WIDGETS }), before.widgets);
          assert.deepEqual(store.list({ type: NODES }), before.nodes);
          assert.deepEqual(store.list({ type: WIDGETS, revision: rev(7) }), before.at7);
          assert.deepEqual(store.changes(compacted, 100), before.changes);
          assert.deepEqual(store.get(key("a", "o3")), before.got);
          assertExpired(() => store.changes(compacted - 1, 10), compacted - 1, compacted);

          const fired = waitForCommit(store, { what: "a commit after reopen", until: () => store.head() === before.head + 1 });
          const next = await put(store, key("a", "after-reopen"));
          assert.equal(next.revision, before.head + 1, "the counter continues");
          await fired;
        }));
    });

    describe("two stores on one location", () => {
      it("interleaved and concurrent writes from both get gap-free revisions", () =>
        withStore(async (fixture, _clock, rev) => {
          const a = fixture.store;
          const b = await fixture.openPeer();
          const results: WriteResult[] = [];
          for (let i = 0; i < 10; i++) {
            results.push(await put(a, key("a", `a${i}`), { by: "a" }));
            results.push(await put(b, key("b", `b${i}`), { by: "b" }));
          }
          assert.deepEqual(
            results.map((r) => r.revision),
            Array.from({ length: 20 }, (_, i) => rev(i + 1)),
          );

          const counter = key("a", "counter");
          const increment = (s: Store, by: string) =>
            s.write(counter, (current, revision) => {
              const n = current ? (parse(current.json)["n"] as number) : 0;
              return { op: "put", object: objectJson(counter, revision, { n: n + 1, by }) };
            });
          const concurrent = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? increment(a, "a") : increment(b, "b"))));
          assert.deepEqual(
            concurrent.map((r) => r.revision).sort((x, y) => x - y),
            Array.from({ length: 50 }, (_, i) => rev(i + 21)),
          );
          await waitForCommit(a, { what: "a to reach 70", until: () => a.head() === rev(70) });
          await waitForCommit(b, { what: "b to reach 70", until: () => b.head() === rev(70) });
          assert.equal(parse(a.get(counter)!.json)["n"], 50);
          assert.deepEqual(a.get(counter), b.get(counter));
          const logA = a.changes(rev(0), 1000);
          assert.deepEqual(
            logA.map((c) => c.revision),
            Array.from({ length: 70 }, (_, i) => rev(i + 1)),
          );
          assert.deepEqual(b.changes(rev(0), 1000), logA);
          for (const c of logA.slice(20)) assert.equal(parse(c.object)["n"], c.revision - rev(20), "each increment saw the one before");
          assert.deepEqual(a.list({ type: WIDGETS }), b.list({ type: WIDGETS }));
        }));

      it("a write whose decider reads a whole type (WriteScope) commits only over the state it read, whichever store wrote meanwhile", () =>
        withStore(async (fixture) => {
          const a = fixture.store;
          const b = await fixture.openPeer();
          const taken = new ConflictError("test: the type already has an object");
          // Each claims the type for itself: it may write only while the type has no object.
          const claim = (s: Store, name: string) =>
            s.write(
              key("a", name),
              (_current, revision) => {
                if (s.list({ type: WIDGETS, limit: 1 }).items.length > 0) throw taken;
                return { op: "put", object: objectJson(key("a", name), revision) };
              },
              { readsType: WIDGETS },
            );
          for (let round = 0; round < 5; round++) {
            const settled = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => claim(i % 2 ? a : b, `r${round}-${i}`)));
            const won = settled.filter((r) => r.status === "fulfilled");
            assert.equal(won.length, 1, `round ${round}: ${settled.map((r) => (r.status === "fulfilled" ? "ok" : String(r.reason))).join(", ")}`);
            for (const r of settled) if (r.status === "rejected") assert.equal(r.reason, taken);
            const only = (won[0] as PromiseFulfilledResult<WriteResult>).value;
            await waitForCommit(a, { what: "a to see the claim", until: () => a.head() >= only.revision });
            await waitForCommit(b, { what: "b to see the claim", until: () => b.head() >= only.revision });
            assert.equal(a.list({ type: WIDGETS }).items.length, 1);
            assert.deepEqual(b.list({ type: WIDGETS }), a.list({ type: WIDGETS }));
            await del(a, key("a", JSON.parse(only.object!).metadata.name));
            await waitForCommit(b, { what: "b to see the delete", until: () => b.list({ type: WIDGETS }).items.length === 0 });
          }
        }));

      it("a write whose decider reads other objects (WriteScope.reads) decides on their state as of its commit, whichever store wrote them", () =>
        withStore(async (fixture) => {
          const a = fixture.store;
          const b = await fixture.openPeer();
          const gate = key("g", "gate");
          const out = key("o", "out");
          /** Writes `out` through `s`, recording the gate's state (its v, or "absent") its decider read. */
          const record = (s: Store) =>
            s.write(
              out,
              (_current, revision) => {
                const g = s.get(gate);
                return { op: "put", object: objectJson(out, revision, { saw: g ? parse(g.json)["v"] : "absent", at: g?.revision ?? 0 }) };
              },
              { reads: [gate] },
            );
          // What a acknowledged (a create, a change, a delete) is what b's next write reads, though b's own view may lag.
          for (let i = 0; i < 30; i++) {
            const v = i % 3 === 2 ? "absent" : i;
            if (v === "absent") await del(a, gate);
            else await put(a, gate, { v });
            const res = await record(b);
            assert.equal(parse(res.object!)["saw"], v, `round ${i}`);
          }
          // Racing writes of the gate: each write of out read the gate as it was just before out's revision.
          const gates: number[] = [];
          const outs: WriteResult[] = [];
          await Promise.all([
            (async () => {
              for (let i = 100; i < 130; i++) gates.push((await put(a, gate, { v: i })).revision);
            })(),
            (async () => {
              for (let i = 0; i < 30; i++) outs.push(await record(b));
            })(),
          ]);
          for (const o of outs) {
            const before = gates.filter((r) => r < o.revision);
            const at = parse(o.object!)["at"] as number;
            assert.equal(at, before.length > 0 ? before[before.length - 1] : 0, `out at ${o.revision} read the gate at ${at}; gate writes ${gates.join(",")}`);
          }
        }));

      it("each store notices the other's commits and serves them", () =>
        withStore(async (fixture) => {
          const a = fixture.store;
          const b = await fixture.openPeer();
          for (const [writer, reader, name] of [
            [a, b, "from-a"],
            [b, a, "from-b"],
            [a, b, "from-a-again"],
          ] as const) {
            const k = key("a", name);
            const noticed = nextCommit(reader, `the reader to notice ${name}`);
            const written = await put(writer, k, { v: name });
            await noticed;
            await waitForCommit(reader, { what: `the reader's head to reach ${written.revision}`, until: () => reader.head() >= written.revision });
            const [change] = reader.changes(written.revision - 1, 10);
            assert.ok(change, `${name} is in the reader's log`);
            assert.equal(change.revision, written.revision);
            assert.equal(change.type, "ADDED");
            assert.deepEqual(change.key, k);
            assert.equal(change.object, written.object);
            assert.deepEqual(reader.get(k), { json: written.object, revision: written.revision });
          }
        }));
    });

    describe("keys of every allowed length", () => {
      const LONG_TYPE = `${"t".repeat(200)}.${"widgets-example".repeat(4)}`.slice(0, 253);
      const LONG_NS = "n".repeat(62) + "s";
      /** Names of every length 1..253, sharing prefixes, so short and long keys interleave in order. */
      const everyLength = Array.from({ length: 253 }, (_, i) => "a".repeat(i) + "z").map((n) => n.slice(-253));

      it("get, list, pages, past revisions and the log see names of 1–253 in namespaces of 63 and types of 253", () =>
        withStore(async ({ store }, _clock, rev) => {
          assert.equal(LONG_TYPE.length, 253);
          const spots: Array<[string, string]> = [
            [WIDGETS, "a"],
            [WIDGETS, LONG_NS],
            [LONG_TYPE, LONG_NS],
            [LONG_TYPE, ""],
          ];
          const names0 = [...new Set(everyLength)];
          for (const [type, ns] of spots) {
            for (const n of names0) await put(store, key(ns, n, type));
          }
          const mid = store.head();
          // Delete every third object of each spot and rewrite every fifth, after `mid`.
          for (const [type, ns] of spots) {
            for (const [i, n] of names0.entries()) {
              if (i % 3 === 0) await del(store, key(ns, n, type));
              else if (i % 5 === 0) await put(store, key(ns, n, type), { v: 2 });
            }
          }
          const sorted = [...names0].sort();
          const live = sorted.filter((n) => names0.indexOf(n) % 3 !== 0);
          for (const [type, ns] of spots) {
            const what = `${type.length}-character type, namespace of ${ns.length}`;
            for (const n of live) assert.ok(store.get(key(ns, n, type)), `${what}: get ${n.length}`);
            assert.deepEqual(
              names(store.list({ type, namespace: ns }).items),
              live.map((n) => `${ns}/${n}`),
              `${what}: list`,
            );
            assert.deepEqual(
              names(store.list({ type, namespace: ns, revision: mid }).items),
              sorted.map((n) => `${ns}/${n}`),
              `${what}: list at ${mid}`,
            );
            for (const limit of [1, 63, 64, 100]) {
              const paged = await listAllPages(store, { type, namespace: ns, limit });
              assert.deepEqual(
                names(paged.items),
                live.map((n) => `${ns}/${n}`),
                `${what}: pages of ${limit}`,
              );
            }
            const pastPages = await listAllPages(store, { type, namespace: ns, limit: 64, revision: mid });
            assert.equal(pastPages.items.length, sorted.length, `${what}: pages of 64 at ${mid}`);
          }
          const allWidgets = store.list({ type: WIDGETS }).items;
          assert.deepEqual(names(allWidgets), [...live.map((n) => `a/${n}`), ...live.map((n) => `${LONG_NS}/${n}`)]);
          assert.deepEqual(names(store.list({ type: LONG_TYPE }).items), [...live.map((n) => `/${n}`), ...live.map((n) => `${LONG_NS}/${n}`)]);
          assert.deepEqual(store.list({ type: LONG_TYPE.slice(0, 252) }).items, [], "a type's prefix is another type");
          const log = store.changes(rev(0), 10_000);
          assert.equal(log.length, store.head() - rev(0));
          assert.ok(
            log.some((c) => c.key.type === LONG_TYPE && c.key.namespace === LONG_NS && c.key.name.length === 253),
            "the log keeps full keys",
          );
        }));

      storeProperty(
        async () => {
          const f = await makeStore({ now: () => 1_800_000_000_000 });
          return { store: f.store, cleanup: () => f.cleanup() };
        },
        { runs: 100, now: 1_800_000_000_000 },
      );
    });

    it("reports a positive size once it holds data", () =>
      withStore(async ({ store }) => {
        for (let i = 0; i < 20; i++) await put(store, key("a", `o${i}`), { pad: "x".repeat(1000) });
        const size = store.size();
        assert.ok(Number.isFinite(size) && size > 20_000, `size ${size}`);
      }));
  });
}
