// A PipelineRun's task graph (SVG: tasks as nodes, runAfter as edges,
// coloured by phase, with live durations), a timeline of each task's
// attempts (from every revision seen while the page is open, so a retried
// task shows both tries), and each task's output, following as it grows.
// The runner keeps the tail of each task's output in
// status.tasks[name].output (src/pipelines/resource-type.ts), cut at a
// character bound (src/pipelines/output-tail.ts), with how much it let go
// (outputDropped): a cut tail shows from its first whole line under a note
// that says so.

import { Fragment } from "preact";
import { useLayoutEffect, useRef } from "preact/hooks";
import { duration, span } from "../format.ts";
import { OUTPUT_TAIL_MAX, PREVIOUS_OUTPUT_MAX, wholeLines } from "../../pipelines/output-tail.ts";
import type { AttemptRecord, PipelineTask, TaskStatus as PipelineTaskStatus } from "../../pipelines/resource-type.ts";
import type { Obj } from "../types.ts";

/** What the console reads of a task and of its status (the PipelineRun's shapes, src/pipelines/resource-type.ts); a status may be partial while the run starts. */
type Task = Pick<PipelineTask, "name" | "runAfter">;
type TaskStatus = Partial<PipelineTaskStatus>;

/** Task name → attempt number → when it ran and how it ended, as seen so far. */
export type Attempts = Map<string, Map<number, { start: string; end?: string; phase?: string }>>;

/**
 * Adds what `run`'s status says about each task's attempts to `attempts`: the
 * current one, and the earlier ones the runner keeps in `previousAttempts`
 * (how each ended: Failed, or Lost with its agent), so a run opened after a
 * retry still shows every try. Attempts seen while the page was open and since
 * dropped from `previousAttempts` (it keeps the newest few) stay.
 */
export function recordAttempts(attempts: Attempts, run: Obj): void {
  const tasks = (run.status?.tasks ?? {}) as Record<string, TaskStatus>;
  for (const [name, t] of Object.entries(tasks)) {
    if (!t) continue;
    let byAttempt = attempts.get(name);
    const ensure = () => {
      if (!byAttempt) attempts.set(name, (byAttempt = new Map()));
      return byAttempt;
    };
    for (const p of Array.isArray(t.previousAttempts) ? t.previousAttempts : []) {
      if (!p || typeof p.attempt !== "number" || !p.startTime) continue;
      ensure().set(p.attempt, { start: p.startTime, end: p.completionTime, phase: p.outcome });
    }
    if (!t.attempt || !t.startTime) continue;
    const earlier = ensure().get(t.attempt - 1);
    if (earlier && !earlier.end) earlier.end = t.startTime;
    ensure().set(t.attempt, { start: t.startTime, end: t.completionTime, phase: t.phase });
  }
}

const W = 176;
const H = 56;
const GAP_X = 56;
const GAP_Y = 16;
const PAD = 8;

/** Columns by depth (longest runAfter chain above a task), in spec order within a column. */
function layout(tasks: Task[]): Map<string, { x: number; y: number }> {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const depth = new Map<string, number>();
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0; // a cycle (the server refuses those): do not loop
    seen.add(name);
    const deps = (byName.get(name)?.runAfter ?? []).filter((d) => byName.has(d));
    const d = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((x) => depthOf(x, seen)));
    depth.set(name, d);
    return d;
  };
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const t of tasks) {
    const d = depthOf(t.name, new Set());
    const r = rows.get(d) ?? 0;
    rows.set(d, r + 1);
    at.set(t.name, { x: PAD + d * (W + GAP_X), y: PAD + r * (H + GAP_Y) });
  }
  return at;
}

