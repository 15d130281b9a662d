// Where one request's server time goes, stage by stage: runs the server in
// this process (`durable: false`, so no fsync, unless --durable) with a client in a child
// process sending one request at a time, and stamps each request as it passes
// the HTTP 'request' event, the end of the API handler's synchronous part,
// the body's end, the API verb, the store write (its call, its decider run in
// the write transaction, its result), the response head and the response's
// 'finish'. Prints the p50 of each stage over the measured requests.
//
//   node --import tsx bench/request-stages.ts [--verb create|get] [--count 4000] [--durable]
//
// The stamps are monkey patches on this process's objects (the server's
// store and verbs, node's http.Server emit): for finding costs, not a
// benchmark to compare across machines.

import { fork } from "node:child_process";
import http from "node:http";
import { pino } from "pino";
import { HttpClient, ensureBenchType } from "./lib/clients.ts";
import { tempDir } from "./lib/procs.ts";
import { startServer } from "../src/server.ts";
import type { Decider, ObjectKey } from "../src/store.ts";
import type { IncomingMessage, ServerResponse } from "node:http";

const PAD = "x".repeat(100);
const WARMUP = 2000;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1]!;
}

/** The client, in the child: WARMUP unmeasured requests, then `count` measured; prints its own p50. */
async function client(url: string, verb: string, count: number): Promise<void> {
  const c = new HttpClient(url, { connections: 1 });
  const items = await ensureBenchType(c, "Item", "items");
  const create = (name: string, i: number) =>
    c.request("POST", items, { apiVersion: "bench.setpoint.dev/v1", kind: "Item", metadata: { name }, spec: { i, pad: PAD } });
  if (verb === "get") for (let i = 0; i < 500; i++) await create(`g-${i}`, i);
  const times: number[] = [];
  for (let i = 0; i < WARMUP + count; i++) {
    if (i === WARMUP) process.send!("measure");
    const t = performance.now();
    const res = verb === "get" ? await c.request("GET", `${items}/g-${i % 500}`) : await create(`p-${i}`, i);
    if (res.status >= 300) throw new Error(`${verb} ${i}: ${res.status} ${res.text.slice(0, 200)}`);
    if (i >= WARMUP) times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(`client round trip p50: ${(times[times.length >> 1]! * 1000).toFixed(0)} µs\n`);
  c.close();
}

async function main(): Promise<void> {
  const verb = flag("verb", "create");
  const count = Number(flag("count", "4000"));
  if (process.argv.includes("--client")) return client(flag("url", ""), verb, count);

  const dir = tempDir("setpoint-bench-stages-");
  // --durable: the write-ahead log and LMDB's sync, as a server runs by default.
  const durable = process.argv.includes("--durable");
  const server = await startServer({ dataDir: dir, httpPort: 0, grpcPort: -1, host: "127.0.0.1", durable }, { logger: pino({ level: "silent" }) });
  const stages = ["request", "handled", "body end", "verb", "store write", "decide", "store result", "head", "finish"] as const;
  type Stage = (typeof stages)[number];
  let at: Partial<Record<Stage, number>> = {};
  const spans = new Map<string, number[]>();
  let measuring = false;
  const stamp = (s: Stage) => {
    at[s] = performance.now();
  };

  const store = server.store;
  const write = store.write.bind(store);
  store.write = (key: ObjectKey, decide: Decider) => {
    stamp("store write");
    return write(key, (current, revision) => {
      stamp("decide");
      return decide(current, revision);
    }).then((r) => {
      stamp("store result");
      return r;
    });
  };
  const resources = server.resources;
  const verbFn = verb === "get" ? resources.get.bind(resources) : resources.create.bind(resources);
  const wrapped = (...args: unknown[]) => {
    stamp("verb");
    return (verbFn as (...a: unknown[]) => Promise<string>)(...args);
  };
  if (verb === "get") resources.get = wrapped as typeof resources.get;
  else resources.create = wrapped as typeof resources.create;

  const emit = http.Server.prototype.emit as (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
    if (event !== "request") return emit.call(this, event, ...args);
    const [req, res] = args as [IncomingMessage, ServerResponse];
    at = {};
    stamp("request");
    req.once("end", () => stamp("body end"));
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...a: Parameters<ServerResponse["writeHead"]>) {
      stamp("head");
      return writeHead.apply(this, a);
    } as ServerResponse["writeHead"];
    res.once("finish", () => {
      stamp("finish");
      if (!measuring || !(req.url ?? "").includes("/items")) return;
      const seen = stages.filter((s) => at[s] !== undefined).sort((a, b) => at[a]! - at[b]!);
      for (let i = 1; i < seen.length; i++) {
        const key = `${seen[i - 1]} → ${seen[i]}`;
        let list = spans.get(key);
        if (!list) spans.set(key, (list = []));
        list.push(at[seen[i]!]! - at[seen[i - 1]!]!);
      }
      let total = spans.get("total (request → finish)");
      if (!total) spans.set("total (request → finish)", (total = []));
      total.push(at.finish! - at.request!);
    });
    const handled = emit.call(this, event, ...args);
    stamp("handled");
    return handled;
  } as typeof http.Server.prototype.emit;

  const child = fork(new URL(import.meta.url).pathname, ["--client", "--url", server.url, "--verb", verb, "--count", String(count)], {
    execArgv: ["--import", "tsx"],
  });
  child.on("message", () => {
    measuring = true;
  });
  await new Promise((resolve) => child.once("exit", resolve));
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]! * 1000;
  process.stdout.write(`server stages of a ${verb}, p50 of ${count} sequential requests (µs):\n`);
  for (const [key, xs] of spans) if (xs.length > count / 2) process.stdout.write(`  ${key.padEnd(32)} ${p50(xs).toFixed(1).padStart(7)}\n`);
  await server.close();
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
