// The task graph of a PipelineRun: tasks are nodes, `runAfter` entries are
// edges from a task to the tasks it waits for. validateTaskGraph checks a
// user's graph (unique names, known names, no cycles) and reports each
// problem at its exact field; the other helpers answer what a runner asks
// (which tasks may start now, which can never run, in which order to show
// them). Pure functions: no I/O, no clock. Order is deterministic: results
// follow the order of `spec.tasks`.

import type { FieldCause } from "../errors.ts";

/** A task as the graph sees it; anything else in it is ignored. */
export interface TaskLike {
  name?: unknown;
  runAfter?: unknown;
}

/** A well-formed task (the server has validated it). */
export interface GraphTask {
  name: string;
  runAfter?: readonly string[];
}

const strings = (value: unknown): Array<string | undefined> => (Array.isArray(value) ? value.map((v: unknown) => (typeof v === "string" ? v : undefined)) : []);

/**
 * Checks a task list's graph: duplicate names, `runAfter` names that are no
 * task's, and cycles (a task after itself included). Each cause names the
 * precise field, e.g. `spec.tasks[2].runAfter[0]`. Entries that are not
 * objects, names that are not strings and the like are skipped: the schema
 * reports those.
 * @example validateTaskGraph(spec.tasks, "spec.tasks") // [] when fine
 */
export function validateTaskGraph(tasks: readonly unknown[], field: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const index = new Map<string, number>(); // name → index of its first task
  const list = tasks.map((t) => (t !== null && typeof t === "object" && !Array.isArray(t) ? (t as TaskLike) : {}));

  list.forEach((task, i) => {
    if (typeof task.name !== "string") return;
    if (index.has(task.name)) {
      causes.push({ field: `${field}[${i}].name`, message: `Duplicate value: ${JSON.stringify(task.name)}`, reason: "FieldValueDuplicate" });
    } else {
      index.set(task.name, i);
    }
  });

  list.forEach((task, i) => {
    strings(task.runAfter).forEach((dep, j) => {
      if (dep === undefined) return;
      const at = `${field}[${i}].runAfter[${j}]`;
      if (dep === task.name) {
        causes.push({ field: at, message: `Invalid value: ${JSON.stringify(dep)}: a task cannot run after itself`, reason: "FieldValueInvalid" });
      } else if (!index.has(dep)) {
        causes.push({ field: at, message: `Not found: ${JSON.stringify(dep)}: no task has this name`, reason: "FieldValueNotFound" });
      }
    });
  });

  // Cycles: depth-first search over the first task of each name; every edge
  // that reaches a task still on the stack closes a cycle and is reported.
  const WHITE = 0,
    GREY = 1,
    BLACK = 2;
  const color = new Array<number>(list.length).fill(WHITE);
  const stack: number[] = [];
  const visit = (i: number): void => {
    color[i] = GREY;
    stack.push(i);
    strings(list[i]!.runAfter).forEach((dep, j) => {
      if (dep === undefined || dep === list[i]!.name) return;
      const k = index.get(dep);
      if (k === undefined) return;
      if (color[k] === GREY) {
        const path = stack.slice(stack.indexOf(k)).map((n) => list[n]!.name as string);
        const cycle = [...path, dep].join(" → ");
        causes.push({
          field: `${field}[${i}].runAfter[${j}]`,
          message: `Invalid value: ${JSON.stringify(dep)}: runAfter forms a cycle: ${cycle}`,
          reason: "FieldValueInvalid",
        });
      } else if (color[k] === WHITE) {
        visit(k);
      }
    });
    stack.pop();
    color[i] = BLACK;
  };
  for (const i of index.values()) if (color[i] === WHITE) visit(i);
  return causes;
}

/**
 * The tasks that may start now: not succeeded, not in `started` (running, or
 * finished without success), and every task they run after has succeeded.
 * @example readyTasks(spec.tasks, new Set(["checkout"]), { started: new Set(["lint"]) })
 */
export function readyTasks(tasks: readonly GraphTask[], succeeded: ReadonlySet<string>, options: { started?: ReadonlySet<string> } = {}): string[] {
  const started = options.started ?? new Set<string>();
  return tasks.filter((t) => !succeeded.has(t.name) && !started.has(t.name) && (t.runAfter ?? []).every((d) => succeeded.has(d))).map((t) => t.name);
}

/**
 * The tasks that can never run because they wait, directly or through
 * others, for one of `failed` (failed, cancelled or skipped tasks). The
 * `failed` tasks themselves are not included.
 */
export function blockedTasks(tasks: readonly GraphTask[], failed: ReadonlySet<string>): string[] {
  const blocked = new Set<string>();
  const dead = (name: string) => failed.has(name) || blocked.has(name);
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of tasks) {
      if (dead(t.name)) continue;
      if ((t.runAfter ?? []).some(dead)) {
        blocked.add(t.name);
        grew = true;
      }
    }
  }
  return tasks.filter((t) => blocked.has(t.name)).map((t) => t.name);
}

/**
 * Task names in an order where each comes after every task it runs after;
 * among tasks free to go, spec order. Throws RangeError on a cycle or an
 * unknown name (validateTaskGraph finds those first).
 */
export function topologicalOrder(tasks: readonly GraphTask[]): string[] {
  const known = new Set(tasks.map((t) => t.name));
  for (const t of tasks) {
    for (const d of t.runAfter ?? []) {
      if (!known.has(d)) throw new RangeError(`pipelines: task ${JSON.stringify(t.name)} runs after unknown task ${JSON.stringify(d)}`);
    }
  }
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < tasks.length) {
    const next = readyTasks(tasks, done);
    if (next.length === 0) {
      const rest = tasks.filter((t) => !done.has(t.name)).map((t) => t.name);
      throw new RangeError(`pipelines: runAfter forms a cycle among ${rest.map((n) => JSON.stringify(n)).join(", ")}`);
    }
    for (const name of next) {
      done.add(name);
      order.push(name);
    }
  }
  return order;
}
