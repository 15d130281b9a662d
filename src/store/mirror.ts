// An in-memory copy of a revisioned store, fed one committed change at a time:
// the objects as of `head`, and the change log from `compacted` on. The etcd
// backend keeps one per server process, fed by its single etcd watch (as
// kube-apiserver's watch cache is), so that reads, lists at past revisions
// and the change stream are answered from memory, synchronously.
//
// Invariants: `log` is ascending by revision, every entry is > `compacted`
// and <= `head`; `objects` is the state at `head`; a list at revision r
// (compacted <= r <= head) is `objects` with the log entries after r undone.

import { ExpiredError } from "../errors.ts";
import type { Change, ListOptions, ListResult, ObjectKey, StoredObject } from "./types.ts";

/** (namespace, name) as one string that sorts in (namespace, name) order. */
function nsName(namespace: string, name: string): string {
  return namespace + "\u0000" + name;
}

function splitNsName(k: string): { namespace: string; name: string } {
  const i = k.indexOf("\u0000");
  return { namespace: k.slice(0, i), name: k.slice(i + 1) };
}

interface TypeState {
  objects: Map<string, StoredObject>;
  /** Keys of `objects`, sorted; undefined when a key was added or removed since. */
  sorted: string[] | undefined;
}

export class Mirror {
  #types = new Map<string, TypeState>();
  #log: Change[] = [];
  #head: number;
  #compacted: number;

  /** A mirror holding the state at `revision`, with no log yet: it can serve revisions >= `revision`. */
  constructor(revision: number) {
    this.#head = revision;
    this.#compacted = revision;
  }

  head(): number {
    return this.#head;
  }

  compacted(): number {
    return this.#compacted;
  }

  /** Loads an object as it is at the mirror's starting revision (before any `apply`). */
  load(key: ObjectKey, object: StoredObject): void {
    this.#type(key.type, true)!.objects.set(nsName(key.namespace, key.name), object);
    this.#type(key.type, true)!.sorted = undefined;
  }

  /** Applies one committed change; its revision must be above the head. */
  apply(change: Change): void {
    if (change.revision <= this.#head) {
      throw new RangeError(`mirror: change at revision ${change.revision} is not after head ${this.#head}`);
    }
    const t = this.#type(change.key.type, true)!;
    const k = nsName(change.key.namespace, change.key.name);
    if (change.type === "DELETED") {
      t.objects.delete(k);
      t.sorted = undefined;
    } else {
      if (!t.objects.has(k)) t.sorted = undefined;
      t.objects.set(k, { json: change.object, revision: change.revision });
    }
    this.#log.push(change);
    this.#head = change.revision;
  }

