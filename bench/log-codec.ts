// The change log's record encoding on its own (src/store/log-codec.ts): a
// create's record (the bench's ~350-byte object) as lmdb-js's msgpack wrote
// it before format 4 and in the binary layout since, timed in alternating
// rounds: the encoding alone (as lmdb-js asks for it inside a write
// transaction), puts of 64 records per transaction, and a range read of them
// all back (a watch replay, a list at a past revision). In a temp LMDB
// directory without syncs. Prints one JSON line per measurement on stdout:
// the median of the rounds, in µs per record.
//
//   node --import tsx bench/log-codec.ts [--records 20000] [--rounds 7]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { logEncoder, type LogRecord } from "../src/store/log-codec.ts";
import { standaloneArgs } from "./lib/options.ts";

const values = standaloneArgs(
  "usage: node --import tsx bench/log-codec.ts [--records 20000] [--rounds 7]\n\nThe change log's records as msgpack (before format 4) and binary: encode, put, read back. One JSON line per measurement.",
  { records: "20000", rounds: "7" },
  ["records", "rounds"],
);
const BATCH = 64;
const RECORDS = Math.ceil(Number(values.records) / BATCH) * BATCH;
const ROUNDS = Number(values.rounds);
/** lmdb-js's encode mode inside a write transaction (REUSE_BUFFER_MODE | RESET_BUFFER_MODE). */
const IN_TXN = 512 | 1024;

function record(i: number): LogRecord {
  const name = `p-${i}`;
  const object = {
    apiVersion: "bench.setpoint.dev/v1",
    kind: "Item",
    metadata: {
      name,
      namespace: "default",
      uid: "6b1e1c2e-9f0e-4a55-bb37-0d3b0f8f1c2a",
      resourceVersion: String(i),
      generation: 1,
      creationTimestamp: "2026-11-27T20:00:00Z",
    },
    spec: { i, pad: "x".repeat(100) },
  };
  return { t: "ADDED", k: ["items.bench.setpoint.dev", "default", name], o: JSON.stringify(object), m: 1_700_000_000_000 + i };
}

const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-log-codec-"));
const root = open({ path: dir, maxDbs: 8, noSync: true, eventTurnBatching: false });
const logs = {
  msgpack: root.openDB<LogRecord, number>({ name: "msgpack", encoding: "msgpack" }),
  binary: root.openDB<LogRecord, number>({ name: "binary", encoder: logEncoder() } as { name: string }),
};
const records = Array.from({ length: RECORDS }, (_, i) => record(i));
const samples = new Map<string, number[]>();

function time(encoding: string, workload: string, fn: () => void): void {
  const t0 = process.hrtime.bigint();
  fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / RECORDS;
  const key = `${encoding} ${workload}`;
  samples.set(key, [...(samples.get(key) ?? []), us]);
}

let base = 0;
let read = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [encoding, log] of Object.entries(logs)) {
    const encoder = (log as unknown as { encoder: { encode(r: LogRecord, mode: number): unknown } }).encoder;
    time(encoding, "encode", () => {
      for (const r of records) encoder.encode(r, IN_TXN);
    });
    time(encoding, "put", () => {
      for (let b = 0; b < RECORDS; b += BATCH) {
        root.transactionSync(() => {
          for (let i = b; i < b + BATCH; i++) log.putSync(base + i + 1, records[i]!, { append: true });
        });
      }
    });
    time(encoding, "read", () => {
      for (const { value } of log.getRange({ start: base + 1, end: base + RECORDS + 1 })) read += value.o.length;
    });
  }
  base += RECORDS;
}
await root.close();
rmSync(dir, { recursive: true, force: true });

for (const [key, us] of samples) {
  const [encoding, workload] = key.split(" ");
  const sorted = us.sort((a, b) => a - b);
  const line = {
    bench: "log-codec",
    encoding,
    workload,
    records: RECORDS,
    rounds: ROUNDS,
    median_us_per_record: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(3)),
    min_us_per_record: Number(sorted[0]!.toFixed(3)),
  };
  process.stdout.write(JSON.stringify(line) + "\n");
}
if (read === 0) throw new Error("log-codec: read nothing back");
