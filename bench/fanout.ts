// Fan-out: one change to many watchers. N watchers, each on its own WebSocket
// (etcd: its own gRPC connection), spread over several worker processes apart
// from the writer (this process) and the server. The writer makes changes
// paced at 10/s, then at 100/s, then a burst as fast as it can (64 in flight).
// Per phase: latency of every delivery (write sent → event received),
// deliveries/s, server CPU seconds (from /proc) per million deliveries, and a
// check that every watcher got every change once, in revision order.
//
//   node --import tsx bench/fanout.ts [--full] [--systems setpoint,etcd,floor]
//        [--watchers 100,1000,3000] [--changes N] [--warmup N] [--watcher-procs 2]
//        [--setpoint-workers 1,2]   (Setpoint also with 2 server processes: every N with --full, the middle N by default)
//        [--setpoint-client sdk|node-http]   (the writer's client; default the SDK's HTTP/1.1 transport, as etcd's is etcd3)
//        [--delivery-log FILE]   (appends one JSON line per change: when it was sent, first and last receipt,
//                                 and the longest sync of a disk probe meanwhile: bench/lib/disk-probe.ts)
//        [--target URL --token T --insecure]
//
// Sizes: --full runs the issue's: 100, 1000, 3000 and 5000 watchers; 200
// changes at 10/s, 200 at 100/s, a burst of 500. The default run (all benches
// in under 5 minutes on 2 cores) keeps 100, 1000 and 3000 watchers but makes
// 50 changes at 10/s and caps the 100/s and burst phases at 300k deliveries
// (1000 watchers: 200 and 300; 3000 watchers: 100 and 100), because etcd's
// watchers, decoded by the etcd3 client, take minutes for 1.5M deliveries.
// Systems: Setpoint, etcd, and the bare-ws floor.
//
// Warm-up: before the measured phases every system gets the same unmeasured
// burst of changes (`--warmup N`; default 500 changes, at most 300k
// deliveries; 0 leaves it out), delivered to every watcher and verified like
// the rest but in no row or total. The benches measure steady state, as the
// writes and reconcile benches do: without it the 10/s phase of a fresh Node
// server (Setpoint's or the floor's) ran the create and watch paths in V8's
// interpreter and baseline tiers, which cost Setpoint about twice the CPU per
// change of the same server warm (0.72 vs 0.32 ms per change in the burst at
// 100 watchers). etcd, compiled ahead of time, has nothing to warm but gets
// the same changes. `--warmup 0` gives the cold figures.

