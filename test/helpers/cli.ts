// Runs the `setpoint` CLI and collects its exit code and output: in this
// process through runCli (src/cli/program.ts) with its own streams and
// environment, as Hono tests call app.request() — the fast default — or from
// source as a child process (node --import tsx src/cli/setpoint.ts) with a
// clean SETPOINT_* environment, for the few smoke tests of the real binary and
// for long-running commands (watch) whose lines a test waits for, each wait
// with a deadline.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/program.ts";
import { nodeEntry } from "./node-entry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const CLI = "src/cli/setpoint.ts";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Written to standard input, which is then closed. */
  input?: string;
  /** Added to the environment (SETPOINT_* from the parent's are removed first). */
  env?: Record<string, string>;
  /** Kill the process after this long. Default 60 s. */
  timeoutMs?: number;
}

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SETPOINT_")) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Runs `setpoint ARGS` in this process (runCli) with `options.env` as its
 * whole environment and `options.input` as its standard input; the result has
 * the shape runSetpoint gives (signal always null). Rejects after
 * `options.timeoutMs` (default 60 s).
 */
export async function runSetpointInProcess(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`setpoint ${args.join(" ")}: no result within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`)),
      timeoutMs,
    );
  });
  const run = runCli(args, {
    out: (text) => void (stdout += `${text}\n`),
    err: (text) => void (stderr += `${text}\n`),
    readStdin: async () => options.input ?? "",
    env: { ...options.env },
    now: () => Date.now(),
    version: "0.0.0-test",
    interrupted: () => new AbortController().signal,
  });
  try {
    const code = await Promise.race([run, deadline]);
    return { code, signal: null, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `setpoint ARGS` and returns the child; stdout and stderr are piped. */
export function spawnSetpoint(args: readonly string[], options: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [...nodeEntry(CLI), ...args], { cwd: root, env: environment(options.env), stdio: "pipe" });
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  return child;
}

/** Runs `setpoint ARGS` to completion. */
export function runSetpoint(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnSetpoint(args, options);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`setpoint ${args.join(" ")}: no exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Collects a child's stdout lines and lets a test wait for one that matches. */
export class LineReader {
  readonly lines: string[] = [];
  #buffer = "";
  #waiters: Array<() => void> = [];

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.#buffer += chunk;
      const parts = this.#buffer.split("\n");
      this.#buffer = parts.pop()!;
      this.lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /**
   * Resolves with the first line (at index `from` or later) that matches;
   * rejects after `timeoutMs` (default 60 s, as the helpers above: a CLI
   * process starting through tsx took over 30 s at load average 26).
   */
  async waitFor(pattern: RegExp, options: { from?: number; timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const found = this.lines.slice(options.from ?? 0).find((l) => pattern.test(l));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line matching ${pattern} within the deadline; lines:\n${this.lines.join("\n")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }
}

/** Waits for a child to exit; resolves with its code and signal. */
export function exited(child: ChildProcess, timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}
