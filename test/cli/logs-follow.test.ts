// `setpoint logs RUN [TASK] -f` (src/cli/commands/logs.ts, src/cli/log-follower.ts):
// the tail arithmetic on its own (growth, a sliding window, a gap, an attempt's
// output moving to previousAttempts), then the command against a real server in
// this process, the test writing the run's status as the runner would: each
// new line printed once under its attempt's header, a slid window printed
// from where it was left, a jump past the window said on stderr, and the exit
// code of the finished run (0 Succeeded, 1 Failed).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LogFollower, MIN_OVERLAP, newText } from "../../src/cli/log-follower.ts";
import { OUTPUT_TAIL_MAX, PREVIOUS_OUTPUT_MAX } from "../../src/pipelines/resource-type.ts";
import type { LooseObject } from "../../src/wire.ts";
import { runSetpointInProcess, type CliResult } from "../helpers/cli.ts";
import { createRun as createRunIn, runsPath, startRunsServer, until } from "../helpers/pipeline-runs.ts";
import type { ApiClient, TestServer } from "../helpers/server.ts";

/** Numbered lines `from`..`to-1`, each 10 characters: `line 0042\n`. */
const numbered = (from: number, to: number): string => Array.from({ length: to - from }, (_, i) => `line ${String(from + i).padStart(4, "0")}\n`).join("");
const tail = (text: string, max = OUTPUT_TAIL_MAX) => text.slice(-max);
/** `text` from its first whole line. */
const whole = (text: string) => text.slice(text.indexOf("\n") + 1);

describe("newText", () => {
  it("takes what a growing output added, and what a slid window added past their overlap", () => {
    assert.deepEqual(newText("a\n", "a\nb\n"), { added: "b\n", gap: false });
    const all = numbered(0, 1200); // 12,000 characters
    const before = tail(all.slice(0, 9000));
    const after = tail(all);
    assert.deepEqual(newText(before, after), { added: all.slice(9000), gap: false });
  });

  it("says output was skipped when more than the window was written in between", () => {
    const all = numbered(0, 2000);
    const r = newText(tail(all.slice(0, 8000)), tail(all));
    assert.equal(r.gap, true);
    assert.equal(r.added, tail(all));
    // An overlap shorter than MIN_OVERLAP is taken for a coincidence, not for shared text.
    const shortOverlap = `${"x".repeat(40)}${"y".repeat(MIN_OVERLAP - 1)}`;
    assert.equal(newText(shortOverlap, `${"y".repeat(MIN_OVERLAP - 1)}zzz`).gap, true);
  });

  it("finds nothing new when a finished attempt's output shrinks to its previousAttempts tail", () => {
    const all = numbered(0, 900);
    assert.deepEqual(newText(tail(all), tail(all, PREVIOUS_OUTPUT_MAX)), { added: "", gap: false });
    // ...and only the end it had not seen when the attempt wrote more before it ended.
    assert.deepEqual(newText(tail(all.slice(0, 8500)), tail(all, PREVIOUS_OUTPUT_MAX)), { added: all.slice(8500), gap: false });
  });
});

describe("LogFollower", () => {
  const run = (tasks: Record<string, unknown>): LooseObject =>
    ({
      metadata: { name: "r" },
      spec: { tasks: Object.keys(tasks).map((name) => ({ name, run: "x" })) },
      status: { tasks },
    }) as unknown as LooseObject;

  it("prints whole lines, holding a partial one until it ends or its attempt does; a header whenever the attempt printed changes", () => {
    const out: string[] = [];
    const f = new LogFollower({ out: (t) => out.push(t), notice: (t) => out.push(`NOTICE ${t}`) });
    f.update(run({ a: { phase: "Running", attempt: 1, output: "one\ntw" } }));
    f.update(run({ a: { phase: "Running", attempt: 1, output: "one\ntwo\n" }, b: { phase: "Running", attempt: 1, output: "bee\n" } }));
    f.update(run({ a: { phase: "Succeeded", attempt: 1, exitCode: 0, output: "one\ntwo\nend" }, b: { phase: "Running", attempt: 1, output: "bee\n" } }));
    assert.deepEqual(out, [
      "==> a attempt 1 (Running) <==",
      "one",
      "two",
      "",
      "==> b attempt 1 (Running) <==",
      "bee",
      "",
      "==> a attempt 1 (Succeeded, exit 0) <==",
      "end",
    ]);
  });
});

