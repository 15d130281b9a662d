// etcd's KV.Txn on the wire, encoded and decoded by hand: the one call every
// write of the etcd store makes. The etcd3 package builds each request and
// reads each answer through protobufjs's generic object conversion (every
// field defaulted, every int64 through Long to a string), and through its own
// connection-pool and retry layers; for the write path that was a large part
// of the server's CPU per write. These functions cover the messages the store
// sends (compare on a key's mod_revision or version, or on the mod_revision
// of every key of a range; put, delete and range of one key) and read back what it uses, in the same shapes the etcd3 package
// gives (int64 as decimal strings), so that the store's code reads one way
// whichever client made the call.
//
// Wire format: https://protobuf.dev/programming-guides/encoding/ ; messages:
// etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto (3.4).

import type { IKeyValue } from "etcd3";

/**
 * A compare of the etcd store's transactions: a key's mod_revision or version
 * equal to a value, or (with `range_end`) the mod_revision of every key in
 * [key, range_end) less than a value (an empty range holds).
 */
export interface TxnCompare {
  key: Buffer;
  target: "Mod" | "Version";
  result: "Equal" | "Less";
  mod_revision?: number;
  version?: number;
  range_end?: Buffer;
}

/** An operation of the etcd store's transactions, on one key. */
export type TxnOp = { request_put: { key: Buffer; value: Buffer } } | { request_delete_range: { key: Buffer } } | { request_range: { key: Buffer } };

export interface TxnRequest {
  compare: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

/** What the store reads of a TxnResponse, shaped as the etcd3 package's ITxnResponse. */
export interface TxnResponse {
  header: { revision: string };
  succeeded: boolean;
  responses: Array<{ response_range?: { kvs: IKeyValue[] } }>;
}

// ---- encoding ----

/** A field; `present` writes a zero number too (a member of a oneof, whose presence is its meaning). */
type Field = [no: number, value: number | boolean | Buffer, present?: boolean];

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

function checkInt(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`etcd wire: ${n} is not a non-negative integer`);
  return n;
}

/** One message of `fields`: numbers and booleans as varints (zero and false left out, as proto3 does), buffers length-delimited. */
function message(fields: Field[]): Buffer {
  let size = 0;
  for (const [no, v, present] of fields) {
    if (typeof v === "number") size += v === 0 && !present ? 0 : varintSize(no << 3) + varintSize(checkInt(v));
    else if (typeof v === "boolean") size += v ? varintSize(no << 3) + 1 : 0;
    else size += varintSize((no << 3) | 2) + varintSize(v.length) + v.length;
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [no, v, present] of fields) {
    if (typeof v === "number") {
      if (v === 0 && !present) continue;
      pos = writeVarint(buf, pos, no << 3);
      pos = writeVarint(buf, pos, v);
    } else if (typeof v === "boolean") {
      if (!v) continue;
      pos = writeVarint(buf, pos, no << 3);
      buf[pos++] = 1;
    } else {
      pos = writeVarint(buf, pos, (no << 3) | 2);
      pos = writeVarint(buf, pos, v.length);
      pos += v.copy(buf, pos);
    }
  }
  return buf;
}

const COMPARE_TARGET = { Version: 0, Mod: 2 } as const;
const COMPARE_RESULT = { Equal: 0, Less: 2 } as const;

function encodeCompare(c: TxnCompare): Buffer {
  // result Equal is 0: left out. target_union: version = 4, mod_revision = 6; range_end = 64.
  const fields: Field[] = [
    [1, COMPARE_RESULT[c.result]],
    [2, COMPARE_TARGET[c.target]],
    [3, c.key],
  ];
  if (c.target === "Mod") fields.push([6, c.mod_revision ?? 0, true]);
  else fields.push([4, c.version ?? 0, true]);
  if (c.range_end) fields.push([64, c.range_end]);
  return message(fields);
}

function encodeOp(op: TxnOp): Buffer {
  if ("request_put" in op)
    return message([
      [
        2,
        message([
          [1, op.request_put.key],
          [2, op.request_put.value],
        ]),
      ],
    ]);
  if ("request_delete_range" in op) return message([[3, message([[1, op.request_delete_range.key]])]]);
  return message([[1, message([[1, op.request_range.key]])]]);
}

/** A TxnRequest as protobuf bytes. */
export function encodeTxnRequest(req: TxnRequest): Buffer {
  const fields: Field[] = [];
  for (const c of req.compare) fields.push([1, encodeCompare(c)]);
  for (const op of req.success) fields.push([2, encodeOp(op)]);
  for (const op of req.failure) fields.push([3, encodeOp(op)]);
  return message(fields);
}

// ---- decoding ----

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    readonly end: number,
    start = 0,
  ) {
    this.pos = start;
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError("etcd wire: truncated varint");
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 128;
      if (scale > 2 ** 63) throw new RangeError("etcd wire: varint too long");
    }
  }

  /** The bounds of a length-delimited field's bytes; moves past them. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new RangeError("etcd wire: truncated field");
    this.pos = start + len;
    return [start, start + len];
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new RangeError(`etcd wire: unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new RangeError("etcd wire: truncated field");
  }
}

/** A copy of buf[start, end): the answer's buffer is grpc's, and a stored value may outlive it. */
function slice(buf: Buffer, start: number, end: number): Buffer {
  return Buffer.from(buf.subarray(start, end));
}

