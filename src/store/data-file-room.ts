// Room written ahead in LMDB's data file (data.mdb), so that a commit's page
// writes overwrite blocks the file system already holds and cannot fail for
// lack of disk space. That is what makes it safe to commit a lone write on
// the main thread (docs/durability.md, "Commit on the main thread"): lmdb-js's
// LMDB overflows a heap buffer when a page write fails outright, and on the
// main thread that aborts the process.
//
// Why that holds, from LMDB's mdb.c (lmdb 3.5.6): without MDB_WRITEMAP, LMDB
// writes a commit's dirty pages with pwrite/pwritev at `pgno * pagesize`, and
// never truncates data.mdb. It grows the file only by writing pages past its
// end; pages freed in the same transaction ("loose") are not written, so the
// file may get holes where it grew. So:
// - Only past `end` (below) may a block be missing. Every byte below it was
//   written: zeros written here past the file's end, or, for what the file
//   held before (`sweep`), every page that reads as zeros (a hole, or zeros
//   anyway) written with zeros. Writing zeros where zeros are changes nothing.
// - This runs inside a write transaction, before its first put: no process
//   writes pages meanwhile (LMDB has one writer across processes), and this
//   transaction's pages are written at its commit, after these zeros.
// - `end` is recorded in LMDB's meta database (shared by every process) with
//   the file's inode: a copy or a restore of the directory starts again from 0.
//   So does a file with fewer blocks than the record's `end` (a restore into
//   a file that got the same inode number, by a copy that made holes of runs
//   of zeros), or shorter than it.
//   If the file is ever longer than `end`, LMDB wrote past it (a commit larger
//   than the room, an older release): what lies past `end` is swept again.
// - Only where the file system overwrites a file's blocks in place (ext2/3/4,
//   tmpfs). Copy-on-write file systems (btrfs, ZFS) allocate on every write;
//   XFS does too for blocks shared with a reflinked copy (`cp` makes one by
//   default there), which cannot be seen from here; overlayfs and the rest are
//   not known. There `room()` is 0 and every commit goes to the write thread.

import { closeSync, fstatSync, openSync, readSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";

/** statfs f_type of file systems that overwrite a file's allocated blocks in place (linux/magic.h). */
export const IN_PLACE_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0xef53, "ext2/ext3/ext4"],
  [0x01021994, "tmpfs"],
]);

/** What is known allocated in data.mdb: every byte below `end` of the file with inode `ino`. Kept in LMDB's meta database. */
export interface AllocatedRecord {
  ino: number;
  end: number;
}

const MiB = 1024 * 1024;
/**
 * Most bytes one transaction writes here (sweeping, and growing). The commit
 * that grows the room syncs them with its pages: small steps keep that
 * commit's sync short (like the write-ahead log's 1 MiB steps).
 */
export const ROOM_STEP_BYTES = MiB;
/**
 * Most bytes one transaction sweeps (reads, and writes with zeros where they
 * read as zeros) while more than ROOM_AHEAD_BYTES are left to sweep; below
 * that, ROOM_STEP_BYTES (LMDB's own growth past the room, a new store). A
 * data directory written in large batches (a bulk load, a restore,
 * --no-fsync) can leave gigabytes to sweep: at 1 MiB per transaction every
 * write paid for it until it was done (sequential durable creates on
 * 1,000,000 objects, bench/scale.ts: p50 1.86-2.38 ms against 1.16-1.18
 * before the room; 1.25-1.55 with 16 KiB). The main-thread path waits until
 * the sweep is done.
 */
export const SWEEP_STEP_BYTES = 16 * 1024;
/** How far ahead of LMDB's last page the file is kept written. */
export const ROOM_AHEAD_BYTES = 8 * MiB;

export class DataFileRoom {
  #fd: number;
  readonly #ino: number;
  readonly #pageSize: number;
  #closed = false;
  /** The file system's name, when it overwrites in place. */
  readonly inPlace: string | undefined;

