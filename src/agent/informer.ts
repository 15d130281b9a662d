// The informer: keeps a local cache of one type in step with the server and
// tells handlers what changed (API.md §7).
//
// - Start: restore cache and revision from the state directory if there is a
//   usable state file (handlers get onAdd for each object); else list over
//   gRPC (paged) at revision R. Then watch from the last revision, over a
//   WebSocket (default) or gRPC, with bookmarks.
// - The last revision advances with every event and bookmark. Any end of the
//   watch (server restart, dropped connection, timeout) resumes from it,
//   without listing. On 410 Expired (or a server that stays behind the
//   revision: 504 three times) it relists and turns the difference between
//   cache and list into onAdd/onUpdate/onDelete, deletions it missed included.
//   A name deleted and made again meanwhile (another uid) is onDelete of the
//   old object then onAdd of the new one, never an onUpdate between two
//   objects (client-go's informer makes it an update; a handler comparing
//   generations would then skip the new object).
// - Failures wait a capped exponential backoff with jitter on the injected
//   clock, reset only after a watch stayed healthy for `healthyMs`, so a server
//   that is down or answers garbage is never retried in a busy loop.
// - Handlers run synchronously, in revision order; one that throws is reported
//   to `onError` and does not stop the informer.
// - `run(signal)` returns after `signal` aborts, once the state file is flushed.

import { systemClock, type Clock } from "../clock.ts";
import { ExpiredError, NotFoundError, TimeoutError } from "../errors.ts";
import { Backoff, sleep, type BackoffOptions } from "./backoff.ts";
import { keyOf, ObjectCache, type CacheReader } from "./cache.ts";
import type { ApiObject, ListOptions, ListResult, TypeRef, Watch, WatchEvent, WatchOptions } from "./client.ts";
import { TypeNotServedError } from "./error-report.ts";
import { StateFile } from "./state-dir.ts";

/** What an informer tells about changes; keys are `namespace/name`. */
export interface InformerHandlers<T extends ApiObject = ApiObject> {
  onAdd?(object: T): void;
  onUpdate?(old: T, object: T): void;
  /** For deletions seen in the watch and for objects missing from a relist. */
  onDelete?(object: T): void;
}

/**
 * What an informer needs of a client, as client-go's ListerWatcher: pages of
 * a list at a revision, and a watch from a revision. SetpointClient is one;
 * a test can hand in a fake.
 */
export interface ListerWatcher {
  list<T extends ApiObject = ApiObject>(ref: TypeRef, options?: ListOptions): Promise<ListResult<T>>;
  watch(ref: TypeRef, options: WatchOptions, onEvent: (event: WatchEvent) => void): Watch;
}

export interface InformerOptions {
  /** Where the informer lists and watches: a SetpointClient, or anything with its list and watch. */
  client: ListerWatcher;
  /** The type to follow; with `namespace`, only that namespace. */
  type: TypeRef;
  labelSelector?: string;
  fieldSelector?: string;
  /** Watch transport. Default "websocket". */
  transport?: "websocket" | "grpc";
  /** Directory for warm-restart state; none by default. */
  stateDir?: string;
  /** Least time between two state saves. Default 5000 ms. */
  persistIntervalMs?: number;
  /** Items per list page. Default 500. */
  pageSize?: number;
  /** Reconnect backoff. Default 250 ms doubling to 15 s, 50% jitter. */
  backoff?: BackoffOptions;
  /** A watch that lived this long with valid messages resets the backoff. Default 1000 ms. */
  healthyMs?: number;
  /** Drop a watch that receives nothing (not even a bookmark) for this long. Default 30000 ms. */
  idleTimeoutMs?: number;
  clock?: Clock;
  /** Told of every failure before the retry (and of handler errors). Default: ignore. */
  onError?: (err: unknown) => void;
  /** Told when the server answers: each list that succeeds, and each watch's first message. Default: ignore. */
  onConnected?: () => void;
}

/** Counts of what an informer did, for tests and metrics. */
export interface InformerStats {
  /** Full lists (each may be several pages). */
  lists: number;
  /** Watches opened. */
  watches: number;
  /** Relists caused by 410 Expired. */
  expired: number;
  /** Starts from the state directory. */
  restores: number;
}

/** Lists and watches one type into a cache. */
export class Informer<T extends ApiObject = ApiObject> {
  readonly #o: InformerOptions;
  readonly #clock: Clock;
  readonly #cache = new ObjectCache<T>();
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #state: StateFile | undefined;
  /** Revision the cache reflects; 0 until the first list or restore, and again when a relist is due. */
  #revision = 0;
  #synced = false;
  #onSynced: Array<() => void> = [];
  readonly stats: InformerStats = { lists: 0, watches: 0, expired: 0, restores: 0 };

  constructor(options: InformerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    if (options.stateDir) {
      const t = options.type;
      const identity = [t.plural, t.group, t.version, t.namespace ?? "", options.labelSelector ?? "", options.fieldSelector ?? ""].join("_");
      this.#state = new StateFile(options.stateDir, {
        snapshot: () => ({ revision: this.#revision, objects: this.#cache.list() }),
        identity,
        intervalMs: options.persistIntervalMs,
        clock: this.#clock,
        onError: options.onError,
      });
    }
  }

