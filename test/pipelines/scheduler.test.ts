// The runner's pure decisions (src/pipelines/runner/scheduler.ts): what starts,
// what a finished, failed or lost attempt becomes, skipping, cancel, and the
// run's phase and condition.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PipelineRunSpec, PipelineRunStatus, TaskStatus } from "../../src/pipelines/resource-type.ts";
import { schedule, type AttemptResult, type AttemptState, type ScheduleInput } from "../../src/pipelines/runner/scheduler.ts";

const NOW = "2026-11-25T10:00:00.000Z";
const LATER = "2026-11-25T10:00:05.000Z";

const diamond: PipelineRunSpec = {
  tasks: [
    { name: "checkout", run: "true" },
    { name: "test", run: "true", runAfter: ["checkout"] },
    { name: "lint", run: "true", runAfter: ["checkout"] },
    { name: "package", run: "true", runAfter: ["test", "lint"] },
  ],
};

function input(spec: PipelineRunSpec, status: PipelineRunStatus | undefined, over: Partial<ScheduleInput> = {}): ScheduleInput {
  return { spec, status, observedGeneration: 1, now: NOW, agent: "me#1", slots: 10, attempt: () => ({ state: "running" }), ...over };
}

const ok = (output = "done\n"): AttemptState => ({
  state: "finished",
  result: { outcome: "Succeeded", exitCode: 0, reason: "Completed", message: "exit code 0", output, completionTime: LATER },
});
const fail = (extra: Partial<AttemptResult> = {}): AttemptState => ({
  state: "finished",
  result: { outcome: "Failed", exitCode: 1, reason: "Error", message: "exit code 1", output: "boom\n", completionTime: LATER, ...extra },
});
const running = (attempt = 1, agent = "me#1"): TaskStatus => ({ phase: "Running", attempt, startTime: NOW, agent });
const done = (attempt = 1): TaskStatus => ({ phase: "Succeeded", attempt, startTime: NOW, completionTime: NOW, exitCode: 0, agent: "me#1" });

