#!/usr/bin/env node
// `npm test`: runs test/**/*.test.ts, each file in its own node:test process
// (Node 20's `node --test test/` would silently find no .ts files). The tree is
// first compiled to JavaScript once (scripts/build-tests.mjs, about a second)
// and each file runs from that with plain `node`: loading every module through
// tsx costs about 1.5 s of CPU per process, for each file and each server or
// CLI a test spawns (test/helpers/node-entry.ts). SETPOINT_TEST_TSX=1 runs the
// .ts files through tsx instead, as before.
//
//   npm test                          every test file
//   npm test -- test/cli              files under a directory
//   npm test -- test/cli/flags.test.ts  one file
//   npm test -- watch                 files whose path contains "watch"
//   npm test -- --test-name-pattern=bookmark   options starting with - go to node
//
// Files run SETPOINT_TEST_CONCURRENCY (default 4) at a time: every test uses its
// own temp directory and port 0, and most wait on I/O (on 2 cores, 3 at a time
// left the CPU idle at times once files started without tsx). A file whose source has
// a line `// scripts/test.mjs: run alone (why)` runs with no other file beside
// it (a test that must keep a wall-clock bound). The slowest files start first
// (durations of the last run are kept in node_modules/.cache/; a fresh clone
// uses the seed in scripts/test-times.json), so the run ends about when its
// longest file does. Each file's output is printed when it ends; then totals
// (wall and CPU time) and the slowest files and tests.
// SETPOINT_TEST_CONCURRENCY=1 runs one file at a time, e.g. to time one alone.
//
// Exits 1 with a message when no file matches, so an empty run never passes,
// and when any file fails or ends without reporting.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { buildTests, compiledName } from "./build-tests.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const testDir = join(root, "test");
const timesFile = join(root, "node_modules", ".cache", "setpoint-test-times.json");
const RUN_ALONE = /^\/\/ scripts\/test\.mjs: run alone\b/m;

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith(".test.ts") && !name.split(sep).includes("node_modules"))
    .map((name) => relative(root, join(dir, name)));
}

const args = process.argv.slice(2);
const nodeOptions = args.filter((a) => a.startsWith("-"));
const selectors = args.filter((a) => !a.startsWith("-"));

const all = findTests(testDir).sort();
let files = all;
if (selectors.length > 0) {
  const chosen = new Set();
  for (const selector of selectors) {
    const path = resolve(selector);
    if (existsSync(path) && statSync(path).isDirectory()) {
      for (const f of findTests(path)) chosen.add(f);
    } else if (existsSync(path) && statSync(path).isFile()) {
      chosen.add(relative(root, path));
    } else {
      for (const f of all) if (f.includes(selector)) chosen.add(f);
    }
  }
  files = [...chosen].sort();
}

if (files.length === 0) {
  const what = selectors.length > 0 ? `matching ${selectors.map((s) => JSON.stringify(s)).join(", ")}` : "in test/";
  console.error(`scripts/test.mjs: no test files (*.test.ts) ${what}; refusing to report an empty run as a pass`);
  process.exit(1);
}

const concurrency = Number(process.env.SETPOINT_TEST_CONCURRENCY ?? 4);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`scripts/test.mjs: SETPOINT_TEST_CONCURRENCY must be a positive integer, got ${JSON.stringify(process.env.SETPOINT_TEST_CONCURRENCY)}`);
  process.exit(1);
}

/** Seconds each file took in earlier runs (a hint for the order only): this clone's last run, else the checked-in seed. */
let lastTimes = {};
for (const file of [timesFile, join(root, "scripts", "test-times.json")]) {
  try {
    lastTimes = JSON.parse(readFileSync(file, "utf8"));
    break;
  } catch {}
}
const alone = new Set(files.filter((f) => RUN_ALONE.test(readFileSync(join(root, f), "utf8"))));
// Longest first; files never timed first of all (they may be long).
const queue = [...files].sort((a, b) => (lastTimes[b] ?? Infinity) - (lastTimes[a] ?? Infinity) || a.localeCompare(b));

