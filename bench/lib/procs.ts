// Processes a bench starts — the Setpoint server (the esbuild bundle, built
// into a private temp dir so tsx's compile time and CPU are not measured),
// etcd, the bare-ws floor server, client worker processes — and their cleanup.
//
// Contract: every child and temp dir registered here is killed/removed when
// the bench process exits, normally, on an uncaught error, or on SIGINT/SIGTERM.
// Servers listen on 127.0.0.1 only. Server CPU and peak RSS come from /proc.

import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { transformSync } from "esbuild";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let installed = false;

function cleanupSync(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on("exit", cleanupSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      process.stderr.write(`bench: ${signal}: stopping children\n`);
      cleanupSync();
      process.exit(130);
    });
  }
  process.on("uncaughtException", (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    cleanupSync();
    process.exit(1);
  });
  process.on("unhandledRejection", (err) => {
    process.stderr.write(`bench: unhandled rejection: ${(err as Error)?.stack ?? err}\n`);
    cleanupSync();
    process.exit(1);
  });
}

/** A temp dir removed on exit (or by the returned function). */
export function tempDir(prefix: string): string {
  installCleanup();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Spawns a child that is killed when the bench exits. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  installCleanup();
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

/**
 * The argv to run a TypeScript file of this repo in a child node through tsx;
 * under `npm test`, which compiled the tree (SETPOINT_TEST_BUILD,
 * scripts/build-tests.mjs), the compiled file, as test/helpers/node-entry.ts does.
 */
export function tsxArgs(file: string, args: string[] = []): string[] {
  const build = process.env.SETPOINT_TEST_BUILD;
  const compiled = build === undefined ? undefined : join(build, file.replace(/\.ts$/, ".js"));
  if (build !== undefined && compiled !== undefined && existsSync(compiled)) return ["--import", join(build, "source-argv.mjs"), compiled, ...args];
  return ["--import", "tsx", join(ROOT, file), ...args];
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves with the first stdout line of `child` for which `pick` returns a value; rejects on exit or timeout. */
export function waitForLine<T>(child: ChildProcess, pick: (line: string) => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const stderr: string[] = [];
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.join("").length < 8000) stderr.push(d.toString());
    });
    const rl = createInterface({ input: child.stdout! });
    let done = false;
    const finish = (err: Error | undefined, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.off("exit", onExit);
      // Keep draining so the child never blocks on a full pipe.
      rl.removeAllListeners("line");
      rl.on("line", () => {});
      if (err) reject(err);
      else resolve(value as T);
    };
    const onExit = (code: number | null) => finish(new Error(`${what} exited (${code}) before it was ready: ${stderr.join("").slice(-2000)}`));
    const timer = setTimeout(() => finish(new Error(`${what} not ready after ${timeoutMs} ms: ${stderr.join("").slice(-2000)}`)), timeoutMs);
    rl.on("line", (line) => {
      const value = pick(line);
      if (value !== undefined) finish(undefined, value);
    });
    child.once("exit", onExit);
  });
}

// ---------------------------------------------------------------- /proc

let clockTicks: number | undefined;

/** `pid` and every process below it (a server with --workers is a primary and its workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // gone
    }
    for (const task of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        // gone
      }
    }
  }
  return out;
}

/** CPU seconds (user + system) used so far by process `pid` and the processes it started (living ones: a worker's CPU counts while it runs). */
export function cpuSeconds(pid: number): number {
  clockTicks ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) / clockTicks;
    } catch {
      // exited between the listing and the read
    }
  }
  return total;
}

function statusKb(pid: number, field: "VmHWM" | "VmRSS" | "RssAnon" | "RssFile"): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {
      // exited
    }
  }
  return kb;
}

/** Peak resident set size (VmHWM) in MiB since start or the last `resetPeakRss`, summed over `pid` and its children. */
export function peakRssMb(pid: number): number {
  return Math.round(statusKb(pid, "VmHWM") / 102.4) / 10;
}

