// `setpoint wait TYPE/NAME... --for=COND [--timeout D]`, modelled on
// `kubectl wait`: waits until every named object (or every object -l or --all
// picks when the wait starts) meets the condition, printing
// `TYPE/NAME condition met` for each, and exits 0. It exits 1 on timeout
// (default 30s, as kubectl: `timed out waiting for the condition on
// PLURAL/NAME`, kubectl's words; 0 checks once: `condition not met for
// PLURAL/NAME`; a negative one waits a week), on a --for kubectl refuses
// (in its words), on an object that is not there (except for --for=delete,
// which an absent object meets silently, as -l or --all picking none, and
// --for=create, which waits for it), and, unlike kubectl, as soon as a condition
// `Succeeded` turns False while waiting for it to be True: a finished
// PipelineRun that failed or was cancelled will not succeed later (Knative's
// and Tekton's convention for that condition), so a CI script learns at once.
// Conditions: `condition=TYPE[=STATUS]` (STATUS True by default, any case; split at
// the first `=`, nothing refused, and a condition of an older spec, its
// observedGeneration below metadata.generation, not met yet, as kubectl),
// `delete`, `create`, and `jsonpath={.path}[=VALUE]` as kubectl 1.32 reads it (client-go's
// JSONPath, src/api/jsonpath.ts, filters included: the one value found, a
// scalar, equals VALUE; without VALUE, the path finds something; a path that
// finds several values, or a map or list to compare, is an error). Follows the
// objects as `watch` does (../follow.ts): resumes across dropped connections
// and replicas. -A with --all or -l waits in every namespace. A server that
// cannot be reached fails at once, as kubectl, saying what was waited for. The timeout covers every request, discovery included, and
// cancels the one in flight: a server that accepts and never answers costs
// --timeout, not --request-timeout.

import { Command, InvalidArgumentError, Option } from "commander";
import type { LooseObject } from "../../wire.ts";
import { goText, JsonPathError, parseJsonPath, type JsonPathTemplate } from "../../api/jsonpath.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { collectionPath, objectTypeName, typeName, type ResourceInfo } from "../discovery.ts";
import { parseDuration } from "../flags.ts";
import { followCollection } from "../follow.ts";
import { CliError, ExitError, UnreachableError, UsageError } from "../errors.ts";

/** What --for asks for, parsed. */
export type WaitCondition =
  | { kind: "condition"; type: string; status: string }
  | { kind: "delete" }
  | { kind: "create" }
  | { kind: "jsonpath"; path: string; template: JsonPathTemplate; value: string | undefined };

/**
 * Parses a --for value as kubectl 1.32's conditionFuncFor does: `delete` and
 * `create` (any case), `condition=TYPE[=STATUS]`, `jsonpath={.path}[=VALUE]`.
 * Throws CliError (exit 1, as kubectl) in kubectl's words.
 */
export function parseWaitCondition(text: string): WaitCondition {
  if (text.toLowerCase() === "delete") return { kind: "delete" };
  if (text.toLowerCase() === "create") return { kind: "create" };
  if (text.startsWith("condition=")) {
    // As kubectl: split at the first `=` (`condition=A=B=C` is type A, status `B=C`), nothing refused:
    // an empty status or type is one no condition has, so such a wait times out, as kubectl's does.
    const rest = text.slice("condition=".length);
    const i = rest.indexOf("=");
    return i < 0 ? { kind: "condition", type: rest, status: "True" } : { kind: "condition", type: rest.slice(0, i), status: rest.slice(i + 1) };
  }
  if (text.startsWith("jsonpath=")) {
    const parts = splitOnSingleEquals(text.slice("jsonpath=".length));
    if (parts.length > 2) {
      throw new CliError("jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3 or --for=jsonpath='{.status.readyReplicas}'");
    }
    if (parts[0] === "") throw new CliError("jsonpath expression cannot be empty");
    const path = relaxedPath(parts[0]!);
    if (path === undefined) {
      throw new CliError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'");
    }
    let template: JsonPathTemplate;
    try {
      template = parseJsonPath(`{${path}}`);
    } catch (error) {
      if (!(error instanceof JsonPathError)) throw error;
      throw new CliError(error.message);
    }
    // As kubectl: quotes around the value are dropped, and `=` must be followed by one.
    const value = parts[1]?.replace(/^['"]+|['"]+$/g, "");
    if (value === "") throw new CliError("jsonpath wait has to have a value after equal sign, like --for=jsonpath='{.status.readyReplicas}'=3");
    return { kind: "jsonpath", path, template, value };
  }
  throw new CliError(`unrecognized condition: ${JSON.stringify(text)}`);
}

/** Splits on each single `=`; a `==` (a filter's comparison) stays whole, as kubectl splits --for=jsonpath. */
function splitOnSingleEquals(text: string): string[] {
  const parts: string[] = [];
  let part = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "=") part += text[i];
    else if (text[i + 1] === "=") {
      part += "==";
      i++;
    } else {
      parts.push(part);
      part = "";
    }
  }
  return [...parts, part];
}

