// Which commit the LMDB store's read snapshot holds, and how the store learns
// of commits by other processes sharing its directory: from their notices
// (`peers`, with a poll every second behind them in case one is lost or
// late), else by a poll that runs while another process has the directory
// open (src/store/openers.ts). Listeners are told, once per microtask, when
// the head moved: by a commit of this process (`committed`) or of another
// (found by `refresh`).
//
// "Quiet": while LMDB's newest transaction is still the one the last fresh
// snapshot held (or this process's own commit on top of it), nothing has been
// committed since, by any process. The store then answers head and compacted
// from here, the hub's read of the changes after a commit stops at the batch
// it was handed, and the poll skips its look. Each read snapshot taken in a
// new event-loop turn costs a wake-up (lmdb-js resets it with a setTimeout 0):
// two per paced write, twenty a second for the poll, before.

import type { Database, RootDatabase } from "lmdb";
import type { Clock, Timer } from "../clock.ts";
import type { CommitPeers } from "./commit-peers.ts";
import { watchOpeners } from "./openers.ts";

/**
 * The `meta` key holding the LMDB transaction id of the newest commit that
 * wrote `head` or `compacted` (written by that commit): a read snapshot tells
 * which transaction it holds.
 */
export const TXN = "txn";

/** How often to look for other processes' commits while another process has the directory open (LmdbStoreOptions.pollIntervalMs). */
export const POLL_MS = 50;
/** How often while no other process is known to have it open: only in case the openers' watch missed one. */
const ALONE_POLL_MS = 1000;
/**
 * How often a store with `peers` looks anyway: a backstop, so that a notice
 * lost or late (a peer's IPC channel not connected yet, a primary slow to
 * relay on a loaded machine) holds another process's commit back from this
 * one's watchers for a second at most, not until the next notice. A look
 * while nothing was committed reads LMDB's newest transaction id and takes no
 * snapshot.
 */
export const PEER_POLL_MS = 1000;

/**
 * What a fresh read snapshot showed, and LMDB's transaction id then; or that,
 * moved on over this process's own commit in the next transaction (`from`:
 * the `id` of the one it was moved on from).
 */
export interface Quiet {
  id: number;
  txn: number;
  head: number;
  compacted: number;
  from?: number;
}

export interface SnapshotTrackerOptions {
  /** The data directory (whose openers are watched). */
  path: string;
  /** Runs the poll timer. */
  clock: Clock;
  /** The other processes sharing the directory, told of each commit and telling of theirs. */
  peers?: CommitPeers;
  /** As LmdbStoreOptions.pollIntervalMs: 0 disables; default PEER_POLL_MS with `peers`, else POLL_MS while others have the directory open, 1 s while none has. */
  pollIntervalMs?: number;
  /**
   * This process's batches still settling. A look waits for them: before,
   * it would find a batch in LMDB before the batch is durable.
   */
  settling: ReadonlySet<Promise<void>>;
}

