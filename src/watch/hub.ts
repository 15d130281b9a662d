// The watch hub: turns the store's committed change stream into watch streams.
//
// - It follows the store's change log (whoever wrote it: this process or
//   another sharing the directory), never its own write calls, and delivers
//   each change to every matching watcher in revision order, exactly once.
// - A new watcher is set up in one synchronous step: the hub first catches up
//   with the store, then replays (from the in-memory window, or the store's
//   log for older retained revisions) or sends the initial state, then joins
//   the live fan-out. Nothing can slip in between.
// - Each event's bytes are built once per event type and shared.
// - Writers never wait on watchers: a watcher whose unsent bytes pass the bound
//   is cut off (it resumes from its last revision).
// - Bookmarks carry the newest delivered revision: periodically, after the
//   initial events, and before a deliberate close (timeout, shutdown).

import { systemClock, type Clock, type Timer } from "../clock.ts";
import { ExpiredError, TimeoutError, type ApiError } from "../errors.ts";
import type { Change, Store } from "../store.ts";
import { HubEvent, encodeBookmark, encodeEvent } from "./event.ts";
import type { Watcher, WatchRequest, WatchSink } from "./watcher.ts";

export interface WatchHubOptions {
  /** Period of bookmarks to watchers that allow them. Default 5000 ms. */
  bookmarkIntervalMs?: number;
  /** Unsent bytes past which a watcher is cut off. Default 16 MiB. */
  bufferBytes?: number;
  /** Most events kept in memory for replay. Default 20000. */
  windowEvents?: number;
  /** Most bytes of events kept in memory for replay. Default 64 MiB. */
  windowBytes?: number;
  clock?: Clock;
}

/** Counters for metrics. */
export interface WatchStats {
  watchers: number;
  eventsSent: number;
  bookmarksSent: number;
  cutOff: number;
  revision: number;
}

const CHUNK = 1000;

export class WatchHub {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #bufferBytes: number;
  readonly #windowEvents: number;
  readonly #windowBytes: number;
  /** Recent events, ascending and gap-free; the last one has revision `#delivered` (when non-empty). */
  #window: HubEvent[] = [];
  #windowWeight = 0;
  /** Newest revision delivered to live watchers. */
  #delivered: number;
  /** Live watchers by ResourceType name. */
  #byType = new Map<string, Set<Watcher>>();
  #waiters = new Set<{ revision: number; resolve: () => void }>();
  #stats = { eventsSent: 0, bookmarksSent: 0, cutOff: 0 };
  #unsubscribe: () => void;
  #bookmarkTimer: Timer;
  #closed = false;

  constructor(store: Store, options: WatchHubOptions = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#bufferBytes = options.bufferBytes ?? 16 * 1024 * 1024;
    this.#windowEvents = options.windowEvents ?? 20_000;
    this.#windowBytes = options.windowBytes ?? 64 * 1024 * 1024;
    this.#delivered = store.head();
    this.#unsubscribe = store.onCommit(() => this.pump());
    this.#bookmarkTimer = this.#clock.every(options.bookmarkIntervalMs ?? 5000, () => this.#bookmarkAll());
  }

  /** Newest revision delivered to watchers. */
  get revision(): number {
    return this.#delivered;
  }