/** kubectl's relaxed path: `{.a.b}`, `.a.b`, `{a.b}` or `a.b`, as the path `.a.b`; undefined if it is none of those. */
function relaxedPath(text: string): string | undefined {
  const m = /^\{\.?([^{}]+)\}$|^\.?([^{}]+)$/s.exec(text);
  return m === null ? undefined : `.${m[1] ?? m[2]}`;
}

/** --for as the messages say it. */
function describeCondition(c: WaitCondition): string {
  if (c.kind === "delete" || c.kind === "create") return c.kind;
  if (c.kind === "condition") return `condition=${c.type}=${c.status}`;
  return `jsonpath={${c.path}}${c.value === undefined ? "" : `=${c.value}`}`;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

/** Whether `found` speaks of an older spec than `o`'s, as kubectl reads it: the condition's observedGeneration, else the status's, below metadata.generation. */
function stale(o: LooseObject, found: Condition): boolean {
  const generation: unknown = o.metadata?.generation;
  if (typeof generation !== "number" || !Number.isInteger(generation)) return false;
  const observed: unknown = Number.isInteger(found.observedGeneration) ? found.observedGeneration : o.status?.observedGeneration;
  return typeof observed === "number" && Number.isInteger(observed) && observed < generation;
}

/** Whether `o` meets `c` now ("met"), never will ("failed", with why), or may later ("waiting"). */
export function checkCondition(o: LooseObject, c: WaitCondition): { state: "met" | "waiting" } | { state: "failed"; why: string } {
  if (c.kind === "delete") return { state: "waiting" };
  if (c.kind === "create") return { state: "met" };
  if (c.kind === "jsonpath") {
    // As kubectl's JSONPathWait: nothing found is not yet; more than one value, or a map or list to compare, is an error.
    let results: unknown[][];
    try {
      results = c.template.find(o);
    } catch (error) {
      if (!(error instanceof JsonPathError)) throw error;
      return { state: "failed", why: `jsonpath ${c.path}: ${error.message}` };
    }
    if (results.length === 0 || results[0]!.length === 0) return { state: "waiting" };
    if (results[0]!.length > 1) return { state: "failed", why: `given jsonpath expression matches more than one value (${c.path})` };
    if (c.value === undefined) return { state: "met" };
    const v = results[0]![0];
    if (v !== null && typeof v === "object") return { state: "failed", why: `jsonpath leads to a nested object or list which is not supported (${c.path})` };
    const met = goText(v as string | number | boolean | null).trim() === c.value.trim();
    return { state: met ? "met" : "waiting" };
  }
  // As kubectl's ConditionalWait: the first condition of the type (any case) with a string status; one
  // older than the object's spec (its or the status's observedGeneration below metadata.generation) is not yet.
  const conditions: Condition[] = Array.isArray(o.status?.conditions) ? o.status.conditions : [];
  const found = conditions.find(
    (x) => x !== null && typeof x === "object" && typeof x.type === "string" && x.type.toLowerCase() === c.type.toLowerCase() && typeof x.status === "string",
  );
  if (found === undefined || stale(o, found)) return { state: "waiting" };
  if (found.status!.toLowerCase() === c.status.toLowerCase()) return { state: "met" };
  if (found.type === "Succeeded" && found.status === "False" && c.status.toLowerCase() === "true") {
    const why = [found.reason, found.message].filter((s) => typeof s === "string" && s !== "").join(": ");
    return { state: "failed", why: `its condition Succeeded is False${why === "" ? "" : ` (${why})`}` };
  }
  return { state: "waiting" };
}

/** Splits `TYPE/NAME...` or `TYPE NAME...` into the type and the names. */
function targetsOf(first: string, rest: string[]): { type: string; names: string[] } {
  const slash = first.indexOf("/");
  if (slash < 0) return { type: first, names: rest };
  const type = first.slice(0, slash);
  const names: string[] = [];
  for (const arg of [first, ...rest]) {
    const i = arg.indexOf("/");
    if (i <= 0 || i === arg.length - 1 || arg.slice(0, i) !== type) {
      throw new UsageError(`${JSON.stringify(arg)}: give every object as ${type}/NAME, or the type once: setpoint wait ${type} NAME...`);
    }
    names.push(arg.slice(i + 1));
  }
  return { type, names };
}

/** The objects waited for, as messages name them: `pipelinerun/a, pipelinerun/b`, or `every pipelinerun -l app=x in namespace ci`. */
function describeTargets(type: string, names: string[], selector: string | undefined, namespace: string | undefined): string {
  if (names.length > 0) return names.map((n) => `${type}/${n}`).join(", ");
  const where = namespace === undefined ? "in every namespace" : `in namespace ${namespace}`;
  return `every ${type}${selector === undefined ? "" : ` -l ${selector}`} ${where}`;
}

/** What a negative --timeout means: a week, as kubectl's. */
const NEGATIVE_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

const EXAMPLES = `
Examples:
  setpoint wait pipelinerun/diamond --for=condition=Succeeded --timeout=5m
  setpoint wait pipelineruns --all --for=jsonpath='{.status.phase}'=Succeeded
  setpoint wait pipelinerun flaky --for=condition=Succeeded=True -n default
  setpoint wait pipelineruns -l example=diamond -A --for=condition=Succeeded

In a script: setpoint apply -f run.yaml && setpoint wait pipelinerun/NAME --for=condition=Succeeded
--timeout=10m || setpoint logs NAME. After setpoint delete, --for=delete waits until the run's
finalizer has removed its workspace and the object is gone.

Exit codes: 0 every object met the condition; 1 a timeout (also of a server that does not answer),
a --for kubectl refuses, an object that is not there (except with --for=delete or create), a
Succeeded condition that turned False, or a server error; 2 other bad usage; 130 when stopped
with Ctrl-C (the shell's code for SIGINT, as kubectl wait).`;

export function waitCommand(ctx: CliContext): Command {
  const command = new Command("wait")
    .summary("wait until objects meet a condition (a PipelineRun succeeded), as kubectl wait")
    .description(
      "Waits until every object given meets the --for condition, printing a line for each, or until --timeout " +
        "passes. Follows the objects live and resumes across dropped connections and replicas, as watch does.",
    )
    .argument("<type[/name]>", "resource type, or TYPE/NAME, e.g. pipelinerun/diamond")
    .argument("[names...]", "object names (or more TYPE/NAMEs)")
    .addOption(
      new Option(
        "--for <condition>",
        "condition=TYPE[=STATUS] (STATUS True by default), delete, create (wait until it exists), or jsonpath={.path}[=VALUE]",
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--timeout <duration>",
        "give up after this long with exit 1, cancelling the request in flight (a server that never answers counts); 0 checks once, a negative one waits a week (default: 30s, as kubectl)",
      ).argParser((text: string) => {
        let ms: number;
        try {
          // As kubectl: a negative timeout waits a week.
          const negative = text.startsWith("-");
          ms = parseDuration(negative ? text.slice(1) : text);
          if (negative && ms > 0) ms = NEGATIVE_TIMEOUT_MS;
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
        return ms;
      }),
    )
    .option("-l, --selector <selector>", "every object this label selector picks when the wait starts")
    .option("--all", "every object of TYPE in the namespace when the wait starts")
    .option("-A, --all-namespaces", "with --all or -l: in every namespace (a line each, without the namespace, as kubectl)")
    .addHelpText("after", EXAMPLES);
  addClientOptions(command);
  type Opts = { for: string; timeout?: number; selector?: string; all?: boolean; allNamespaces?: boolean };
  command.action(async (first: string, rest: string[], opts: Opts) => {
    const condition = parseWaitCondition(opts.for);
    const { type, names } = targetsOf(first, rest);
    const chosen = [names.length > 0, opts.selector !== undefined, opts.all === true].filter(Boolean).length;
    if (chosen === 0) throw new UsageError(`say which objects: setpoint wait ${type}/NAME, or ${type} with -l SELECTOR or --all`);
    if (chosen > 1) throw new UsageError("give names, -l or --all, only one of them");
    // kubectl's words: `a resource cannot be retrieved by name across all namespaces`.
    if (opts.allNamespaces && names.length > 0) throw new UsageError("-A goes with --all or -l: a name cannot be waited for across all namespaces");
    const session = sessionFor(command, ctx);
    const timeoutMs = opts.timeout ?? 30_000;
    // The deadline covers every request from here on, discovery included: when it passes, the one
    // in flight is cancelled (a server that accepts and never answers cannot hold the command).
    // --timeout 0 checks once: no deadline, the first list is awaited.
    const deadline = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => deadline.abort(), timeoutMs) : undefined;
    /** What the wait is for, as its errors say it before the type is known. */
    const what = `${describeCondition(condition)} on ${describeTargets(type, names, opts.selector, opts.allNamespaces ? undefined : session.namespace)}`;
    try {
      let t: ResourceInfo;
      try {
        t = await session.discovery.resolve(type, { signal: deadline.signal });
      } catch (error) {
        if (error instanceof UnreachableError) throw new UnreachableError(`waiting for ${what}: ${error.message}`, { cause: error, sent: error.sent });
        if (!deadline.signal.aborted) throw error;
        ctx.err(`error: timed out after ${timeoutMs / 1000} s waiting for ${what}: the server has not answered discovery`);
        throw new ExitError(1);
      }
      const namespace = opts.allNamespaces && t.namespaced ? undefined : session.namespace;
      await waitFor(ctx, session.client, t, namespace, { names, selector: opts.selector, condition, timeoutMs, deadline: deadline.signal, what });
    } finally {
      clearTimeout(timer);
    }
  });
  return command;
}

async function waitFor(
  ctx: CliContext,
  client: Parameters<typeof followCollection>[0],
  t: ResourceInfo,
  namespace: string | undefined,
  o: { names: string[]; selector?: string; condition: WaitCondition; timeoutMs: number; deadline: AbortSignal; what: string },
): Promise<void> {
  const label = (name: string) => `${objectTypeName(t)}/${name}`;
  /** Objects by `NAMESPACE/NAME` (-A picks the same name in several), the name alone printed, as kubectl. */
  const keyOf = (object: LooseObject) => `${object.metadata.namespace ?? ""}/${object.metadata.name ?? ""}`;
  const nameOf = (key: string) => key.slice(key.indexOf("/") + 1);
  /** Objects still waited for, with their last state seen. */
  const pending = new Map<string, LooseObject | undefined>();
  let failed = false;
  let timedOut = false;
  const done = new AbortController();
  const settle = (key: string, object: LooseObject | undefined, deleted: boolean) => {
    if (!pending.has(key)) return;
    const name = nameOf(key);
    if (deleted) {
      if (o.condition.kind === "delete") {
        pending.delete(key);
        ctx.out(`${label(name)} condition met`);
      } else {
        pending.delete(key);
        failed = true;
        ctx.err(`error: ${label(name)} was deleted while waiting for ${describeCondition(o.condition)}`);
      }
    } else if (object !== undefined) {
      pending.set(key, object);
      const r = checkCondition(object, o.condition);
      if (r.state === "met") {
        pending.delete(key);
        ctx.out(`${label(name)} condition met`);
      } else if (r.state === "failed") {
        pending.delete(key);
        failed = true;
        const ns = namespace === undefined && object.metadata.namespace ? ` -n ${object.metadata.namespace}` : "";
        const logs = typeName(t) === "pipelineruns.ci.setpoint.dev" ? `; its output: setpoint logs ${name}${ns}` : "";
        ctx.err(`error: ${label(name)}: ${r.why}${logs}`);
      }
    }
    if (pending.size === 0) done.abort();
  };
  /** Whether the first list came: until then no object is known, and a timeout is one still. */
  let listed = false;
  const onDeadline = () => {
    timedOut = true;
    done.abort(); // cancels the list or watch in flight
  };
  if (o.deadline.aborted) onDeadline();
  else o.deadline.addEventListener("abort", onDeadline, { once: true });
  try {
    await followCollection(client, {
      path: collectionPath(t, namespace),
      labelSelector: o.selector,
      fieldSelector: o.names.length === 1 ? `metadata.name=${o.names[0]}` : undefined,
      signal: done.signal,
      onInitial(events) {
        listed = true;
        const present = new Map(events.map((e) => [keyOf(e.object), e.object]));
        const wanted = o.names.length > 0 ? o.names.map((name) => `${t.namespaced ? (namespace ?? "") : ""}/${name}`) : [...present.keys()];
        // As kubectl: nothing picked is an error (its words, no namespace), but for --for=delete, which it meets.
        if (wanted.length === 0 && o.condition.kind !== "delete") {
          failed = true;
          ctx.err("error: no matching resources found");
        }
        for (const key of wanted) pending.set(key, present.get(key));
        for (const key of wanted) {
          const object = present.get(key);
          if (object !== undefined) settle(key, object, false);
          else if (o.condition.kind === "delete")
            pending.delete(key); // as kubectl: met, and nothing printed
          else if (o.condition.kind === "create") continue;
          else {
            pending.delete(key);
            failed = true;
            ctx.err(`Error from server (NotFound): ${typeName(t)} "${nameOf(key)}" not found`);
          }
        }
        if (pending.size === 0) done.abort();
        else if (o.timeoutMs === 0) {
          timedOut = true;
          done.abort();
        }
      },
      onEvent(e) {
        settle(keyOf(e.object), e.object, e.type === "DELETED");
      },
      onNotice: (message) => ctx.err(message),
    });
  } finally {
    o.deadline.removeEventListener("abort", onDeadline);
  }
  if (timedOut && !listed) {
    // The server did not answer the first list in time: nothing is known to meet the condition.
    ctx.err(`error: timed out after ${o.timeoutMs / 1000} s waiting for ${o.what}: the server has not answered the list`);
    failed = true;
  } else if (timedOut && pending.size > 0) {
    // kubectl's words (errWaitTimeoutWithName, the type as its plural; without a name for an object
    // --for=create never saw; `condition not met for` when --timeout 0 checked once), and its way of
    // printing errors: one as `error: …`, several one a line, bare.
    const lines = [...pending].map(([key, object]) =>
      o.condition.kind === "create" && object === undefined
        ? "timed out waiting for the condition"
        : o.timeoutMs === 0
          ? `condition not met for ${t.plural}/${nameOf(key)}`
          : `timed out waiting for the condition on ${t.plural}/${nameOf(key)}`,
    );
    for (const line of lines) ctx.err(lines.length === 1 ? `error: ${line}` : line);
    failed = true;
  }
  if (failed) throw new ExitError(1);
  if (pending.size > 0) throw new CliError("stopped before every object met the condition");
}
