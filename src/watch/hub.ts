// The watch hub: turns the store's committed change stream into watch streams.
//
// - It follows the store's change log (whoever wrote it: this process or
//   another sharing the directory), never its own write calls, and delivers
//   each change to every matching watcher in revision order, exactly once.
// - A new watcher is set up in one synchronous step: the hub first catches up
//   with the store, then replays (from the in-memory window, or the store's
//   log for older retained revisions) or sends the initial state, then joins
//   the live fan-out. Nothing can slip in between.
// - Each change becomes one typed WatchEvent per event type, shared by every
//   watcher; transports encode it once each (src/watch/event.ts).
// - Writers never wait on watchers: a watcher whose unsent bytes pass the bound
//   is cut off (it resumes from its last revision). So are the watchers
//   furthest behind (most unsent bytes) when the unsent bytes of all watchers
//   together pass the memory budget, until they are back under 90% of it.
// - Bookmarks carry the newest delivered revision: periodically, after the
//   initial events, and before a deliberate close (timeout, type deleted,
//   shutdown).
// - Deleting a ResourceType (a DELETED change of `typesType`) ends every watch
//   of the type it declared, as kube-apiserver ends watches of a deleted CRD;
//   every process following the store sees the change, so each ends its own.

import { systemClock, type Clock, type Timer } from "../clock.ts";
import { ExpiredError, TimeoutError, tooLargeResourceVersion, type ApiError } from "../errors.ts";
import { labelsOf } from "../object-labels.ts";
import type { Change, Store } from "../store.ts";
import { Deque } from "./deque.ts";
import { HubEvent, WatchEvent, bookmarkEvent } from "./event.ts";
import type { Watcher, WatchRequest, WatchSink } from "./watcher.ts";

export interface WatchHubOptions {
  /** Period of bookmarks to watchers that allow them. Default 5000 ms. */
  bookmarkIntervalMs?: number;
  /** Unsent bytes past which a watcher is cut off. Default 16 MiB. */
  bufferBytes?: number;
  /** Unsent bytes of all watchers together past which the furthest behind are cut off. Default 0: no budget. */
  memoryBudgetBytes?: number;
  /** Told of every watcher cut off, with why and its unsent bytes. */
  onCutOff?: (request: WatchRequest, why: CutOffReason, bufferedBytes: number) => void;
  /** A catching-up watcher waits for its sink to drain below this many unsent bytes (at most half of bufferBytes). Default 1 MiB. */
  lowWaterBytes?: number;
  /** Most events kept in memory for replay. Default 20000. */
  windowEvents?: number;
  /** Most bytes of events kept in memory for replay. Default 64 MiB. */
  windowBytes?: number;
  /** Called after the hub has handed a batch of events to the sinks (live changes, bookmarks), e.g. to write out corked sockets at once. */
  onDelivered?: () => void;
  /** ResourceType name of the objects that declare types (named by the type they declare): deleting one ends every watch of that type. */
  typesType?: string;
  clock?: Clock;
}

/** Why a watcher was cut off: its own send-buffer bound, or the memory budget of all watchers. */
export type CutOffReason = "buffer" | "budget";

/** Counters for metrics. */
export interface WatchStats {
  watchers: number;
  eventsSent: number;
  bookmarksSent: number;
  /** Watchers cut off for either reason. */
  cutOff: number;
  /** Of those, cut off by the memory budget. */
  cutOffBudget: number;
  /** Unsent bytes of all watchers at the last look (looked at when the budget may be near). */
  queuedBytes: number;
  /** Events in the in-memory replay window, and the bytes they hold (objects, previous objects, cached encodings). */
  windowEvents: number;
  windowBytes: number;
  revision: number;
}

const CHUNK = 1000;

/** A watcher's next readLimit: twice what its sink took of the last read, at least 1; doubled after a read it took whole; at most CHUNK. */
function nextReadLimit(limit: number, taken: number, read: number): number {
  return taken < read ? Math.max(1, 2 * taken) : Math.min(CHUNK, 2 * limit);
}

export class WatchHub {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #bufferBytes: number;
  readonly #windowEvents: number;
  readonly #windowBytes: number;
  /** A catching-up watcher waits for its sink to drain below this many unsent bytes. */
  readonly #lowWater: number;
  /** Recent events, ascending and gap-free; the last one has revision `#delivered` (when non-empty). */
  #window = new Deque<HubEvent>();
  #windowWeight = 0;
  /** Newest revision delivered to live watchers. */
  #delivered: number;
  /** Live watchers by ResourceType name. */
  #byType = new Map<string, Set<Watcher>>();
  #waiters = new Set<{ revision: number; resolve: () => void; reject: (err: Error) => void }>();
  #stats = { eventsSent: 0, bookmarksSent: 0, cutOff: 0, cutOffBudget: 0 };
  readonly #budget: number;
  readonly #onCutOff: WatchHubOptions["onCutOff"];
  readonly #onDelivered: () => void;
  readonly #typesType: string | undefined;
  /** Unsent bytes of all watchers when last summed, and bytes sent since (an upper bound of the growth). */
  #queuedAtLook = 0;
  #sentSinceLook = 0;
  #unsubscribe: () => void;
  #bookmarkTimer: Timer;
  #closed = false;

