// Resume: an agent with many objects in its cache restarts. Warm: it restores
// cache and revision from its state directory and resumes the watch from that
// revision (catching up on the changes made while it was down); relist: with
// an empty state directory it lists everything. Measured per start: time
// until its informer reaches the server's revision, bytes exchanged with the
// server (through a counting TCP proxy), and server CPU.
//
//   node --import tsx bench/resume.ts [--full] [--cache-objects 10000]
//        [--target URL --grpc-target HOST:PORT --token T]
//
// Defaults: 10k objects (100k with --full), 100 changes while the agent is
// down, 3 warm restarts and 3 relists. Setpoint only (the SDK's feature).

import { randomUUID } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { BENCH_GROUP, HttpClient, currentRevision, ensureBenchType, pool } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { startCountingProxy } from "./lib/proxy.ts";
import { cpuSeconds, peakRssMb, remoteSetpoint, removeTempDir, spawnTracked, startSetpoint, stopChild, tempDir, tsxArgs } from "./lib/procs.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { Histogram, round } from "./lib/stats.ts";

const REPEATS = 3;
const CHANGES_WHILE_DOWN = 100;
const PAD = "x".repeat(100);

interface Synced {
  ms: number;
  restores: number;
  lists: number;
  cached: number;
}

export async function resume(o: BenchOptions): Promise<Result[]> {
  if (!o.systems.includes("setpoint")) return [];
  const objects = intOption(o, "cache-objects", o.full ? 100_000 : 10_000);
  const server = o.target ? remoteSetpoint(o.target, { ...o, grpc: o.grpcTarget }) : await startSetpoint({ grpc: true });
  if (!server.grpc) throw new Error("resume: the agent needs gRPC (--grpc-target for a remote target)");
  const client = new HttpClient(server.url, { token: o.token, insecure: o.insecure, ca: o.ca, connections: 64 });
  const run = randomUUID().slice(0, 8);
  const plural = `resume${run}`;
  const grpcProxy = await startCountingProxy(server.grpc);
  const httpProxy = await startCountingProxy(new URL(server.url).host);
  const results: Result[] = [];
  const warmDir = tempDir("setpoint-bench-agent-");
  let agent: ChildProcess | undefined;
  try {
    const path = await ensureBenchType(client, "ResumeItem", plural);
    note(`resume: populating ${objects} objects`);
    let t = Date.now();
    await pool(
      Array.from({ length: objects }, (_, i) => i),
      64,
      async (i) => {
        await client.expect(201, "POST", path, { apiVersion: `${BENCH_GROUP}/v1`, kind: "ResumeItem", metadata: { name: `r-${i}` }, spec: { i, pad: PAD } });
      },
    );
    note(`resume: populated in ${Date.now() - t} ms`);

    const start = async (stateDir: string): Promise<{ synced: Synced; bytes: number; cpu: number | null }> => {
      const target = await currentRevision(client, path);
      grpcProxy.reset();
      httpProxy.reset();
      const cpu0 = server.pid ? cpuSeconds(server.pid) : 0;
      const args = {
        url: `${new URL(server.url).protocol}//${httpProxy.address}`,
        grpc: grpcProxy.address,
        token: o.token,
        group: BENCH_GROUP,
        plural,
        namespace: "default",
        stateDir,
        target,
      };
      const child = spawnTracked(process.execPath, tsxArgs("bench/lib/resume-agent.ts", [JSON.stringify(args)]), {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      agent = child;
      const synced = await new Promise<Synced>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("resume: agent did not catch up within 180 s")), 180_000);
        child.once("message", (m: Synced) => {
          clearTimeout(timer);
          resolve(m);
        });
        child.once("exit", (code) => reject(new Error(`resume: agent exited (${code}) before catching up`)));
      });
      const bytes = grpcProxy.down + grpcProxy.up + httpProxy.down + httpProxy.up;
      const cpu = server.pid ? cpuSeconds(server.pid) - cpu0 : null;
      // Graceful stop: the agent flushes its state file.
      await stopChild(child, 10_000);
      agent = undefined;
      if (synced.cached !== objects) throw new Error(`resume: the agent's cache holds ${synced.cached} objects, expected ${objects}`);
      return { synced, bytes, cpu };
    };

    const changeSome = async (round: number) => {
      await pool(
        Array.from({ length: CHANGES_WHILE_DOWN }, (_, i) => i),
        16,
        async (i) => {
          await client.expect(200, "PATCH", `${path}/r-${(round * CHANGES_WHILE_DOWN + i) % objects}`, { spec: { round } }, "application/merge-patch+json");
        },
      );
    };

    note(`resume: first start (fills the state dir)`);
    t = Date.now();
    const first = await start(warmDir);
    note(`resume: first start listed ${first.synced.cached} objects in ${round(first.synced.ms)} ms`);

    const samples = {
      warm: [] as Array<{ synced: Synced; bytes: number; cpu: number | null }>,
      relist: [] as Array<{ synced: Synced; bytes: number; cpu: number | null }>,
    };
    for (let r = 0; r < REPEATS; r++) {
      await changeSome(2 * r);
      const warm = await start(warmDir);
      if (warm.synced.restores !== 1 || warm.synced.lists !== 0)
        note(`resume: a warm start restored ${warm.synced.restores} times and listed ${warm.synced.lists} times`);
      samples.warm.push(warm);
      await changeSome(2 * r + 1);
      const coldDir = tempDir("setpoint-bench-agent-");
      const cold = await start(coldDir);
      removeTempDir(coldDir);
      samples.relist.push(cold);
    }
    for (const mode of ["warm", "relist"] as const) {
      const h = new Histogram();
      for (const s of samples[mode]) h.record(s.synced.ms);
      const sum = h.summary();
      const median = <T>(xs: T[], f: (x: T) => number) => {
        const v = xs.map(f).sort((a, b) => a - b);
        return v[Math.floor(v.length / 2)]!;
      };
      results.push(
        emit(
          {
            system: "setpoint",
            workload: "resume",
            params: { objects, mode },
            p50_ms: sum.p50_ms,
            p99_ms: sum.p99_ms,
            max_ms: sum.max_ms,
            throughput: null,
            throughput_unit: "starts/s",
            server_cpu_s: server.pid ? round(median(samples[mode], (s) => s.cpu ?? 0)) : null,
            server_peak_rss_mb: server.pid ? peakRssMb(server.pid) : null,
            bytes: median(samples[mode], (s) => s.bytes),
            changes_while_down: CHANGES_WHILE_DOWN,
            starts: samples[mode].length,
            lists: samples[mode].reduce((s, x) => s + x.synced.lists, 0),
            restores: samples[mode].reduce((s, x) => s + x.synced.restores, 0),
            samples_ms: samples[mode].map((s) => round(s.synced.ms)),
          },
          o,
        ),
      );
    }
    return results;
  } finally {
    if (agent) await stopChild(agent, 3000);
    if (o.target) await client.request("DELETE", `/apis/setpoint.dev/v1/resourcetypes/${plural}.${BENCH_GROUP}`).catch(() => undefined);
    client.close();
    await grpcProxy.close();
    await httpProxy.close();
    removeTempDir(warmDir);
    await server.stop();
  }
}

runStandalone(import.meta.url, resume);
