// The embedded store: objects, the global revision counter and the change log
// in one LMDB environment.
//
// Layout (three named databases in use):
//   objects2 [type, namespace, name] → object JSON; the entry version is its revision
//            (key format and its migration from "objects": src/store/lmdb-format.ts)
//   log      revision → {t: change type, k: [type, ns, name], o: object, p: previous, m: ms, r?}
//            (binary since format 4, msgpack before: src/store/log-codec.ts; a deletion
//            whose object is its previous state but for the resourceVersion keeps only p,
//            with r: the previous revision; o is rebuilt on reading: one copy of a deleted
//            object instead of two, since format 3)
//   meta     "head" → newest revision, "compacted" → oldest revision still listable/watchable,
//            "format" → key format version, "wal" → where the next write-ahead log record goes,
//            "txn" → the LMDB transaction id of the newest commit that moved head or compacted
//
// This file opens the environment, replays the write-ahead log and runs the
// writes (group commit) and compaction. The reads are in lmdb-reads.ts; what
// the read snapshot holds, and other processes' commits, in lmdb-snapshots.ts;
// the key format in lmdb-format.ts; the log record's forms in log-codec.ts and
// wal-payload.ts.
//
// Every write is one LMDB transaction that reads the head, decides, and writes
// object + log entry + head together, so revisions are gap-free and ordered
// even when several processes share the directory (LMDB serialises writers).
// A decider's reads of other objects (a WriteScope) run inside that
// transaction too, so they see every commit before it: nothing to check.
// Writes are group-committed (see "Group commit" below). Reads use the
// current read snapshot.
//
// Durability (docs/durability.md): LMDB commits with `noMetaSync` (one sync
// per commit; an OS crash may roll back a suffix of the newest commits) and
// each write also appends its change record to the write-ahead log
// (src/store/wal.ts), synced beside the commit. A write resolves once both are
// done; opening the store replays the logged records past LMDB's head.
//
// Space (src/store/space.ts): past `quotaBytes` of used pages, or after a
// commit failed for a full disk, puts are refused with InsufficientStorageError
// while deletes and compaction go on. A failed commit rejects its writes (each
// with the cause), is reported once to `onCommitFailure`, and leaves no
// promise unhandled.