  constructor(store: Store, options: WatchHubOptions = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#bufferBytes = options.bufferBytes ?? 16 * 1024 * 1024;
    this.#budget = options.memoryBudgetBytes ?? 0;
    if (!(this.#budget >= 0)) throw new RangeError(`watch hub: memoryBudgetBytes must be 0 or more, got ${this.#budget}`);
    this.#onCutOff = options.onCutOff;
    this.#onDelivered = options.onDelivered ?? (() => {});
    this.#typesType = options.typesType;
    this.#lowWater = options.lowWaterBytes ?? 1024 * 1024;
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
    return {
      watchers,
      ...this.#stats,
      queuedBytes: this.#queuedAtLook,
      windowEvents: this.#window.length,
      windowBytes: this.#windowWeight,
      revision: this.#delivered,
    };
  }

  /** Delivers every change committed since the last pump. Called on each commit; safe to call any time. */
  pump(): void {
    if (this.#closed) return;
    let delivered = false;
    for (;;) {
      // Read before the changes: once they are drained, every change up to it
      // has been delivered, even where revisions were taken by writes outside
      // this store (etcd) and no change carries them.
      const head = this.#store.head();
      let batch: Change[];
      try {
        batch = this.#store.changes(this.#delivered, CHUNK);
      } catch (err) {
        // Another process compacted past us: every watcher has lost its place
        // (the hub goes on from the store's head, so waiters up to it are done).
        if (!(err instanceof ExpiredError)) throw err;
        this.#expireAll(err as ApiError);
        break;
      }
      for (const change of batch) this.#deliver(new HubEvent(change));
      if (batch.length > 0) delivered = true;
      if (batch.length < CHUNK) {
        if (head > this.#delivered) this.#delivered = head;
        break;
      }
    }
    if (delivered) this.#onDelivered();
    this.#dropCompacted();
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
        reject: (err: Error) => {
          timer.cancel();
          reject(err);
        },
      };
      const timer = this.#clock.after(timeoutMs, () => {
        this.#waiters.delete(waiter);
        reject(tooLargeResourceVersion(revision, this.#delivered));
      });
      this.#waiters.add(waiter);
    });
  }

  /**
   * Starts a watch. Sends initial events or replays from `request.resourceVersion`,
   * then live changes. If that revision is compacted, the sink gets one Expired
   * error and is closed. Call `waitFor(resourceVersion)` first for revisions
   * newer than `revision`. Returns a function that stops the watch.
   *
   * Catch-up (initial events, replay) is paced by the sink: it sends while the
   * sink's unsent bytes stay under a low-water mark and resumes on drain, so a
   * reader that keeps up is never cut off for the size of what it missed. Live
   * events pass a catching-up watcher by; it reads them from the window (or
   * the store's log) when it gets there, and joins the live fan-out in the same
   * synchronous step that sends its last missed event.
   */
  watch(request: WatchRequest, sink: WatchSink): () => void {
    if (this.#closed) {
      sink.close("shutdown");
      return () => {};
    }
    this.pump();
    // sendInitialEvents=false without a revision starts at the newest one (kube's "most recent").
    const from = request.resourceVersion || (request.sendInitialEvents === false ? this.#delivered : 0);
    const w: Watcher = { request, sink, timer: undefined, closed: false, cursor: from, catchingUp: true, readLimit: CHUNK };
    if (request.sendInitialEvents ?? from === 0) {
      w.initial = { revision: this.#delivered, after: undefined };
      w.cursor = this.#delivered;
    } else {
      const oldest = this.#store.compacted();
      if (from < oldest) {
        w.closed = true;
        sink.fail(new ExpiredError(`too old resource version: ${from} (${oldest})`));
        return () => {};
      }
    }
    let set = this.#byType.get(request.type);
    if (!set) this.#byType.set(request.type, (set = new Set()));
    set.add(w);
    if (request.timeoutMs !== undefined) {
      w.timer = this.#clock.after(request.timeoutMs, () => this.#end(w, "timeout"));
    }
    this.#catchUp(w);
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
    for (const w of this.#waiters) w.reject(new TimeoutError("the server is shutting down; retry against another replica"));
    this.#waiters.clear();
  }

  #deliver(ev: HubEvent): void {
    this.#delivered = ev.revision;
    this.#window.push(ev);
    const set = this.#byType.get(ev.resource);
    if (set) for (const w of set) if (!w.catchingUp) this.#offer(w, ev);
    // Counted after the fan-out, so that the transports' encodings are in.
    ev.settle();
    this.#recount(ev);
    this.#trimWindow();
    if (ev.type === "DELETED" && ev.resource === this.#typesType) {
      for (const w of [...(this.#byType.get(ev.name) ?? [])]) this.#end(w, "deleted");
    }
  }

  /** Brings the window's weight up to date with what `ev` holds now (a transport may have encoded it since). */
  #recount(ev: HubEvent): void {
    const weight = ev.weight;
    this.#windowWeight += weight - ev.counted;
    ev.counted = weight;
  }

  /** Drops the oldest events while the window holds more than its bounds, or events the store has compacted (no watch can start before them). */
  #trimWindow(): void {
    while (this.#window.length > this.#windowEvents || (this.#windowWeight > this.#windowBytes && this.#window.length > 1)) {
      this.#windowWeight -= this.#window.shift()!.counted;
    }
  }

  /** Drops the window's events at or before the store's compacted revision: a watch from before it gets 410 Expired, never these. */
  #dropCompacted(): void {
    if (this.#window.length === 0) return;
    const compacted = this.#store.compacted();
    while (this.#window.length > 0 && this.#window.at(0)!.revision <= compacted) this.#windowWeight -= this.#window.shift()!.counted;
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
    this.#send(w, ev.as(type));
    this.#stats.eventsSent++;
  }

  #send(w: Watcher, event: WatchEvent): void {
    if (w.closed) return;
    w.sink.send(event);
    const buffered = w.sink.buffered();
    // One event larger than the bound alone does not make a watcher slow.
    if (buffered - event.size > this.#bufferBytes) {
      this.#cutOff(w, "buffer", buffered);
      return;
    }
    if (this.#budget > 0) {
      this.#sentSinceLook += event.size;
      // Summing every watcher's unsent bytes is O(watchers): do it only when
      // the bound on the growth since the last sum could reach the budget,
      // and at most once per 1/64 of the budget sent.
      if (this.#queuedAtLook + this.#sentSinceLook > this.#budget && this.#sentSinceLook * 64 >= this.#budget) this.#enforceBudget();
    }
  }

  #cutOff(w: Watcher, why: CutOffReason, buffered: number): void {
    this.#stats.cutOff++;
    if (why === "budget") this.#stats.cutOffBudget++;
    this.#remove(w);
    w.sink.close("slow");
    this.#onCutOff?.(w.request, why, buffered);
  }

  /** Sums the unsent bytes of all watchers; past the budget, cuts off the furthest behind until under 90% of it. */
  #enforceBudget(): void {
    const all: Array<{ w: Watcher; bytes: number }> = [];
    let total = 0;
    for (const set of this.#byType.values()) {
      for (const w of set) {
        const bytes = w.sink.buffered();
        total += bytes;
        if (bytes > 0) all.push({ w, bytes });
      }
    }
    this.#sentSinceLook = 0;
    if (total > this.#budget) {
      all.sort((a, b) => b.bytes - a.bytes);
      const target = this.#budget * 0.9;
      for (const { w, bytes } of all) {
        if (total <= target) break;
        this.#cutOff(w, "budget", bytes);
        total -= bytes;
      }
    }
    this.#queuedAtLook = total;
  }

  /** Sends what `w` missed, a chunk at a time, while its sink keeps up; then joins it to the live fan-out. */
  #catchUp(w: Watcher): void {
    const lowWater = this.#lowWaterFor();
    while (!w.closed) {
      if (w.sink.buffered() > lowWater) {
        w.sink.onDrain(() => {
          if (!this.#closed) this.#catchUp(w);
        });
        return;
      }
      if (w.initial) {
        this.#sendInitialPage(w);
        continue;
      }
      if (w.cursor >= this.#delivered) {
        w.catchingUp = false;
        return;
      }
      if (!this.#replayChunk(w)) return;
    }
  }

  #lowWaterFor(): number {
    return Math.min(this.#lowWater, this.#bufferBytes / 2);
  }

  /** One page of the initial state as ADDED events; after the last, the initial-events-end bookmark. */
  #sendInitialPage(w: Watcher): void {
    const r = w.request;
    const init = w.initial!;
    const filter = (json: string, namespace: string, name: string): boolean => {
      if (r.fieldSelector && !r.fieldSelector.matches(namespace, name)) return false;
      if (r.labelSelector && !r.labelSelector.empty) {
        const labels = labelsOf(json);
        if (!r.labelSelector.matches(labels)) return false;
      }
      return true;
    };
    let page;
    try {
      page = this.#store.list({ type: r.type, namespace: r.namespace, revision: init.revision, after: init.after, limit: w.readLimit, filter });
    } catch (err) {
      // The snapshot was compacted while a slow reader was still taking it.
      if (!(err instanceof ExpiredError)) throw err;
      this.#remove(w);
      w.sink.fail(err as ApiError);
      return;
    }
    const lowWater = this.#lowWaterFor();
    for (let i = 0; i < page.items.length; i++) {
      if (w.closed) return;
      const json = page.items[i]!;
      this.#send(w, new WatchEvent("ADDED", json, init.revision));
      this.#stats.eventsSent++;
      if (i < page.items.length - 1 && w.sink.buffered() > lowWater) {
        // Stop mid-page; go on after this object once the sink drains.
        const m = (JSON.parse(json) as { metadata: { namespace?: string; name: string } }).metadata;
        init.after = { namespace: m.namespace ?? "", name: m.name };
        w.readLimit = nextReadLimit(w.readLimit, i + 1, page.items.length);
        return;
      }
    }
    w.readLimit = nextReadLimit(w.readLimit, page.items.length, page.items.length);
    if (page.next) {
      init.after = page.next;
      return;
    }
    w.initial = undefined;
    if (r.allowBookmarks && r.sendInitialEvents) {
      this.#send(w, bookmarkEvent(r.apiVersion, r.kind, init.revision, true));
      this.#stats.bookmarksSent++;
    }
  }

  /** Sends the next chunk of changes after `w.cursor`, from the window or the store's log; false if the watch ended. */
  #replayChunk(w: Watcher): boolean {
    const oldestInWindow = this.#window.length > 0 ? this.#window.at(0)!.revision - 1 : this.#delivered;
    if (w.cursor < oldestInWindow) {
      let batch: Change[];
      try {
        batch = this.#store.changes(w.cursor, w.readLimit);
      } catch (err) {
        if (!(err instanceof ExpiredError)) throw err;
        this.#remove(w);
        w.sink.fail(err as ApiError);
        return false;
      }
      const lowWater = this.#lowWaterFor();
      let i = 0;
      for (; i < batch.length; i++) {
        const change = batch[i]!;
        if (change.revision > this.#delivered || w.closed) break;
        if (change.key.type === w.request.type) this.#offer(w, new HubEvent(change));
        w.cursor = change.revision;
        if (w.sink.buffered() > lowWater) {
          i++;
          break;
        }
      }
      // The whole rest of the log was read: nothing else up to the delivered revision.
      if (i === batch.length && batch.length < w.readLimit && w.cursor < this.#delivered) w.cursor = this.#delivered;
      w.readLimit = nextReadLimit(w.readLimit, i, batch.length);
      return !w.closed;
    }
    // From the window: binary search the first event after the cursor.
    let lo = 0;
    let hi = this.#window.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#window.at(mid)!.revision <= w.cursor) lo = mid + 1;
      else hi = mid;
    }
    const end = Math.min(this.#window.length, lo + CHUNK);
    const lowWater = this.#lowWaterFor();
    let i = lo;
    let recounted = false;
    for (; i < end && !w.closed; i++) {
      const ev = this.#window.at(i)!;
      if (ev.resource === w.request.type) {
        this.#offer(w, ev);
        // This watcher's transport may be the first to encode it.
        if (ev.weight !== ev.counted) {
          this.#recount(ev);
          recounted = true;
        }
      }
      w.cursor = ev.revision;
      if (w.sink.buffered() > lowWater) {
        i++;
        break;
      }
    }
    // Past the window's last event: revisions up to the delivered one carry no change.
    if (i === this.#window.length && !w.closed) w.cursor = this.#delivered;
    if (recounted) this.#trimWindow();
    return !w.closed;
  }

  #bookmarkAll(): void {
    this.pump();
    const cache = new Map<string, WatchEvent>();
    for (const set of this.#byType.values()) {
      for (const w of set) {
        if (!w.request.allowBookmarks || w.catchingUp) continue;
        const key = w.request.apiVersion + "/" + w.request.kind;
        let event = cache.get(key);
        if (!event) cache.set(key, (event = bookmarkEvent(w.request.apiVersion, w.request.kind, this.#delivered)));
        this.#send(w, event);
        this.#stats.bookmarksSent++;
      }
    }
    this.#onDelivered();
  }

  #end(w: Watcher, why: "timeout" | "deleted" | "shutdown"): void {
    if (w.closed) return;
    // The final bookmark says how far this watcher got: the newest revision, or
    // its catch-up cursor (none while it is still taking the initial state).
    if (w.request.allowBookmarks && !w.initial) {
      const revision = w.catchingUp ? w.cursor : this.#delivered;
      this.#send(w, bookmarkEvent(w.request.apiVersion, w.request.kind, revision));
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
    this.#window.clear();
    this.#windowWeight = 0;
    for (const set of this.#byType.values()) {
      for (const w of [...set]) {
        this.#remove(w);
        w.sink.fail(err);
      }
    }
  }
}
