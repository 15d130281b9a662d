// Runs one of bench/'s scripts as a child process, as a user would, and hands
// back its exit code, output and the JSON lines it printed.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "./node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface BenchRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` (e.g. "bench/store-keys.ts") with `args`, killed after `timeoutMs`. */
export function runBench(script: string, args: string[], timeoutMs = 60_000): Promise<BenchRun> {
  return new Promise((done) => {
    execFile(process.execPath, [...nodeEntry(script), ...args], { cwd: REPO, timeout: timeoutMs }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The JSON lines of a bench's standard output. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
