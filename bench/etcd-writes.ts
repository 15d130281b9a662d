// Where a write's time and CPU go with `--store etcd`, side by side in one run
// on one 3-member etcd (bench/lib/procs.ts useEtcdStore): raw etcd puts and
// compare-and-put transactions from this process over the same client library
// (the `etcd3` package), to member 0, to the leader, and spread over every
// member; then durable creates through one Setpoint server on that etcd. Each
// at 1 and at --inflight in flight, with the CPU per write of the server, of
// the three etcd members together, and of this (client) process; and, for
// scale, the same creates through a server on the embedded LMDB store; and the
// floor of any server in front of etcd (bench/etcd-floor-server.ts: a bare HTTP
// server whose POST is one compare-and-put Txn on the leader over Setpoint's own
// Txn client, with no API path). On a machine
// with few cores the rate in flight is bounded by the sum of those CPU
// figures, whatever the latency.
//
//   node --import tsx bench/etcd-writes.ts [--count 1000] [--inflight 64]
//        [--cpu-prof-dir DIR]   (server under --cpu-prof: self time of its creates)
//        [--systems setpoint,etcd]
//        [--baseline-server DIR/server.mjs]   (also creates through a server built
//         from other sources, e.g. main's, on the same etcd: before and after in one run)
//        [--rounds N]   (measure every system N times, alternating, and print the
//         median of each one's p50 and rate: on a busy machine one pass says little)

import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { HttpClient, ensureBenchType, timedCalls } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import {
  cpuSeconds,
  etcdStoreEndpoints,
  spawnTracked,
  startEtcd,
  startSetpoint,
  stopChild,
  tsxArgs,
  useEtcdStore,
  waitForUrlLine,
  type ServerHandle,
} from "./lib/procs.ts";
import { note, type Result } from "./lib/report.ts";
import { Histogram } from "./lib/stats.ts";
import { summarizeProfile } from "./profile.ts";

const PAD = "x".repeat(100);

