// The change log's record encoding (src/store/log-codec.ts): the binary
// layout reads back what was written, at every size and in every script;
// lmdb-js's msgpack records (directories before format 4) never start with
// its mark and still read; and a format-3 directory whose log lmdb-js wrote
// as msgpack opens as it is, with every record read by changes, a past list
// and a watch, beside the binary records written after it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { open } from "lmdb";
import { ManualClock } from "../../src/clock.ts";
import { openLmdbStore, type Change } from "../../src/store.ts";
import { FORMAT, OBJECTS_DB } from "../../src/store/lmdb-format.ts";
import {
  decodeLogRecord,
  encodeLogRecord,
  fromStoredRecord,
  LOG_RECORD_MARK,
  logEncoder,
  recordToChange,
  toStoredRecord,
  type LogRecord,
} from "../../src/store/log-codec.ts";
import { decodeWalPayload, encodeWalPayload } from "../../src/store/wal-payload.ts";
import { WatchHub, type WatchEvent, type WatchSink } from "../../src/watch.ts";

const RECORDS: LogRecord[] = [
  { t: "ADDED", k: ["things.example.com", "default", "a"], o: '{"metadata":{"name":"a"}}', m: 1_700_000_000_123 },
  { t: "ADDED", k: ["nodes.example.com", "", "cluster-scoped"], o: "{}", m: 0 },
  { t: "MODIFIED", k: ["things.example.com", "default", "a"], o: '{"v":"é, 日本, 😀"}', p: '{"v":"ü"}', m: 1_700_000_000_124.5 },
  { t: "DELETED", k: ["things.example.com", "default", "a"], o: "", p: '{"metadata":{"resourceVersion":"7"}}', m: 2 ** 45, r: 7 },
  { t: "DELETED", k: ["things.example.com", "default", "b"], o: '{"deleted":true}', p: "", m: 3 },
  { t: "ADDED", k: ["x".repeat(253), "n".repeat(63), "y".repeat(253)], o: JSON.stringify({ pad: "z".repeat(1_500_000) }), m: 4 },
];