describe("schedule", () => {
  it("starts only the tasks whose runAfter succeeded, and records them Running", () => {
    const r = schedule(input(diamond, undefined));
    assert.deepEqual(
      r.start.map((s) => [s.task.name, s.attempt]),
      [["checkout", 1]],
    );
    assert.equal(r.status.phase, "Running");
    assert.equal(r.status.startTime, NOW);
    assert.equal(r.status.observedGeneration, 1);
    assert.deepEqual(r.status.tasks?.checkout, { phase: "Running", attempt: 1, startTime: NOW, agent: "me#1" });
    assert.deepEqual(r.status.tasks?.package, { phase: "Pending", attempt: 0 });
    assert.deepEqual(
      r.status.conditions?.map((c) => [c.type, c.status, c.reason]),
      [["Succeeded", "Unknown", "Running"]],
    );
  });

  it("records a finished attempt and starts independent tasks together, within the slots", () => {
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { checkout: running() } };
    const all = schedule(input(diamond, status, { attempt: () => ok(), now: LATER }));
    assert.equal(all.status.tasks?.checkout?.phase, "Succeeded");
    assert.equal(all.status.tasks?.checkout?.output, "done\n");
    assert.equal(all.status.tasks?.checkout?.exitCode, 0);
    assert.deepEqual(
      all.start.map((s) => s.task.name),
      ["test", "lint"],
    );

    const one = schedule(input(diamond, status, { attempt: () => ok(), slots: 1 }));
    assert.deepEqual(
      one.start.map((s) => s.task.name),
      ["test"],
    );
    assert.deepEqual(one.waiting, ["lint"]);
    assert.equal(one.status.tasks?.lint?.phase, "Pending");
  });

  it("never asks about, or reruns, tasks that finished", () => {
    const asked: string[] = [];
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { checkout: done(), test: done(), lint: running() } };
    const r = schedule(input(diamond, status, { attempt: (name) => (asked.push(name), { state: "lost" }) }));
    assert.deepEqual(asked, ["lint"]);
    assert.deepEqual(
      r.start.map((s) => [s.task.name, s.attempt]),
      [["lint", 2]],
    );
    assert.deepEqual(r.status.tasks?.checkout, done());
  });

  it("reruns a lost attempt as a new attempt without using a retry", () => {
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { checkout: running(1, "dead#1") } };
    const r = schedule(input(diamond, status, { attempt: () => ({ state: "lost" }), now: LATER }));
    assert.deepEqual(
      r.start.map((s) => [s.task.name, s.attempt]),
      [["checkout", 2]],
    );
    assert.equal(r.status.tasks?.checkout?.phase, "Running");
    assert.equal(r.status.tasks?.checkout?.agent, "me#1");
    assert.equal(r.status.tasks?.checkout?.failedAttempts, undefined);

    const waiting = schedule(input(diamond, status, { attempt: () => ({ state: "lost" }), slots: 0 }));
    assert.equal(waiting.status.tasks?.checkout?.phase, "Pending");
    assert.equal(waiting.status.tasks?.checkout?.reason, "AgentLost");
    assert.equal(waiting.status.tasks?.checkout?.attempt, 1);
  });

  it("retries a failed attempt while retries are left, then fails the task", () => {
    const spec: PipelineRunSpec = { tasks: [{ name: "flaky", run: "false", retries: 1 }] };
    const first = schedule(input(spec, { phase: "Running", startTime: NOW, tasks: { flaky: running(1) } }, { attempt: () => fail() }));
    assert.deepEqual(
      first.start.map((s) => s.attempt),
      [2],
    );
    assert.equal(first.status.tasks?.flaky?.failedAttempts, 1);
    assert.equal(first.status.tasks?.flaky?.output, undefined, "a new attempt starts with no output");

    const second = schedule(
      input(spec, first.status, { attempt: () => fail({ reason: "TimedOut", message: "timed out after 1 s", exitCode: undefined, signal: "SIGTERM" }) }),
    );
    assert.deepEqual(second.start, []);
    assert.equal(second.status.tasks?.flaky?.phase, "Failed");
    assert.equal(second.status.tasks?.flaky?.reason, "TimedOut");
    assert.equal(second.status.tasks?.flaky?.signal, "SIGTERM");
    assert.equal(second.status.tasks?.flaky?.exitCode, undefined);
    assert.equal(second.status.phase, "Failed");
    assert.match(second.status.message ?? "", /task flaky failed: timed out/);
    assert.deepEqual(
      second.status.conditions?.map((c) => [c.status, c.reason]),
      [["False", "Failed"]],
    );
    assert.ok(second.status.completionTime);
  });

  it("skips what runs after a failed task, lets the rest run, then fails the run", () => {
    const spec: PipelineRunSpec = {
      tasks: [
        { name: "a", run: "false" },
        { name: "b", run: "true", runAfter: ["a"] },
        { name: "c", run: "true", runAfter: ["b"] },
        { name: "d", run: "sleep 1" },
      ],
    };
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { a: running(), d: running() } };
    const r = schedule(input(spec, status, { attempt: (name) => (name === "a" ? fail() : { state: "running" }) }));
    assert.deepEqual([r.status.tasks?.b?.phase, r.status.tasks?.c?.phase], ["Skipped", "Skipped"]);
    assert.equal(r.status.tasks?.b?.reason, "UpstreamFailed");
    assert.equal(r.status.tasks?.d?.phase, "Running");
    assert.equal(r.status.phase, "Running", "d still runs");
    const end = schedule(input(spec, r.status, { attempt: () => ok() }));
    assert.equal(end.status.phase, "Failed");
  });

  it("on cancel starts nothing, skips what did not start, and is Cancelled once nothing runs", () => {
    const spec: PipelineRunSpec = { ...diamond, cancel: true };
    const status: PipelineRunStatus = {
      phase: "Running",
      startTime: NOW,
      tasks: { checkout: done(), test: running(), lint: { phase: "Pending", attempt: 1, failedAttempts: 1 } },
    };
    const r = schedule(input(spec, status));
    assert.deepEqual(r.start, []);
    assert.equal(r.status.phase, "Running");
    assert.match(r.status.message ?? "", /cancelling: stopping test/);
    assert.equal(r.status.tasks?.package?.phase, "Skipped");
    assert.equal(r.status.tasks?.lint?.phase, "Cancelled", "an attempt had run");
    const stopped = schedule(
      input(spec, r.status, {
        attempt: () => ({
          state: "finished",
          result: { outcome: "Cancelled", signal: "SIGTERM", reason: "Cancelled", message: "stopped", output: "", completionTime: LATER },
        }),
      }),
    );
    assert.equal(stopped.status.tasks?.test?.phase, "Cancelled");
    assert.equal(stopped.status.phase, "Cancelled");
    assert.deepEqual(
      stopped.status.conditions?.map((c) => [c.status, c.reason]),
      [["False", "Cancelled"]],
    );
  });

  it("keeps a final run as it is, but for observedGeneration", () => {
    const status: PipelineRunStatus = { phase: "Succeeded", observedGeneration: 1, startTime: NOW, completionTime: NOW, tasks: { checkout: done() } };
    const r = schedule(input({ ...diamond, cancel: true }, status, { observedGeneration: 2 }));
    assert.deepEqual(r.status, { ...status, observedGeneration: 2 });
    assert.deepEqual(r.start, []);
  });

  it("does not start a busy task, and leaves a running attempt's status alone unless given output", () => {
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { checkout: { phase: "Pending", attempt: 1, reason: "AgentLost" } } };
    const r = schedule(input(diamond, status, { busy: new Set(["checkout"]) }));
    assert.deepEqual(r.start, []);
    assert.deepEqual(r.waiting, ["checkout"]);

    const live: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { checkout: running() } };
    assert.deepEqual(schedule(input(diamond, live)).status.tasks?.checkout, running());
    assert.equal(schedule(input(diamond, live, { attempt: () => ({ state: "running", output: "half\n" }) })).status.tasks?.checkout?.output, "half\n");
  });

  it("moves the condition's lastTransitionTime only when its status changes", () => {
    const first = schedule(input(diamond, undefined));
    const second = schedule(input(diamond, first.status, { now: LATER, attempt: () => ok() }));
    assert.equal(second.status.conditions?.[0]?.lastTransitionTime, NOW);
    assert.equal(second.status.phase, "Running");
  });

  it("keeps each earlier attempt's ending and output tail in previousAttempts: failed ones and lost ones, the newest few", () => {
    const spec: PipelineRunSpec = { tasks: [{ name: "t", run: "x", retries: 10 }] };
    // Attempt 1 fails; the retry starts as attempt 2 with attempt 1 recorded.
    const failed = schedule(input(spec, { phase: "Running", startTime: NOW, tasks: { t: running(1) } }, { attempt: () => fail({ output: "first\n" }) }));
    const t2 = failed.status.tasks!.t!;
    assert.equal(t2.attempt, 2);
    assert.equal(t2.output, undefined);
    assert.deepEqual(t2.previousAttempts, [
      {
        attempt: 1,
        outcome: "Failed",
        startTime: NOW,
        completionTime: LATER,
        exitCode: 1,
        reason: "Error",
        message: "exit code 1; retrying (1 of 10 retries used)",
        output: "first\n",
        agent: "me#1",
      },
    ]);
    // Attempt 2 is lost with its agent after printing something: attempt 3 records it as Lost, output kept.
    const lost = schedule(input(spec, { ...failed.status, tasks: { t: { ...t2, output: "second, partial\n" } } }, { attempt: () => ({ state: "lost" }) }));
    const t3 = lost.status.tasks!.t!;
    assert.equal(t3.attempt, 3);
    assert.deepEqual(
      t3.previousAttempts?.map((a) => [a.attempt, a.outcome, a.reason, a.output]),
      [
        [1, "Failed", "Error", "first\n"],
        [2, "Lost", "AgentLost", "second, partial\n"],
      ],
    );
    // Only the newest MAX_PREVIOUS_ATTEMPTS are kept, each output cut to its tail.
    let status = lost.status;
    for (let i = 0; i < 4; i++) {
      status = schedule(input(spec, status, { attempt: () => fail({ output: "y".repeat(5000) }) })).status;
    }
    const t7 = status.tasks!.t!;
    assert.equal(t7.attempt, 7);
    assert.deepEqual(
      t7.previousAttempts?.map((a) => a.attempt),
      [4, 5, 6],
    );
    assert.ok(t7.previousAttempts!.every((a) => a.output!.length === 2048));
  });

  it("records how many characters of output were not kept, through a retry's shorter tail and a lost attempt; not when it was never known", () => {
    const spec: PipelineRunSpec = { tasks: [{ name: "t", run: "x", retries: 10 }] };
    // Running: the published tail says what it left out.
    const live = schedule(
      input(spec, { phase: "Running", tasks: { t: running(1) } }, { attempt: () => ({ state: "running", output: "y".repeat(100), outputDropped: 7 }) }),
    );
    assert.equal(live.status.tasks!.t!.outputDropped, 7);
    // Finished and retried: the earlier attempt keeps 2048 of its 5000, so 2952 more were not kept.
    const failed = schedule(input(spec, live.status, { attempt: () => fail({ output: "y".repeat(5000), outputDropped: 10 }) }));
    const t2 = failed.status.tasks!.t!;
    assert.equal(t2.outputDropped, undefined, "the new attempt has no output yet");
    assert.equal(t2.previousAttempts![0]!.outputDropped, 10 + 5000 - 2048);
    // Exactly the bound: nothing more let go.
    const exact = schedule(
      input(spec, { ...failed.status, tasks: { t: { ...t2, output: "z".repeat(2048), outputDropped: 0 } } }, { attempt: () => ({ state: "lost" }) }),
    );
    assert.equal(exact.status.tasks!.t!.previousAttempts![1]!.outputDropped, 0);
    // A status written before outputDropped existed: unknown stays unknown (readers then go by the tail's length).
    const old = schedule(input(spec, { ...failed.status, tasks: { t: { ...t2, output: "z".repeat(3000) } } }, { attempt: () => ({ state: "lost" }) }));
    assert.equal(old.status.tasks!.t!.previousAttempts![1]!.outputDropped, undefined);
    assert.equal(old.status.tasks!.t!.previousAttempts![1]!.output!.length, 2048);
  });

  it("records progress, and the duration once the run ends", () => {
    const spec: PipelineRunSpec = {
      tasks: [
        { name: "a", run: "x" },
        { name: "b", run: "x" },
      ],
    };
    const r = schedule(input(spec, { phase: "Running", startTime: NOW, tasks: { a: running(), b: done() } }, { attempt: () => ok(), now: LATER }));
    assert.equal(r.status.progress, "2/2");
    assert.equal(r.status.duration, "5s");
    const mid = schedule(input(spec, { phase: "Running", startTime: NOW, tasks: { a: running(), b: done() } }));
    assert.equal(mid.status.progress, "1/2");
    assert.equal(mid.status.duration, undefined);
  });

  // The server refuses these on create and update (PIPELINE_VALIDATORS), but a server started without the
  // check (startServer's default), or runs stored before it, reach the runner.
  it("fails a run whose graph has a cycle or a missing dependency at once, with reason InvalidSpec naming the field; starts nothing", () => {
    const cycle: PipelineRunSpec = {
      tasks: [
        { name: "a", run: "true", runAfter: ["b"] },
        { name: "b", run: "true", runAfter: ["a"] },
        { name: "c", run: "true" },
      ],
    };
    const r = schedule(input(cycle, undefined));
    assert.deepEqual(r.start, []);
    assert.equal(r.status.phase, "Failed");
    assert.match(r.status.message ?? "", /^invalid spec: spec\.tasks\[\d\]\.runAfter\[0\]: .*cycle/);
    assert.deepEqual(
      r.status.conditions?.map((c) => [c.type, c.status, c.reason]),
      [["Succeeded", "False", "InvalidSpec"]],
    );
    assert.deepEqual(
      Object.values(r.status.tasks ?? {}).map((t) => [t.phase, t.reason]),
      [
        ["Skipped", "InvalidSpec"],
        ["Skipped", "InvalidSpec"],
        ["Skipped", "InvalidSpec"],
      ],
    );
    assert.ok(r.status.completionTime);

    // A missing dependency next to a failed one: no crash (the skip message used to read the missing task's status).
    const missing: PipelineRunSpec = {
      tasks: [
        { name: "a", run: "false" },
        { name: "b", run: "true", runAfter: ["a", "nope"] },
      ],
    };
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { a: running() } };
    const m = schedule(input(missing, status, { attempt: () => fail() }));
    assert.equal(m.status.phase, "Failed");
    assert.match(m.status.message ?? "", /spec\.tasks\[1\]\.runAfter\[1\]: Not found: "nope"/);
    assert.equal(m.status.tasks?.a?.phase, "Failed", "the attempt that ran is still recorded");
    assert.equal(m.status.tasks?.b?.phase, "Skipped");
  });

  it("with an invalid graph, starts nothing new but waits for running attempts before failing the run", () => {
    const spec: PipelineRunSpec = {
      tasks: [
        { name: "a", run: "true" },
        { name: "b", run: "true", runAfter: ["ghost"] },
      ],
    };
    const status: PipelineRunStatus = { phase: "Running", startTime: NOW, tasks: { a: running() } };
    const r = schedule(input(spec, status));
    assert.deepEqual(r.start, []);
    assert.equal(r.status.phase, "Running");
    assert.match(r.status.message ?? "", /^invalid spec: .*ghost.*; waiting for a to end/);
    const after = schedule(input(spec, r.status, { attempt: () => ok(), now: LATER }));
    assert.equal(after.status.phase, "Failed");
    assert.equal(after.status.tasks?.a?.phase, "Succeeded");
    assert.equal(after.status.conditions?.[0]?.reason, "InvalidSpec");
  });
});
