// The write-ahead log in front of the LMDB store: what makes a write durable
// with one fdatasync of an append-only file running beside LMDB's own commit,
// instead of LMDB's two sequential syncs (data pages, then the meta page).
//
// LMDB runs with `noMetaSync`: a commit syncs its data pages but not its meta
// page, so an OS crash or power loss may roll the store back by a suffix of
// its newest commits (never tears it; the next commit's sync also makes the
// previous meta page durable). Each write also appends its change record here,
// inside the LMDB write transaction (so under LMDB's one-writer lock, whichever
// process writes), and is acknowledged once both its LMDB commit and an
// fdatasync of the log after the append are done. Opening the store replays
// the records past LMDB's head (docs/durability.md).
//
// Layout: two segment files, `wal-0` and `wal-1`, grown with zeros a MiB at a
// time ahead of the appends (so an append overwrites allocated blocks and
// fdatasync seldom has file-system metadata to commit); by a smaller step when
// the store says the disk is nearly full, where a MiB would eat the room kept
// for deletes. A segment starts with a header page:
// magic, generation, salt. Records follow back to back:
//   magic u32 | payload length u32 | crc u32 | generation u32 | revision f64 | payload
// The crc covers generation, revision and payload, seeded with the segment's
// random salt, so bytes left over from an older generation or from an object's
// own content never pass for a record. A segment's records have consecutive
// revisions; the newer segment continues the older one.
//
// Where the next record goes ({segment, generation, end}) lives in the LMDB
// meta database, so every process sharing the directory appends at the same
// place, in revision order. When a segment is full the writer rotates into the
// other one: it first fdatasyncs LMDB's data file (making every committed
// write durable in LMDB), then starts a new generation there, overwriting
// records LMDB no longer needs. A record too large for a segment is not
// logged; its write syncs LMDB's data file after the commit instead.
//
// A record whose commit failed (e.g. a full disk) is zeroed before the
// failure is reported, so that it can never be replayed.

import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync, readSync, writeSync, writevSync } from "node:fs";
import { join } from "node:path";
import { randomInt } from "node:crypto";
import { crc32 } from "node:zlib";

const HEADER_BYTES = 4096;
const SEGMENT_MAGIC = Buffer.from("SPWAL\u0000v1", "latin1"); // 8 bytes
const RECORD_MAGIC = 0x5350_5245; // "SPRE"
const RECORD_HEADER_BYTES = 24;
/** Buffers per pwritev (Linux's IOV_MAX). */
const IOV_MAX = 1024;
/** Growth step of a segment file (by default). */
const ALLOCATE_BYTES = 1024 * 1024;

/** Where the next record goes; kept in LMDB's meta database by the store. */
export interface WalCursor {
  /** Segment file index: 0 or 1. */
  segment: number;
  /** Generation of that segment (grows by one at each rotation). */
  generation: number;
  /** Byte offset of the next record in the segment. */
  end: number;
  /**
   * Set when a write went unlogged (LMDB's data file synced instead), and by
   * each open: the next record starts a new generation, since replay stops
   * at a gap in a segment's revisions but starts over at a newer segment
   * that does not follow on (and never reads past the end of the old one).
   */
  gap?: boolean;
}

/** Where one record was written, to sync or withdraw it. */
export interface WalPosition {
  segment: number;
  offset: number;
  /** The record's header as written (to recognise it when withdrawing it). */
  header: Buffer;
  revision: number;
}

/** What `append` did: the cursor past the records, where each went, whether it started a new generation, and by how many bytes it grew the files. */
export interface WalAppend {
  cursor: WalCursor;
  positions: WalPosition[];
  rotated: boolean;
  /** Bytes the segment files grew by (zeros allocated ahead, a new generation's first step): what the append took on the disk. */
  grownBytes: number;
}

/** How `append` may go about it. */
export interface WalAppendOptions {
  /** It may start a new generation in the other segment when the records do not fit (or after a gap). */
  mayRotate: boolean;
  /**
   * How far past the records to grow the segment file with zeros when it
   * must grow. Default 1 MiB; less on a nearly full disk, where a step would
   * take room kept for deletes.
   */
  stepBytes?: number;
}

/** One record read back: its revision and payload, and where it lies. */
export interface WalEntry {
  revision: number;
  payload: Buffer;
  segment: number;
  /** Byte offset just past the record in its segment file. */
  end: number;
}

