// `setpoint watch TYPE [NAME]`: the objects of a type as live table lines:
// first the current ones (as ADDED), then one line per change, with the
// event in the first column (`setpoint get -w --output-watch-events`, with
// JSON on one line per event). Survives server restarts and dropped
// connections (resumes from the last revision; relists on 410, see
// ../follow.ts). Ctrl-C stops it with exit 0.

import { Command, Option } from "commander";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { printerColumnsOf } from "../printers.ts";
import { followPrinted } from "../watch-output.ts";

export function watchCommand(ctx: CliContext): Command {
  const command = new Command("watch")
    .summary("print a line for every change to objects of a type, live")
    .description(
      "Prints the objects of TYPE, then a line for each change, until interrupted (Ctrl-C, exit 0). Resumes from the " +
        "last revision after a disconnect; relists if the server's history no longer has it. The same as " +
        "setpoint get TYPE -w --output-watch-events, with one JSON event per line.",
    )
    .argument("<type>", "resource type, e.g. pipelineruns")
    .argument("[name]", "only this object (waits for it if it is not there yet)")
    .addOption(
      new Option("-o, --output <format>", "output format: a table (default), wide, or one event per line as json or yaml").choices(["wide", "json", "yaml"]),
    )
    .option("-l, --selector <selector>", "label selector")
    .option("-A, --all-namespaces", "watch across all namespaces")
    .addHelpText("after", "\nExample:\n  setpoint watch pipelineruns");
  addClientOptions(command);
  command.action(async (type: string, name: string | undefined, opts: { output?: "wide" | "json" | "yaml"; selector?: string; allNamespaces?: boolean }) => {
    const session = sessionFor(command, ctx);
    const t = await session.discovery.resolve(type);
    const table = opts.output === undefined || opts.output === "wide";
    await followPrinted(ctx, session.client, t, {
      printerColumns: table ? await printerColumnsOf(session.client, t) : undefined,
      output: opts.output,
      namespace: opts.allNamespaces === true && t.namespaced ? undefined : session.namespace,
      labelSelector: opts.selector,
      name,
      events: true,
      compactJson: true,
      signal: ctx.interrupted(),
    });
  });
  return command;
}
