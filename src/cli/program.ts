// The `setpoint` command line: one commander program whose subcommands are
// listed in COMMANDS, each built by its own module in src/cli/commands/. A
// new subcommand is one module and one line here.
//
// Exit codes: 0 on success (and after --help or --version); 1 when the
// command fails (the server refused, cannot be reached, a file is bad); 2 for
// bad usage (unknown command or flag, missing argument, bad flag value).

import { Command, CommanderError } from "commander";
import { agentCommand } from "./commands/agent.ts";
import { applyCommand } from "./commands/apply.ts";
import { deleteCommand } from "./commands/delete.ts";
import { describeCommand } from "./commands/describe.ts";
import { getCommand } from "./commands/get.ts";
import { logsCommand } from "./commands/logs.ts";
import { serverCommand } from "./commands/server.ts";
import { upCommand } from "./commands/up.ts";
import { waitCommand } from "./commands/wait.ts";
import { watchCommand } from "./commands/watch.ts";
import { addClientOptions, type CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { formatError } from "./printers.ts";

/** Builds one subcommand; its action may throw CliError (printed, then its exit code). */
export type CommandFactory = (ctx: CliContext) => Command;

/** Every subcommand, in help order. */
export const COMMANDS: readonly CommandFactory[] = [
  serverCommand,
  upCommand,
  agentCommand,
  applyCommand,
  getCommand,
  describeCommand,
  deleteCommand,
  watchCommand,
  waitCommand,
  logsCommand,
];

const DESCRIPTION = `Setpoint: a declarative, level-triggered control plane. Declare objects
(PipelineRuns, or types of your own) with apply; agents drive the world to
them and report status, which get, describe, watch and logs show, and wait
waits for (a run's success, as an exit code for scripts).`;

const FOOTER = `
Client options (-s, --token, -n) work before or after the command.
Environment: SETPOINT_SERVER (server URL), SETPOINT_TOKEN (bearer token).

Examples:
  setpoint server --data-dir ./data
  setpoint apply -f examples/pipelines/
  setpoint get pipelineruns
  setpoint watch pipelineruns
  setpoint wait pipelinerun/diamond --for=condition=Succeeded --timeout=5m
  setpoint logs diamond unit-tests
`;

/** Applies the root's output, help and exit settings to a command tree built elsewhere. */
function inherit(command: Command, root: Command): void {
  for (const sub of command.commands) {
    sub.copyInheritedSettings(root);
    inherit(sub, root);
  }
}

/** The `setpoint` program. It never exits the process: it throws CommanderError (help, version, usage) or what actions throw. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command("setpoint")
    .description(DESCRIPTION)
    .version(ctx.version, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "print help and exit")
    .helpCommand("help [command]", "print help for a command")
    .enablePositionalOptions()
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ helpWidth: 100 })
    .configureOutput({ writeOut: (s) => ctx.out(s.replace(/\n$/, "")), writeErr: (s) => ctx.err(s.replace(/\n$/, "")) })
    .exitOverride()
    .addHelpText("after", FOOTER);
  addClientOptions(program);
  for (const make of COMMANDS) program.addCommand(make(ctx));
  inherit(program, program);
  return program;
}

/**
 * Runs `setpoint` with `argv` (without the node and script entries) and
 * resolves to the exit code. Long-running commands (server, watch) resolve
 * when they stop, or once started (server: the process then lives on until
 * a signal).
 */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = createProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const text = formatError(error);
    if (text !== "") ctx.err(text);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
