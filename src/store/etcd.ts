// The etcd backend: objects live in etcd under a prefix, revisions are etcd's,
// and any number of server processes share them (API.md §9).
//
// Layout under `prefix` (default "/setpoint"):
//   {prefix}/o/{type}/{namespace}\0{name}  the object: "{ms} {guess} {write id}\n{json}"
//   {prefix}/d/{type}/{namespace}\0{name}  the last state of its last delete (same envelope)
//   {prefix}/m/compacted                   {"revision": R, "time": ms}: oldest servable revision
//
// `ms` is the commit time (compaction by age); `guess` is the revision the
// decider was given. etcd assigns the real revision at commit, so a stored
// JSON whose guess missed gets its `metadata.resourceVersion` fixed when read
// back (kube-apiserver sets it on read too).
//
// Each process keeps a Mirror (src/store/mirror.ts): the objects and the
// change log from the compacted revision on, fed by ONE etcd watch of the
// whole prefix. Reads are served from it. The watch asks for no prevKv: the
// mirror holds each object as it was before each change (etcd would read it
// back from its disk for every event). After a disconnect the
// watch resumes from the mirror's head + 1, so no change is delivered twice or
// skipped; if etcd compacted past that point (or a watch response could not
// be applied) the mirror is rebuilt at etcd's newest revision and the log
// before it is Expired. A value under the prefix that no Setpoint store wrote
// is served as absent, with a warning naming its key.
//
// Writes are transactions comparing the object's mod_revision with the one
// the decider saw; a lost race re-reads the key (in the same transaction) and
// decides again. A write whose decider reads a whole type (WriteScope) also
// compares every key of that type's range with the mirror's head the decider
// read at, and one whose decider reads other objects (WriteScope.reads) each
// one's key and tombstone: one of them newer fails the transaction, and the
// write decides again once the mirror has caught up. A write resolves once
// the mirror has applied it.
//
// Transactions and linearizable ranges go to the etcd leader when one of the
// endpoints is it (src/store/etcd-members.ts). The watch is opened on the
// leader too, so a write's own event comes with its answer rather than after
// a follower applied it; a stream that fails or stalls there is reopened on
// any member. The value envelope and the key range: src/store/etcd-envelope.ts.
//
// sync() (consistent reads) asks etcd, in one linearizable range, for the
// newest revision and the newest mod_revision under the prefix past the
// mirror's head; once the mirror has that change, nothing of this store lies
// between it and the newest revision, so the head moves there. It runs
// periodically too, so quiet replicas advance (bookmarks).
//
// Compaction: one transaction on {prefix}/m/compacted (compare its
// mod_revision) decides it for the whole cluster; the winner then compacts
// etcd. `skipIfCompactedWithinMs` makes replicas skip a compaction another
// did recently, so the cluster compacts about once per period.

import { readFileSync } from "node:fs";
import type { Etcd3, IKeyValue, IWatchResponse } from "etcd3";
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { ApiError, InsufficientStorageError, ServiceUnavailableError, TimeoutError, tooLargeResourceVersion } from "../errors.ts";
import { decodeEnvelope, encodeEnvelope, prefixEnd, withRevision, writeIdOf, writeIds } from "./etcd-envelope.ts";
import { EtcdMembers } from "./etcd-members.ts";
import type { TxnCompare } from "./etcd-wire.ts";
import { Mirror } from "./mirror.ts";
import type { Change, CompactOptions, Decider, ObjectKey, SpaceAlarm, Store, StoredObject, SyncOptions, WriteResult, WriteScope } from "./types.ts";

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379"]. */
  endpoints: string[];
  /** Key prefix of every key this store writes. Default "/setpoint". */
  prefix?: string;
  /** PEM files for etcd over TLS: CA, client certificate and key (kube-apiserver's --etcd-cafile/certfile/keyfile). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /**
   * Runs the store's timing: the sync interval, the watch's reconnect backoff,
   * retries and their deadlines, catch-up waits, the rebuild and leader-search
   * throttles. Default: the system clock. Each etcd request's own deadline
   * stays on real time (grpc-js takes a wall-clock date).
   */
  clock?: Clock;
  /** Clock for commit times (compaction by age). Default: `clock.now`. */
  now?: () => number;
  /** Deadline of each etcd request; past it the operation fails with ServiceUnavailable. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** How long a write, after etcd committed it, or a sync waits for this process's watch to catch up. Default 3000 ms. */
  catchUpMs?: number;
  /** How often to sync in the background, so a quiet replica's head (and its bookmarks) advance. Default 1000 ms; 0 disables. */
  syncIntervalMs?: number;
  /**
   * How often to look whether etcd was compacted past this replica's oldest
   * revision by someone else (probeCompaction). Default 1000; 0: never.
   */
  compactionCheckMs?: number;
  /** Send transactions and linearizable reads to the etcd leader (when it is one of `endpoints`). Default true. */
  preferLeader?: boolean;
  /** Called with problems the store recovers from by itself (watch reconnects, rebuilds). */
  onWarning?: (message: string, err?: unknown) => void;
}

/** The least time between two rebuilds of a mirror. */
const REBUILD_EVERY_MS = 1000;

function unavailable(what: string, err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ServiceUnavailableError(`store: etcd ${what} failed: ${message}`, { cause: err });
}

