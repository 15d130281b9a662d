// The PipelineRun reconciler: what one agent process does for each run. It
// owns this process's task processes, keyed by run uid, task and attempt, and
// keeps the run's status (the record) in step with them.
//
// - Reconcile (under the agent's claim on the run): adds the workdir
//   finalizer, asks the scheduler what to record and start, writes status
//   with ctx.updateStatus (a conflict propagates: the run is requeued, newer
//   state is never overwritten), and only then starts the processes. A task's
//   process is started only after status durably says it runs, so a crash can
//   only lose an attempt, never run one unrecorded; and never twice, because a
//   task with a process here is never started again.
// - Record (when a process of this agent ends, and at most every
//   `outputFlushMs` while its output grows): reads the run, and writes only
//   what this agent knows of its own attempts (guarded by attempt number and
//   agent id, with the read resourceVersion as precondition). The write wakes
//   the owner's reconcile, which starts what comes next.
// - Restart-safety: status is the record. A Running attempt that no process
//   here owns, whose agent is neither this one nor a live replica, is lost:
//   it reruns as a new attempt. Finished tasks are never run again.
// - A process never outlives its right to run: when the agent loses its lease
//   (the fence), its processes are killed at once; on shutdown they are
//   stopped (SIGTERM, then SIGKILL); and if the agent dies, task-process.ts's
//   watchdog kills them.
// - Nor does this agent write for an attempt begun under a lease it lost: only
//   attempts of its current member id are recorded (a task that ends, or
//   whose output is flushed or whose record is retried, after the fence is
//   left Running under the lost member, and the next owner reruns it), checked
//   again before every write. A write already in flight when the lease is lost
//   carries the resourceVersion it read: once the next owner has written, it
//   fails with a conflict instead of overwriting the new owner's status.
// - Deletion: the run's processes are stopped, its workspace removed, then the
//   finalizer. Every replica removes its own copy of a deleted run's
//   workspace when it sees the deletion.

import { rm } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import {
  boundedName,
  ConflictError,
  MAX_PATH_COMPONENT_BYTES,
  NotFoundError,
  type ApiObject,
  type InformerHandlers,
  type ReconcileContext,
  type ReconcileResult,
  type SetpointClient,
  type TypeRef,
} from "../../agent.ts";
import { OUTPUT_TAIL_MAX, type PipelineRunSpec, type PipelineRunStatus, type PipelineTask, type RunPhase } from "../resource-type.ts";
import { isFinalPhase, schedule, type AttemptResult } from "./scheduler.ts";
import { Attempts, type TaskEntry } from "./attempts.ts";
import { taskLaunch } from "./task-launch.ts";
import { startTaskProcess, type TaskExit } from "./task-process.ts";
import { systemClock, type Clock, type Timer } from "../../clock.ts";

export { AGENT_CREDENTIAL_ENV } from "./task-launch.ts";

/** A PipelineRun as the runner reads it. */
export type PipelineRun = ApiObject<PipelineRunSpec, PipelineRunStatus>;

/** The finalizer the runner keeps on every run until it has removed the run's workspace. */
export const WORKDIR_FINALIZER = "ci.setpoint.dev/workdir";

/** What the runner tells about its work (for logs). `run` is `namespace/name`. */
export type RunnerEvent =
  | { type: "TaskStarted"; run: string; task: string; attempt: number; pid: number | undefined; workspace: string }
  | { type: "TaskFinished"; run: string; task: string; attempt: number; outcome: AttemptResult["outcome"]; reason: string; message: string; durationMs: number }
  | { type: "TaskStopped"; run: string; task: string; attempt: number; reason: string }
  | { type: "RunFinished"; run: string; phase: RunPhase; message: string }
  | { type: "RunCleanedUp"; run: string; workspace: string };

