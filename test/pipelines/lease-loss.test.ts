// A pipeline runner replica that loses its lease on a run (its renewals fail:
// partitioned, paused, its server slow) stops acting on that run at once, so
// that the replica taking the run over is its only writer. Two runner replicas
// (runPipelineAgent) in this process against a real server and LMDB directory,
// each on a manual clock of its own: the test moves one replica past its renew
// deadline without moving the other. Renewals fail because the test makes
// every lease call of that replica's client fail (a partition between it and
// the leases only, so that any write it still made for the run would land and
// be seen); its writes for the run are counted at its client.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Agent, ObjectRef } from "../../src/agent.ts";
import { ManualClock, type Timer } from "../../src/clock.ts";
import { ConflictError, ServiceUnavailableError } from "../../src/errors.ts";
import { runPipelineAgent, WORKDIR_FINALIZER, type PipelineRun, type RunnerEvent } from "../../src/pipelines/runner.ts";
import { alive, createRun, getRun, markers, RUNS, startPipelineEnv, waitFor, waitForPhase, type PipelineEnv, type Run } from "./fixtures.ts";

/** Long, as in lease.test.ts: only the manual clocks move the leases, and each lease call's real deadline is a third of it. */
const DURATION = 15_000;
const RENEW = DURATION / 3;
const DEADLINE = (DURATION * 2) / 3;
/** The output flush interval: a value no other timer uses, so the test can tell when the runner scheduled a flush. */
const FLUSH = 3217;

let env: PipelineEnv;
before(async () => (env = await startPipelineEnv()));
after(() => env.stop());

/** A manual clock that counts the output flushes scheduled on it. */
class RunnerClock extends ManualClock {
  flushes = 0;
  override after(ms: number, fn: () => void): Timer {
    if (ms === FLUSH) this.flushes++;
    return super.after(ms, fn);
  }
}

interface Write {
  verb: string;
  name: string;
  /** The replica's member id when the write was made. */
  member: string | undefined;
}

interface Held {
  body: PipelineRun;
  release(): void;
  /** Settles once the released write has been answered: the stored object, or the error. */
  outcome: Promise<PipelineRun | Error>;
}

/** A pipeline runner replica of agent `agentName`, on its own clock, whose lease calls fail while `partitioned`. */
function replica(agentName: string, identity: string) {
  const clock = new RunnerClock(Date.now());
  const stop = new AbortController();
  const events: RunnerEvent[] = [];
  const errors: string[] = [];
  const writes: Write[] = [];
  const r = {
    clock,
    events,
    errors,
    writes,
    agent: undefined as Agent<PipelineRun> | undefined,
    partitioned: false,
    leaseCallsRefused: 0,
    /** Lease calls sent and not answered yet (their deadlines run on the replica's clock). */
    leaseCallsInFlight: 0,
    /** Fails the next status write of a run. */
    failNext: false,
    /** Holds (does not send yet) the first status write of a run that this picks. */
    hold: undefined as ((body: PipelineRun) => boolean) | undefined,
    held: undefined as Held | undefined,
    member: () => r.agent?.membership?.member,
    done: Promise.resolve(),
    stop: () => (stop.abort(), r.done),
  };
  r.done = runPipelineAgent({
    grpcAddress: env.grpcAddress,
    httpUrl: env.server.url,
    name: agentName,
    identity,
    workDir: join(env.dir, `work-${agentName}-${identity}`),
    leaseDurationMs: DURATION,
    killGraceMs: 1000,
    outputFlushMs: FLUSH,
    installType: false,
    clock,
    signal: stop.signal,
    onEvent: (e) => void (e.type !== "AgentReady" && events.push(e)),
    onError: (err, key) => void errors.push(`${key ?? ""}: ${(err as Error).message}`),
    onAgent: (agent) => {
      r.agent = agent;
      const client = agent.client as unknown as Record<string, (ref: ObjectRef, ...rest: unknown[]) => Promise<unknown>>;
      for (const verb of ["get", "create", "update", "updateStatus", "patch", "delete"]) {
        const send = client[verb]!.bind(client);
        client[verb] = (ref, ...rest) => {
          if (ref.plural === "leases" && r.partitioned) {
            r.leaseCallsRefused++;
            return Promise.reject(new ServiceUnavailableError("test: this replica is cut off from its lease"));
          }
          if (ref.plural === "leases") {
            r.leaseCallsInFlight++;
            return send(ref, ...rest).finally(() => r.leaseCallsInFlight--);
          }
          if (ref.plural !== "pipelineruns" || verb === "get") return send(ref, ...rest);
          // A call whose signal has already fired is refused by the client unsent: not a write.
          const options = rest[verb === "delete" ? 0 : 1] as { signal?: AbortSignal } | undefined;
          if (!options?.signal?.aborted) writes.push({ verb, name: ref.name ?? "", member: r.member() });
          const body = rest[0] as PipelineRun;
          if (verb === "updateStatus" && r.failNext) {
            r.failNext = false;
            // Not a connection problem, which the agent's report would fold into one line per 30 s.
            return Promise.reject(new Error("test: the status write failed"));
          }
          if (verb !== "updateStatus" || r.held || !r.hold?.(body)) return send(ref, ...rest);
          let release!: () => void;
          const released = new Promise<void>((resolve) => (release = resolve));
          const sent = released.then(() => send(ref, ...rest));
          r.held = {
            body,
            release,
            outcome: sent.then(
              (o) => o as PipelineRun,
              (err: Error) => err,
            ),
          };
          return sent;
        };
      }
    },
  });
  return r;
}
type Replica = ReturnType<typeof replica>;

