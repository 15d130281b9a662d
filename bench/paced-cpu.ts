// Server CPU per change at paced rates, thread by thread: what the 10/s and
// 100/s phases of bench/fanout.ts cost, without the watcher processes (the
// watchers are WebSockets in this process, which is not measured). Phases:
// the server idle with its watchers open, then creates paced at 10/s, then at
// 100/s, after an unmeasured warm-up of 500 creates at 64 in flight. For each:
// CPU per change (per second when idle) from every thread's
// /proc/PID/task/TID/schedstat (ns, not the 10 ms ticks of /proc/PID/stat),
// and context switches, for the main thread and for the rest together
// (libuv's pool, where lmdb-js's write thread and the log's fdatasync run,
// and V8's workers).
//
//   node --import tsx bench/paced-cpu.ts [--watchers 100] [--count 100]
//        [--duration 10]  (idle seconds; 0 leaves the phase out)
//        [--rounds 1] [--baseline-server A/server.mjs,B/server.mjs]
//
// With --baseline-server each round runs the current build and then every
// bundle given (built by `node esbuild.config.mjs --outdir DIR` at another
// commit), alternating, so that the machine's load falls on both alike.
// Figures of one run move by ±0.3 ms per change on the shared 2-core VM:
// compare medians of several rounds.

import { readdirSync, readFileSync } from "node:fs";
import { WebSocket } from "ws";
import { HttpClient, currentRevision, ensureBenchType, pool } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { serverBundle, startSetpoint } from "./lib/procs.ts";
import { blankResult, emit, note, type Result } from "./lib/report.ts";
import { round } from "./lib/stats.ts";

const PAD = "x".repeat(100);
const WARMUP = 500;

interface Sample {
  /** CPU ms and context switches of the main thread, and of every other thread together. */
  mainMs: number;
  mainCs: number;
  otherMs: number;
  otherCs: number;
}

function sample(pid: number): Sample {
  const s: Sample = { mainMs: 0, mainCs: 0, otherMs: 0, otherCs: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ms = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const cs = Number(/\bvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (Number(tid) === pid) {
        s.mainMs += ms;
        s.mainCs += cs;
      } else {
        s.otherMs += ms;
        s.otherCs += cs;
      }
    } catch {
      // the thread ended
    }
  }
  return s;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One server (the bundle at `bundle`): every phase, one result each. */
async function runOne(o: BenchOptions, bundle: string, label: string): Promise<Result[]> {
  const watchers = intOption(o, "watchers", 100);
  const count = intOption(o, "count", 100);
  const idleS = intOption(o, "duration", 10);
  const server = await startSetpoint({ bundle, args: ["--watch-memory-budget", "4Gi"] });
  const client = new HttpClient(server.url, { connections: 64 });
  const sockets: WebSocket[] = [];
  try {
    const path = await ensureBenchType(client, "Paced", "paceds");
    const from = await currentRevision(client, path);
    let received = 0;
    await Promise.all(
      Array.from(
        { length: watchers },
        () =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(client.wsUrl(`${path}?resourceVersion=${from}`), { headers: client.wsOptions().headers, perMessageDeflate: false });
            ws.on("message", () => received++);
            ws.once("open", () => resolve());
            ws.once("error", reject);
            sockets.push(ws);
          }),
      ),
    );
    let seq = 0;
    const create = async () => {
      const i = seq++;
      const res = await client.request("POST", path, {
        apiVersion: "bench.setpoint.dev/v1",
        kind: "Paced",
        metadata: { name: `p-${i}` },
        spec: { i, pad: PAD },
      });
      if (res.status !== 201) throw new Error(`create ${i}: ${res.status} ${res.text.slice(0, 200)}`);
    };
    /** Every watcher has every change so far (bounded: 30 s). */
    const delivered = async () => {
      const end = Date.now() + 30_000;
      while (received < seq * watchers) {
        if (Date.now() > end) throw new Error(`paced-cpu: ${received} of ${seq * watchers} deliveries after 30 s`);
        await sleep(5);
      }
    };
    await pool([...Array(WARMUP).keys()], 64, create);
    await delivered();
    await sleep(300);

    const results: Result[] = [];
    const record = (phase: string, a: Sample, b: Sample, per: number, unit: string) => {
      const main = (b.mainMs - a.mainMs) / per;
      const other = (b.otherMs - a.otherMs) / per;
      results.push(
        emit(
          {
            ...blankResult("setpoint", "paced-cpu", { watchers, phase, build: label }),
            server_cpu_s: round((b.mainMs - a.mainMs + b.otherMs - a.otherMs) / 1000),
            [`cpu_ms_per_${unit}`]: round(main + other),
            [`main_ms_per_${unit}`]: round(main),
            [`other_threads_ms_per_${unit}`]: round(other),
            [`main_switches_per_${unit}`]: round((b.mainCs - a.mainCs) / per),
            [`other_switches_per_${unit}`]: round((b.otherCs - a.otherCs) / per),
          },
          o,
        ),
      );
    };
    if (idleS > 0) {
      const a = sample(server.pid!);
      await sleep(idleS * 1000);
      record("idle", a, sample(server.pid!), idleS, "s");
    }
    for (const rate of [10, 100]) {
      const a = sample(server.pid!);
      const t0 = performance.now();
      const pending: Array<Promise<void>> = [];
      for (let i = 0; i < count; i++) {
        const wait = t0 + (i * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        pending.push(create());
      }
      await Promise.all(pending);
      await delivered();
      record(`${rate}/s`, a, sample(server.pid!), count, "change");
      await sleep(300);
    }
    return results;
  } finally {
    for (const ws of sockets) ws.terminate();
    client.close();
    await server.stop();
  }
}

export async function pacedCpu(o: BenchOptions): Promise<Result[]> {
  const rounds = intOption(o, "rounds", 1);
  const baselines = typeof o.values["baseline-server"] === "string" ? o.values["baseline-server"].split(",").filter(Boolean) : [];
  const builds = [{ bundle: serverBundle(), label: "current" }, ...baselines.map((b) => ({ bundle: b, label: b }))];
  const results: Result[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const b of builds) {
      note(`paced-cpu round ${r}: ${b.label} (load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]})`);
      results.push(...(await runOne(o, b.bundle, b.label)));
    }
  }
  return results;
}

runStandalone(import.meta.url, pacedCpu);
