// How the LMDB store's change log (the `log` database) holds a record: since
// format 4 a fixed binary layout, read and written by hand; before, msgpack
// (lmdb-js's default value encoding), which is still read.
//
// Layout (all numbers little-endian):
//   0      0xc1: a byte msgpack never uses, so no msgpack value starts with it
//   1      the layout's version: 1
//   2      the change type (0 ADDED, 1 MODIFIED, 2 DELETED), | 0x10 with p, | 0x20 with r
//   3      m: the commit time in ms (float64)
//   11     r, if present (float64)
//   then   k[0], k[1], k[2], o, p if present: each a uint32 byte count and its UTF-8 bytes
//
// Why not msgpack: lmdb-js shares no record structures between values, so
// each msgpack record carried its key names and structure, and reading one
// built the structure's reader again. A record costs about a third less to
// encode and to read back (bench/log-codec.ts); with 64 writers the store's
// CPU per durable-less write went from about 23.4 to 21.6 µs.

import { Unpackr } from "msgpackr";
import type { Change, ChangeType } from "./types.ts";

/** A change as the log stores it. */
export interface LogRecord {
  t: ChangeType;
  k: [string, string, string];
  /** The object after the change ("" as stored when `r` is set). */
  o: string;
  /** The object before it (none for ADDED). */
  p?: string;
  /** The commit time, ms. */
  m: number;
  /** Only as stored, on a DELETED record: `o` is `p` with this resourceVersion (the previous revision) set to the record's. */
  r?: number;
}

/** First byte of a record in the binary layout (unused by msgpack). */
export const LOG_RECORD_MARK = 0xc1;
/** The binary layout's version (second byte). */
const LAYOUT = 1;
const TYPES: readonly ChangeType[] = ["ADDED", "MODIFIED", "DELETED"];
const TYPE_CODES: Record<ChangeType, number> = { ADDED: 0, MODIFIED: 1, DELETED: 2 };
const HAS_P = 0x10;
const HAS_R = 0x20;
/** Bytes before the strings (without r). */
const HEAD_BYTES = 11;

/** `r` in the binary layout, in a Buffer of its own. */
export function encodeLogRecord(r: LogRecord): Buffer {
  const k0 = Buffer.byteLength(r.k[0]);
  const k1 = Buffer.byteLength(r.k[1]);
  const k2 = Buffer.byteLength(r.k[2]);
  const o = Buffer.byteLength(r.o);
  const p = r.p === undefined ? -1 : Buffer.byteLength(r.p);
  const buf = Buffer.allocUnsafe(HEAD_BYTES + (r.r !== undefined ? 8 : 0) + 16 + k0 + k1 + k2 + o + (p < 0 ? 0 : 4 + p));
  encodeInto(buf, r);
  return buf;
}

/** Writes `r` at the start of `buf` (room enough: at most maxBytes(r)); returns its length. */
function encodeInto(buf: Buffer, r: LogRecord): number {
  buf[0] = LOG_RECORD_MARK;
  buf[1] = LAYOUT;
  buf[2] = TYPE_CODES[r.t] | (r.p === undefined ? 0 : HAS_P) | (r.r === undefined ? 0 : HAS_R);
  buf.writeDoubleLE(r.m, 3);
  let at = HEAD_BYTES;
  if (r.r !== undefined) {
    buf.writeDoubleLE(r.r, at);
    at += 8;
  }
  at = putString(buf, at, r.k[0]);
  at = putString(buf, at, r.k[1]);
  at = putString(buf, at, r.k[2]);
  at = putString(buf, at, r.o);
  if (r.p !== undefined) at = putString(buf, at, r.p);
  return at;
}

/** At least the bytes of `r` in the layout: 3 per UTF-16 unit is UTF-8's most. */
function maxBytes(r: LogRecord): number {
  return HEAD_BYTES + 8 + 20 + 3 * (r.k[0].length + r.k[1].length + r.k[2].length + r.o.length + (r.p?.length ?? 0));
}

function putString(buf: Buffer, at: number, s: string): number {
  const n = s.length === 0 ? 0 : buf.write(s, at + 4, "utf8");
  buf.writeUInt32LE(n, at);
  return at + 4 + n;
}

