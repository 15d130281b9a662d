// The pipeline runner agent (src/pipelines/runner.ts) against a real server,
// running real task processes: the graph's parallelism and its bound, status
// as tasks progress, failure and skipping, retries, timeouts, cancel, the
// environment of a task, idempotent reconciles, the workspace finalizer, and
// the examples in examples/pipelines/. One agent (in this process) serves
// every test; agents as separate processes, killed and restarted, are in
// e2e.test.ts.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { OUTPUT_TAIL_MAX, PREVIOUS_OUTPUT_MAX } from "../../src/pipelines/output-tail.ts";
import { runPipelineAgent, WORKDIR_FINALIZER, type RunnerEvent } from "../../src/pipelines/runner.ts";
import { runSetpointInProcess } from "../helpers/cli.ts";
import { alive, createRun, getRun, mark, markers, RUNS, startPipelineEnv, waitFor, waitForPhase, type PipelineEnv, type Run } from "./fixtures.ts";

const PARALLEL = 4;
let env: PipelineEnv;
let stopAgent: AbortController;
let agentDone: Promise<void>;
const events: RunnerEvent[] = [];
const errors: string[] = [];
let workDir: string;

before(async () => {
  env = await startPipelineEnv();
  workDir = join(env.dir, "work");
  stopAgent = new AbortController();
  agentDone = runPipelineAgent({
    grpcAddress: env.grpcAddress,
    httpUrl: env.server.url,
    workDir,
    maxParallelTasks: PARALLEL,
    killGraceMs: 1000,
    outputFlushMs: 200,
    signal: stopAgent.signal,
    onEvent: (e) => void (e.type !== "AgentReady" && events.push(e)),
    onError: (err, key) => void errors.push(`${key ?? ""}: ${(err as Error).message}`),
  });
});

after(async () => {
  stopAgent.abort();
  await agentDone;
  await env.stop();
});

/** Start and end times (ms) that tasks wrote with `stamp`. */
function stamps(file: string): Map<string, { start: number; end: number }> {
  const m = new Map<string, { start: number; end: number }>();
  for (const line of markers(file)) {
    const [task, what, ms] = line.split(" ");
    const t = m.get(task!) ?? { start: NaN, end: NaN };
    t[what as "start" | "end"] = Number(ms);
    m.set(task!, t);
  }
  return m;
}
/** A task body that writes its start and end times (ms) around `body`. */
const stamped = (file: string, task: string, body: string) =>
  `echo "${task} start $(date +%s%3N)" >> '${file}'; ${body}; echo "${task} end $(date +%s%3N)" >> '${file}'`;

const ms = (t: string | undefined) => Date.parse(t ?? "");

/**
 * A task body that marks `self` and then waits (at most 10 s, then fails)
 * for the mark `other`: two tasks that wait for each other can both succeed
 * only if they run at the same time, however slow the machine.
 */
const meet = (self: string, other: string) =>
  `touch '${self}'; i=0; while [ ! -e '${other}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; [ -e '${other}' ]`;

/** How long two status entries' [startTime, completionTime] intervals overlap, in ms (negative if they do not). */
const overlapMs = (a: { startTime?: string; completionTime?: string }, b: { startTime?: string; completionTime?: string }) =>
  Math.min(ms(a.completionTime), ms(b.completionTime)) - Math.max(ms(a.startTime), ms(b.startTime));