  /** Moves the head past revisions that carry no change of this store. */
  advance(revision: number): void {
    if (revision > this.#head) this.#head = revision;
  }

  /** Drops log entries at or below `revision`; later lists and changes before it are Expired. */
  compact(revision: number): void {
    if (revision <= this.#compacted) return;
    this.#compacted = Math.min(revision, this.#head);
    let drop = 0;
    while (drop < this.#log.length && this.#log[drop]!.revision <= this.#compacted) drop++;
    if (drop > 0) this.#log.splice(0, drop);
  }

  /** Changes with revision <= `revision`, oldest first (for compaction by age). */
  logUpTo(revision: number): Change[] {
    return this.#log.slice(0, this.#firstAfter(revision));
  }

  /** Approximate bytes held: the objects' and the log's JSON. */
  bytes(): number {
    let total = 0;
    for (const t of this.#types.values()) for (const o of t.objects.values()) total += o.json.length;
    for (const c of this.#log) total += c.object.length + (c.previous?.length ?? 0);
    return total;
  }

  get(key: ObjectKey): StoredObject | undefined {
    return this.#types.get(key.type)?.objects.get(nsName(key.namespace, key.name));
  }

  changes(after: number, limit: number): Change[] {
    this.#assertRetained(after, "changes after");
    const i = this.#firstAfter(after);
    return this.#log.slice(i, i + limit);
  }

  list(opts: ListOptions): ListResult {
    const revision = opts.revision ?? this.#head;
    if (revision > this.#head) throw new RangeError(`store: cannot list at revision ${revision}: newest is ${this.#head}`);
    if (revision < this.#head) this.#assertRetained(revision, "list at");
    const t = this.#type(opts.type, false);
    const current = t?.objects ?? new Map<string, StoredObject>();
    // What each key changed since `revision` held at `revision` (null: absent).
    const overrides = new Map<string, string | null>();
    for (let i = this.#firstAfter(revision); i < this.#log.length; i++) {
      const c = this.#log[i]!;
      if (c.key.type !== opts.type) continue;
      const k = nsName(c.key.namespace, c.key.name);
      if (!overrides.has(k)) overrides.set(k, c.type === "ADDED" ? null : (c.previous ?? null));
    }
    let keys: string[];
    if (overrides.size === 0) {
      if (t && !t.sorted) t.sorted = [...t.objects.keys()].sort();
      keys = t?.sorted ?? [];
    } else {
      const all = new Set(current.keys());
      for (const [k, v] of overrides) if (v !== null) all.add(k);
      keys = [...all].sort();
    }
    let start = 0;
    if (opts.namespace !== undefined || opts.after) {
      const from = opts.after
        ? nsName(opts.after.namespace, opts.after.name) + "\u0000" // exclusive: past the key and nothing else
        : nsName(opts.namespace!, "");
      start = lowerBound(keys, opts.namespace !== undefined && opts.after && opts.after.namespace < opts.namespace ? nsName(opts.namespace, "") : from);
    }
    const items: string[] = [];
    const limit = opts.limit ?? Infinity;
    let last: string | undefined;
    let more = false;
    /** Items past the limit, counted when `countRemaining` asks. */
    let remaining = 0;
    for (let i = start; i < keys.length; i++) {
      const k = keys[i]!;
      const { namespace, name } = splitNsName(k);
      if (opts.namespace !== undefined && namespace !== opts.namespace) {
        if (namespace > opts.namespace) break;
        continue;
      }
      const json = overrides.has(k) ? overrides.get(k)! : (current.get(k)?.json ?? null);
      if (json === null) continue;
      if (opts.filter && !opts.filter(json, namespace, name)) continue;
      if (items.length >= limit) {
        more = true;
        if (opts.countRemaining === undefined || opts.filter) break;
        if (overrides.size === 0) {
          // Every key from here to the scope's end is an item: count them by their positions.
          const end = opts.namespace === undefined ? keys.length : lowerBound(keys, opts.namespace + "\u0001");
          remaining = end - i;
          break;
        }
        // At a past revision each key is looked at: up to the bound.
        if (++remaining > opts.countRemaining) break;
        continue;
      }
      items.push(json);
      last = k;
    }
    const result: ListResult = { items, revision };
    if (more && last !== undefined) {
      result.next = splitNsName(last);
      if (opts.countRemaining !== undefined && !opts.filter && remaining <= opts.countRemaining) result.remaining = remaining;
    }
    return result;
  }

  #type(type: string, create: boolean): TypeState | undefined {
    let t = this.#types.get(type);
    if (!t && create) this.#types.set(type, (t = { objects: new Map(), sorted: undefined }));
    return t;
  }

  /** Index of the first log entry with revision > `revision`. */
  #firstAfter(revision: number): number {
    let lo = 0;
    let hi = this.#log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#log[mid]!.revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #assertRetained(revision: number, what: string): void {
    if (revision < this.#compacted) {
      throw new ExpiredError(`too old resource version: ${revision} (${this.#compacted})`, {
        cause: new RangeError(`store: ${what} revision ${revision} is compacted (oldest ${this.#compacted})`),
      });
    }
  }
}

function lowerBound(keys: string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
