// Where one reconcile loop's time goes, stage by stage: the loop of
// bench/reconcile.ts (create → agent sees it → reconcile → status write →
// watcher sees the status), one object at a time, with every step stamped.
// The server runs in this process (durable, as the bench's); the driver (an
// HTTP client and a WebSocket watch, opened before the agent's as in the
// bench) and an agent built with the SDK run in child processes. Stamps are
// process.hrtime (CLOCK_MONOTONIC, one clock for every process on the
// machine), collected at the end. Prints the p50 and p90 of each stage, then
// which stages make the slowest 5% of loops slow.
//
//   node --import tsx bench/reconcile-stages.ts [--count 2000]
//
// Stages: the driver sends the create (D.send); the server's 'request' event
// (S.req.*), the body's end (S.body.*), `store.write` called (S.write), its
// decider run in the write transaction (S.decide, S.decided), the watch hub's pass after
// the commit (S.pump), each WebSocket watcher's events written out (S.flush,
// once per watcher: the driver's first); the agent's WebSocket message
// (A.msg), the informer's handler (A.handler), the reconcile's start
// (A.reconcile), the status PUT written to its socket (A.put); the server's
// side of the PUT; the driver's WebSocket message carrying the status
// (D.msg) and the loop's end (D.seen).
//
// The stamps are monkey patches on each process's objects (http.Server's
// emit, the store's write, the hub's pump, Socket's uncork and write, ws's
// emit): for finding costs, not a benchmark to compare across machines.

import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { pino } from "pino";
import { WebSocket } from "ws";
import { Agent, type ApiObject } from "../src/agent.ts";
import { Informer, type InformerHandlers } from "../src/agent/informer.ts";
import { startServer } from "../src/server.ts";
import type { Decider, ObjectKey } from "../src/store.ts";
import { BENCH_GROUP, HttpClient, ensureBenchType } from "./lib/clients.ts";
import { tempDir } from "./lib/procs.ts";

const PAD = "x".repeat(100);
const WARMUP = 300;
const CHAIN = [
  "D.send",
  "S.req.POST",
  "S.body.POST",
  "S.write",
  "S.decide",
  "S.decided",
  "S.pump",
  "S.flush",
  "S.flush",
  "A.msg",
  "A.handler",
  "A.reconcile",
  "A.put",
  "S.req.PUT",
  "S.body.PUT",
  "S.write",
  "S.decide",
  "S.decided",
  "S.pump",
  "S.flush",
  "D.msg",
  "D.seen",
];

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1]!;
}

type Stamp = [stage: string, us: number];
const stamps: Stamp[] = [];
let measuring = false;
function stamp(stage: string): void {
  if (measuring) stamps.push([stage, Number(process.hrtime.bigint()) / 1000]);
}

/** In a child: starts stamping on "measure", sends its stamps on "dump". */
function childControl(): void {
  process.on("message", (m) => {
    if (m === "measure") measuring = true;
    if (m === "dump") process.send!({ stamps }, () => process.exit(0));
  });
  process.on("disconnect", () => process.exit(0));
}

type Obj = ApiObject<{ seq: number }, { seq?: number; observedGeneration?: number }>;

