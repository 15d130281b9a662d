// Stalled watchers: N WebSocket watchers that never read while creates of
// 10 KiB go in, until every one of them has been cut off. Measures the
// server's peak RSS against its --watch-memory-budget (all watchers' unsent
// bytes together), and how long a /healthz probe waits meanwhile.
//
//   node --import tsx bench/stalled.ts [--watchers 2000,10000] [--budget 256Mi]
//
// The server runs as one process (--workers 1) with --watch-buffer-bytes 16Mi
// (the default), so that the budget, not each watcher's own bound, is what
// cuts them; the watchers are spread over --watcher-procs processes (default
// one per 2,500). Output: one `stalled` JSON line per size, with
// server_peak_rss_mb, the RSS before the writes (idle connections), the
// budget, watchers cut off (by the budget and by their own bound) and the
// worst /healthz wait, as seen by a prober in a process of its own (the
// bench's own event loop is busy with the writes).

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseByteSize } from "../src/cli/flags.ts";
import { HttpClient, ensureBenchType } from "./lib/clients.ts";
import { isMain, runStandalone } from "./lib/main.ts";
import { intList, intOption, type BenchOptions } from "./lib/options.ts";
import { cpuSeconds, peakRssMb, resetPeakRss, rssMb, startSetpoint } from "./lib/procs.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { round } from "./lib/stats.ts";

const CREATE_BYTES = 10 * 1024;

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

/** A child process holding `count` stalled WebSocket watchers on `url`; says "open" when all are, then waits to be killed. */
function holdWatchers(url: string, count: number): Promise<{ kill(): void }> {
  const child = fork(fileURLToPath(import.meta.url), ["--hold", url, String(count)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("message", () => resolve({ kill: () => child.kill("SIGKILL") }));
    child.once("exit", (code) => reject(new Error(`stalled: watcher process exited (${code}) before its watchers were open`)));
  });
}

/**
 * A child process asking `url` (/healthz) every 50 ms, apart from the bench's
 * own busy event loop, so that its worst wait is the server's. Resolves once
 * it has answered its first probe; `stop()` gives the worst wait and the
 * count of probes.
 */
async function startProber(url: string): Promise<{ stop(): Promise<{ worstMs: number; probes: number; failures: number }> }> {
  const child = fork(fileURLToPath(import.meta.url), ["--probe", url], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`stalled: prober exited (${code}) before its first probe`)));
  });
  child.removeAllListeners("exit");
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        child.once("message", (m) => resolve(m as { worstMs: number; probes: number; failures: number }));
        child.once("exit", (code) => reject(new Error(`stalled: prober exited (${code})`)));
        child.send("stop");
      }),
  };
}

async function probe(url: string): Promise<void> {
  const http = await import("node:http");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let worst = 0;
  let probes = 0;
  let failures = 0;
  let stopping = false;
  process.on("message", () => (stopping = true));
  while (!stopping) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) failures++;
            resolve();
          });
        })
        .on("error", () => {
          failures++;
          resolve();
        });
    });
    // The first probe (a new connection, cold code) only says the prober is ready.
    if (probes === 0) process.send?.("ready");
    else worst = Math.max(worst, performance.now() - t0);
    probes++;
    await new Promise((r) => setTimeout(r, 50));
  }
  process.send?.({ worstMs: worst, probes, failures }, () => process.exit(0));
}

async function hold(url: string, count: number): Promise<void> {
  const { WebSocket } = await import("ws");
  const sockets: unknown[] = [];
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from(
        { length: Math.min(100, count - i) },
        () =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(url);
            ws.on("error", () => {});
            ws.once("unexpected-response", (_req, res) => reject(new Error(`watch refused: ${res.statusCode}`)));
            ws.once("open", () => {
              (ws as unknown as { _socket: { pause(): void } })._socket.pause();
              sockets.push(ws);
              resolve();
            });
          }),
      ),
    );
  }
  process.send?.("open");
  await new Promise(() => {});
}

export async function stalled(o: BenchOptions): Promise<Result[]> {
  if (!o.systems.includes("setpoint") || o.target) return [];
  const sizes = intList(o, "watchers", o.full ? [2000, 10_000] : [2000]);
  const budgetText = typeof o.values.budget === "string" ? o.values.budget : "256Mi";
  const budget = parseByteSize(budgetText);
  const results: Result[] = [];
  for (const n of sizes) {
    const server = await startSetpoint({
      args: ["--workers", "1", "--watch-memory-budget", budgetText, "--max-watches-per-user", "0", "--max-watches-per-client", "0", "--no-fsync"],
    });
    const pid = server.pid!;
    const client = new HttpClient(server.url, { connections: 8 });
    const holders: Array<{ kill(): void }> = [];
    try {
      const path = await ensureBenchType(client, "StalledItem", `stalled${n}`);
      const procs = intOption(o, "watcher-procs", Math.max(1, Math.ceil(n / 2500)));
      const wsUrl = server.url.replace(/^http/, "ws") + path;
      const t0 = Date.now();
      holders.push(...(await Promise.all(Array.from({ length: procs }, (_, i) => holdWatchers(wsUrl, Math.floor(n / procs) + (i < n % procs ? 1 : 0))))));
      note(`stalled: ${n} watchers open in ${Date.now() - t0} ms`);
      const idleRss = rssMb(pid);
      resetPeakRss(pid);
      const cpu0 = cpuSeconds(pid);

      const prober = await startProber(`${server.url}/healthz`);
      const payload = "x".repeat(CREATE_BYTES);
      let created = 0;
      const deadline = Date.now() + 600_000;
      let watchers = n;
      while (watchers > 0 && Date.now() < deadline) {
        await Promise.all(Array.from({ length: 50 }, () => client.expect(201, "POST", path, { metadata: { name: `s-${created++}` }, spec: { payload } })));
        watchers = metric((await client.request("GET", "/metrics")).text, "setpoint_watchers");
      }
      const text = (await client.request("GET", "/metrics")).text;
      const probes = await prober.stop();
      const worst = probes.worstMs;
      const r = emit(
        {
          system: "setpoint",
          workload: "stalled",
          params: { watchers: n, budget: budgetText },
          p50_ms: null,
          p99_ms: null,
          max_ms: round(worst),
          throughput: null,
          throughput_unit: "",
          server_cpu_s: round(cpuSeconds(pid) - cpu0),
          server_peak_rss_mb: peakRssMb(pid),
          idle_rss_mb: idleRss,
          budget_mb: round(budget / 2 ** 20, 1),
          creates: created,
          cut_off: metric(text, "setpoint_watchers_cut_off_total"),
          cut_off_budget: metric(text, "setpoint_watchers_cut_off_budget_total"),
          still_open: watchers,
          worst_healthz_ms: round(worst),
          healthz_probes: probes.probes,
          healthz_failures: probes.failures,
        },
        o,
      );
      note(
        `stalled N=${n}: idle RSS ${idleRss} MiB, peak ${r.server_peak_rss_mb} MiB (budget ${budgetText}); ${r.cut_off} cut off (${r.cut_off_budget} by the budget) after ${created} creates; worst /healthz ${round(worst)} ms`,
      );
      results.push(r);
    } finally {
      for (const h of holders) h.kill();
      client.close();
      await server.stop();
    }
  }
  return results;
}

if (process.argv[2] === "--hold") {
  await hold(process.argv[3]!, Number(process.argv[4]));
} else if (process.argv[2] === "--probe") {
  await probe(process.argv[3]!);
} else if (isMain(import.meta.url)) {
  runStandalone(import.meta.url, stalled);
}
