// Reconcile: the time from a declared change to the agent's reported status,
// as the driver (this process) sees it through its own watch. A real agent
// built with the SDK (bench/lib/reconcile-agent.ts, its own process)
// reconciles with no work and writes status; etcd's baseline is a minimal
// watch → get → put-status loop. First `--sequential` objects one at a time
// (create, wait for its status), then `--concurrent` objects changed at once
// for `--rounds` rounds (round 0 creates them, later rounds update spec).
//
//   node --import tsx bench/reconcile.ts [--full] [--systems setpoint,etcd]
//        [--sequential 300] [--concurrent 100] [--rounds 10] [--setpoint-workers 1,3]
//        [--setpoint-client sdk|node-http] [--target URL --grpc-target HOST:PORT --token T] [--cpu-prof-dir DIR]
//
// Defaults: 300 sequential (1,000 with --full), 100 concurrent × 10 rounds.
// The Setpoint agent runs one replica (no leases) with 100 workers, matching
// the etcd loop, which handles every event as it comes. `--setpoint-workers
// 1,3` runs Setpoint again as that many server processes (with --store etcd,
// replicas on one etcd): the driver's writes spread over them, the agent and
// the driver's watch each on one; those results carry `workers`.
// The driver writes through each system's own client: etcd3 for etcd, the
// SDK's HTTP/1.1 transport for Setpoint (`--setpoint-client node-http`:
// node:http's), a whole object each time (PUT, as etcd's put). Setpoint's
// PUT is of the object as the driver's watch last showed it, with its
// resourceVersion, spec changed: what the agent (or anyone) added to it since
// stays, and a copy older than the stored object is a 409, read again and
// retried as a controller would (counted in the row's `driver_conflicts`).
// etcd's put of the whole spec value keeps the agent's status as well: that
// is its own key. Both are one request and one write of the whole object.
// `--cpu-prof-dir DIR` runs Setpoint's server and every agent under
// --cpu-prof, their profiles written to DIR when they exit.

import { randomUUID } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import type { Etcd3 } from "etcd3";
import { WebSocket } from "ws";
import { BENCH_GROUP, HttpClient, currentRevision, ensureBenchType, etcdClient, setpointCreator } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intList, intOption, type BenchOptions, type SystemName } from "./lib/options.ts";
import {
  cpuSeconds,
  peakRssMb,
  remoteSetpoint,
  resetPeakRss,
  spawnTracked,
  startEtcd,
  startSetpoint,
  stopChild,
  tsxArgs,
  type ServerHandle,
} from "./lib/procs.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { Histogram, round } from "./lib/stats.ts";

const PAD = "x".repeat(100);
const WAIT_MS = 10_000;

/** Pending status waits by object name: resolved when the driver's watch shows status.seq === seq. */
class Waiters {
  #map = new Map<string, { seq: number; resolve: () => void }>();

  wait(name: string, seq: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#map.delete(name);
        resolve(false);
      }, WAIT_MS);
      this.#map.set(name, {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      });
    });
  }

  seen(name: string, seq: number | undefined): void {
    const w = this.#map.get(name);
    if (w && w.seq === seq) {
      this.#map.delete(name);
      w.resolve();
    }
  }
}

/** An object as the driver reads it back. */
interface Seen {
  metadata: { name: string; resourceVersion?: string; [k: string]: unknown };
  spec?: unknown;
  [k: string]: unknown;
}

/** How often the driver reads an object again after a 409 before it gives up on a write. */
const CONFLICT_RETRIES = 5;

export interface Driver {
  server: ServerHandle;
  waiters: Waiters;
  /** Declares `spec.seq = seq` for `name` (creating it when `create`), keeping what others added to the object. */
  write(name: string, seq: number, create: boolean): Promise<void>;
  /** Updates answered 409 (a stale copy), each then read again and retried. */
  conflicts(): number;
  agentArgs: Record<string, unknown>;
  close(): Promise<void>;
}

/** Node flags that profile a process into `--cpu-prof-dir`, if given. */
function profArgs(o: BenchOptions): string[] {
  const dir = o.values["cpu-prof-dir"];
  return typeof dir === "string" ? ["--cpu-prof", "--cpu-prof-dir", dir] : [];
}