/** The agent child: the bench's agent (bench/lib/reconcile-agent.ts), stamped. */
async function agent(url: string, grpc: string): Promise<void> {
  childControl();
  const emit = WebSocket.prototype.emit;
  WebSocket.prototype.emit = function (this: WebSocket, event: string | symbol, ...args: unknown[]) {
    if (event === "message") stamp("A.msg");
    return emit.call(this, event, ...args);
  } as typeof emit;
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, data: unknown, ...rest: unknown[]) {
    if (typeof data === "string" && data.startsWith("PUT ")) stamp("A.put");
    return (write as (...a: unknown[]) => boolean).call(this, data, ...rest);
  } as typeof write;
  const addHandlers = Informer.prototype.addHandlers;
  Informer.prototype.addHandlers = function (this: Informer<Obj>, h: InformerHandlers<Obj>) {
    addHandlers.call(this, {
      ...h,
      onAdd: (o) => {
        stamp("A.handler");
        h.onAdd?.(o);
      },
    });
  } as typeof addHandlers;
  const a = new Agent<Obj>({
    name: "bench-stages",
    grpcAddress: grpc,
    httpUrl: url,
    type: { group: BENCH_GROUP, version: "v1", plural: "recons", namespace: "default" },
    claims: false,
    workers: 100,
    shutdownGraceMs: 1000,
    shouldReconcile: (old, o) => old.metadata.generation !== o.metadata.generation,
    onError: (err) => process.stderr.write(`agent: ${(err as Error)?.message ?? err}\n`),
    async reconcile(_key, ctx) {
      stamp("A.reconcile");
      const o = ctx.object;
      if (!o || o.status?.observedGeneration === o.metadata.generation) return;
      await ctx.updateStatus({ seq: o.spec?.seq });
    },
  });
  void a.run(new AbortController().signal);
  await a.informer.waitForSync();
  process.send!("ready");
}