export interface PipelineRunnerOptions {
  client: SetpointClient;
  /** The PipelineRun type. */
  type: TypeRef;
  /** Absolute directory under which each run gets its workspace. */
  workDir: string;
  /** Task processes this agent runs at once, across runs. */
  maxParallelTasks: number;
  /** SIGTERM → SIGKILL grace when stopping a task. */
  killGraceMs: number;
  /** Least time between two writes of a running task's output. */
  outputFlushMs: number;
  /** This agent's current member id (recorded as a task's `agent`); undefined while it holds no lease. */
  member(): string | undefined;
  /** The member ids of the live replicas (this one's included). */
  liveMembers(): readonly string[];
  /** Base environment of task processes. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Time source and timers (output flushes, retries, task timeouts and kill grace). Default: the system clock. */
  clock?: Clock;
  onEvent?: (event: RunnerEvent) => void;
  onError?: (err: unknown, key?: string) => void;
}

interface RunState {
  uid: string;
  key: string;
  namespace: string;
  name: string;
  workspace: string;
  /** Tail of the chain that serialises this run's status writes. */
  lock: Promise<unknown>;
  flushTimer?: Timer;
  retryTimer?: Timer;
}

/** Stop reasons after which the attempt is not recorded (the next owner reruns it). */
const UNRECORDED = new Set(["AgentLost", "AgentStopped"]);

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? {}));
const changed = (a: unknown, b: unknown): boolean => !isDeepStrictEqual(plain(a), plain(b));

/** Reconciles PipelineRuns and runs their tasks (see the file header). */
export class PipelineRunner {
  readonly #o: PipelineRunnerOptions;
  readonly #clock: Clock;
  readonly #now: () => number;
  /** This process's task processes by `uid/task/attempt`; an entry leaves once its end is recorded (or moot). */
  readonly #attempts = new Attempts();
  /** Runs this process has touched, by uid. */
  readonly #runs = new Map<string, RunState>();
  /** Slots promised to starts whose status write is in flight. */
  #reserved = 0;
  #stopping = false;