describe("LogFollower and attempts that end unseen", () => {
  const run = (a: Record<string, unknown>): LooseObject =>
    ({ metadata: { name: "r" }, spec: { tasks: [{ name: "a", run: "x" }] }, status: { tasks: { a } } }) as unknown as LooseObject;

  it("says how the attempt before ended in the next attempt's header, when its end printed nothing new", () => {
    const out: string[] = [];
    const f = new LogFollower({ out: (t) => out.push(t), notice: (t) => out.push(`NOTICE ${t}`) });
    f.update(run({ phase: "Running", attempt: 1, output: "one\n" }));
    f.update(run({ phase: "Pending", attempt: 1, exitCode: 2, output: "one\nboom\n" })); // failed, its retry to come
    const previousAttempts = [{ attempt: 1, outcome: "Failed", exitCode: 2, output: "one\nboom\n" }];
    f.update(run({ phase: "Running", attempt: 2, previousAttempts, output: "two\n" }));
    f.update(run({ phase: "Pending", attempt: 2, reason: "AgentLost", previousAttempts, output: "two\n" }));
    const twice = [...previousAttempts, { attempt: 2, outcome: "Lost", output: "two\n" }];
    f.update(run({ phase: "Succeeded", attempt: 3, exitCode: 0, previousAttempts: twice, output: "three\n" }));
    assert.deepEqual(out, [
      "==> a attempt 1 (Running) <==",
      "one",
      "boom",
      "",
      "==> a attempt 2 (Running; after attempt 1: Failed, exit 2) <==",
      "two",
      "",
      "==> a attempt 3 (Succeeded, exit 0; after attempt 2: Lost) <==",
      "three",
    ]);
  });
});

describe("LogFollower and a tail that lost its start", () => {
  const run = (output: string): LooseObject =>
    ({
      metadata: { name: "r" },
      spec: { tasks: [{ name: "a", run: "x" }] },
      status: { tasks: { a: { phase: "Running", attempt: 1, output } } },
    }) as unknown as LooseObject;

  it("says so in the header when its first output seen is already cut, also after a version with no output yet", () => {
    const all = numbered(0, 1500);
    for (const versions of [[tail(all)], ["", tail(all)]]) {
      const out: string[] = [];
      const f = new LogFollower({ out: (t) => out.push(t), notice: (t) => out.push(`NOTICE ${t}`) });
      for (const v of versions) f.update(run(v));
      assert.deepEqual(
        out,
        ["==> a attempt 1 (Running; earlier output not kept) <==", whole(tail(all)).replace(/\n$/, "")],
        JSON.stringify(versions.map((v) => v.length)),
      );
    }
  });
});

let t: TestServer;
let c: ApiClient;
let idle: number;
const NS = "logsf";
const runs = runsPath(NS);

const createRun = (name: string) => createRunIn(c, NS, name);

async function status(name: string, s: Record<string, unknown>): Promise<void> {
  const res = await c.patch(`${runs}/${name}/status`, { status: s });
  assert.equal(res.status, 200, res.text);
}

/** Starts `setpoint logs ARGS -f` in process and resolves once its watch is open, with its result to come. */
async function startFollow(args: string[]): Promise<{ result: Promise<CliResult> }> {
  await until(() => t.server.hub.stats().watchers === idle, "the previous test's watch closes");
  const result = runSetpointInProcess(["logs", ...args, "-f", "-n", NS, "--server", t.url], { timeoutMs: 30_000 });
  await Promise.race([until(() => t.server.hub.stats().watchers > idle, "the follow's watch opens"), result]);
  return { result };
}

