// Every example in `setpoint --help` (the program's and each command's
// "Example(s):" lines) runs against a real `setpoint up` on free ports, in a
// scratch directory that links to the clone's examples, and must exit 0.
// Addresses are rewritten to the test server (127.0.0.1:8080, 10.0.0.5:8080
// and :9090 alike), --data-dir and --work-dir to scratch folders, and
// --http-port/--grpc-port to 0, so an example never touches the real ones.
// Commands that run until stopped (server, up, agent, watch, get -w) must start, print
// their ready line, and exit 0 on Ctrl-C, as real processes, three at a time.
// Plain commands that end by themselves run in process through runCli; a line
// that needs a shell (a pipe) runs in bash. Applies run first and deletes last.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { runCli } from "../../src/cli/program.ts";
import { exited, LineReader } from "../helpers/cli.ts";
import { nodeEntry } from "../helpers/node-entry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const COMMAND_PATHS = [[], ["server"], ["up"], ["agent"], ["agent", "pipelines"], ["apply"], ["get"], ["describe"], ["delete"], ["watch"], ["wait"], ["logs"]];
const READY: Record<string, RegExp> = { server: /setpoint-server listening/, up: /Setpoint is up/, agent: /pipeline agent \S+ ready/, watch: /^EVENT\s+NAME/ };

/** The ready line of an example that runs until stopped (a long-running command, or get -w), else undefined. */
function readyLine(example: string): RegExp | undefined {
  const command = commandOf(example);
  if (command === "get" && /\s(-w|--watch|--watch-only)(\s|$)/.test(example)) return /^NAME\s/;
  return READY[command];
}

/** The help text of `setpoint ...path --help`, in process. */
async function help(path: string[]): Promise<string> {
  let text = "";
  const code = await runCli([...path, "--help"], {
    out: (t) => (text += `${t}\n`),
    err: (t) => (text += `${t}\n`),
    readStdin: async () => "",
    env: {},
    now: () => Date.now(),
    version: "0.0.0-test",
    interrupted: () => new AbortController().signal,
  });
  assert.equal(code, 0, text);
  return text;
}

/** The `setpoint …` lines under "Example:"/"Examples:" headings. */
export function examplesIn(text: string): string[] {
  const out: string[] = [];
  let inExamples = false;
  for (const line of text.split("\n")) {
    if (/^Examples?:\s*$/.test(line)) inExamples = true;
    else if (line.trim() === "") inExamples = false;
    else if (inExamples && /^\s+\S/.test(line) && /\bsetpoint\s/.test(line)) out.push(line.trim());
  }
  return out;
}

let scratch: string;
let env: NodeJS.ProcessEnv;
let up: ChildProcess;
let url: string;
let grpc: string;
let dirs = 0;

function rewrite(example: string): string {
  return example
    .replace(/http:\/\/(127\.0\.0\.1|10\.0\.0\.5):8080/g, url)
    .replace(/\b(127\.0\.0\.1|10\.0\.0\.5):9090\b/g, grpc)
    .replace(/--(http|grpc)-port \d+/g, "--$1-port 0")
    .replace(/--(data|work)-dir \S+/g, (_m, which: string) => `--${which}-dir ${join(scratch, `${which}-${++dirs}`)}`);
}

/** The example with the flags a long-running command needs to stay off the real ports and folders. */
function isolate(example: string, command: string): string {
  let e = rewrite(example);
  if (command === "server" || command === "up") {
    if (!/--http-port/.test(e)) e += " --http-port 0";
    if (!/--grpc-port/.test(e)) e += " --grpc-port 0";
    if (!/--data-dir/.test(e)) e += ` --data-dir ${join(scratch, `data-${++dirs}`)}`;
  }
  if (command === "agent" && !/--work-dir/.test(e)) e += ` --work-dir ${join(scratch, `work-${++dirs}`)}`;
  return e;
}

function bash(script: string): ChildProcess {
  return spawn("bash", ["-eo", "pipefail", "-c", script], { cwd: scratch, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
}

async function runToEnd(script: string): Promise<{ code: number | null; output: string }> {
  const child = bash(script);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d));
  child.stderr!.on("data", (d: Buffer) => (output += d));
  const { code } = await exited(child, 60_000);
  return { code, output };
}

const commandOf = (example: string) => /setpoint\s+(\S+)/.exec(example)![1]!;

/**
 * Runs a command that ends by itself. A plain `setpoint …` line runs in this
 * process through runCli (the same commands, without a process start each);
 * a line that needs a shell (a pipe) runs in bash, as do the long-running
 * commands below, so the real `setpoint` program is started too.
 */
