// How the CLI shows a PipelineRun (src/pipelines/resource-type.ts has its
// shape): its table columns, `describe` text and `logs` output. Tasks are
// shown in graph order (each after the tasks it runs after), falling back to
// spec order for a graph that does not validate.

import { topologicalOrder } from "../pipelines/graph.ts";
import { wholeLines } from "../pipelines/output-tail.ts";
import { OUTPUT_TAIL_MAX, PREVIOUS_OUTPUT_MAX, type PipelineRunStatus, type PipelineTask, type TaskStatus } from "../pipelines/resource-type.ts";
import type { LooseObject } from "../wire.ts";
import { age, AGE, humanDuration, renderTable, type Column } from "./table.ts";

const tasksOf = (o: LooseObject): PipelineTask[] => (Array.isArray(o.spec?.tasks) ? (o.spec.tasks as PipelineTask[]) : []);
const statusOf = (o: LooseObject): PipelineRunStatus => (o.status && typeof o.status === "object" ? (o.status as PipelineRunStatus) : {});
const taskStatus = (o: LooseObject, name: string): TaskStatus | undefined => statusOf(o).tasks?.[name];

/** The run's phase; `Pending` before an agent has written any status. */
export const runPhase = (o: LooseObject): string => statusOf(o).phase ?? "Pending";

/** `succeeded/total` tasks. */
function taskCount(o: LooseObject): string {
  const tasks = tasksOf(o);
  const done = tasks.filter((t) => taskStatus(o, t.name)?.phase === "Succeeded").length;
  return `${done}/${tasks.length}`;
}

function duration(start: string | undefined, end: string | undefined, now: number): string {
  const s = start === undefined ? NaN : Date.parse(start);
  if (Number.isNaN(s)) return "<none>";
  const e = end === undefined ? now : Date.parse(end);
  return humanDuration(Math.max(0, (Number.isNaN(e) ? now : e) - s)); // a duration: 0s, not "<invalid>", if the clocks disagree
}

const PHASE: Column = { header: "PHASE", cell: (o) => runPhase(o) };
const TASKS: Column = { header: "TASKS", cell: (o) => taskCount(o) };

/** NAME is added by the caller; these follow it. TASKS is succeeded/total. */
export const PIPELINE_RUN_COLUMNS: Column[] = [PHASE, TASKS, AGE];

export const PIPELINE_RUN_WIDE_COLUMNS: Column[] = [
  PHASE,
  TASKS,
  AGE,
  { header: "DURATION", cell: (o, now) => duration(statusOf(o).startTime, statusOf(o).completionTime, now) },
  {
    header: "RUNNING",
    cell: (o) =>
      tasksOf(o)
        .filter((t) => taskStatus(o, t.name)?.phase === "Running")
        .map((t) => t.name)
        .join(",") || "<none>",
  },
];

/** Task names in graph order, or spec order if the graph does not validate. */
export function orderedTasks(o: LooseObject): PipelineTask[] {
  const tasks = tasksOf(o).filter((t) => t && typeof t.name === "string");
  try {
    const order = topologicalOrder(tasks);
    const byName = new Map(tasks.map((t) => [t.name, t]));
    return order.map((n) => byName.get(n)!);
  } catch {
    return tasks;
  }
}

const none = (v: unknown): string => (v === undefined || v === null || v === "" ? "<none>" : String(v));
const when = (t: string | undefined, now: number): string => (t === undefined ? "<none>" : `${t} (${age(t, now)} ago)`);
export const indent = (text: string, by = "  "): string =>
  text
    .split("\n")
    .map((l) => (l === "" ? l : by + l))
    .join("\n");

/** The task's command on one line, at most 60 characters. */
function commandOf(t: PipelineTask): string {
  const full =
    typeof t.run === "string"
      ? t.run.trim()
      : [...(t.command ?? []), ...(t.args ?? [])].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
  const lines = full.split("\n");
  const first = lines[0]!.trim() + (lines.length > 1 ? " …" : "");
  return first.length > 60 ? `${first.slice(0, 59)}…` : first;
}

/** `describe`'s text for a PipelineRun, after the common metadata lines. */
export function describePipelineRun(o: LooseObject, now: number): string {
  const s = statusOf(o);
  const lines: string[] = [];
  const field = (k: string, v: string) => lines.push(`${(k + ":").padEnd(14)}${v}`);
  field("Phase", runPhase(o) + (o.spec?.cancel === true && s.phase !== "Cancelled" ? " (cancel requested)" : ""));
  if (s.message) field("Message", s.message);
  field("Started", when(s.startTime, now));
  field("Completed", when(s.completionTime, now));
  field("Duration", duration(s.startTime, s.completionTime, now));
  field("Observed", `generation ${none(s.observedGeneration)} of ${none(o.metadata.generation)}`);
  const params = Object.entries((o.spec?.params ?? {}) as Record<string, string>);
  lines.push(params.length === 0 ? "Params:       <none>" : "Params:");
  for (const [k, v] of params) lines.push(`  ${k}=${v}`);

  const conditions = s.conditions ?? [];
  if (conditions.length === 0) lines.push("Conditions:   <none>");
  else {
    lines.push("Conditions:");
    const rows = conditions.map((c) => [c.type, c.status, none(c.reason), c.lastTransitionTime ? age(c.lastTransitionTime, now) : "<none>", none(c.message)]);
    lines.push(indent(renderTable(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows)));
  }

  const tasks = orderedTasks(o);
  lines.push("Tasks:");
  const rows = tasks.map((t) => {
    const ts = taskStatus(o, t.name);
    return [
      t.name,
      ts?.phase ?? "Pending",
      attemptCell(t, ts),
      ts?.exitCode !== undefined ? String(ts.exitCode) : (ts?.signal ?? "<none>"),
      ts?.startTime !== undefined ? duration(ts.startTime, ts.completionTime, now) : "<none>",
      (t.runAfter ?? []).join(",") || "<none>",
      none(ts?.reason),
      commandOf(t),
    ];
  });
  lines.push(indent(renderTable(["NAME", "PHASE", "ATTEMPT", "EXIT", "DURATION", "RUN AFTER", "REASON", "COMMAND"], rows)));
  const extra = Object.keys(s.tasks ?? {}).filter((n) => !tasks.some((t) => t.name === n));
  if (extra.length > 0) lines.push(`  (status also has tasks no longer in spec: ${extra.join(", ")})`);
  lines.push(
    `Output:       setpoint logs ${o.metadata.name ?? ""}${o.metadata.namespace && o.metadata.namespace !== "default" ? ` -n ${o.metadata.namespace}` : ""} [TASK]`,
  );
  return lines.join("\n");
}

