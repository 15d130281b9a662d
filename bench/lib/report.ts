// Bench results: one JSON line per result on stdout, and a markdown table
// that puts Setpoint next to etcd and the bare-ws floor with the ratios the
// issue's targets are stated in (Setpoint/etcd, Setpoint/floor).

import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import type { BenchOptions, SystemName } from "./options.ts";

export interface Result {
  system: SystemName;
  workload: string;
  params: Record<string, string | number | boolean>;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  throughput: number | null;
  /** What `throughput` counts, e.g. "deliveries/s". */
  throughput_unit: string;
  server_cpu_s: number | null;
  server_peak_rss_mb: number | null;
  [extra: string]: unknown;
}

/** A result of `workload` with every standard figure empty; spread what the bench measured over it. */
export function blankResult(system: SystemName, workload: string, params: Result["params"]): Result {
  return {
    system,
    workload,
    params,
    p50_ms: null,
    p99_ms: null,
    max_ms: null,
    throughput: null,
    throughput_unit: "",
    server_cpu_s: null,
    server_peak_rss_mb: null,
  };
}

/** Prints `r` as one JSON line (and appends it to --json-out). */
export function emit(r: Result, o?: BenchOptions): Result {
  const line = JSON.stringify(r);
  process.stdout.write(line + "\n");
  if (o?.jsonOut) appendFileSync(o.jsonOut, line + "\n");
  return r;
}

/** Progress for humans, on stderr so stdout stays JSON lines and the table. */
export function note(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

type Metric =
  | "p50_ms"
  | "p99_ms"
  | "max_ms"
  | "throughput"
  | "cpu_s_per_M_deliveries"
  | "bytes"
  | "server_cpu_s"
  | "server_peak_rss_mb"
  | "list_rss_added_mb"
  | "verified";
type Better = "lower" | "higher";

const METRICS: Array<{ key: Metric; label: (r: Result) => string; better: Better }> = [
  { key: "p50_ms", label: () => "p50 ms", better: "lower" },
  { key: "p99_ms", label: () => "p99 ms", better: "lower" },
  { key: "throughput", label: (r) => r.throughput_unit, better: "higher" },
  { key: "cpu_s_per_M_deliveries", label: () => "server CPU s / M deliveries", better: "lower" },
  { key: "bytes", label: () => "bytes exchanged", better: "lower" },
  { key: "server_cpu_s", label: () => "server CPU s", better: "lower" },
  { key: "server_peak_rss_mb", label: () => "server peak RSS MiB", better: "lower" },
  { key: "list_rss_added_mb", label: () => "RSS the lists added MiB", better: "lower" },
  { key: "verified", label: () => "every change to every watcher once, in order", better: "higher" },
];

/** Which metrics the table shows per workload (all of them are in the JSON lines). */
const SHOWN: Record<string, Metric[]> = {
  fanout: ["p50_ms", "p99_ms", "throughput"],
  "fanout-total": ["cpu_s_per_M_deliveries", "server_peak_rss_mb", "verified"],
  writes: ["p50_ms", "p99_ms", "throughput"],
  list: ["p50_ms", "p99_ms", "server_peak_rss_mb", "list_rss_added_mb"],
  reconcile: ["p50_ms", "p99_ms", "throughput"],
  resume: ["p50_ms", "bytes", "server_cpu_s"],
  soak: ["p99_ms", "throughput", "server_peak_rss_mb"],
  stalled: ["server_peak_rss_mb", "server_cpu_s"],
};

interface Target {
  workload: string;
  when: (p: Result["params"]) => boolean;
  metric: Metric;
  vs: "etcd" | "floor";
  /** Setpoint/vs must be <= factor (lower is better) or >= factor (higher is better). */
  factor: number;
  strict?: boolean;
}

/** The issue's targets, on the rows they govern. */
export const TARGETS: Target[] = [
  { workload: "fanout", when: (p) => p.phase === "10/s" && Number(p.watchers) >= 1000, metric: "p99_ms", vs: "floor", factor: 1.5 },
  { workload: "fanout", when: (p) => p.phase === "10/s" && Number(p.watchers) >= 1000, metric: "p99_ms", vs: "etcd", factor: 1 / 3 },
  { workload: "fanout", when: (p) => p.phase === "burst", metric: "throughput", vs: "etcd", factor: 3 },
  { workload: "fanout-total", when: () => true, metric: "cpu_s_per_M_deliveries", vs: "floor", factor: 1.5 },
  { workload: "reconcile", when: (p) => p.mode === "sequential", metric: "p50_ms", vs: "etcd", factor: 1, strict: true },
  { workload: "reconcile", when: (p) => p.mode === "sequential", metric: "p99_ms", vs: "etcd", factor: 1, strict: true },
  { workload: "reconcile", when: (p) => p.mode === "concurrent", metric: "p50_ms", vs: "etcd", factor: 1, strict: true },
  { workload: "writes", when: (p) => Number(p.inflight) === 64, metric: "throughput", vs: "etcd", factor: 2 },
  { workload: "writes", when: (p) => Number(p.inflight) === 1, metric: "p50_ms", vs: "etcd", factor: 1 },
];

/** Why a row cannot measure the server (the issue asks the table to say so). */
function caveat(r: Result): string {
  if (r.workload !== "fanout") return "";
  const n = Number(r.params.watchers);
  if (r.params.phase === "burst") return "watcher processes can saturate first (watcher_cpu_s)";
  if (r.params.phase === "100/s" && n >= 1000) return "measures the machine: watchers saturate";
  if (r.params.phase === "10/s") return "measures the server";
  return "";
}

function fmt(x: unknown): string {
  if (typeof x === "boolean") return x ? "yes" : "**no**";
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(x >= 1 ? 2 : 3);
}

function paramsText(p: Result["params"]): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}

