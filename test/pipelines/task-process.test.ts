// A task attempt as a process (src/pipelines/runner/task-process.ts): exit
// codes and output, the bounded tail, timeouts and stops (SIGTERM, then
// SIGKILL), leftovers killed, and a task dying with its agent.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { OutputTail, startTaskProcess } from "../../src/pipelines/runner/task-process.ts";
import { alive, waitFor } from "./fixtures.ts";
import { nodeModule } from "../helpers/node-entry.ts";

const dir = mkdtempSync(join(tmpdir(), "setpoint-task-process-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
const sh = (script: string) => ["/bin/sh", "-c", script];

describe("TaskProcess", () => {
  it("reports the exit code and the output of stdout and stderr, in the working directory and environment given", async () => {
    const p = startTaskProcess(sh('echo "in $(pwd) as $WHO"; echo oops >&2; exit 3'), { cwd: dir, env: { ...env, WHO: "tester" } });
    const exit = await p.done;
    assert.equal(exit.exitCode, 3);
    assert.equal(exit.signal, undefined);
    assert.equal(exit.reason, "Completed");
    assert.equal(exit.output, `in ${dir} as tester\noops\n`);
  });

  it("runs command and args without a shell", async () => {
    const exit = await startTaskProcess(["printf", "%s|", "a b", "$HOME"], { cwd: dir, env }).done;
    assert.equal(exit.exitCode, 0);
    assert.equal(exit.output, "a b|$HOME|");
  });

  it("keeps only the tail of a long output", async () => {
    const exit = await startTaskProcess(sh("i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"), { cwd: dir, env, outputMax: 100 }).done;
    assert.equal(exit.output.length, 100);
    assert.ok(exit.output.endsWith("line-2999\n"));
    const tail = new OutputTail(3);
    tail.append("ab\u{1F600}cd");
    assert.equal(tail.text(), "cd", "never starts inside a surrogate pair");
    assert.deepEqual(tail.snapshot(), { output: "cd", outputDropped: 4 }, "the half pair let go counts");
    let written = 0;
    for (let i = 0; i < 3000; i++) written += `line-${i}\n`.length;
    assert.equal(exit.outputDropped, written - 100, "all that was written but the 100 kept");
  });

  it("times out: SIGTERM, then SIGKILL after the grace for a task that ignores it", async () => {
    const started = Date.now();
    const polite = await startTaskProcess(sh("sleep 30"), { cwd: dir, env, timeoutMs: 200 }).done;
    assert.equal(polite.reason, "TimedOut");
    assert.equal(polite.signal, "SIGTERM");
    const stubborn = await startTaskProcess(sh("trap '' TERM; echo ready; sleep 30"), { cwd: dir, env, timeoutMs: 300, killGraceMs: 300 }).done;
    assert.equal(stubborn.reason, "TimedOut");
    assert.equal(stubborn.signal, "SIGKILL");
    assert.equal(stubborn.output, "ready\n");
    assert.ok(Date.now() - started < 10_000);
  });

  it("stop() ends a task and everything it started; the reason is kept", async () => {
    const pidFile = join(dir, "child.pid");
    const p = startTaskProcess(sh(`sleep 30 & echo $! > '${pidFile}'; wait`), { cwd: dir, env, killGraceMs: 2000 });
    await waitFor("the grandchild's pid", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "");
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    p.stop("Cancelled");
    const exit = await p.done;
    assert.equal(exit.reason, "Cancelled");
    await waitFor("the grandchild to be gone", () => !alive(grandchild), 5000);
  });

  it("kills what a task leaves running in the background once it exits", async () => {
    const pidFile = join(dir, "leftover.pid");
    const exit = await startTaskProcess(sh(`(sleep 30 & echo $! > '${pidFile}'); echo done`), { cwd: dir, env }).done;
    assert.equal(exit.exitCode, 0);
    const leftover = Number(readFileSync(pidFile, "utf8"));
    await waitFor("the leftover to be gone", () => !alive(leftover), 5000);
  });

  it("reports a missing working directory as a start error", async () => {
    const exit = await startTaskProcess(["true"], { cwd: join(dir, "missing"), env }).done;
    assert.equal(exit.reason, "StartError");
    assert.match(exit.message, /working directory .*missing does not exist/);
  });

  it("dies with its agent: a SIGKILLed parent's tasks are killed by their watchdog", async () => {
    const pidFile = join(dir, "task.pid");
    const endFile = join(dir, "task.end");
    const module = nodeModule(fileURLToPath(new URL("../../src/pipelines/runner/task-process.ts", import.meta.url)));
    const script = `
      const { startTaskProcess } = await import(${JSON.stringify(module.url)});
      startTaskProcess(["/bin/sh", "-c", "echo $$ > '${pidFile}'; sleep 3; echo end > '${endFile}'"], { cwd: ${JSON.stringify(dir)}, env: process.env });
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, [...module.execArgv, "--input-type=module", "-e", script], { stdio: "ignore" });
    await waitFor("the task to start", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "", 20_000);
    const task = Number(readFileSync(pidFile, "utf8"));
    assert.ok(alive(task));
    parent.kill("SIGKILL");
    await waitFor("the task to die with its agent", () => !alive(task), 5000);
    assert.equal(existsSync(endFile), false);
  });
});
