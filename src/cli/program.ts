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
import { versionCommand } from "./commands/version.ts";
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
  versionCommand,
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

/**
 * Commands a newcomer reaches for from kubectl (or tkn) that setpoint does
 * not have, and what does the job here: said in place of a bare `unknown command`.
 */
const INSTEAD = new Map<string, string>([
  ["create", "setpoint apply -f FILE creates the objects (and updates them once they exist); a run with metadata.generateName gets a new name each time"],
  ["replace", "setpoint apply -f FILE updates objects from the file"],
  ["edit", "change the file and setpoint apply -f it"],
  ["patch", "change the file and setpoint apply -f it"],
  ["cancel", "a PipelineRun stops when spec.cancel is true: add cancel: true to its spec and setpoint apply -f the file"],
]);

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
    .helpCommand(false)
    .enablePositionalOptions()
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ helpWidth: 100 })
    .configureOutput({ writeOut: (s) => ctx.out(s.replace(/\n$/, "")), writeErr: (s) => ctx.err(s.replace(/\n$/, "")) })
    .exitOverride()
    .addHelpText("after", FOOTER);
  addClientOptions(program);
  for (const make of COMMANDS) program.addCommand(make(ctx));
  program.addCommand(helpCommand(program));
  inherit(program, program);
  program.on("command:*", (operands: string[]) => {
    const instead = INSTEAD.get(operands[0] ?? "");
    if (instead !== undefined) program.error(`error: unknown command '${operands[0]}': ${instead}`, { exitCode: 2, code: "commander.unknownCommand" });
    (program as unknown as { unknownCommand(): void }).unknownCommand(); // commander's own, with its "Did you mean"
  });
  return program;
}

/**
 * `setpoint help [COMMAND...]`: that command's help (`help agent pipelines`
 * too). Commander's own help command prints the whole program's help for a
 * name it does not know, without saying so, and exits 2 as if that were the
 * answer; this one says `unknown command` with a suggestion, as `setpoint gte` does.
 */
function helpCommand(program: Command): Command {
  return new Command("help")
    .description("print help for a command")
    .argument("[command...]", "a command, e.g. get, or agent pipelines")
    .action((path: string[]) => {
      let command = program;
      for (const name of path) {
        const sub = command.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (sub === undefined) {
          const names = command.commands.map((c) => c.name()).filter((n) => n !== "help");
          const near = names.find((n) => editDistance(n, name) <= Math.max(1, Math.floor(n.length / 3)));
          const hint = near === undefined ? `the commands: ${names.join(", ")}` : `Did you mean ${near}?`;
          return command.error(`error: unknown command '${[...path.slice(0, path.indexOf(name)), name].join(" ")}' (${hint})`);
        }
        command = sub;
      }
      command.help();
    });
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b, for "did you mean" on short command names. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const up = d[i - 1]!;
      row[j] = Math.min(up[j]! + 1, row[j - 1]! + 1, up[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
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
