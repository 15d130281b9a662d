// Lone writes committed on the main thread, and the room written ahead in
// LMDB's data file that makes that safe (src/store/data-file-room.ts,
// docs/durability.md "Commit on the main thread"): lmdb-js's LMDB overflows a
// heap buffer when a page write fails outright, which on the main thread
// aborts the process, so a main-thread commit must only ever overwrite blocks
// the file system already holds.
//
// The full-disk case needs root (it mounts a tmpfs); it is skipped with the
// reason otherwise. The others need /tmp on a file system that overwrites in
// place (ext4, tmpfs), as the room is kept only there.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, statfsSync, truncateSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import {
  DataFileRoom,
  IN_PLACE_FILE_SYSTEMS,
  ROOM_AHEAD_BYTES,
  ROOM_STEP_BYTES,
  SWEEP_STEP_BYTES,
  type AllocatedRecord,
} from "../../src/store/data-file-room.ts";
import { ManualClock } from "../../src/clock.ts";
import { openLmdbStore } from "../../src/store/lmdb.ts";
import { startStoreChild } from "../helpers/store-child.ts";

const PAGE = 4096;
const MiB = 1024 * 1024;
const DEADLINE_MS = 60_000;
const TYPE = "things.example.com";

/** Why the room cannot be kept under `dir`, or undefined if it can. */
function notInPlace(dir: string): string | undefined {
  const type = statfsSync(dir).type;
  return IN_PLACE_FILE_SYSTEMS.has(type) ? undefined : `${dir} is on a file system (0x${type.toString(16)}) that does not overwrite in place`;
}

/** Bytes of `file` the file system holds blocks for. */
const allocated = (file: string) => statSync(file).blocks * 512;

/**
 * Makes `data.mdb` in a fresh directory with `write`, then runs `check` with
 * a DataFileRoom over it; skipped where the file system does not overwrite in
 * place. The directory is removed after.
 */