function TaskGraph({ tasks, status, now }: { tasks: Task[]; status: Record<string, TaskStatus>; now: number }) {
  const at = layout(tasks);
  const width = Math.max(...[...at.values()].map((p) => p.x)) + W + PAD;
  const height = Math.max(...[...at.values()].map((p) => p.y)) + H + PAD;
  return (
    <svg
      class="graph"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`task graph: ${tasks.map((t) => `${t.name} ${status[t.name]?.phase ?? "Pending"}`).join(", ")}`}
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrow" />
        </marker>
      </defs>
      {tasks.flatMap((t) =>
        (t.runAfter ?? []).map((dep) => {
          const a = at.get(dep);
          const b = at.get(t.name);
          if (!a || !b) return null;
          const x1 = a.x + W;
          const y1 = a.y + H / 2;
          const x2 = b.x - 2;
          const y2 = b.y + H / 2;
          const mid = (x1 + x2) / 2;
          return <path class="edge" data-edge={`${dep}->${t.name}`} d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`} marker-end="url(#arrow)" />;
        }),
      )}
      {tasks.map((t) => {
        const p = at.get(t.name)!;
        const s = status[t.name] ?? {};
        const phase = s.phase ?? "Pending";
        const took = span(s.startTime, s.phase === "Running" ? undefined : s.completionTime, now);
        return (
          <g class={`node tone-${phase}`} data-task={t.name} data-phase={phase} transform={`translate(${p.x} ${p.y})`}>
            <title>{`${t.name}: ${phase}${s.attempt ? `, attempt ${s.attempt}` : ""}${took ? `, ${took}` : ""}${s.reason ? ` (${s.reason})` : ""}`}</title>
            <rect width={W} height={H} rx="8" />
            <text x="10" y="22" class="node-name">
              {t.name.length > 22 ? `${t.name.slice(0, 21)}…` : t.name}
            </text>
            <text x="10" y="43" class="node-detail">
              {phase}
              {s.attempt && s.attempt > 1 ? ` #${s.attempt}` : ""}
              {took ? ` · ${took}` : ""}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function Timeline({ tasks, attempts, now }: { tasks: Task[]; attempts: Attempts; now: number }) {
  const bars = tasks.flatMap((t) =>
    [...(attempts.get(t.name) ?? new Map()).entries()].sort(([x], [y]) => x - y).map(([n, a]) => ({ task: t.name, attempt: n, ...a })),
  );
  if (bars.length === 0) return <p class="muted">No task has started yet.</p>;
  const t0 = Math.min(...bars.map((b) => Date.parse(b.start)));
  const t1 = Math.max(...bars.map((b) => (b.end ? Date.parse(b.end) : now)), t0 + 1000);
  const pct = (t: number) => `${((100 * (t - t0)) / (t1 - t0)).toFixed(2)}%`;
  return (
    <ul class="timeline" aria-label="when each task ran">
      {bars.map((b) => {
        const start = Date.parse(b.start);
        const end = b.end ? Date.parse(b.end) : now;
        return (
          <li class="tl-row" data-task={b.task} data-attempt={b.attempt} data-phase={b.phase}>
            <span class="tl-label">
              {b.task} <span class="muted">#{b.attempt}</span>
            </span>
            <span class="tl-track">
              <span
                class={`tl-bar tone-${b.phase ?? "Running"}`}
                style={{ left: pct(start), width: `max(2px, ${pct(t0 + Math.max(0, end - start))})` }}
                title={`${b.phase ?? ""} ${duration(end - start)}`}
              />
            </span>
            <span class="tl-took">{span(b.start, b.end, now)}</span>
          </li>
        );
      })}
    </ul>
  );
}

/**
 * A task's output; stays scrolled to the end as it grows unless the reader
 * scrolled up. A tail the runner cut (`dropped` above 0; in an older status,
 * one that filled the status's bound `max`) begins inside a line: it shows
 * from its first whole line, under a note that earlier output was not kept
 * (it used to start with the cut line's broken end).
 */
function Output({
  name,
  text: tail,
  max,
  dropped,
  attempt,
  open = true,
}: {
  name: string;
  text: string;
  max: number;
  /** The status's outputDropped: characters not kept before `text`. */
  dropped: unknown;
  attempt?: { n: number; label: string };
  open?: boolean;
}) {
  const pre = useRef<HTMLPreElement>(null);
  const follow = useRef(true);
  const { output: text, cut } = wholeLines(tail, max, dropped);
  useLayoutEffect(() => {
    const el = pre.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <details open={open} class="output" data-task={name} data-attempt={attempt?.n}>
      <summary>
        {name}
        {attempt ? <span class="muted"> · {attempt.label}</span> : null}
      </summary>
      {cut ? (
        <p class="cut muted">
          … earlier output not kept: the run's status keeps the last {max.toLocaleString("en-US")} characters; shown from the first whole line
        </p>
      ) : null}
      <pre
        ref={pre}
        role="region"
        tabIndex={0}
        aria-label={`output of ${name}${attempt ? `, ${attempt.label}` : ""}`}
        onScroll={(e) => {
          const el = e.currentTarget;
          follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 16;
        }}
      >
        {text}
      </pre>
    </details>
  );
}

/** A task's earlier attempts that left output, oldest first. */
function earlierOutputs(t: TaskStatus | undefined): AttemptRecord[] {
  return (Array.isArray(t?.previousAttempts) ? t.previousAttempts : []).filter(
    (p) => p && typeof p.attempt === "number" && typeof p.output === "string" && p.output,
  );
}

export function PipelineRunView({ run, attempts, now }: { run: Obj; attempts: Attempts; now: number }) {
  const tasks = (Array.isArray(run.spec?.tasks) ? run.spec.tasks : []).filter((t: Task) => t && typeof t.name === "string") as Task[];
  const status = (run.status?.tasks ?? {}) as Record<string, TaskStatus>;
  const took = span(run.status?.startTime, run.status?.completionTime, now);
  return (
    <div class="pipeline">
      <h2>
        Tasks {took ? <span class="muted">· {took}</span> : null} {run.status?.message ? <span class="muted">· {run.status.message}</span> : null}
      </h2>
      <div class="graph-wrap">{tasks.length > 0 ? <TaskGraph tasks={tasks} status={status} now={now} /> : null}</div>
      <h2>Timeline</h2>
      <Timeline tasks={tasks} attempts={attempts} now={now} />
      <h2>Output</h2>
      {tasks.filter((t) => status[t.name]?.output || earlierOutputs(status[t.name]).length > 0).length === 0 ? <p class="muted">No output yet.</p> : null}
      {tasks.map((t) => (
        <Fragment key={t.name}>
          {/* Earlier attempts' output (the runner keeps a shorter tail of each), closed: the current attempt's is what one reads first. */}
          {earlierOutputs(status[t.name]).map((p) => (
            <Output
              key={`${t.name}#${p.attempt}`}
              name={t.name}
              text={p.output!}
              max={PREVIOUS_OUTPUT_MAX}
              dropped={p.outputDropped}
              open={false}
              attempt={{ n: p.attempt, label: `attempt ${p.attempt} (${p.outcome}${typeof p.exitCode === "number" ? `, exit ${p.exitCode}` : ""})` }}
            />
          ))}
          {status[t.name]?.output ? (
            <Output key={t.name} name={t.name} text={status[t.name]!.output!} max={OUTPUT_TAIL_MAX} dropped={status[t.name]!.outputDropped} />
          ) : null}
        </Fragment>
      ))}
    </div>
  );
}