  /** Opens data.mdb in `dir` (LMDB must have created it), for writing zeros where the file system overwrites in place. */
  constructor(dir: string, pageSize: number) {
    const file = join(dir, "data.mdb");
    let type: number | undefined;
    try {
      type = statfsSync(dir).type;
    } catch {
      // unknown file system: never in place
    }
    this.#fd = openSync(file, "r");
    this.#ino = fstatSync(this.#fd).ino;
    this.#pageSize = pageSize;
    let inPlace = type === undefined ? undefined : IN_PLACE_FILE_SYSTEMS.get(type);
    if (inPlace) {
      try {
        const writable = openSync(file, "r+");
        closeSync(this.#fd);
        this.#fd = writable;
      } catch {
        inPlace = undefined; // not writable here: no room, every commit on the write thread
      }
    }
    this.inPlace = inPlace;
  }

  /**
   * Bytes past `usedEnd` (LMDB's last page's end) that are known written,
   * per `record`: 0 if none are, or if the file system does not overwrite in
   * place, or if the file grew past what the record covers.
   */
  room(record: AllocatedRecord | undefined, usedEnd: number): number {
    if (!this.inPlace) return 0;
    const st = fstatSync(this.#fd);
    // Longer than the record: LMDB wrote past it (swept again from there).
    if (!this.#holds(record, st) || st.size !== record.end) return 0;
    return Math.max(0, record.end - usedEnd);
  }

  /**
   * Whether `record` can be believed of the file as it is: its inode, at least
   * `end` bytes long, and blocks for at least `end` bytes. Not so for a file
   * that only got the same inode number (a restore into a new directory) and
   * came with holes (a copy that makes holes of runs of zeros), or for growth
   * that was not synced (--no-fsync) and was lost: swept again from 0.
   */
  #holds(record: AllocatedRecord | undefined, st: { size: number; blocks: number }): record is AllocatedRecord {
    return record?.ino === this.#ino && st.size >= record.end && st.blocks * 512 >= record.end;
  }

  /**
   * One step towards `ahead` bytes of room past `usedEnd`, to run inside a
   * write transaction before its first put: sweeps up to `step` bytes (`sweep` while more than `ahead` are left) of the
   * file not yet known written, then, if the whole file is, writes up to
   * `step` bytes of zeros past its end. `mayGrow(bytes)`: whether the disk can
   * spare that much. Returns the record to store, or undefined when nothing
   * changed. (A write that failed part way leaves the file longer than the
   * record: swept again later.)
   */
  step(
    record: AllocatedRecord | undefined,
    usedEnd: number,
    mayGrow: (bytes: number) => boolean,
    step = ROOM_STEP_BYTES,
    ahead = ROOM_AHEAD_BYTES,
    sweep = SWEEP_STEP_BYTES,
  ): AllocatedRecord | undefined {
    if (!this.inPlace) return undefined;
    const st = fstatSync(this.#fd);
    const size = st.size;
    let end = this.#holds(record, st) ? record.end : 0;
    try {
      if (end < size) end = this.#sweep(end, Math.min(size, end + (size - end > ROOM_AHEAD_BYTES ? sweep : step)));
      const want = Math.min(usedEnd + ahead, size + step);
      if (end === size && want - size >= this.#pageSize && mayGrow(want - size)) {
        this.#zeros(size, want);
        end = want;
      }
    } catch {
      // a full disk, most likely: what was done so far is kept
    }
    return end !== record?.end || record?.ino !== this.#ino ? { ino: this.#ino, end } : undefined;
  }

  /** The file's length: LMDB's pages and the room written ahead of them. */
  fileBytes(): number {
    return fstatSync(this.#fd).size;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }

  /** Writes zeros over every page of [from, to) that reads as zeros; returns `to` rounded down to a page. */
  #sweep(from: number, to: number): number {
    const ps = this.#pageSize;
    const start = from - (from % ps);
    const stop = to - (to % ps);
    const buf = Buffer.allocUnsafe(stop - start);
    const got = readSync(this.#fd, buf, 0, buf.length, start);
    const zero = Buffer.alloc(ps);
    let run = -1;
    for (let o = 0; o + ps <= got; o += ps) {
      const isZero = buf.subarray(o, o + ps).equals(zero);
      if (isZero && run < 0) run = o;
      if (!isZero && run >= 0) {
        this.#zeros(start + run, start + o);
        run = -1;
      }
    }
    const last = got - (got % ps);
    if (run >= 0) this.#zeros(start + run, start + last);
    return start + last;
  }

  #zeros(from: number, to: number): void {
    const chunk = Buffer.alloc(Math.min(MiB, to - from));
    for (let at = from; at < to; ) {
      const n = writeSync(this.#fd, chunk, 0, Math.min(chunk.length, to - at), at);
      at += n;
    }
  }
}
