// The LMDB store's on-disk key format: how an object's (type, namespace,
// name) becomes a key of the objects database, the key ranges a list
// reads, and the format version kept in `meta` with the migration from
// older formats.
//
// Format 4 (this one): format 3, and the change log's new records are in a
// binary layout (src/store/log-codec.ts) instead of msgpack. Records from
// before stay msgpack and are read as such (their first byte tells), so a
// format-3 directory needs no rewrite and is marked format 4 when opened; a
// release before format 4 must not open it afterwards: it cannot read the
// binary records.
//
// Format 3: format 2, and a DELETED record of the change log may
// leave its object out (its previous state but for the resourceVersion, rebuilt
// on reading: src/store/lmdb.ts). A format-2 directory needs no rewrite (its
// records are all whole) and is marked format 3 when opened; a release before
// format 3 must not open it afterwards: it would read those deletions' objects
// as empty.
//
// Format 2: objects live in the "objects2" database under the
// lmdb-js array key [type, namespace, name]. lmdb-js (ordered-binary) writes it as the three strings' UTF-8
// bytes joined by a 0x00 byte, so keys sort element by element (type, then
// namespace, then name: "a" < "a-b" in every position) and round-trip at
// every length. Names, namespaces and type names are DNS-1123 names
// (printable ASCII), so U+FFFF sorts after every one of them and closes a
// range.
//
// Format 1 (releases before it, no "format" in meta): objects lived in the
// "objects" database under the string key "type\0namespace\0name". lmdb-js encodes such a string one way below 64
// characters (control characters escaped) and another way from 64 on (raw,
// which is the array encoding), so ranges skipped every long key. Opening a
// format-1 directory moves every object to its format-2 key in one write
// transaction and records format 2; objects, revisions (entry versions), the
// change log and the rest of meta are untouched. A release before format 2
// must not open the directory afterwards: it would find no objects.
//
// The other databases need no change: `log` is keyed by revision numbers and
// `meta` by short printable strings, which lmdb-js encodes one way at every
// length.

import type { Database, RootDatabase } from "lmdb";
import type { ObjectKey } from "./types.ts";

/** The format this code reads and writes. */
export const FORMAT = 4;

/** An `objects` key: [type, namespace, name]. */
export type KeyTuple = [type: string, namespace: string, name: string];

/** Closes a range: sorts after every DNS-1123 string. */
const END = "\uffff";

/** The `objects` key of `key`. */
export function encodeKey(key: ObjectKey): KeyTuple {
  return [key.type, key.namespace, key.name];
}

/** The key range holding exactly the objects of `type`, or of `type` in `namespace` ("" for cluster-scoped). */
export function keyRange(type: string, namespace?: string): { start: KeyTuple | [string] | [string, string]; end: [string, string] | KeyTuple } {
  if (namespace === undefined) return { start: [type], end: [type, END] };
  return { start: [type, namespace], end: [type, namespace, END] };
}

/** The database holding objects in this format (format 1 used "objects"). */
export const OBJECTS_DB = "objects2";

/**
 * Brings the directory's format to FORMAT, in one write transaction:
 * a fresh directory gets FORMAT recorded; a format-2 or 3 one is only marked; a
 * format-1 one has every object
 * copied from the "objects" database to OBJECTS_DB under its format-2 key
 * (value and version, i.e. revision, unchanged), then "objects" emptied.
 * Throws, naming the directory, for a format this code does not know
 * (written by a newer release) or a key it cannot read; a throw rolls the
 * whole rewrite back. Returns how many objects it rewrote.
 */
export function ensureFormat(root: RootDatabase, dbs: { objects: Database<string, KeyTuple>; meta: Database<number, string> }, path: string): number {
  const { objects, meta } = dbs;
  if (meta.get("format") === FORMAT) return 0;
  return root.transactionSync(() => {
    const stored = meta.get("format");
    if (stored === FORMAT) return 0;
    if (stored === 2 || stored === 3) {
      meta.putSync("format", FORMAT);
      return 0;
    }
    if (stored !== undefined) {
      throw new RangeError(
        `store: data directory ${path} has key format ${String(stored)}; this release reads format ${FORMAT} (written by a newer Setpoint?)`,
      );
    }
    // Format 1, or a fresh directory (then "objects" is empty). Reading one
    // database while writing another keeps the cursor off changed keys; one
    // handle per database (lmdb-js shares key encoders between handles of
    // one database, so a second, binary-keyed handle misreads keys).
    const old: Database<string, KeyTuple | string> = root.openDB({ name: "objects", encoding: "string", useVersions: true });
    let migrated = 0;
    for (const { key, value, version } of old.getRange({ versions: true })) {
      objects.putSync(decodeFormat1(key, path), value, version ?? 0);
      migrated++;
    }
    old.clearSync();
    meta.putSync("format", FORMAT);
    return migrated;
  });
}

/**
 * A format-1 key as lmdb-js decodes it: a string "type\0namespace\0name" when
 * it was under 64 characters, else the array [type, namespace, name] (with
 * null for an empty namespace).
 */
function decodeFormat1(raw: unknown, path: string): KeyTuple {
  const parts = typeof raw === "string" ? raw.split("\u0000") : Array.isArray(raw) ? raw.map((p: unknown) => (p === null ? "" : p)) : [];
  if (parts.length !== 3 || !parts.every((p): p is string => typeof p === "string") || parts[0] === "" || parts[2] === "") {
    throw new RangeError(`store: data directory ${path}: cannot read the format-1 object key ${JSON.stringify(raw)}`);
  }
  return [parts[0]!, parts[1]!, parts[2]!];
}
