// The runner's decisions, as one pure function of a run's spec, its recorded
// status and what the agent knows of the attempts status records as running:
// the next status, and which tasks to start now. No I/O, no clock (`now` is an
// input), so every rule below is tested without processes or a server.
//
// Rules:
// - A run whose phase is Succeeded, Failed or Cancelled is final: nothing
//   changes but observedGeneration.
// - A Running task's attempt is `running` (leave it), `finished` (record its
//   result), or `lost` (its process died with its agent: it goes back to
//   Pending with reason AgentLost and reruns as a new attempt, without using
//   up a retry).
// - A failed attempt is retried (as attempt n+1) while the task has retries
//   left; then the task is Failed. Tasks that run after a failed, cancelled or
//   skipped task are Skipped; the others still run. The run is Failed once
//   nothing can run any more and a task did not succeed.
// - `spec.cancel`: nothing new starts; Pending tasks become Skipped (or
//   Cancelled if an earlier attempt ran); running attempts are being stopped
//   by the agent and become Cancelled when they end; the run is Cancelled
//   once no task runs.
// - Ready tasks (Pending, every runAfter Succeeded, not busy) start in spec
//   order, at most `slots` of them; each start records phase Running, the next
//   attempt number, startTime and the agent, and moves how the previous
//   attempt ended (with its output's tail) to previousAttempts (the newest
//   MAX_PREVIOUS_ATTEMPTS), so every attempt's output can still be read.
// - A spec the server should have refused (a cycle, a runAfter naming no
//   task, a duplicate name: a server started without PIPELINE_VALIDATORS, or
//   a run stored before them) starts nothing: its Pending tasks are Skipped
//   and the run Failed, condition reason InvalidSpec, the message naming each
//   field, once no attempt of it still runs.

import { humanDuration } from "../../human-duration.ts";
import { blockedTasks } from "../graph.ts";
import {
  MAX_PREVIOUS_ATTEMPTS,
  PREVIOUS_OUTPUT_MAX,
  validatePipelineRun,
  type AttemptRecord,
  type PipelineRunSpec,
  type PipelineRunStatus,
  type PipelineTask,
  type RunPhase,
  type TaskPhase,
  type TaskStatus,
} from "../resource-type.ts";
import type { Condition } from "../../wire.ts";

/** How an attempt ended, as the agent that ran it saw. */
export interface AttemptResult {
  outcome: "Succeeded" | "Failed" | "Cancelled";
  exitCode?: number;
  signal?: string;
  /** e.g. Completed, Error, TimedOut, StartError, Cancelled. */
  reason: string;
  message: string;
  output: string;
  /** Characters of output written before `output` and not kept; undefined when not known. */
  outputDropped?: number;
  /** RFC 3339. */
  completionTime: string;
}

/** What the agent knows of an attempt that status records as Running. */
export type AttemptState =
  | {
      state: "running" /** The output so far, to publish (with the characters before it not kept); undefined keeps the recorded one. */;
      output?: string;
      outputDropped?: number;
    }
  | { state: "lost" }
  | { state: "finished"; result: AttemptResult };

export interface ScheduleInput {
  spec: PipelineRunSpec;
  status: PipelineRunStatus | undefined;
  /** The generation to record as observed. */
  observedGeneration: number | undefined;
  /** RFC 3339 time to record for what happens now. */
  now: string;
  /** Recorded as `agent` of the attempts started. */
  agent: string;
  /** What is known of the attempt `status` records as Running for task `name`. */
  attempt(name: string, status: TaskStatus): AttemptState;
  /** Most tasks to start now; 0 starts none. */
  slots: number;
  /** Tasks that may not start now (a process of an earlier attempt is still here). */
  busy?: ReadonlySet<string>;
}

export interface ScheduleResult {
  status: PipelineRunStatus;
  /** Tasks to start now, each with the attempt number the status records. */
  start: Array<{ task: PipelineTask; attempt: number }>;
  /** Tasks that could start but did not, for want of slots (or busy); the message does not mention them, so a status written with no slots equals one written with some. */
  waiting: string[];
}

const FINAL_RUN_PHASES: ReadonlySet<string> = new Set(["Succeeded", "Failed", "Cancelled"]);
const DEAD_TASK_PHASES: ReadonlySet<string> = new Set(["Failed", "Cancelled", "Skipped"]);

/** Whether a run phase is final. */
export function isFinalPhase(phase: string | undefined): boolean {
  return phase !== undefined && FINAL_RUN_PHASES.has(phase);
}

/** A copy of `s` without the fields that describe how an attempt ended. */
function withoutEnding(s: TaskStatus): TaskStatus {
  const { completionTime: _c, exitCode: _e, signal: _s, reason: _r, message: _m, output: _o, outputDropped: _d, ...rest } = s;
  return rest as TaskStatus;
}