function withDataFile(t: TestContext, write: (file: string) => void, check: (room: DataFileRoom, file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-room-"));
  try {
    const why = notInPlace(dir);
    if (why) {
      t.skip(why);
      return;
    }
    const file = join(dir, "data.mdb");
    write(file);
    const room = new DataFileRoom(dir, PAGE);
    try {
      check(room, file);
    } finally {
      room.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("DataFileRoom", () => {
  it("fills a file's holes with zeros and leaves its pages as they were, then writes zeros ahead; a file grown past the record has no room", (t) => {
    withDataFile(
      t,
      (file) => {
        const fd = openSync(file, "w+");
        // Pages 0, 5 and 9 written; 1-4 and 6-8 holes, as LMDB leaves them when it skips pages it freed.
        for (const [page, byte] of [
          [0, 1],
          [5, 2],
          [9, 3],
        ] as const)
          writeSync(fd, Buffer.alloc(PAGE, byte), 0, PAGE, page * PAGE);
        closeSync(fd);
      },
      (room, file) => {
        const before = readFileSync(file);
        assert.ok(allocated(file) < 10 * PAGE, "the file has holes to begin with");

        assert.equal(room.room(undefined, 10 * PAGE), 0, "nothing is known written yet");
        // The disk may not spare more: the file is swept, not grown.
        const swept = room.step(undefined, 10 * PAGE, () => false, ROOM_STEP_BYTES, ROOM_AHEAD_BYTES, ROOM_STEP_BYTES);
        assert.equal(swept?.end, 10 * PAGE);
        assert.equal(statSync(file).size, 10 * PAGE);
        assert.equal(allocated(file), 10 * PAGE, "every hole is written");
        assert.deepEqual(readFileSync(file), before, "no page changed");
        assert.equal(room.room(swept, 10 * PAGE), 0, "no room past LMDB's last page yet");

        // Then zeros past the end: at most `step` (4 pages) per call, towards `ahead` (8 pages) past LMDB's last page.
        const grown = room.step(swept, 10 * PAGE, () => true, 4 * PAGE, 8 * PAGE, 4 * PAGE);
        assert.equal(grown?.end, 14 * PAGE);
        assert.equal(statSync(file).size, 14 * PAGE);
        assert.equal(allocated(file), 14 * PAGE);
        assert.equal(room.room(grown, 10 * PAGE), 4 * PAGE);
        const more = room.step(grown, 10 * PAGE, () => true, 4 * PAGE, 8 * PAGE, 4 * PAGE);
        assert.equal(more?.end, 18 * PAGE);
        assert.equal(
          room.step(more, 10 * PAGE, () => true, 4 * PAGE, 8 * PAGE, 4 * PAGE),
          undefined,
          "8 pages ahead: nothing to do",
        );
        assert.deepEqual(readFileSync(file).subarray(0, 10 * PAGE), before);

        // Another inode (a copy or a restore of the directory): nothing is known.
        assert.equal(room.room({ ino: more!.ino + 1, end: more!.end }, 10 * PAGE), 0);
        // LMDB wrote past the record (a commit larger than the room): no room until swept again.
        const again = openSync(file, "r+");
        writeSync(again, Buffer.alloc(PAGE, 4), 0, PAGE, 20 * PAGE);
        closeSync(again);
        assert.equal(room.room(more, 10 * PAGE), 0);
        const resumed = room.step(more, 10 * PAGE, () => false, ROOM_STEP_BYTES, ROOM_AHEAD_BYTES, ROOM_STEP_BYTES);
        assert.equal(resumed?.end, 21 * PAGE);
        assert.equal(allocated(file), 21 * PAGE);
        assert.equal(room.room(resumed, 10 * PAGE), 11 * PAGE);
      },
    );
  });

  it("sweeps a large backlog (a bulk-loaded data.mdb) SWEEP_STEP_BYTES per transaction, a small one ROOM_STEP_BYTES", (t) => {
    withDataFile(
      t,
      (file) => {
        const fd = openSync(file, "w+");
        writeSync(fd, Buffer.alloc(PAGE, 1), 0, PAGE, 0);
        closeSync(fd);
        truncateSync(file, 12 * MiB); // 12 MiB of holes past the first page
      },
      (room) => {
        const first = room.step(undefined, 12 * MiB, () => false);
        assert.equal(first?.end, SWEEP_STEP_BYTES, "more than ROOM_AHEAD_BYTES left: a small step");
        let record: AllocatedRecord | undefined = first;
        for (let i = 0; i < 1000 && record && 12 * MiB - record.end > ROOM_AHEAD_BYTES; i++) record = room.step(record, 12 * MiB, () => false);
        assert.ok(record && 12 * MiB - record.end <= ROOM_AHEAD_BYTES, "the backlog comes down to ROOM_AHEAD_BYTES");
        const from = record.end;
        const next = room.step(record, 12 * MiB, () => false);
        assert.equal(next!.end - from, ROOM_STEP_BYTES, "within ROOM_AHEAD_BYTES of the end: a whole step");
      },
    );
  });

  it("believes no record of a file that came back with holes or shorter under the same inode, and sweeps it again from the start", (t) => {
    withDataFile(
      t,
      (file) => {
        const fd = openSync(file, "w+");
        writeSync(fd, Buffer.alloc(10 * PAGE, 1), 0, 10 * PAGE, 0);
        closeSync(fd);
      },
      (room, file) => {
        const grown = room.step(undefined, 10 * PAGE, () => true, 16 * PAGE, 8 * PAGE, 16 * PAGE);
        assert.equal(grown?.end, 18 * PAGE);
        assert.equal(room.room(grown, 10 * PAGE), 8 * PAGE);

        // The room comes back as holes in the same inode (as a copy that makes
        // holes of zeros leaves it, restored into a file given the old inode
        // number): same size, same record, no blocks under the room.
        truncateSync(file, 10 * PAGE);
        truncateSync(file, 18 * PAGE);
        assert.ok(allocated(file) < 18 * PAGE, "the room is holes");
        assert.equal(room.room(grown, 10 * PAGE), 0, "no room is believed where blocks are missing");
        // Swept again from the start (the record, unchanged, then holds again).
        assert.equal(
          room.step(grown, 10 * PAGE, () => false, 18 * PAGE, 8 * PAGE, 18 * PAGE),
          undefined,
        );
        assert.equal(allocated(file), 18 * PAGE);
        assert.deepEqual(readFileSync(file).subarray(0, 10 * PAGE), Buffer.alloc(10 * PAGE, 1), "no page changed");
        assert.equal(room.room(grown, 10 * PAGE), 8 * PAGE);

        // Shorter than the record: no room past the file's end.
        truncateSync(file, 12 * PAGE);
        assert.equal(room.room(grown, 10 * PAGE), 0, "no room past the end of the file");
        assert.equal(
          room.step(grown, 10 * PAGE, () => false, ROOM_STEP_BYTES, ROOM_AHEAD_BYTES, ROOM_STEP_BYTES)?.end,
          12 * PAGE,
          "the record follows the file",
        );
      },
    );
  });
});

describe("lone writes on the main thread", () => {
  it("commit there once data.mdb is written ahead (no holes), while batches stay on the write thread; all of it is durable", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-main-commit-"));
    try {
      const why = notInPlace(dir);
      if (why) return t.skip(why);
      const commits = { main: 0, write: 0 };
      // A clock standing still: no commit counts as slow (that rule has its own test below).
      const store = openLmdbStore(dir, { pollIntervalMs: 0, clock: new ManualClock(Date.now()), onCommitted: (thread) => commits[thread]++ });
      const put = (name: string) =>
        store.write({ type: TYPE, namespace: "default", name }, (_current, revision) => ({
          op: "put",
          object: JSON.stringify({ metadata: { name, resourceVersion: String(revision) }, spec: { pad: "x".repeat(3000) } }),
        }));
      for (let i = 0; i < 60; i++) await put(`seq-${i}`);
      // The first few build the room on the write thread; the rest commit on the main thread.
      assert.ok(commits.main >= 50, `main-thread commits: ${JSON.stringify(commits)}`);
      const written = commits.write;
      await Promise.all(Array.from({ length: 40 }, (_, i) => put(`batch-${i}`)));
      assert.ok(commits.write > written, `a batch went to the write thread: ${JSON.stringify(commits)}`);
      await store.close();

      const file = join(dir, "data.mdb");
      assert.ok(statSync(file).size >= 4 * MiB, `data.mdb is written ahead: ${statSync(file).size} bytes`);
      assert.ok(allocated(file) >= statSync(file).size, "data.mdb has no holes");
      const reopened = openLmdbStore(dir, { pollIntervalMs: 0 });
      try {
        const { items } = reopened.list({ type: TYPE, namespace: "default" });
        assert.equal(items.length, 100);
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("not for 10 s after a main-thread commit took 100 ms or more (a stalled disk held the whole event loop); then again", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-main-commit-"));
    try {
      const why = notInPlace(dir);
      if (why) return t.skip(why);
      const clock = new ManualClock(Date.now());
      const commits = { main: 0, write: 0 };
      const store = openLmdbStore(dir, { pollIntervalMs: 0, clock, onCommitted: (thread) => commits[thread]++ });
      let stall = 0; // ms the next decider "takes", as a slow sync would
      const put = (name: string) =>
        store.write({ type: TYPE, namespace: "default", name }, (_current, revision) => {
          clock.advance(stall);
          stall = 0;
          return { op: "put", object: JSON.stringify({ metadata: { name, resourceVersion: String(revision) }, spec: { pad: "x".repeat(3000) } }) };
        });
      for (let i = 0; i < 60 && commits.main < 5; i++) await put(`warm-${i}`);
      assert.ok(commits.main >= 5, `lone writes commit on the main thread: ${JSON.stringify(commits)}`);

      stall = 99; // an ordinary sync on a busy disk
      await put("quick");
      const afterQuick = { ...commits };
      await put("next-1");
      assert.equal(commits.main, afterQuick.main + 1, `99 ms is not slow: ${JSON.stringify(commits)}`);

      stall = 100;
      await put("slow");
      const afterSlow = { ...commits };
      for (let i = 0; i < 5; i++) await put(`after-slow-${i}`);
      assert.deepEqual(commits, { main: afterSlow.main, write: afterSlow.write + 5 }, "after a slow main-thread commit, lone writes go to the write thread");

      clock.advance(9_999);
      await put("still-paused");
      assert.equal(commits.main, afterSlow.main, `9,999 ms later still on the write thread: ${JSON.stringify(commits)}`);
      clock.advance(1);
      await put("back");
      assert.equal(commits.main, afterSlow.main + 1, `10 s later the main thread again: ${JSON.stringify(commits)}`);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("not while another process has the directory open (its commits hold LMDB's writer lock, which the main thread would wait for, serving nothing); again once it is gone", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-main-commit-"));
    try {
      const why = notInPlace(dir);
      if (why) return t.skip(why);
      const child = startStoreChild(dir, { store: { pollIntervalMs: 0 }, handler: "async () => 'ok'", deadlineMs: DEADLINE_MS });
      const commits = { main: 0, write: 0 };
      let store: ReturnType<typeof openLmdbStore> | undefined;
      try {
        assert.equal(await child.nextLine("ready"), "ready");
        store = openLmdbStore(dir, { pollIntervalMs: 0, onCommitted: (thread) => commits[thread]++ });
        const put = (name: string) =>
          store!.write({ type: TYPE, namespace: "default", name }, (_current, revision) => ({
            op: "put",
            object: JSON.stringify({ metadata: { name, resourceVersion: String(revision) }, spec: { pad: "x".repeat(3000) } }),
          }));
        // Well past the writes that build the room (alone, 5 of them).
        for (let i = 0; i < 30; i++) await put(`seq-${i}`);
        assert.equal(commits.main, 0, `no commit on the main thread with another process there: ${JSON.stringify(commits)}`);

        assert.equal(await child.exit(), 0, child.stderr());
        // Told of it by the openers folder's watch: lone writes commit on the main thread again.
        const deadline = Date.now() + DEADLINE_MS;
        for (let i = 0; commits.main === 0; i++) {
          assert.ok(i < 10_000 && Date.now() < deadline, `no commit on the main thread once alone: ${JSON.stringify(commits)}`);
          await put(`alone-${i}`);
        }
      } finally {
        await child.kill();
        await store?.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on a full disk commit into the room written ahead and never fail there: the process survives, failures are 507s on the write thread", async (t) => {
    if (process.getuid?.() !== 0) return t.skip("needs root to mount a tmpfs");
    const mount = mkdtempSync(join(tmpdir(), "setpoint-tmpfs-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mount], { stdio: "pipe" });
    } catch (err) {
      rmSync(mount, { recursive: true, force: true });
      return t.skip(`cannot mount a tmpfs here: ${(err as Error).message.split("\n")[0]}`);
    }
    const dir = join(mount, "data");
    mkdirSync(dir);
    const child = startStoreChild(dir, {
      store: { pollIntervalMs: 0, walSegmentBytes: 4 * MiB },
      // A clock standing still (no commit counts as slow on a loaded machine), with no timers.
      storeSource:
        "{ onCommitted: (thread) => globalThis.commits[thread]++, clock: { now: () => 0, after: () => ({ cancel() {} }), every: () => ({ cancel() {} }) } }",
      // "put N BYTES": N lone creates of BYTES (stops at the first refusal); "del": deletes every name created, one at a time.
      handler: `async (store, [cmd, n, bytes]) => {
        globalThis.names ??= [];
        const before = { ...globalThis.commits };
        const out = { ok: 0, refused: 0, other: [] };
        const key = (name) => ({ type: ${JSON.stringify(TYPE)}, namespace: "default", name });
        const one = async (write) => {
          try { await write(); out.ok++; return true; }
          catch (err) {
            if (err?.name === "InsufficientStorageError" || /full/.test(err?.message)) { out.refused++; return false; }
            out.other.push(String(err?.message ?? err)); return false;
          }
        };
        if (cmd === "put") {
          for (let i = 0; i < Number(n); i++) {
            const name = "t-" + globalThis.names.length;
            const ok = await one(() => store.write(key(name), () => ({ op: "put", object: JSON.stringify({ metadata: { name }, pad: "x".repeat(Number(bytes)) }) })));
            if (!ok) break;
            globalThis.names.push(name);
          }
        } else {
          for (const name of globalThis.names.splice(0)) await one(() => store.write(key(name), (current) => ({ op: "delete", object: current.json })));
        }
        return JSON.stringify({ ...out, main: globalThis.commits.main - before.main, write: globalThis.commits.write - before.write });
      }`,
      deadlineMs: DEADLINE_MS,
    });
    try {
      assert.equal(await child.nextLine("ready"), "ready");
      // Room is written ahead while the disk has plenty (8 MiB past LMDB's last page).
      child.send("put 40 40000");
      const puts = JSON.parse(await child.nextLine("puts"));
      assert.deepEqual(puts, { ok: 40, refused: 0, other: [], main: puts.main, write: puts.write }, child.stderr());
      assert.ok(puts.main > 30, `puts committed on the main thread: ${JSON.stringify(puts)}`);

      // Something else takes every block left on the disk.
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${join(mount, "filler")}`, "bs=64k"], { stdio: "pipe" });
      } catch {
        // dd stops with "No space left on device": that is the point
      }
      assert.ok(statfsSync(mount).bavail * statfsSync(mount).bsize < 64 * 1024, "the disk is full");

      // Creates go on into the room written ahead, on the main thread, until
      // the space alarm refuses them (the room counts as room for LMDB's
      // pages); none of their commits fails.
      child.send("put 2000 4000");
      const full = JSON.parse(await child.nextLine("puts on a full disk"));
      assert.deepEqual(full.other, [], child.stderr());
      assert.ok(full.main > 10, `creates committed on the main thread with the disk full: ${JSON.stringify(full)}`);
      assert.equal(full.refused, 1, JSON.stringify(full));

      // Deletes need new pages too (a delete's history record): on the main
      // thread while the room lasts, then on the write thread, where a failed
      // page write is answered (507) and the process goes on.
      child.send("del");
      const dels = JSON.parse(await child.nextLine("deletes"));
      assert.deepEqual(dels.other, [], child.stderr());
      assert.equal(dels.ok + dels.refused, puts.ok + full.ok);
      assert.equal(await child.exit(), 0, child.stderr());
      assert.doesNotMatch(child.stderr(), /main thread|abort|corrupted|free\(\)/, child.stderr());
    } finally {
      await child.kill();
      execFileSync("umount", [mount], { stdio: "pipe" });
      rmSync(mount, { recursive: true, force: true });
    }
  });
});