/**
 * describe's ATTEMPT cell: the attempt number, then what it means: how many
 * retries the task allows, and which earlier attempts were lost with their
 * agent (the attempt after one is a takeover, not a retry).
 */
export function attemptCell(t: PipelineTask, ts: TaskStatus | undefined): string {
  const attempt = ts?.attempt ?? 0;
  const notes: string[] = [];
  const retries = t.retries ?? 0;
  if (retries > 0) notes.push(`${retries} ${retries === 1 ? "retry" : "retries"} allowed`);
  const lost = (ts?.previousAttempts ?? []).filter((a) => a.outcome === "Lost").map((a) => a.attempt);
  if (lost.length > 0) notes.push(`takeover: attempt ${lost.join(", ")} lost with ${lost.length === 1 ? "its agent" : "their agents"}`);
  return notes.length === 0 ? String(attempt) : `${attempt} (${notes.join("; ")})`;
}

/** One attempt of a task as `logs` shows it. */
export interface AttemptLog {
  attempt: number;
  /** Succeeded, Failed, Running, … for the current attempt; Failed or Lost for earlier ones. */
  phase: string;
  exitCode?: number;
  signal?: string;
  output?: string;
  /** The status kept only the end of the attempt's output; `output` then starts at its first whole line. */
  truncated?: boolean;
  /** Where `output` starts in all the attempt wrote (from the status's outputDropped); undefined in a status without it. */
  start?: number;
}

/** `output` as logs shows it: from its first whole line when the status kept only its end (wholeLines). */
function keptOutput(output: string | undefined, max: number, outputDropped: unknown): Pick<AttemptLog, "output" | "truncated" | "start"> {
  if (output === undefined) return {};
  const kept = wholeLines(output, max, outputDropped);
  const start = typeof outputDropped === "number" ? { start: outputDropped + output.length - kept.output.length } : {};
  return kept.cut ? { output: kept.output, truncated: true, ...start } : { output, ...start };
}

/** A task's attempts that status records, oldest first: the kept earlier ones, then the current or last one. */
export function taskAttempts(o: LooseObject, task: string): AttemptLog[] {
  const ts = taskStatus(o, task);
  if (!ts) return [];
  const earlier: AttemptLog[] = (ts.previousAttempts ?? []).map((a) => ({
    attempt: a.attempt,
    phase: a.outcome,
    ...(a.exitCode !== undefined && { exitCode: a.exitCode }),
    ...(a.signal !== undefined && { signal: a.signal }),
    ...keptOutput(a.output, PREVIOUS_OUTPUT_MAX, a.outputDropped),
  }));
  const n = ts.attempt ?? 0;
  if (n === 0 || earlier.some((a) => a.attempt === n)) return earlier;
  const current: AttemptLog = {
    attempt: n,
    // Pending after an attempt: that attempt failed and waits for its retry, or was lost with its agent.
    phase: ts.phase === "Pending" ? (ts.reason === "AgentLost" ? "Lost" : "Failed") : ts.phase,
    ...(ts.exitCode !== undefined && { exitCode: ts.exitCode }),
    ...(ts.signal !== undefined && { signal: ts.signal }),
    ...keptOutput(ts.output, OUTPUT_TAIL_MAX, ts.outputDropped),
  };
  return [...earlier, current];
}

/** What a header adds for an attempt whose status kept only the end of its output. */
export const NOT_KEPT = "earlier output not kept";

/** An attempt's phase with its exit code or signal: `Failed, exit 2`. */
export const attemptOutcome = (a: AttemptLog): string => [a.phase, a.exitCode !== undefined ? `exit ${a.exitCode}` : a.signal].filter(Boolean).join(", ");

/**
 * The header `logs` prints above one attempt's output; `showTruncated`
 * (default true) adds NOT_KEPT for an attempt whose output begins part way,
 * `note` a last remark.
 */
export function attemptHeader(task: string, a: AttemptLog, options: { showTruncated?: boolean; note?: string } = {}): string {
  const notes = [attemptOutcome(a), a.truncated && options.showTruncated !== false ? NOT_KEPT : undefined, options.note].filter(Boolean).join("; ");
  return `==> ${task} attempt ${a.attempt} (${notes}) <==`;
}
