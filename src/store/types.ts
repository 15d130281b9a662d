// The revisioned store's interface: what the watch hub, the API layer and
// both backends (the embedded LMDB store and etcd) agree on. Small on purpose, in the
// spirit of etcd's mvcc ReadView/WriteView: reads, one kind of write, the
// ordered change log, compaction.
//
// Contract:
// - One global revision counter; every successful write (put or delete) of any
//   object gets a larger revision than every write before it. In the embedded
//   backend it grows by exactly one; with etcd, other writers of the cluster
//   may make it grow by more (API.md §9). A write whose decision is "none"
//   writes nothing and takes no revision.
// - `changes(after)` returns committed changes in revision order, none missed
//   and none repeated, whichever process wrote them; `head()` may pass the
//   last change's revision (revisions taken by writes outside this store).
// - `list({revision})` serves the state as of a past revision as long as that
//   revision is not compacted.

/** Where an object lives. `type` is the ResourceType name (`plural.group`); `namespace` is "" for cluster-scoped objects. */
export interface ObjectKey {
  type: string;
  namespace: string;
  name: string;
}

/** An object as stored: its JSON text and the revision of its last write. */
export interface StoredObject {
  json: string;
  revision: number;
}

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/** One committed write, as kept in the change log. */
export interface Change {
  revision: number;
  type: ChangeType;
  key: ObjectKey;
  /** The object after the write; for DELETED its last state, carrying the deletion's resourceVersion. */
  object: string;
  /** The object before the write (undefined for ADDED). */
  previous?: string;
  /** Commit time, milliseconds since the epoch. */
  time: number;
}

/**
 * What a write does, decided inside the write transaction from the current
 * state. `object` is the complete JSON to store (with `metadata.resourceVersion`
 * already set to the revision the decider was given).
 */
export type WriteDecision =
  | { op: "put"; object: string }
  | { op: "delete"; object: string } // only for an object that exists
  | { op: "none" };

/**
 * Decides a write from the current state and the revision the write would get.
 * Throwing (e.g. a ConflictError) aborts the write; nothing is stored.
 */
export type Decider = (current: StoredObject | undefined, revision: number) => WriteDecision;

/** What a write's decision reads besides its own object. */
export interface WriteScope {
  /**
   * A type whose objects the decider reads (through this store's reads) to
   * decide, as a ResourceType's name check reads every ResourceType: the write
   * commits only if none of them was created or changed after the state the
   * decider read, else it decides again on a newer one. So the decision holds
   * against every write of that type committed before it, by any process or
   * replica. Default: none (the decision reads its own object only).
   */
  readsType?: string;
  /**
   * Objects the decider reads (through this store's reads) to decide, as a
   * write of a custom type's object reads its ResourceType (the schema it is
   * validated against): the write commits only if none of them was created,
   * changed or deleted after the state the decider read, else it decides
   * again on a newer one. Cheaper than `readsType` (one key each, no range).
   * Default: none.
   */
  reads?: ObjectKey[];
}

export interface WriteResult {
  /** The revision of this write, or the object's current revision for `none`. */
  revision: number;
  /** The stored JSON (for delete: the last state), or current for `none`; undefined if `none` and absent. */
  object: string | undefined;
  op: WriteDecision["op"];
}

export interface ListOptions {
  /** ResourceType name. */
  type: string;
  /** Limit to one namespace; undefined lists all namespaces. */
  namespace?: string;
  /** Serve the state as of this revision (not compacted, not newer than head()); default: newest. */
  revision?: number;
  /** Resume after this (namespace, name); exclusive. */
  after?: { namespace: string; name: string };
  /** At most this many items; default unlimited. */
  limit?: number;
  /** Keep only items for which this returns true (filtered before `limit` counts). */
  filter?: (json: string, namespace: string, name: string) => boolean;
  /**
   * When `limit` cuts the list, count the items after the page (`remaining`)
   * if there are at most this many; not done with a `filter`. Counting reads
   * the key of every item after the page (LMDB: about 0.2 µs each), so the
   * bound keeps a page's cost from growing with the list. Default: no count.
   */
  countRemaining?: number;
}