/**
 * Moves `b`'s clock past the lease duration, a renew interval at a time, waiting for each of
 * b's renewals to land (b must never lapse): b then reaps the lease of a replica that could
 * not renew since b first saw it, and takes its runs. The clock moves only while no lease
 * call of b's is in flight: its deadline runs on that clock, and a step past it would fail
 * the call, whose retry only the clock brings.
 */
async function outlast(b: Replica): Promise<void> {
  for (let moved = 0; moved <= DURATION; moved += RENEW) {
    let due = Number.POSITIVE_INFINITY;
    await waitFor("b's lease calls answered", () => {
      if (b.leaseCallsInFlight > 0) return false;
      due = (b.agent!.membership!.renewedAt ?? 0) + RENEW;
      b.clock.advance(RENEW);
      return true;
    });
    await waitFor("b's renewal", () => {
      if (b.leaseCallsInFlight === 0) b.clock.advance(0); // fires a renewal that came due while a write was in flight
      return (b.agent!.membership!.renewedAt ?? 0) >= due;
    });
  }
}

/**
 * A task that marks its start in `dir/marks`, prints `second` once the file `say` exists, and
 * ends (0, marking its end) once `NAME-go-ATTEMPT` exists (at most 60 s).
 */
function task(dir: string, name: string): string {
  const m = join(dir, "marks");
  const go = `'${dir}/${name}-go-'$SETPOINT_TASK_ATTEMPT`;
  return [
    `mkdir -p '${dir}'`,
    `echo "${name} start $SETPOINT_TASK_ATTEMPT" >> '${m}'`,
    "i=0",
    `while [ ! -e ${go} ] && [ $i -lt 1200 ]; do if [ -e '${dir}/say' ] && [ ! -e '${dir}/said' ]; then echo second; touch '${dir}/said'; fi; sleep 0.05; i=$((i + 1)); done`,
    `[ -e ${go} ] && echo "${name} end $SETPOINT_TASK_ATTEMPT" >> '${m}'`,
  ].join("; ");
}

/** A task that marks its start in `dir/marks` and waits (at most 60 s), ignoring SIGTERM: only SIGKILL ends it. */
function stubborn(dir: string): string {
  return `trap '' TERM; mkdir -p '${dir}'; echo "start $SETPOINT_TASK_ATTEMPT" >> '${dir}/marks'; i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done`;
}

/** Waits until the run's tasks `names` run as `attempt` under `member`. */
const running = (name: string, attempt: number, member: string | undefined, names = ["work"]) =>
  waitFor(`${name}: ${names.join(", ")} running as attempt ${attempt} under ${member}`, async () => {
    const run = await getRun(env.http, name);
    const all = names.every((n) => {
      const t = run?.status?.tasks?.[n];
      return t?.phase === "Running" && t.attempt === attempt && t.agent === member && member !== undefined;
    });
    return all ? run : undefined;
  });

const touch = (path: string) => writeFileSync(path, "");