import { randomUUID } from "node:crypto";
import { appendFileSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { WebSocket } from "ws";
import type { Etcd3 } from "etcd3";
import { HttpClient, currentRevision, ensureBenchType, etcdClient, pool, setpointCreator } from "./lib/clients.ts";
import type { PhaseReport, WorkerReport, WorkerStart } from "./lib/fanout-worker.ts";
import { DiskProbe } from "./lib/disk-probe.ts";
import { runStandalone } from "./lib/main.ts";
import { intList, intOption, type BenchOptions, type SystemName } from "./lib/options.ts";
import {
  cpuSeconds,
  peakRssMb,
  remoteSetpoint,
  resetPeakRss,
  spawnTracked,
  startEtcd,
  startFloor,
  startSetpoint,
  stopChild,
  tsxArgs,
  type ServerHandle,
} from "./lib/procs.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { Histogram, nowUs, round } from "./lib/stats.ts";

export interface Phase {
  /** "warm-up" is run, delivered and verified but not measured (no row, not in the totals). */
  name: "warm-up" | "10/s" | "100/s" | "burst";
  /** Writes per second; Infinity = as fast as possible with `BURST_INFLIGHT` in flight. */
  rate: number;
  count: number;
}

const BURST_INFLIGHT = 64;
const PAD = "x".repeat(100);

/** Writes change `seq` to the system under test, stamping `sentAt` just before sending. */
interface Writer {
  write(seq: number): Promise<void>;
  errors: number;
  close(): Promise<void>;
}

interface Target {
  server: ServerHandle;
  /** Worker start message fields for this system. */
  watch: Pick<WorkerStart, "system" | "url" | "headers" | "insecure" | "prefix">;
  writer: Writer;
  cleanup(): Promise<void>;
}

function spec(seq: number): { seq: number; sentAt: number; pad: string } {
  return { seq, sentAt: nowUs(), pad: PAD };
}

async function setpointTarget(o: BenchOptions, hooks: RunHooks): Promise<Target> {
  // A budget of unsent watch bytes above what the burst to 5,000 watchers can
  // leave queued when the two watcher processes fall behind on two cores
  // (past the default, 1 GiB here, the server rightly cuts the furthest
  // behind off, and the run measures the cut-offs instead of the fan-out;
  // cut-offs have their own test and bench/stalled.ts).
  const args = ["--watch-memory-budget", "4Gi"];
  const server = o.target ? remoteSetpoint(o.target, o) : await startSetpoint({ nodeArgs: hooks.serverNodeArgs, workers: hooks.workers, args });
  const client = new HttpClient(server.url, { token: o.token, insecure: o.insecure, ca: o.ca, connections: BURST_INFLIGHT });
  const path = await ensureBenchType(client, "Fanout", "fanouts");
  const run = randomUUID().slice(0, 8);
  const from = await currentRevision(client, path);
  // The writer's creates go through each system's own client (bench/lib/clients.ts): its CPU shares the two cores.
  const creator = setpointCreator(o, server.url, client);
  const writer: Writer = {
    errors: 0,
    async write(seq) {
      const res = await creator.create(path, {
        apiVersion: "bench.setpoint.dev/v1",
        kind: "Fanout",
        metadata: { name: `f-${run}-${seq}`, labels: { "bench-run": run } },
        spec: spec(seq),
      });
      if (res.status !== 201) {
        this.errors++;
        if (this.errors <= 3) note(`setpoint write ${seq}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    },
    async close() {
      creator.close();
      client.close();
    },
  };
  return {
    server,
    watch: { system: "setpoint", url: client.wsUrl(`${path}?resourceVersion=${from}`), headers: client.wsOptions().headers, insecure: o.insecure },
    writer,
    async cleanup() {
      // A deployed server keeps its data: remove this run's objects.
      if (o.target) await client.request("DELETE", `${path}?labelSelector=bench-run%3D${run}`).catch(() => undefined);
      client.close();
    },
  };
}

async function etcdTarget(): Promise<Target> {
  const server = await startEtcd();
  const prefix = `fan/${randomUUID().slice(0, 8)}/`;
  const client: Etcd3 = etcdClient(server.url);
  await client.get("warmup").string();
  const writer: Writer = {
    errors: 0,
    async write(seq) {
      try {
        await client.put(`${prefix}${seq}`).value(JSON.stringify({ metadata: { name: `f-${seq}` }, spec: spec(seq) }));
      } catch (err) {
        this.errors++;
        if (this.errors <= 3) note(`etcd put ${seq}: ${(err as Error).message}`);
      }
    },
    async close() {
      client.close();
    },
  };
  return { server, watch: { system: "etcd", url: server.url, prefix }, writer, cleanup: async () => client.close() };
}

async function floorTarget(hooks: RunHooks): Promise<Target> {
  const server = await startFloor(hooks.serverNodeArgs);
  const wsUrl = server.url.replace(/^http/, "ws");
  const ws = new WebSocket(`${wsUrl}/publish`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const writer: Writer = {
    errors: 0,
    write(seq) {
      return new Promise((resolve) => {
        ws.send(JSON.stringify({ name: `f-${seq}`, spec: spec(seq) }), (err) => {
          if (err) this.errors++;
          resolve();
        });
      });
    },
    async close() {
      ws.terminate();
    },
  };
  return { server, watch: { system: "floor", url: `${wsUrl}/watch` }, writer, cleanup: async () => ws.terminate() };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Writes seq from..to-1 at `rate`/s (or as fast as possible with BURST_INFLIGHT in flight). */
async function writePhase(writer: Writer, rate: number, from: number, to: number): Promise<void> {
  const seqs = Array.from({ length: to - from }, (_, i) => from + i);
  if (!Number.isFinite(rate)) return pool(seqs, BURST_INFLIGHT, (seq) => writer.write(seq));
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();
  for (const seq of seqs) {
    const wait = t0 + ((seq - from) * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    while (pending.size >= BURST_INFLIGHT) await Promise.race(pending);
    const p = writer.write(seq).finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
}

interface Worker {
  child: ChildProcess;
  watchers: number;
  next(type: string): Promise<any>;
  on(type: string, fn: (msg: any) => void): void;
}

function spawnWorker(watchers: number): Worker {
  const child = spawnTracked(process.execPath, tsxArgs("bench/lib/fanout-worker.ts"), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const listeners = new Map<string, Array<(msg: any) => void>>();
  child.on("message", (msg: { type: string }) => {
    for (const fn of listeners.get(msg.type) ?? []) fn(msg);
    if (msg.type === "error") for (const fn of listeners.get("*error") ?? []) fn(msg);
  });
  const on = (type: string, fn: (msg: any) => void) => listeners.set(type, [...(listeners.get(type) ?? []), fn]);
  return {
    child,
    watchers,
    on,
    next(type) {
      return new Promise((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`fan-out worker exited (${code})`));
        child.once("exit", onExit);
        const done = (msg: any) => {
          child.off("exit", onExit);
          listeners.set(
            type,
            (listeners.get(type) ?? []).filter((f) => f !== done),
          );
          listeners.set(
            "*error",
            (listeners.get("*error") ?? []).filter((f) => f !== fail),
          );
          resolve(msg);
        };
        const fail = (msg: { message: string }) => {
          child.off("exit", onExit);
          reject(new Error(msg.message));
        };
        on(type, done);
        on("*error", fail);
      });
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
    }),
  ]);
}

function workerCpu(workers: Worker[]): number {
  let s = 0;
  for (const w of workers) {
    try {
      s += cpuSeconds(w.child.pid!);
    } catch {
      // exited
    }
  }
  return s;
}

/** Extras for bench/profile.ts. */
export interface RunHooks {
  /** Node flags for the server process (Setpoint, floor), e.g. --cpu-prof. */
  serverNodeArgs?: string[];
  /** Setpoint server processes (--workers); default 1. Results of more than one carry `workers` in their params. */
  workers?: number;
  /** Told each phase's window: from the first write sent to the last delivery received (hrtime µs). */
  onPhase?: (name: Phase["name"], startUs: number, endUs: number) => void;
}

/** One system at one N: every phase, then the totals. */
export async function runOne(o: BenchOptions, system: SystemName, n: number, phases: Phase[], procs: number, hooks: RunHooks = {}): Promise<Result[]> {
  // Worker processes load while the server starts.
  const k = Math.max(1, Math.min(procs, n));
  const workersParam: Record<string, number> = system === "setpoint" && (hooks.workers ?? 1) > 1 ? { workers: hooks.workers! } : {};
  const workers: Worker[] = [];
  for (let i = 0; i < k; i++) workers.push(spawnWorker(Math.floor(n / k) + (i < n % k ? 1 : 0)));
  let target: Target;
  try {
    target = system === "setpoint" ? await setpointTarget(o, hooks) : system === "etcd" ? await etcdTarget() : await floorTarget(hooks);
  } catch (err) {
    await Promise.all(workers.map((w) => stopChild(w.child, 1000)));
    throw err;
  }
  const { server, writer } = target;
  const probe = typeof o.values["delivery-log"] === "string" ? new DiskProbe() : undefined;
  try {
    const total = phases.reduce((s, p) => s + p.count, 0);
    const ranges: Array<{ from: number; to: number }> = [];
    let at = 0;
    for (const p of phases) {
      ranges.push({ from: at, to: at + p.count });
      at += p.count;
    }
    const t0 = Date.now();
    const ready = workers.map((w) => withTimeout(w.next("ready"), 180_000, `${system} watchers ready`));
    for (const w of workers) w.child.send({ cmd: "start", ...target.watch, watchers: w.watchers, total, phases: ranges } satisfies WorkerStart);
    await Promise.all(ready);
    note(`fanout ${system} N=${n}: ${n} watchers open in ${Date.now() - t0} ms over ${k} processes`);

    const results: Result[] = [];
    const phaseDone = ranges.map(() => 0);
    const phaseWaiters: Array<() => void> = [];
    for (const w of workers) {
      w.on("phase", (msg: { index: number }) => {
        if (++phaseDone[msg.index]! === workers.length) phaseWaiters[msg.index]?.();
      });
    }
    const perPhase: Array<{ startUs: number; cpu: number | null; watcherCpu: number; rss: number | null; timedOut: boolean }> = [];
    for (let p = 0; p < phases.length; p++) {
      const phase = phases[p]!;
      const expected = n * phase.count;
      const done = new Promise<void>((resolve) => {
        phaseWaiters[p] = resolve;
        if (phaseDone[p] === workers.length) resolve();
      });
      if (server.pid) resetPeakRss(server.pid);
      const cpu0 = server.pid ? cpuSeconds(server.pid) : 0;
      const wcpu0 = workerCpu(workers);
      const startUs = nowUs();
      await writePhase(writer, phase.rate, ranges[p]!.from, ranges[p]!.to);
      // Bounded: assumes at least 5k deliveries/s, plus 20 s.
      const limitMs = 20_000 + expected / 5;
      let timedOut = false;
      await withTimeout(done, limitMs, "phase").catch(() => {
        timedOut = true;
        note(`fanout ${system} N=${n} phase ${phase.name}: not every delivery arrived within ${limitMs} ms`);
      });
      perPhase.push({
        startUs,
        cpu: server.pid ? cpuSeconds(server.pid) - cpu0 : null,
        watcherCpu: workerCpu(workers) - wcpu0,
        rss: server.pid ? peakRssMb(server.pid) : null,
        timedOut,
      });
      await sleep(200);
    }

    const reports: WorkerReport[] = await Promise.all(
      workers.map((w) => {
        const r = withTimeout(w.next("report"), 60_000, "fan-out worker report");
        w.child.send({ cmd: "report" });
        return r;
      }),
    );
    const dup = reports.reduce((s, r) => s + r.duplicates, 0);
    const ooo = reports.reduce((s, r) => s + r.outOfOrder, 0);
    const missing = reports.reduce((s, r) => s + r.missing, 0);
    const closed = reports.reduce((s, r) => s + r.closedEarly, 0);
    const unparsed = reports.reduce((s, r) => s + r.unparsed, 0);
    for (const r of reports) for (const e of r.errors.slice(0, 3)) note(`fanout ${system} N=${n} watcher error: ${e}`);
    const log = o.values["delivery-log"];
    if (typeof log === "string") writeDeliveryLog(log, { system, watchers: n, ...workersParam }, phases, ranges, reports, probe);

    let allDeliveries = 0;
    let warmDeliveries = 0;
    let allCpu = 0;
    let peak = 0;
    for (let p = 0; p < phases.length; p++) {
      const phase = phases[p]!;
      const hist = new Histogram();
      let received = 0;
      let lastUs = 0;
      for (const r of reports) {
        const pr: PhaseReport = r.phases[p]!;
        hist.merge(pr.hist);
        received += pr.received;
        if (pr.lastUs > lastUs) lastUs = pr.lastUs;
      }
      const m = perPhase[p]!;
      const secs = (lastUs - m.startUs) / 1e6;
      hooks.onPhase?.(phase.name, m.startUs, lastUs);
      if (phase.name === "warm-up") {
        warmDeliveries += received;
        continue;
      }
      allDeliveries += received;
      allCpu += m.cpu ?? 0;
      peak = Math.max(peak, m.rss ?? 0);
      const s = hist.summary();
      results.push(
        emit(
          {
            system,
            workload: "fanout",
            params: { watchers: n, phase: phase.name, changes: phase.count, ...workersParam },
            p50_ms: s.p50_ms,
            p99_ms: s.p99_ms,
            max_ms: s.max_ms,
            throughput: secs > 0 ? Math.round(received / secs) : null,
            throughput_unit: "deliveries/s",
            server_cpu_s: round(m.cpu),
            server_peak_rss_mb: m.rss,
            deliveries: received,
            expected: n * phase.count,
            mean_ms: s.mean_ms,
            duration_s: round(secs),
            cpu_s_per_M_deliveries: m.cpu !== null && received > 0 ? round((m.cpu / received) * 1e6) : null,
            watcher_cpu_s: round(m.watcherCpu),
            timed_out: m.timedOut,
          },
          o,
        ),
      );
    }
    const warm = phases.filter((p) => p.name === "warm-up").reduce((s, p) => s + p.count, 0);
    const expectedAll = n * (total - warm);
    // Every change that was written (the warm-up's too) reached every watcher once, in order.
    // (A write that reported an error but was applied all the same, as etcd's "request timed
    // out" can be, still counts: it is in write_errors.)
    const verified = missing === 0 && dup === 0 && ooo === 0 && closed === 0 && unparsed === 0 && allDeliveries === expectedAll && warmDeliveries === n * warm;
    results.push(
      emit(
        {
          system,
          workload: "fanout-total",
          params: { watchers: n, ...workersParam },
          p50_ms: null,
          p99_ms: null,
          max_ms: null,
          throughput: null,
          throughput_unit: "deliveries/s",
          server_cpu_s: server.pid ? round(allCpu) : null,
          server_peak_rss_mb: server.pid ? peak : null,
          deliveries: allDeliveries,
          expected: expectedAll,
          cpu_s_per_M_deliveries: server.pid && allDeliveries > 0 ? round((allCpu / allDeliveries) * 1e6) : null,
          verified,
          missing,
          duplicates: dup,
          out_of_order: ooo,
          closed_early: closed,
          unparsed,
          write_errors: writer.errors,
        },
        o,
      ),
    );
    return results;
  } finally {
    probe?.stop();
    for (const w of workers) w.child.send({ cmd: "exit" });
    await Promise.all(workers.map((w) => stopChild(w.child, 3000)));
    await writer.close();
    await target.cleanup();
    await server.stop();
  }
}

/**
 * Appends one JSON line per change to `file`: its phase and seq, when the
 * writer stamped it (hrtime µs, comparable with the server's and the watcher
 * processes' clocks), per watcher process the first and last receipt, as
 * ms after the stamp, and the longest sync of the disk probe between the stamp
 * and the last receipt. A stall shows as one change late for every watcher
 * (the server, the writer, or the disk: then `diskSyncMs` is about as long) or
 * for one process's watchers only (that process).
 */
function writeDeliveryLog(
  file: string,
  params: Record<string, unknown>,
  phases: Phase[],
  ranges: Array<{ from: number; to: number }>,
  reports: WorkerReport[],
  probe: DiskProbe | undefined,
): void {
  const lines: string[] = [];
  for (let p = 0; p < phases.length; p++) {
    for (let seq = ranges[p]!.from; seq < ranges[p]!.to; seq++) {
      const sentUs = Math.max(...reports.map((r) => r.changes.sentUs[seq] ?? 0));
      const ms = (us: number | undefined) => (us && sentUs ? round((us - sentUs) / 1000) : null);
      const lastUs = Math.max(...reports.map((r) => r.changes.lastUs[seq] ?? 0));
      lines.push(
        JSON.stringify({
          ...params,
          phase: phases[p]!.name,
          seq,
          sentUs,
          firstMs: reports.map((r) => ms(r.changes.firstUs[seq])),
          lastMs: reports.map((r) => ms(r.changes.lastUs[seq])),
          diskSyncMs: probe && sentUs ? round(probe.longestIn(sentUs, lastUs)) : null,
        }),
      );
    }
  }
  appendFileSync(file, lines.join("\n") + "\n");
}

/** Most deliveries per 100/s or burst phase in the default (not --full) run. */
const DEFAULT_PHASE_DELIVERIES = 300_000;

/** Changes of the unmeasured warm-up burst (at most 300k deliveries, at least 20 changes). */
const DEFAULT_WARMUP = 500;

/**
 * The phases for `o` at `n` watchers: an unmeasured warm-up burst (500
 * changes, at most 300k deliveries; `--warmup N`, 0 for none), then with
 * --full the issue's 200 at 10/s, 200 at 100/s and a burst of 500; by default
 * 50 at 10/s, and the 100/s and burst phases capped at 300k deliveries (at
 * 3000 watchers: 100 changes each). `--changes N` sets every measured phase to N.
 */
export function fanoutPhases(o: BenchOptions, n: number): Phase[] {
  const changes = typeof o.values.changes === "string" ? intOption(o, "changes", 20) : undefined;
  const cap = (count: number) => (o.full ? count : Math.max(10, Math.min(count, Math.floor(DEFAULT_PHASE_DELIVERIES / n))));
  const warmup =
    typeof o.values.warmup === "string"
      ? intOption(o, "warmup", DEFAULT_WARMUP)
      : Math.max(20, Math.min(DEFAULT_WARMUP, Math.floor(DEFAULT_PHASE_DELIVERIES / n)));
  return [
    ...(warmup > 0 ? [{ name: "warm-up" as const, rate: Infinity, count: warmup }] : []),
    { name: "10/s", rate: 10, count: changes ?? (o.full ? 200 : 50) },
    { name: "100/s", rate: 100, count: changes ?? cap(200) },
    { name: "burst", rate: Infinity, count: changes ?? cap(500) },
  ];
}

/** Runs fan-out for every N and system in `o`. */
export async function fanout(o: BenchOptions): Promise<Result[]> {
  const ns = intList(o, "watchers", o.full ? [100, 1000, 3000, 5000] : [100, 1000, 3000]);
  const procs = intOption(o, "watcher-procs", 2);
  const systems = o.systems;
  const results: Result[] = [];
  // Setpoint with more worker processes too: at every N with --full, at the middle N by default.
  const moreWorkers = intList(o, "setpoint-workers", [1, 2]).filter((w) => w > 1 && !o.target);
  for (const n of ns) {
    const phases = fanoutPhases(o, n);
    for (const system of systems) {
      note(`fanout ${system} N=${n}: ${phases.map((p) => `${p.count} @ ${p.name}`).join(", ")}`);
      results.push(...(await runOne(o, system, n, phases, procs)));
      if (system !== "setpoint" || !(o.full || n === ns[Math.floor((ns.length - 1) / 2)])) continue;
      for (const workers of moreWorkers) {
        note(`fanout setpoint --workers ${workers} N=${n}`);
        results.push(...(await runOne(o, system, n, phases, procs, { workers })));
      }
    }
  }
  return results;
}

runStandalone(import.meta.url, fanout);