/** Current resident set size in MiB, summed over `pid` and its children. */
export function rssMb(pid: number): number {
  return Math.round(statusKb(pid, "VmRSS") / 102.4) / 10;
}

/**
 * The two parts of the current RSS in MiB, summed over `pid` and its children:
 * anonymous memory (heaps, buffers) and mapped files (the binary, and LMDB's
 * memory-mapped data file: page cache the kernel can reclaim).
 */
export function rssPartsMb(pid: number): { anon: number; file: number } {
  return { anon: Math.round(statusKb(pid, "RssAnon") / 102.4) / 10, file: Math.round(statusKb(pid, "RssFile") / 102.4) / 10 };
}

/** Resets VmHWM to the current RSS (Linux clear_refs 5) of `pid` and its children; false if not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    for (const p of processTree(pid)) writeFileSync(`/proc/${p}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- servers

/** A server under test: where to reach it and, when local, its pid for /proc figures. */
export interface ServerHandle {
  system: "setpoint" | "etcd" | "floor";
  /** HTTP base URL (Setpoint, floor) or etcd client URL. */
  url: string;
  /** gRPC address host:port (Setpoint with gRPC on). */
  grpc?: string;
  /** Undefined for a remote target: no CPU/RSS figures. */
  pid?: number;
  /** Every process of a cluster (etcd members), for CPU summed across it. */
  pids?: number[];
  token?: string;
  insecure?: boolean;
  stop(): Promise<void>;
}

let bundleDir: string | undefined;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { recursive: true })) {
    const m = statSync(join(dir, String(name))).mtimeMs;
    if (m > newest) newest = m;
  }
  return newest;
}

/**
 * The server bundle to run: built once per bench process from the current
 * sources into a private temp dir (so a stale or concurrently rebuilt dist/
 * never skews a run). SETPOINT_BENCH_SERVER=path overrides it.
 */
