// Where the server's time goes under the fan-out burst: runs fan-out at one N
// with the server under `node --cpu-prof`, keeps only the profile samples
// taken during the burst window (from the first burst write to the last
// delivery; V8's profile clock and process.hrtime are both CLOCK_MONOTONIC),
// and prints the top functions by self time, and self time by module.
//
//   node --import tsx bench/profile.ts [--watchers 1000] [--systems setpoint,floor]
//        [--phase burst|10/s|100/s]   (the phase whose window is kept; default burst)
//        [--prof-out FILE]   (also writes the markdown summary to FILE)

import { readdirSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fanoutPhases, runOne } from "./fanout.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { ROOT, tempDir } from "./lib/procs.ts";
import { note, writeMarkdown, type Result } from "./lib/report.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const maps = new Map<string, SourceMap | null>();

/** The source map next to a bundled file (esbuild writes `server.mjs.map`), if any. */
function sourceMapOf(url: string): SourceMap | null {
  if (!maps.has(url)) {
    let map: SourceMap | null = null;
    try {
      map = new SourceMap(JSON.parse(readFileSync(fileURLToPath(url) + ".map", "utf8")));
    } catch {
      // no map: report bundle positions
    }
    maps.set(url, map);
  }
  return maps.get(url)!;
}

/** Repo-relative (or package-relative) path of a source URL. */
function shortPath(url: string): string {
  let u = url.replace(/^file:\/\//, "");
  const nm = u.lastIndexOf("node_modules/");
  if (nm >= 0) return u.slice(nm + "node_modules/".length);
  // esbuild's map sources are relative to the bundle's folder (a temp dir): ../../work/main/src/…
  if (u.startsWith("../")) u = "/" + u.replace(/^(\.\.\/)+/, "");
  return u.startsWith(ROOT + "/") ? u.slice(ROOT.length + 1) : u;
}

/** Where a frame's code comes from: the original source through the bundle's source map when there is one. */
function origin(f: ProfileNode["callFrame"]): { file: string; line: number } {
  if (!f.url) return { file: "", line: 0 };
  if (f.url.startsWith("file:")) {
    const entry = sourceMapOf(f.url)?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
    if (entry?.originalSource) return { file: shortPath(entry.originalSource), line: (entry.originalLine ?? 0) + 1 };
  }
  return { file: shortPath(f.url), line: f.lineNumber + 1 };
}

/** The package (or `src/…` file, node module) a file belongs to. */
function moduleOf(file: string): string {
  if (file.startsWith("node:")) return /^node:internal/.test(file) ? "node internals" : file.split("/")[0]!;
  if (file.startsWith("src/") || file.startsWith("bench/")) return file;
  const parts = file.split("/");
  return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Self time (ms) per function and per module, counting only samples in [fromUs, toUs]. */
export function summarizeProfile(profile: CpuProfile, fromUs: number, toUs: number, top = 15, phase = "burst"): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t > toUs) continue;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const byFn = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const o = origin(f);
    const key = `${f.functionName || "(anonymous)"} ${o.file ? `${o.file}:${o.line}` : ""}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const m = o.file
      ? moduleOf(o.file)
      : f.functionName.startsWith("(") && f.functionName !== "(anonymous)"
        ? f.functionName
        : "(native: syscalls, V8 builtins)";
    byModule.set(m, (byModule.get(m) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / Math.max(1, total)).toFixed(1)}%`;
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `| ${k.replace(/\|/g, "\\|")} | ${(us / 1000).toFixed(0)} | ${pct(us)} |`);
  return [
    `Samples in the ${phase} window: ${(total / 1000).toFixed(0)} ms of ${((toUs - fromUs) / 1000).toFixed(0)} ms wall time.`,
    "",
    "| function (self time) | ms | share |",
    "| --- | ---: | ---: |",
    ...rows(byFn, top),
    "",
    "| module (self time) | ms | share |",
    "| --- | ---: | ---: |",
    ...rows(byModule, 12),
    "",
  ].join("\n");
}

export async function profile(o: BenchOptions): Promise<Result[]> {
  const n = intOption(o, "watchers", 1000);
  const phases = fanoutPhases(o, n);
  const phase = phases.find((p) => p.name === (typeof o.values.phase === "string" ? o.values.phase : "burst"));
  if (!phase) throw new RangeError(`profile: --phase must be one of ${phases.map((p) => p.name).join(", ")}`);
  const systems = o.systems.filter((s) => s !== "etcd");
  const results: Result[] = [];
  let md = "";
  for (const system of systems) {
    const dir = tempDir("setpoint-bench-prof-");
    let window: [number, number] | undefined;
    results.push(
      ...(await runOne(o, system, n, phases, intOption(o, "watcher-procs", 2), {
        serverNodeArgs: ["--cpu-prof", "--cpu-prof-dir", dir],
        onPhase: (name, from, to) => {
          if (name === phase.name) window = [from, to];
        },
      })),
    );
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (!file || !window) {
      note(`profile ${system}: no profile written in ${dir}`);
      continue;
    }
    const prof = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
    if (prof.startTime > window[0] || prof.endTime < window[1])
      note(`profile ${system}: the profile (${prof.startTime}–${prof.endTime} µs) does not cover the ${phase.name} phase (${window[0]}–${window[1]} µs)`);
    const what = phase.name === "burst" ? `burst of ${phase.count}` : `${phase.count} changes at ${phase.name}`;
    md += `### ${system}, ${n} watchers, ${what}\n\n${summarizeProfile(prof, window[0], window[1], 15, phase.name)}\n`;
  }
  process.stdout.write("\n" + md);
  const out = o.values["prof-out"];
  if (typeof out === "string") {
    writeMarkdown(out, md, "profile");
    note(`wrote ${out}`);
  }
  return results;
}

runStandalone(import.meta.url, profile);