export interface ListResult {
  /** Object JSON texts in (namespace, name) order. */
  items: string[];
  /** The revision the list was served at. */
  revision: number;
  /** Where the next page starts, when `limit` cut the list. */
  next?: { namespace: string; name: string };
  /** How many items come after this page (at `revision`), when `countRemaining` asked, `limit` cut the list and at most `countRemaining` follow. */
  remaining?: number;
}

export interface CompactOptions {
  /** Keep at least this many most recent changes. */
  minEvents: number;
  /** Keep at least the changes committed within this many milliseconds. */
  windowMs: number;
  /**
   * Do nothing if any process sharing the store compacted less than this many
   * milliseconds ago, so that periodic compactors of several replicas compact
   * about once per period between them. Default 0 (always compact).
   */
  skipIfCompactedWithinMs?: number;
}

/**
 * The space alarm (etcd's NOSPACE): raised when the store passes its quota or
 * a commit fails because the disk is full; cleared by the store on its own
 * once deletes and compaction have made room again.
 */
export interface SpaceAlarm {
  /** `quota`: used bytes passed the quota; `disk-full`: a commit failed for lack of disk space. */
  kind: "quota" | "disk-full";
  /** What happened and what to do, for a Status message and /readyz. */
  message: string;
  /** When it was raised, milliseconds since the epoch. */
  since: number;
}

/** How much space the store uses, against its quota. */
export interface StoreSpace {
  /** Bytes holding live objects and retained history (space freed by deletes and compaction excluded). */
  usedBytes: number;
  /** The quota; 0 for none. */
  quotaBytes: number;
  /** Set while writes that add data are refused (InsufficientStorageError). */
  alarm?: SpaceAlarm;
}

/** Options of Store.sync. */
export interface SyncOptions {
  /**
   * A `syncMark()` taken when the caller's request arrived. Every write
   * acknowledged before the request is in any sync begun after that mark, so
   * such a sync serves this call: the newest one done (at once, no read of
   * the backing store) or the one in flight. Default: only a sync begun after
   * this call serves it.
   */
  since?: number;
}

/** A revisioned object store with a change log. */
export interface Store {
  /** Newest committed revision (0 for an empty store). */
  head(): number;
  /** Revisions at or above this can be listed at and watched from; older ones are compacted. */
  compacted(): number;
  get(key: ObjectKey): StoredObject | undefined;
  /**
   * The revision of the object at `key` (undefined: none), as `get` would
   * give it, without reading the object. Optional: callers fall back on `get`.
   */
  revisionOf?(key: ObjectKey): number | undefined;
  list(options: ListOptions): ListResult;
  /** Committed changes after `after`, ascending, at most `limit`. Throws ExpiredError if `after` is compacted. */
  changes(after: number, limit: number): Change[];
  /**
   * Atomic read-decide-write of one object; resolves once durable. While the
   * space alarm is raised a `put` is refused with InsufficientStorageError
   * (a `delete` is still tried); a commit that fails rejects, never throws
   * anywhere else.
   */
  write(key: ObjectKey, decide: Decider, scope?: WriteScope): Promise<WriteResult>;
  /** Drops log entries older than both bounds; resolves to the new compacted revision. */
  compact(options: CompactOptions): Promise<number>;
  /** Calls `listener` whenever the head may have advanced (own commits, or another process's seen by polling). */
  onCommit(listener: () => void): () => void;
  /**
   * Resolves once this store serves every write committed anywhere (by any
   * process or replica) before the call, or before `options.since`, to the
   * revision it then serves: a consistent read is `await sync()` then a read.
   * Backends whose reads are always current may omit it. Rejects with
   * ServiceUnavailableError when the backing store cannot answer in time.
   */
  sync?(options?: SyncOptions): Promise<number>;
  /**
   * A mark of this moment for `sync({ since })`, taken when a request arrives
   * (how many syncs have begun). Absent where syncs are not shared.
   */
  syncMark?(): number;
  /** Approximate bytes used on disk. */
  size(): number;
  /** Used bytes, quota and the space alarm. Cheap: safe to call on every request. */
  space(): StoreSpace;
  close(): Promise<void>;
}