/** The Setpoint side: the driver's writes over REST and its watch of the bench's type (exported for test/bench/reconcile.test.ts). */
export async function setpointDriver(o: BenchOptions, workers: number): Promise<Driver> {
  const server = o.target ? remoteSetpoint(o.target, { ...o, grpc: o.grpcTarget }) : await startSetpoint({ grpc: true, workers, nodeArgs: profArgs(o) });
  if (!server.grpc) throw new Error("reconcile: the Setpoint agent needs gRPC (--grpc-target for a remote target)");
  const client = new HttpClient(server.url, { token: o.token, insecure: o.insecure, ca: o.ca, connections: 100 });
  // The driver's writes go through each system's own client (bench/lib/clients.ts).
  const creator = setpointCreator(o, server.url, client);
  const path = await ensureBenchType(client, "Recon", "recons");
  const run = randomUUID().slice(0, 8);
  const from = await currentRevision(client, path);
  const waiters = new Waiters();
  // Each object of this run as the watch last showed it, by short name: the copy an update starts from.
  const lastSeen = new Map<string, Seen>();
  let conflicts = 0;
  const ws = new WebSocket(client.wsUrl(`${path}?resourceVersion=${from}`), client.wsOptions());
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.on("message", (data: Buffer) => {
    const ev = JSON.parse(data.toString()) as { type?: string; object?: Seen & { status?: { seq?: number } } };
    const name = ev.object?.metadata?.name;
    // Names on the server carry the run id; waiters use the short name.
    if (!name?.startsWith(`${run}-`)) return;
    const short = name.slice(run.length + 1);
    if (ev.type === "DELETED") lastSeen.delete(short);
    else if (ev.type === "ADDED" || ev.type === "MODIFIED") lastSeen.set(short, ev.object!);
    if (ev.object?.status?.seq !== undefined) waiters.seen(short, ev.object.status.seq);
  });
  /** The object as stored now (after a 409, or before the watch showed it). */
  const read = async (name: string): Promise<Seen> => {
    const res = await client.expect(200, "GET", `${path}/${run}-${name}`);
    return JSON.parse(res.text) as Seen;
  };
  return {
    server,
    waiters,
    async write(name, seq, create) {
      const spec = { seq, pad: PAD };
      if (create) {
        const object = { apiVersion: `${BENCH_GROUP}/v1`, kind: "Recon", metadata: { name: `${run}-${name}`, labels: { "bench-run": run } }, spec };
        const res = await creator.create(path, object);
        if (res.status !== 201) throw new Error(`reconcile: create ${name}: ${res.status} ${res.text.slice(0, 200)}`);
        return;
      }
      // The whole object, as etcd's writer puts its whole value, but the object
      // as last seen with its resourceVersion: an unconditional PUT of the
      // driver's own copy would drop the finalizers, annotations and labels the
      // agent added since. A 409 means a newer object: read it, change its spec, again.
      let base = lastSeen.get(name) ?? (await read(name));
      for (let attempt = 0; ; attempt++) {
        const res = await creator.replace(`${path}/${run}-${name}`, { ...base, spec });
        if (res.status === 200) return;
        if (res.status !== 409 || attempt >= CONFLICT_RETRIES) throw new Error(`reconcile: update ${name}: ${res.status} ${res.text.slice(0, 200)}`);
        conflicts++;
        base = await read(name);
      }
    },
    conflicts: () => conflicts,
    agentArgs: { system: "setpoint", url: server.url, grpc: server.grpc, token: o.token, group: BENCH_GROUP, plural: "recons", namespace: "default" },
    async close() {
      ws.terminate();
      if (o.target) await client.request("DELETE", `${path}?labelSelector=bench-run%3D${run}`).catch(() => undefined);
      creator.close();
      client.close();
    },
  };
}

async function etcdDriver(): Promise<Driver> {
  const server = await startEtcd();
  const prefix = `/recon/${randomUUID().slice(0, 8)}/`;
  const writer: Etcd3 = etcdClient(server.url);
  const watcherClient: Etcd3 = etcdClient(server.url);
  const waiters = new Waiters();
  const statusPrefix = `${prefix}status/`;
  const watcher = await watcherClient.watch().prefix(statusPrefix).create();
  watcher.on("put", (kv) => {
    const name = kv.key.toString().slice(statusPrefix.length);
    waiters.seen(name, (JSON.parse(kv.value.toString()) as { seq?: number }).seq);
  });
  return {
    server,
    waiters,
    async write(name, seq) {
      await writer.put(`${prefix}spec/${name}`).value(JSON.stringify({ metadata: { name }, spec: { seq, pad: PAD } }));
    },
    conflicts: () => 0,
    agentArgs: { system: "etcd", url: server.url, prefix, group: "", plural: "", namespace: "" },
    async close() {
      await watcher.cancel().catch(() => undefined);
      writer.close();
      watcherClient.close();
    },
  };
}

