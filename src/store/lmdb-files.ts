// Checks the files of an LMDB data directory before LMDB maps them, and says
// in one line what is wrong and what to do. lmdb-js does not fail cleanly on
// a bad data.mdb: a file that is not LMDB's (or of another LMDB data version)
// ends the process with a segmentation fault inside `open()`, and one cut
// short (a copy that stopped half way) with a bus error at the first read of a
// page past its end. Neither printed a word. A file this user may not read and
// write got LMDB's "Permission denied: Attempting to open main database file",
// naming neither the file nor the fix.
//
// Nothing here writes: a directory that fails a check is left as it was.
//
// The header read is LMDB's (lmdb-js's liblmdb, mdb.c): page 0 and page 1 are
// meta pages. A page starts with a 24-byte header (page number, txnid, pad,
// flags; P_META = 0x08 in the flags at byte 18); the meta follows it:
// mm_magic (u32, 0xBEEFC0DE), mm_version (u32, low 16 bits the data version,
// 2), mm_address (8), mm_mapsize (8), mm_dbs[2] (48 bytes each; the first's
// md_pad is the page size), mm_last_pg (u64), mm_txnid (u64). LMDB reads the
// meta with the higher txnid.

import { closeSync, constants, accessSync, existsSync, openSync, readSync, fstatSync, statSync } from "node:fs";
import { join } from "node:path";
import { OPENERS_DIR } from "./openers.ts";

/** The files LMDB and the write-ahead log keep in the data directory. */
const STORE_FILES = ["data.mdb", "lock.mdb", "wal-0", "wal-1"] as const;

const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
const P_META = 0x08;
const PAGE_HEADER = 24;
const META_MAGIC = PAGE_HEADER;
const META_VERSION = PAGE_HEADER + 4;
const META_PAGE_SIZE = PAGE_HEADER + 24;
/** md_root of mm_dbs[0] (free pages) and mm_dbs[1] (main): 40 bytes into each 48-byte MDB_db. */
const META_ROOTS = [PAGE_HEADER + 24 + 40, PAGE_HEADER + 24 + 48 + 40];
const P_INVALID = 0xffffffffffffffffn;
const META_LAST_PAGE = PAGE_HEADER + 24 + 96;
const META_TXNID = META_LAST_PAGE + 8;
const META_BYTES = META_TXNID + 8;

/**
 * How far short of its last page data.mdb may legitimately end. Every page up
 * to the meta's last page is either in use or on LMDB's free list, and a page
 * allocated and freed again within the newest transaction is never written,
 * so the file can end a few pages early (LMDB's own comment on mm_last_pg).
 * 256 pages (1 MiB at 4 KiB) is far more than one transaction leaves so; a
 * file cut shorter than that is reported, and so is one that ends before the
 * root page of either core tree (pages in use, hence written). A cut inside
 * this margin that spares both roots still ends in LMDB's bus error: no
 * header tells which of those pages were written. (The store writes zeros
 * ahead of LMDB's last page, src/store/data-file-room.ts, so such a cut
 * mostly takes only zeros.)
 */
const SHORT_PAGES_ALLOWED = 256;

/** One LMDB meta page as read from data.mdb. */
interface Meta {
  pageSize: number;
  lastPage: bigint;
  txnid: bigint;
  /** The highest root page of the two core trees: a page in use, so always written. */
  highestRoot: number;
}

/**
 * Undefined if the files in `dir` can be handed to LMDB, or one line saying
 * what is wrong with which file and what to do. A missing file is fine (a new
 * store creates it).
 * @example lmdbFilesProblem("/var/lib/setpoint") // "the data directory /var/lib/setpoint cannot be used: its data.mdb is not an LMDB data file …"
 */
export function lmdbFilesProblem(dir: string): string | undefined {
  const why = filesProblem(dir);
  return why === undefined ? undefined : `the data directory ${dir} cannot be used: ${why}`;
}

