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

const TYPE = "widgets.example.com";

/** A seeded PRNG (mulberry32), so a failure names the seed that reproduces it. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Acked {
  revision: number;
  name: string;
  /** The object after the write; undefined for a delete. */
  json: string | undefined;
}

/** Random acknowledged writes (puts of growing objects, some deletes) over a few names. */
async function writeSome(store: Store, count: number, random: () => number, acked: Acked[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const name = `w${Math.floor(random() * 12)}`;
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
  for (const a of acked) {
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
  // The change log holds every write up to the head, once, in order.
  const changes = store.changes(0, 1_000_000);
  assert.deepEqual(
    changes.map((c) => c.revision),
    acked.filter((a) => a.revision <= head).map((a) => a.revision),
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
