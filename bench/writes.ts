// Writes and lists. Durable creates one at a time and 64 in flight (Setpoint:
// REST POST over 64 keep-alive HTTP/1.1 connections; etcd: puts over one
// gRPC connection, as its clients do), then lists of 10k objects (and 100k
// with --full): latency, response bytes, server CPU and peak RSS. A list row's
// peak starts from what the server held when the lists began (the populate's
// leftovers: V8's heap, LMDB's or bbolt's mapped pages), so the row also says
// what that was, anonymous and file-backed, and how much the lists added to it.
//
//   node --import tsx bench/writes.ts [--full] [--systems setpoint,etcd]
//        [--count 2000] [--list-objects 10000,100000] [--setpoint-workers 1,2]
//        [--setpoint-client sdk|node-http] [--target URL --token T --insecure]
//
// Clients: each system's own Node client. etcd's puts go through etcd3
// (grpc-js); Setpoint's creates through the SDK's HTTP/1.1 transport
// (bench/lib/clients.ts, SdkCreator). The creates are run once more through
// node:http's client (rows marked client=node-http), which costs about twice
// the CPU per create on the machine the server shares with it; with
// `--setpoint-client node-http` every row uses node:http.
//
// Both servers keep their default durability: Setpoint fsyncs each commit
// (group commit), etcd fsyncs its WAL.

import { randomUUID } from "node:crypto";
import { Etcd3 } from "etcd3";
import { noop } from "cockatiel";
import { HttpClient, ensureBenchType, setpointClientOption, setpointCreator, timedCalls, type SetpointClientName } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intList, intOption, type BenchOptions, type SystemName } from "./lib/options.ts";
import { cpuSeconds, peakRssMb, remoteSetpoint, resetPeakRss, rssPartsMb, startEtcd, startSetpoint, type ServerHandle } from "./lib/procs.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { Histogram, round } from "./lib/stats.ts";

const PAD = "x".repeat(100);
const LIST_REPEATS = 5;

/** Writes object `i`; resolves when acknowledged (durable). */
type WriteFn = (i: number) => Promise<void>;
/** Lists every object written by the list population; resolves with the bytes received. */
type ListFn = () => Promise<number>;

interface System {
  server: ServerHandle;
  /** Writes for the create workload; a fresh key per call. */
  write: WriteFn;
  /** Writes for populating the list workload (separate keyspace). */
  listWrite: WriteFn;
  list: ListFn;
  /** Writes refused since the system started (warmup included); a row reports its own, the difference over its span. */
  errors: number;
  close(): Promise<void>;
}

function body(name: string, i: number, run: string) {
  return { apiVersion: "bench.setpoint.dev/v1", kind: "Item", metadata: { name, labels: { "bench-run": run } }, spec: { i, pad: PAD } };
}

