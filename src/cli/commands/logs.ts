// `setpoint logs RUN [TASK] [--attempt N]`: the output a PipelineRun's tasks
// recorded in status: the current or last attempt's tail (at most
// OUTPUT_TAIL_MAX characters) and the tails of earlier attempts (at most
// PREVIOUS_OUTPUT_MAX characters each, the newest MAX_PREVIOUS_ATTEMPTS).
// Every attempt of every task (or of TASK), in graph order, each under a
// `==> task attempt N (phase, exit) <==` header; with --attempt N, that
// attempt's output alone, as is (TASK required). A tail that filled its
// room lost the start of the output: it is shown from its first whole line,
// and its header (or, with --attempt, a line on stderr) says
// `earlier output not kept`.
// With -f, follows the run (../follow.ts, resuming across disconnects) and
// prints what each new version of its status adds (../log-follower.ts) until
// the run finishes: exit 0 if it Succeeded, 1 if it Failed or was Cancelled
// (kubectl logs -f and tkn pipelinerun logs -f exit 0 either way; a script
// that follows a run wants its outcome, as `setpoint wait` gives it).

import { Command } from "commander";
import type { LooseObject } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext, type Session } from "../context.ts";
import { collectionPath, objectPath, wrongPath } from "../discovery.ts";
import { CliError, ExitError, ServerError, UsageError } from "../errors.ts";
import { followCollection } from "../follow.ts";
import { LogFollower } from "../log-follower.ts";
import { attemptHeader, NOT_KEPT, orderedTasks, runPhase, taskAttempts } from "../pipelinerun-view.ts";
import {
  MAX_PREVIOUS_ATTEMPTS,
  OUTPUT_TAIL_MAX,
  PIPELINE_RUN_PLURAL,
  PIPELINES_GROUP,
  PIPELINES_VERSION,
  PREVIOUS_OUTPUT_MAX,
} from "../../pipelines/resource-type.ts";

const PIPELINE_RUNS = {
  group: PIPELINES_GROUP,
  version: PIPELINES_VERSION,
  plural: PIPELINE_RUN_PLURAL,
  singular: "pipelinerun",
  kind: "PipelineRun",
  namespaced: true,
};

