// Command-line options shared by every bench (bench/*.ts and bench/run.ts).
//
// The options are listed in BENCH_HELP below (what --help prints).
// Workload-specific sizes (--watchers 10,100 …) are read by each bench from `values`.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadKubeconfig } from "../../src/kubeconfig.ts";

/** What `--help` prints for every bench entry point. */
export function benchHelp(): string {
  return `Options shared by every bench (npm run bench, or node --import tsx bench/NAME.ts):

  --full              the full sizes, each bench file's header lists them (default: small sizes, all benches < 5 min)
  --systems a,b       which systems to run: setpoint, etcd, floor (default: all the bench knows)
  --target URL        run against a deployed Setpoint; start no server, no etcd, no floor
  --grpc-target H:P   that deployment's gRPC address (agent benches; default: host of --target, port 9090)
  --token T           bearer token for --target
  --insecure          do not verify the target's TLS certificate
  --kubeconfig FILE   take --target, --token, --grpc-target and the CA from a kubeconfig, as kubectl
                      reads it (--context NAME picks a context); flags given win. The CA is trusted
                      by this process and, through NODE_EXTRA_CA_CERTS and
                      GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, by the bench's child processes.
  --table-out FILE    also write the markdown table to FILE
  --json-out FILE     also append every JSON result line to FILE
  --only a,b          npm run bench only: run just these benches (fanout, writes, reconcile, resume, soak, stalled, scale, compaction)
  --setpoint-client sdk|node-http
                      the client Setpoint's measured writes go through (writes, fanout, reconcile): the SDK's
                      HTTP/1.1 transport (default; etcd's go through its client, etcd3), or node:http
  --store lmdb|etcd   the store of the Setpoint servers the bench starts (default lmdb); with etcd,
                      a 3-member etcd on loopback that the servers share and that is also the "etcd"
                      system; --setpoint-workers N then means N replicas (one process each) on it
  -h, --help          print this and exit

Workload sizes, read by the benches that use them (each documented in its bench file):
  ${WORKLOAD_OPTIONS.map((name) => `--${name}`).join(" ")}
`;
}

/**
 * parseBenchArgs for an entry point: prints the help and exits 0 on --help,
 * and prints a one-line error (no stack) and exits 2 on a bad option.
 */
export function benchArgsOrExit(argv: string[]): BenchOptions {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(benchHelp());
    process.exit(0);
  }
  try {
    return parseBenchArgs(argv);
  } catch (err) {
    const message = (err as Error).message.replace(/^bench: /, "");
    process.stderr.write(`bench: ${message}\nRun with --help for the options.\n`);
    process.exit(2);
  }
}

export type SystemName = "setpoint" | "etcd" | "floor";

export interface BenchOptions {
  full: boolean;
  systems: SystemName[];
  target?: URL;
  grpcTarget?: string;
  token?: string;
  insecure: boolean;
  /** PEM of a CA to trust for the target (from --kubeconfig). */
  ca?: Buffer;
  tableOut?: string;
  jsonOut?: string;
  /** The store of the Setpoint servers the bench starts. */
  store: "lmdb" | "etcd";
  /** Every option as given, for workload-specific sizes. */
  values: Record<string, string | boolean | undefined>;
}

const SYSTEMS: SystemName[] = ["setpoint", "etcd", "floor"];

/** Size options the benches read (each documented in its bench file). */
const WORKLOAD_OPTIONS = [
  "watchers",
  "changes",
  "warmup",
  "watcher-procs",
  "count",
  "objects",
  "list-objects",
  "sequential",
  "concurrent",
  "rounds",
  "cache-objects",
  "prof-out",
  "phase",
  "duration",
  "sample-every",
  "write-rate",
  "stallers",
  "agents",
  "inflight",
  "setpoint-workers",
  "scale-objects",
  "compaction-changes",
  "budget",
  "history-window",
  "cpu-prof-dir",
  "delivery-log",
  "baseline-server",
  "setpoint-client",
];

