// Where a durable create's time goes: runs creates against the Setpoint
// server (one worker) under `node --cpu-prof`, keeps only the samples taken
// while the measured creates ran (after a warm-up), and prints the top
// functions by self time and self time by module, with the server's CPU per
// create. Durability stays on.
//
//   node --import tsx bench/profile-writes.ts [--count 3000] [--inflight 1]
//        [--prof-out FILE]   (also writes the markdown summary to FILE)

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpClient, ensureBenchType, pool } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { cpuSeconds, startSetpoint, tempDir } from "./lib/procs.ts";
import { note, writeMarkdown, type Result } from "./lib/report.ts";
import { summarizeProfile } from "./profile.ts";

const PAD = "x".repeat(100);

export async function profileWrites(o: BenchOptions): Promise<Result[]> {
  const count = intOption(o, "count", 3000);
  const inflight = intOption(o, "inflight", 1);
  const dir = tempDir("setpoint-bench-prof-");
  const server = await startSetpoint({ nodeArgs: ["--cpu-prof", "--cpu-prof-dir", dir] });
  const client = new HttpClient(server.url, { connections: Math.max(1, inflight), timeoutMs: 120_000 });
  const items = await ensureBenchType(client, "Item", "items");
  const create = async (i: number) => {
    const res = await client.request("POST", items, { apiVersion: "bench.setpoint.dev/v1", kind: "Item", metadata: { name: `p-${i}` }, spec: { i, pad: PAD } });
    if (res.status !== 201) throw new Error(`create ${i}: ${res.status} ${res.text.slice(0, 200)}`);
  };
  const warmup = Math.min(500, count);
  await pool(
    Array.from({ length: warmup }, (_, i) => i),
    Math.max(1, inflight),
    create,
  );
  const cpu0 = cpuSeconds(server.pid!);
  const from = Number(process.hrtime.bigint() / 1000n);
  await pool(
    Array.from({ length: count }, (_, i) => warmup + i),
    Math.max(1, inflight),
    create,
  );
  const to = Number(process.hrtime.bigint() / 1000n);
  const cpu = cpuSeconds(server.pid!) - cpu0;
  client.close();
  await server.stop();
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`profile-writes: no profile written in ${dir}`);
  const prof = JSON.parse(readFileSync(join(dir, file), "utf8")) as Parameters<typeof summarizeProfile>[0];
  const md =
    `### setpoint, ${count} durable creates, ${inflight} in flight\n\n` +
    `Server CPU per create: ${((cpu / count) * 1000).toFixed(3)} ms; wall time per create: ${((to - from) / count / 1000).toFixed(3)} ms.\n\n` +
    summarizeProfile(prof, from, to, 25) +
    "\n";
  process.stdout.write("\n" + md);
  const out = o.values["prof-out"];
  if (typeof out === "string") {
    writeMarkdown(out, md, "write-profile");
    note(`wrote ${out}`);
  }
  return [];
}

runStandalone(import.meta.url, profileWrites);
