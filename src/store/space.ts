// Space accounting and the space alarm of a store backend (etcd's NOSPACE):
// what a backend calls before a write (may it grow the store?), after a
// commit (how much did it add?) and when a commit fails (was the disk full?).
//
// Contract:
// - The alarm is raised when the used bytes pass the quota, when the room
//   left (free pages in the store's file plus free space on its filesystem)
//   falls below a reserve kept for deletes and compaction (which need new
//   pages too: on a disk with no room at all nothing could free space), or
//   when a commit fails for lack of disk space. While it is raised, `refusal()` returns the
//   error a write that adds data must be refused with; deletes and compaction
//   go on and free space.
// - It clears on its own: a quota alarm once the used bytes are back under
//   the quota, a disk-full alarm once the room is back above the reserve and
//   has grown by `headroomBytes` since a failed commit.
// - Measuring is costly (26 µs back to back, about 170 µs after an idle
//   moment), so while no alarm is raised it happens at most every
//   `refreshMs` of real time (1 s); in between, each commit's bytes
//   (its pages, and on the disk also the write-ahead log's growth) are added
//   to the last measure, so a burst of writes cannot run far past the quota
//   or into the reserve unseen. Once the room left is under twice the
//   reserve, every commit measures: an estimate that is off by a little per
//   commit must not add up over a burst. While an alarm is raised every look
//   measures, so it clears as soon as there is room.

import { InsufficientStorageError } from "../errors.ts";
import type { SpaceAlarm, StoreSpace } from "./types.ts";

/** One measure of the store's files. */
export interface SpaceMeasure {
  /** Bytes of pages holding data (objects, history, indexes). */
  usedBytes: number;
  /** Bytes of pages the store's files already hold (used or free for reuse). */
  fileBytes: number;
  /** Bytes still free on the filesystem holding the files. */
  diskFreeBytes: number;
  /** Size of that filesystem (Infinity if unknown). */
  diskBytes: number;
}

export interface SpaceMonitorOptions {
  /** Used bytes past which writes that add data are refused; 0 for no quota. */
  quotaBytes: number;
  /** Measures the store's files. Called at most every `refreshMs`. */
  measure: () => SpaceMeasure;
  /** Milliseconds since the epoch, for `SpaceAlarm.since`. */
  now: () => number;
  /**
   * Longest time between two measures while no alarm is raised (real time).
   * Default 1 s: a measure after an idle moment took about 170 µs (LMDB's
   * page counts 110, statfs 25), and at 100 ms every paced write paid one,
   * inside its write transaction.
   */
  refreshMs?: number;
  /** Room to regain after a disk-full commit before writes are tried again. Default 1 MiB. */
  headroomBytes?: number;
  /** Room kept for deletes and compaction. Default a tenth of the filesystem, at least 4 MiB, at most 64 MiB. */
  reserveBytes?: number;
}

/** errno values (and LMDB's MDB_MAP_FULL) that mean "no space". */
const NO_SPACE_CODES = new Set<unknown>([28, "ENOSPC", 122, "EDQUOT", -30792, "MDB_MAP_FULL"]);
/** LMDB reports a short write (the usual face of a full disk) as EIO. */
const SHORT_WRITE_CODES = new Set<unknown>([5, "EIO"]);
/** Below this much free disk space an EIO on commit is taken for a full disk. */
const NEARLY_FULL_BYTES = 8 * 1024 * 1024;

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Tracks a store's used bytes against its quota and raises or clears the space alarm. */
export class SpaceMonitor {
  readonly #o: Required<Omit<SpaceMonitorOptions, "reserveBytes">> & { reserveBytes?: number };
  #measured: SpaceMeasure = { usedBytes: 0, fileBytes: 0, diskFreeBytes: Infinity, diskBytes: Infinity };
  #measuredAt = -Infinity;
  /** Bytes committed since the last measure (an estimate of the used bytes' growth). */
  #since = 0;
  /** Bytes the commits since the last measure took on the disk (an estimate: pages and the write-ahead log's growth). */
  #spent = 0;
  #alarm: SpaceAlarm | undefined;
  /** For a disk-full alarm: the room there was when the commit failed. */
  #roomAtFailure = 0;

  constructor(options: SpaceMonitorOptions) {
    if (!(options.quotaBytes >= 0)) throw new RangeError(`store: quotaBytes must be 0 or more, got ${options.quotaBytes}`);
    this.#o = { refreshMs: 1000, headroomBytes: MiB, ...options };
  }