const reportDir = mkdtempSync(join(tmpdir(), "setpoint-test-"));
// Inside the repository, so that compiled files find node_modules; one per run, so that two runs do not share one.
const useTsx = process.env.SETPOINT_TEST_TSX === "1";
let buildDir;
if (!useTsx) {
  const cache = join(root, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  // A run that was killed (SIGKILL) left its build behind: remove those older than a day.
  for (const name of readdirSync(cache)) {
    const dir = join(cache, name);
    if (name.startsWith("setpoint-test-build-") && Date.now() - statSync(dir).mtimeMs > 86_400_000) rmSync(dir, { recursive: true, force: true });
  }
  buildDir = await buildTests(mkdtempSync(join(cache, "setpoint-test-build-")));
}
// The spec reporter to stdout unless reporters were asked for; each of those without a destination writes to stdout.
const userReporters = nodeOptions.filter((o) => o.startsWith("--test-reporter=")).length;
const userDestinations = nodeOptions.filter((o) => o.startsWith("--test-reporter-destination=")).length;
const reporterOptions =
  userReporters === 0
    ? ["--test-reporter=spec", "--test-reporter-destination=stdout"]
    : Array.from({ length: Math.max(0, userReporters - userDestinations) }, () => "--test-reporter-destination=stdout");
const children = new Set();
const results = [];
const started = performance.now();

function runFile(file) {
  const n = results.length + children.size;
  const summaryPath = join(reportDir, `${n}.json`);
  const cpuPath = join(reportDir, `${n}.cpu`);
  const child = spawn(
    process.execPath,
    [
      ...(useTsx ? ["--import", "tsx"] : ["--enable-source-maps"]),
      "--import",
      join(root, "scripts", "test-cpu.mjs"),
      "--test",
      "--test-timeout=600000",
      ...nodeOptions,
      ...reporterOptions,
      `--test-reporter=${join(root, "scripts", "test-summary-reporter.mjs")}`,
      `--test-reporter-destination=${summaryPath}`,
      useTsx ? file : join(buildDir, compiledName(file)),
    ],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        FORCE_COLOR: process.stdout.isTTY ? "1" : "0",
        SETPOINT_TEST_CPU_FILE: cpuPath,
        ...(buildDir ? { SETPOINT_TEST_BUILD: buildDir } : {}),
      },
    },
  );
  children.add(child);
  const t0 = performance.now();
  const output = [];
  child.stdout.on("data", (d) => output.push(d));
  child.stderr.on("data", (d) => output.push(d));
  return new Promise((done) => {
    child.on("close", (code, signal) => {
      children.delete(child);
      const seconds = (performance.now() - t0) / 1000;
      let summary;
      try {
        summary = JSON.parse(readFileSync(summaryPath, "utf8"));
      } catch {}
      let cpu;
      try {
        cpu = Number(readFileSync(cpuPath, "utf8"));
      } catch {}
      const ok = code === 0 && summary !== undefined && summary.counts.fail === 0;
      const counts = summary ? `${summary.counts.pass} pass, ${summary.counts.fail} fail` : "no report";
      process.stdout.write(
        `\n${ok ? "■ ok" : "■ FAILED"} ${file} (${seconds.toFixed(1)} s${cpu === undefined ? "" : `, ${cpu.toFixed(1)} s CPU`}, ${counts}${signal ? `, killed by ${signal}` : code ? `, exit ${code}` : ""})\n`,
      );
      process.stdout.write(Buffer.concat(output));
      results.push({ file, seconds, cpu, ok, summary });
      done();
    });
  });
}

/** Runs the queue: up to `concurrency` files at a time, a run-alone file with nothing beside it. */
async function runAll() {
  const running = new Set();
  let aloneRunning = false;
  while (queue.length > 0 || running.size > 0) {
    const next = queue.find((f) => !alone.has(f)) ?? queue[0];
    const canStart = next !== undefined && !aloneRunning && (alone.has(next) ? running.size === 0 : running.size < concurrency);
    // Run-alone files wait for the others, which are started first.
    if (canStart) {
      queue.splice(queue.indexOf(next), 1);
      aloneRunning = alone.has(next);
      const p = runFile(next).then(() => {
        running.delete(p);
        if (alone.has(next)) aloneRunning = false;
      });
      running.add(p);
      continue;
    }
    await Promise.race(running);
  }
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
    process.exit(1);
  });
}

await runAll();
rmSync(reportDir, { recursive: true, force: true });
if (buildDir) rmSync(buildDir, { recursive: true, force: true });

const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
for (const r of results) for (const k of Object.keys(total)) total[k] += r.summary?.counts[k] ?? 0;
const wall = (performance.now() - started) / 1000;
const bySlowest = [...results].sort((a, b) => b.seconds - a.seconds);
const tests = results.flatMap((r) => (r.summary?.tests ?? []).map((t) => ({ ...t, file: r.file }))).sort((a, b) => b.ms - a.ms);
const lines = ["", `slowest files (of ${results.length}; ${concurrency} at a time${alone.size ? `, ${alone.size} alone` : ""}):`];
const cpuOf = (r) => (r.cpu === undefined ? "" : `${r.cpu.toFixed(1).padStart(7)} s CPU`);
for (const r of bySlowest.slice(0, 15)) lines.push(`${r.seconds.toFixed(1).padStart(8)} s ${cpuOf(r)}  ${r.file}${alone.has(r.file) ? "  (alone)" : ""}`);
lines.push("slowest tests:");
for (const t of tests.slice(0, 10)) lines.push(`${(t.ms / 1000).toFixed(1).padStart(8)} s  ${t.file}: ${t.name}`);
const failed = results.filter((r) => !r.ok);
lines.push("");
for (const r of failed) lines.push(`FAILED ${r.file}`);
lines.push(
  `# files ${results.length}`,
  ...Object.entries(total).map(([k, v]) => `# ${k} ${v}`),
  `# wall ${wall.toFixed(1)} s`,
  `# cpu ${results.reduce((sum, r) => sum + (r.cpu ?? 0), 0).toFixed(1)} s`,
);
console.log(lines.join("\n"));

try {
  for (const r of results) lastTimes[r.file] = Math.round(r.seconds * 10) / 10;
  mkdirSync(dirname(timesFile), { recursive: true });
  writeFileSync(timesFile, `${JSON.stringify(lastTimes, null, 1)}\n`);
} catch {}
process.exit(failed.length > 0 ? 1 : 0);
