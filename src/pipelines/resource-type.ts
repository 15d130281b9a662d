// The PipelineRun resource type (`pipelineruns.ci.setpoint.dev`, version v1,
// namespaced): its ResourceType object with the JSON Schemas of spec and
// status, and the whole-object check (task graph, run/command) that a schema
// cannot express. examples/pipelines/resource-type.yaml is this object as YAML
// (regenerate it with `node --import tsx scripts/gen-pipeline-type.ts`; a test
// checks that they match).
//
// spec (written by users):
//   tasks[]           at least 1, at most MAX_TASKS; run in parallel unless
//                     ordered by runAfter
//     name            DNS-1123 label, unique within the run
//     run             shell command, run as `/bin/sh -c RUN`        } exactly
//     command, args   argv: command[0] is the program, then         } one of
//                     command[1..], then args (no shell)            } the two
//     runAfter[]      names of tasks that must succeed first (no cycles)
//     env             map NAME → value (names are environment variable names)
//     workingDir      relative to the run's workspace (the directory the agent
//                     makes for the run, shared by its tasks, removed by the
//                     agent's finalizer when the run is deleted), or absolute
//     timeoutSeconds  per attempt; past it the task is killed and the attempt fails
//     retries         extra attempts after a failed one (default 0: one attempt)
//   params            map NAME → value, exported to every task as environment
//                     variables (a task's env overrides a param of the same name)
//   cancel            true stops the run: running tasks get SIGTERM, then SIGKILL
// Once the run has finished its spec may not change (but for cancel): it
// would not run again.
//
// Environment of a task's process, lowest precedence first: the agent's own
// environment, params, the task's env, then these, set by the runner:
//   SETPOINT_RUN_NAME        metadata.name of the run
//   SETPOINT_RUN_NAMESPACE   metadata.namespace of the run
//   SETPOINT_TASK_NAME       the task's name
//   SETPOINT_TASK_ATTEMPT    1 for the first attempt, 2 for the first retry, …
//   SETPOINT_WORKSPACE       absolute path of the run's workspace directory
//
// status (written by the runner agent):
//   phase               Pending | Running | Succeeded | Failed | Cancelled
//   observedGeneration  metadata.generation the runner last acted on
//   startTime, completionTime   RFC 3339
//   progress            tasks succeeded out of all tasks, e.g. 2/4
//   duration            startTime to completionTime (2s, 5m30s), once final
//   message             one line for humans (why it failed, …)
//   conditions[]        Kubernetes metav1.Condition: type, status (True, False,
//                       Unknown), reason, message, lastTransitionTime,
//                       observedGeneration. The runner keeps type "Succeeded":
//                       Unknown while running, True on success, False on
//                       failure or cancel (reason Failed or Cancelled;
//                       InvalidSpec for a graph the server should have
//                       refused: a cycle, an unknown runAfter name).
//   tasks               map task name → task status, so a merge patch can
//                       update one task without touching the others:
//     phase             Pending | Running | Succeeded | Failed | Cancelled |
//                       Skipped (not run because a task it needs failed or
//                       the run was cancelled before it started)
//     attempt           1-based number of the current or last attempt (0: none yet)
//     startTime, completionTime   of the current or last attempt, RFC 3339
//     exitCode          the process's exit code (absent if it died of a signal)
//     signal            the signal that ended it, e.g. SIGKILL
//     reason, message   why the attempt ended, e.g. TimedOut, AgentLost
//     output            the tail of stdout and stderr, at most OUTPUT_TAIL_MAX chars
//     outputDropped     characters written before output and not kept (0: output
//                       is all of it); absent in a status written before it
//                       existed, where a tail that filled its bound is taken as cut
//     agent             identity of the agent running the attempt
//     previousAttempts[]  earlier attempts, oldest first (the newest
//                       MAX_PREVIOUS_ATTEMPTS): attempt, outcome (Failed, or
//                       Lost with its agent), times, exit, reason, message,
//                       and the tail of their output (PREVIOUS_OUTPUT_MAX)
//                       with its outputDropped
// Status objects allow further fields, so the runner may record more.

import { isDeepStrictEqual } from "node:util";
import type { TypeValidators } from "../api/type-validators.ts";
import type { FieldCause } from "../errors.ts";
import type { Condition } from "../wire.ts";
import { validateTaskGraph, type TaskLike } from "./graph.ts";
import { OUTPUT_TAIL_MAX, PREVIOUS_OUTPUT_MAX } from "./output-tail.ts";

export { OUTPUT_TAIL_MAX, PREVIOUS_OUTPUT_MAX };

