// The task attempts this agent process runs, keyed by run uid, task and
// attempt number: what the runner asks of them when it schedules (which tasks
// are busy here, what it knows of an attempt a status records) and when it
// forgets attempts whose end the run's status has recorded.
//
// Invariant: an entry is here from its process's start until its end is
// recorded in the run's status (or made moot: the task was removed, a later
// attempt was recorded, or the attempt is not to be recorded at all).

import type { PipelineRunSpec, PipelineRunStatus, TaskStatus } from "../resource-type.ts";
import type { AttemptResult, AttemptState } from "./scheduler.ts";
import type { TaskProcess } from "./task-process.ts";

/** One attempt run by this process. */
export interface TaskEntry {
  uid: string;
  task: string;
  attempt: number;
  /** The member id the attempt was started (and recorded) under. */
  agent: string;
  process: TaskProcess;
  startedAt: number;
  /** Set when the process has ended and its end is to be recorded. */
  result?: AttemptResult;
}

export class Attempts {
  readonly #entries = new Map<string, TaskEntry>();

  static key(uid: string, task: string, attempt: number): string {
    return `${uid}/${task}/${attempt}`;
  }

  add(entry: TaskEntry): void {
    this.#entries.set(Attempts.key(entry.uid, entry.task, entry.attempt), entry);
  }

  delete(entry: TaskEntry): void {
    const k = Attempts.key(entry.uid, entry.task, entry.attempt);
    if (this.#entries.get(k) === entry) this.#entries.delete(k);
  }

  /** Every attempt, or those of run `uid`. */
  all(uid?: string): TaskEntry[] {
    const all = [...this.#entries.values()];
    return uid === undefined ? all : all.filter((e) => e.uid === uid);
  }

  /** Attempts whose process is still running. */
  get running(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (!e.result) n++;
    return n;
  }

  /** Tasks of run `uid` with a process still running here (an ended one's result is recorded in the same pass that may start the next attempt). */
  busy(uid: string): Set<string> {
    return new Set(
      this.all(uid)
        .filter((e) => !e.result)
        .map((e) => e.task),
    );
  }

  /** Whether a process of run `uid` is being stopped here. */
  stopping(uid: string): boolean {
    return this.all(uid).some((e) => !e.result && e.process.stopReason !== undefined);
  }

  /** What this process knows of the attempt `s` records; undefined if it is not one of this process's. */
  stateOf(uid: string, name: string, s: TaskStatus, withOutput: boolean): AttemptState | undefined {
    const e = this.#entries.get(Attempts.key(uid, name, s.attempt ?? 0));
    if (!e || e.agent !== s.agent) return undefined;
    if (e.result) return { state: "finished", result: e.result };
    return withOutput ? { state: "running", ...e.process.outputTail() } : { state: "running" };
  }

  /** Forgets ended attempts whose end `run`'s status has recorded (or that it has moved past). */
  prune(uid: string, run: { spec?: PipelineRunSpec; status?: PipelineRunStatus }): void {
    const names = new Set((run.spec?.tasks ?? []).map((t) => t.name));
    for (const [k, e] of this.#entries) {
      if (e.uid !== uid || !e.result) continue;
      const s = run.status?.tasks?.[e.task];
      const attempt = s?.attempt ?? 0;
      const recorded = s !== undefined && (attempt > e.attempt || (attempt === e.attempt && (s.phase !== "Running" || s.agent !== e.agent)));
      if (recorded || !names.has(e.task)) this.#entries.delete(k);
    }
  }

  /** Forgets every attempt of run `uid`. */
  forget(uid: string): void {
    for (const [k, e] of this.#entries) if (e.uid === uid) this.#entries.delete(k);
  }
}