/** Reads bytes[0, end) written by encodeLogRecord; throws a RangeError for anything else (a msgpack record included). */
export function decodeLogRecord(bytes: Uint8Array, end = bytes.length): LogRecord {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (end < HEAD_BYTES || buf[0] !== LOG_RECORD_MARK || buf[1] !== LAYOUT) {
    throw new RangeError(`store: log record: not in the binary layout ${LAYOUT} (starts ${buf.subarray(0, Math.min(end, 2)).toString("hex")})`);
  }
  const flags = buf[2]!;
  const t = TYPES[flags & 0x0f];
  if (t === undefined || (flags & ~(0x0f | HAS_P | HAS_R)) !== 0) throw new RangeError(`store: log record: unknown type byte ${flags}`);
  const m = buf.readDoubleLE(3);
  let at = HEAD_BYTES;
  let r: number | undefined;
  if (flags & HAS_R) {
    if (end < at + 8) throw new RangeError(`store: log record: cut short (${end} bytes)`);
    r = buf.readDoubleLE(at);
    at += 8;
  }
  const count = flags & HAS_P ? 5 : 4;
  const strings: string[] = [];
  for (let i = 0; i < count; i++) {
    if (end < at + 4) throw new RangeError(`store: log record: cut short (${end} bytes)`);
    const n = buf.readUInt32LE(at);
    at += 4;
    if (end < at + n) throw new RangeError(`store: log record: cut short (${end} bytes)`);
    strings.push(n === 0 ? "" : buf.toString("utf8", at, at + n));
    at += n;
  }
  const record: LogRecord = { t, k: [strings[0]!, strings[1]!, strings[2]!], o: strings[3]!, m };
  if (strings.length === 5) record.p = strings[4]!;
  if (r !== undefined) record.r = r;
  return record;
}

/** What lmdb-js calls to turn the `log` database's values into bytes and back (its `encoder` option). */
export interface LogEncoder {
  /**
   * Tells lmdb-js to pass `mode` to encode and to read the value from the
   * returned buffer's `start` to `end` (its protocol with msgpackr).
   */
  readonly copyBuffers: true;
  /** `mode` & RESET_MODE: inside a write transaction, which copies the value at once: the buffer may be reused for the next. */
  encode(record: LogRecord, mode?: number): Buffer & { start?: number; end?: number };
  /** `end`: lmdb-js may pass a shared buffer longer than the value, with the value's length. */
  decode(bytes: Uint8Array, end?: number | object): LogRecord;
}

/** lmdb-js's flag: the value is put inside a write transaction (copied into LMDB before the next put). */
const RESET_MODE = 1024;
/** Records up to this size are encoded into one reused buffer; larger ones into their own. */
const SCRATCH_BYTES = 64 * 1024;

/**
 * The `log` database's encoder: writes the binary layout, reads it and the
 * msgpack records of directories written before format 4 (as lmdb-js wrote
 * them: each with its record structure inline).
 */
export function logEncoder(): LogEncoder {
  const legacy = new Unpackr();
  const scratch: Buffer & { start?: number; end?: number } = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  scratch.start = 0;
  return {
    copyBuffers: true,
    encode(record, mode = 0) {
      if (!(mode & RESET_MODE) || maxBytes(record) > SCRATCH_BYTES) return encodeLogRecord(record);
      scratch.end = encodeInto(scratch, record);
      return scratch;
    },
    decode(bytes, end) {
      const stop = typeof end === "number" ? end : bytes.length;
      if (bytes[0] === LOG_RECORD_MARK) return decodeLogRecord(bytes, stop);
      return legacy.decode(bytes, stop) as LogRecord;
    },
  };
}

/** `json` with its first `"resourceVersion":"from"` set to `to`, or undefined if it has none. */
function withResourceVersion(json: string, from: number, to: number): string | undefined {
  const field = `"resourceVersion":"${from}"`;
  const at = json.indexOf(field);
  return at < 0 ? undefined : `${json.slice(0, at)}"resourceVersion":"${to}"${json.slice(at + field.length)}`;
}

/**
 * A record as the log stores it: a deletion's object is left out when it is
 * its previous state but for the resourceVersion (the usual case), so that a
 * delete on a nearly full disk writes one copy of the object, which fits in
 * the pages the object itself leaves free, instead of two.
 */
export function toStoredRecord(r: LogRecord, revision: number, previousRevision: number | undefined): LogRecord {
  if (r.t !== "DELETED" || r.p === undefined || previousRevision === undefined) return r;
  if (r.o.length !== r.p.length + String(revision).length - String(previousRevision).length) return r;
  return withResourceVersion(r.p, previousRevision, revision) === r.o ? { ...r, o: "", r: previousRevision } : r;
}

/** A record as the log stored it, its object rebuilt if it was left out. */
export function fromStoredRecord(r: LogRecord, revision: number): LogRecord {
  if (r.r === undefined) return r;
  const { r: previousRevision, ...rest } = r;
  return { ...rest, o: withResourceVersion(r.p ?? "", previousRevision, revision) ?? "" };
}

/** The change a record (as read back, its object rebuilt) stands for, at `revision`. */
export function recordToChange(revision: number, r: LogRecord): Change {
  const change: Change = {
    revision,
    type: r.t,
    key: { type: r.k[0], namespace: r.k[1], name: r.k[2] },
    object: r.o,
    time: r.m,
  };
  if (r.p !== undefined) change.previous = r.p;
  return change;
}