/** The record of the attempt that `s` (a Pending task about to run again) describes. */
function endedAttempt(s: TaskStatus): AttemptRecord {
  const output = s.output === undefined ? undefined : previousTail(s.output);
  // What this shorter tail leaves out, when the recorded one said what it left out (a status written before outputDropped did not).
  const dropped = output === undefined || typeof s.outputDropped !== "number" ? undefined : s.outputDropped + s.output!.length - output.length;
  return {
    attempt: s.attempt ?? 0,
    outcome: s.reason === "AgentLost" ? "Lost" : "Failed",
    ...(s.startTime !== undefined && { startTime: s.startTime }),
    ...(s.completionTime !== undefined && { completionTime: s.completionTime }),
    ...(s.exitCode !== undefined && { exitCode: s.exitCode }),
    ...(s.signal !== undefined && { signal: s.signal }),
    ...(s.reason !== undefined && { reason: s.reason }),
    ...(s.message !== undefined && { message: s.message }),
    ...(output !== undefined && { output }),
    ...(dropped !== undefined && { outputDropped: dropped }),
    ...(s.agent !== undefined && { agent: s.agent }),
  };
}

/** The last PREVIOUS_OUTPUT_MAX characters of `output`, not starting inside a surrogate pair. */
function previousTail(output: string): string {
  const t = output.slice(-PREVIOUS_OUTPUT_MAX);
  const first = t.charCodeAt(0);
  return first >= 0xdc00 && first <= 0xdfff && t.length < output.length ? t.slice(1) : t;
}

/** The next status of a run and the tasks to start (see the file header). */
export function schedule(input: ScheduleInput): ScheduleResult {
  const { spec, now } = input;
  const prev: PipelineRunStatus = input.status ?? {};
  const observed = input.observedGeneration === undefined ? {} : { observedGeneration: input.observedGeneration };
  if (isFinalPhase(prev.phase)) return { status: { ...prev, ...observed }, start: [], waiting: [] };

  const cancel = spec.cancel === true;
  const tasks = spec.tasks;
  const next: Record<string, TaskStatus> = {};
  const causes = validatePipelineRun({ spec }).map((c) => `${c.field}: ${c.message}`);
  // Bounded: the message must fit the status schema (32 KiB) however many tasks are wrong.
  const invalid = causes.length > 10 ? [...causes.slice(0, 10), `and ${causes.length - 10} more`] : causes;

  // 1. Running attempts: keep, record their result, or give them up as lost.
  for (const t of tasks) {
    const before = prev.tasks?.[t.name];
    let s: TaskStatus = before ? { ...before } : { phase: "Pending", attempt: 0 };
    if (s.phase === "Running") {
      const a = input.attempt(t.name, s);
      if (a.state === "running") {
        if (a.output !== undefined) {
          s.output = a.output;
          if (a.outputDropped !== undefined) s.outputDropped = a.outputDropped;
          else delete s.outputDropped;
        }
      } else if (a.state === "lost") {
        s = {
          ...withoutEnding(s),
          // What it printed before it was lost, for previousAttempts.
          ...(s.output !== undefined && { output: s.output }),
          ...(s.output !== undefined && typeof s.outputDropped === "number" && { outputDropped: s.outputDropped }),
          phase: cancel ? "Cancelled" : "Pending",
          completionTime: now,
          reason: "AgentLost",
          message: `attempt ${s.attempt ?? 0} was lost with its agent${s.agent ? ` ${s.agent}` : ""}${cancel ? "" : "; it runs again"}`,
        };
      } else {
        const r = a.result;
        s = {
          ...withoutEnding(s),
          ...(r.exitCode !== undefined && { exitCode: r.exitCode }),
          ...(r.signal !== undefined && { signal: r.signal }),
          completionTime: r.completionTime,
          reason: r.reason,
          message: r.message,
          output: r.output,
          ...(r.outputDropped !== undefined && { outputDropped: r.outputDropped }),
          phase: r.outcome,
        };
        if (r.outcome === "Failed") {
          const failed = (typeof s.failedAttempts === "number" ? s.failedAttempts : 0) + 1;
          const retries = t.retries ?? 0;
          s.failedAttempts = failed;
          if (failed <= retries && !cancel) {
            s.phase = "Pending";
            s.message = `${r.message}; retrying (${failed} of ${retries} ${retries === 1 ? "retry" : "retries"} used)`;
          }
        }
      }
    }
    next[t.name] = s;
  }

  // 2. What can no longer run.
  if (cancel) {
    for (const t of tasks) {
      const s = next[t.name]!;
      if (s.phase !== "Pending") continue;
      const ran = (s.attempt ?? 0) > 0;
      next[t.name] = { ...s, phase: ran ? "Cancelled" : "Skipped", reason: "Cancelled", message: "the run was cancelled", ...(ran && { completionTime: now }) };
    }
  } else if (invalid.length > 0) {
    for (const t of tasks) {
      const s = next[t.name]!;
      if (s.phase === "Pending") next[t.name] = { ...s, phase: "Skipped", reason: "InvalidSpec", message: "not run: the run's spec is invalid" };
    }
  } else {
    const dead = new Set(tasks.filter((t) => DEAD_TASK_PHASES.has(next[t.name]!.phase)).map((t) => t.name));
    for (const name of blockedTasks(tasks, dead)) {
      const s = next[name]!;
      if (s.phase !== "Pending") continue;
      const t = tasks.find((x) => x.name === name)!;
      const after = (t.runAfter ?? []).filter((d) => next[d]!.phase !== "Succeeded");
      next[name] = { ...s, phase: "Skipped", reason: "UpstreamFailed", message: `not run: it runs after ${after.join(", ")}, which did not succeed` };
    }
  }

  // 3. Start what is ready.
  const start: ScheduleResult["start"] = [];
  const waiting: string[] = [];
  if (!cancel && invalid.length === 0) {
    for (const t of tasks) {
      const s = next[t.name]!;
      if (s.phase !== "Pending" || !(t.runAfter ?? []).every((d) => next[d]?.phase === "Succeeded")) continue;
      if (start.length >= input.slots || input.busy?.has(t.name)) {
        waiting.push(t.name);
        continue;
      }
      const attempt = (s.attempt ?? 0) + 1;
      const previousAttempts = (s.attempt ?? 0) > 0 ? [...(s.previousAttempts ?? []), endedAttempt(s)].slice(-MAX_PREVIOUS_ATTEMPTS) : s.previousAttempts;
      next[t.name] = { ...withoutEnding(s), ...(previousAttempts && { previousAttempts }), phase: "Running", attempt, startTime: now, agent: input.agent };
      start.push({ task: t, attempt });
    }
  }

  // 4. The run.
  const phases = tasks.map((t) => next[t.name]!.phase);
  const count = (p: TaskPhase) => phases.filter((x) => x === p).length;
  let phase: RunPhase;
  if (count("Running") > 0) phase = "Running";
  else if (count("Succeeded") === tasks.length) phase = "Succeeded";
  else if (count("Pending") === 0) phase = cancel ? "Cancelled" : "Failed";
  else phase = tasks.some((t) => (next[t.name]!.attempt ?? 0) > 0) ? "Running" : "Pending";

  let message = runMessage(phase, tasks, next, cancel);
  if (invalid.length > 0 && !cancel) {
    const running = tasks.filter((t) => next[t.name]!.phase === "Running").map((t) => t.name);
    message = `invalid spec: ${invalid.join("; ")}${running.length > 0 ? `; waiting for ${running.join(", ")} to end` : ""}`;
  }
  const startTime = prev.startTime ?? now;
  const status: PipelineRunStatus = { ...prev, ...observed, phase, startTime, progress: `${count("Succeeded")}/${tasks.length}`, message, tasks: next };
  delete status.completionTime;
  delete status.duration;
  if (isFinalPhase(phase)) {
    status.completionTime = now;
    // A duration, not an age: a clock that stepped back reads 0s, never kube's "<invalid>".
    status.duration = humanDuration(Math.max(0, Date.parse(now) - Date.parse(startTime)));
  }
  const reason = invalid.length > 0 && phase === "Failed" ? "InvalidSpec" : phase;
  status.conditions = withSucceededCondition(prev.conditions, { phase, reason, message, now, generation: input.observedGeneration });
  return { status, start, waiting };
}