describe("pipeline runner", () => {
  it("runs a diamond's independent tasks in parallel and records each task's status", async () => {
    const file = join(env.dir, "diamond.times");
    await createRun(env.http, "diamond", {
      params: { WHO: "param" },
      tasks: [
        { name: "checkout", run: stamped(file, "checkout", "echo checked out") },
        { name: "unit", runAfter: ["checkout"], run: stamped(file, "unit", `${meet(`${file}.unit`, `${file}.lint`)}; sleep 1; echo unit ok`) },
        { name: "lint", runAfter: ["checkout"], run: stamped(file, "lint", `${meet(`${file}.lint`, `${file}.unit`)}; sleep 1; echo lint ok`) },
        { name: "package", runAfter: ["unit", "lint"], run: stamped(file, "package", "echo packaged $WHO") },
      ],
    });
    const run = await waitForPhase(env.http, "diamond", "Succeeded");
    const t = stamps(file);
    const [checkout, unit, lint, pack] = ["checkout", "unit", "lint", "package"].map((n) => t.get(n)!);
    assert.ok(unit!.start < lint!.end && lint!.start < unit!.end, `unit and lint overlap: ${JSON.stringify([...t])}`);
    assert.ok(checkout!.end <= Math.min(unit!.start, lint!.start), "checkout first");
    assert.ok(pack!.start >= Math.max(unit!.end, lint!.end), "package last");

    const s = run.status!;
    const tasks = s.tasks!;
    assert.ok(
      ms(tasks.unit!.startTime) < ms(tasks.lint!.completionTime) && ms(tasks.lint!.startTime) < ms(tasks.unit!.completionTime),
      "status times overlap too",
    );
    // The run's own times span its tasks'. (Whether its wall time also beats
    // the sum of task times depends on the gaps between tasks, which a loaded
    // machine stretches: the overlap above is what parallel means.)
    for (const x of Object.values(tasks)) {
      assert.ok(
        ms(s.startTime) <= ms(x.startTime) && ms(x.completionTime) <= ms(s.completionTime),
        `run ${s.startTime}..${s.completionTime}, a task ${x.startTime}..${x.completionTime}`,
      );
    }
    for (const name of ["checkout", "unit", "lint", "package"]) {
      assert.equal(tasks[name]!.phase, "Succeeded");
      assert.equal(tasks[name]!.attempt, 1);
      assert.equal(tasks[name]!.exitCode, 0);
      assert.match(tasks[name]!.agent ?? "", /#/);
    }
    assert.equal(tasks.unit!.output, "unit ok\n");
    assert.equal(tasks.package!.output, "packaged param\n");
    assert.equal(s.observedGeneration, 1);
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason]),
      [["Succeeded", "True", "Succeeded"]],
    );
    assert.deepEqual(run.metadata.finalizers, [WORKDIR_FINALIZER]);
  });

  it("runs the examples: the diamond in about the time of its longest path, the flaky test passing on attempt 2", async () => {
    const load = (name: string) => parseYaml(readFileSync(new URL(`../../examples/pipelines/${name}`, import.meta.url), "utf8"));
    for (const name of ["diamond.yaml", "flaky.yaml"]) {
      const object = load(name);
      object.metadata.name = `example-${object.metadata.name}`;
      const res = await env.http.post(RUNS, object);
      assert.equal(res.status, 201, res.text);
    }
    const diamond = (await waitForPhase(env.http, "example-diamond", "Succeeded")).status!;
    const d = diamond.tasks!;
    const wall = ms(diamond.completionTime) - ms(diamond.startTime);
    const sum = Object.values(d).reduce((n, x) => n + ms(x.completionTime) - ms(x.startTime), 0);
    // unit-tests and lint (2 s each) ran side by side for more than a second.
    // Not "wall < sum - 1 s": that also asks the gaps between tasks (status
    // writes, process starts) to stay under a second, which a loaded machine
    // need not grant.
    const together = overlapMs(d["unit-tests"]!, d.lint!);
    assert.ok(together > 1000, `parallel: unit-tests and lint overlapped ${together} ms`);
    console.log(`# examples/pipelines/diamond.yaml: wall ${wall} ms, sum of task times ${sum} ms, unit-tests and lint together ${together} ms`);

    const flaky = (await waitForPhase(env.http, "example-flaky", "Succeeded")).status!;
    assert.equal(flaky.tasks!.test!.attempt, 2);
    assert.equal(flaky.tasks!.test!.failedAttempts, 1);
    assert.match(flaky.tasks!.test!.output ?? "", /test attempt 2 of run example-flaky\ntests passed/);
    assert.equal(flaky.tasks!.build!.output, "build ok\n");
  });

  it("fails a task, skips what runs after it, still runs the rest, and fails the run", async () => {
    await createRun(env.http, "broken", {
      tasks: [
        { name: "compile", run: "echo 'error: missing semicolon' >&2; exit 2" },
        { name: "test", runAfter: ["compile"], run: "true" },
        { name: "docs", run: "echo docs built" },
      ],
    });
    const s = (await waitForPhase(env.http, "broken", "Failed")).status!;
    assert.equal(s.tasks!.compile!.phase, "Failed");
    assert.equal(s.tasks!.compile!.exitCode, 2);
    assert.equal(s.tasks!.compile!.reason, "Error");
    assert.equal(s.tasks!.compile!.output, "error: missing semicolon\n");
    assert.equal(s.tasks!.test!.phase, "Skipped");
    assert.equal(s.tasks!.docs!.phase, "Succeeded");
    assert.match(s.message ?? "", /task compile failed: exit code 2/);
    assert.deepEqual(
      s.conditions?.map((c) => [c.status, c.reason]),
      [["False", "Failed"]],
    );
  });

  it("fails a run with a cycle or an unknown runAfter name (this server does not check them) with reason InvalidSpec, running nothing", async () => {
    const file = join(env.dir, "invalid.log");
    await createRun(env.http, "cyclic", {
      tasks: [
        { name: "a", runAfter: ["b"], run: mark(file, "a ran") },
        { name: "b", runAfter: ["a"], run: mark(file, "b ran") },
        { name: "lone", run: mark(file, "lone ran") },
      ],
    });
    await createRun(env.http, "dangling", {
      tasks: [
        { name: "first", run: "exit 1" },
        { name: "second", runAfter: ["first", "nowhere"], run: mark(file, "second ran") },
      ],
    });
    for (const [name, field] of [
      ["cyclic", /spec\.tasks\[\d\]\.runAfter\[0\]/],
      ["dangling", /spec\.tasks\[1\]\.runAfter\[1\]: Not found: "nowhere"/],
    ] as const) {
      const s = (await waitForPhase(env.http, name, "Failed")).status!;
      assert.match(s.message ?? "", /^invalid spec: /);
      assert.match(s.message ?? "", field);
      assert.deepEqual(
        s.conditions?.map((c) => [c.type, c.status, c.reason]),
        [["Succeeded", "False", "InvalidSpec"]],
      );
      assert.ok(Object.values(s.tasks ?? {}).every((t) => t.phase === "Skipped" && t.reason === "InvalidSpec"));
    }
    assert.deepEqual(markers(file), [], "no task ran");
  });

  it("retries a failing task as new attempts until it passes", async () => {
    const file = join(env.dir, "retry.log");
    await createRun(env.http, "retry", {
      tasks: [{ name: "flaky", retries: 3, run: `${mark(file, "attempt $SETPOINT_TASK_ATTEMPT")}; [ "$SETPOINT_TASK_ATTEMPT" -ge 3 ]` }],
    });
    const s = (await waitForPhase(env.http, "retry", "Succeeded")).status!;
    assert.deepEqual(markers(file), ["attempt 1", "attempt 2", "attempt 3"]);
    assert.equal(s.tasks!.flaky!.attempt, 3);
    assert.equal(s.tasks!.flaky!.failedAttempts, 2);
  });

  it("kills an attempt past timeoutSeconds and fails it with reason TimedOut", async () => {
    const started = Date.now();
    await createRun(env.http, "slowpoke", { tasks: [{ name: "hang", timeoutSeconds: 1, run: "echo waiting; sleep 30" }] });
    const s = (await waitForPhase(env.http, "slowpoke", "Failed")).status!;
    assert.ok(Date.now() - started < 15_000);
    assert.equal(s.tasks!.hang!.reason, "TimedOut");
    assert.equal(s.tasks!.hang!.signal, "SIGTERM");
    assert.equal(s.tasks!.hang!.output, "waiting\n");
  });

  it("records how much of a task's output it did not keep, so output of exactly the bound is not taken as cut, by status or `setpoint logs`", async () => {
    // `x` repeated, then a newline: exactly `n` characters.
    const print = (n: number) => `head -c ${n - 1} /dev/zero | tr '\\0' x; echo`;
    await createRun(env.http, "bounds", {
      tasks: [
        // Attempt 1 prints exactly an earlier attempt's bound and fails; attempt 2 exactly the current one's.
        { name: "exact", retries: 1, run: `if [ "$SETPOINT_TASK_ATTEMPT" = 1 ]; then ${print(PREVIOUS_OUTPUT_MAX)}; exit 1; fi; ${print(OUTPUT_TAIL_MAX)}` },
        { name: "over", run: `echo first; ${print(OUTPUT_TAIL_MAX)}` },
      ],
    });
    const s = (await waitForPhase(env.http, "bounds", "Succeeded")).status!;
    const exact = s.tasks!.exact!;
    assert.equal(exact.output!.length, OUTPUT_TAIL_MAX);
    assert.equal(exact.outputDropped, 0);
    assert.equal(exact.previousAttempts![0]!.output!.length, PREVIOUS_OUTPUT_MAX);
    assert.equal(exact.previousAttempts![0]!.outputDropped, 0);
    assert.equal(s.tasks!.over!.output!.length, OUTPUT_TAIL_MAX);
    assert.equal(s.tasks!.over!.outputDropped, "first\n".length);
    // `setpoint logs` reads the same: the exact outputs whole, with no note; the longer one from its first whole line, with it.
    const logs = await runSetpointInProcess(["logs", "bounds", "-n", "default", "--server", env.server.url]);
    assert.equal(logs.code, 0, logs.stderr);
    // Each line as itself, or as `x × N` for the long ones (a failed comparison of 8 KiB lines would be unreadable).
    const lines = logs.stdout.split("\n").map((l) => (/^x+$/.test(l) ? `x × ${l.length}` : l));
    assert.deepEqual(lines, [
      "==> exact attempt 1 (Failed, exit 1) <==",
      `x × ${PREVIOUS_OUTPUT_MAX - 1}`,
      "",
      "==> exact attempt 2 (Succeeded, exit 0) <==",
      `x × ${OUTPUT_TAIL_MAX - 1}`,
      "",
      // The cut fell at the start of a line here: the whole line shows, under the note.
      "==> over attempt 1 (Succeeded, exit 0; earlier output not kept) <==",
      `x × ${OUTPUT_TAIL_MAX - 1}`,
      "",
    ]);
  });

  it("publishes a running task's output before it ends", async () => {
    await createRun(env.http, "chatty", { tasks: [{ name: "talk", run: "echo first line; sleep 30" }] });
    const run = await waitFor("the output of the running task", async () => {
      const r = await getRun(env.http, "chatty");
      return r?.status?.tasks?.talk?.phase === "Running" && r.status.tasks.talk.output === "first line\n" ? r : undefined;
    });
    assert.equal(run.status!.phase, "Running");
    await env.http.patch(`${RUNS}/chatty`, { spec: { cancel: true } });
    await waitForPhase(env.http, "chatty", "Cancelled");
  });

  it("cancels a run: its running tasks are stopped, nothing else starts", async () => {
    const file = join(env.dir, "cancel.log");
    await createRun(env.http, "cancel-me", {
      tasks: [
        { name: "a", run: `${mark(file, "a $$")}; sleep 30; ${mark(file, "a end")}` },
        { name: "b", run: `trap '${mark(file, "b got TERM")}; exit 143' TERM; ${mark(file, "b $$")}; sleep 30 & wait; ${mark(file, "b end")}` },
        { name: "c", runAfter: ["a"], run: mark(file, "c ran") },
      ],
    });
    await waitFor("a and b to run", () => markers(file).length >= 2);
    const pids = markers(file).map((l) => Number(l.split(" ")[1]));
    const res = await env.http.patch(`${RUNS}/cancel-me`, { spec: { cancel: true } });
    assert.equal(res.status, 200, res.text);
    const run = await waitForPhase(env.http, "cancel-me", "Cancelled", 10_000);
    const s = run.status!;
    assert.equal(s.tasks!.a!.phase, "Cancelled");
    assert.equal(s.tasks!.a!.signal, "SIGTERM");
    assert.equal(s.tasks!.b!.phase, "Cancelled");
    assert.equal(s.tasks!.b!.exitCode, 143);
    assert.equal(s.tasks!.c!.phase, "Skipped");
    assert.equal(s.observedGeneration, run.metadata.generation);
    assert.deepEqual(
      s.conditions?.map((c) => [c.status, c.reason]),
      [["False", "Cancelled"]],
    );
    for (const pid of pids) assert.equal(alive(pid), false, `task process ${pid} is gone`);
    assert.deepEqual(
      markers(file).filter((l) => / end$| ran$/.test(l)),
      [],
    );
    assert.ok(markers(file).includes("b got TERM"));
  });

  it("never runs more than maxParallelTasks tasks at once", async () => {
    const file = join(env.dir, "bound.times");
    const names = ["t1", "t2", "t3", "t4", "t5", "t6"];
    await createRun(env.http, "wide", { tasks: names.map((n) => ({ name: n, run: stamped(file, n, "sleep 0.5") })) });
    await waitForPhase(env.http, "wide", "Succeeded");
    const t = [...stamps(file).values()];
    const most = Math.max(...t.map((a) => t.filter((b) => b.start <= a.start && a.start < b.end).length));
    assert.ok(most <= PARALLEL, `at most ${PARALLEL} at once, saw ${most}`);
    assert.ok(most >= 2, `ran in parallel, saw ${most}`);
  });

  it("gives a task its params, env, SETPOINT_* variables and working directory", async () => {
    await createRun(env.http, "env", {
      params: { COLOR: "blue", SIZE: "big" },
      tasks: [
        {
          name: "show",
          workingDir: "sub/dir",
          env: { SIZE: "small" },
          run: 'echo "$COLOR $SIZE $SETPOINT_RUN_NAMESPACE/$SETPOINT_RUN_NAME $SETPOINT_TASK_NAME $SETPOINT_TASK_ATTEMPT"; pwd; echo "$SETPOINT_WORKSPACE"',
        },
        { name: "argv", command: ["sh", "-c"], args: ['echo "$0|$1"', "zero", "one"] },
      ],
    });
    const run = await waitForPhase(env.http, "env", "Succeeded");
    const [line, pwd, workspace] = (run.status!.tasks!.show!.output ?? "").trimEnd().split("\n");
    assert.equal(line, "blue small default/env show 1");
    assert.equal(pwd, join(workspace!, "sub", "dir"));
    assert.ok(workspace!.startsWith(workDir));
    assert.equal(run.status!.tasks!.argv!.output, "zero|one\n");
  });

  it("reconciles a running run again and again without starting a task twice", async () => {
    const file = join(env.dir, "idempotent.log");
    await createRun(env.http, "steady", { tasks: [{ name: "once", run: `${mark(file, "started")}; sleep 2` }] });
    await waitFor("the task to start", () => markers(file).length === 1);
    for (let i = 0; i < 5; i++) {
      const res = await env.http.patch(`${RUNS}/steady`, { metadata: { labels: { poke: String(i) } } });
      assert.equal(res.status, 200, res.text);
    }
    await waitForPhase(env.http, "steady", "Succeeded");
    assert.deepEqual(markers(file), ["started"]);
  });

  it("deleting a run stops its tasks, removes its workspace, then its finalizer", async () => {
    const file = join(env.dir, "delete.log");
    await createRun(env.http, "doomed", {
      tasks: [
        { name: "build", run: 'echo artifact > "$SETPOINT_WORKSPACE/out.txt"' },
        { name: "wait", runAfter: ["build"], run: `${mark(file, "$$")}; sleep 30` },
      ],
    });
    await waitFor("the second task to run", () => markers(file).length === 1);
    const workspace = (await getRun(env.http, "doomed"))!.status!.tasks!.wait!;
    assert.equal(workspace.phase, "Running");
    const dirs = events
      .filter((e): e is Extract<RunnerEvent, { type: "TaskStarted" }> => e.type === "TaskStarted" && e.run === "default/doomed")
      .map((e) => e.workspace);
    assert.ok(dirs[0] && existsSync(join(dirs[0], "out.txt")), "the workspace holds what the tasks wrote");

    const res = await env.http.del(`${RUNS}/doomed`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.body.metadata.deletionTimestamp, "the finalizer holds the run");
    await waitFor("the run to be gone", async () => (await getRun(env.http, "doomed")) === undefined, 10_000);
    assert.equal(existsSync(dirs[0]!), false, "workspace removed");
    assert.equal(alive(Number(markers(file)[0])), false, "task stopped");
    assert.ok(events.some((e) => e.type === "RunCleanedUp" && e.run === "default/doomed"));
  });

  it("reported no errors", () => {
    assert.deepEqual(errors, []);
  });
});

export type { Run };