  /** Used bytes, quota and alarm, re-measured if the last measure is stale. */
  space(): StoreSpace {
    this.#refresh(this.#alarm !== undefined);
    const out: StoreSpace = { usedBytes: this.#measured.usedBytes + this.#since, quotaBytes: this.#o.quotaBytes };
    if (this.#alarm) out.alarm = this.#alarm;
    return out;
  }

  /** The error to refuse a write that adds data with, or undefined if there is room. */
  refusal(): InsufficientStorageError | undefined {
    const alarm = this.space().alarm;
    return alarm ? new InsufficientStorageError(alarm.message) : undefined;
  }

  /**
   * Records a successful commit of about `bytes` of data, which took about
   * `diskBytes` of room (pages rounded up, the write-ahead log's growth;
   * default `bytes`). Measures at once when that may have crossed the quota
   * or come near the reserve.
   */
  committed(bytes: number, diskBytes = bytes): void {
    this.#since += bytes;
    this.#spent += diskBytes;
    if (this.#alarm) return;
    const m = this.#measured;
    const overQuota = this.#o.quotaBytes > 0 && m.usedBytes + this.#since > this.#o.quotaBytes;
    if (overQuota || this.nearlyFull()) this.#refresh(true);
  }

  /**
   * Whether the room left, as last measured and estimated since, is under
   * twice the reserve (then every commit measures): what the store grows
   * ahead of need should be small.
   */
  nearlyFull(): boolean {
    const m = this.#measured;
    return this.#room(m) - this.#spent < 2 * this.#reserve(m);
  }

  /**
   * Whether `bytes` more may be taken on the disk ahead of need (room written
   * ahead in LMDB's file): no alarm, and the disk keeps four times the reserve
   * after it. Near the reserve the room is left to the writes themselves.
   */
  maySpare(bytes: number): boolean {
    const m = this.#measured;
    return !this.#alarm && m.diskFreeBytes - this.#spent - bytes >= 4 * this.#reserve(m);
  }

  /** Space was freed (compaction): measure again on the next look. */
  freed(): void {
    this.#measuredAt = -Infinity;
  }

  /**
   * Classifies a failed commit: an InsufficientStorageError (and a raised
   * disk-full alarm) when the disk is full, else undefined.
   */
  commitFailed(cause: unknown): InsufficientStorageError | undefined {
    const code = (cause as { code?: unknown } | undefined)?.code;
    this.#refresh(true);
    const m = this.#measured;
    const full = NO_SPACE_CODES.has(code) || (SHORT_WRITE_CODES.has(code) && m.diskFreeBytes < NEARLY_FULL_BYTES);
    if (!full) return undefined;
    this.#roomAtFailure = this.#room(m);
    // The alarm (raised once, logged once) keeps its first message; the error says how much room there is now.
    const now = this.#diskFull(m);
    if (this.#alarm?.kind !== "disk-full") this.#alarm = now;
    return new InsufficientStorageError(now.message, { cause });
  }

  #diskFull(m: SpaceMeasure): SpaceAlarm {
    return {
      kind: "disk-full",
      message:
        `store: the disk holding the data directory is full (${mib(this.#room(m))} left, ${mib(this.#reserve(m))} kept for deletes and compaction): ` +
        `writes are refused until there is room; reads, watches and deletes still work. ` +
        `Delete objects, shorten --history-window, or give the data directory more space`,
      since: this.#o.now(),
    };
  }

  #room(m: SpaceMeasure): number {
    return Math.max(0, m.fileBytes - m.usedBytes) + m.diskFreeBytes;
  }

  #reserve(m: SpaceMeasure): number {
    return this.#o.reserveBytes ?? Math.min(64 * MiB, Math.max(4 * MiB, m.diskBytes / 10));
  }

  #refresh(force: boolean): void {
    // Real elapsed time, not the store's clock: this rate-limits statfs calls,
    // and a test's manual clock standing still must not freeze the reading.
    const now = performance.now();
    if (!force && now - this.#measuredAt < this.#o.refreshMs) return;
    this.#measured = this.#o.measure();
    this.#measuredAt = now;
    this.#since = 0;
    this.#spent = 0;
    const { usedBytes } = this.#measured;
    const quota = this.#o.quotaBytes;
    const over = quota > 0 && usedBytes > quota;
    const room = this.#room(this.#measured);
    const reserve = this.#reserve(this.#measured);
    if (this.#alarm?.kind === "disk-full") {
      if (room < Math.max(this.#roomAtFailure, reserve) + this.#o.headroomBytes) return;
      this.#alarm = undefined;
      this.#roomAtFailure = 0;
    }
    if (room < reserve) {
      this.#alarm = this.#diskFull(this.#measured);
    } else if (over && !this.#alarm) {
      this.#alarm = {
        kind: "quota",
        message:
          `store: the store is past its quota (${mib(usedBytes)} used of ${mib(quota)}): writes are refused until there is room; ` +
          `reads, watches and deletes still work. Delete objects, shorten --history-window, or raise --quota-backend-bytes`,
        since: this.#o.now(),
      };
    } else if (!over && this.#alarm?.kind === "quota") {
      this.#alarm = undefined;
    }
  }
}
