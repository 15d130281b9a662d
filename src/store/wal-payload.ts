// A change record as the write-ahead log's payload (src/store/wal.ts keeps
// the payloads opaque; the LMDB store writes and replays them). Layout: a
// string count (byte), the commit time m (float64 LE), then t, k0, k1, k2, o,
// each a uint32 LE byte count and its UTF-8 bytes. Not the `log` database's
// layout (src/store/log-codec.ts): the previous state is left out.

import type { LogRecord } from "./log-codec.ts";
import type { ChangeType } from "./types.ts";

/**
 * A log record as write-ahead log payload: a string count, m, then
 * length-prefixed UTF-8 strings t, k0, k1, k2, o. The previous state (p) is
 * left out: replay finds it in LMDB, which holds every revision before the
 * record's when the record is applied.
 */
export function encodeWalPayload(r: LogRecord): Buffer {
  const strings = [r.t, r.k[0], r.k[1], r.k[2], r.o];
  let size = 1 + 8;
  for (const x of strings) size += 4 + Buffer.byteLength(x);
  const buf = Buffer.allocUnsafe(size);
  buf[0] = strings.length;
  buf.writeDoubleLE(r.m, 1);
  let at = 9;
  for (const x of strings) {
    const n = buf.write(x, at + 4);
    buf.writeUInt32LE(n, at);
    at += 4 + n;
  }
  return buf;
}

/** Reads a payload written by encodeWalPayload (`p` is not in it). */
export function decodeWalPayload(buf: Buffer): LogRecord {
  const count = buf[0]!;
  const m = buf.readDoubleLE(1);
  const strings: string[] = [];
  let at = 9;
  for (let i = 0; i < count; i++) {
    const n = buf.readUInt32LE(at);
    strings.push(buf.toString("utf8", at + 4, at + 4 + n));
    at += 4 + n;
  }
  const [t, k0, k1, k2, o, p] = strings;
  const r: LogRecord = { t: t as ChangeType, k: [k0!, k1!, k2!], o: o!, m };
  if (p !== undefined) r.p = p;
  return r;
}
