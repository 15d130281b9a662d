// `setpoint watch TYPE [NAME]`: the objects of a type as live table lines:
// first the current ones (as ADDED), then one line per change, with the
// event in the first column. Survives server restarts and dropped
// connections (resumes from the last revision; relists on 410, see
// ../follow.ts). Ctrl-C stops it with exit 0.

import { Command, Option } from "commander";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { collectionPath } from "../discovery.ts";
import { followCollection, type WatchEvent } from "../follow.ts";
import { columnsFor } from "../printers.ts";
import { LineTable, type Column } from "../table.ts";
import { stringify as toYaml } from "yaml";

export function watchCommand(ctx: CliContext): Command {
  const command = new Command("watch")
    .summary("print a line for every change to objects of a type, live")
    .description(
      "Prints the objects of TYPE, then a line for each change, until interrupted. Resumes from the\n" +
        "last revision after a disconnect; relists if the server's history no longer has it.",
    )
    .argument("<type>", "resource type, e.g. pipelineruns")
    .argument("[name]", "only this object")
    .addOption(
      new Option("-o, --output <format>", "output format: a table (default), wide, or one event per line as json or yaml").choices(["wide", "json", "yaml"]),
    )
    .option("-l, --selector <selector>", "label selector")
    .option("-A, --all-namespaces", "watch across all namespaces")
    .addHelpText("after", "\nExample:\n  setpoint watch pipelineruns");
  addClientOptions(command);
  command.action(async (type: string, name: string | undefined, opts: { output?: string; selector?: string; allNamespaces?: boolean }) => {
    const session = sessionFor(command, ctx);
    const t = await session.discovery.resolve(type);
    const all = opts.allNamespaces === true && t.namespaced;
    const columns: Column[] = [{ header: "EVENT", cell: () => "" }, ...columnsFor(t, { wide: opts.output === "wide", allNamespaces: all })];
    const row = (e: WatchEvent): string[] => [e.type, ...columns.slice(1).map((c) => c.cell(e.object, ctx.now()))];
    let table: LineTable | undefined;
    const print = (e: WatchEvent) => {
      if (opts.output === "json") ctx.out(JSON.stringify(e));
      else if (opts.output === "yaml") ctx.out(`---\n${toYaml(e, { lineWidth: 0 }).trimEnd()}`);
      else {
        table ??= new LineTable(columns.map((c) => c.header));
        ctx.out(table.line(row(e)));
      }
    };
    const signal = ctx.interrupted();
    await followCollection(session.client, {
      path: collectionPath(t, all ? undefined : session.namespace),
      labelSelector: opts.selector,
      fieldSelector: name === undefined ? undefined : `metadata.name=${name}`,
      signal,
      onInitial(events) {
        if (opts.output !== "json" && opts.output !== "yaml") {
          // Size the columns for the current objects, and EVENT for its longest value.
          table = new LineTable(
            columns.map((c) => c.header),
            [["MODIFIED"], ...events.map(row)],
          );
          ctx.out(table.header());
        }
        for (const e of events) print(e);
      },
      onEvent: print,
      onNotice: (message) => ctx.err(message),
    });
  });
  return command;
}