before(async () => {
  ({ t, c } = await startRunsServer());
  idle = t.server.hub.stats().watchers;
});
after(async () => {
  await t.stop();
});

describe("setpoint logs -f", () => {
  it("prints each new line once as the status grows, and exits 0 when the run succeeds", async () => {
    await createRun("grow");
    await status("grow", { phase: "Running", tasks: { a: { phase: "Running", attempt: 1, output: "one\n" } } });
    const { result } = await startFollow(["grow"]);
    await status("grow", { tasks: { a: { phase: "Running", attempt: 1, output: "one\ntwo\nthr" } } });
    await status("grow", { tasks: { a: { phase: "Running", attempt: 1, output: "one\ntwo\nthree\n" } } });
    await status("grow", { phase: "Succeeded", tasks: { a: { phase: "Succeeded", attempt: 1, exitCode: 0, output: "one\ntwo\nthree\nfour\n" } } });
    const r = await result;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "==> a attempt 1 (Running) <==\none\ntwo\nthree\nfour\n");
    assert.equal(r.stderr, "");
  });

  it("follows a sliding tail from where it left off, says when text was skipped, and exits 1 when the run failed", async () => {
    const all = numbered(0, 3000); // 30,000 characters in all; the status holds the last 8,192
    await createRun("slide");
    await status("slide", { phase: "Running", tasks: { a: { phase: "Running", attempt: 1, output: tail(all.slice(0, 10_000)) } } });
    const { result } = await startFollow(["slide", "a"]);
    await status("slide", { tasks: { a: { phase: "Running", attempt: 1, output: tail(all.slice(0, 15_000)) } } }); // slid 5,000: overlaps
    await status("slide", { tasks: { a: { phase: "Running", attempt: 1, output: tail(all.slice(0, 25_000)) } } }); // 10,000 more: a gap
    await status("slide", {
      phase: "Failed",
      message: "task a failed: exit code 2",
      tasks: { a: { phase: "Failed", attempt: 1, exitCode: 2, output: tail(all) } },
    });
    const r = await result;
    assert.equal(r.code, 1, r.stderr);
    // A tail that filled the status's room begins with part of a line: it is shown from the next whole line.
    const expected = whole(tail(all.slice(0, 10_000))) + all.slice(10_000, 15_000) + whole(tail(all.slice(0, 25_000))) + all.slice(25_000);
    assert.equal(r.stdout, `==> a attempt 1 (Running; earlier output not kept) <==\n${expected}`);
    assert.equal(
      r.stderr,
      `logs: a attempt 1: some output was skipped: more was written between two updates of the run's status than it keeps (the last ${OUTPUT_TAIL_MAX} characters)\n` +
        'error: PipelineRun "slide" Failed: task a failed: exit code 2\n',
    );
  });

  it("with the status's outputDropped, follows a tail of lines that repeat exactly: each new line once, a gap only where there is one", async () => {
    // Matched by text, a tail of identical lines slid by one line is the same text: the new line was taken as old.
    const same = (n: number) => "same line\n".repeat(n); // 10 characters a line
    const version = (lines: number) => {
      const all = same(lines);
      const output = tail(all);
      return { phase: "Running", attempt: 1, output, outputDropped: all.length - output.length };
    };
    await createRun("repeat");
    await status("repeat", { phase: "Running", tasks: { a: version(1000) } });
    const { result } = await startFollow(["repeat", "a"]);
    await status("repeat", { tasks: { a: version(1001) } }); // one more line
    await status("repeat", { tasks: { a: version(2001) } }); // 1,000 more: past what the status keeps
    await status("repeat", { phase: "Succeeded", tasks: { a: { ...version(2002), phase: "Succeeded", exitCode: 0 } } });
    const r = await result;
    assert.equal(r.code, 0, r.stderr);
    const kept = whole(tail(same(1000))).split("\n").length - 1; // the whole lines a tail holds: 819
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "==> a attempt 1 (Running; earlier output not kept) <==");
    assert.equal(lines.length - 2, kept + 1 + kept + 1, "the first tail, the one new line, the tail after the gap, the last line");
    assert.ok(lines.slice(1, -1).every((l) => l === "same line"));
    assert.equal(
      r.stderr,
      `logs: a attempt 1: some output was skipped: more was written between two updates of the run's status than it keeps (the last ${OUTPUT_TAIL_MAX} characters)\n`,
    );
  });

  it("calls an attempt that waits for its retry Failed, not Pending, with and without -f", async () => {
    await createRun("retrying");
    const failed = { phase: "Pending", attempt: 1, exitCode: 2, reason: "Completed", message: "exit code 2; retrying (1 of 2 retries used)", output: "boom\n" };
    await status("retrying", { phase: "Running", tasks: { a: failed } });
    const plain = await runSetpointInProcess(["logs", "retrying", "-n", NS, "--server", t.url]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, "==> a attempt 1 (Failed, exit 2) <==\nboom\n");
    const { result } = await startFollow(["retrying"]);
    const previousAttempts = [{ attempt: 1, outcome: "Failed", exitCode: 2, output: "boom\n" }];
    const ending = { exitCode: null, reason: null, message: null }; // a merge patch: the new attempt has not ended
    await status("retrying", { tasks: { a: { ...ending, phase: "Running", attempt: 2, previousAttempts, output: "ok\n" } } });
    await status("retrying", { phase: "Succeeded", tasks: { a: { phase: "Succeeded", attempt: 2, exitCode: 0, previousAttempts, output: "ok\n" } } });
    const r = await result;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "==> a attempt 1 (Failed, exit 2) <==\nboom\n\n==> a attempt 2 (Running) <==\nok\n");
  });

  it("without -f: an attempt whose tail filled its room is shown from its first whole line, and says earlier output was not kept", async () => {
    const all = numbered(0, 1500); // 15,000 characters: more than either room
    await createRun("long");
    const previousAttempts = [{ attempt: 1, outcome: "Failed", exitCode: 1, output: tail(all, PREVIOUS_OUTPUT_MAX) }];
    await status("long", {
      phase: "Succeeded",
      tasks: { a: { phase: "Succeeded", attempt: 2, exitCode: 0, previousAttempts, output: tail(all) } },
    });
    assert.notEqual(tail(all)[0], "l", "the tails begin inside a line");
    assert.notEqual(tail(all, PREVIOUS_OUTPUT_MAX)[0], "l");
    const r = await runSetpointInProcess(["logs", "long", "-n", NS, "--server", t.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `==> a attempt 1 (Failed, exit 1; earlier output not kept) <==\n${whole(tail(all, PREVIOUS_OUTPUT_MAX))}\n` +
        `==> a attempt 2 (Succeeded, exit 0; earlier output not kept) <==\n${whole(tail(all))}`,
    );
    const one = await runSetpointInProcess(["logs", "long", "a", "--attempt", "2", "-n", NS, "--server", t.url]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, whole(tail(all)));
    assert.equal(one.stderr, `logs: a attempt 2: earlier output not kept: the status keeps the last ${OUTPUT_TAIL_MAX} characters\n`);
  });

  it("exits at once for a finished run; -f with --attempt is bad usage (2)", async () => {
    await createRun("done");
    await status("done", { phase: "Succeeded", tasks: { a: { phase: "Succeeded", attempt: 1, exitCode: 0, output: "ok\n" } } });
    const r = await runSetpointInProcess(["logs", "done", "-f", "-n", NS, "--server", t.url], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "==> a attempt 1 (Succeeded, exit 0) <==\nok\n");
    const both = await runSetpointInProcess(["logs", "done", "a", "--attempt", "1", "-f", "-n", NS, "--server", t.url]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--attempt prints one recorded attempt; it cannot be combined with -f/);
  });
});
