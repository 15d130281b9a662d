#!/usr/bin/env node
// `npm test`: runs test/**/*.test.ts, sorted, one file at a time, through tsx
// (Node 20's `node --test test/` would silently find no .ts files).
//
//   npm test                          every test file
//   npm test -- test/cli              files under a directory
//   npm test -- test/cli/flags.test.ts  one file
//   npm test -- watch                 files whose path contains "watch"
//   npm test -- --test-name-pattern=bookmark   options starting with - go to node
//
// Two files run at a time (each in its own process; every test uses its own
// temp directory and port 0): SETPOINT_TEST_CONCURRENCY=1 runs them one at a
// time, e.g. to time one file alone.
//
// Exits 1 with a message when no file matches, so an empty run never passes.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const testDir = join(root, "test");

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

const concurrency = Number(process.env.SETPOINT_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`scripts/test.mjs: SETPOINT_TEST_CONCURRENCY must be a positive integer, got ${JSON.stringify(process.env.SETPOINT_TEST_CONCURRENCY)}`);
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-timeout=600000", ...nodeOptions, ...files],
  { cwd: root, stdio: "inherit" },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