export function serverBundle(): string {
  const override = process.env.SETPOINT_BENCH_SERVER;
  if (override) return override;
  if (bundleDir === undefined) {
    const dir = tempDir("setpoint-bench-dist-");
    const t0 = Date.now();
    execFileSync(process.execPath, [join(ROOT, "esbuild.config.mjs"), "--outdir", dir], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    process.stderr.write(
      `bench: built the server bundle in ${Date.now() - t0} ms (sources newest ${new Date(newestMtime(join(ROOT, "src"))).toISOString()})\n`,
    );
    bundleDir = dir;
  }
  return join(bundleDir, "server.mjs");
}

/**
 * Node flags the server runs with wherever it is deployed (deploy/Containerfile's
 * NODE_OPTIONS, the StatefulSets' NODE_OPTIONS, README's command line), so the
 * bench measures it as deployed: V8's young generation at 2 x 8 MiB instead of
 * Node's 2 x 16 (docs/request-path.md, "Memory after 100,000 creates").
 */
export const SERVER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=8"];

export interface SetpointStartOptions {
  grpc?: boolean;
  /** Extra server flags. */
  args?: string[];
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Reuse this data dir (kept on stop) instead of a fresh temp one. */
  dataDir?: string;
  /** Server processes (`--workers`). Default 1. */
  workers?: number;
  /** Run this server bundle instead of one built from the current sources (a baseline, side by side). */
  bundle?: string;
}

/** With `--store etcd`: the 3-member etcd every Setpoint the bench starts runs on (useEtcdStore). */
let sharedEtcd: { handle: ServerHandle; endpoints: string } | undefined;
let etcdPrefixes = 0;

/**
 * For `--store etcd`: starts a 3-member etcd on loopback, which every later
 * startSetpoint runs on (each server on a fresh key prefix, its --workers as
 * that many replicas) and which startEtcd returns as the "etcd" system.
 */
export async function useEtcdStore(): Promise<void> {
  if (sharedEtcd) return;
  const cluster = await startEtcdCluster(3);
  sharedEtcd = { handle: { ...cluster.handle, stop: async () => {} }, endpoints: cluster.endpoints };
  process.once("exit", () => void cluster.handle.stop());
}

/** With `--store etcd`: the client URLs of the shared etcd's members (comma-separated); undefined before useEtcdStore. */
export function etcdStoreEndpoints(): string | undefined {
  return sharedEtcd?.endpoints;
}

/** Starts `node server.mjs` on 127.0.0.1 with a temp data dir; resolves once it logs its URL. */
export async function startSetpoint(options: SetpointStartOptions = {}): Promise<ServerHandle> {
  const dataDir = options.dataDir ?? tempDir("setpoint-bench-data-");
  // A server given its own --store (etcd-writes.ts's LMDB baseline) is not put on the shared etcd.
  const ownStore = options.args?.includes("--store") ?? false;
  const storeArgs =
    sharedEtcd && !ownStore ? ["--store", "etcd", "--etcd-servers", sharedEtcd.endpoints, "--etcd-prefix", `/bench-${process.pid}-${++etcdPrefixes}`] : [];
  const args = [
    ...SERVER_NODE_FLAGS,
    ...(options.nodeArgs ?? []),
    options.bundle ?? serverBundle(),
    "--host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--grpc-port",
    options.grpc ? "0" : "-1",
    "--data-dir",
    dataDir,
    "--log-level",
    "info",
    "--workers",
    String(options.workers ?? 1),
    ...storeArgs,
    ...(options.args ?? []),
  ];
  const child = spawnTracked(process.execPath, args, { cwd: dataDir });
  const info = await waitForLine(
    child,
    (line) => {
      try {
        const j = JSON.parse(line) as { url?: string; grpc?: string | null };
        return typeof j.url === "string" ? j : undefined;
      } catch {
        return undefined;
      }
    },
    "setpoint server",
  );
  return {
    system: "setpoint",
    url: info.url!,
    grpc: info.grpc ?? undefined,
    pid: child.pid!,
    async stop() {
      await stopChild(child, 5000);
      if (options.dataDir === undefined) removeTempDir(dataDir);
    },
  };
}

/** The handle of a deployed Setpoint (`--target`): nothing to start or stop, no /proc figures. */
export function remoteSetpoint(target: URL, o: { token?: string; insecure?: boolean; grpc?: string }): ServerHandle {
  return {
    system: "setpoint",
    url: target.origin + target.pathname.replace(/\/$/, ""),
    grpc: o.grpc,
    token: o.token,
    insecure: o.insecure,
    stop: async () => {},
  };
}

/** Path of the etcd binary; installs Debian's etcd-server when missing and we are root. */
export function ensureEtcd(): string {
  const which = spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  if (process.getuid?.() === 0) {
    process.stderr.write("bench: etcd is missing; installing Debian's etcd-server (apt-get)\n");
    execFileSync("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client"], { stdio: "inherit" });
    const again = spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" });
    if (again.status === 0 && again.stdout.trim()) return again.stdout.trim();
  }
  throw new Error("bench: etcd not found; install it (apt-get install etcd-server etcd-client) or pass --systems setpoint,floor");
}

/** Starts a single-member etcd on 127.0.0.1 with a temp data dir and default durability (with --store etcd: the shared 3-member one). */
export async function startEtcd(): Promise<ServerHandle> {
  if (sharedEtcd) return sharedEtcd.handle;
  const bin = ensureEtcd();
  const dataDir = tempDir("setpoint-bench-etcd-");
  const [client, peer] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawnTracked(bin, [
    "--name",
    "bench",
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    clientUrl,
    "--advertise-client-urls",
    clientUrl,
    "--listen-peer-urls",
    peerUrl,
    "--initial-advertise-peer-urls",
    peerUrl,
    "--initial-cluster",
    `bench=${peerUrl}`,
    "--log-level",
    "warn",
  ]);
  child.stdout?.resume();
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited (${child.exitCode}): ${stderr.slice(-2000)}`);
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === "true") break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`etcd not healthy after 20 s: ${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    system: "etcd",
    url: clientUrl,
    pid: child.pid!,
    async stop() {
      await stopChild(child, 5000);
      removeTempDir(dataDir);
    },
  };
}