async function runShort(example: string): Promise<{ code: number | null; output: string }> {
  const line = rewrite(example);
  if (/[|&;<>()$`\\"'*?]/.test(line)) return runToEnd(line);
  let output = "";
  const code = await runCli(line.split(/\s+/).slice(1), {
    out: (t) => (output += `${t}\n`),
    err: (t) => (output += `${t}\n`),
    readStdin: async () => "",
    env: { HOME: scratch, SETPOINT_SERVER: url, SETPOINT_GRPC: grpc },
    now: () => Date.now(),
    version: "0.0.0-test",
    interrupted: () => new AbortController().signal,
  });
  return { code, output };
}

/** Starts a command that runs until stopped; it must print its ready line, then exit 0 on Ctrl-C. */
async function startAndStop(example: string, command: string, ready: RegExp): Promise<void> {
  const child = bash(isolate(example, command));
  const lines = new LineReader(child.stdout!);
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  try {
    await lines.waitFor(ready, { timeoutMs: 60_000 });
  } catch (error) {
    process.kill(-child.pid!, "SIGKILL");
    throw new Error(`${example}: ${(error as Error).message}\nstderr:\n${err}`);
  }
  process.kill(-child.pid!, "SIGINT");
  const { code } = await exited(child, 60_000);
  assert.equal(code, 0, `${example} did not exit 0 on Ctrl-C\n${lines.lines.join("\n")}\n${err}`);
}

let examples: string[] = [];

describe("every example in setpoint --help", () => {
  before(async () => {
    const texts = await Promise.all(COMMAND_PATHS.map(help));
    examples = [...new Set(texts.flatMap(examplesIn))];
    scratch = mkdtempSync(join(tmpdir(), "setpoint-help-"));
    for (const f of ["package.json", "node_modules", "examples"]) symlinkSync(join(root, f), join(scratch, f));
    const bin = join(scratch, "bin");
    mkdirSync(bin);
    const entry = nodeEntry(join(root, "src/cli/setpoint.ts"));
    writeFileSync(join(bin, "setpoint"), `#!/bin/sh\nexec "${process.execPath}" ${entry.map((arg) => `"${arg}"`).join(" ")} "$@"\n`);
    chmodSync(join(bin, "setpoint"), 0o755);
    writeFileSync(
      join(scratch, "run.yaml"),
      "apiVersion: ci.setpoint.dev/v1\nkind: PipelineRun\nmetadata: {name: from-stdin}\nspec: {tasks: [{name: hi, run: 'echo hi'}]}\n",
    );
    env = { PATH: `${bin}:${process.env.PATH}`, HOME: scratch, TERM: "dumb" };
    up = bash(`setpoint up --http-port 0 --grpc-port 0 --data-dir ${join(scratch, "up-data")}`);
    const banner = await new LineReader(up.stdout!).waitFor(/API\s+http:\/\/127\.0\.0\.1:\d+/, { timeoutMs: 60_000 });
    const m = /API\s+(http:\/\/127\.0\.0\.1:\d+)\s+gRPC (127\.0\.0\.1:\d+)/.exec(banner)!;
    url = m[1]!;
    grpc = m[2]!;
    env = { ...env, SETPOINT_SERVER: url, SETPOINT_GRPC: grpc };
  });

  after(async () => {
    if (up?.pid !== undefined && up.exitCode === null) {
      process.kill(-up.pid, "SIGINT");
      await exited(up, 60_000);
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("finds the examples: at least one for every command that has them", () => {
    for (const cmd of ["server", "up", "agent", "apply", "get", "describe", "delete", "watch", "wait", "logs"]) {
      assert.ok(
        examples.some((e) => commandOf(e) === cmd),
        `no --help example for setpoint ${cmd}`,
      );
    }
  });

  it("applies first: every apply example exits 0, and the runs finish", async () => {
    for (const e of examples.filter((x) => commandOf(x) === "apply")) {
      const r = await runShort(e);
      assert.equal(r.code, 0, `${e}\n${r.output}`);
    }
    const deadline = Date.now() + 60_000;
    for (const name of ["diamond", "flaky"]) {
      for (;;) {
        const res = await fetch(`${url}/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns/${name}`);
        const phase = ((await res.json()) as { status?: { phase?: string } }).status?.phase;
        if (phase === "Succeeded") break;
        assert.ok(Date.now() < deadline, `${name} did not succeed within 60 s (phase ${phase})`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  it("then every other example: short ones exit 0; long-running ones get ready and stop cleanly on Ctrl-C", async () => {
    const rest = examples.filter((x) => commandOf(x) !== "apply" && commandOf(x) !== "delete");
    for (const e of rest.filter((x) => !readyLine(x))) {
      const r = await runShort(e);
      assert.equal(r.code, 0, `${e}\n${r.output}`);
    }
    // The long-running ones on their own ports and folders: three at a time.
    const long = rest.filter((x) => readyLine(x));
    let next = 0;
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        while (next < long.length) {
          const e = long[next++]!;
          await startAndStop(e, commandOf(e), readyLine(e)!);
        }
      }),
    );
  });

  it("deletes last: every delete example exits 0", async () => {
    for (const e of examples.filter((x) => commandOf(x) === "delete")) {
      const r = await runShort(e);
      assert.equal(r.code, 0, `${e}\n${r.output}`);
    }
  });
});
