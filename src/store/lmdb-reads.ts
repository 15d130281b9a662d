// The LMDB store's reads: an object, its revision, a list page (at the
// newest revision, or at an older one by undoing the newer changes from the
// change log), and the changes after a revision. They read the current read
// snapshot (src/store/lmdb-snapshots.ts says which commit it holds); none
// writes. Lists are in key order (namespace, then name) and pages resume
// after the last key returned.

import { getLastVersion, type Database } from "lmdb";
import { ExpiredError } from "../errors.ts";
import { encodeKey, keyRange, type KeyTuple } from "./lmdb-format.ts";
import { fromStoredRecord, recordToChange, type LogRecord } from "./log-codec.ts";
import type { Change, ListOptions, ListResult, ObjectKey, StoredObject } from "./types.ts";

/** LMDB's largest key (lmdb-js's default maxKeySize for 4 KiB pages). */
const MAX_KEY_BYTES = 1978;

/** At least the bytes of `key` as an `objects` key: its parts in UTF-8. */
function keyBytes(key: ObjectKey): number {
  return Buffer.byteLength(key.type) + Buffer.byteLength(key.namespace) + Buffer.byteLength(key.name);
}

/** Orders by namespace, then name (the `objects` key order within a type). */
function compareNsName(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name === b.name) return 0;
  return a.name < b.name ? -1 : 1;
}

/** What the reads need of the store. */
export interface LmdbReadSources {
  objects: Database<string, KeyTuple>;
  log: Database<LogRecord, number>;
  /** The newest revision. */
  head(): number;
  /** The oldest revision still listable and watchable. */
  compacted(): number;
  /** The head while no commit has come since the last fresh snapshot (src/store/lmdb-snapshots.ts), else undefined. */
  quietHead(): number | undefined;
}

/** The store's reads. */
export interface LmdbReads {
  get(key: ObjectKey): StoredObject | undefined;
  revisionOf(key: ObjectKey): number | undefined;
  list(opts: ListOptions): ListResult;
  changes(after: number, limit: number): Change[];
  /** This process committed a batch with these changes: the watch hub reads them right after, here without decoding them. */
  committed(changes: Change[]): void;
}

