// The pipeline agent's options, defined once: `setpoint agent pipelines` takes
// them, and `setpoint up` takes the same ones and passes them on to the agent
// it starts, so both accept and refuse the same values.

import { InvalidArgumentError, Option, type Command } from "commander";
import { parseDuration, parseInteger } from "./flags.ts";

/** The shortest lease: renewals run at a third of it, and a renewal needs a round trip. */
export const MIN_LEASE_MS = 300;

/** Parsed pipeline agent options (`workDir` undefined: the command's own default). */
export interface PipelineAgentFlags {
  workDir?: string;
  parallel: number;
  leaseDuration: number;
  killGrace: number;
}

const arg =
  <T>(parse: (text: string) => T) =>
  (text: string): T => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  };

const atLeast = (min: number) =>
  arg((text) => {
    const n = parseInteger(text);
    if (n < min) throw new RangeError(`${JSON.stringify(text)} is too small: must be at least ${min}`);
    return n;
  });

const durationOf = (min: number) =>
  arg((text) => {
    const ms = parseDuration(text);
    if (ms < min) throw new RangeError(`${JSON.stringify(text)} is too short: must be at least ${min} ms`);
    return ms;
  });

/** Adds --work-dir, --parallel, --lease-duration and --kill-grace; `workDirDefault` describes --work-dir's default. */
export function addPipelineAgentOptions(command: Command, options: { workDirDefault: string }): Command {
  return command
    .addOption(new Option("--work-dir <dir>", `directory for the runs' workspaces (default: ${options.workDirDefault})`))
    .addOption(new Option("--parallel <n>", "task processes the agent runs at once, across runs").argParser(atLeast(1)).default(4))
    .addOption(
      new Option(
        "--lease-duration <duration>",
        `the agent's lease: a dead agent's runs move to another this long after it last renewed (at least ${MIN_LEASE_MS}ms)`,
      )
        .argParser(durationOf(MIN_LEASE_MS))
        .default(15_000, "15s"),
    )
    .addOption(new Option("--kill-grace <duration>", "time between SIGTERM and SIGKILL when stopping a task").argParser(durationOf(0)).default(5000, "5s"));
}

/** The command line that passes `flags` on to `setpoint agent pipelines`. */
export function pipelineAgentArgs(flags: PipelineAgentFlags & { workDir: string }): string[] {
  return [
    "--work-dir",
    flags.workDir,
    "--parallel",
    String(flags.parallel),
    "--lease-duration",
    `${flags.leaseDuration}ms`,
    "--kill-grace",
    `${flags.killGrace}ms`,
  ];
}