async function setpointSystem(o: BenchOptions, workers: number, clientName: SetpointClientName): Promise<System> {
  const server = o.target ? remoteSetpoint(o.target, o) : await startSetpoint({ workers });
  const client = new HttpClient(server.url, { token: o.token, insecure: o.insecure, ca: o.ca, connections: 64, timeoutMs: 120_000 });
  const creator = setpointCreator(o, server.url, client, clientName);
  const run = randomUUID().slice(0, 8);
  const items = await ensureBenchType(client, "Item", "items");
  const listPlural = `listitems${run}`;
  const lists = await ensureBenchType(client, "ListItem", listPlural);
  const sys: System = {
    server,
    errors: 0,
    async write(i) {
      const res = await creator.create(items, body(`w-${run}-${i}`, i, run));
      if (res.status !== 201) {
        sys.errors++;
        if (sys.errors <= 3) note(`setpoint create ${i}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    },
    async listWrite(i) {
      const res = await creator.create(lists, { ...body(`l-${i}`, i, run), kind: "ListItem" });
      if (res.status !== 201) {
        sys.errors++;
        if (sys.errors <= 3) note(`setpoint create ${i}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    },
    async list() {
      const res = await client.expect(200, "GET", lists);
      return Buffer.byteLength(res.text);
    },
    async close() {
      if (o.target) {
        await client.request("DELETE", `${items}?labelSelector=bench-run%3D${run}`).catch(() => undefined);
        await client.request("DELETE", `/apis/setpoint.dev/v1/resourcetypes/${listPlural}.bench.setpoint.dev`).catch(() => undefined);
      }
      creator.close();
      client.close();
    },
  };
  return sys;
}

async function etcdSystem(): Promise<System> {
  const server = await startEtcd();
  // One client, one connection, no retries; lists of 100k objects exceed grpc-js's default 4 MiB receive bound.
  const client = new Etcd3({
    hosts: server.url,
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { "grpc.use_local_subchannel_pool": 1, "grpc.max_receive_message_length": 1024 * 1024 * 1024 },
  });
  await client.get("warmup").string();
  const run = randomUUID().slice(0, 8);
  const sys: System = {
    server,
    errors: 0,
    async write(i) {
      try {
        await client.put(`/items/default/w-${run}-${i}`).value(JSON.stringify(body(`w-${run}-${i}`, i, run)));
      } catch (err) {
        sys.errors++;
        if (sys.errors <= 3) note(`etcd put ${i}: ${(err as Error).message}`);
      }
    },
    async listWrite(i) {
      try {
        await client.put(`/list/default/l-${i}`).value(JSON.stringify(body(`l-${i}`, i, run)));
      } catch (err) {
        sys.errors++;
        if (sys.errors <= 3) note(`etcd put ${i}: ${(err as Error).message}`);
      }
    },
    async list() {
      const res = await client.getAll().prefix("/list/").exec();
      let bytes = 0;
      for (const kv of res.kvs) bytes += kv.key.length + kv.value.length;
      return bytes;
    },
    async close() {
      client.close();
    },
  };
  return sys;
}

interface Measured {
  hist: Histogram;
  seconds: number;
  cpu: number | null;
  rss: number | null;
}

async function measure(server: ServerHandle, n: number, inflight: number, fn: (i: number) => Promise<unknown>): Promise<Measured> {
  const hist = new Histogram();
  if (server.pid) resetPeakRss(server.pid);
  const cpu0 = server.pid ? cpuSeconds(server.pid) : 0;
  const seconds = await timedCalls(hist, n, inflight, 120_000, fn);
  return { hist, seconds, cpu: server.pid ? cpuSeconds(server.pid) - cpu0 : null, rss: server.pid ? peakRssMb(server.pid) : null };
}

/** Runs the create and list workloads against every system in `o`. */
export async function writes(o: BenchOptions): Promise<Result[]> {
  const count = intOption(o, "count", o.full ? 10_000 : 2000);
  const listSizes = intList(o, "list-objects", o.full ? [10_000, 100_000] : [10_000]);
  const results: Result[] = [];
  const clientName = setpointClientOption(o);
  // Setpoint runs once more per extra worker count, and once more through
  // node:http's client (creates only: a list is served by one worker, and its
  // client is not what the list rows measure).
  const runs: Array<{ name: SystemName; workers: number; client?: SetpointClientName }> = [];
  for (const name of o.systems.filter((s) => s !== "floor")) {
    runs.push({ name, workers: 1 });
    if (name === "setpoint" && clientName === "sdk") runs.push({ name, workers: 1, client: "node-http" });
    if (name === "setpoint" && !o.target) for (const workers of intList(o, "setpoint-workers", [1, 2]).filter((w) => w > 1)) runs.push({ name, workers });
  }
  for (const { name, workers, client } of runs) {
    const sys = name === "setpoint" ? await setpointSystem(o, workers, client ?? clientName) : await etcdSystem();
    const workersParam: Record<string, number | string> = { ...(workers > 1 ? { workers } : {}), ...(client ? { client } : {}) };
    try {
      // Warm up both sides (connections, JIT) with writes that are not measured,
      // over all 64 connections and long enough for the create path to be
      // compiled: with --workers 2 the connections are spread over both workers,
      // and 200 creates at 16 in flight left one of them cold. It then compiled
      // its create path during the measured creates, about 40 µs more server CPU
      // per create at 64 in flight (docs/durability.md, "Two workers on two cores").
      const warmup = Math.min(3000, Math.ceil(count / 3));
      await measure(sys.server, warmup, 64, (i) => sys.write(i));
      if (sys.errors > 0) note(`writes ${name}: ${sys.errors} of ${warmup} warmup creates refused`);
      let offset = warmup;
      for (const inflight of [1, 64]) {
        note(`writes ${name}: ${count} creates, ${inflight} in flight`);
        const base = offset;
        const errors0 = sys.errors;
        const m = await measure(sys.server, count, inflight, (i) => sys.write(base + i));
        offset += count;
        const s = m.hist.summary();
        results.push(
          emit(
            {
              system: name,
              workload: "writes",
              params: { inflight, count, ...workersParam },
              p50_ms: s.p50_ms,
              p99_ms: s.p99_ms,
              max_ms: s.max_ms,
              throughput: Math.round(s.count / m.seconds),
              throughput_unit: "writes/s",
              server_cpu_s: round(m.cpu),
              server_peak_rss_mb: m.rss,
              completed: s.count,
              errors: sys.errors - errors0,
            },
            o,
          ),
        );
      }
      let populated = 0;
      for (const size of workers > 1 || client ? [] : listSizes) {
        note(`writes ${name}: populating ${size} objects, then ${LIST_REPEATS} lists`);
        const t0 = Date.now();
        const from = populated;
        // The row's errors are its own populate's refused writes, not those of earlier rows.
        const errors0 = sys.errors;
        await measure(sys.server, size - from, 64, (i) => sys.listWrite(from + i));
        populated = size;
        note(`writes ${name}: populated ${size} in ${Date.now() - t0} ms`);
        let bytes = 0;
        // Read just before measure() resets the peak to the RSS of that moment.
        const before = sys.server.pid ? rssPartsMb(sys.server.pid) : null;
        const m = await measure(sys.server, LIST_REPEATS, 1, async () => {
          bytes = await sys.list();
        });
        const s = m.hist.summary();
        results.push(
          emit(
            {
              system: name,
              workload: "list",
              params: { objects: size },
              p50_ms: s.p50_ms,
              p99_ms: s.p99_ms,
              max_ms: s.max_ms,
              throughput: s.p50_ms ? Math.round((size / s.p50_ms) * 1000) : null,
              throughput_unit: "objects/s",
              server_cpu_s: round(m.cpu),
              server_peak_rss_mb: m.rss,
              server_rss_before_anon_mb: before?.anon ?? null,
              server_rss_before_file_mb: before?.file ?? null,
              list_rss_added_mb: before && m.rss !== null ? round(Math.max(0, m.rss - before.anon - before.file), 1) : null,
              bytes,
              repeats: LIST_REPEATS,
              errors: sys.errors - errors0,
            },
            o,
          ),
        );
      }
    } finally {
      await sys.close();
      await sys.server.stop();
    }
  }
  return results;
}

runStandalone(import.meta.url, writes);