/** The reads of the store whose databases `sources` holds. */
export function lmdbReads(sources: LmdbReadSources): LmdbReads {
  const { objects, log, head, compacted, quietHead } = sources;
  /** The changes of this process's latest committed batch. */
  let latest: Change[] = [];

  function assertRetained(revision: number, what: string): void {
    const c = compacted();
    if (revision < c) {
      throw new ExpiredError(`too old resource version: ${revision} (${c})`, {
        cause: new RangeError(`store: ${what} revision ${revision} is compacted (oldest ${c})`),
      });
    }
  }

  function changes(after: number, limit: number): Change[] {
    assertRetained(after, "changes after");
    let out: Change[] = [];
    if (latest[0]?.revision === after + 1 && latest.length <= limit) {
      out = latest.slice();
      after = latest[latest.length - 1]!.revision;
      limit -= out.length;
    }
    // Whatever else is newer (another process's commits) comes from the log.
    if (limit <= 0 || after >= (quietHead() ?? Infinity)) return out;
    for (const { key, value } of log.getRange({ start: after + 1, limit })) {
      out.push(recordToChange(key, fromStoredRecord(value, key)));
    }
    return out;
  }

  function list(opts: ListOptions): ListResult {
    const current = head();
    const revision = opts.revision ?? current;
    if (revision > current) throw new RangeError(`store: cannot list at revision ${revision}: newest is ${current}`);
    const after = opts.after;
    const range = keyRange(opts.type, opts.namespace);
    // `after` is exclusive: the range starts at it and skips it if present.
    const start = after ? encodeKey({ type: opts.type, ...after }) : range.start;
    const end = range.end;

    // State as of `revision`: undo every change after it. The first change
    // after `revision` to each key tells what the key held at `revision`.
    // Keyed by namespace + "\0" + name (in memory only).
    let overrides: Map<string, { namespace: string; name: string; json: string | null }> | undefined;
    if (revision < current) {
      assertRetained(revision, "list at");
      overrides = new Map();
      for (const { value } of log.getRange({ start: revision + 1 })) {
        if (value.k[0] !== opts.type) continue;
        if (opts.namespace !== undefined && value.k[1] !== opts.namespace) continue;
        const k = value.k[1] + "\u0000" + value.k[2];
        if (overrides.has(k)) continue;
        overrides.set(k, { namespace: value.k[1], name: value.k[2], json: value.t === "ADDED" ? null : (value.p ?? null) });
      }
    }
    const extra: Array<{ namespace: string; name: string; json: string }> = [];
    if (overrides) {
      for (const o of overrides.values()) {
        if (o.json !== null && (!after || compareNsName(o, after) > 0)) extra.push({ namespace: o.namespace, name: o.name, json: o.json });
      }
      extra.sort(compareNsName);
    }

    const items: string[] = [];
    const limit = opts.limit ?? Infinity;
    let lastNamespace: string | undefined;
    let lastName = "";
    let more = false;
    let ei = 0;
    const take = (namespace: string, name: string, json: string): boolean => {
      if (opts.filter && !opts.filter(json, namespace, name)) return true;
      if (items.length >= limit) {
        more = true;
        return false;
      }
      items.push(json);
      lastNamespace = namespace;
      lastName = name;
      return true;
    };
    outer: for (const { key, value } of objects.getRange({ start, end })) {
      const namespace = key[1];
      const name = key[2];
      if (after && name === after.name && namespace === after.namespace) continue;
      if (overrides) {
        for (let e = extra[ei]; e && (e.namespace < namespace || (e.namespace === namespace && e.name < name)); e = extra[ei]) {
          ei++;
          if (!take(e.namespace, e.name, e.json)) break outer;
        }
        if (overrides.has(namespace + "\u0000" + name)) continue; // served from `extra` (or absent at `revision`)
      }
      if (!take(namespace, name, value)) break;
    }
    while (!more && ei < extra.length) {
      const e = extra[ei++]!;
      if (!take(e.namespace, e.name, e.json)) break;
    }
    const result: ListResult = { items, revision };
    if (more && lastNamespace !== undefined) {
      const next = { namespace: lastNamespace, name: lastName };
      result.next = next;
      if (opts.countRemaining !== undefined && !opts.filter) result.remaining = countAfter(opts.type, next, end, overrides, opts.countRemaining);
    }
    return result;
  }

  /**
   * The items of a list of `type` after `last` (exclusive) up to `end`, at the revision
   * `overrides` undo the newer changes to: the stored keys after it (counted
   * by LMDB without reading values), less those absent at that revision,
   * plus those it had and are gone since. Undefined past `max` (lmdb-js's
   * getKeysCount has no bound: it would count them all).
   */
  function countAfter(
    type: string,
    last: { namespace: string; name: string },
    end: ReturnType<typeof keyRange>["end"],
    overrides: Map<string, { namespace: string; name: string; json: string | null }> | undefined,
    max: number,
  ): number | undefined {
    const from = encodeKey({ type, ...last });
    // What the revision undoes: keys stored now but not then (at most `undone`), items then but gone since.
    let adjust = 0;
    let undone = 0;
    for (const o of overrides?.values() ?? []) {
      if (compareNsName(o, last) <= 0) continue;
      if (objects.doesExist(encodeKey({ type, namespace: o.namespace, name: o.name }))) {
        adjust--;
        undone++;
      }
      if (o.json !== null) adjust++;
    }
    // Past `max + undone` stored keys more than `max` items follow. `start` is
    // inclusive: read one key more, and one to tell that the bound is passed.
    let stored = 0;
    for (const _ of objects.getKeys({ start: from, end, limit: max + undone + 2 })) stored++;
    if (objects.doesExist(from)) stored--;
    if (stored > max + undone) return undefined;
    const count = stored + adjust;
    return count > max ? undefined : count;
  }

  /**
   * `read` of the key, or undefined for a key longer than LMDB takes (a lookup
   * by a caller's 10,000-character name): it names no object, since none could
   * be stored.
   */
  function lookup<T>(key: ObjectKey, read: (encoded: KeyTuple) => T): T | undefined {
    try {
      return read(encodeKey(key));
    } catch (err) {
      if (keyBytes(key) > MAX_KEY_BYTES) return undefined;
      throw err;
    }
  }
  const readEntry = (encoded: KeyTuple) => objects.getEntry(encoded);
  // The raw bytes (not decoded into a string): the version comes with them.
  const readBinary = (encoded: KeyTuple) => objects.getBinaryFast(encoded);

  function get(key: ObjectKey): StoredObject | undefined {
    const entry = lookup(key, readEntry);
    if (!entry) return undefined;
    return { json: entry.value, revision: entry.version ?? 0 };
  }

  function revisionOf(key: ObjectKey): number | undefined {
    return lookup(key, readBinary) === undefined ? undefined : (getLastVersion() ?? 0);
  }

  return {
    get,
    revisionOf,
    list,
    changes,
    committed(changes) {
      latest = changes;
    },
  };
}
