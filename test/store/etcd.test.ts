// The etcd store: the shared Store contract against a real single-member etcd
// started for this file (each fixture on a fresh key prefix; the suite's tests
// run one at a time, so its writes are the only ones and revisions still grow
// by one from the fixture's start), plus what only this backend has: a peer
// replica's view, a restarted etcd, etcd compacted by someone else, a watch
// resumed after etcd went away, and writes by a foreign client under the prefix.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Etcd3 } from "etcd3";
import { openEtcdStore, type EtcdStoreOptions } from "../../src/store/etcd.ts";
import type { ObjectKey, Store, WriteResult } from "../../src/store/types.ts";
import { ApiError } from "../../src/errors.ts";
import { ManualClock, type Timer } from "../../src/clock.ts";
import { WatchHub, type WatchEvent, type WatchSink } from "../../src/watch.ts";
import { startCuttingProxy } from "../helpers/cutting-proxy.ts";
import { makeTestCertificates, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { runStoreContract, waitForCommit, type MakeStoreOptions, type StoreFixture } from "./contract.ts";

let etcd: EtcdCluster;
let fixtures = 0;

before(async () => {
  etcd = await startEtcd({ size: 1 });
});
after(async () => {
  await etcd?.stop();
});

function options(prefix: string, extra: Partial<EtcdStoreOptions> = {}): EtcdStoreOptions {
  return { endpoints: etcd.endpoints.split(","), prefix, requestTimeoutMs: 5000, ...extra };
}

/** A store on a fresh prefix of the file's etcd; reopen and peers use the same prefix. */
async function makeEtcdStore(o: MakeStoreOptions): Promise<StoreFixture> {
  const prefix = `/contract-${process.pid}-${++fixtures}`;
  const open = () => openEtcdStore(options(prefix, { now: o.now }));
  const openStores = new Set<Store>();
  let main = await open();
  openStores.add(main);
  return {
    store: main,
    async reopen() {
      openStores.delete(main);
      await main.close();
      main = await open();
      openStores.add(main);
      return main;
    },
    async openPeer() {
      const peer = await open();
      openStores.add(peer);
      return peer;
    },
    async cleanup() {
      for (const s of openStores) await s.close();
      openStores.clear();
    },
  };
}

runStoreContract("etcd", makeEtcdStore);

const k: ObjectKey = { type: "widgets.example.com", namespace: "a", name: "x" };
const json = (rv: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ metadata: { name: "x", namespace: "a", resourceVersion: String(rv) }, ...extra });

/** A ManualClock that records each timer asked of it: its length, and whether it fired. */
class RecordingClock extends ManualClock {
  readonly timers: Array<{ ms: number; fired: boolean }> = [];
  override after(ms: number, fn: () => void): Timer {
    const t = { ms, fired: false };
    this.timers.push(t);
    return super.after(ms, () => {
      t.fired = true;
      fn();
    });
  }
}

const named = (name: string, rv: number, i: number) => JSON.stringify({ metadata: { name, namespace: "a", resourceVersion: String(rv) }, i });
const keyOf = (name: string): ObjectKey => ({ ...k, name });
/** Puts object `name` (in namespace "a") with field i. */
const putNamed = (store: Store, name: string, i: number) => store.write(keyOf(name), (_c, r) => ({ op: "put", object: named(name, r, i) }));

/** A watch sink that keeps nothing but the errors it was failed with. */
function recordingSink(): { sink: WatchSink; failed: ApiError[] } {
  const failed: ApiError[] = [];
  const sink: WatchSink = {
    send(_e: WatchEvent) {},
    buffered: () => 0,
    onDrain() {},
    fail: (err) => failed.push(err),
    close() {},
  };
  return { sink, failed };
}