let floorScript: string | undefined;

/**
 * bench/floor-server.ts compiled to plain JS (esbuild, no bundling) under
 * node_modules/.cache, so the floor runs without tsx's loader in its memory
 * and still resolves `ws` from node_modules.
 */
function floorServerScript(): string {
  if (floorScript === undefined) {
    const dir = join(ROOT, "node_modules", ".cache", "setpoint-bench");
    mkdirSync(dir, { recursive: true });
    const source = readFileSync(join(ROOT, "bench", "floor-server.ts"), "utf8");
    const sourcefile = join(ROOT, "bench", "floor-server.ts");
    const { code, map } = transformSync(source, { loader: "ts", format: "esm", target: "node20", sourcefile, sourcemap: "external" });
    const file = join(dir, `floor-server-${process.pid}.mjs`);
    writeFileSync(file, code);
    writeFileSync(file + ".map", map);
    process.once("exit", () => {
      rmSync(file, { force: true });
      rmSync(file + ".map", { force: true });
    });
    floorScript = file;
  }
  return floorScript;
}

/** Starts the bare-ws broadcast server (bench/floor-server.ts). */
export async function startFloor(nodeArgs: string[] = []): Promise<ServerHandle> {
  const child = spawnTracked(process.execPath, [...nodeArgs, floorServerScript(), "--port", "0"]);
  const url = await waitForUrlLine(child, "floor server");
  return { system: "floor", url, pid: child.pid!, stop: () => stopChild(child) };
}

/** Resolves with the `url` of the first stdout line of `child` that is a JSON object with one (how the bench's own servers say they listen). */
export function waitForUrlLine(child: ChildProcess, what: string): Promise<string> {
  return waitForLine(
    child,
    (line) => {
      try {
        return (JSON.parse(line) as { url?: string }).url;
      } catch {
        return undefined;
      }
    },
    what,
  );
}

/** True if `path` exists (small helper for optional modules such as src/agent.ts). */
export function exists(path: string): boolean {
  return existsSync(join(ROOT, path));
}

/**
 * Starts an etcd cluster of `size` members on 127.0.0.1 (temp data dirs,
 * default durability). The handle's url is member 0's client URL and its pid
 * member 0's (CPU figures are that member's); `endpoints` lists every member.
 */
export async function startEtcdCluster(size: number): Promise<{ handle: ServerHandle; endpoints: string }> {
  const bin = ensureEtcd();
  const members: Array<{ name: string; client: string; peer: string; dir: string }> = [];
  for (let i = 0; i < size; i++) {
    members.push({
      name: `bench${i}`,
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
      dir: tempDir("setpoint-bench-etcd-"),
    });
  }
  const initial = members.map((m) => `${m.name}=${m.peer}`).join(",");
  const children = members.map((m) => {
    const child = spawnTracked(bin, [
      "--name",
      m.name,
      "--data-dir",
      m.dir,
      "--listen-client-urls",
      m.client,
      "--advertise-client-urls",
      m.client,
      "--listen-peer-urls",
      m.peer,
      "--initial-advertise-peer-urls",
      m.peer,
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      `bench-${process.pid}`,
      "--log-level",
      "warn",
    ]);
    child.stdout?.resume();
    child.stderr?.resume();
    return child;
  });
  const deadline = Date.now() + 30_000;
  for (const m of members) {
    for (;;) {
      try {
        const res = await fetch(`${m.client}/health`, { signal: AbortSignal.timeout(1000) });
        if (((await res.json()) as { health?: string }).health === "true") break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    endpoints: members.map((m) => m.client).join(","),
    handle: {
      system: "etcd",
      url: members[0]!.client,
      pid: children[0]!.pid!,
      pids: children.map((c) => c.pid!),
      async stop() {
        await Promise.all(children.map((c) => stopChild(c, 5000)));
        for (const m of members) removeTempDir(m.dir);
      },
    },
  };
}