  constructor(options: PipelineRunnerOptions) {
    if (!Number.isInteger(options.maxParallelTasks) || options.maxParallelTasks < 1) {
      throw new RangeError(`runner: maxParallelTasks must be an integer >= 1, got ${options.maxParallelTasks}`);
    }
    if (!isAbsolute(options.workDir)) throw new RangeError(`runner: workDir must be absolute, got ${JSON.stringify(options.workDir)}`);
    this.#o = options;
    const clock = (this.#clock = options.clock ?? systemClock);
    this.#now = () => clock.now();
  }

  /** Task processes running now. */
  get runningTasks(): number {
    return this.#attempts.running;
  }

  /** The workspace directory of a run: `NAMESPACE/NAME-UID`, the name hash-shortened where the component would pass 255 bytes. */
  workspaceOf(run: PipelineRun): string {
    const uid = (run.metadata.uid ?? "").slice(0, 8);
    const name = boundedName(run.metadata.name, MAX_PATH_COMPONENT_BYTES - (uid ? uid.length + 1 : 0));
    return join(this.#o.workDir, run.metadata.namespace ?? "_cluster", `${name}${uid ? `-${uid}` : ""}`);
  }

  /** Informer handlers: stop this process's tasks of cancelled or deleted runs at once, whoever owns the run. */
  readonly handlers: InformerHandlers<PipelineRun> = {
    onUpdate: (_old, run) => {
      const uid = run.metadata.uid ?? "";
      if (run.metadata.deletionTimestamp) this.#stopRun(uid, "Deleted");
      else if (run.spec?.cancel === true) this.#stopRun(uid, "Cancelled");
    },
    onDelete: (run) => {
      const uid = run.metadata.uid ?? "";
      this.#stopRun(uid, "Deleted");
      void this.#cleanUp(uid, this.workspaceOf(run)).catch((err) => this.#o.onError?.(err, keyOf(run)));
    },
  };

  /** The agent's reconcile function for PipelineRuns. */
  async reconcile(key: string, ctx: ReconcileContext<PipelineRun>): Promise<ReconcileResult | void> {
    const run = ctx.object;
    if (!run) {
      for (const state of [...this.#runs.values()].filter((s) => s.key === key)) {
        this.#stopRun(state.uid, "Deleted");
        await this.#cleanUp(state.uid, state.workspace);
      }
      return;
    }
    const state = this.#stateOf(run);
    if (run.metadata.deletionTimestamp) return this.#finalize(state, run, ctx);
    if (!Array.isArray(run.spec?.tasks)) return; // the server's schema rules this out
    const finalizers = run.metadata.finalizers ?? [];
    if (!finalizers.includes(WORKDIR_FINALIZER)) {
      await ctx.client.update(
        this.#ref(state),
        { ...run, metadata: { ...run.metadata, finalizers: [...finalizers, WORKDIR_FINALIZER] } },
        { signal: ctx.signal },
      );
      return; // the watch brings the new version, and with it the next reconcile
    }
    if (run.spec?.cancel === true) this.#stopRun(state.uid, "Cancelled");
    this.#stopRemovedTasks(state.uid, run);
    const member = this.#o.member();
    if (member === undefined || this.#stopping) return { requeueAfter: 1000 };

    return this.#locked(state, async () => {
      this.#attempts.prune(state.uid, run);
      const slots = Math.max(0, this.#o.maxParallelTasks - this.runningTasks - this.#reserved);
      const live = new Set(this.#o.liveMembers());
      let foreign = false;
      const result = schedule({
        spec: run.spec!,
        status: run.status,
        observedGeneration: run.metadata.generation,
        now: this.#iso(),
        agent: member,
        slots,
        busy: this.#attempts.busy(state.uid),
        attempt: (name, s) => {
          const local = this.#attempts.stateOf(state.uid, name, s, false);
          if (local) return local;
          if (s.agent !== undefined && s.agent !== member && live.has(s.agent)) {
            foreign = true; // another live replica runs it and will record its end
            return { state: "running" };
          }
          return { state: "lost" };
        },
      });
      this.#reserved += result.start.length;
      try {
        let written = run;
        if (changed(run.status, { ...result.status, observedGeneration: run.metadata.generation })) {
          written = await ctx.updateStatus(result.status as Record<string, unknown>);
          this.#noteWrite(state, run, written);
        }
        for (const { task, attempt } of result.start) {
          if (ctx.signal.aborted) break; // recorded as running under a member that lost its lease: the next owner reruns it
          this.#start(state, written, task, attempt, member);
        }
        this.#attempts.prune(state.uid, written);
      } finally {
        this.#reserved -= result.start.length;
      }
      if (isFinalPhase(result.status.phase)) {
        if (this.#attempts.all(state.uid).length === 0) this.#forgetState(state); // rebuilt from the object if it is needed again
        return;
      }
      if (foreign || this.#attempts.stopping(state.uid)) return { requeueAfter: 1000 };
      if (result.waiting.length > 0) return { requeueAfter: 500 };
      return { requeueAfter: 10_000 }; // a safety net: process ends are recorded as they happen
    });
  }

  /**
   * The lease fence: kills, at once, every running task started under a member id that is no longer this agent's,
   * and forgets ended ones not yet recorded (the next owner reruns them).
   */
  checkFence(): void {
    const member = this.#o.member();
    for (const e of this.#attempts.all()) {
      if (e.agent === member) continue;
      if (e.result) this.#attempts.delete(e);
      else this.#stopEntry(e, "AgentLost", 0);
    }
  }

  /** Stops every task (SIGTERM, then SIGKILL after the grace) without recording it, and waits for them to end. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    const running = this.#attempts.all().filter((e) => !e.result);
    for (const e of running) this.#stopEntry(e, "AgentStopped");
    await Promise.all(running.map((e) => e.process.done));
    for (const s of this.#runs.values()) {
      s.flushTimer?.cancel();
      s.retryTimer?.cancel();
    }
  }

  // ---- internals ----

  /** RFC 3339 with milliseconds: task durations are often well under a second. */
  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  #ref(state: RunState) {
    return { ...this.#o.type, namespace: state.namespace, name: state.name };
  }

  #stateOf(run: PipelineRun): RunState {
    const uid = run.metadata.uid ?? "";
    let state = this.#runs.get(uid);
    if (!state) {
      state = {
        uid,
        key: keyOf(run),
        namespace: run.metadata.namespace ?? "",
        name: run.metadata.name,
        workspace: this.workspaceOf(run),
        lock: Promise.resolve(),
      };
      this.#runs.set(uid, state);
    }
    return state;
  }

  /** Runs `fn` after every earlier write of this run's status has settled. */
  #locked<T>(state: RunState, fn: () => Promise<T>): Promise<T> {
    const next = state.lock.then(fn, fn);
    state.lock = next.catch(() => {});
    return next;
  }

  #start(state: RunState, run: PipelineRun, task: PipelineTask, attempt: number, member: string): void {
    const workspace = state.workspace;
    const launch = taskLaunch({
      run: { name: run.metadata.name, namespace: run.metadata.namespace, spec: run.spec! },
      task,
      attempt,
      workspace,
      baseEnv: this.#o.env ?? process.env,
    });
    const proc = startTaskProcess(launch.argv, {
      cwd: launch.cwd,
      env: launch.env,
      timeoutMs: task.timeoutSeconds === undefined ? undefined : task.timeoutSeconds * 1000,
      killGraceMs: this.#o.killGraceMs,
      outputMax: OUTPUT_TAIL_MAX,
      onOutput: () => this.#scheduleFlush(state),
      clock: this.#clock,
    });
    const entry: TaskEntry = { uid: state.uid, task: task.name, attempt, agent: member, process: proc, startedAt: this.#now() };
    this.#attempts.add(entry);
    this.#o.onEvent?.({ type: "TaskStarted", run: state.key, task: task.name, attempt, pid: proc.pid, workspace });
    void proc.done.then((exit) => {
      const reason = proc.stopReason;
      // Ended after the fence (before its kill, or killed by it): not this agent's to record any more.
      if ((reason !== undefined && UNRECORDED.has(reason)) || entry.agent !== this.#o.member()) {
        this.#attempts.delete(entry);
        return;
      }
      entry.result = resultOf(exit, reason, this.#isoOf(exit.endedAt));
      this.#o.onEvent?.({
        type: "TaskFinished",
        run: state.key,
        task: task.name,
        attempt,
        outcome: entry.result.outcome,
        reason: entry.result.reason,
        message: entry.result.message,
        durationMs: exit.endedAt - entry.startedAt,
      });
      this.#record(state);
    });
  }

  #isoOf(ms: number): string {
    return new Date(ms).toISOString();
  }

  #stopEntry(e: TaskEntry, reason: string, graceMs?: number): void {
    if (e.result) return;
    const first = e.process.stopReason === undefined;
    e.process.stop(reason, graceMs);
    if (first) {
      const state = this.#runs.get(e.uid);
      this.#o.onEvent?.({ type: "TaskStopped", run: state?.key ?? e.uid, task: e.task, attempt: e.attempt, reason });
    }
  }

  #stopRun(uid: string, reason: string): void {
    for (const e of this.#attempts.all(uid)) this.#stopEntry(e, reason);
  }

  #stopRemovedTasks(uid: string, run: PipelineRun): void {
    const names = new Set((run.spec?.tasks ?? []).map((t) => t.name));
    for (const e of this.#attempts.all(uid)) if (!names.has(e.task)) this.#stopEntry(e, "Removed");
  }

  #scheduleFlush(state: RunState): void {
    if (state.flushTimer !== undefined) return;
    state.flushTimer = this.#clock.after(this.#o.outputFlushMs, () => {
      state.flushTimer = undefined;
      this.#record(state);
    });
  }

  /** Writes what this process knows of its own attempts of the run, those of its current member id only (see the file header). */
  #record(state: RunState): void {
    if (this.#stopping) return;
    void this.#locked(state, async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const member = this.#o.member();
        /** Whether this agent still holds the lease its attempts of the run began under (checked before each call). */
        const holds = () => member === this.#o.member() && this.#attempts.all(state.uid).some((e) => e.agent === member);
        if (member === undefined || !holds()) return;
        let run: PipelineRun;
        try {
          run = await this.#o.client.get<PipelineRun>(this.#ref(state));
        } catch (err) {
          if (err instanceof NotFoundError) return;
          throw err;
        }
        if (run.metadata.uid !== state.uid || run.metadata.deletionTimestamp || !run.spec) return;
        this.#attempts.prune(state.uid, run);
        const result = schedule({
          spec: run.spec,
          status: run.status,
          observedGeneration: run.status?.observedGeneration,
          now: this.#iso(),
          agent: member,
          slots: 0,
          attempt: (name, s) => (s.agent === member ? this.#attempts.stateOf(state.uid, name, s, true) : undefined) ?? { state: "running" },
        });
        if (!changed(run.status, result.status) || !holds()) return;
        try {
          const written = await this.#o.client.updateStatus<PipelineRun>(this.#ref(state), { ...run, status: result.status });
          this.#noteWrite(state, run, written);
          this.#attempts.prune(state.uid, written);
          return;
        } catch (err) {
          if (err instanceof NotFoundError) return;
          if (!(err instanceof ConflictError)) throw err;
        }
      }
      throw new ConflictError(`runner: status of ${state.key} kept changing; will retry`);
    }).catch((err) => {
      this.#o.onError?.(err, state.key);
      if (state.retryTimer === undefined && !this.#stopping) {
        state.retryTimer = this.#clock.after(1000, () => {
          state.retryTimer = undefined;
          this.#record(state);
        });
      }
    });
  }

  #noteWrite(state: RunState, before: PipelineRun, after: PipelineRun): void {
    const phase = after.status?.phase;
    if (phase !== undefined && isFinalPhase(phase) && !isFinalPhase(before.status?.phase)) {
      this.#o.onEvent?.({ type: "RunFinished", run: state.key, phase, message: after.status?.message ?? "" });
    }
  }

  async #finalize(state: RunState, run: PipelineRun, ctx: ReconcileContext<PipelineRun>): Promise<ReconcileResult | void> {
    this.#stopRun(state.uid, "Deleted");
    const running = this.#attempts.all(state.uid).filter((e) => !e.result);
    if (running.length > 0) {
      await Promise.race([
        Promise.all(running.map((e) => e.process.done)),
        new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true })),
      ]);
      if (this.#attempts.all(state.uid).some((e) => !e.result)) return { requeueAfter: 200 };
    }
    await this.#cleanUp(state.uid, state.workspace);
    const finalizers = run.metadata.finalizers ?? [];
    if (finalizers.includes(WORKDIR_FINALIZER)) {
      const rest = finalizers.filter((f) => f !== WORKDIR_FINALIZER);
      await ctx.client.update(this.#ref(state), { ...run, metadata: { ...run.metadata, finalizers: rest } }, { signal: ctx.signal });
    }
  }

  /** Removes a run's workspace once its processes here have ended, and forgets the run. */
  async #cleanUp(uid: string, workspace: string): Promise<void> {
    await Promise.all(this.#attempts.all(uid).map((e) => e.process.done));
    await rm(workspace, { recursive: true, force: true });
    this.#attempts.forget(uid);
    const state = this.#runs.get(uid);
    if (state) {
      this.#forgetState(state);
      this.#o.onEvent?.({ type: "RunCleanedUp", run: state.key, workspace });
    }
  }

  #forgetState(state: RunState): void {
    state.flushTimer?.cancel();
    state.retryTimer?.cancel();
    if (this.#runs.get(state.uid) === state) this.#runs.delete(state.uid);
  }
}

/** `namespace/name` (or `name`), the agent's key of an object. */
function keyOf(o: ApiObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** An attempt's result from how its process ended. */
function resultOf(exit: TaskExit, stopReason: string | undefined, completionTime: string): AttemptResult {
  const base = {
    ...(exit.exitCode !== undefined && { exitCode: exit.exitCode }),
    ...(exit.signal !== undefined && { signal: exit.signal }),
    message: exit.message,
    output: exit.output,
    outputDropped: exit.outputDropped,
    completionTime,
  };
  if (stopReason === "Cancelled" || stopReason === "Deleted" || stopReason === "Removed") return { ...base, outcome: "Cancelled", reason: stopReason };
  if (exit.reason === "Completed" && exit.exitCode === 0) return { ...base, outcome: "Succeeded", reason: "Completed" };
  return { ...base, outcome: "Failed", reason: exit.reason === "Completed" ? "Error" : exit.reason };
}