describe("etcd store: what only etcd has", () => {
  it("a write whose guessed revision was taken by another writer stores and serves the real one", async () => {
    const prefix = `/guess-${process.pid}`;
    const store = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    const foreign = new Etcd3({ hosts: etcd.endpoints });
    try {
      // Another client of the cluster takes revisions this store has not seen.
      for (let i = 0; i < 3; i++) await foreign.put(`/elsewhere/${i}`).value("x");
      const seen: number[] = [];
      const res = await store.write(k, (_c, revision) => {
        seen.push(revision);
        return { op: "put", object: json(revision, { v: 1 }) };
      });
      assert.ok(res.revision > seen[0]!, `the guess ${seen[0]} was taken; got ${res.revision}`);
      assert.equal(JSON.parse(res.object!).metadata.resourceVersion, String(res.revision));
      assert.deepEqual(store.get(k), { json: res.object, revision: res.revision });
      const [change] = store.changes(res.revision - 1, 1);
      assert.equal(change?.object, res.object);
      // A consistent read passes revisions nothing of this store took.
      await foreign.put("/elsewhere/late").value("y");
      const newest = Number((await foreign.get("/elsewhere/late").exec()).header.revision);
      assert.equal(await store.sync!(), newest);
      assert.equal(store.head(), newest);
    } finally {
      foreign.close();
      await store.close();
    }
  });

  it("a missed guess changes metadata.resourceVersion and nothing else, whatever else holds the same text", async () => {
    const prefix = `/guess-text-${process.pid}`;
    const store = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    const foreign = new Etcd3({ hosts: etcd.endpoints });
    try {
      // [the object's other fields, given the guessed revision]
      const bodies: Array<(guess: string) => Record<string, unknown>> = [
        (g) => ({ spec: { note: `"resourceVersion":"${g}"`, n: 1 } }), // the text inside a string: escaped, so not a field
        (g) => ({ spec: { resourceVersion: g }, status: { [`a"resourceVersion`]: g } }), // the same field text twice more
        () => ({ spec: { list: [1, 2, { resourceVersion: 7 }] } }),
      ];
      for (const [i, body] of bodies.entries()) {
        await foreign.put(`/elsewhere/t${i}`).value("x"); // takes the revision this store will guess
        const key = { ...k, name: `t${i}` };
        let guess = "";
        const res = await store.write(key, (_c, revision) => {
          guess = String(revision);
          // The other fields first: the text before the field.
          return { op: "put", object: JSON.stringify({ ...body(guess), metadata: { name: key.name, namespace: "a", resourceVersion: guess } }) };
        });
        assert.notEqual(String(res.revision), guess, "the guess was taken");
        const want = { metadata: { name: key.name, namespace: "a", resourceVersion: String(res.revision) }, ...body(guess) };
        assert.deepEqual(JSON.parse(res.object!), want);
        assert.deepEqual(JSON.parse(store.get(key)!.json), want);
        assert.deepEqual(JSON.parse(store.changes(res.revision - 1, 1)[0]!.object), want);
      }
    } finally {
      foreign.close();
      await store.close();
    }
  });

  it("a peer sees every write of another replica, and sync() makes it current at once", async () => {
    const prefix = `/peer-${process.pid}`;
    const a = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    const b = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    try {
      for (let i = 0; i < 20; i++) {
        const res = await a.write({ ...k, name: `o${i}` }, (_c, r) => ({ op: "put", object: json(r, { i }) }));
        // Without waiting for B's watch: sync() alone must make B serve it.
        await b.sync!();
        assert.ok(b.head() >= res.revision);
        assert.equal(b.get({ ...k, name: `o${i}` })?.json, res.object);
      }
      assert.deepEqual(b.list({ type: k.type }), a.list({ type: k.type }));
      assert.deepEqual(b.changes(b.compacted(), 100), a.changes(a.compacted(), 100));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("sync({ since }) is served by a sync begun after the mark, in flight or done, with no read of its own; one begun before the mark serves nothing", async () => {
    const prefix = `/sync-since-${process.pid}`;
    const a = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    const b = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    /** Range calls etcd has answered so far (B's syncs are the only ranges in the windows below). */
    const ranges = async () => {
      const text = await (await fetch(`${etcd.members[0]!.clientUrl}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith("grpc_server_handled_total{") && l.includes('grpc_method="Range"') && l.includes('grpc_code="OK"'));
      return Number(line?.split(" ").pop() ?? 0);
    };
    // The fewest ranges a window saw over the rounds (a window can only gain from anything else reading etcd).
    const fewest = { sharedThenDone: Infinity, begunBeforeMark: Infinity };
    try {
      for (let i = 0; i < 5; i++) {
        const first = await a.write({ ...k, name: `s${i}` }, (_c, r) => ({ op: "put", object: json(r, { i }) }));
        let before = await ranges();
        const mark = b.syncMark!();
        const inFlight = b.sync!(); // begun after the mark
        const sharing = b.sync!({ since: mark });
        assert.equal(await sharing, await inFlight);
        assert.equal(b.get({ ...k, name: `s${i}` })?.json, first.object, "the shared sync has A's write");
        assert.equal(await b.sync!({ since: mark }), b.head(), "a sync done since the mark serves at once");
        fewest.sharedThenDone = Math.min(fewest.sharedThenDone, (await ranges()) - before);

        before = await ranges();
        const earlier = b.sync!(); // begun before the mark below: it may miss a write acknowledged before it
        const second = await a.write({ ...k, name: `t${i}` }, (_c, r) => ({ op: "put", object: json(r, { i }) }));
        const later = b.sync!({ since: b.syncMark!() });
        await earlier;
        await later;
        assert.equal(b.get({ ...k, name: `t${i}` })?.json, second.object, "a sync begun after the mark has the write acknowledged before it");
        fewest.begunBeforeMark = Math.min(fewest.begunBeforeMark, (await ranges()) - before);
      }
      assert.deepEqual(fewest, { sharedThenDone: 1, begunBeforeMark: 2 }, "etcd Range calls per window");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a write the writer applies from its Txn answer is the change its peer's watch delivers, and its own event is skipped quietly", async () => {
    const prefix = `/own-${process.pid}`;
    const warnings: string[] = [];
    const a = await openEtcdStore(options(prefix, { syncIntervalMs: 0, onWarning: (m) => warnings.push(m) }));
    const b = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    try {
      const x = { ...k, name: "x" };
      const y = { ...k, name: "y" };
      const put = (s: Store, key: ObjectKey, i: number) => s.write(key, (_c, r) => ({ op: "put", object: json(r, { i }) }));
      const del = (s: Store, key: ObjectKey) => s.write(key, (c, r) => ({ op: "delete", object: JSON.stringify({ ...JSON.parse(c!.json), gone: r }) }));
      // Read-your-writes: what A wrote is what A serves the moment the write resolves.
      const mine = async (key: ObjectKey, w: Promise<WriteResult>) => {
        const res = await w;
        assert.equal(a.head(), res.revision);
        assert.deepEqual(a.get(key), res.op === "delete" ? undefined : { json: res.object, revision: res.revision });
      };
      // ADDED, MODIFIED, DELETED and ADDED again, by A alone (its head just before each) and between B's writes.
      await mine(x, put(a, x, 1));
      await mine(x, put(a, x, 2));
      await mine(x, del(a, x));
      await mine(x, put(a, x, 3));
      await mine(y, put(a, y, 1));
      await put(b, y, 2);
      await mine(y, put(a, y, 3));
      await mine(y, del(a, y));
      // Once A has B's last write from its watch, its watch has passed all of A's own events too.
      const last = await put(b, x, 4);
      await waitForCommit(a, { what: "A to see B's last write", until: () => a.head() >= last.revision });
      await waitForCommit(b, { what: "B to see every write", until: () => b.head() >= last.revision });
      assert.deepEqual(a.changes(a.compacted(), 100), b.changes(b.compacted(), 100));
      assert.deepEqual(
        a.changes(a.compacted(), 100).map((c) => c.type),
        ["ADDED", "MODIFIED", "DELETED", "ADDED", "ADDED", "MODIFIED", "MODIFIED", "DELETED", "MODIFIED"],
      );
      assert.deepEqual(warnings, []);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a store compacted by another replica serves 410 below the shared marker", async () => {
    const prefix = `/compact-${process.pid}`;
    let t = 1_000_000;
    const a = await openEtcdStore(options(prefix, { now: () => t, syncIntervalMs: 0 }));
    const b = await openEtcdStore(options(prefix, { now: () => t, syncIntervalMs: 0 }));
    try {
      const revs: number[] = [];
      for (let i = 0; i < 10; i++) revs.push((await a.write(k, (_c, r) => ({ op: "put", object: json(r, { i }) }))).revision);
      // B's watch must be past the revisions A compacts etcd to: a watch
      // behind them is canceled by etcd, and B then rebuilds at the newest
      // revision (the next test), which is not what this one checks.
      await waitForCommit(b, { what: "b to see A's writes", until: () => b.head() >= revs[9]! });
      t += 10_000;
      const c = await a.compact({ minEvents: 3, windowMs: 0 });
      assert.equal(c, revs[6]);
      await waitForCommit(b, { what: "b to see the marker", until: () => b.compacted() === c });
      assert.throws(() => b.changes(revs[2]!, 10), { name: "ExpiredError" });
      assert.deepEqual(
        b.changes(c, 10).map((x) => x.revision),
        revs.slice(7),
      );
      // B compacts only once per interval, counted from A's compaction.
      for (let i = 0; i < 5; i++) await a.write(k, (_c, r) => ({ op: "put", object: json(r, { i }) }));
      t += 1000;
      const periodic = { minEvents: 0, windowMs: 0, skipIfCompactedWithinMs: 60_000 };
      assert.equal(await b.compact(periodic), c, "a compaction 1 s ago suppresses B's");
      t += 60_000;
      assert.ok((await b.compact(periodic)) > c, "past the interval B compacts");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a replica whose watch was away while etcd was compacted past its head rebuilds at etcd's compact revision; its watchers from before get 410", async () => {
    const prefix = `/compact-away-${process.pid}`;
    let t = 1_000_000;
    const proxy = await startCuttingProxy(Number(new URL(etcd.endpoints.split(",")[0]!).port));
    const warnings: string[] = [];
    const a = await openEtcdStore(options(prefix, { now: () => t, syncIntervalMs: 0 }));
    // B reaches etcd only through the proxy, which can make etcd unreachable for it.
    const b = await openEtcdStore({
      endpoints: [`http://127.0.0.1:${proxy.port}`],
      prefix,
      requestTimeoutMs: 5000,
      now: () => t,
      syncIntervalMs: 0,
      onWarning: (m) => warnings.push(m),
    });
    const hub = new WatchHub(b, { clock: new ManualClock(0), bookmarkIntervalMs: 60_000 });
    const { sink, failed } = recordingSink();
    try {
      const put = (name: string, i: number) => putNamed(a, name, i);
      await put("x", 1);
      const y1 = await put("y", 1);
      await waitForCommit(b, { what: "b to see A's first writes", until: () => b.head() === y1.revision });
      const before = b.head();
      hub.watch({ type: k.type, apiVersion: "example.com/v1", kind: "Widget", resourceVersion: before, allowBookmarks: false }, sink);
      proxy.block();
      // While B cannot reach etcd, A changes every object and compacts etcd
      // past B's head: the changes B missed are gone from etcd's history.
      const x2 = await put("x", 2);
      await a.write(keyOf("y"), (_c, r) => ({ op: "delete", object: named("y", r, 1) }));
      const z1 = await put("z", 1);
      t += 10_000;
      const c = await a.compact({ minEvents: 0, windowMs: 0 });
      assert.ok(c >= z1.revision, `A compacted to ${c}, past z's ${z1.revision}`);
      // A change after the compaction: the history B must serve from c on.
      const w1 = await put("w", 1);
      assert.equal(b.head(), before, "B saw nothing while it was cut off");
      proxy.unblock();
      // B's watch resumes from before + 1, etcd cancels it as compacted, and B
      // loads the state at etcd's compact revision instead of replaying what
      // etcd no longer has, then watches from there.
      await waitForCommit(b, { what: "b to rebuild after the compaction", until: () => b.head() >= w1.revision });
      assert.ok(
        warnings.some((w) => w.startsWith("store: rebuilding the etcd mirror: etcd compacted to")),
        warnings.join("\n"),
      );
      assert.deepEqual(b.get(keyOf("x")), { json: x2.object, revision: x2.revision });
      assert.equal(b.get(keyOf("y")), undefined);
      assert.deepEqual(b.get(keyOf("z")), { json: z1.object, revision: z1.revision });
      assert.deepEqual(b.list({ type: k.type }), a.list({ type: k.type }));
      // The history B never saw is Expired there: its log and its watchers. From c on it serves what A does.
      assert.equal(b.compacted(), c);
      assert.throws(() => b.changes(before, 10), { name: "ExpiredError" });
      assert.throws(() => b.changes(c - 1, 10), { name: "ExpiredError", message: `too old resource version: ${c - 1} (${c})` });
      assert.deepEqual(b.changes(c, 10), a.changes(c, 10));
      assert.deepEqual(b.list({ type: k.type, revision: c }), a.list({ type: k.type, revision: c }));
      hub.pump();
      assert.deepEqual(
        failed.map((e) => e.reason),
        ["Expired"],
      );
      // B goes on watching: A's next write reaches it, once.
      const x3 = await put("x", 3);
      await waitForCommit(b, { what: "b to see A's write after the rebuild", until: () => b.head() >= x3.revision });
      assert.deepEqual(
        b
          .changes(b.compacted(), 10)
          .filter((ch) => ch.revision > c)
          .map((ch) => ch.revision),
        a
          .changes(a.compacted(), 10)
          .filter((ch) => ch.revision > c)
          .map((ch) => ch.revision),
      );
      assert.deepEqual(b.get(keyOf("x")), { json: x3.object, revision: x3.revision });
    } finally {
      hub.close();
      await b.close();
      await a.close();
      await proxy.close();
    }
  });

  it("etcd compacted from outside (etcdctl compact) is learned by every replica: history before etcd's compact revision is 410, as on a replica started after it", async () => {
    const prefix = `/compact-outside-${process.pid}`;
    const warnings: string[] = [];
    // The periodic check (every 50 ms here, 1 s by default) is what finds it: the watch goes on delivering after a compaction.
    // No periodic sync, as in the server (its readiness check syncs).
    const a = await openEtcdStore(options(prefix, { syncIntervalMs: 0, compactionCheckMs: 50, onWarning: (m) => warnings.push(m) }));
    const b = await openEtcdStore(options(prefix, { syncIntervalMs: 0, compactionCheckMs: 50 }));
    const hub = new WatchHub(b, { clock: new ManualClock(0), bookmarkIntervalMs: 60_000 });
    const outside = new Etcd3({ hosts: etcd.endpoints.split(",") });
    try {
      const revs: number[] = [];
      for (let i = 0; i < 6; i++) revs.push((await putNamed(a, `o${i}`, i)).revision);
      await waitForCommit(b, { what: "b to see A's writes", until: () => b.head() >= revs[5]! });
      const floor = b.compacted();
      assert.ok(floor < revs[0]!, `B serves history from ${floor}`);
      // Not this prefix's compactor: no marker moves, etcd alone forgets.
      await outside.kv.compact({ revision: revs[3]! });
      for (const [name, store] of [
        ["a", a],
        ["b", b],
      ] as const) {
        await waitForCommit(store, { what: `${name} to learn etcd's compact revision`, until: () => store.compacted() === revs[3] });
        assert.throws(() => store.changes(revs[2]!, 10), { name: "ExpiredError" }, name);
        assert.deepEqual(
          store.changes(revs[3]!, 10).map((c) => c.revision),
          revs.slice(4),
          name,
        );
      }
      assert.ok(
        warnings.some((w) => w.includes(`etcd was compacted to revision ${revs[3]} by someone else`)),
        warnings.join("\n"),
      );
      // A watcher from before it gets 410, as from a replica that opened after the compaction.
      const { sink, failed } = recordingSink();
      hub.watch({ type: k.type, apiVersion: "example.com/v1", kind: "Widget", resourceVersion: revs[1]!, allowBookmarks: false }, sink);
      hub.pump();
      assert.deepEqual(
        failed.map((e) => e.reason),
        ["Expired"],
      );
      const c = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
      try {
        // At etcd's compact revision, the oldest one etcd still reads: the same history as A and B.
        assert.equal(c.compacted(), revs[3], `a replica opened now starts at ${c.compacted()}`);
        assert.deepEqual(c.changes(revs[3]!, 10), b.changes(revs[3]!, 10));
        assert.deepEqual(c.list({ type: k.type, revision: revs[3]! }), b.list({ type: k.type, revision: revs[3]! }));
        assert.throws(() => c.changes(revs[3]! - 1, 10), { name: "ExpiredError", message: `too old resource version: ${revs[3]! - 1} (${revs[3]})` });
      } finally {
        await c.close();
      }
      // Writes and their delivery go on.
      const next = await putNamed(a, "o0", 9);
      await waitForCommit(b, { what: "b to see A's next write", until: () => b.head() >= next.revision });
      assert.deepEqual(
        b.changes(revs[5]!, 10).map((ch) => ch.revision),
        [next.revision],
      );
    } finally {
      hub.close();
      outside.close();
      await b.close();
      await a.close();
    }
  });

  it("speaks TLS to etcd with a client certificate (--etcd-cafile, --etcd-certfile, --etcd-keyfile)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-etcd-tls-"));
    const tls = makeTestCertificates(dir);
    const secure = await startEtcd({ size: 1, tls });
    try {
      assert.match(secure.endpoints, /^https:/);
      const store = await openEtcdStore({
        endpoints: [secure.endpoints],
        prefix: "/tls",
        tls: { caFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile },
      });
      try {
        const res = await store.write(k, (_c, r) => ({ op: "put", object: json(r, { over: "tls" }) }));
        assert.deepEqual(store.get(k), { json: res.object, revision: res.revision });
        assert.equal(await store.sync!(), store.head());
      } finally {
        await store.close();
      }
      // Without a client certificate etcd refuses the connection: the store does not open.
      await assert.rejects(openEtcdStore({ endpoints: [secure.endpoints], prefix: "/tls", tls: { caFile: tls.caFile }, requestTimeoutMs: 2000 }), {
        name: "ServiceUnavailableError",
      });
    } finally {
      await secure.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("opens while some listed members are down, its watch retrying until it reaches a live one", async () => {
    // Ports nothing listens on: most first tries (of the watch and of reads) hit a dead member.
    const dead = ["http://127.0.0.1:1", "http://127.0.0.1:2"];
    const store = await openEtcdStore(options(`/dead-members-${process.pid}`, { endpoints: [...dead, ...etcd.endpoints.split(",")], syncIntervalMs: 0 }));
    try {
      const res = await store.write(k, (_c, r) => ({ op: "put", object: json(r) }));
      assert.equal(store.get(k)?.revision, res.revision);
    } finally {
      await store.close();
    }
  });

  it("the watch resumes after etcd restarts, losing and repeating nothing", async () => {
    const own = await startEtcd({ size: 1 });
    const store = await openEtcdStore({ endpoints: [own.endpoints], prefix: "/restart", requestTimeoutMs: 2000 });
    const writer = await openEtcdStore({ endpoints: [own.endpoints], prefix: "/restart", requestTimeoutMs: 2000 });
    try {
      const written: number[] = [];
      for (let i = 0; i < 5; i++) written.push((await writer.write({ ...k, name: `a${i}` }, (_c, r) => ({ op: "put", object: json(r) }))).revision);
      await waitForCommit(store, { what: "the first writes", until: () => store.head() >= written.at(-1)! });
      await own.kill(own.members[0]!);
      await assert.rejects(
        writer.write(k, (_c, r) => ({ op: "put", object: json(r) })),
        { name: "ServiceUnavailableError" },
      );
      await own.restart(own.members[0]!);
      for (let i = 0; i < 5; i++) {
        for (;;) {
          try {
            written.push((await writer.write({ ...k, name: `b${i}` }, (_c, r) => ({ op: "put", object: json(r) }))).revision);
            break;
          } catch (err) {
            if ((err as Error).name !== "ServiceUnavailableError") throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      await waitForCommit(store, { what: "the writes after the restart", until: () => store.head() >= written.at(-1)! });
      assert.deepEqual(
        store.changes(store.compacted(), 100).map((c) => c.revision),
        written,
      );
    } finally {
      await store.close();
      await writer.close();
      await own.stop();
    }
  });

  it("a write whose answer is lost applies once and reports its own success (create, update, delete)", async () => {
    const proxy = await startCuttingProxy(Number(new URL(etcd.endpoints.split(",")[0]!).port));
    const prefix = `/ambiguous-${process.pid}`;
    const store = await openEtcdStore({ endpoints: [`http://127.0.0.1:${proxy.port}`], prefix, requestTimeoutMs: 5000, syncIntervalMs: 0 });
    const direct = new Etcd3({ hosts: etcd.endpoints });
    const etcdKey = `${prefix}/o/${k.type}/${k.namespace}\u0000${k.name}`;
    try {
      // Twice over: the second time the key's history (and tombstone) exist.
      for (const round of [1, 2]) {
        const marker = `lost-answer-${round}`;
        proxy.arm(`${marker}-create`);
        const created = await store.write(k, (current, r) => {
          if (current) throw new ApiError("AlreadyExists", "exists");
          return { op: "put", object: json(r, { items: [`${marker}-create`] }) };
        });
        assert.equal(created.op, "put");
        assert.equal((await direct.get(etcdKey).exec()).kvs[0]?.version, "1", "created once");

        proxy.arm(`${marker}-update`);
        const updated = await store.write(k, (current, r) => {
          if (!current) throw new ApiError("NotFound", "gone");
          const o = JSON.parse(current.json) as { items: string[] };
          return { op: "put", object: json(r, { items: [...o.items, `${marker}-update`] }) };
        });
        assert.deepEqual(JSON.parse(updated.object!).items, [`${marker}-create`, `${marker}-update`], "the update applied once");
        const kv = (await direct.get(etcdKey).exec()).kvs[0]!;
        assert.equal(kv.version, "2");
        assert.equal(Number(kv.mod_revision), updated.revision);

        proxy.arm(`${marker}-gone`);
        const deleted = await store.write(k, (current, r) => {
          if (!current) throw new ApiError("NotFound", "gone");
          return { op: "delete", object: json(r, { items: [`${marker}-gone`] }) };
        });
        assert.equal(deleted.op, "delete");
        assert.equal((await direct.get(etcdKey).exec()).kvs.length, 0);
        // The change stream has each write once.
        await store.sync!();
        const mine = store.changes(created.revision - 1, 100).filter((c) => c.key.name === k.name);
        assert.deepEqual(
          mine.map((c) => [c.type, c.revision]),
          [
            ["ADDED", created.revision],
            ["MODIFIED", updated.revision],
            ["DELETED", deleted.revision],
          ],
        );
      }
      assert.equal(proxy.cuts(), 6, "every write lost its answer");
    } finally {
      direct.close();
      await store.close();
      await proxy.close();
    }
  });
  it("a rebuild after a watch response it could not apply serves the newest state, and its watchers from before get 410", async () => {
    const prefix = `/rebuild-${process.pid}`;
    const warnings: string[] = [];
    // The injected failure: the clock throws once, on the next call, which is
    // the watch applying a foreign delete that left no tombstone (it asks the
    // clock for the delete's time). Nothing else of this store reads the clock
    // in between.
    let failClock = false;
    const now = () => {
      if (!failClock) return Date.now();
      failClock = false;
      throw new Error("injected: the clock failed");
    };
    // The store's timing runs on its own clock, which moves only when the test
    // moves it (from 0: the first rebuild must not wait for it).
    const storeClock = new RecordingClock(0);
    let rebuilds = 0;
    let onRebuild = () => {};
    const a = await openEtcdStore(
      options(prefix, {
        now,
        clock: storeClock,
        syncIntervalMs: 0,
        onWarning: (m) => {
          warnings.push(m);
          if (m.startsWith("store: rebuilding the etcd mirror")) {
            rebuilds++;
            onRebuild();
          }
        },
      }),
    );
    const direct = new Etcd3({ hosts: etcd.endpoints });
    const clock = new ManualClock(0);
    const hub = new WatchHub(a, { clock, bookmarkIntervalMs: 60_000 });
    const { sink, failed } = recordingSink();
    try {
      const put = (name: string, i: number) => putNamed(a, name, i);
      // Every change after the store's compaction marker: the rebuild must not go back to the marker's state.
      await put("x", 1);
      await put("y", 1);
      await put("z", 1);
      const x2 = await put("x", 2);
      const before = a.head();
      assert.ok(a.compacted() < before);
      hub.watch({ type: k.type, apiVersion: "example.com/v1", kind: "Widget", resourceVersion: before, allowBookmarks: false }, sink);
      failClock = true;
      await direct.delete().key(`${prefix}/o/${k.type}/${k.namespace}\u0000z`).exec();
      await waitForCommit(a, { what: "the foreign delete of z", until: () => a.get(keyOf("z")) === undefined });
      assert.equal(failClock, false, "the injected failure was hit");
      assert.ok(
        warnings.some((w) => w.includes("rebuilding")),
        warnings.join("\n"),
      );
      // The newest state, not the marker's.
      assert.deepEqual(a.get(keyOf("x")), { json: x2.object, revision: x2.revision });
      assert.equal(JSON.parse(a.get(keyOf("y"))!.json).i, 1);
      assert.deepEqual(
        a.list({ type: k.type }).items.map((o) => JSON.parse(o).metadata.name),
        ["x", "y"],
      );
      // History before the rebuild is Expired in this process: the store's log and its watchers.
      assert.ok(a.compacted() > before, `compacted ${a.compacted()} > ${before}`);
      assert.throws(() => a.changes(before, 10), { name: "ExpiredError" });
      hub.pump();
      assert.deepEqual(
        failed.map((e) => e.reason),
        ["Expired"],
      );
      // It goes on: its writes and a peer's agree.
      const x3 = await put("x", 3);
      const b = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
      try {
        await b.sync!();
        assert.deepEqual(b.list({ type: k.type }), a.list({ type: k.type }));
        assert.equal(b.get(keyOf("x"))?.revision, x3.revision);
      } finally {
        await b.close();
      }
      // A fault that fails response after response: the next rebuild starts
      // only once the store's clock is a second past the last one's start.
      storeClock.advance(400);
      const timersBefore = storeClock.timers.length;
      let timer: NodeJS.Timeout | undefined;
      const secondRebuild = new Promise<void>((resolve, reject) => {
        onRebuild = resolve;
        timer = setTimeout(() => reject(new Error("the second failure never started a rebuild")), 10_000);
      }).finally(() => clearTimeout(timer));
      failClock = true;
      await direct.delete().key(`${prefix}/o/${k.type}/${k.namespace}\u0000y`).exec();
      await secondRebuild;
      assert.equal(failClock, false, "the injected failure was hit");
      const asked = storeClock.timers.slice(timersBefore);
      const throttle = asked.find((t) => t.ms === 600);
      assert.ok(throttle, `the rebuild waits the 600 ms left of its second on the store's clock; it asked for ${JSON.stringify(asked)}`);
      storeClock.advance(599);
      assert.equal(throttle.fired, false);
      assert.ok(a.get(keyOf("y")), "y is served until the rebuild loads");
      storeClock.advance(1);
      assert.equal(throttle.fired, true);
      await waitForCommit(a, { what: "the second rebuild, after the clock passed a second", until: () => a.get(keyOf("y")) === undefined });
      assert.equal(rebuilds, 2);
      assert.deepEqual(a.get(keyOf("x")), { json: x3.object, revision: x3.revision });
    } finally {
      hub.close();
      direct.close();
      await a.close();
    }
  });

  it("a lost watch reopens after a backoff on the store's clock: 50 ms, doubling while etcd is unreachable, 50 again once a watch is open", async () => {
    const prefix = `/backoff-${process.pid}`;
    const proxy = await startCuttingProxy(Number(new URL(etcd.endpoints.split(",")[0]!).port));
    const clock = new RecordingClock(0);
    // Each "watch lost" warning, with the timers the store had asked of the clock by then (it asks for the backoff right after).
    const losses: string[] = [];
    let onLoss = () => {};
    const b = await openEtcdStore({
      endpoints: [`http://127.0.0.1:${proxy.port}`],
      prefix,
      requestTimeoutMs: 5000,
      clock,
      syncIntervalMs: 0,
      onWarning: (m) => {
        if (!m.startsWith("store: etcd watch lost")) return;
        losses.push(m);
        onLoss();
      },
    });
    const a = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
    /** Resolves at the next loss of B's watch, with the length of the reconnect timer it then asked of the clock. */
    const nextLoss = async (): Promise<number> => {
      const asked = clock.timers.length;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        onLoss = resolve;
        timer = setTimeout(() => reject(new Error(`B's watch was not lost again (${losses.length} losses so far)`)), 10_000);
      }).finally(() => clearTimeout(timer));
      await new Promise((r) => setImmediate(r));
      const backoff = clock.timers.slice(asked).filter((t) => !t.fired);
      assert.equal(backoff.length, 1, `one reconnect timer after the loss: ${JSON.stringify(backoff)}`);
      return backoff[0]!.ms;
    };
    try {
      const put = (name: string) => a.write({ ...k, name }, (_c, r) => ({ op: "put", object: named(name, r, 1) }));
      const x = await put("x");
      await waitForCommit(b, { what: "B to see x", until: () => b.head() >= x.revision });
      // etcd unreachable: each reopening fails, and waits twice as long on the clock before the next.
      let loss = nextLoss();
      proxy.block();
      assert.equal(await loss, 50);
      for (const expected of [100, 200, 400]) {
        loss = nextLoss();
        clock.advance(expected / 2);
        assert.equal(await loss, expected);
      }
      // Reachable again: nothing reopens the watch until the clock has passed the backoff.
      proxy.unblock();
      const y = await put("y");
      clock.advance(399);
      assert.equal(b.head(), x.revision, "no reopening before the backoff passed");
      clock.advance(1);
      await waitForCommit(b, { what: "B's reopened watch to bring y", until: () => b.head() >= y.revision });
      assert.deepEqual(
        b.changes(x.revision - 1, 10).map((c) => [c.key.name, c.revision]),
        [
          ["x", x.revision],
          ["y", y.revision],
        ],
      );
      // A watch that opened resets the backoff.
      loss = nextLoss();
      proxy.block();
      assert.equal(await loss, 50);
    } finally {
      proxy.unblock();
      await b.close();
      await a.close();
      await proxy.close();
    }
  });

  it("values under the prefix that no Setpoint store wrote are skipped with a warning naming the key, and never loop a rebuild", async () => {
    const prefix = `/poison-${process.pid}`;
    const warnings: string[] = [];
    const a = await openEtcdStore(options(prefix, { syncIntervalMs: 0, onWarning: (m) => warnings.push(m) }));
    const direct = new Etcd3({ hosts: etcd.endpoints });
    const etcdKey = (name: string) => `${prefix}/o/${k.type}/${k.namespace}\u0000${name}`;
    const put = putNamed;
    try {
      await put(a, "x", 1);
      await put(a, "gone", 1);
      // A value that is not an envelope, one whose JSON is cut short, a poisoned tombstone, and a marker that is not JSON.
      await direct.put(etcdKey("p")).value("not a setpoint value").exec();
      await direct.put(etcdKey("x")).value('1 2 id\n{"metadata":').exec();
      await direct.put(`${prefix}/d/${k.type}/${k.namespace}\u0000gone`).value("garbage").exec();
      await direct.delete().key(etcdKey("gone")).exec();
      await direct.put(`${prefix}/m/compacted`).value("garbage").exec();
      const y = await put(a, "y", 1);
      assert.equal(a.head(), y.revision);
      const names = (s: Store) => s.list({ type: k.type }).items.map((o) => JSON.parse(o).metadata.name);
      assert.deepEqual(names(a), ["y"]);
      assert.equal(a.get(keyOf("p")), undefined);
      assert.equal(a.get(keyOf("x")), undefined, "an object overwritten with a poison value is gone");
      assert.ok(
        warnings.some((w) => w.includes(`${k.namespace}/p`)),
        warnings.join("\n"),
      );
      assert.ok(
        warnings.some((w) => w.includes(`${k.namespace}/x`)),
        warnings.join("\n"),
      );
      assert.ok(
        warnings.some((w) => w.includes("compacted")),
        warnings.join("\n"),
      );
      assert.ok(!warnings.some((w) => w.includes("rebuilding")), warnings.join("\n"));
      const changes = a.changes(a.compacted(), 100).map((c) => `${c.type} ${c.key.name}`);
      assert.deepEqual(changes, ["ADDED x", "ADDED gone", "DELETED x", "DELETED gone", "ADDED y"]);
      for (const c of a.changes(a.compacted(), 100)) JSON.parse(c.object);
      // A store opened now (its load) skips them too.
      const b = await openEtcdStore(options(prefix, { syncIntervalMs: 0 }));
      try {
        assert.deepEqual(names(b), ["y"]);
        // A write over a poison value replaces it (it compares the key's real mod_revision).
        const p = await put(b, "p", 1);
        await a.sync!();
        assert.deepEqual(a.get(keyOf("p")), { json: p.object, revision: p.revision });
        assert.equal(a.changes(y.revision, 10)[0]?.type, "ADDED");
        // Compaction rewrites the marker.
        const c = await b.compact({ minEvents: 0, windowMs: 0 });
        assert.ok(c > 0);
        await a.sync!();
        assert.equal(a.compacted(), c);
      } finally {
        await b.close();
      }
    } finally {
      direct.close();
      await a.close();
    }
  });
});