export const PIPELINES_GROUP = "ci.setpoint.dev";
export const PIPELINES_VERSION = "v1";
export const PIPELINE_RUN_KIND = "PipelineRun";
export const PIPELINE_RUN_PLURAL = "pipelineruns";
/** `plural.group`: the ResourceType's name and the server's type key. */
export const PIPELINE_RUN_TYPE_NAME = `${PIPELINE_RUN_PLURAL}.${PIPELINES_GROUP}`;
/** `group/version`, the `apiVersion` of PipelineRun objects. */
export const PIPELINE_RUN_API_VERSION = `${PIPELINES_GROUP}/${PIPELINES_VERSION}`;

/** The most tasks one run may have (keeps a run's status well under the 1.5 MiB object bound). */
export const MAX_TASKS = 100;

/** How many earlier attempts of a task keep their record (and output) in status; older ones are dropped. */
export const MAX_PREVIOUS_ATTEMPTS = 3;

/** Run phases. */
export const RUN_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Cancelled"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];
/** Task phases: the run's, plus Skipped. */
export const TASK_PHASES = [...RUN_PHASES, "Skipped"] as const;
export type TaskPhase = (typeof TASK_PHASES)[number];

/** One task of `spec.tasks`. */
export interface PipelineTask {
  name: string;
  run?: string;
  command?: string[];
  args?: string[];
  runAfter?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  timeoutSeconds?: number;
  retries?: number;
}

export interface PipelineRunSpec {
  tasks: PipelineTask[];
  params?: Record<string, string>;
  cancel?: boolean;
}

/** How an earlier attempt of a task ended: Failed (and retried), or Lost with its agent (and taken over). */
export interface AttemptRecord {
  attempt: number;
  outcome: "Failed" | "Lost";
  startTime?: string;
  completionTime?: string;
  exitCode?: number;
  signal?: string;
  reason?: string;
  message?: string;
  /** The tail of the attempt's output, at most PREVIOUS_OUTPUT_MAX characters. */
  output?: string;
  /** Characters of the attempt's output written before `output` and not kept. */
  outputDropped?: number;
  agent?: string;
}

export interface TaskStatus {
  phase: TaskPhase;
  /** Earlier attempts, oldest first, at most MAX_PREVIOUS_ATTEMPTS of them (the newest). */
  previousAttempts?: AttemptRecord[];
  attempt?: number;
  startTime?: string;
  completionTime?: string;
  exitCode?: number;
  signal?: string;
  reason?: string;
  message?: string;
  output?: string;
  /** Characters written before `output` and not kept (0: `output` is all of it); absent in statuses written before it existed. */
  outputDropped?: number;
  agent?: string;
  [other: string]: unknown;
}

export interface PipelineRunStatus {
  phase?: RunPhase;
  observedGeneration?: number;
  startTime?: string;
  completionTime?: string;
  /** Tasks succeeded out of all tasks, e.g. `2/4`. */
  progress?: string;
  /** From startTime to completionTime in kubectl's short form (`2s`, `5m30s`); set once the run ends. */
  duration?: string;
  message?: string;
  conditions?: Condition[];
  tasks?: Record<string, TaskStatus>;
  [other: string]: unknown;
}

const DNS1123_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const ENV_NAME = "^[A-Za-z_][A-Za-z0-9_]*$";
const TIME = { type: "string", description: "RFC 3339 time, e.g. 2026-11-25T10:00:00Z" };

const envMap = (what: string) => ({
  type: "object",
  description: what,
  propertyNames: { pattern: ENV_NAME, maxLength: 256 },
  additionalProperties: { type: "string" },
});

const taskSchema = {
  type: "object",
  description: "One task: a shell command (run) or a program with arguments (command, args).",
  required: ["name"],
  additionalProperties: false,
  properties: {
    name: { type: "string", maxLength: 63, pattern: DNS1123_LABEL, description: "Unique within the run; a DNS-1123 label." },
    run: { type: "string", minLength: 1, description: "Shell command, run as /bin/sh -c RUN. Exclusive with command." },
    command: {
      type: "array",
      minItems: 1,
      items: { type: "string" },
      description: "Program and leading arguments, run without a shell. Exclusive with run.",
    },
    args: { type: "array", items: { type: "string" }, description: "Arguments appended to command." },
    runAfter: {
      type: "array",
      uniqueItems: true,
      items: { type: "string" },
      description: "Names of tasks that must succeed before this one starts.",
    },
    env: envMap("Environment variables for this task: NAME → value. Overrides params of the same name."),
    workingDir: {
      type: "string",
      minLength: 1,
      description: "Directory to run in: relative to the run's workspace, or absolute. Default: the workspace.",
    },
    timeoutSeconds: { type: "integer", minimum: 1, description: "Kill an attempt that runs longer than this." },
    retries: { type: "integer", minimum: 0, maximum: 100, description: "Extra attempts after a failed one. Default 0." },
  },
};