async function startAgent(args: Record<string, unknown>, nodeArgs: string[]): Promise<ChildProcess> {
  const child = spawnTracked(process.execPath, [...nodeArgs, ...tsxArgs("bench/lib/reconcile-agent.ts", [JSON.stringify(args)])], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("reconcile: agent not ready after 60 s")), 60_000);
    child.once("message", () => {
      clearTimeout(timer);
      resolve();
    });
    child.once("exit", (code) => reject(new Error(`reconcile: agent exited (${code}) before it was ready`)));
  });
  return child;
}

/** Runs the sequential and concurrent reconcile workloads against every system in `o`. */
export async function reconcile(o: BenchOptions): Promise<Result[]> {
  const sequential = intOption(o, "sequential", o.full ? 1000 : 300);
  const concurrent = intOption(o, "concurrent", 100);
  const rounds = intOption(o, "rounds", 10);
  const results: Result[] = [];
  const runs: Array<{ system: Exclude<SystemName, "floor">; workers: number }> = [];
  for (const system of o.systems.filter((s): s is Exclude<SystemName, "floor"> => s !== "floor")) {
    runs.push({ system, workers: 1 });
    if (system === "setpoint" && !o.target) for (const workers of intList(o, "setpoint-workers", [1]).filter((w) => w > 1)) runs.push({ system, workers });
  }
  for (const { system, workers } of runs) {
    const workersParam: Record<string, number> = workers > 1 ? { workers } : {};
    const d = system === "setpoint" ? await setpointDriver(o, workers) : await etcdDriver();
    let agent: ChildProcess | undefined;
    try {
      agent = await startAgent(d.agentArgs, profArgs(o));
      const pid = d.server.pid;
      const agentPid = agent.pid!;
      /**
       * Runs `body`, which times each reconcile through `timed` (write, then wait for the
       * driver's watch to show its status), and records one result row with the server's
       * and the agent's CPU over the run.
       */
      const measure = async (
        params: Result["params"],
        body: (timed: (name: string, seq: number, create: boolean) => Promise<void>) => Promise<void>,
      ): Promise<void> => {
        const hist = new Histogram();
        let failures = 0;
        if (pid) resetPeakRss(pid);
        const cpu0 = pid ? cpuSeconds(pid) : 0;
        const acpu0 = cpuSeconds(agentPid);
        const conflicts0 = d.conflicts();
        const t0 = process.hrtime.bigint();
        await body(async (name, seq, create) => {
          const seen = d.waiters.wait(name, seq);
          const s = process.hrtime.bigint();
          await d.write(name, seq, create);
          if (await seen) hist.record(Number(process.hrtime.bigint() - s) / 1e6);
          else failures++;
        });
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = pid ? cpuSeconds(pid) - cpu0 : null;
        const agentCpu = cpuSeconds(agentPid) - acpu0;
        const s = hist.summary();
        results.push(
          emit(
            {
              system,
              workload: "reconcile",
              params,
              p50_ms: s.p50_ms,
              p99_ms: s.p99_ms,
              max_ms: s.max_ms,
              throughput: round(hist.count / seconds, 1),
              throughput_unit: "reconciles/s",
              server_cpu_s: round(cpu),
              server_peak_rss_mb: pid ? peakRssMb(pid) : null,
              agent_cpu_s: round(agentCpu),
              completed: s.count,
              failures,
              ...(system === "setpoint" ? { driver_conflicts: d.conflicts() - conflicts0 } : {}),
            },
            o,
          ),
        );
      };

      // Warm-up (connections, JIT on every side), not measured.
      for (let i = 0; i < 20; i++) {
        const seen = d.waiters.wait(`w-${i}`, 1);
        await d.write(`w-${i}`, 1, true);
        await seen;
      }

      // Sequential: create one object, wait for its status, next.
      const label = workers > 1 ? `${system} (${workers} server processes)` : system;
      note(`reconcile ${label}: ${sequential} sequential`);
      await measure({ mode: "sequential", objects: sequential, ...workersParam }, async (timed) => {
        const deadline = Date.now() + 120_000;
        for (let i = 0; i < sequential && Date.now() < deadline; i++) await timed(`s-${i}`, 1, true);
      });

      // Concurrent: `concurrent` objects changed at once, `rounds` times.
      note(`reconcile ${label}: ${concurrent} concurrent × ${rounds} rounds`);
      await measure({ mode: "concurrent", objects: concurrent, rounds, ...workersParam }, async (timed) => {
        for (let r = 0; r < rounds; r++) {
          await Promise.all(Array.from({ length: concurrent }, (_, i) => timed(`c-${i}`, r, r === 0)));
        }
      });
    } finally {
      if (agent) await stopChild(agent, 3000);
      await d.close();
      await d.server.stop();
    }
  }
  return results;
}

runStandalone(import.meta.url, reconcile);
