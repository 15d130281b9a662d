// The API path of a request, without the disk: server bundles side by side
// (`--no-fsync`, one worker), in alternating rounds, each measuring p50 of
// sequential creates, GETs of one object and GET /readyz, then server CPU per
// GET and per create at 64 in flight (all threads, from /proc). For A/B runs
// of an old build against a new one on a shared machine: read the rows of one
// run against each other.
//
//   node --import tsx bench/api-path.ts BUNDLE_A [BUNDLE_B …] [--rounds 3] [--count 3000]
//
// A bundle is a `server.mjs` built with `node esbuild.config.mjs --outdir DIR`
// (for an old commit: in a clone at that commit, with node_modules linked).

import { HttpClient, ensureBenchType, pool } from "./lib/clients.ts";
import { cpuSeconds, startSetpoint } from "./lib/procs.ts";

const PAD = "x".repeat(100);

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function sequential(n: number, call: (i: number) => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call(i);
    times.push(performance.now() - t);
  }
  return p50(times);
}

async function round(bundle: string, tag: string, count: number): Promise<void> {
  const server = await startSetpoint({ bundle, args: ["--no-fsync"] });
  const client = new HttpClient(server.url, { connections: 64, timeoutMs: 120_000 });
  try {
    const items = await ensureBenchType(client, "Item", "items");
    const create = async (i: number) => {
      const res = await client.request("POST", items, {
        apiVersion: "bench.setpoint.dev/v1",
        kind: "Item",
        metadata: { name: `p-${i}` },
        spec: { i, pad: PAD },
      });
      if (res.status !== 201) throw new Error(`create ${i}: ${res.status} ${res.text.slice(0, 200)}`);
    };
    const get = async (i: number) => {
      const res = await client.request("GET", `${items}/p-${i % count}`);
      if (res.status !== 200) throw new Error(`get ${i}: ${res.status}`);
    };
    // Warm-up: V8 optimises the paths before anything is measured.
    await pool(
      Array.from({ length: 2000 }, (_, i) => 1_000_000 + i),
      8,
      create,
    );
    for (let i = 0; i < 500; i++) await client.request("GET", `${items}/p-${1_000_000 + i}`);
    const createP50 = await sequential(count, create);
    const getP50 = await sequential(count, get);
    const readyP50 = await sequential(count, async () => {
      await client.request("GET", "/readyz");
    });
    const many = count * 2;
    let cpu0 = cpuSeconds(server.pid!);
    await pool(
      Array.from({ length: many }, (_, i) => i),
      64,
      get,
    );
    const getCpu = cpuSeconds(server.pid!) - cpu0;
    cpu0 = cpuSeconds(server.pid!);
    const t0 = performance.now();
    await pool(
      Array.from({ length: many }, (_, i) => 2_000_000 + i),
      64,
      create,
    );
    const wall = performance.now() - t0;
    const createCpu = cpuSeconds(server.pid!) - cpu0;
    const us = (cpu: number) => ((cpu / many) * 1e6).toFixed(1);
    process.stdout.write(
      `${tag}  sequential p50: create ${createP50.toFixed(3)}, get ${getP50.toFixed(3)}, readyz ${readyP50.toFixed(3)} ms | ` +
        `64 in flight: ${us(getCpu)} µs CPU/get, ${us(createCpu)} µs CPU/create, ${Math.round(many / (wall / 1000))} creates/s\n`,
    );
  } finally {
    client.close();
    await server.stop();
  }
}

const bundles = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
if (bundles.length === 0) {
  process.stderr.write("usage: node --import tsx bench/api-path.ts BUNDLE_A [BUNDLE_B …] [--rounds 3] [--count 3000]\n");
  process.exit(2);
}
const rounds = flag("rounds", 3);
const count = flag("count", 3000);
for (let r = 0; r < rounds; r++) {
  for (const [i, bundle] of bundles.entries()) await round(bundle, String.fromCharCode(65 + i), count);
}
process.exit(0);