/** The read snapshot's commit and other processes' commits, for one LMDB store (see the file's comment). */
export class SnapshotTracker {
  readonly #root: RootDatabase;
  readonly #meta: Database<number, string>;
  readonly #env: { info?(): { lastTxnId?: number } } | undefined;
  readonly #settling: ReadonlySet<Promise<void>>;
  readonly #peers: CommitPeers | undefined;
  readonly #listeners = new Set<() => void>();
  #notifyQueued = false;
  /** lastTxnId's answer in this synchronous run (null: not read yet); cleared at the next microtask. */
  #txnIdNow: number | undefined | null = null;
  readonly #forgetTxnId = (): void => {
    this.#txnIdNow = null;
  };
  #quiet: Quiet | undefined;
  #quietIds = 0;
  #seenHead: number;
  /** A look is waiting for the settling batches. */
  #lookQueued = false;
  /** Set by stop(): a look queued behind a batch must not read a closed environment. */
  #stopped = false;
  #poller: Timer | undefined;
  readonly #clock: Clock;
  readonly #openers: { close(): void };
  readonly #stopPeers: (() => void) | undefined;
  #othersOpen = true;

  constructor(root: RootDatabase, meta: Database<number, string>, options: SnapshotTrackerOptions) {
    this.#root = root;
    this.#meta = meta;
    this.#env = (root as unknown as { env?: { info?(): { lastTxnId?: number } } }).env;
    this.#settling = options.settling;
    this.#peers = options.peers;
    this.#clock = options.clock;
    this.#seenHead = meta.get("head") ?? 0;
    this.#stopPeers = this.#peers?.onAnnounce((revision) => {
      if (revision > this.#seenHead) this.refresh();
    });
    // With peers, their notices tell of their commits and a poll every
    // PEER_POLL_MS stands behind them. Without, another process's commits
    // are found by a poll. (A watch on LMDB's data file, with a poll every
    // second behind it, was tried: in about 1 run in 8 it missed a commit,
    // which then waited for the poll.)
    // By default the poll runs every 50 ms only while another process has the
    // directory open, else every second, in case the folder's watch missed a
    // newcomer: each look wakes the event loop.
    const adaptivePoll = options.pollIntervalMs === undefined && !this.#peers;
    // Every store announces itself, whatever its own poll: the others' polls depend on it.
    this.#openers = watchOpeners(options.path, (others) => {
      this.#othersOpen = others;
      if (adaptivePoll) this.#pollEvery(others ? POLL_MS : ALONE_POLL_MS);
    });
    if (!adaptivePoll) this.#pollEvery(options.pollIntervalMs ?? (this.#peers ? PEER_POLL_MS : POLL_MS));
    this.refresh(); // the first `quiet` snapshot (nothing is committing yet)
  }

  /**
   * Whether another process has the directory open. Then no write commits on
   * the main thread: its transaction would wait there for LMDB's writer lock,
   * which the other process holds through each of its commits (sync
   * included), and this process would serve nothing meanwhile.
   */
  get othersOpen(): boolean {
    return this.#othersOpen;
  }

  /** `quiet` as it is now, for a batch to remember in its transaction (see committed). */
  get quiet(): Quiet | undefined {
    return this.#quiet;
  }

  /** `quiet` if no commit has come since it was taken. */
  quietNow(): Quiet | undefined {
    const q = this.#quiet;
    return q !== undefined && this.#lastTxnId() === q.txn ? q : undefined;
  }

  /** Drops `quiet` (a transaction lmdb-js may commit along with batches of writes, such as a compaction's). */
  forgetQuiet(): void {
    this.#quiet = undefined;
  }

  /** Takes a fresh read snapshot; tells the listeners if another process moved the head. Returns the head. */
  refresh(): number {
    const newest = this.#lastTxnId();
    this.#root.resetReadTxn();
    const h = this.#meta.get("head") ?? 0;
    // The snapshot holds transaction `txn` (its stamp), and with it
    // everything up to it. Taken after `newest` was read, it holds at least
    // newest - 1 (see #lastTxnId). A stamp outside that range was written by
    // an older commit (one by a release that does not stamp, or a copy of the
    // directory): no quiet snapshot then, every look takes a fresh one.
    const txn = this.#meta.get(TXN);
    this.#quiet =
      newest === undefined || txn === undefined || txn < newest - 1 || txn > newest
        ? undefined
        : { id: ++this.#quietIds, txn, head: h, compacted: this.#meta.get("compacted") ?? 0 };
    if (h !== this.#seenHead) {
      this.#seenHead = h;
      this.#notify();
    }
    return h;
  }

  /** Looks for another process's commits; while a batch of this process is settling, once it has settled. */
  look(): void {
    if (this.#stopped) return;
    if (this.#settling.size === 0) {
      if (!this.quietNow()) this.refresh();
      return;
    }
    if (this.#lookQueued) return;
    this.#lookQueued = true;
    void Promise.allSettled([...this.#settling]).then(() => {
      this.#lookQueued = false;
      this.look();
    });
  }

  /**
   * This process committed a batch, durable now: the newest revision `head`,
   * in LMDB transaction `txn`, run while `quietAt` was `quiet`. Moves `quiet`
   * on over it when it held everything before the batch's transaction and
   * nothing has replaced it since (a fresh snapshot, a compaction in the same
   * transaction); lmdb-js may commit several batches in one transaction,
   * settled in any order: the head is then the newest of them. Tells the
   * peers and the listeners.
   */
  committed(head: number, txn: number, quietAt: Quiet | undefined): void {
    if (head > this.#seenHead) this.#seenHead = head;
    if (quietAt !== undefined && quietAt.txn === txn - 1) {
      const q = this.#quiet;
      if (q === quietAt) this.#quiet = { id: ++this.#quietIds, txn, head, compacted: quietAt.compacted, from: quietAt.id };
      else if (q !== undefined && q.from === quietAt.id) this.#quiet = { ...q, head: Math.max(q.head, head) };
    }
    this.#peers?.announce(head);
    this.#notify();
  }

  /** Calls `listener` (once per microtask at most) when the head moved. Returns the function that stops it. */
  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops looking (the poll, the openers' watch); the store then drains its batches and calls close(). */
  stop(): void {
    this.#stopped = true;
    this.#poller?.cancel();
    this.#openers.close();
  }

  /** Stops hearing from the peers and drops the listeners. */
  close(): void {
    this.stop();
    this.#stopPeers?.();
    this.#listeners.clear();
  }

  #notify(): void {
    if (this.#notifyQueued) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      for (const l of this.#listeners) l();
    });
  }

  #pollEvery(ms: number): void {
    this.#poller?.cancel();
    this.#poller = ms > 0 ? this.#clock.every(ms, () => this.look()) : undefined;
  }

  /**
   * LMDB's newest committed transaction, read from the meta pages of the
   * shared memory map (mdb_env_info: no read transaction), or undefined if
   * lmdb-js does not expose it. Read once per synchronous run: lmdb-js builds
   * an object of five fields for it (about 4 µs), and the hub's pass after a
   * commit asks four times (head, compacted twice, changes). A commit by
   * another process during the run is then seen from the next one, as if it
   * had come just after: an answer is at most that old, never wrong.
   *
   * LMDB writes a commit's meta page a moment before it publishes the commit
   * to new read snapshots (the reader table's transaction id in the lock
   * file, set next, under the writer's lock): in that moment this answer is
   * one transaction ahead of a snapshot taken after it. (A reader racing a
   * writer process on a loaded machine met it 3 times in 1.7 million reads;
   * the hub's poll then took a peer's commit for seen and skipped it until
   * the next commit.) So an id this answers is never taken for what a
   * snapshot holds: the snapshot's own `txn` stamp says that.
   */
  #lastTxnId(): number | undefined {
    if (this.#txnIdNow !== null) return this.#txnIdNow;
    this.#txnIdNow = this.#env?.info?.().lastTxnId;
    queueMicrotask(this.#forgetTxnId);
    return this.#txnIdNow;
  }
}