/** mvccpb.KeyValue, int64s as decimal strings (the etcd3 package's IKeyValue). */
export function decodeKeyValue(buf: Buffer, start: number, end: number): IKeyValue {
  const kv: IKeyValue = { key: Buffer.alloc(0), value: Buffer.alloc(0), create_revision: "0", mod_revision: "0", version: "0", lease: "0" };
  const r = new Reader(buf, end, start);
  while (r.pos < end) {
    const tag = r.varint();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 1 && wt === 2) kv.key = slice(buf, ...r.bytes());
    else if (no === 5 && wt === 2) kv.value = slice(buf, ...r.bytes());
    else if (no === 2 && wt === 0) kv.create_revision = String(r.varint());
    else if (no === 3 && wt === 0) kv.mod_revision = String(r.varint());
    else if (no === 4 && wt === 0) kv.version = String(r.varint());
    else if (no === 6 && wt === 0) kv.lease = String(r.varint());
    else r.skip(wt);
  }
  return kv;
}

/** ResponseHeader.revision. */
function decodeHeaderRevision(buf: Buffer, start: number, end: number): number {
  const r = new Reader(buf, end, start);
  let revision = 0;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 3 << 3) revision = r.varint();
    else r.skip(tag & 7);
  }
  return revision;
}

/** RangeResponse.kvs. */
function decodeRangeKvs(buf: Buffer, start: number, end: number): IKeyValue[] {
  const r = new Reader(buf, end, start);
  const kvs: IKeyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === ((2 << 3) | 2)) kvs.push(decodeKeyValue(buf, ...r.bytes()));
    else r.skip(tag & 7);
  }
  return kvs;
}

/** One ResponseOp: its range response's kvs, if it is one. */
function decodeResponseOp(buf: Buffer, start: number, end: number): { response_range?: { kvs: IKeyValue[] } } {
  const r = new Reader(buf, end, start);
  const op: { response_range?: { kvs: IKeyValue[] } } = {};
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) op.response_range = { kvs: decodeRangeKvs(buf, ...r.bytes()) };
    else r.skip(tag & 7);
  }
  return op;
}

/** A TxnResponse from protobuf bytes. */
export function decodeTxnResponse(buf: Buffer): TxnResponse {
  const r = new Reader(buf, buf.length);
  const res: TxnResponse = { header: { revision: "0" }, succeeded: false, responses: [] };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) res.header.revision = String(decodeHeaderRevision(buf, ...r.bytes()));
    else if (tag === 2 << 3) res.succeeded = r.varint() !== 0;
    else if (tag === ((3 << 3) | 2)) res.responses.push(decodeResponseOp(buf, ...r.bytes()));
    else r.skip(tag & 7);
  }
  return res;
}

// ---- the watch ----

/** The one watch request the store sends: a create, from a revision, with prevKv and progress notifications. */
export interface WatchCreate {
  create_request: { key: Buffer; range_end: Buffer; start_revision: number; prev_kv: boolean; progress_notify: boolean };
}

/** A WatchRequest (create_request = 1) as protobuf bytes. */
export function encodeWatchRequest(req: WatchCreate): Buffer {
  const c = req.create_request;
  return message([
    [
      1,
      message([
        [1, c.key],
        [2, c.range_end],
        [3, c.start_revision],
        [4, c.progress_notify],
        [6, c.prev_kv],
      ]),
    ],
  ]);
}

/** One mvccpb.Event, shaped as the etcd3 package's IEvent (prev_kv absent when etcd sent none). */
export interface WatchEvent {
  type: "Put" | "Delete";
  kv: IKeyValue;
  prev_kv?: IKeyValue;
}

/** What the store reads of a WatchResponse, shaped as the etcd3 package's IWatchResponse. */
export interface WatchResponse {
  header: { revision: string };
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  events: WatchEvent[];
}

function decodeEvent(buf: Buffer, start: number, end: number): WatchEvent {
  const r = new Reader(buf, end, start);
  let type: WatchEvent["type"] = "Put";
  let kv: IKeyValue | undefined;
  let prev: IKeyValue | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 1 << 3) type = r.varint() === 1 ? "Delete" : "Put";
    else if (tag === ((2 << 3) | 2)) kv = decodeKeyValue(buf, ...r.bytes());
    else if (tag === ((3 << 3) | 2)) prev = decodeKeyValue(buf, ...r.bytes());
    else r.skip(tag & 7);
  }
  if (!kv) throw new RangeError("etcd wire: a watch event without its key-value");
  const ev: WatchEvent = { type, kv };
  if (prev) ev.prev_kv = prev;
  return ev;
}

/** A WatchResponse from protobuf bytes. */
export function decodeWatchResponse(buf: Buffer): WatchResponse {
  const r = new Reader(buf, buf.length);
  const res: WatchResponse = {
    header: { revision: "0" },
    watch_id: "0",
    created: false,
    canceled: false,
    compact_revision: "0",
    cancel_reason: "",
    events: [],
  };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) res.header.revision = String(decodeHeaderRevision(buf, ...r.bytes()));
    else if (tag === 2 << 3) res.watch_id = String(r.varint());
    else if (tag === 3 << 3) res.created = r.varint() !== 0;
    else if (tag === 4 << 3) res.canceled = r.varint() !== 0;
    else if (tag === 5 << 3) res.compact_revision = String(r.varint());
    else if (tag === ((6 << 3) | 2)) res.cancel_reason = buf.toString("utf8", ...r.bytes());
    else if (tag === ((11 << 3) | 2)) res.events.push(decodeEvent(buf, ...r.bytes()));
    else r.skip(tag & 7);
  }
  return res;
}