describe("a runner replica that loses its lease on a run", () => {
  it("kills the run's task at once, writes nothing more for the run, and the replica taking over runs each task to the end once", async () => {
    const dir = join(env.dir, "lost");
    const marks = () => markers(join(dir, "marks"));
    const a = replica("loss", "a");
    let b: Replica | undefined;
    try {
      await waitFor("a's lease", () => a.member());
      const t0 = a.clock.now();
      await createRun(env.http, "lost", {
        tasks: [
          { name: "work", run: task(dir, "work") },
          { name: "quick", run: task(dir, "quick") },
        ],
      });
      const memberA = (await running("lost", 1, a.member(), ["work", "quick"])).status!.tasks!.work!.agent!;
      await waitFor("both tasks started", () => marks().length === 2);
      const started = a.events.find((e) => e.type === "TaskStarted" && e.task === "work");
      const pid = started?.type === "TaskStarted" ? started.pid! : 0;

      // a's renewals fail from now on. Short of its renew deadline, `work` prints something
      // (its flush falls after the deadline) and `quick` ends, but the write of its end
      // fails, so that it is retried a second later, after the deadline.
      a.partitioned = true;
      a.clock.advance(DEADLINE - 1000 - (a.clock.now() - t0));
      assert.equal(a.member(), memberA, "a holds its lease until the renew deadline");
      touch(join(dir, "say"));
      await waitFor("a schedules the flush of work's new output", () => a.clock.flushes === 1);
      a.clock.advance(500);
      a.failNext = true;
      touch(join(dir, "quick-go-1"));
      await waitFor("the failed write of quick's end", () => a.errors.some((e) => e.includes("the status write failed")));
      const writesBefore = a.writes.length;

      a.clock.advance(500); // to the renew deadline: the fence
      assert.equal(a.member(), undefined, "a fenced itself at its renew deadline");
      assert.deepEqual(
        a.events.filter((e) => e.type === "TaskStopped"),
        [{ type: "TaskStopped", run: "default/lost", task: "work", attempt: 1, reason: "AgentLost" }],
        "the running task is stopped in the same turn as the fence, not at a later check",
      );
      a.clock.advance(FLUSH); // the retry, the flush (and a's backoff and requeues) come due: none of them may write
      await waitFor("work's attempt 1 to be gone", () => !alive(pid));
      assert.ok(a.leaseCallsRefused > 0, "a tried to renew (and to rejoin) and could not");

      // b comes up, waits out a's lease, and takes the run over.
      b = replica("loss", "b");
      await waitFor("b's lease", () => b!.member());
      await outlast(b);
      await running("lost", 2, b.member());
      assert.deepEqual(a.writes.slice(writesBefore), [], "a wrote nothing for the run after it lost its lease");
      await running("lost", 2, b.member(), ["quick"]);
      await waitFor("attempts 2 started", () => marks().length === 5);
      assert.equal(a.member(), undefined, "a is still cut off from its lease");
      touch(join(dir, "work-go-2"));
      touch(join(dir, "quick-go-2"));
      const done = await waitForPhase(env.http, "lost", "Succeeded");

      for (const name of ["work", "quick"]) {
        const t = done.status!.tasks![name]!;
        assert.deepEqual([t.phase, t.attempt, t.agent], ["Succeeded", 2, b.member()], name);
        const previous = (t as { previousAttempts?: Array<{ attempt: number; reason?: string; agent?: string }> }).previousAttempts ?? [];
        assert.deepEqual(
          previous.map((p) => [p.attempt, p.reason, p.agent]),
          [[1, "AgentLost", memberA]],
          `${name}: attempt 1 is recorded as lost with a`,
        );
      }
      assert.deepEqual(
        marks().sort(),
        ["quick end 1", "quick end 2", "quick start 1", "quick start 2", "work end 2", "work start 1", "work start 2"],
        "each attempt ran once; work's attempt 1 never ended",
      );
      assert.deepEqual(
        b.events.flatMap((e) => (e.type === "TaskStarted" ? [`${e.task} ${e.attempt}`] : [])).sort(),
        ["quick 2", "work 2"],
        "b started each task once",
      );
      assert.deepEqual(a.writes.slice(writesBefore), [], "a wrote nothing for the run after it lost its lease");
      assert.ok(!b.writes.some((w) => w.member !== b!.member()), "b wrote for the run only under its lease");
    } finally {
      a.partitioned = false;
      await Promise.all([a.stop(), b?.stop()]);
    }
    assert.deepEqual(b?.errors, [], "b reported no errors");
  });

  it("a status write in flight when the lease is lost is refused by its precondition, not applied over the new owner's", async () => {
    const dir = join(env.dir, "inflight");
    const marks = () => markers(join(dir, "marks"));
    const a = replica("inflight", "a");
    let b: Replica | undefined;
    try {
      await waitFor("a's lease", () => a.member());
      const t0 = a.clock.now();
      await createRun(env.http, "inflight", { tasks: [{ name: "work", run: task(dir, "work") }] });
      await running("inflight", 1, a.member());
      await waitFor("attempt 1 started", () => marks().includes("work start 1"));

      // Attempt 1 ends; a's write of its end is held on its way to the server.
      a.hold = (body) => body.status?.tasks?.work?.phase === "Succeeded";
      touch(join(dir, "work-go-1"));
      const held = await waitFor("a's status write of attempt 1's end, in flight", () => a.held);
      assert.equal(held.body.status!.tasks!.work!.attempt, 1);
      const writesBefore = a.writes.length;

      // Meanwhile a loses its lease, and b takes the run over.
      a.partitioned = true;
      a.clock.advance(DEADLINE - (a.clock.now() - t0));
      assert.equal(a.member(), undefined, "a fenced itself at its renew deadline");
      b = replica("inflight", "b");
      await waitFor("b's lease", () => b!.member());
      await outlast(b);
      const taken = await running("inflight", 2, b.member());
      assert.equal(taken.status!.phase, "Running");

      // a's write arrives now, with the resourceVersion a read before b's write.
      held.release();
      const outcome = await held.outcome;
      assert.ok(
        outcome instanceof ConflictError,
        `a's late write is refused with a conflict, got ${outcome instanceof Error ? outcome.message : `the write applied: ${JSON.stringify(outcome.status)}`}`,
      );
      const now: Run = (await getRun(env.http, "inflight"))!;
      const w = now.status!.tasks!.work!;
      assert.deepEqual([w.phase, w.attempt, w.agent], ["Running", 2, b.member()], "b's status stands");

      await waitFor("attempt 2 started", () => marks().includes("work start 2"));
      touch(join(dir, "work-go-2"));
      const done = await waitForPhase(env.http, "inflight", "Succeeded");
      assert.deepEqual([done.status!.tasks!.work!.attempt, done.status!.tasks!.work!.agent], [2, b.member()]);
      assert.deepEqual(marks(), ["work start 1", "work end 1", "work start 2", "work end 2"]);
      assert.deepEqual(a.writes.slice(writesBefore), [], "after the conflict a did not try again");
    } finally {
      a.partitioned = false;
      a.held?.release();
      await Promise.all([a.stop(), b?.stop()]);
    }
    assert.deepEqual(b?.errors, [], "b reported no errors");
  });
  it("deleting its run meanwhile: the old replica never removes the finalizer, the one taking over does", async () => {
    const dir = join(env.dir, "deleted");
    const a = replica("deleting", "a");
    let b: Replica | undefined;
    try {
      await waitFor("a's lease", () => a.member());
      const t0 = a.clock.now();
      await createRun(env.http, "deleted", { tasks: [{ name: "work", run: stubborn(dir) }] });
      await running("deleted", 1, a.member());
      await waitFor("attempt 1 started", () => markers(join(dir, "marks")).includes("start 1"));
      const started = a.events.find((e) => e.type === "TaskStarted" && e.run === "default/deleted");
      const pid = started?.type === "TaskStarted" ? started.pid! : 0;

      // Short of a's renew deadline (its renewals failing), the run is deleted: a stops the task,
      // which ignores SIGTERM, so a's finalizing waits for the kill grace, due after the deadline.
      a.partitioned = true;
      a.clock.advance(DEADLINE - 500 - (a.clock.now() - t0));
      const deleting = await env.http.del(`${RUNS}/deleted`);
      assert.equal(deleting.status, 200, deleting.text);
      await waitFor("a stops the task of the deleted run", () => a.events.some((e) => e.type === "TaskStopped" && e.reason === "Deleted"));
      const writesBefore = a.writes.length;

      a.clock.advance(500); // the fence
      assert.equal(a.member(), undefined, "a fenced itself at its renew deadline");
      await waitFor("the task killed at the fence", () => !alive(pid));
      a.clock.advance(5000); // the kill grace, a's requeues and backoff: none may write
      const kept = await getRun(env.http, "deleted");
      assert.ok(kept?.metadata.deletionTimestamp, "the run is still being deleted");
      assert.deepEqual(kept.metadata.finalizers, [WORKDIR_FINALIZER], "a left the finalizer to the next owner");

      b = replica("deleting", "b");
      await waitFor("b's lease", () => b!.member());
      await outlast(b);
      await waitFor("the run gone", async () => (await getRun(env.http, "deleted")) === undefined);
      assert.deepEqual(a.writes.slice(writesBefore), [], "a wrote nothing for the run after it lost its lease");
      assert.deepEqual(
        b.writes.filter((w) => w.name === "deleted").map((w) => [w.verb, w.member]),
        [["update", b.member()]],
        "b removed the finalizer",
      );
      assert.deepEqual(markers(join(dir, "marks")), ["start 1"], "nothing ran again");
    } finally {
      a.partitioned = false;
      await Promise.all([a.stop(), b?.stop()]);
    }
    assert.deepEqual(b?.errors, [], "b reported no errors");
  });
});