/** The markdown table of `results`, one row per workload/params/metric, with ratios and targets. */
export function table(results: Result[]): string {
  const groups = new Map<string, Partial<Record<SystemName, Result>>>();
  for (const r of results) {
    const key = `${r.workload}\u0000${JSON.stringify(r.params)}`;
    const g = groups.get(key) ?? {};
    g[r.system] = r;
    groups.set(key, g);
  }
  const lines = [
    "| workload | params | metric | Setpoint | etcd | floor | Setpoint/etcd | Setpoint/floor | target | note |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  // A Setpoint variant (workers=2, client=node-http) is set against etcd and the floor of the same workload without it.
  for (const g of groups.values()) {
    const sp = g.setpoint;
    if (!sp || g.etcd || g.floor || !("workers" in sp.params || "client" in sp.params)) continue;
    const { workers: _w, client: _c, ...base } = sp.params;
    const other = groups.get(`${sp.workload}\u0000${JSON.stringify(base)}`);
    if (other?.etcd) g.etcd = other.etcd;
    if (other?.floor) g.floor = other.floor;
  }
  for (const g of groups.values()) {
    const any = (g.setpoint ?? g.etcd ?? g.floor)!;
    for (const m of METRICS) {
      if (!(SHOWN[any.workload] ?? ["p50_ms", "p99_ms", "throughput"]).includes(m.key)) continue;
      const val = (r: Result | undefined) => (r ? (r[m.key] as number | null | undefined) : undefined);
      if (m.key === "verified") {
        if (g.setpoint?.verified === undefined && g.etcd?.verified === undefined && g.floor?.verified === undefined) continue;
        lines.push(
          `| ${any.workload} | ${paramsText(any.params)} | ${m.label(any)} | ${fmt(g.setpoint?.verified)} | ${fmt(g.etcd?.verified)} | ${fmt(g.floor?.verified)} | | | | ${verifyNote(g)} |`,
        );
        continue;
      }
      const s = val(g.setpoint);
      const e = val(g.etcd);
      const f = val(g.floor);
      if (s == null && e == null && f == null) continue;
      const ratio = (other: number | null | undefined) =>
        typeof s === "number" && typeof other === "number" && other > 0 ? `${(s / other).toFixed(2)}x` : "–";
      const targets = TARGETS.filter((t) => t.workload === any.workload && t.metric === m.key && t.when(any.params));
      const targetText = targets
        .map((t) => {
          const other = t.vs === "etcd" ? e : f;
          const want = m.better === "lower" ? `${t.strict ? "<" : "≤"} ${fmtFactor(t.factor)}x ${t.vs}` : `≥ ${fmtFactor(t.factor)}x ${t.vs}`;
          if (typeof s !== "number" || typeof other !== "number" || other <= 0) return `${want} (n/a)`;
          const r = s / other;
          const ok = m.better === "lower" ? (t.strict ? r < t.factor : r <= t.factor) : r >= t.factor;
          return `${want} ${ok ? "✅" : "❌"}`;
        })
        .join("; ");
      const noteText = [m.key === "p99_ms" || m.key === "throughput" ? caveat(any) : "", errorsNote(g)].filter(Boolean).join("; ");
      lines.push(
        `| ${any.workload} | ${paramsText(any.params)} | ${m.label(any)} | ${fmt(s)} | ${fmt(e)} | ${fmt(f)} | ${ratio(e)} | ${ratio(f)} | ${targetText} | ${noteText} |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** The writes each system of the row refused (its `errors`: that row's own, not a running total), on every line of the row. */
function errorsNote(g: Partial<Record<SystemName, Result>>): string {
  return (Object.entries(g) as Array<[SystemName, Result]>)
    .filter(([, r]) => Number(r.errors) > 0)
    .map(([system, r]) => `${system}: ${r.errors} writes refused`)
    .join("; ");
}

/** What went wrong where a delivery check failed, and writes that failed. */
function verifyNote(g: Partial<Record<SystemName, Result>>): string {
  const parts: string[] = [];
  for (const [system, r] of Object.entries(g) as Array<[SystemName, Result]>) {
    if (r.verified === false) {
      const what = (["missing", "duplicates", "out_of_order", "closed_early", "unparsed"] as const)
        .filter((k) => Number(r[k]) > 0)
        .map((k) => `${k.replace(/_/g, " ")} ${r[k]}`);
      parts.push(`${system}: ${what.join(", ") || `${r.deliveries} of ${r.expected} delivered`}`);
    }
    if (Number(r.write_errors) > 0) parts.push(`${system}: ${r.write_errors} writes answered with an error${r.verified ? " (applied all the same)" : ""}`);
  }
  return parts.join("; ");
}

function fmtFactor(x: number): string {
  return Math.abs(x - 1 / 3) < 1e-9 ? "1/3" : String(x);
}

/**
 * Writes `md` to `file`: between the markers `<!-- bench:SECTION:start -->` and
 * `<!-- bench:SECTION:end -->` if the file has them (so RESULTS.md keeps its
 * prose when a run is repeated), else as the whole file.
 */
export function writeMarkdown(file: string, md: string, section = "table"): void {
  const START = `<!-- bench:${section}:start -->`;
  const END = `<!-- bench:${section}:end -->`;
  let old = "";
  try {
    old = readFileSync(file, "utf8");
  } catch {
    // new file
  }
  const a = old.indexOf(START);
  const b = old.indexOf(END);
  if (a >= 0 && b > a) writeFileSync(file, `${old.slice(0, a + START.length)}\n${md}${old.slice(b)}`);
  else writeFileSync(file, md);
}

/** Prints the table (and writes it, after `header`, to --table-out). */
export function printTable(results: Result[], o: BenchOptions, header = ""): void {
  const md = table(results);
  process.stdout.write("\n" + md);
  if (o.tableOut) writeMarkdown(o.tableOut, header + md);
}
