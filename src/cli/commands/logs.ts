// `setpoint logs RUN [TASK] [--attempt N]`: the output a PipelineRun's tasks
// recorded in status: the current or last attempt's tail (at most
// OUTPUT_TAIL_MAX characters) and the tails of earlier attempts (at most
// PREVIOUS_OUTPUT_MAX characters each, the newest MAX_PREVIOUS_ATTEMPTS).
// Every attempt of every task (or of TASK), in graph order, each under a
// `==> task attempt N (phase, exit) <==` header; with --attempt N, that
// attempt's output alone, as is (TASK required).

import { Command } from "commander";
import type { LooseObject } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { objectPath } from "../discovery.ts";
import { CliError, ServerError, UsageError } from "../errors.ts";
import { attemptHeader, orderedTasks, taskAttempts } from "../pipelinerun-view.ts";
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
        `characters) and earlier attempts' tails (up to ${PREVIOUS_OUTPUT_MAX} characters each, the newest ${MAX_PREVIOUS_ATTEMPTS}), each under a header.`,
    )
    .argument("<run>", "PipelineRun name")
    .argument("[task]", "only this task")
    .option("--attempt <n>", "only this attempt of TASK (1 is the first), without a header")
    .addHelpText("after", "\nExamples:\n  setpoint logs diamond\n  setpoint logs diamond unit-tests\n  setpoint logs flaky test --attempt 1");
  addClientOptions(command);
  command.action(async (run: string, task: string | undefined, opts: { attempt?: string }) => {
    let only: number | undefined;
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
        throw new CliError(`the server has no PipelineRun type (${error.message}): apply examples/pipelines/resource-type.yaml first`);
      }
      throw error;
    }
    const tasks = orderedTasks(o).map((t) => t.name);
    if (task !== undefined && !tasks.includes(task)) {
      throw new CliError(`PipelineRun ${JSON.stringify(run)} has no task ${JSON.stringify(task)}; its tasks: ${tasks.join(", ") || "<none>"}`);
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
      else ctx.out(a.output.replace(/\n$/, ""));
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