/** The driver child: creates `count` objects one at a time, each after the previous one's status came through its watch. */
async function driver(url: string, count: number): Promise<void> {
  childControl();
  const client = new HttpClient(url, { connections: 100 });
  const path = `/apis/${BENCH_GROUP}/v1/namespaces/default/recons`;
  const ws = new WebSocket(client.wsUrl(`${path}?resourceVersion=1`), client.wsOptions());
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let waiting: { name: string; resolve: () => void } | undefined;
  ws.on("message", (data: Buffer) => {
    const ev = JSON.parse(data.toString()) as { object?: Obj };
    if (ev.object?.status?.seq === undefined) return;
    stamp("D.msg");
    if (waiting && ev.object.metadata.name === waiting.name) waiting.resolve();
  });
  const go = new Promise((resolve) => process.on("message", (m) => m === "go" && resolve(undefined)));
  process.send!("watching");
  await go;
  for (let i = 0; i < WARMUP + count; i++) {
    if (i === WARMUP) {
      measuring = true;
      process.send!("measure");
    }
    const name = `s-${i}`;
    const seen = new Promise<void>((resolve) => (waiting = { name, resolve }));
    stamp("D.send");
    const res = await client.request("POST", path, { apiVersion: `${BENCH_GROUP}/v1`, kind: "Recon", metadata: { name }, spec: { seq: 1, pad: PAD } });
    if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${res.text.slice(0, 200)}`);
    await seen;
    stamp("D.seen");
  }
  process.send!("finished");
}

/** The server's stamps: the HTTP request, the store's write, the hub's pump, the WebSocket flushes. */
function stampServer(server: Awaited<ReturnType<typeof startServer>>): void {
  const emit = http.Server.prototype.emit as (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
    const req = args[0] as http.IncomingMessage;
    if (event === "request" && (req.url ?? "").includes("/recons")) {
      stamp(`S.req.${req.method}`);
      req.once("end", () => stamp(`S.body.${req.method}`));
    }
    return emit.call(this, event, ...args);
  } as typeof http.Server.prototype.emit;
  const store = server.store;
  const write = store.write.bind(store);
  store.write = (key: ObjectKey, decide: Decider) => {
    stamp("S.write");
    return write(key, (current, revision) => {
      stamp("S.decide");
      const decision = decide(current, revision);
      stamp("S.decided");
      return decision;
    });
  };
  const hub = server.hub;
  const pump = hub.pump.bind(hub);
  hub.pump = () => {
    stamp("S.pump");
    pump();
  };
  // WebSocket sockets carry ws's symbol; the watch sinks cork them and uncork once per batch.
  const uncork = net.Socket.prototype.uncork;
  net.Socket.prototype.uncork = function (this: net.Socket) {
    if (this.writableCorked === 1 && Object.getOwnPropertySymbols(this).some((s) => s.description === "websocket")) stamp("S.flush");
    uncork.call(this);
  };
}

/** Per loop (from each D.send), the time of each stage of CHAIN: the first stamp of that stage after the previous one. */
function loops(all: Stamp[]): number[][] {
  all.sort((a, b) => a[1] - b[1]);
  const rows: number[][] = [];
  for (let start = 0; start < all.length; start++) {
    if (all[start]![0] !== "D.send") continue;
    const row = [all[start]![1]];
    let j = start + 1;
    for (let k = 1; k < CHAIN.length && j <= all.length; k++) {
      while (j < all.length && all[j]![0] !== CHAIN[k]) j++;
      if (j < all.length) row.push(all[j++]![1]);
      else j++;
    }
    if (row.length === CHAIN.length) rows.push(row);
  }
  return rows;
}

function report(rows: number[][]): void {
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
  const span = (r: number[], i: number) => r[i]! - r[i - 1]!;
  const total = rows.map((r) => r[r.length - 1]! - r[0]!);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`${rows.length} loops; total p50 ${q(total, 0.5).toFixed(0)} µs, p99 ${q(total, 0.99).toFixed(0)} µs`);
  const cut = q(total, 0.95);
  const slow = rows.filter((r) => r[r.length - 1]! - r[0]! >= cut);
  const p50s = CHAIN.map((_, i) =>
    q(
      rows.map((r) => (i === 0 ? 0 : span(r, i))),
      0.5,
    ),
  );
  const worst = new Map<number, number>();
  for (const r of slow) {
    let at = 1;
    for (let i = 2; i < CHAIN.length; i++) if (span(r, i) - p50s[i]! > span(r, at) - p50s[at]!) at = i;
    worst.set(at, (worst.get(at) ?? 0) + 1);
  }
  out(`${"stage (µs)".padEnd(30)} ${"p50".padStart(6)} ${"p90".padStart(6)}  slowest 5%: mean, loops it is the largest excess in`);
  for (let i = 1; i < CHAIN.length; i++) {
    const xs = rows.map((r) => span(r, i));
    const mean = slow.reduce((a, r) => a + span(r, i), 0) / slow.length;
    out(
      `${`${CHAIN[i - 1]} → ${CHAIN[i]}`.padEnd(30)} ${q(xs, 0.5).toFixed(0).padStart(6)} ${q(xs, 0.9).toFixed(0).padStart(6)}  ${mean.toFixed(0).padStart(6)} ${String(worst.get(i) ?? 0).padStart(4)}`,
    );
  }
}

function until(child: ChildProcess, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (m !== message) return;
      child.off("message", onMessage);
      resolve();
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`stages: a child exited (${code}) before "${message}"`)));
  });
}

async function main(): Promise<void> {
  const role = flag("role", "main");
  if (role === "agent") return agent(flag("url", ""), flag("grpc", ""));
  const count = Number(flag("count", "2000"));
  if (role === "driver") return driver(flag("url", ""), count);

  const dir = tempDir("setpoint-bench-stages-");
  const server = await startServer({ dataDir: dir, httpPort: 0, grpcPort: 0, host: "127.0.0.1" }, { logger: pino({ level: "silent" }) });
  const setup = new HttpClient(server.url);
  await ensureBenchType(setup, "Recon", "recons");
  setup.close();
  stampServer(server);
  const self = new URL(import.meta.url).pathname;
  const spawn = (args: string[]) => fork(self, [...args, "--url", server.url], { execArgv: ["--import", "tsx"] });
  const drv = spawn(["--role", "driver", "--count", String(count)]);
  await until(drv, "watching");
  const agt = spawn(["--role", "agent", "--grpc", `127.0.0.1:${server.grpcPort}`]);
  await until(agt, "ready");
  drv.on("message", (m) => {
    if (m !== "measure") return;
    measuring = true;
    agt.send("measure");
  });
  const finished = until(drv, "finished");
  drv.send("go");
  await finished;
  const all = [...stamps];
  for (const child of [agt, drv]) {
    const got = new Promise<Stamp[]>((resolve) => child.once("message", (m) => resolve((m as { stamps: Stamp[] }).stamps)));
    child.send("dump");
    all.push(...(await got));
  }
  report(loops(all));
  await server.close();
}

void main().then(
  () => {
    if (flag("role", "main") === "main") process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