export interface WalOptions {
  /** Bytes per segment file (two of them). Default 16 MiB. */
  segmentBytes?: number;
  /** LMDB's data file, synced before a rotation drops records. */
  dataFile: string;
}

interface Segment {
  fd: number;
  generation: number;
  salt: number;
  /** Bytes the file is known to hold (allocated, zeros or records). */
  allocated: number;
  /** The latest fdatasync started. */
  running: Promise<void> | undefined;
  /** The next fdatasync, not started yet: every append so far is covered by it. */
  queued: Promise<void> | undefined;
}

/** The two segment files of the log in `dir`. */
export class WriteAheadLog {
  readonly #segmentBytes: number;
  readonly #dataFile: string;
  readonly #segments: Segment[];

  /** Opens (creating and preallocating if needed) the log in `dir`. Safe to call from several processes at once. */
  constructor(dir: string, options: WalOptions) {
    this.#segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    if (this.#segmentBytes < 2 * HEADER_BYTES) throw new RangeError(`wal: segmentBytes must be at least ${2 * HEADER_BYTES}, got ${this.#segmentBytes}`);
    this.#dataFile = options.dataFile;
    this.#segments = [0, 1].map((i) => {
      const fd = openSync(join(dir, `wal-${i}`), "a+");
      closeSync(fd);
      const rw = openSync(join(dir, `wal-${i}`), "r+");
      const s: Segment = { fd: rw, generation: 0, salt: 0, allocated: 0, running: undefined, queued: undefined };
      this.#readHeader(s);
      return s;
    });
  }

  /**
   * The records worth replaying, oldest first, and where the next record goes.
   * Reads the newest segment and the one before it; stops at the first torn,
   * stale or out-of-sequence record. Call inside a write transaction.
   */
  read(): { entries: WalEntry[]; cursor: WalCursor } {
    for (const s of this.#segments) this.#readHeader(s);
    const [a, b] = this.#segments as [Segment, Segment];
    const newest = a.generation >= b.generation ? 0 : 1;
    const n = this.#segments[newest]!;
    const o = this.#segments[1 - newest]!;
    if (n.generation === 0) return { entries: [], cursor: { segment: 0, generation: 0, end: this.#segmentBytes } };
    const older = o.generation === n.generation - 1 ? this.#scan(o, 1 - newest).entries : [];
    const newer = this.#scan(n, newest);
    const entries = [...older];
    for (const e of newer.entries) {
      const last = entries[entries.length - 1];
      if (last && e.revision !== last.revision + 1) {
        if (e.revision <= last.revision) continue;
        entries.length = 0; // the older segment does not lead up to the newer one: keep only the newer
      }
      entries.push(e);
    }
    return { entries, cursor: { segment: newest, generation: n.generation, end: newer.end } };
  }

  /**
   * Appends records with consecutive revisions at `cursor`, in one write:
   * rotating first into the other segment when they do not fit (if
   * `mayRotate`), growing the file by `stepBytes` past them when it must grow. Returns the new cursor and each record's position, or
   * undefined when nothing was logged (larger than a segment, a rotation
   * needed and not allowed, or no room on the disk): the caller must then
   * sync LMDB. Call inside the write transaction that commits the revisions.
   */
  append(cursor: WalCursor, records: ReadonlyArray<{ revision: number; payload: Buffer }>, options: WalAppendOptions): WalAppend | undefined {
    const step = options.stepBytes ?? ALLOCATE_BYTES;
    let size = 0;
    for (const r of records) size += RECORD_HEADER_BYTES + r.payload.length;
    if (records.length === 0 || HEADER_BYTES + size > this.#segmentBytes) return undefined;
    let c = cursor;
    let rotated = false;
    if (c.generation === 0 || c.gap || c.end + size > this.#segmentBytes) {
      if (!options.mayRotate) return undefined;
      rotated = true;
    }
    const s = this.#segments[rotated ? (c.generation === 0 ? 0 : 1 - c.segment) : c.segment]!;
    const positions: WalPosition[] = [];
    let grownBytes = 0;
    try {
      if (rotated) ({ cursor: c, grownBytes } = this.#rotate(c, step));
      else if (s.generation !== c.generation) this.#readHeader(s); // another process rotated
      if (s.generation !== c.generation) throw new Error(`wal: segment ${c.segment} holds generation ${s.generation}, the store expects ${c.generation}`);
      grownBytes += this.#allocate(s, c.end + size, step);
      const buffers: Buffer[] = [];
      let at = c.end;
      for (const r of records) {
        const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
        header.writeUInt32LE(RECORD_MAGIC, 0);
        header.writeUInt32LE(r.payload.length, 4);
        header.writeUInt32LE(c.generation, 12);
        header.writeDoubleLE(r.revision, 16);
        header.writeUInt32LE(crc32(r.payload, crc32(header.subarray(12), s.salt)), 8);
        buffers.push(header, r.payload);
        positions.push({ segment: c.segment, offset: at, header, revision: r.revision });
        at += RECORD_HEADER_BYTES + r.payload.length;
      }
      this.#writeAll(s.fd, buffers, c.end);
    } catch {
      // No room for the log (a full disk) or an I/O error: the caller syncs
      // LMDB instead. Records written here are unmade (their headers zeroed),
      // so that none is replayed after a shorter append at the same place.
      this.#unwrite(s, positions);
      return undefined;
    }
    return { cursor: { segment: c.segment, generation: c.generation, end: c.end + size }, positions, rotated, grownBytes };
  }

  /**
   * Resolves once every record appended to `segment` before the call is on
   * disk. The fdatasync starts at once, or once the segment's running one is
   * done (then every append until it starts shares it).
   */
  sync(segment: number): Promise<void> {
    const s = this.#segments[segment]!;
    if (s.queued) return s.queued;
    if (!s.running) return this.#start(s);
    const queued: Promise<void> = s.running.then(
      () => this.#start(s),
      () => this.#start(s),
    );
    s.queued = queued;
    return queued;
  }

  /** Starts an fdatasync of `s`, covering every append so far. */
  #start(s: Segment): Promise<void> {
    s.queued = undefined;
    const running = this.#fdatasync(s);
    s.running = running;
    const done = () => {
      if (s.running === running) s.running = undefined;
    };
    running.then(done, done);
    return running;
  }

  /**
   * Withdraws records (their commit failed) that are still there, so that
   * they are never replayed: zeroes their headers, then syncs. Call inside a
   * write transaction.
   */
  withdraw(positions: readonly WalPosition[]): void {
    const touched = new Set<Segment>();
    for (const position of positions) {
      const s = this.#segments[position.segment]!;
      const current = Buffer.alloc(RECORD_HEADER_BYTES);
      readSync(s.fd, current, 0, RECORD_HEADER_BYTES, position.offset);
      if (!current.equals(position.header)) continue;
      writeSync(s.fd, Buffer.alloc(RECORD_HEADER_BYTES), 0, RECORD_HEADER_BYTES, position.offset);
      touched.add(s);
    }
    for (const s of touched) fdatasyncSync(s.fd);
  }

  /** Closes the segment files; later calls do nothing. */
  close(): void {
    for (const s of this.#segments) if (s.fd >= 0) closeSync(s.fd);
    for (const s of this.#segments) s.fd = -1;
  }

  /** Writes `buffers` back to back at `offset` (pwritev, at most IOV_MAX buffers at a time). */
  #writeAll(fd: number, buffers: Buffer[], offset: number): void {
    let at = offset;
    for (let i = 0; i < buffers.length; i += IOV_MAX) {
      const part = buffers.slice(i, i + IOV_MAX);
      let bytes = 0;
      for (const b of part) bytes += b.length;
      if (writevSync(fd, part, at) !== bytes) throw new Error("wal: short write");
      at += bytes;
    }
  }

  /** Best effort: zeroes the headers of records just written. */
  #unwrite(s: Segment, positions: readonly WalPosition[]): void {
    const zeros = Buffer.alloc(RECORD_HEADER_BYTES);
    try {
      for (const p of positions) writeSync(s.fd, zeros, 0, RECORD_HEADER_BYTES, p.offset);
    } catch {
      // the disk refuses writes: a record it did not take is torn, and not replayed
    }
  }

  #fdatasync(s: Segment): Promise<void> {
    return new Promise<void>((resolve, reject) => fdatasync(s.fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Starts a new generation in the segment after `cursor`'s, once LMDB holds everything the old one logged; and by how many bytes that grew the file. */
  #rotate(cursor: WalCursor, step: number): { cursor: WalCursor; grownBytes: number } {
    const dataFd = openSync(this.#dataFile, "r");
    try {
      fdatasyncSync(dataFd);
    } finally {
      closeSync(dataFd);
    }
    const segment = cursor.generation === 0 ? 0 : 1 - cursor.segment;
    const s = this.#segments[segment]!;
    // After a fresh start (no valid segment) generations go on from whatever the files hold.
    const generation = cursor.generation > 0 ? cursor.generation + 1 : Math.max(...this.#segments.map((x) => x.generation)) + 1;
    const salt = randomInt(0, 2 ** 32 - 1);
    const header = Buffer.alloc(HEADER_BYTES);
    SEGMENT_MAGIC.copy(header, 0);
    header.writeUInt32LE(generation, 8);
    header.writeUInt32LE(salt, 12);
    header.writeUInt32LE(crc32(header.subarray(0, 16)), 16);
    const before = fstatSync(s.fd).size;
    // The first record slot is zeroed with the header, so a stale record never follows it.
    writeSync(s.fd, Buffer.concat([header, Buffer.alloc(RECORD_HEADER_BYTES)]), 0, HEADER_BYTES + RECORD_HEADER_BYTES, 0);
    this.#allocate(s, HEADER_BYTES + step, step);
    fdatasyncSync(s.fd);
    const grownBytes = Math.max(0, s.allocated - before);
    s.generation = generation;
    s.salt = salt;
    return { cursor: { segment, generation, end: HEADER_BYTES }, grownBytes };
  }

  /**
   * Makes the file hold at least `bytes` (zeros past its end, at least
   * `step` at a time), so that appends overwrite allocated blocks. Returns by
   * how many bytes it grew the file.
   */
  #allocate(s: Segment, bytes: number, step: number): number {
    if (bytes <= s.allocated) return 0;
    s.allocated = fstatSync(s.fd).size; // another process may have grown it
    if (bytes <= s.allocated) return 0;
    const from = s.allocated;
    const target = Math.min(this.#segmentBytes, Math.max(bytes, s.allocated + step));
    const zeros = Buffer.alloc(Math.min(ALLOCATE_BYTES, target - s.allocated));
    for (let at = s.allocated; at < target; at += zeros.length) writeSync(s.fd, zeros, 0, Math.min(zeros.length, target - at), at);
    s.allocated = target;
    return target - from;
  }

  #readHeader(s: Segment): void {
    const header = Buffer.alloc(20);
    const got = readSync(s.fd, header, 0, 20, 0);
    const valid = got === 20 && header.subarray(0, 8).equals(SEGMENT_MAGIC) && header.readUInt32LE(16) === crc32(header.subarray(0, 16));
    s.generation = valid ? header.readUInt32LE(8) : 0;
    s.salt = valid ? header.readUInt32LE(12) : 0;
  }

  /** The valid records of one segment, and the offset after the last one. */
  #scan(s: Segment, index: number): { entries: WalEntry[]; end: number } {
    const size = Math.min(fstatSync(s.fd).size, this.#segmentBytes);
    const entries: WalEntry[] = [];
    let at = HEADER_BYTES;
    const header = Buffer.alloc(RECORD_HEADER_BYTES);
    while (at + RECORD_HEADER_BYTES <= size) {
      readSync(s.fd, header, 0, RECORD_HEADER_BYTES, at);
      if (header.readUInt32LE(0) !== RECORD_MAGIC || header.readUInt32LE(12) !== s.generation) break;
      const length = header.readUInt32LE(4);
      if (at + RECORD_HEADER_BYTES + length > size) break;
      const revision = header.readDoubleLE(16);
      const last = entries[entries.length - 1];
      if (!Number.isSafeInteger(revision) || (last && revision !== last.revision + 1)) break;
      const payload = Buffer.alloc(length);
      readSync(s.fd, payload, 0, length, at + RECORD_HEADER_BYTES);
      if (header.readUInt32LE(8) !== crc32(payload, crc32(header.subarray(12), s.salt))) break;
      at += RECORD_HEADER_BYTES + length;
      entries.push({ revision, payload, segment: index, end: at });
    }
    return { entries, end: at };
  }
}