const specSchema = {
  type: "object",
  description: "The tasks to run and how.",
  required: ["tasks"],
  additionalProperties: false,
  properties: {
    tasks: { type: "array", minItems: 1, maxItems: MAX_TASKS, items: taskSchema, description: "The task graph." },
    params: envMap("Values exported to every task as environment variables: NAME → value."),
    cancel: { type: "boolean", description: "true stops the run: running tasks get SIGTERM, then SIGKILL." },
  },
};

const conditionSchema = {
  type: "object",
  required: ["type", "status"],
  properties: {
    type: { type: "string", minLength: 1, maxLength: 316 },
    status: { type: "string", enum: ["True", "False", "Unknown"] },
    reason: { type: "string", maxLength: 1024 },
    message: { type: "string", maxLength: 32768 },
    lastTransitionTime: TIME,
    observedGeneration: { type: "integer", minimum: 0 },
  },
};

/** When an attempt ran and how it ended: fields of a task's status and of each of its previous attempts. */
const ATTEMPT_END = {
  startTime: TIME,
  completionTime: TIME,
  exitCode: { type: "integer" },
  signal: { type: "string", maxLength: 32 },
  reason: { type: "string", maxLength: 1024 },
  message: { type: "string", maxLength: 32768 },
};

const OUTPUT_DROPPED = {
  type: "integer",
  minimum: 0,
  description: "Characters of output written before output and not kept; 0 when output is all of it.",
};

const taskStatusSchema = {
  type: "object",
  required: ["phase"],
  properties: {
    phase: { type: "string", enum: [...TASK_PHASES] },
    attempt: { type: "integer", minimum: 0, description: "1-based number of the current or last attempt." },
    ...ATTEMPT_END,
    output: { type: "string", maxLength: OUTPUT_TAIL_MAX, description: `The last ${OUTPUT_TAIL_MAX} characters of stdout and stderr.` },
    outputDropped: OUTPUT_DROPPED,
    agent: { type: "string", maxLength: 253, description: "Identity of the agent running the attempt." },
    previousAttempts: {
      type: "array",
      maxItems: MAX_PREVIOUS_ATTEMPTS,
      description: `Earlier attempts, oldest first (the newest ${MAX_PREVIOUS_ATTEMPTS}): how each ended and the tail of its output.`,
      items: {
        type: "object",
        required: ["attempt", "outcome"],
        properties: {
          attempt: { type: "integer", minimum: 1 },
          outcome: { type: "string", enum: ["Failed", "Lost"], description: "Failed (then retried), or Lost with its agent (then taken over)." },
          ...ATTEMPT_END,
          output: { type: "string", maxLength: PREVIOUS_OUTPUT_MAX, description: `The last ${PREVIOUS_OUTPUT_MAX} characters of the attempt's output.` },
          outputDropped: OUTPUT_DROPPED,
          agent: { type: "string", maxLength: 253 },
        },
      },
    },
  },
};

const statusSchema = {
  type: "object",
  description: "What the runner agent observed and did; written by the agent only.",
  properties: {
    phase: { type: "string", enum: [...RUN_PHASES], description: "Pending, Running, Succeeded, Failed or Cancelled." },
    observedGeneration: { type: "integer", minimum: 0, description: "The metadata.generation the runner last acted on." },
    startTime: { ...TIME, description: "When the runner first acted on the run (RFC 3339)." },
    completionTime: { ...TIME, description: "When the run reached a final phase (RFC 3339)." },
    progress: { type: "string", maxLength: 32, description: "Tasks succeeded out of all tasks, e.g. 2/4." },
    duration: { type: "string", maxLength: 32, description: "From startTime to completionTime, e.g. 2s or 5m30s; set once the run ends." },
    message: { type: "string", maxLength: 32768, description: "One line for humans: progress, or why the run failed." },
    conditions: { type: "array", items: conditionSchema },
    tasks: {
      type: "object",
      description: "Per-task status, keyed by task name; setpoint logs RUN TASK prints each attempt's output.",
      propertyNames: { maxLength: 63 },
      additionalProperties: taskStatusSchema,
    },
  },
};