function runMessage(phase: RunPhase, tasks: readonly PipelineTask[], next: Record<string, TaskStatus>, cancel: boolean): string {
  const named = (p: TaskPhase) => tasks.filter((t) => next[t.name]!.phase === p).map((t) => t.name);
  const succeeded = named("Succeeded").length;
  switch (phase) {
    case "Succeeded":
      return `all ${tasks.length} tasks succeeded`;
    case "Failed": {
      const failed = named("Failed");
      const first = failed[0] === undefined ? undefined : next[failed[0]]!;
      const why = first ? `task ${failed[0]} failed${first.message ? `: ${first.message}` : ""}` : "a task did not succeed";
      return `${why} (${succeeded} of ${tasks.length} tasks succeeded)`;
    }
    case "Cancelled":
      return `cancelled (${succeeded} of ${tasks.length} tasks succeeded)`;
    case "Running": {
      const running = named("Running");
      if (cancel) return `cancelling: stopping ${running.join(", ")}`;
      return `${succeeded} of ${tasks.length} tasks succeeded${running.length > 0 ? `; running ${running.join(", ")}` : ""}`;
    }
    case "Pending":
      return "waiting to start";
  }
}

/** `conditions` with the Succeeded condition set for `phase`; lastTransitionTime moves only when its status changes. */
function withSucceededCondition(
  prev: Condition[] | undefined,
  succeeded: { phase: RunPhase; reason: string; message: string; now: string; generation: number | undefined },
): Condition[] {
  const { phase, reason, message, now, generation } = succeeded;
  const status: Condition["status"] = phase === "Succeeded" ? "True" : phase === "Failed" || phase === "Cancelled" ? "False" : "Unknown";
  const old = prev?.find((c) => c.type === "Succeeded");
  const condition: Condition = {
    type: "Succeeded",
    status,
    reason,
    message,
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now,
    ...(generation !== undefined && { observedGeneration: generation }),
  };
  return [...(prev ?? []).filter((c) => c.type !== "Succeeded"), condition];
}