  /** The cache; read-only for everyone but the informer. */
  get cache(): CacheReader<T> {
    return this.#cache;
  }

  /** The last revision seen (0 before the first list or restore). */
  get revision(): number {
    return this.#revision;
  }

  /** Adds handlers; add them before `run`. */
  addHandlers(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  /** Whether the cache has been filled once (by a list or a restore). */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once the cache has been filled once, or when `signal` aborts (then false). */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#onSynced.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      });
    });
  }

  /** Keeps the cache in step until `signal` aborts; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.#o.backoff);
    const onError = this.#o.onError ?? (() => {});
    const saved = this.#state?.load();
    if (saved) {
      this.stats.restores++;
      this.#revision = saved.revision;
      for (const object of saved.objects) this.#apply({ type: "ADDED", object, revision: saved.revision } as WatchEvent<T>);
      this.#markSynced();
    }
    let tooLarge = 0;
    while (!signal.aborted) {
      try {
        if (this.#revision === 0) await this.#list(signal);
        if (await this.#watch(signal)) backoff.reset();
        tooLarge = 0;
      } catch (caught) {
        if (signal.aborted) break;
        let err = caught;
        if (err instanceof TimeoutError && ++tooLarge >= 3)
          err = new ExpiredError(`informer: the server stays behind revision ${this.#revision}`, { cause: err });
        // A collection that is not there: its type is not served (a list or watch never 404s for a missing object).
        if (err instanceof NotFoundError && !(err instanceof TypeNotServedError)) err = new TypeNotServedError(this.#o.type, { cause: err });
        if (err instanceof ExpiredError) {
          this.stats.expired++;
          this.#revision = 0;
          tooLarge = 0;
        }
        onError(err);
      }
      await sleep(backoff.next(), { clock: this.#clock, signal });
    }
    await this.#state?.flush().catch(onError);
  }

  /** Lists every page and reconciles the cache with the result. */
  async #list(signal: AbortSignal): Promise<void> {
    const { client, type, labelSelector, fieldSelector } = this.#o;
    const limit = this.#o.pageSize ?? 500;
    const items = new Map<string, T>();
    let revision = 0;
    let cont = "";
    this.stats.lists++;
    do {
      const page = await client.list<T>(type, { labelSelector, fieldSelector, limit, continue: cont, signal });
      revision ||= page.revision;
      for (const item of page.items) items.set(keyOf(item), item);
      cont = page.continue;
    } while (cont !== "");
    for (const [key, object] of items) {
      const old = this.#cache.get(key);
      if (old?.metadata.resourceVersion !== object.metadata.resourceVersion) this.#apply({ type: old ? "MODIFIED" : "ADDED", object, revision });
    }
    for (const key of [...this.#cache.keys()]) {
      if (!items.has(key)) this.#apply({ type: "DELETED", object: this.#cache.get(key)!, revision });
    }
    this.#revision = revision;
    this.#state?.markDirty();
    this.#markSynced();
    this.#o.onConnected?.();
  }

  /** Watches from the last revision until the stream ends; true if it was healthy for a while. */
  async #watch(signal: AbortSignal): Promise<boolean> {
    const started = this.#clock.now();
    let valid = false;
    this.stats.watches++;
    const watch = this.#o.client.watch(
      this.#o.type,
      {
        resourceVersion: String(this.#revision),
        labelSelector: this.#o.labelSelector,
        fieldSelector: this.#o.fieldSelector,
        allowBookmarks: true,
        transport: this.#o.transport,
        idleTimeoutMs: this.#o.idleTimeoutMs,
        signal,
      },
      (event) => {
        if (!valid) this.#o.onConnected?.();
        valid = true;
        if (event.revision <= this.#revision) return; // a bookmark we are past, or a replay
        if (event.type !== "BOOKMARK") this.#apply(event as WatchEvent<T>);
        this.#revision = event.revision;
        this.#state?.markDirty();
      },
    );
    await watch.done;
    return valid && this.#clock.now() - started >= (this.#o.healthyMs ?? 1000);
  }

  /** Applies one change to the cache and tells the handlers. */
  #apply(event: WatchEvent<T>): void {
    const key = keyOf(event.object);
    if (event.type === "DELETED") {
      const old = this.#cache.delete(key);
      if (old) this.#notify((h) => h.onDelete?.(event.object));
      return;
    }
    const cached = this.#cache.get(key);
    const uid = event.object.metadata.uid;
    if (cached?.metadata.uid && uid && cached.metadata.uid !== uid) {
      // The name was deleted and made again unseen (a relist after 410): the old object's delete, then the new one's add.
      this.#cache.delete(key);
      this.#notify((h) => h.onDelete?.(cached));
    }
    const old = this.#cache.set(event.object);
    this.#notify((h) => (old ? h.onUpdate?.(old, event.object) : h.onAdd?.(event.object)));
  }

  #notify(call: (h: InformerHandlers<T>) => void): void {
    for (const h of this.#handlers) {
      try {
        call(h);
      } catch (err) {
        this.#o.onError?.(err);
      }
    }
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const resolve of this.#onSynced.splice(0)) resolve();
  }
}