/** The ResourceType object that declares PipelineRun (what `setpoint apply` or a POST to resourcetypes takes). */
export const PIPELINE_RUN_RESOURCE_TYPE = {
  apiVersion: "setpoint.dev/v1",
  kind: "ResourceType",
  metadata: { name: PIPELINE_RUN_TYPE_NAME },
  spec: {
    group: PIPELINES_GROUP,
    version: PIPELINES_VERSION,
    kind: PIPELINE_RUN_KIND,
    plural: PIPELINE_RUN_PLURAL,
    scope: "Namespaced",
    description:
      "A run of a task graph: each task is a process (a shell command or a program) run by a pipeline agent, in parallel where runAfter allows, with retries, timeouts and cancel.",
    shortNames: ["pr"],
    categories: ["setpoint", "pipelines"],
    additionalPrinterColumns: [
      { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Pending, Running, Succeeded, Failed or Cancelled" },
      { name: "Progress", type: "string", jsonPath: ".status.progress", description: "Tasks succeeded out of all tasks" },
      { name: "Started", type: "date", jsonPath: ".status.startTime", description: "Time since the run started" },
      { name: "Duration", type: "string", jsonPath: ".status.duration", description: "How long the run took, once it ended" },
      { name: "Message", type: "string", jsonPath: ".status.message", priority: 1, description: "Progress, or why the run failed" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
    schema: { spec: specSchema, status: statusSchema },
  },
} as const;

/**
 * Checks what the schema cannot: each task has exactly one of `run` and
 * `command`, `args` only with `command`, and the `runAfter` graph (unique
 * names, known names, no cycles). On an update (`before`, the stored run),
 * a run that has finished may not change its spec but for `cancel`: it would
 * not run again, and a re-apply under the same name would look like a new run
 * that never starts. Returns kube-style causes, empty when fine.
 * Tolerates a malformed spec (the schema reports those): it checks what it can.
 */
export function validatePipelineRun(object: { spec?: unknown }, before?: { spec?: unknown; status?: unknown }): FieldCause[] {
  const spec = object.spec;
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) return [];
  const finished = before === undefined ? undefined : finishedPhase(before.status);
  if (finished !== undefined && !isDeepStrictEqual(withoutCancel(spec), withoutCancel(before!.spec))) {
    return [
      {
        field: "spec",
        message:
          `Forbidden: the run has already finished (${finished}) and a finished run does not run again: ` +
          "to run this spec, delete the run first, or create it under another name (or with metadata.generateName)",
        reason: "FieldValueForbidden",
      },
    ];
  }
  const tasks = (spec as { tasks?: unknown }).tasks;
  if (!Array.isArray(tasks)) return [];
  const causes: FieldCause[] = [];
  tasks.forEach((task: unknown, i) => {
    if (task === null || typeof task !== "object" || Array.isArray(task)) return;
    const t = task as Record<string, unknown>;
    const field = `spec.tasks[${i}]`;
    const hasRun = t.run !== undefined;
    const hasCommand = t.command !== undefined;
    if (hasRun && hasCommand) {
      causes.push({
        field: `${field}.command`,
        message: "Forbidden: may not be set together with run: use run (a shell command) or command (argv)",
        reason: "FieldValueForbidden",
      });
    } else if (!hasRun && !hasCommand) {
      causes.push({ field: `${field}.run`, message: "Required value: set run (a shell command) or command (argv)", reason: "FieldValueRequired" });
    }
    if (t.args !== undefined && !hasCommand) {
      causes.push({
        field: `${field}.args`,
        message: "Forbidden: args needs command (with run, write the arguments into the shell command)",
        reason: "FieldValueForbidden",
      });
    }
  });
  causes.push(...validateTaskGraph(tasks as TaskLike[], "spec.tasks"));
  return causes;
}

/** The phase of a finished run's `status` (Succeeded, Failed, Cancelled); undefined while it may still run. */
function finishedPhase(status: unknown): string | undefined {
  const phase = status !== null && typeof status === "object" ? (status as { phase?: unknown }).phase : undefined;
  return phase === "Succeeded" || phase === "Failed" || phase === "Cancelled" ? phase : undefined;
}

/** A spec without `cancel`, which may change at any time (a finished run ignores it). */
function withoutCancel(spec: unknown): unknown {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) return spec;
  const { cancel: _cancel, ...rest } = spec as Record<string, unknown>;
  return rest;
}

/** The whole-object checks a server that hosts pipelines runs (startServer's `validators`): a PipelineRun's task graph. */
export const PIPELINE_VALIDATORS: TypeValidators = new Map([[PIPELINE_RUN_TYPE_NAME, validatePipelineRun]]);