import { open, type Database, type RootDatabase } from "lmdb";
import { closeSync, fdatasync, openSync, statSync, statfsSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { systemClock, type Clock } from "../clock.ts";
import { lmdbFilesProblem } from "./lmdb-files.ts";
import { encodeKey, ensureFormat, OBJECTS_DB, type KeyTuple } from "./lmdb-format.ts";
import { fromStoredRecord, logEncoder, recordToChange, toStoredRecord, type LogRecord } from "./log-codec.ts";
import { decodeWalPayload, encodeWalPayload } from "./wal-payload.ts";
import type { CommitPeers } from "./commit-peers.ts";
import { DataFileRoom, ROOM_AHEAD_BYTES, ROOM_STEP_BYTES, type AllocatedRecord } from "./data-file-room.ts";
import { claimCommitError, holdLmdbCommitErrors } from "./lmdb-console.ts";
import { lmdbReads } from "./lmdb-reads.ts";
import { SnapshotTracker, TXN, type Quiet } from "./lmdb-snapshots.ts";
import { SpaceMonitor, type SpaceMeasure } from "./space.ts";
import { WriteAheadLog, type WalCursor, type WalPosition } from "./wal.ts";
import type { Change, CompactOptions, Decider, ObjectKey, Store, StoredObject, WriteResult } from "./types.ts";

export interface LmdbStoreOptions {
  /** Acknowledge a write only once it is on disk (write-ahead log and LMDB synced). Default true. */
  durable?: boolean;
  /** Bytes per write-ahead log segment (two segment files). Default 16 MiB. */
  walSegmentBytes?: number;
  /**
   * How often to look for commits made by other processes sharing the
   * directory; 0 disables. Default: every second with `peers` (a backstop
   * for a lost or late notice); else 50 ms while
   * another process has the directory open (src/store/openers.ts), 1 s while
   * none has.
   */
  pollIntervalMs?: number;
  /** Runs the poll timer, and stamps the change log (compaction by age) unless `now` is given. Default: the system clock. */
  clock?: Clock;
  /**
   * The other processes sharing the directory, told of each commit and telling
   * of theirs, so that their commits are seen at once rather than at the next
   * poll; a writer outside the group is then seen only at its next notice.
   */
  peers?: CommitPeers;
  /** Clock for change-log timestamps (compaction by age). Default: `clock.now`. */
  now?: () => number;
  /** Used bytes past which puts are refused (InsufficientStorageError) until deletes and compaction make room. Default 0: no quota. */
  quotaBytes?: number;
  /** Called once per failed commit (disk full, I/O error) with the error its writes were rejected with. */
  onCommitFailure?: (error: Error) => void;
  /** Called after each batch LMDB committed: on the main thread (a lone write with room written ahead) or on lmdb-js's write thread. For tests. */
  onCommitted?: (thread: "main" | "write") => void;
}

interface PageCounts {
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
}

/** A write waiting for its batch. */
interface PendingWrite {
  key: ObjectKey;
  decide: Decider;
  resolve: (result: WriteResult) => void;
  reject: (err: unknown) => void;
}

/** What a batch came to inside its write transaction. */
interface Applied {
  /** Per write of the batch, in order: its result, or why it failed (its decider threw, or the space alarm). */
  outcomes: Array<{ result?: WriteResult; failure?: unknown }>;
  /** Its changes, as the change log holds them. */
  changes: Change[];
  /** The newest revision after the batch. */
  head: number;
  /** Estimated bytes the batch added (0: it wrote nothing). */
  bytes: number;
  /** Estimated bytes it took on the disk: its values' pages (a large value takes whole pages) and the write-ahead log's growth. */
  diskBytes: number;
  /** Where its log records went. */
  positions: WalPosition[];
  /** Its log records started a new generation of the log. */
  rotated: boolean;
  /** The log's fdatasync covering its records, if logged. */
  synced: Promise<void> | undefined;
  /** Its records could not be logged: LMDB's data file must be synced instead. */
  unlogged: boolean;
  /** The LMDB transaction the batch was committed in. */
  txn: number;
  /** The store's `quiet` when the batch ran in its transaction. */
  quietAt: Quiet | undefined;
}

/** How far the write-ahead log grows ahead of its records on a nearly full disk (1 MiB otherwise). */
const WAL_STEP_NEARLY_FULL = 64 * 1024;

/** LMDB's page size here (lmdb-js's default on Linux). */
const PAGE_BYTES = 4096;

/**
 * About the bytes of pages a value of `length` takes: past about half a page
 * LMDB gives it overflow pages of its own, whole ones (a 50 kB object takes
 * 13 pages, 53 KiB).
 */
function valueDiskBytes(length: number): number {
  return length > PAGE_BYTES / 2 ? Math.ceil((length + 16) / PAGE_BYTES) * PAGE_BYTES : length + 16;
}

/** The `meta` key holding what is known written in data.mdb (data-file-room.ts). */
const ALLOCATED = "allocated";
/** Least room written ahead for a lone write to commit on the main thread. */
const HERE_MIN_ROOM = 4 * 1024 * 1024;
/** Room left aside for what a batch's estimate of its pages leaves out (branch pages, LMDB's free list). */
const HERE_MARGIN = 1024 * 1024;
/**
 * A main-thread commit that took this long (LMDB's sync on a stalled disk)
 * held every request of the process for it; lone writes then commit on the
 * write thread for HERE_PAUSE_MS, where only they wait for the disk. Above
 * this VM's ordinary syncs (up to 20-90 ms in a run, docs/request-path.md),
 * below its stalls (150-1,000 ms): at 10 ms the rule tripped within a few
 * thousand sequential creates in every run (docs/durability.md, "A
 * sequential create, stage by stage").
 */
const SLOW_HERE_MS = 100;
const HERE_PAUSE_MS = 10_000;
/** Thrown inside a main-thread transaction to roll it back and commit the batch on the write thread instead. */
const NOT_HERE = new Error("store: not on the main thread");

/**
 * LMDB's commit failed on the main thread. lmdb-js's LMDB then most likely
 * overflowed a heap buffer (docs/durability.md, "Commit on the main thread"):
 * the process must not go on. The room written ahead rules out a full disk,
 * so this is an I/O error (a failing disk), where etcd exits too.
 */
function commitFailedHere(err: unknown): never {
  try {
    writeSync(2, `store: LMDB's commit failed on the main thread (${(err as Error)?.message ?? String(err)}); the heap may be corrupted: aborting\n`);
  } finally {
    process.abort();
  }
}

/** Opens (creating if needed) an LMDB-backed store in `path`. */
export function openLmdbStore(path: string, options: LmdbStoreOptions = {}): Store {
  const clock = options.clock ?? systemClock;
  const now = options.now ?? (() => clock.now());
  // lmdb-js crashes the process on a data.mdb that is not LMDB's or is cut short.
  const problem = lmdbFilesProblem(path);
  if (problem !== undefined) throw new Error(`store: ${problem}`);
  holdLmdbCommitErrors();
  const durable = options.durable !== false;
  const root: RootDatabase = open({
    path,
    // Always a directory, even when its name has a dot (lmdb-js would take it for a file).
    noSubdir: false,
    maxDbs: 8,
    noSync: !durable,
    // One sync per commit (data pages); the write-ahead log covers the meta
    // page's. lmdb-js's overlapping sync would sync twice, the meta page last.
    noMetaSync: durable,
    overlappingSync: false,
    // With event-turn batching lmdb-js leaves the promise of a failed batch
    // unhandled, which ends the process (kriszyp/lmdb-js#368); concurrent
    // writes are still committed together by its write thread.
    eventTurnBatching: false,
    // Large objects (1.5 MiB) and large lists: leave room to grow without remaps.
    mapSize: 64 * 1024 ** 3,
  });
  const objects: Database<string, KeyTuple> = root.openDB({ name: OBJECTS_DB, encoding: "string", useVersions: true });
  // lmdb-js takes an `encoder` for one database's values too (its types declare it for the root's only).
  const logOptions = { name: "log", encoder: logEncoder() };
  const log: Database<LogRecord, number> = root.openDB(logOptions);
  const meta: Database<number, string> = root.openDB({ name: "meta", encoding: "msgpack" });
  /** The same meta database, for the write-ahead log's cursor ("wal"). */
  const walMeta = meta as unknown as Database<WalCursor, string>;
  const pageSize = (root.getStats() as { pageSize: number }).pageSize;
  /** The same meta database, for what is known written in data.mdb ("allocated"). */
  const allocMeta = meta as unknown as Database<AllocatedRecord, string>;
  let wal: WriteAheadLog | undefined;
  let dataFd: number | undefined;
  let room: DataFileRoom | undefined;
  try {
    ensureFormat(root, { objects, meta }, path);
    room = new DataFileRoom(path, pageSize);
    if (durable) {
      dataFd = openSync(join(path, "data.mdb"), "r");
      wal = new WriteAheadLog(path, { dataFile: join(path, "data.mdb"), segmentBytes: options.walSegmentBytes });
      replay(wal);
    }
  } catch (err) {
    wal?.close();
    room?.close();
    if (dataFd !== undefined) closeSync(dataFd);
    root.close().catch(() => {});
    throw err;
  }

  /**
   * Applies the logged changes LMDB lost (an OS crash rolled back its newest
   * commits), in one transaction, and puts the log cursor where the log ends.
   */
  function replay(w: WriteAheadLog): void {
    root.transactionSync(() => {
      const { entries, cursor } = w.read();
      let head = meta.get("head") ?? 0;
      for (const e of entries) {
        if (e.revision <= head) continue;
        if (e.revision !== head + 1) {
          throw new Error(
            `store: data directory ${path}: the write-ahead log resumes at revision ${e.revision} but the store ends at ${head}; writes ${head + 1}–${e.revision - 1} are lost`,
          );
        }
        const r = decodeWalPayload(e.payload);
        const previous = objects.getEntry(r.k);
        if (previous !== undefined) r.p = previous.value;
        if (r.t === "DELETED") objects.removeSync(r.k);
        else objects.putSync(r.k, r.o, e.revision);
        log.putSync(e.revision, toStoredRecord(r, e.revision, previous?.version));
        head = e.revision;
      }
      meta.putSync("head", head);
      meta.putSync(TXN, root.getWriteTxnId());
      // The next record starts a new generation. Past the log's end a crash
      // may have left whole records of an append it tore (the page of its
      // first record lost, a later one written): a record of the same length
      // written there would make the next of them read as following it.
      walMeta.putSync("wal", { ...cursor, gap: true });
    });
  }

  /** Makes every commit so far durable in LMDB itself (its meta page included). */
  const syncData = () => new Promise<void>((resolve, reject) => fdatasync(dataFd!, (err) => (err ? reject(err) : resolve())));

  const env = (root as unknown as { env?: { info?(): { lastPageNumber?: number } } }).env;
  /** Batches not settled yet (close waits for them; a look for other processes' commits too). */
  const settling = new Set<Promise<void>>();
  const snapshots = new SnapshotTracker(root, meta, { path, clock, peers: options.peers, pollIntervalMs: options.pollIntervalMs, settling });

  const pages = (s: PageCounts) => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  const measure = (): SpaceMeasure => {
    const env = root.getStats() as PageCounts & { pageSize: number; lastPageNumber: number; root: PageCounts; free: PageCounts };
    let used = 2 + pages(env.root) + pages(env.free); // 2: LMDB's meta pages
    for (const db of [objects, log, meta]) used += pages(db.getStats() as PageCounts);
    let diskFreeBytes = Infinity;
    let diskBytes = Infinity;
    try {
      const fs = statfsSync(path);
      diskFreeBytes = fs.bavail * fs.bsize;
      diskBytes = fs.blocks * fs.bsize;
    } catch {
      // no statfs here: count on the quota alone
    }
    // Room written ahead past LMDB's last page (data-file-room.ts) is room for LMDB's pages.
    const fileBytes = Math.max((env.lastPageNumber + 1) * env.pageSize, room!.fileBytes());
    return { usedBytes: used * env.pageSize, fileBytes, diskFreeBytes, diskBytes };
  };
  const space = new SpaceMonitor({ quotaBytes: options.quotaBytes ?? 0, measure, now });
  const reported = new WeakSet<object>();

  /** Runs `fn` in a write transaction; a failed commit rejects with its cause, as InsufficientStorageError when the disk is full. */
  async function commit<T>(fn: () => T): Promise<T> {
    inWriteThread++;
    try {
      return await root.transaction(fn);
    } catch (err) {
      if (!(err as { commitError?: unknown } | undefined)?.commitError) throw err;
      throw commitFailed(err, await commitCause(err));
    } finally {
      inWriteThread--;
    }
  }

  /**
   * The error a failed commit's writes reject with, as InsufficientStorageError
   * when the disk is full; reported once per commit (`failure`: what
   * lmdb-js rejected them with, the same for every write of one commit).
   */
  function commitFailed(failure: unknown, cause: unknown): Error {
    claimCommitError(cause);
    const error = space.commitFailed(cause) ?? new Error(`store: commit failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    const key = (failure as { commitError?: object } | undefined)?.commitError ?? failure;
    if (typeof key !== "object" || key === null || !reported.has(key)) {
      if (typeof key === "object" && key !== null) reported.add(key);
      options.onCommitFailure?.(error);
    }
    return error;
  }

  const head = (): number => snapshots.quietNow()?.head ?? meta.get("head") ?? 0;
  const compacted = (): number => snapshots.quietNow()?.compacted ?? meta.get("compacted") ?? 0;

  const reads = lmdbReads({ objects, log, head, compacted, quietHead: () => snapshots.quietNow()?.head });

  // Group commit (docs/durability.md). A write waits in `queue` for a
  // transaction that takes the whole queue as its batch when it starts. While
  // a batch commits on lmdb-js's write thread (so that this thread goes on
  // parsing requests while LMDB syncs), the next one is queued there too:
  // everything that arrived during the previous commit joins it. With nothing
  // committing, no other process with the directory open (its commits hold
  // LMDB's writer lock, which this thread would wait for) and room written
  // ahead in LMDB's file (data-file-room.ts), and no main-thread commit
  // slower than SLOW_HERE_MS in the last HERE_PAUSE_MS, the
  // queue waits for the end of this event-loop turn (every request already
  // read joins it); a lone write is then committed on this thread with
  // `transactionSync`, which saves the hops to the write thread and back.
  // The room is what makes that safe: lmdb-js overflows a heap buffer when a
  // page write fails outright, and on this thread that aborts the process
  // (docs/durability.md, "Commit on the main thread"). A batch's log records
  // are appended with one write and synced with one fdatasync that runs
  // beside LMDB's commit; its writes resolve once both are done.
  // Invariant: `queue` is empty unless `scheduled`, set while a transaction
  // that will take the queue is queued.
  let queue: PendingWrite[] = [];
  let scheduled = false;
  /** lmdb-js write-thread transactions of this store queued or running (batches, compaction). */
  let inWriteThread = 0;
  /** Room written ahead past LMDB's last page, as last seen inside a transaction. */
  let roomSeen = 0;
  /** Clock time until which lone writes stay on the write thread (after a slow main-thread commit). */
  let hereAfter = 0;
  /** Set while a batch that rotated the log is not committed: no second rotation until then. */
  let rotationPending = false;
  function write(key: ObjectKey, decide: Decider): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      queue.push({ key, decide, resolve, reject });
      if (!scheduled) scheduleBatch();
    });
  }

  /** Arranges for a transaction to take the queue: on the write thread behind a running one (or with no room), else at the end of this turn. */
  function scheduleBatch(): void {
    scheduled = true;
    const done =
      inWriteThread > 0 || snapshots.othersOpen || roomSeen < HERE_MIN_ROOM || clock.now() < hereAfter
        ? commitBatch(takeQueue, false)
        : new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
            commitBatch(takeQueue, queue.length === 1 && inWriteThread === 0 && !snapshots.othersOpen),
          );
    settling.add(done);
    void done.finally(() => settling.delete(done));
  }

  function takeQueue(): PendingWrite[] {
    scheduled = false;
    const batch = queue;
    queue = [];
    return batch;
  }

  /** LMDB's last page's end in data.mdb, as of the newest commit. */
  const usedEnd = (): number => (env!.info!().lastPageNumber! + 1) * pageSize;

  /** In a write transaction: how much room is written ahead (and remembers it). */
  function roomNow(): number {
    roomSeen = room!.room(allocMeta.get(ALLOCATED), usedEnd());
    return roomSeen;
  }

  /**
   * In a write transaction, before its puts: one step towards the room ahead,
   * while the disk can spare it; `roomSeen` is then the room there is. (On
   * either thread the callback runs here, so the zeros cost this thread the
   * same: 1 MiB of zeros once per MiB LMDB grows.)
   */
  function growRoom(): void {
    try {
      if (!room!.inPlace || roomNow() > ROOM_AHEAD_BYTES - ROOM_STEP_BYTES || !space.maySpare(0)) return;
      const next = room!.step(allocMeta.get(ALLOCATED), usedEnd(), (bytes) => space.maySpare(bytes));
      if (next) allocMeta.putSync(ALLOCATED, next);
      roomNow();
    } catch {
      roomSeen = 0; // the batch goes on (on the write thread); the next one tries again
    }
  }

  /**
   * Commits the batch `take` returns, on this thread (`here`: it is a lone
   * write) or in a child transaction on lmdb-js's write thread; settles its
   * writes. `here` falls back to the write thread when the room written ahead
   * is short, or the batch may need more.
   */
  async function commitBatch(take: () => PendingWrite[], here: boolean): Promise<void> {
    let batch: PendingWrite[] = [];
    let taken = false;
    let attempt: Applied | undefined;
    let applied: Applied;
    const run = (): Applied => {
      growRoom();
      if (here && roomSeen < HERE_MIN_ROOM) throw NOT_HERE;
      batch = take();
      taken = true;
      attempt = applyBatch(batch, space.refusal(), here);
      if (attempt.rotated) rotationPending = true;
      return attempt;
    };
    try {
      if (here) {
        const started = clock.now();
        applied = root.transactionSync(run);
        if (clock.now() - started >= SLOW_HERE_MS) hereAfter = clock.now() + HERE_PAUSE_MS;
      } else {
        inWriteThread++;
        try {
          applied = await root.childTransaction(run);
        } finally {
          inWriteThread--;
        }
      }
    } catch (err) {
      if (err === NOT_HERE) {
        const again = batch;
        return commitBatch(taken ? () => again : take, false);
      }
      if (here && attempt !== undefined) commitFailedHere(err);
      if (attempt === undefined) return retryAlone(batch, err);
      return failBatch(batch, attempt, commitFailed(err, await commitCause(err)));
    } finally {
      if (attempt?.rotated) rotationPending = false;
    }
    options.onCommitted?.(here ? "main" : "write");
    // Counted at once, not once the batch is durable: the next batch's refusal
    // (maybe already waiting for LMDB's writer) must see the room it took.
    if (applied.bytes > 0) space.committed(applied.bytes, applied.diskBytes);
    await settle(batch, applied);
  }

  /** LMDB refused a write of `batch` (and rolled the batch back): commit each on its own, so that only that write fails. */
  async function retryAlone(batch: PendingWrite[], err: unknown): Promise<void> {
    if (batch.length === 1) return batch[0]!.reject(err);
    await Promise.all(batch.map((p) => commitBatch(() => [p], false)));
  }

  /**
   * Decides and stores each write of `batch` against the state its
   * predecessors in the batch left, and logs their records. Runs inside the
   * write transaction; throws only for an LMDB failure (not a decision), or,
   * `here` (the transaction commits on this thread), NOT_HERE when its pages
   * might not fit in the room written ahead (before anything is logged).
   */
  function applyBatch(batch: PendingWrite[], refusal: Error | undefined, here: boolean): Applied {
    const applied: Applied = {
      outcomes: [],
      changes: [],
      head: 0,
      bytes: 0,
      diskBytes: 0,
      positions: [],
      rotated: false,
      synced: undefined,
      unlogged: false,
      txn: root.getWriteTxnId(),
      quietAt: snapshots.quiet,
    };
    let head = meta.get("head") ?? 0;
    const logged: Array<{ revision: number; payload: Buffer }> = [];
    for (const p of batch) {
      const k = encodeKey(p.key);
      const entry = objects.getEntry(k);
      const current: StoredObject | undefined = entry ? { json: entry.value, revision: entry.version ?? 0 } : undefined;
      const revision = head + 1;
      let decision;
      try {
        decision = p.decide(current, revision);
      } catch (err) {
        applied.outcomes.push({ failure: err });
        continue;
      }
      if (decision.op === "none") {
        applied.outcomes.push({ result: { revision: current?.revision ?? 0, object: current?.json, op: "none" } });
        continue;
      }
      if (refusal && decision.op === "put") {
        applied.outcomes.push({ failure: refusal });
        continue;
      }
      applied.bytes += 2 * decision.object.length + (current?.json.length ?? 0) + 64; // object, its log record, keys
      // A deleted object's pages are free again only for a later transaction (and once no reader holds them).
      applied.diskBytes +=
        (decision.op === "put" ? valueDiskBytes(decision.object.length) : 0) + valueDiskBytes(decision.object.length + (current?.json.length ?? 0) + 64);
      const record: LogRecord = {
        t: decision.op === "delete" ? "DELETED" : current ? "MODIFIED" : "ADDED",
        k: [p.key.type, p.key.namespace, p.key.name],
        o: decision.object,
        m: now(),
      };
      if (current) record.p = current.json;
      if (decision.op === "delete") objects.removeSync(k);
      else objects.putSync(k, decision.object, revision);
      // Revisions only grow: append at the log's end (MDB_APPEND) rather than
      // split its last page in half, so log pages are ~97% full, not ~85%.
      log.putSync(revision, toStoredRecord(record, revision, current?.revision), { append: true });
      // Under the space alarm the log is left alone: growing it (a MiB at a
      // time) would eat the room kept for deletes and compaction. The batch
      // syncs LMDB's data file after its commit instead, as when it cannot be logged.
      if (wal && !refusal) logged.push({ revision, payload: encodeWalPayload(record) });
      applied.changes.push(recordToChange(revision, record));
      head = revision;
      applied.outcomes.push({ result: { revision, object: decision.object, op: decision.op } });
    }
    if (here && applied.diskBytes > roomSeen - HERE_MARGIN) throw NOT_HERE;
    applied.head = head;
    if (applied.bytes === 0) return applied;
    meta.putSync("head", head);
    meta.putSync(TXN, applied.txn);
    if (!wal) return applied;
    const cursor = walMeta.get("wal") ?? { segment: 0, generation: 0, end: 0 };
    const stepBytes = space.nearlyFull() ? WAL_STEP_NEARLY_FULL : undefined;
    const appended = logged.length === 0 ? undefined : wal.append(cursor, logged, { mayRotate: !rotationPending, stepBytes });
    if (!appended) {
      // The log now misses these revisions: the next record starts a new generation.
      if (!cursor.gap) walMeta.putSync("wal", { ...cursor, gap: true });
      applied.unlogged = true;
      return applied;
    }
    try {
      walMeta.putSync("wal", appended.cursor);
    } catch (err) {
      wal.withdraw(appended.positions); // the batch is rolled back and tried again
      throw err;
    }
    applied.positions = appended.positions;
    applied.rotated = appended.rotated;
    applied.diskBytes += appended.grownBytes;
    // Runs beside LMDB's commit; awaited after it. On the write thread it is
    // started once this callback has returned and that thread is on to the
    // commit (started here, it competed with the rest of the callback); a
    // commit on this thread blocks it, so the sync must be under way before.
    const segment = appended.cursor.segment;
    applied.synced = here ? wal.sync(segment) : Promise.resolve().then(() => wal.sync(segment));
    applied.synced.catch(() => {});
    return applied;
  }

  /** Settles the writes of a committed batch once it is durable. */
  async function settle(batch: PendingWrite[], applied: Applied): Promise<void> {
    let failure: unknown;
    try {
      if (applied.synced) await applied.synced;
      else if (applied.unlogged) await syncData();
    } catch (err) {
      failure = err; // committed, but maybe not durable: reported as failed
    }
    committed(applied);
    for (let i = 0; i < batch.length; i++) {
      const o = applied.outcomes[i]!;
      if (o.result && (failure === undefined || o.result.op === "none")) batch[i]!.resolve(o.result);
      else batch[i]!.reject(o.result ? failure : o.failure);
    }
  }

  /** Rejects the writes of a batch whose commit failed, after withdrawing its log records. */
  function failBatch(batch: PendingWrite[], attempt: Applied, error: Error): void {
    const replayed = withdraw(attempt);
    for (let i = 0; i < batch.length; i++) {
      const result = replayed[i];
      if (result) batch[i]!.resolve(result);
      else batch[i]!.reject(error);
    }
  }

  /** The cause of an lmdb-js commit failure: it rejects every write with "Commit failed" and the cause in `commitError`, a promise nothing else handles. */
  async function commitCause(err: unknown): Promise<unknown> {
    const pending = (err as { commitError?: unknown } | undefined)?.commitError;
    if (!(pending instanceof Promise)) return err;
    return pending.then(
      () => err,
      (e: unknown) => e,
    );
  }

  /** Tells the space monitor, other processes and the listeners of a committed batch. */
  function committed(applied: Applied): void {
    if (applied.bytes === 0) return;
    reads.committed(applied.changes);
    snapshots.committed(applied.head, applied.txn, applied.quietAt);
  }

  /**
   * After a failed commit: zeroes the batch's log records so that they are
   * never replayed, unless a process opening the store replayed them
   * meanwhile (then those writes are committed after all: their results).
   */
  function withdraw(applied: Applied): Array<WriteResult | undefined> {
    const results: Array<WriteResult | undefined> = [];
    if (!wal || applied.positions.length === 0) return results;
    const records = new Map<number, WriteResult>();
    for (const o of applied.outcomes) if (o.result && o.result.op !== "none") records.set(o.result.revision, o.result);
    try {
      root.transactionSync(() => {
        let i = 0;
        for (; i < applied.positions.length; i++) {
          const at = applied.positions[i]!;
          const mine = records.get(at.revision);
          const stored = log.get(at.revision);
          const there = stored && fromStoredRecord(stored, at.revision);
          if (!mine || !there || there.o !== mine.object) break;
        }
        const replayed = new Set(applied.positions.slice(0, i).map((p) => p.revision));
        wal!.withdraw(applied.positions.slice(i));
        for (const o of applied.outcomes) results.push(o.result && replayed.has(o.result.revision) ? o.result : undefined);
      });
    } catch {
      // closed meanwhile, or the disk failed again: report the commit's own failure
      results.length = 0;
    }
    return results;
  }

  async function compact(opts: CompactOptions): Promise<number> {
    const h = head();
    let target = Math.max(0, h - opts.minEvents);
    const cutoff = now() - opts.windowMs;
    // Never drop a change younger than the window: stop before the first one.
    // Commit times never go down as revisions go up (LMDB runs one writer at a
    // time, each stamping its own commit), so a binary search over the
    // revisions finds it in a few reads; a scan would read, in the event
    // loop, every record of a history of millions.
    let lo = compacted() + 1;
    let hi = target + 1; // the first change at or past the window is in [lo, hi]; hi: none before target
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      let young = true;
      for (const { value } of log.getRange({ start: mid, end: target + 1, limit: 1 })) young = value.m >= cutoff;
      if (young) hi = mid;
      else lo = mid + 1;
    }
    target = Math.min(target, lo - 1);
    if (target <= compacted()) return compacted();
    // Delete in bounded chunks so one compaction never holds the writer long.
    const CHUNK = 2500;
    let from = compacted() + 1;
    while (from <= target) {
      const to = Math.min(target, from + CHUNK - 1);
      await commit(() => {
        // lmdb-js may commit this with a batch of writes: `quiet` must not take that batch's commit for the whole.
        snapshots.forgetQuiet();
        for (const r of log.getKeys({ start: from, end: to + 1 })) log.removeSync(r);
        if ((meta.get("compacted") ?? 0) < to) meta.putSync("compacted", to);
        meta.putSync(TXN, root.getWriteTxnId());
      });
      from = to + 1;
    }
    space.freed();
    snapshots.look(); // a new `quiet` snapshot, once no batch is settling
    return compacted();
  }

  function size(): number {
    let total = 0;
    try {
      for (const f of readdirSync(path)) total += statSync(join(path, f)).size;
    } catch {
      // the directory may be gone during shutdown
    }
    return total;
  }

  return {
    head,
    compacted,
    get: (key) => reads.get(key),
    revisionOf: (key) => reads.revisionOf(key),
    list: (opts) => reads.list(opts),
    changes: (after, limit) => reads.changes(after, limit),
    write,
    compact,
    onCommit: (listener) => snapshots.onCommit(listener),
    size,
    /** A fresh read snapshot: every commit of any process sharing the directory before the call. */
    async sync() {
      return snapshots.refresh();
    },
    space: () => space.space(),
    async close() {
      snapshots.stop();
      // Writes already asked for are committed (or fail) before the store closes.
      while (settling.size > 0) await Promise.allSettled([...settling]);
      snapshots.close();
      await root.close();
      wal?.close();
      room!.close();
      if (dataFd !== undefined) closeSync(dataFd);
      dataFd = undefined;
    },
  };
}