describe("log record encoding", () => {
  it("reads back every record it writes, starting with its mark", () => {
    for (const r of RECORDS) {
      const bytes = encodeLogRecord(r);
      assert.equal(bytes[0], LOG_RECORD_MARK);
      assert.deepEqual(decodeLogRecord(bytes), r);
      assert.deepEqual(logEncoder().decode(bytes), r);
    }
  });

  it("inside a write transaction (lmdb-js's reset mode) encodes into one reused buffer, from start to end; a large record gets its own", () => {
    const encoder = logEncoder();
    const first = encoder.encode(RECORDS[0]!, 512 | 1024);
    assert.deepEqual(decodeLogRecord(first.subarray(first.start, first.end)), RECORDS[0]);
    const second = encoder.encode(RECORDS[3]!, 512 | 1024);
    assert.equal(second, first, "the same buffer");
    assert.deepEqual(decodeLogRecord(second.subarray(second.start, second.end)), RECORDS[3]);
    const large = encoder.encode(RECORDS[5]!, 512 | 1024);
    assert.notEqual(large, first);
    assert.deepEqual(decodeLogRecord(large), RECORDS[5]);
    const outside = encoder.encode(RECORDS[2]!, 512);
    assert.notEqual(outside, first, "outside a transaction lmdb-js keeps the buffer until its write thread puts it");
    assert.deepEqual(decodeLogRecord(outside), RECORDS[2]);
  });

  it("reads a record out of a longer shared buffer up to the end it is given (as lmdb-js hands values over)", () => {
    const one = encodeLogRecord(RECORDS[2]!);
    const shared = Buffer.concat([one, encodeLogRecord(RECORDS[3]!)]);
    assert.deepEqual(logEncoder().decode(shared, one.length), RECORDS[2]);
    assert.deepEqual(decodeLogRecord(new Uint8Array(shared.buffer, shared.byteOffset, one.length)), RECORDS[2]);
  });

  it("refuses a cut-short or unknown record with a RangeError rather than reading garbage", () => {
    const bytes = encodeLogRecord(RECORDS[2]!);
    for (const end of [0, 5, 11, 20, bytes.length - 1]) assert.throws(() => decodeLogRecord(bytes, end), RangeError, `cut at ${end}`);
    const badType = Buffer.from(bytes);
    badType[2] = 0x0f;
    assert.throws(() => decodeLogRecord(badType), /unknown type byte/);
    const badLayout = Buffer.from(bytes);
    badLayout[1] = 2;
    assert.throws(() => decodeLogRecord(badLayout), /not in the binary layout 1/);
  });

  it("reads lmdb-js's msgpack records, which never start with its mark", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-log-codec-"));
    const root = open({ path: dir, maxDbs: 8 });
    try {
      const msgpack = root.openDB({ name: "log", encoding: "msgpack" });
      const raw = root.openDB({ name: "log", encoding: "binary" });
      await root.transaction(() => {
        RECORDS.forEach((r, i) => msgpack.putSync(i + 1, r));
      });
      const encoder = logEncoder();
      RECORDS.forEach((r, i) => {
        const bytes = raw.getBinary(i + 1)!;
        assert.notEqual(bytes[0], LOG_RECORD_MARK);
        assert.deepEqual(encoder.decode(bytes), r);
      });
    } finally {
      await root.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A sink that keeps what it is sent. */
class Collect implements WatchSink {
  readonly got: WatchEvent[] = [];
  send(event: WatchEvent): void {
    this.got.push(event);
  }
  buffered(): number {
    return 0;
  }
  onDrain(): void {}
  fail(): void {}
  close(): void {}
}

describe("a record as stored, and as the write-ahead log's payload", () => {
  const previous = '{"metadata":{"name":"a","resourceVersion":"7"},"spec":{"v":1}}';
  const deleted = '{"metadata":{"name":"a","resourceVersion":"12"},"spec":{"v":1}}';

  it("stores a deletion whose object is its previous state but for the resourceVersion once, and rebuilds it on reading", () => {
    const r: LogRecord = { t: "DELETED", k: ["things.example.com", "default", "a"], o: deleted, p: previous, m: 5 };
    const stored = toStoredRecord(r, 12, 7);
    assert.equal(stored.o, "");
    assert.equal(stored.r, 7);
    assert.deepEqual(fromStoredRecord(decodeLogRecord(encodeLogRecord(stored)), 12), r);
  });

  it("keeps both copies when the deletion changed more than the resourceVersion, and every other change as it is", () => {
    const changed: LogRecord = { t: "DELETED", k: ["things.example.com", "default", "a"], o: deleted.replace('"v":1', '"v":2'), p: previous, m: 5 };
    assert.deepEqual(toStoredRecord(changed, 12, 7), changed);
    const modified: LogRecord = { t: "MODIFIED", k: ["things.example.com", "default", "a"], o: deleted, p: previous, m: 5 };
    assert.deepEqual(toStoredRecord(modified, 12, 7), modified);
    assert.deepEqual(fromStoredRecord(modified, 12), modified);
  });

  it("turns a record into the change it stands for", () => {
    const r: LogRecord = { t: "MODIFIED", k: ["things.example.com", "", "a"], o: deleted, p: previous, m: 9 };
    assert.deepEqual(recordToChange(12, r), {
      revision: 12,
      type: "MODIFIED",
      key: { type: "things.example.com", namespace: "", name: "a" },
      object: deleted,
      previous,
      time: 9,
    });
  });

  it("reads back a write-ahead log payload without the previous state, in every script and size", () => {
    for (const r of RECORDS) {
      const { p: _p, r: _r, ...expected } = r;
      assert.deepEqual(decodeWalPayload(encodeWalPayload(r)), expected);
    }
  });
});

describe("LMDB store: a format-3 directory (msgpack log records)", () => {
  const TYPE = "things.example.com";
  const json = (name: string, revision: number, v: string) => `{"metadata":{"name":"${name}","resourceVersion":"${revision}"},"v":"${v}"}`;
  const key = (name: string) => ({ type: TYPE, namespace: "default", name });
  /** What the format-3 code wrote for: create a, create b, modify a, delete a (shortened: o rebuilt from p), delete b (whole: its last state differs). */
  const oldChanges: Change[] = [
    { revision: 1, type: "ADDED", key: key("a"), object: json("a", 1, "one"), time: 1000 },
    { revision: 2, type: "ADDED", key: key("b"), object: json("b", 2, "ü😀"), time: 1001 },
    { revision: 3, type: "MODIFIED", key: key("a"), object: json("a", 3, "two"), previous: json("a", 1, "one"), time: 1002 },
    { revision: 4, type: "DELETED", key: key("a"), object: json("a", 4, "two"), previous: json("a", 3, "two"), time: 1003 },
    { revision: 5, type: "DELETED", key: key("b"), object: json("b", 5, "gone"), previous: json("b", 2, "ü😀"), time: 1004 },
    { revision: 6, type: "ADDED", key: key("c"), object: json("c", 6, "kept"), time: 1005 },
  ];

  /** Writes the directory as the format-3 code left it: msgpack log records through lmdb-js, objects, head and format. */
  async function writeFormat3(dir: string): Promise<void> {
    const root = open({ path: dir, maxDbs: 8 });
    try {
      const objects = root.openDB({ name: OBJECTS_DB, encoding: "string", useVersions: true });
      const log = root.openDB({ name: "log", encoding: "msgpack" });
      const meta = root.openDB({ name: "meta", encoding: "msgpack" });
      await root.transaction(() => {
        for (const c of oldChanges) {
          const record: LogRecord = { t: c.type, k: [c.key.type, c.key.namespace, c.key.name], o: c.object, m: c.time };
          if (c.previous !== undefined) record.p = c.previous;
          if (c.revision === 4) {
            record.o = "";
            record.r = 3;
          }
          log.putSync(c.revision, record);
        }
        objects.putSync([TYPE, "default", "c"], json("c", 6, "kept"), 6);
        meta.putSync("head", 6);
        meta.putSync("format", 3);
      });
    } finally {
      await root.close();
    }
  }

  it("opens as it is, marked format 4, and its records read by changes, a past list and a watch beside the new ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-format3-"));
    const clock = new ManualClock(2000);
    try {
      await writeFormat3(dir);
      let store = openLmdbStore(dir, { pollIntervalMs: 0, clock });
      try {
        assert.deepEqual(store.changes(0, 100), oldChanges);
        assert.deepEqual(store.list({ type: TYPE, revision: 3 }).items, [json("a", 3, "two"), json("b", 2, "ü😀")]);
        assert.deepEqual(store.list({ type: TYPE }).items, [json("c", 6, "kept")]);
        await store.write(key("c"), (_c, revision) => ({ op: "put", object: json("c", revision, "new") }));
        await store.write(key("c"), (_c, revision) => ({ op: "delete", object: json("c", revision, "new") }));
      } finally {
        await store.close();
      }
      const root = open({ path: dir, maxDbs: 8, readOnly: true });
      try {
        assert.equal(root.openDB({ name: "meta", encoding: "msgpack" }).get("format"), FORMAT);
        const raw = root.openDB({ name: "log", encoding: "binary" });
        assert.deepEqual(
          [1, 6, 7, 8].map((r) => raw.getBinary(r)![0] === LOG_RECORD_MARK),
          [false, false, true, true],
          "old records stay msgpack, new ones are binary",
        );
      } finally {
        await root.close();
      }
      store = openLmdbStore(dir, { pollIntervalMs: 0, clock });
      const hub = new WatchHub(store, { clock, bookmarkIntervalMs: 60_000 });
      try {
        const all = [
          ...oldChanges,
          { revision: 7, type: "MODIFIED", key: key("c"), object: json("c", 7, "new"), previous: json("c", 6, "kept"), time: 2000 },
          { revision: 8, type: "DELETED", key: key("c"), object: json("c", 8, "new"), previous: json("c", 7, "new"), time: 2000 },
        ];
        assert.deepEqual(store.changes(0, 100), all);
        assert.deepEqual(store.list({ type: TYPE, revision: 5 }).items, []);
        assert.deepEqual(store.list({ type: TYPE, revision: 7 }).items, [json("c", 7, "new")]);
        const sink = new Collect();
        hub.watch({ type: TYPE, apiVersion: "example.com/v1", kind: "Thing", allowBookmarks: false, resourceVersion: 1 }, sink);
        assert.deepEqual(
          sink.got.map((e) => [e.type, e.object]),
          all.slice(1).map((c) => [c.type, c.object]),
        );
      } finally {
        hub.close();
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