/** Opens the etcd-backed store: loads the mirror and starts the watch; resolves once it serves the newest state. */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<Store> {
  if (options.endpoints.length === 0) throw new RangeError("store: etcd needs at least one endpoint (--etcd-servers)");
  const clock = options.clock ?? systemClock;
  const now = options.now ?? (() => clock.now());
  const prefix = (options.prefix ?? "/setpoint").replace(/\/+$/, "");
  const timeoutMs = options.requestTimeoutMs ?? 5000;
  const catchUpMs = options.catchUpMs ?? 3000;
  const warn = options.onWarning ?? (() => {});
  const tls = options.tls;
  const hosts = options.endpoints.map((e) => e.trim()).filter((e) => e !== "");
  const credentials =
    tls && (tls.caFile || tls.certFile)
      ? {
          rootCertificate: tls.caFile ? readFileSync(tls.caFile) : Buffer.alloc(0),
          ...(tls.keyFile ? { privateKey: readFileSync(tls.keyFile) } : {}),
          ...(tls.certFile ? { certChain: readFileSync(tls.certFile) } : {}),
        }
      : undefined;
  const members = new EtcdMembers({ hosts, credentials, timeoutMs, clock, preferLeader: options.preferLeader ?? true });
  const client = members.client;

  const objPrefix = Buffer.from(`${prefix}/o/`);
  const allPrefix = Buffer.from(`${prefix}/`);
  const metaKey = Buffer.from(`${prefix}/m/compacted`);
  const objKey = (k: ObjectKey) => Buffer.from(`${prefix}/o/${k.type}/${k.namespace}\u0000${k.name}`);
  const tombKey = (k: ObjectKey) => Buffer.from(`${prefix}/d/${k.type}/${k.namespace}\u0000${k.name}`);
  const parseKey = (key: Buffer, part: "o" | "d"): ObjectKey | undefined => {
    const s = key.toString();
    const lead = `${prefix}/${part}/`;
    if (!s.startsWith(lead)) return undefined;
    const rest = s.slice(lead.length);
    const slash = rest.indexOf("/");
    const zero = rest.indexOf("\u0000", slash + 1);
    if (slash < 0 || zero < 0) return undefined;
    return { type: rest.slice(0, slash), namespace: rest.slice(slash + 1, zero), name: rest.slice(zero + 1) };
  };

  let mirror: Mirror;
  /** mod_revision of the compaction marker as the mirror last saw it. */
  let metaModRevision = 0;
  let metaTime = 0;
  let closed = false;
  const listeners = new Set<() => void>();
  const headWaiters = new Set<{ revision: number; resolve: () => void }>();
  let notifyQueued = false;
  const notify = () => {
    for (const w of headWaiters) {
      if (mirror.head() >= w.revision) {
        headWaiters.delete(w);
        w.resolve();
      }
    }
    if (notifyQueued) return;
    notifyQueued = true;
    // At the end of the event-loop turn, not in a microtask: each watch
    // response arrives in its own I/O callback, so a microtask tells the
    // hub of one response at a time and each watcher's socket gets one write
    // per response; after the turn's I/O, every response read in it goes out
    // in one write per socket (1,000 watchers: 7.8 vs 13.8 s of server CPU
    // per million deliveries, bench/profile.ts --store etcd).
    setImmediate(() => {
      notifyQueued = false;
      for (const l of listeners) l();
    });
  };

  /**
   * Calls `fn` after `ms` on the clock. `hold`: the process stays up until
   * then, as a plain setTimeout keeps it (someone awaits it: a request, or the
   * store's own opening, whose watch may run on an unref'd HTTP/2 session);
   * the clock's timers do not (systemClock's are unref'd).
   */
  const after = (ms: number, fn: () => void, hold: boolean): Timer => {
    const keep = hold ? setInterval(() => {}, 2 ** 30) : undefined;
    const t = clock.after(ms, () => {
      clearInterval(keep);
      fn();
    });
    return {
      cancel() {
        clearInterval(keep);
        t.cancel();
      },
    };
  };
  /** Pauses of retries and throttles, each ended early by close(). */
  const sleepers = new Set<() => void>();
  const sleep = (ms: number, hold: boolean): Promise<void> =>
    new Promise((resolve) => {
      const wake = () => {
        sleepers.delete(wake);
        timer.cancel();
        resolve();
      };
      const timer = after(ms, wake, hold);
      sleepers.add(wake);
    });

  /** Resolves true once the mirror's head reaches `revision`, false after `ms`. */
  const waitHead = (revision: number, ms: number): Promise<boolean> => {
    if (mirror.head() >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        revision,
        resolve: () => {
          timer.cancel();
          resolve(true);
        },
      };
      const timer = after(
        ms,
        () => {
          headWaiters.delete(w);
          resolve(false);
        },
        true,
      );
      headWaiters.add(w);
    });
  };

  /** An etcd key as warnings name it (the namespace/name separator shown as "/"). */
  const showKey = (key: Buffer): string => key.toString().replace("\u0000", "/");
  const poisoned = (key: Buffer, what: string): void =>
    warn(`store: ${showKey(key)} holds a value no Setpoint store wrote; ${what} (write the object again, or delete the key, to repair it)`);

  /**
   * The compaction marker's value. One that is not a marker (another etcd
   * client wrote it) reads as a marker at its own mod_revision with no time,
   * `poison` set: it compacts nothing, and the next compaction replaces it.
   */
  const readMeta = (kv: IKeyValue | undefined): { revision: number; time: number; mod: number; poison?: true } | undefined => {
    if (!kv) return undefined;
    const mod = Number(kv.mod_revision);
    let v: { revision?: unknown; time?: unknown } | undefined;
    try {
      v = JSON.parse(kv.value.toString()) as typeof v;
    } catch {
      v = undefined;
    }
    if (typeof v !== "object" || v === null || typeof v.revision !== "number" || typeof v.time !== "number") {
      poisoned(kv.key, "it is ignored until this prefix's next compaction replaces it");
      return { revision: mod, time: 0, mod, poison: true };
    }
    return { revision: v.revision || mod, time: v.time, mod };
  };

  /** The compaction marker, created (at the current revision) on a prefix that has none. */
  async function loadMeta(): Promise<{ revision: number; time: number; mod: number }> {
    for (;;) {
      const res = await client.kv.range({ key: metaKey });
      const meta = readMeta(res.kvs[0]);
      if (meta) return meta;
      await client.kv.txn({
        compare: [{ key: metaKey, target: "Version", result: "Equal", version: 0 }],
        success: [{ request_put: { key: metaKey, value: Buffer.from(JSON.stringify({ revision: 0, time: now() })) } }],
      });
    }
  }

  /**
   * A mirror of the objects at one revision, read in pages at that revision:
   * at "marker", the compaction marker's (the watch then brings the change log
   * since), or at "newest", etcd's current revision (picked by the first
   * page's linearizable read), or at a given revision. If etcd was compacted past it (by
   * someone else: `etcdctl compact`, --auto-compaction-retention), at etcd's
   * compact revision, the oldest one etcd can still read: it serves every
   * revision from there on, as the replicas that watched through the
   * compaction do (probeCompaction), not only those after this one started.
   * Values no Setpoint store wrote are left out, each with a warning naming
   * its key.
   */
  async function loadMirror(at: "marker" | "newest" | number): Promise<Mirror> {
    const meta = await loadMeta();
    let start: number | undefined = at === "marker" ? meta.revision : at === "newest" ? undefined : at;
    for (let attempt = 0; ; attempt++) {
      try {
        let m: Mirror | undefined;
        let from: Buffer = objPrefix;
        const end = prefixEnd(objPrefix);
        for (;;) {
          const page = await client.kv.range({ key: from, range_end: end, limit: 1000, ...(start === undefined ? {} : { revision: start }) });
          start ??= Number(page.header.revision);
          m ??= new Mirror(start);
          for (const kv of page.kvs) {
            const key = parseKey(kv.key, "o");
            if (!key) continue;
            const env = decodeEnvelope(kv.value);
            if (!env) {
              poisoned(kv.key, "it is left out");
              continue;
            }
            notePending(kv);
            const rev = Number(kv.mod_revision);
            m.load(key, { json: withRevision(env, rev), revision: rev });
          }
          if (!page.more || page.kvs.length === 0) break;
          from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
        }
        // The marker as of the mirror's start: the watch brings only its later moves.
        const metaAt = start === meta.revision ? meta : (readMeta((await client.kv.range({ key: metaKey, revision: start })).kvs[0]) ?? meta);
        metaModRevision = metaAt.mod;
        metaTime = metaAt.time;
        return m!;
      } catch (err) {
        if (attempt >= 3 || !String((err as Error).message).includes("compacted")) throw err;
        // Someone compacted etcd past the revision read: what came before is gone. Start at etcd's
        // compact revision (etcd still reads at it), or, when etcd does not say it, at the newest state.
        const compactRevision = start === undefined ? 0 : await etcdCompactRevision(start);
        warn(
          compactRevision > 0
            ? `store: etcd was compacted to revision ${compactRevision}, past revision ${start} this replica would start from; history before it is Expired`
            : `store: etcd was compacted past revision ${start}; history before the newest revision is lost`,
        );
        start = compactRevision > 0 ? compactRevision : undefined;
      }
    }
  }

  // ---- the watch ----

  /** The watch stream: the etcd3 package's, or a member client's (same shapes, decoded by hand). */
  let stream: Pick<Awaited<ReturnType<typeof client.watchClient.watch>>, "on" | "cancel" | "write"> | undefined;
  /** The leader's client when the stream was opened on it (its events then come with the transactions' answers, not after a follower applied them). */
  let streamOnLeader: Etcd3 | undefined;
  let reconnectTimer: Timer | undefined;
  let backoffMs = 50;

  /**
   * Revisions this replica's own writes applied to the mirror from their Txn
   * answer (applyOwn), not yet delivered by the watch, which skips them
   * quietly. Emptied when the watch is reopened (from past every one of them).
   */
  const appliedOwn = new Set<number>();

  /** Applies the events of one watch response, grouped by revision. */
  function applyEvents(res: IWatchResponse): void {
    const events = res.events;
    let changed = false;
    let i = 0;
    while (i < events.length) {
      const rev = Number(events[i]!.kv.mod_revision);
      let j = i;
      while (j < events.length && Number(events[j]!.kv.mod_revision) === rev) j++;
      const group = events.slice(i, j);
      i = j;
      if (rev <= mirror.head()) {
        // A write of this replica that it applied from its Txn answer (applyOwn): the same change, already in.
        if (appliedOwn.delete(rev)) continue;
        warn(`store: etcd watch delivered revision ${rev} at or below head ${mirror.head()}; ignored`);
        continue;
      }
      changed = true;
      let compactTo = 0;
      const tombs = new Map<string, IKeyValue>();
      for (const ev of group) if (ev.type === "Put" && parseKey(ev.kv.key, "d")) tombs.set(ev.kv.key.toString().slice(prefix.length + 3), ev.kv);
      for (const ev of group) {
        const kv = ev.kv;
        if (ev.type === "Put") notePending(kv);
        if (kv.key.equals(metaKey)) {
          if (ev.type === "Put") {
            const meta = readMeta(kv)!;
            metaModRevision = meta.mod;
            if (!meta.poison) {
              metaTime = meta.time;
              // Applied after this revision's changes (below), so it never passes the head.
              compactTo = meta.revision;
            }
          }
          continue;
        }
        const key = parseKey(kv.key, "o");
        if (!key) continue;
        let change: Change;
        const env = ev.type === "Put" ? decodeEnvelope(kv.value) : undefined;
        if (env) {
          // ADDED when the mirror has no object there: etcd's version counts a
          // poison value (below) that the mirror left out.
          const before = kv.version === "1" ? undefined : mirror.get(key);
          change = {
            revision: rev,
            type: before ? "MODIFIED" : "ADDED",
            key,
            object: withRevision(env, rev),
            time: env.time,
          };
          if (before) change.previous = before.json;
        } else {
          // A delete, or a value no Setpoint store wrote: the object is gone for the API (as a load leaves it out).
          if (ev.type === "Put") poisoned(kv.key, "the object is served as deleted");
          const before = mirror.get(key);
          if (!before) continue;
          const tomb = tombs.get(kv.key.toString().slice(prefix.length + 3));
          const last = tomb ? decodeEnvelope(tomb.value) : undefined;
          change = {
            revision: rev,
            type: "DELETED",
            key,
            object: withRevision(last ?? { time: 0, guess: before.revision, json: before.json }, rev),
            time: last?.time ?? now(),
          };
          if (before) change.previous = before.json;
        }
        mirror.apply(change);
      }
      mirror.advance(rev);
      if (compactTo > 0) mirror.compact(compactTo);
    }
    // A response that held only this replica's own writes, applied from their Txn answers, changes nothing.
    if (changed) notify();
  }

  function scheduleReconnect(why: unknown): void {
    if (closed || reconnectTimer) return;
    stream = undefined;
    members.forgetLeader(streamOnLeader);
    streamOnLeader = undefined;
    warn(`store: etcd watch lost (${(why as Error)?.message ?? String(why)}); resuming from ${mirror.head() + 1}`, why);
    reconnectTimer = after(
      backoffMs,
      () => {
        reconnectTimer = undefined;
        void openWatch();
      },
      false,
    );
    backoffMs = Math.min(2000, backoffMs * 2);
  }

  async function openWatch(): Promise<void> {
    if (closed) return;
    let s: NonNullable<typeof stream>;
    const via = members.leader;
    try {
      // On the leader (or the only endpoint) through its member client; else any member, through the pool.
      const member = members.txnClientOf(via ?? client);
      s = member ? (member.watch() as unknown as NonNullable<typeof stream>) : await (via ?? client).watchClient.watch();
    } catch (err) {
      scheduleReconnect(err);
      return;
    }
    if (closed) {
      s.cancel?.();
      return;
    }
    stream = s;
    streamOnLeader = via;
    const startRevision = mirror.head() + 1;
    appliedOwn.clear();
    s.on("data", (res: IWatchResponse) => {
      if (stream !== s) return;
      if (res.canceled) {
        const compactRevision = Number(res.compact_revision ?? 0);
        s.cancel?.();
        if (compactRevision > 0) void rebuild(`etcd compacted to ${compactRevision}, past this replica's head ${mirror.head()}`, compactRevision);
        else scheduleReconnect(new Error(`watch canceled: ${res.cancel_reason ?? "no reason"}`));
        return;
      }
      if (res.created) {
        backoffMs = 50;
        return;
      }
      try {
        applyEvents(res);
      } catch (err) {
        warn("store: applying an etcd watch response failed; rebuilding", err);
        s.cancel?.();
        void rebuild("a watch response could not be applied");
      }
    });
    s.on("error", (err: Error) => {
      if (stream === s) scheduleReconnect(err);
    });
    s.on("end", () => {
      if (stream === s) scheduleReconnect(new Error("watch stream ended"));
    });
    s.write({
      create_request: { key: allPrefix, range_end: prefixEnd(allPrefix), start_revision: startRevision, prev_kv: false, progress_notify: true },
    });
  }

  /**
   * Reopens the watch at once when it is backing off after failures (say, on
   * members that are down) or when its stream may hang on a member that stopped
   * answering; leaves it alone while a rebuild or an open is under way.
   */
  function reopenWatchNow(why: Error): void {
    if (closed) return;
    if (reconnectTimer) {
      reconnectTimer.cancel();
      reconnectTimer = undefined;
    } else if (stream) {
      stream.cancel?.();
      members.forgetLeader(streamOnLeader);
      streamOnLeader = undefined;
    } else {
      return;
    }
    stream = undefined;
    backoffMs = 50;
    warn(`store: reopening the etcd watch now: ${why.message}`);
    void openWatch();
  }

  /**
   * Waits until this replica's watch has delivered `revision` (a write this
   * replica made), so that its own reads see it. If the watch does not bring
   * it within catchUpMs, reopens the watch at once and waits once more.
   */
  async function catchUp(revision: number): Promise<boolean> {
    if (await waitHead(revision, catchUpMs)) return true;
    reopenWatchNow(new Error(`it did not deliver revision ${revision} within ${catchUpMs} ms`));
    return waitHead(revision, catchUpMs);
  }

  /** True while rebuild() loads a new mirror (writes then wait for the watch instead of applying their own change). */
  let rebuilding = false;
  /** How many times the mirror was rebuilt: a write whose outcome it must learn from the watch cannot once a rebuild passed over it. */
  let rebuilds = 0;
  /** When the last rebuild began (clock.now()): rebuilds start at most once per REBUILD_EVERY_MS. */
  let lastRebuildAt = Number.NEGATIVE_INFINITY;

  /**
   * Starts over: loads the objects at `at` (etcd's current revision, one
   * consistent read, or a given one) and resumes the watch after it. Every
   * change before it is Expired for this process: the watch hub's watchers
   * get 410 (its next changes() call throws ExpiredError) and relist. Used
   * when the watch was canceled because etcd compacted past this replica's
   * head (at etcd's compact revision, the oldest it still reads: the history
   * after it is served here as on the replicas that watched through the
   * compaction), and when a watch response could not be applied (a bug, or
   * a fault this store did not foresee; at the newest revision: replaying
   * from an older one could meet the same response again).
   */
  async function rebuild(why: string, at: "newest" | number = "newest"): Promise<void> {
    if (closed) return;
    stream = undefined;
    rebuilding = true;
    warn(`store: rebuilding the etcd mirror: ${why}`);
    try {
      // A fault that fails every watch response would otherwise reload
      // everything once per change: at most one rebuild a second.
      const wait = lastRebuildAt + REBUILD_EVERY_MS - clock.now();
      if (wait > 0) await sleep(wait, false);
      lastRebuildAt = clock.now();
      for (;;) {
        if (closed) return;
        try {
          const fresh = await loadMirror(at);
          if (fresh.head() < mirror.head()) throw new Error(`etcd answered at revision ${fresh.head()}, before this replica's head ${mirror.head()}`);
          mirror = fresh;
          rebuilds++;
          break;
        } catch (err) {
          warn("store: etcd mirror rebuild failed; retrying", err);
          await sleep(1000, false);
          if (closed) return;
        }
      }
    } finally {
      rebuilding = false;
    }
    notify();
    await openWatch();
  }

  // ---- sync ----

  async function doSync(): Promise<number> {
    const after = mirror.head();
    let res;
    try {
      res = await members.call((c) =>
        c.kv.range({
          key: allPrefix,
          range_end: prefixEnd(allPrefix),
          keys_only: true,
          sort_order: "Descend",
          sort_target: "Mod",
          limit: 1,
          min_mod_revision: after + 1,
        }),
      );
    } catch (err) {
      throw unavailable("read of the newest revision", err);
    }
    const newest = Number(res.header.revision);
    const kv = res.kvs[0];
    if (kv) {
      const target = Number(kv.mod_revision);
      if (!(await waitHead(target, catchUpMs))) {
        // etcd has it and the watch did not bring it: the stream may hang on a
        // member that stopped answering (partitioned, paused). Open a new one.
        const s = stream;
        if (s && mirror.head() < target) {
          stream = undefined;
          s.cancel?.();
          scheduleReconnect(new Error(`the watch did not deliver revision ${target} within ${catchUpMs} ms`));
        }
        throw tooLargeResourceVersion(newest, mirror.head());
      }
    }
    if (newest > mirror.head()) {
      mirror.advance(newest);
      notify();
    }
    return mirror.head();
  }

  /** Syncs begun so far (syncMark); the one in flight, if any, is number `begun`. */
  let begun = 0;
  /** The number of the newest sync that succeeded (0: none). */
  let succeeded = 0;
  let syncing: Promise<number> | undefined;
  let syncQueued: Promise<number> | undefined;
  function sync(options: SyncOptions = {}): Promise<number> {
    if (closed) return Promise.reject(new ServiceUnavailableError("store: closed"));
    const since = options.since;
    if (since !== undefined) {
      // A sync begun after the caller's request arrived has every write acknowledged before it.
      if (succeeded > since) return Promise.resolve(mirror.head());
      if (syncing && begun > since) return syncing;
    }
    if (!syncing) {
      const number = ++begun;
      syncing = doSync()
        .then((revision) => {
          succeeded = number;
          return revision;
        })
        .finally(() => (syncing = undefined));
      return syncing;
    }
    // One in flight started before this call: a read that began after it is needed.
    syncQueued ??= syncing
      .catch(() => 0)
      .then(() => {
        syncQueued = undefined;
        return sync();
      });
    return syncQueued;
  }

  // ---- writes ----

  // etcd's own NOSPACE alarm (past --quota-backend-bytes of etcd): reported
  // from the first write it refuses until the next write etcd accepts.
  let spaceAlarm: SpaceAlarm | undefined;
  const noSpace = (err: unknown): ApiError | undefined => {
    if (!/database space exceeded/i.test(err instanceof Error ? err.message : String(err))) return undefined;
    spaceAlarm ??= {
      kind: "quota",
      message:
        "store: etcd is past its space quota (NOSPACE alarm): writes are refused; reads, watches and deletes still work. Compact and defragment etcd, then disarm its alarm",
      since: now(),
    };
    return new InsufficientStorageError(spaceAlarm.message, { cause: err });
  };

  // A write whose answer is lost (the connection dropped after etcd got the
  // transaction; the etcd client retries such calls itself, or we do) must
  // not apply twice, nor report AlreadyExists or Conflict for what it did
  // itself. Every attempt stores a unique write id with the value: an attempt
  // that finds the key (or, for a delete, the tombstone) holding one of its
  // own ids knows it succeeded; after an error, the watch, made current by a
  // sync, tells whether any attempt of the write was applied.
  const newWriteId = writeIds();
  /** Ids of attempts whose outcome a write may have to learn from the watch, with the revision that applied them (0: not seen). */
  const pendingIds = new Map<string, number>();
  const notePending = (kv: IKeyValue) => {
    if (pendingIds.size === 0) return;
    const id = writeIdOf(kv.value);
    if (id !== undefined && pendingIds.has(id)) pendingIds.set(id, Number(kv.mod_revision));
  };

  interface Attempt {
    id: string;
    guess: number;
    op: "put" | "delete";
    object: string;
    /** Commit time stored with it. */
    time: number;
  }

  /** What a write of this replica reports: its object as stored at `revision` (the mirror's copy once its watch applied it: no second fix-up of the guessed revision). */
  const own = (a: Attempt, revision: number, key: ObjectKey): WriteResult => {
    const seen = a.op === "put" ? mirror.get(key) : undefined;
    const object = seen?.revision === revision ? seen.json : withRevision({ time: 0, guess: a.guess, json: a.object }, revision);
    return { revision, object, op: a.op };
  };

  /**
   * A write that etcd applied at `revision`, when the mirror's head is just
   * before it: nothing of this store lies between, and the change at
   * `revision` is exactly this Txn's (one Txn, one revision), so the mirror
   * takes it now, as the watch would deliver it (same type, object, previous
   * and time), instead of this write waiting for its own event, which etcd
   * sends after the Txn's answer. The watch skips it when it comes. `current`
   * is what the Txn's compare held (its mod_revision matched). Returns false
   * (the caller waits for the watch) in any other case.
   */
  function applyOwn(key: ObjectKey, a: Attempt, current: StoredObject | undefined, revision: number): boolean {
    if (rebuilding || mirror.head() !== revision - 1 || (a.op === "delete" && !current)) return false;
    const change: Change = {
      revision,
      type: a.op === "delete" ? "DELETED" : current ? "MODIFIED" : "ADDED",
      key,
      object: withRevision({ time: a.time, guess: a.guess, json: a.object }, revision),
      time: a.time,
    };
    if (current) change.previous = current.json;
    mirror.apply(change);
    appliedOwn.add(revision);
    notify();
    return true;
  }

  /** After a failed call: which attempt (if any) etcd applied, once this replica is current; throws when etcd cannot say in time. */
  async function appliedAttempt(key: ObjectKey, attempts: Attempt[], cause: unknown, deadline: number, epoch: number): Promise<WriteResult | undefined> {
    for (;;) {
      if (closed || clock.now() >= deadline) throw noSpace(cause) ?? unavailable("write (its outcome is unknown)", cause);
      try {
        await sync();
        break;
      } catch {
        if (closed || clock.now() >= deadline) throw noSpace(cause) ?? unavailable("write (its outcome is unknown)", cause);
        await sleep(200, true);
      }
    }
    for (const a of attempts) {
      const revision = pendingIds.get(a.id);
      if (revision) return own(a, revision, key);
    }
    // A rebuild loaded the newest state instead of watching every change: an attempt applied and overwritten meanwhile left no trace.
    if (rebuilds !== epoch) throw unavailable("write (its outcome is unknown: this replica's mirror was rebuilt meanwhile)", cause);
    return undefined;
  }

  async function write(key: ObjectKey, decide: Decider, scope: WriteScope = {}): Promise<WriteResult> {
    const attempts: Attempt[] = [];
    try {
      return await writeAttempts(key, decide, scope, attempts);
    } finally {
      for (const a of attempts) pendingIds.delete(a.id);
    }
  }

  /** The object a key's value holds, as the mirror would serve it; undefined for no key, or a value no Setpoint store wrote (served as absent). */
  const stored = (kv: IKeyValue | undefined): StoredObject | undefined => {
    const env = kv && decodeEnvelope(kv.value);
    return env ? { json: withRevision(env, Number(kv.mod_revision)), revision: Number(kv.mod_revision) } : undefined;
  };

  async function writeAttempts(key: ObjectKey, decide: Decider, scope: WriteScope, attempts: Attempt[]): Promise<WriteResult> {
    const k = objKey(key);
    const tk = tombKey(key);
    const readPrefix = scope.readsType === undefined ? undefined : Buffer.from(`${prefix}/o/${scope.readsType}/`);
    const reads = scope.reads ?? [];
    /** Whether the decider reads more than its own object: a change there decides again too. */
    const readsMore = readPrefix !== undefined || reads.length > 0;
    let current: StoredObject | undefined = mirror.get(key);
    /** The key's mod_revision in etcd as `current` was read (0: no key); not current's revision where the key holds a value no Setpoint store wrote. */
    let held = current?.revision ?? 0;
    let known = mirror.head();
    /** Whether `current` is what etcd held at some point after the call began (not just this replica's mirror). */
    let confirmed = false;
    let failedCalls = 0;
    // A write fails (503) within the request timeout, finding out its outcome included.
    const deadline = clock.now() + timeoutMs;
    const epoch = rebuilds;
    for (let attempt = 0; ; attempt++) {
      if (closed) throw new ServiceUnavailableError("store: closed");
      /** The revision of the mirror's state the decider reads. */
      const read = mirror.head();
      const guess = Math.max(known, read) + 1;
      let decision: ReturnType<Decider>;
      try {
        decision = decide(current, guess);
      } catch (err) {
        // Refused on the mirror's state (404 on an object another replica just
        // created, a precondition on a resourceVersion it just wrote, a schema
        // another replica has just changed): the mirror may lag; refuse only
        // what etcd itself holds.
        if (confirmed) throw err;
        const seen = reads.map((r) => mirror.get(r)?.revision);
        let res;
        try {
          res = await members.call((c) => c.kv.range({ key: k }));
        } catch (e) {
          throw unavailable("read", e);
        }
        confirmed = true;
        known = Math.max(known, Number(res.header.revision));
        const kv = res.kvs[0];
        if (Number(kv?.mod_revision ?? 0) === held) {
          // The object held; an object the decider read may not have: decide again once the mirror has what etcd had then.
          if (reads.length === 0 || !(await catchUp(known)) || reads.every((r, i) => mirror.get(r)?.revision === seen[i])) throw err;
          continue;
        }
        current = stored(kv);
        held = Number(kv?.mod_revision ?? 0);
        continue;
      }
      const compare: TxnCompare[] = [{ key: k, target: "Mod", result: "Equal", mod_revision: held }];
      // Nothing of the type the decider read has changed since the state it read.
      if (readPrefix) compare.push({ key: readPrefix, range_end: prefixEnd(readPrefix), target: "Mod", result: "Less", mod_revision: read + 1 });
      // Nor any object it read (its key: created or changed; its tombstone: deleted).
      for (const r of reads) {
        compare.push({ key: objKey(r), target: "Mod", result: "Less", mod_revision: read + 1 });
        compare.push({ key: tombKey(r), target: "Mod", result: "Less", mod_revision: read + 1 });
      }
      const failure = [{ request_range: { key: k } }, { request_range: { key: tk } }];
      let a: Attempt | undefined;
      if (decision.op !== "none") {
        a = { id: newWriteId(), guess, op: decision.op, object: decision.object, time: now() };
        attempts.push(a);
        pendingIds.set(a.id, 0);
      }
      const success = !a
        ? []
        : a.op === "put"
          ? [{ request_put: { key: k, value: encodeEnvelope(a.time, guess, a.object, a.id) } }]
          : [{ request_delete_range: { key: k } }, { request_put: { key: tk, value: encodeEnvelope(a.time, guess, a.object, a.id) } }];
      let res;
      try {
        res = await members.txn({ compare, success, failure });
      } catch (err) {
        const full = noSpace(err);
        if (full) throw full;
        // The transaction may or may not have been applied.
        const applied = await appliedAttempt(key, attempts, err, deadline, epoch);
        if (applied) return applied;
        if (++failedCalls >= 3) throw unavailable("write", err);
        // None was: decide again on the (now current) mirror.
        current = mirror.get(key);
        held = current?.revision ?? 0;
        known = mirror.head();
        confirmed = true;
        continue;
      }
      spaceAlarm = undefined;
      known = Number(res.header.revision);
      if (res.succeeded) {
        if (!a) return { revision: current?.revision ?? 0, object: current?.json, op: "none" };
        const revision = known;
        if (applyOwn(key, a, current, revision)) return own(a, revision, key);
        if (!(await catchUp(revision))) warn(`store: write at ${revision} is committed but this replica's watch has not delivered it yet`);
        return own(a, revision, key);
      }
      const kv = res.responses[0]?.response_range?.kvs?.[0];
      const tomb = res.responses[1]?.response_range?.kvs?.[0];
      // An earlier attempt of this write, sent again by the etcd client after a lost answer, was applied.
      const mine = (v: IKeyValue | undefined, op: Attempt["op"]) => {
        const id = v ? writeIdOf(v.value) : undefined;
        return id === undefined ? undefined : attempts.find((x) => x.id === id && x.op === op);
      };
      const done = kv ? mine(kv, "put") : mine(tomb, "delete");
      if (done) {
        const revision = Number((kv ?? tomb)!.mod_revision);
        await catchUp(revision);
        return own(done, revision, key);
      }
      // Lost a race: decide again on what etcd holds now.
      current = stored(kv);
      const raced = Number(kv?.mod_revision ?? 0) !== held;
      held = Number(kv?.mod_revision ?? 0);
      confirmed = true;
      // The object held: what else the decider read changed. Decide again on a mirror that has the change.
      if (readsMore && !raced && !(await catchUp(known))) throw unavailable("write", new Error(`this replica's watch has not delivered revision ${known}`));
      if (attempt > 1000) throw new ServiceUnavailableError(`store: gave up writing ${k.toString()} after 1000 conflicting attempts`);
    }
  }

  // ---- compaction ----

  async function compact(opts: CompactOptions): Promise<number> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const m = mirror;
      if (opts.skipIfCompactedWithinMs && now() - metaTime < opts.skipIfCompactedWithinMs) return m.compacted();
      const log = m.logUpTo(m.head());
      if (log.length <= opts.minEvents) return m.compacted();
      let target = log[log.length - opts.minEvents - 1]!.revision;
      const cutoff = now() - opts.windowMs;
      // Never drop a change younger than the window: stop at the first one.
      let lastOld = m.compacted();
      for (const c of log) {
        if (c.revision > target || c.time >= cutoff) break;
        lastOld = c.revision;
      }
      target = Math.min(target, lastOld);
      if (target <= m.compacted()) return m.compacted();
      let res;
      try {
        res = await client.kv.txn({
          compare: [{ key: metaKey, target: "Mod", result: "Equal", mod_revision: metaModRevision }],
          success: [{ request_put: { key: metaKey, value: Buffer.from(JSON.stringify({ revision: target, time: now() })) } }],
          failure: [{ request_range: { key: metaKey } }],
        });
      } catch (err) {
        throw unavailable("compaction", err);
      }
      if (!res.succeeded) {
        // Another replica (or call) compacted first: follow it, and go on only if it did less.
        const meta = readMeta(res.responses[0]?.response_range?.kvs?.[0]);
        if (meta) await waitHead(meta.mod, catchUpMs);
        continue;
      }
      await waitHead(Number(res.header.revision), catchUpMs);
      try {
        await client.kv.compact({ revision: target });
      } catch (err) {
        // Already compacted further (by the etcd cluster or another deployment): nothing to do.
        if (!String((err as Error).message).includes("compacted")) warn("store: etcd compaction failed", err);
      }
      return mirror.compacted();
    }
    return mirror.compacted();
  }

  // ---- etcd compacted by someone else ----

  /**
   * etcd's compact revision, when etcd has compacted past `floor`: a watch of
   * one key from `floor` is canceled by etcd with its compact_revision (after
   * the `created` answer). 0 when no such answer comes within the request
   * timeout (etcd had not compacted past `floor` after all) or the watch fails.
   */
  async function etcdCompactRevision(floor: number): Promise<number> {
    let s: Awaited<ReturnType<typeof client.watchClient.watch>>;
    try {
      s = await client.watchClient.watch();
    } catch {
      return 0;
    }
    return new Promise<number>((resolve) => {
      let done = false;
      const finish = (revision: number) => {
        if (done) return;
        done = true;
        timer.cancel();
        s.cancel?.();
        resolve(revision);
      };
      const timer = after(timeoutMs, () => finish(0), false);
      s.on("data", (res: IWatchResponse) => {
        const revision = Number(res.compact_revision ?? 0);
        if (revision > 0 || res.canceled) finish(revision);
      });
      s.on("error", () => finish(0));
      s.on("end", () => finish(0));
      s.write({ create_request: { key: metaKey, start_revision: floor, prev_kv: false } });
    });
  }

  let probing = false;
  /**
   * Learns a compaction of etcd that this prefix's compactor did not make
   * (`etcdctl compact`, etcd's --auto-compaction-retention, another
   * deployment on the same cluster): the watch goes on delivering after one,
   * so the mirror would keep serving history etcd no longer has, and a
   * replica started later (which cannot read it) would answer 410 where this
   * one answers 200. One cheap read at the mirror's oldest revision (a
   * serializable range of one key, counted only) finds out; when etcd says
   * that revision is compacted, a one-key watch from it gives etcd's compact
   * revision, and the mirror drops its history below it: lists and watches
   * from before it are 410 Expired, as on every replica (API.md §9).
   */
  async function probeCompaction(): Promise<void> {
    const floor = mirror.compacted();
    if (probing || closed || rebuilding || floor >= mirror.head()) return;
    probing = true;
    try {
      try {
        await client.kv.range({ key: metaKey, revision: floor, count_only: true, serializable: true });
        return;
      } catch (err) {
        // Unreachable, slow: the next period looks again.
        if (!String((err as Error).message).includes("compacted")) return;
      }
      const revision = await etcdCompactRevision(floor);
      if (closed || revision <= mirror.compacted()) return;
      // This prefix's own compactor (its marker there, not yet through this replica's watch): no warning for that.
      const marker = await client.kv.range({ key: metaKey }).then(
        (res) => readMeta(res.kvs[0]),
        () => undefined,
      );
      if (!(marker && !marker.poison && marker.revision >= revision))
        warn(`store: etcd was compacted to revision ${revision} by someone else (not this prefix's compactor); history before it is Expired here too`);
      if (closed || revision <= mirror.compacted()) return;
      mirror.compact(revision);
      notify();
    } finally {
      probing = false;
    }
  }

  // ---- open ----

  // Members may be down while this replica starts: try a few times before giving up.
  // The first failure says why (ECONNREFUSED, a TLS error); later ones only that the client's circuit breaker is open.
  let firstFailure: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      mirror = await loadMirror("marker");
      break;
    } catch (err) {
      firstFailure ??= err;
      if (attempt >= 5) {
        members.closeNow();
        if (firstFailure instanceof ApiError && !(firstFailure instanceof ServiceUnavailableError)) throw firstFailure;
        const why = (firstFailure instanceof Error ? firstFailure.message : String(firstFailure)).replace(/\s*Resolution note:\s*$/, "");
        throw new ServiceUnavailableError(`store: etcd at ${options.endpoints.join(",")} cannot be reached (${why}): is etcd running there? (--etcd-servers)`, {
          cause: firstFailure,
        });
      }
      await sleep(200 * attempt, true);
    }
  }
  await members.findLeader();
  await openWatch();
  try {
    // The watch may be reconnecting (a member down): give it a few catch-up periods.
    for (let attempt = 1; ; attempt++) {
      try {
        await sync();
        break;
      } catch (err) {
        if (!(err instanceof TimeoutError) || attempt >= 5) throw err;
      }
    }
  } catch (err) {
    closed = true;
    stream?.cancel?.();
    members.closeNow();
    throw err;
  }
  const syncTimer =
    (options.syncIntervalMs ?? 1000) > 0
      ? clock.every(options.syncIntervalMs ?? 1000, () => {
          if (!syncing) sync().catch(() => {});
          // Leadership moves (elections, a member restarted): look again every few seconds.
          members.recheck();
        })
      : undefined;

  const compactionTimer = (options.compactionCheckMs ?? 1000) > 0 ? clock.every(options.compactionCheckMs ?? 1000, () => void probeCompaction()) : undefined;

  return {
    head: () => mirror.head(),
    compacted: () => mirror.compacted(),
    get: (key) => mirror.get(key),
    list: (opts) => mirror.list(opts),
    changes: (after, limit) => mirror.changes(after, limit),
    write,
    compact,
    sync,
    syncMark: () => begun,
    onCommit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    size: () => mirror.bytes(),
    space: () => (spaceAlarm ? { usedBytes: mirror.bytes(), quotaBytes: 0, alarm: spaceAlarm } : { usedBytes: mirror.bytes(), quotaBytes: 0 }),
    async close() {
      if (closed) return;
      closed = true;
      syncTimer?.cancel();
      compactionTimer?.cancel();
      reconnectTimer?.cancel();
      for (const wake of [...sleepers]) wake();
      const s = stream;
      stream = undefined;
      s?.cancel?.();
      listeners.clear();
      for (const w of headWaiters) w.resolve();
      headWaiters.clear();
      await syncing?.catch(() => {});
      await members.close();
    },
  };
}
