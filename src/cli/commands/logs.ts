// `setpoint logs RUN [TASK]`: the output a PipelineRun's tasks recorded in
// status (the tail the runner keeps, at most OUTPUT_TAIL_MAX characters per
// task). With TASK: that task's output as is. Without: every task that has
// output, in graph order, each under a `==> task (phase, attempt, exit) <==`
// header.

import { Command } from "commander";
import type { ObjectInput } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { objectPath } from "../discovery.ts";
import { CliError, ServerError } from "../errors.ts";
import { logHeader, orderedTasks, taskOutput } from "../pipelinerun-view.ts";
import { OUTPUT_TAIL_MAX, PIPELINE_RUN_PLURAL, PIPELINES_GROUP, PIPELINES_VERSION } from "../../pipelines/resource-type.ts";

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
    .summary("print the recorded output of a PipelineRun's tasks")
    .description(`Prints the output tail (up to ${OUTPUT_TAIL_MAX} characters per task) that the runner recorded in a PipelineRun's status.`)
    .argument("<run>", "PipelineRun name")
    .argument("[task]", "only this task, without a header")
    .addHelpText("after", "\nExamples:\n  setpoint logs diamond\n  setpoint logs flaky test");
  addClientOptions(command);
  command.action(async (run: string, task: string | undefined) => {
    const session = sessionFor(command, ctx);
    let o: ObjectInput;
    try {
      o = (await session.client.get(objectPath(PIPELINE_RUNS, session.namespace, run))) as ObjectInput;
    } catch (error) {
      if (error instanceof ServerError && error.code === 404 && !error.message.includes(`"${run}"`)) {
        throw new CliError(`the server has no PipelineRun type (${error.message}): apply examples/pipelines/resource-type.yaml first`);
      }
      throw error;
    }
    const tasks = orderedTasks(o).map((t) => t.name);
    if (task !== undefined) {
      if (!tasks.includes(task)) {
        throw new CliError(`PipelineRun ${JSON.stringify(run)} has no task ${JSON.stringify(task)}; its tasks: ${tasks.join(", ") || "<none>"}`);
      }
      const output = taskOutput(o, task);
      if (output === undefined || output === "") ctx.err(`${logHeader(o, task)}: no output recorded`);
      else ctx.out(output.replace(/\n$/, ""));
      return;
    }
    let printed = 0;
    for (const name of tasks) {
      const output = taskOutput(o, name);
      if (output === undefined || output === "") continue;
      if (printed++ > 0) ctx.out("");
      ctx.out(logHeader(o, name));
      ctx.out(output.replace(/\n$/, ""));
    }
    if (printed === 0) ctx.err(`PipelineRun ${JSON.stringify(run)}: no task has recorded output yet`);
  });
  return command;
}