function filesProblem(dir: string): string | undefined {
  for (const name of STORE_FILES) {
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      return `its ${name} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
    if (!st.isFile()) return `its ${name} is not a regular file: move it away (LMDB and the write-ahead log keep their data in files of these names)`;
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch {
      const uid = process.getuid?.();
      return `this user${uid === undefined ? "" : ` (uid ${uid})`} may not read and write its ${name} (owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}): run the server as the owner, or give this user read and write access`;
    }
  }
  return dataFileProblem(join(dir, "data.mdb"), neverOpened(dir));
}

/**
 * Whether no store ever got as far as opening `dir`: none of the files and
 * folders the store makes right after LMDB has written its first header pages
 * (the write-ahead log's segments, the openers folder) is there. A first start
 * killed between LMDB creating data.mdb and writing its header pages leaves
 * data.mdb empty with at most lock.mdb beside it (seen by killing a real
 * server at its first write to data.mdb): nothing was ever acknowledged, and
 * LMDB takes an empty data.mdb for a new store.
 */
function neverOpened(dir: string): boolean {
  return ["wal-0", "wal-1", OPENERS_DIR].every((name) => !existsSync(join(dir, name)));
}

/**
 * What is wrong with data.mdb's header or length, if anything (undefined also
 * when it is missing, or empty in a directory no store ever opened).
 */
function dataFileProblem(path: string, neverOpened: boolean): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const first = readMeta(fd, 0);
    const second = typeof first === "string" ? first : readMeta(fd, first.pageSize);
    // The size is read after the header pages, from the same open file: LMDB
    // writes a commit's pages before the header that names them and never
    // shrinks the file, so another process committing meanwhile (a worker
    // starting beside a running one) cannot make a sound file look cut short.
    const size = fstatSync(fd).size;
    const restore = "restore the data directory from a backup, or choose another with --data-dir (or SETPOINT_DATA_DIR)";
    if (size === 0) {
      if (neverOpened) return undefined;
      return `its data.mdb is empty (0 bytes), so every object it held is gone (a copy or a disk that failed?): ${restore}; if the store never held anything, delete data.mdb`;
    }
    if (typeof first === "string") return `its data.mdb is not an LMDB data file this release can read (${first}): ${restore}`;
    if (size < 2 * first.pageSize) {
      return `its data.mdb is cut short: ${size} bytes, less than LMDB's two header pages of ${first.pageSize}: ${restore}`;
    }
    const meta = typeof second !== "string" && second.txnid > first.txnid ? second : first;
    const needed = (meta.lastPage + 1n) * BigInt(meta.pageSize);
    const rootEnd = BigInt((meta.highestRoot + 1) * meta.pageSize);
    if (BigInt(size) < rootEnd || BigInt(size) < needed - BigInt(SHORT_PAGES_ALLOWED * meta.pageSize)) {
      return `its data.mdb is cut short: ${size} bytes, but LMDB's header says its pages run to ${needed} bytes (a copy that stopped, or a disk that failed?): ${restore}`;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The meta page at `offset`, or why it is not one. */
function readMeta(fd: number, offset: number): Meta | string {
  const buf = Buffer.alloc(META_BYTES);
  const n = readSync(fd, buf, 0, META_BYTES, offset);
  if (n < META_BYTES) return `${n === 0 ? "no" : "a partial"} header page at byte ${offset}`;
  if ((buf.readUInt16LE(18) & P_META) === 0 || buf.readUInt32LE(META_MAGIC) !== MDB_MAGIC) return `no LMDB header at byte ${offset}`;
  const version = buf.readUInt32LE(META_VERSION) & 0xffff;
  if (version !== MDB_DATA_VERSION) return `LMDB data version ${version}, where this release reads version ${MDB_DATA_VERSION}`;
  const pageSize = buf.readUInt32LE(META_PAGE_SIZE);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return `a page size of ${pageSize} bytes in the header at byte ${offset}`;
  const roots = META_ROOTS.map((at) => buf.readBigUInt64LE(at)).filter((r) => r !== P_INVALID);
  return {
    pageSize,
    lastPage: buf.readBigUInt64LE(META_LAST_PAGE),
    txnid: buf.readBigUInt64LE(META_TXNID),
    highestRoot: Math.max(0, ...roots.map(Number)),
  };
}