interface Row {
  name: string;
  inflight: number;
  p50: number | null;
  p99: number | null;
  rate: number;
  /** CPU ms per write: Setpoint server, etcd members summed, this process. */
  server: number | null;
  etcd: number;
  client: number;
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

async function measure(name: string, n: number, inflight: number, pids: { server?: number; etcd: number[] }, fn: (i: number) => Promise<void>): Promise<Row> {
  const hist = new Histogram();
  const server0 = pids.server ? cpuSeconds(pids.server) : 0;
  const etcd0 = cpuOf(pids.etcd);
  const client0 = process.cpuUsage();
  const seconds = await timedCalls(hist, n, inflight, 60_000, fn);
  const c = process.cpuUsage(client0);
  const s = hist.summary();
  const per = (sec: number) => Math.round((sec / s.count) * 1e6) / 1e3;
  return {
    name,
    inflight,
    p50: s.p50_ms,
    p99: s.p99_ms,
    rate: Math.round(s.count / seconds),
    server: pids.server ? per(cpuSeconds(pids.server) - server0) : null,
    etcd: per(cpuOf(pids.etcd) - etcd0),
    client: per((c.user + c.system) / 1e6),
  };
}

/** The client URL of the etcd leader among `endpoints`. */
async function leaderOf(endpoints: string[]): Promise<string> {
  for (const url of endpoints) {
    const c = new Etcd3({ hosts: url, faultHandling: { host: () => noop, global: noop } });
    try {
      const st = await c.maintenance.status();
      if (st.leader === st.header.member_id) return url;
    } finally {
      c.close();
    }
  }
  throw new Error("etcd-writes: no member says it is the leader");
}

export async function etcdWrites(o: BenchOptions): Promise<Result[]> {
  const count = intOption(o, "count", 1000);
  const inflight = intOption(o, "inflight", 64);
  const rounds = intOption(o, "rounds", 1);
  const profDir = o.values["cpu-prof-dir"];
  await useEtcdStore(); // the 3-member etcd that startSetpoint's servers run on
  const etcd = await startEtcd();
  const endpoints = etcdStoreEndpoints()!.split(",");
  const leader = await leaderOf(endpoints);
  note(`etcd-writes: leader is member ${endpoints.indexOf(leader)}`);
  const run = randomUUID().slice(0, 8);
  const body = (name: string, i: number) => JSON.stringify({ apiVersion: "bench.setpoint.dev/v1", kind: "Item", metadata: { name }, spec: { i, pad: PAD } });
  // As bench/writes.ts's raw etcd: no retries, no circuit breakers.
  const raw = (hosts: string[]) => new Etcd3({ hosts, faultHandling: { host: () => noop, global: noop } });
  const member0 = raw([endpoints[0]!]);
  const toLeader = raw([leader]);
  const any = raw(endpoints);
  let server: ServerHandle | undefined;
  const baselines: Array<{ bundle: string; handle: ServerHandle; client: HttpClient; items: string }> = [];
  const rows: Row[] = [];
  const windows: Array<{ inflight: number; from: number; to: number }> = [];
  try {
    server = await startSetpoint({ nodeArgs: typeof profDir === "string" ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [] });
    const http = new HttpClient(server.url, { connections: inflight, timeoutMs: 60_000 });
    const items = await ensureBenchType(http, "Item", "items");
    // Baselines: servers built from other sources (say main's), on the same etcd.
    // For scale: the same creates on the embedded LMDB store (one process, no etcd hop), what the REST path costs by itself.
    const lmdb = await startSetpoint({ args: ["--store", "lmdb"] });
    baselines.push({ bundle: "--store lmdb", handle: lmdb, client: new HttpClient(lmdb.url, { connections: inflight, timeoutMs: 60_000 }), items: "" });
    baselines[0]!.items = await ensureBenchType(baselines[0]!.client, "Item", "items");
    // The floor: a bare HTTP server whose POST is one Txn on the leader.
    const floorChild = spawnTracked(process.execPath, tsxArgs("bench/etcd-floor-server.ts", ["--etcd", leader]));
    const floorUrl = await waitForUrlLine(floorChild, "etcd floor server");
    baselines.push({
      bundle: "floor",
      handle: { system: "floor", url: floorUrl, pid: floorChild.pid!, stop: () => stopChild(floorChild) },
      client: new HttpClient(floorUrl, { connections: inflight, timeoutMs: 60_000 }),
      items: "/",
    });
    const baselineBundles = typeof o.values["baseline-server"] === "string" ? o.values["baseline-server"].split(",") : [];
    for (const bundle of baselineBundles) {
      const handle = await startSetpoint({ bundle });
      const client = new HttpClient(handle.url, { connections: inflight, timeoutMs: 60_000 });
      baselines.push({ bundle, handle, client, items: await ensureBenchType(client, "Item", "items") });
    }
    let round = 0;
    const txn = (c: Etcd3, key: string, i: number) =>
      c
        .if(key, "Mod", "==", 0)
        .then(c.put(key).value(body(key, i)))
        .commit();
    const all: Array<{ name: string; system: "etcd" | "setpoint" | "baseline"; fn: (i: number) => Promise<void> }> = [
      { name: "etcd put, member 0", system: "etcd", fn: async (i) => void (await member0.put(`/raw/${run}/a${round}-${i}`).value(body(`a${i}`, i))) },
      { name: "etcd put, leader", system: "etcd", fn: async (i) => void (await toLeader.put(`/raw/${run}/b${round}-${i}`).value(body(`b${i}`, i))) },
      { name: "etcd put, any member", system: "etcd", fn: async (i) => void (await any.put(`/raw/${run}/c${round}-${i}`).value(body(`c${i}`, i))) },
      { name: "etcd txn (mod_revision = 0, put), any member", system: "etcd", fn: async (i) => void (await txn(any, `/raw/${run}/d${round}-${i}`, i)) },
      { name: "etcd txn (mod_revision = 0, put), leader", system: "etcd", fn: async (i) => void (await txn(toLeader, `/raw/${run}/e${round}-${i}`, i)) },
      {
        name: "setpoint create (REST, --store etcd)",
        system: "setpoint",
        fn: async (i) => {
          const res = await http.request("POST", items, body(`s${round}-${i}`, i));
          if (res.status !== 201) throw new Error(`create: ${res.status} ${res.text.slice(0, 200)}`);
        },
      },
    ];
    for (const b of baselines)
      all.push({
        name:
          b.bundle === "--store lmdb"
            ? "setpoint create (REST, --store lmdb, for scale)"
            : b.bundle === "floor"
              ? "floor: bare HTTP server, one Txn on the leader"
              : `setpoint create, baseline ${b.bundle}`,
        system: "baseline",
        fn: async (i) => {
          const res = await b.client.request("POST", b.items, body(`s${round}-${i}`, i));
          if (res.status !== 201) throw new Error(`baseline create: ${res.status} ${res.text.slice(0, 200)}`);
        },
      });
    const systems = all.filter((s) => s.system === "baseline" || o.systems.includes(s.system));
    const pids = { server: server.pid, etcd: etcd.pids ?? (etcd.pid ? [etcd.pid] : []) };
    for (const s of systems) await measure(s.name, Math.min(200, count), 16, { etcd: pids.etcd }, s.fn); // warm-up: connections, JIT
    for (const flight of [1, inflight]) {
      for (let r = 0; r < rounds; r++) {
        round++;
        for (const s of systems) {
          const from = Number(process.hrtime.bigint() / 1000n);
          const serverPid = s.system === "setpoint" ? server.pid : baselines.find((b) => s.name.includes(b.bundle))?.handle.pid;
          const row = await measure(s.name, count, flight, { server: serverPid, etcd: pids.etcd }, s.fn);
          if (s.system === "setpoint") windows.push({ inflight: flight, from, to: Number(process.hrtime.bigint() / 1000n) });
          note(`etcd-writes: ${JSON.stringify(row)}`);
          rows.push(row);
        }
      }
    }
    http.close();
    for (const b of baselines) b.client.close();
  } finally {
    member0.close();
    toLeader.close();
    any.close();
    await server?.stop();
    for (const b of baselines) await b.handle.stop();
  }
  if (typeof profDir === "string") {
    const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
    if (file) {
      const prof = JSON.parse(readFileSync(join(profDir, file), "utf8")) as Parameters<typeof summarizeProfile>[0];
      for (const w of windows) process.stdout.write(`\n### Setpoint server, creates ${w.inflight} in flight\n\n${summarizeProfile(prof, w.from, w.to, 30)}\n`);
    }
  }
  const f = (x: number | null) => (x === null ? "–" : String(x));
  process.stdout.write(
    `\n| writes | in flight | p50 ms | p99 ms | writes/s | CPU ms per write: Setpoint server | etcd (3 members) | client | total |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n` +
      rows
        .map(
          (r) =>
            `| ${r.name} | ${r.inflight} | ${f(r.p50)} | ${f(r.p99)} | ${r.rate} | ${f(r.server)} | ${r.etcd} | ${r.client} | ${Math.round(((r.server ?? 0) + r.etcd + r.client) * 1000) / 1000} |`,
        )
        .join("\n") +
      "\n",
  );
  if (rounds > 1) {
    // Medians over the rounds, and each system's p50 against the raw put to the leader of the same round.
    const median = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    };
    const lines: string[] = [];
    for (const flight of [...new Set([1, inflight])]) {
      const at = rows.filter((r) => r.inflight === flight);
      const leaderPut = at.filter((r) => r.name === "etcd put, leader");
      for (const name of [...new Set(at.map((r) => r.name))]) {
        const mine = at.filter((r) => r.name === name);
        const ratios = mine.map((r, i) => (r.p50 ?? 0) / (leaderPut[i]?.p50 ?? Number.NaN));
        const server = mine.map((r) => r.server).filter((x): x is number => x !== null);
        lines.push(
          `| ${name} | ${flight} | ${median(mine.map((r) => r.p50 ?? 0)).toFixed(3)} | ${leaderPut.length ? `${median(ratios).toFixed(2)}x` : "–"} | ${Math.round(median(mine.map((r) => r.rate)))} | ${server.length ? median(server).toFixed(3) : "–"} |`,
        );
      }
    }
    process.stdout.write(
      `\nMedians over ${rounds} alternating rounds:\n\n| writes | in flight | p50 ms | p50 / leader put (per round) | writes/s | server CPU ms per write |\n| --- | ---: | ---: | ---: | ---: | ---: |\n${lines.join("\n")}\n`,
    );
  }
  return [];
}

runStandalone(import.meta.url, etcdWrites);
