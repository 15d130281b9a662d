// The write-ahead log under power loss: LMDB rolled back to an older commit
// (what `noMetaSync` allows after an OS crash) and the log cut at a random byte
// offset or its tail corrupted. Reopening must find every write whose record
// survived whole (or that LMDB kept), in order, and nothing else, without
// crashing.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, openSync, closeSync, readSync, rmSync, truncateSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openLmdbStore, type Store } from "../../src/store.ts";
import { WriteAheadLog, type WalEntry } from "../../src/store/wal.ts";
import { prng } from "../helpers/fuzz.ts";
import { startStoreChild } from "../helpers/store-child.ts";

const TYPE = "widgets.example.com";
const DEADLINE_MS = 60_000;

interface Acked {
  revision: number;
  name: string;
  /** The object after the write; undefined for a delete. */
  json: string | undefined;
}

/** Random acknowledged writes (puts of growing objects, some deletes) over a few names. */
async function writeSome(store: Store, count: number, random: () => number, acked: Acked[], prefix = "w"): Promise<void> {
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${Math.floor(random() * 12)}`;
    const pad = "x".repeat(Math.floor(random() * 300));
    const r = await store.write({ type: TYPE, namespace: "default", name }, (current, revision) => {
      if (current && random() < 0.2) return { op: "delete", object: current.json };
      return { op: "put", object: JSON.stringify({ metadata: { name, resourceVersion: String(revision) }, pad, i }) };
    });
    acked.push({ revision: r.revision, name, json: r.op === "delete" ? undefined : r.object });
  }
}

/** Objects by name as of `revision`, from the acknowledged writes. */
function stateAt(acked: Acked[], revision: number): Map<string, string> {
  const state = new Map<string, string>();
  for (const a of [...acked].sort((x, y) => x.revision - y.revision)) {
    if (a.revision > revision) break;
    if (a.json === undefined) state.delete(a.name);
    else state.set(a.name, a.json);
  }
  return state;
}

function assertState(store: Store, acked: Acked[], head: number, what: string): void {
  assert.equal(store.head(), head, `${what}: head`);
  const want = stateAt(acked, head);
  const got = store.list({ type: TYPE });
  assert.deepEqual(
    got.items.map((j) => JSON.parse(j).metadata.name as string),
    [...want.keys()].sort(),
    `${what}: names`,
  );
  for (const [name, json] of want) assert.equal(store.get({ type: TYPE, namespace: "default", name })?.json, json, `${what}: ${name}`);
  // The change log holds every write up to the head, once, in order, each with the state before it.
  const changes = store.changes(0, 1_000_000);
  const sorted = [...acked].sort((x, y) => x.revision - y.revision);
  const before = new Map<string, string>();
  for (const a of sorted.filter((x) => x.revision <= head)) {
    const c = changes.find((x) => x.revision === a.revision);
    assert.equal(c?.previous, before.get(a.name), `${what}: previous state at ${a.revision}`);
    assert.equal(c?.type, a.json === undefined ? "DELETED" : before.has(a.name) ? "MODIFIED" : "ADDED", `${what}: type at ${a.revision}`);
    if (a.json === undefined) before.delete(a.name);
    else before.set(a.name, a.json);
  }
  assert.deepEqual(
    changes.map((c) => c.revision),
    acked
      .filter((a) => a.revision <= head)
      .map((a) => a.revision)
      .sort((x, y) => x - y),
    `${what}: change log`,
  );
}

/** The log's records as the log itself reads them (segment, end offset, revision). */
function records(dir: string): WalEntry[] {
  const wal = new WriteAheadLog(dir, { dataFile: join(dir, "data.mdb") });
  try {
    return wal.read().entries;
  } finally {
    wal.close();
  }
}

/** A second process writing to the same directory: `write(n, seed)` resolves with its acknowledged writes. */
function startWriter(dir: string, walSegmentBytes: number) {
  const child = startStoreChild(dir, {
    store: { pollIntervalMs: 0, walSegmentBytes },
    handler: `async (store, [, n, seed]) => {
      let x = Number(seed);
      const acked = [];
      for (let i = 0; i < Number(n); i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        const name = "c" + (x % 12);
        const r = await store.write({ type: ${JSON.stringify(TYPE)}, namespace: "default", name }, (current, revision) => {
          if (current && x % 5 === 0) return { op: "delete", object: current.json };
          return { op: "put", object: JSON.stringify({ metadata: { name, resourceVersion: String(revision) }, pad: "y".repeat(x % 300) }) };
        });
        acked.push({ revision: r.revision, name, json: r.op === "delete" ? undefined : r.object });
      }
      return JSON.stringify(acked);
    }`,
    deadlineMs: DEADLINE_MS,
  });
  return {
    ready: child.nextLine("ready"),
    async write(n: number, seed: number): Promise<Acked[]> {
      const line = child.nextLine(`${n} writes`);
      child.send(`write ${n} ${seed}`);
      return JSON.parse(await line) as Acked[];
    },
    exit: () => child.exit(),
    kill: () => child.kill(),
    stderr: () => child.stderr(),
  };
}

describe("write-ahead log: power loss", () => {
  it("replays the logged writes LMDB lost, up to the last whole record, for cuts at random offsets", async () => {
    for (let round = 0; round < 8; round++) {
      const seed = 1000 + round;
      const random = prng(seed);
      const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
      try {
        let store = openLmdbStore(dir, { pollIntervalMs: 0 });
        const acked: Acked[] = [];
        await writeSome(store, 20, random, acked);
        // LMDB as an OS crash may leave it: an older commit's state.
        const lmdbRevision = store.head();
        copyFileSync(join(dir, "data.mdb"), join(dir, "older.mdb"));
        await writeSome(store, 40, random, acked);
        const ackedHead = store.head();
        await store.close();

        const logged = records(dir);
        assert.equal(logged[logged.length - 1]!.revision, ackedHead, `seed ${seed}: every acknowledged write is logged`);
        const last = logged[logged.length - 1]!;
        const firstLost = logged.find((e) => e.revision === lmdbRevision + 1)!;
        // Cut the log somewhere in the records LMDB lost.
        const from = firstLost.end - 30;
        const cut = Math.floor(from + random() * (last.end - from + 1));
        truncateSync(join(dir, `wal-${last.segment}`), cut);
        copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
        const survived = logged.filter((e) => e.end <= cut).reduce((r, e) => Math.max(r, e.revision), lmdbRevision);

        store = openLmdbStore(dir, { pollIntervalMs: 0 });
        try {
          assertState(store, acked, survived, `seed ${seed}, cut at ${cut} (records end at ${logged.map((e) => e.end).join(",")})`);
          // Writes go on after the replayed ones, with the next revisions.
          const more: Acked[] = acked.filter((a) => a.revision <= survived);
          await writeSome(store, 5, random, more);
          assert.deepEqual(
            more.slice(-5).map((a) => a.revision),
            [1, 2, 3, 4, 5].map((i) => survived + i),
          );
        } finally {
          await store.close();
        }
        // And a second reopen (log and LMDB now agree) changes nothing.
        store = openLmdbStore(dir, { pollIntervalMs: 0 });
        try {
          assert.equal(store.head(), survived + 5, `seed ${seed}: head after the second reopen`);
        } finally {
          await store.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it("drops a record whose bytes were corrupted, and every record after it", async () => {
    const random = prng(7);
    const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
    try {
      let store = openLmdbStore(dir, { pollIntervalMs: 0 });
      const acked: Acked[] = [];
      await writeSome(store, 10, random, acked);
      const lmdbRevision = store.head();
      copyFileSync(join(dir, "data.mdb"), join(dir, "older.mdb"));
      await writeSome(store, 10, random, acked);
      await store.close();
      const logged = records(dir);
      // Flip one byte inside the record of revision lmdbRevision + 4 (its payload's last byte).
      const bad = logged.find((e) => e.revision === lmdbRevision + 4)!;
      const file = join(dir, `wal-${bad.segment}`);
      const fd = openSync(file, "r+");
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, bad.end - 1);
      b[0] = b[0]! ^ 0x5a;
      writeSync(fd, b, 0, 1, bad.end - 1);
      closeSync(fd);
      copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
      store = openLmdbStore(dir, { pollIntervalMs: 0 });
      try {
        assertState(store, acked, lmdbRevision + 3, "corrupted record");
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rotates between its two segments and still replays the newest writes", async () => {
    const random = prng(99);
    const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
    const walSegmentBytes = 16 * 1024;
    try {
      let store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
      const acked: Acked[] = [];
      // About 200 bytes a record: several rotations.
      await writeSome(store, 300, random, acked);
      const lmdbRevision = store.head();
      copyFileSync(join(dir, "data.mdb"), join(dir, "older.mdb"));
      await writeSome(store, 3, random, acked);
      await store.close();
      const logged = records(dir);
      assert.ok(logged.length < 300, `the log keeps only its two newest segments (${logged.length} records)`);
      copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
      store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
      try {
        assertState(store, acked, lmdbRevision + 3, "after rotations");
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps one log in revision order when two processes write at once, across rotations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
    const walSegmentBytes = 32 * 1024;
    const child = startWriter(dir, walSegmentBytes);
    let store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
    try {
      const acked: Acked[] = [];
      const random = prng(5);
      await child.ready;
      // Both at once, about 250 bytes a record: several rotations, by either process.
      await Promise.all([writeSome(store, 150, random, acked, "p"), child.write(150, 11).then((a) => acked.push(...a))]);
      // Room for the next 20 records in the newest segment, so that LMDB's copy below stays covered by the log.
      for (let e = records(dir).at(-1)!; walSegmentBytes - e.end < 20 * 1024; e = records(dir).at(-1)!) await writeSome(store, 1, random, acked, "p");
      // A write of this process last, so that its read snapshot has the child's writes too.
      const marker = JSON.stringify({ metadata: { name: "marker" } });
      const m = await store.write({ type: TYPE, namespace: "default", name: "marker" }, () => ({ op: "put", object: marker }));
      acked.push({ revision: m.revision, name: "marker", json: marker });
      const lmdbRevision = store.head();
      copyFileSync(join(dir, "data.mdb"), join(dir, "older.mdb"));
      await Promise.all([writeSome(store, 5, random, acked, "p"), child.write(5, 12).then((a) => acked.push(...a))]);
      const head = store.head();
      assert.equal(await child.exit(), 0, child.stderr());
      await store.close();
      assert.ok(head >= lmdbRevision + 10, `both wrote after the copy (head ${head}, copy at ${lmdbRevision})`);
      assert.deepEqual(
        records(dir)
          .map((e) => e.revision)
          .slice(-(head - lmdbRevision)),
        Array.from({ length: head - lmdbRevision }, (_, i) => lmdbRevision + 1 + i),
      );
      copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
      store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
      assertState(store, acked, head, "two writers");
    } finally {
      child.kill();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const reopen of [false, true]) {
    it(`replays the writes logged after one that could not be logged (the log has a gap there)${reopen ? ", across a restart" : ""}`, async () => {
      const random = prng(31);
      const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
      const walSegmentBytes = 16 * 1024;
      try {
        let store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
        const acked: Acked[] = [];
        await writeSome(store, 3, random, acked);
        // Larger than a segment: not logged; its write syncs LMDB's data file instead.
        const big = JSON.stringify({ metadata: { name: "big" }, pad: "z".repeat(20 * 1024) });
        const b = await store.write({ type: TYPE, namespace: "default", name: "big" }, () => ({ op: "put", object: big }));
        acked.push({ revision: b.revision, name: "big", json: big });
        if (reopen) {
          await store.close();
          store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
        }
        const lmdbRevision = store.head();
        copyFileSync(join(dir, "data.mdb"), join(dir, "older.mdb"));
        await writeSome(store, 3, random, acked);
        const head = store.head();
        await store.close();
        copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
        store = openLmdbStore(dir, { pollIntervalMs: 0, walSegmentBytes });
        try {
          assert.equal(lmdbRevision, 4);
          assertState(store, acked, head, "after a gap in the log");
        } finally {
          await store.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("never replays a record a crash left past the log's end once a record of the same length is written there", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
    // Objects of one length: their ADDED records are all the same length.
    const put = async (name: string, value: string, into: Acked[]) => {
      const json = JSON.stringify({ metadata: { name }, value });
      const r = await store.write({ type: TYPE, namespace: "default", name }, () => ({ op: "put", object: json }));
      into.push({ revision: r.revision, name, json });
    };
    let store = openLmdbStore(dir, { pollIntervalMs: 0 });
    try {
      const acked: Acked[] = [];
      for (const name of ["k1", "k2", "k3"]) await put(name, "aaaa", acked);
      copyFileSync(join(dir, "data.mdb"), join(dir, "older.mdb"));
      // Two writes an OS crash catches before their sync: the first record's
      // page is lost, the second's written (pages persist in any order).
      await put("t1", "bbbb", []);
      await put("t2", "cccc", []);
      await store.close();
      const logged = records(dir);
      const third = logged.find((e) => e.revision === 3)!;
      const fd = openSync(join(dir, `wal-${third.segment}`), "r+");
      writeSync(fd, Buffer.alloc(24), 0, 24, third.end);
      closeSync(fd);
      copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
      store = openLmdbStore(dir, { pollIntervalMs: 0 });
      assert.equal(store.head(), 3, "replay stops at the torn record");
      // A new revision 4, as long as the lost one: its record ends where the stale revision 5 begins.
      await put("t1", "dddd", acked);
      await store.close();
      // Another crash: LMDB loses revision 4 again; the log has it.
      copyFileSync(join(dir, "older.mdb"), join(dir, "data.mdb"));
      store = openLmdbStore(dir, { pollIntervalMs: 0 });
      assertState(store, acked, 4, "after two crashes");
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("logs nothing for a write that was refused or decided nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-wal-test-"));
    try {
      const store = openLmdbStore(dir, { pollIntervalMs: 0 });
      await store.write({ type: TYPE, namespace: "default", name: "a" }, (_c, revision) => ({ op: "put", object: JSON.stringify({ revision }) }));
      await assert.rejects(
        store.write({ type: TYPE, namespace: "default", name: "b" }, () => {
          throw new RangeError("no");
        }),
        RangeError,
      );
      await store.write({ type: TYPE, namespace: "default", name: "a" }, () => ({ op: "none" }));
      await store.close();
      assert.deepEqual(
        records(dir).map((e) => e.revision),
        [1],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