/** Parses argv (without node and script); throws on an unknown option. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const options: Record<string, { type: "string" | "boolean" }> = {
    full: { type: "boolean" },
    systems: { type: "string" },
    target: { type: "string" },
    "grpc-target": { type: "string" },
    token: { type: "string" },
    insecure: { type: "boolean" },
    kubeconfig: { type: "string" },
    context: { type: "string" },
    "table-out": { type: "string" },
    "json-out": { type: "string" },
    only: { type: "string" },
    store: { type: "string" },
  };
  // Workload sizes of every bench, so that run.ts can forward one argv to all.
  for (const name of WORKLOAD_OPTIONS) options[name] = { type: "string" };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  const v = values as Record<string, string | boolean | undefined>;
  let systems = SYSTEMS;
  if (typeof v.systems === "string") {
    systems = v.systems
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean) as SystemName[];
    for (const s of systems) if (!SYSTEMS.includes(s)) throw new RangeError(`bench: unknown system ${JSON.stringify(s)} (known: ${SYSTEMS.join(", ")})`);
  }
  let ca: Buffer | undefined;
  if (typeof v.kubeconfig === "string") {
    const kc = loadKubeconfig({ kubeconfig: v.kubeconfig, context: typeof v.context === "string" ? v.context : undefined });
    if (kc) {
      if (typeof v.target !== "string") v.target = kc.server;
      if (typeof v.token !== "string" && kc.token) v.token = kc.token;
      if (typeof v["grpc-target"] !== "string" && kc.grpcAddress) v["grpc-target"] = kc.grpcAddress;
      if (kc.insecureSkipTlsVerify) v.insecure = true;
      if (kc.ca) {
        ca = kc.ca;
        const file = join(mkdtempSync(join(tmpdir(), "setpoint-bench-ca-")), "ca.crt");
        writeFileSync(file, kc.ca);
        process.env.NODE_EXTRA_CA_CERTS = file;
        process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = file;
      }
    }
  }
  let target: URL | undefined;
  if (typeof v.target === "string") {
    target = new URL(v.target);
    if (target.protocol !== "http:" && target.protocol !== "https:") throw new RangeError(`bench: --target must be http(s)://, got ${v.target}`);
    // Remote runs measure only the deployed Setpoint.
    systems = ["setpoint"];
  }
  const grpcTarget = typeof v["grpc-target"] === "string" ? v["grpc-target"] : target ? `${target.hostname}:9090` : undefined;
  const store = v.store === undefined ? "lmdb" : v.store;
  if (store !== "lmdb" && store !== "etcd") throw new RangeError(`bench: --store must be lmdb or etcd, got ${String(store)}`);
  const client = v["setpoint-client"];
  if (client !== undefined && client !== "sdk" && client !== "node-http")
    throw new RangeError(`bench: --setpoint-client must be sdk or node-http, got ${String(client)}`);
  return {
    store,
    full: v.full === true,
    systems,
    target,
    grpcTarget,
    token: typeof v.token === "string" ? v.token : undefined,
    insecure: v.insecure === true,
    ca,
    tableOut: typeof v["table-out"] === "string" ? v["table-out"] : undefined,
    jsonOut: typeof v["json-out"] === "string" ? v["json-out"] : undefined,
    values: v,
  };
}

/** A comma-separated list of positive integers from option `name`, or `fallback`. */
export function intList(o: BenchOptions, name: string, fallback: number[]): number[] {
  const raw = o.values[name];
  if (typeof raw !== "string") return fallback;
  const list = raw.split(",").map((s) => Number(s.trim()));
  for (const n of list) if (!Number.isInteger(n) || n < 0) throw new RangeError(`bench: --${name} must be non-negative integers, got ${raw}`);
  return list;
}

/** One positive integer from option `name`, or `fallback`. */
export function intOption(o: BenchOptions, name: string, fallback: number): number {
  return intList(o, name, [fallback])[0]!;
}

/**
 * The flags of a bench that runs on its own (not through `npm run bench`):
 * string flags with defaults, those named in `numeric` checked to be numbers
 * >= 0. `--help` prints `usage` and exits 0; an unknown flag or a bad value
 * prints one line and exits 2.
 */
export function standaloneArgs(usage: string, defaults: Record<string, string | undefined>, numeric: readonly string[]): Record<string, string | undefined> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  const fail = (message: string): never => {
    process.stderr.write(`bench: ${message}\nRun with --help for the options.\n`);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    const options = Object.fromEntries(
      Object.entries(defaults).map(([name, value]) => [name, { type: "string" as const, ...(value === undefined ? {} : { default: value }) }]),
    );
    values = parseArgs({ args: argv, options }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  for (const name of numeric) {
    const value = Number(values[name]);
    if (!(Number.isFinite(value) && value >= 0)) fail(`--${name} must be a number >= 0, got ${JSON.stringify(values[name])}`);
  }
  return values as Record<string, string | undefined>;
}