export function logsCommand(ctx: CliContext): Command {
  const command = new Command("logs")
    .summary("print the recorded output of a PipelineRun's tasks, attempt by attempt")
    .description(
      `Prints the output the runner recorded in a PipelineRun's status: the last attempt's tail (up to ${OUTPUT_TAIL_MAX} ` +
        `characters) and earlier attempts' tails (up to ${PREVIOUS_OUTPUT_MAX} characters each, the newest ${MAX_PREVIOUS_ATTEMPTS}), each under a header. ` +
        `A tail that lost the start of its output begins at its first whole line, and its header says "${NOT_KEPT}".`,
    )
    .argument("<run>", "PipelineRun name")
    .argument("[task]", "only this task")
    .option("--attempt <n>", "only this attempt of TASK (1 is the first), without a header")
    .option("-f, --follow", "keep printing new output as the run records it, until the run finishes (exit 0 if it succeeded, 1 if not)")
    .addHelpText(
      "after",
      "\nExamples:\n  setpoint logs diamond\n  setpoint logs diamond unit-tests\n  setpoint logs flaky test --attempt 1\n  setpoint logs -f diamond\n\n" +
        "With -f: each attempt's new lines as its status records them (every second or so while it\n" +
        "runs), under its header again whenever the output switches to another attempt; a retry's header\n" +
        "says how the attempt before it ended (after attempt 1: Failed, exit 2). The status keeps only\n" +
        `the last ${OUTPUT_TAIL_MAX} characters of a running attempt's output: when more was written between\n` +
        "two updates, a line on stderr says output was skipped. Exit codes with -f: 0 the run Succeeded;\n" +
        "1 it Failed or was Cancelled (unlike kubectl logs -f and tkn pipelinerun logs -f, which exit 0\n" +
        "either way), was deleted, or an error; Ctrl-C stops following with exit 0.",
    );
  addClientOptions(command);
  command.action(async (run: string, task: string | undefined, opts: { attempt?: string; follow?: boolean }) => {
    let only: number | undefined;
    if (opts.attempt !== undefined && opts.follow) throw new UsageError("--attempt prints one recorded attempt; it cannot be combined with -f");
    if (opts.attempt !== undefined) {
      if (task === undefined) throw new UsageError("--attempt needs a TASK: setpoint logs RUN TASK --attempt N");
      only = Number(opts.attempt);
      if (!/^\d+$/.test(opts.attempt) || only < 1) throw new UsageError(`--attempt ${JSON.stringify(opts.attempt)}: give an attempt number, counting from 1`);
    }
    const session = sessionFor(command, ctx);
    let o: LooseObject;
    try {
      o = (await session.client.get(objectPath(PIPELINE_RUNS, session.namespace, run))) as LooseObject;
    } catch (error) {
      if (error instanceof ServerError && error.code === 404 && !error.message.includes(`"${run}"`)) {
        throw (
          wrongPath(session.client.server, error) ??
          new CliError(`the server has no PipelineRun type (${error.message}): apply examples/pipelines/resource-type.yaml first`)
        );
      }
      throw error;
    }
    const tasks = orderedTasks(o).map((t) => t.name);
    if (task !== undefined && !tasks.includes(task)) {
      throw new CliError(`PipelineRun ${JSON.stringify(run)} has no task ${JSON.stringify(task)}; its tasks: ${tasks.join(", ") || "<none>"}`);
    }
    if (opts.follow) {
      await followLogs(ctx, session, o, { run, task });
      return;
    }
    if (task !== undefined && only !== undefined) {
      const attempts = taskAttempts(o, task);
      const a = attempts.find((x) => x.attempt === only);
      if (!a) {
        const kept = attempts.map((x) => x.attempt);
        throw new CliError(
          `task ${task} of ${run} has no recorded attempt ${only}; recorded: ${kept.join(", ") || "none yet"}${kept.length > 0 && kept[0]! > 1 ? ` (only the newest ${MAX_PREVIOUS_ATTEMPTS + 1} are kept)` : ""}`,
        );
      }
      if (a.output === undefined || a.output === "") ctx.err(`${attemptHeader(task, a)}: no output recorded`);
      else {
        if (a.truncated)
          ctx.err(
            `logs: ${task} attempt ${only}: ${NOT_KEPT}: the status keeps the last ${a === attempts.at(-1) ? OUTPUT_TAIL_MAX : PREVIOUS_OUTPUT_MAX} characters`,
          );
        ctx.out(a.output.replace(/\n$/, ""));
      }
      return;
    }
    let printed = 0;
    for (const name of task === undefined ? tasks : [task]) {
      for (const a of taskAttempts(o, name)) {
        if (task === undefined && (a.output === undefined || a.output === "")) continue;
        if (printed++ > 0) ctx.out("");
        ctx.out(attemptHeader(name, a));
        if (a.output !== undefined && a.output !== "") ctx.out(a.output.replace(/\n$/, ""));
      }
    }
    if (printed === 0)
      ctx.err(task === undefined ? `PipelineRun ${JSON.stringify(run)}: no task has recorded output yet` : `task ${task} of ${run} has not started yet`);
  });
  return command;
}

const FINISHED = new Set(["Succeeded", "Failed", "Cancelled"]);

/** Prints the run's output, then what each later version adds, until it finishes; throws ExitError(1) unless it Succeeded. */
async function followLogs(ctx: CliContext, session: Session, first: LooseObject, o: { run: string; task: string | undefined }): Promise<void> {
  const follower = new LogFollower({ task: o.task, out: ctx.out, notice: ctx.err });
  let last = first;
  let deleted = false;
  const stop = new AbortController();
  const seen = (run: LooseObject) => {
    follower.update(run);
    last = run;
    if (FINISHED.has(runPhase(run))) stop.abort();
  };
  seen(first);
  if (!stop.signal.aborted) {
    await followCollection(session.client, {
      path: collectionPath(PIPELINE_RUNS, session.namespace),
      fieldSelector: `metadata.name=${o.run}`,
      signal: AbortSignal.any([ctx.interrupted(), stop.signal]),
      onInitial(events) {
        if (events.length === 0) {
          deleted = true;
          stop.abort();
        }
        for (const e of events) seen(e.object);
      },
      onEvent(e) {
        if (e.type !== "DELETED") return seen(e.object);
        deleted = true;
        stop.abort();
      },
      onNotice: (message) => ctx.err(message),
    });
  }
  if (deleted) throw new CliError(`PipelineRun ${JSON.stringify(o.run)} was deleted before it finished`);
  const phase = runPhase(last);
  if (!FINISHED.has(phase)) return; // Ctrl-C
  if (phase !== "Succeeded") {
    const message = typeof last.status?.message === "string" && last.status.message !== "" ? `: ${last.status.message}` : "";
    ctx.err(`error: PipelineRun ${JSON.stringify(o.run)} ${phase}${message}`);
    throw new ExitError(1);
  }
}