  stats(): WatchStats {
    let watchers = 0;
    for (const set of this.#byType.values()) watchers += set.size;
    return { watchers, ...this.#stats, revision: this.#delivered };
  }

  /** Delivers every change committed since the last pump. Called on each commit; safe to call any time. */
  pump(): void {
    if (this.#closed) return;
    for (;;) {
      let batch: Change[];
      try {
        batch = this.#store.changes(this.#delivered, CHUNK);
      } catch (err) {
        // Another process compacted past us: every watcher has lost its place.
        if ((err as ApiError).reason !== "Expired") throw err;
        this.#expireAll(err as ApiError);
        return;
      }
      if (batch.length === 0) break;
      for (const change of batch) this.#deliver(new HubEvent(change));
      if (batch.length < CHUNK) break;
    }
    for (const w of this.#waiters) {
      if (this.#delivered >= w.revision) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Resolves once revision `revision` has been delivered; rejects with TimeoutError after `timeoutMs`. */
  waitFor(revision: number, timeoutMs = 3000): Promise<void> {
    this.pump();
    if (this.#delivered >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        revision,
        resolve: () => {
          timer.cancel();
          resolve();
        },
      };
      const timer = this.#clock.after(timeoutMs, () => {
        this.#waiters.delete(waiter);
        reject(
          new TimeoutError(`Too large resource version: ${revision}, current resource version: ${this.#delivered}`),
        );
      });
      this.#waiters.add(waiter);
    });
  }

  /**
   * Starts a watch. Sends initial events or replays from `request.resourceVersion`,
   * then live changes. If that revision is compacted, the sink gets one Expired
   * error and is closed. Call `waitFor(resourceVersion)` first for revisions
   * newer than `revision`. Returns a function that stops the watch.
   */
  watch(request: WatchRequest, sink: WatchSink): () => void {
    if (this.#closed) throw new RangeError("watch: hub is closed");
    this.pump();
    const w: Watcher = { request, sink, timer: undefined, closed: false };
    // sendInitialEvents=false without a revision starts at the newest one (kube's "most recent").
    const from = request.resourceVersion || (request.sendInitialEvents === false ? this.#delivered : 0);
    if (request.sendInitialEvents ?? from === 0) {
      this.#sendInitial(w);
      if (request.allowBookmarks && request.sendInitialEvents) {
        this.#send(w, encodeBookmark(request.apiVersion, request.kind, this.#delivered, true), this.#delivered);
        this.#stats.bookmarksSent++;
      }
    } else if (!this.#replay(w, from)) {
      return () => {};
    }
    if (w.closed) return () => {};
    let set = this.#byType.get(request.type);
    if (!set) this.#byType.set(request.type, (set = new Set()));
    set.add(w);
    if (request.timeoutMs !== undefined) {
      w.timer = this.#clock.after(request.timeoutMs, () => this.#end(w, "timeout"));
    }
    return () => this.#remove(w);
  }

  /** Closes every watch (after a final bookmark to those that allow them) and stops following the store. */
  close(): void {
    if (this.#closed) return;
    this.pump();
    this.#closed = true;
    this.#unsubscribe();
    this.#bookmarkTimer.cancel();
    for (const set of this.#byType.values()) for (const w of [...set]) this.#end(w, "shutdown");
    for (const w of this.#waiters) w.resolve();
    this.#waiters.clear();
  }

  #deliver(ev: HubEvent): void {
    this.#delivered = ev.revision;
    this.#window.push(ev);
    this.#windowWeight += ev.weight;
    while (this.#window.length > this.#windowEvents || (this.#windowWeight > this.#windowBytes && this.#window.length > 1)) {
      this.#windowWeight -= this.#window.shift()!.weight;
    }
    const set = this.#byType.get(ev.resource);
    if (!set) return;
    for (const w of set) this.#offer(w, ev);
  }

  /** Sends `ev` to `w` as the event type its selectors make it (or not at all). */
  #offer(w: Watcher, ev: HubEvent): void {
    const r = w.request;
    if (r.namespace !== undefined && r.namespace !== ev.namespace) return;
    if (r.fieldSelector && !r.fieldSelector.matches(ev.namespace, ev.name)) return;
    let type = ev.type;
    const sel = r.labelSelector;
    if (sel && !sel.empty) {
      if (ev.type === "ADDED") {
        if (!sel.matches(ev.labels())) return;
      } else if (ev.type === "DELETED") {
        if (!sel.matches(ev.labels())) return;
      } else {
        const now = sel.matches(ev.labels());
        const before = sel.matches(ev.previousLabels());
        if (!now && !before) return;
        if (now && !before) type = "ADDED";
        else if (!now && before) type = "DELETED";
      }
    }
    this.#send(w, ev.bytes(type), ev.revision);
    this.#stats.eventsSent++;
  }

  #send(w: Watcher, bytes: Buffer, revision: number): void {
    if (w.closed) return;
    w.sink.send(bytes, revision);
    if (w.sink.buffered() > this.#bufferBytes) {
      this.#stats.cutOff++;
      this.#remove(w);
      w.sink.close("slow");
    }
  }

  #sendInitial(w: Watcher): void {
    const r = w.request;
    const filter = (json: string, namespace: string, name: string): boolean => {
      if (r.fieldSelector && !r.fieldSelector.matches(namespace, name)) return false;
      if (r.labelSelector && !r.labelSelector.empty) {
        const labels = (JSON.parse(json) as { metadata?: { labels?: Record<string, string> } }).metadata?.labels;
        if (!r.labelSelector.matches(labels)) return false;
      }
      return true;
    };
    const list = this.#store.list({ type: r.type, namespace: r.namespace, revision: this.#delivered, filter });
    for (const json of list.items) {
      if (w.closed) return;
      this.#send(w, encodeEvent("ADDED", json), list.revision);
      this.#stats.eventsSent++;
    }
  }

  /** Replays changes after `from` up to `#delivered`; false if the watch ended instead. */
  #replay(w: Watcher, from: number): boolean {
    // The store's compaction bounds what can be watched, whatever the window still holds.
    const oldest = this.#store.compacted();
    if (from < oldest) {
      w.closed = true;
      w.sink.fail(new ExpiredError(`too old resource version: ${from} (${oldest})`));
      return false;
    }
    const oldestInWindow = this.#window.length > 0 ? this.#window[0]!.revision - 1 : this.#delivered;
    let next = from;
    if (from < oldestInWindow) {
      // Older than the window: read the retained log (throws if compacted).
      try {
        while (next < oldestInWindow) {
          const batch = this.#store.changes(next, CHUNK);
          if (batch.length === 0) break;
          for (const change of batch) {
            if (change.revision > oldestInWindow) break;
            if (change.key.type === w.request.type) this.#offer(w, new HubEvent(change));
            next = change.revision;
          }
          if (w.closed) return false;
        }
      } catch (err) {
        if ((err as ApiError).reason !== "Expired") throw err;
        w.closed = true;
        w.sink.fail(err as ApiError);
        return false;
      }
    }
    // From the window: binary search the first event after `next`.
    let lo = 0;
    let hi = this.#window.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#window[mid]!.revision <= next) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.#window.length && !w.closed; i++) {
      const ev = this.#window[i]!;
      if (ev.resource === w.request.type) this.#offer(w, ev);
    }
    return !w.closed;
  }

  #bookmarkAll(): void {
    this.pump();
    const cache = new Map<string, Buffer>();
    for (const set of this.#byType.values()) {
      for (const w of set) {
        if (!w.request.allowBookmarks) continue;
        const key = w.request.apiVersion + "/" + w.request.kind;
        let bytes = cache.get(key);
        if (!bytes) cache.set(key, (bytes = encodeBookmark(w.request.apiVersion, w.request.kind, this.#delivered)));
        this.#send(w, bytes, this.#delivered);
        this.#stats.bookmarksSent++;
      }
    }
  }

  #end(w: Watcher, why: "timeout" | "shutdown"): void {
    if (w.closed) return;
    if (w.request.allowBookmarks) {
      this.#send(w, encodeBookmark(w.request.apiVersion, w.request.kind, this.#delivered), this.#delivered);
      this.#stats.bookmarksSent++;
    }
    this.#remove(w);
    w.sink.close(why);
  }

  #remove(w: Watcher): void {
    if (w.closed) return;
    w.closed = true;
    w.timer?.cancel();
    this.#byType.get(w.request.type)?.delete(w);
  }

  #expireAll(err: ApiError): void {
    this.#delivered = this.#store.head();
    this.#window = [];
    this.#windowWeight = 0;
    for (const set of this.#byType.values()) {
      for (const w of [...set]) {
        this.#remove(w);
        w.sink.fail(err);
      }
    }
  }
}
