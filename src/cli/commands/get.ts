// `setpoint get TYPE [NAME...]`: a table like kubectl's (NAME, the type's
// columns, which its ResourceType declares, or AGE when it declares none;
// NAMESPACE first with -A), or the objects as JSON, YAML or
// bare names. A list follows `continue` pages; a missing NAME is an error
// (exit 1) after the ones found are printed. With -w/--watch, as kubectl:
// the current objects, then a line (or document) per change until Ctrl-C
// (exit 0), resuming across disconnects (../watch-output.ts, ../follow.ts);
// --watch-only skips the current objects, --output-watch-events says each
// change's type.

import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import type { LooseObject } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { collectionPath, objectPath, objectTypeName, type ResourceInfo } from "../discovery.ts";
import { CliError, ExitError, UsageError } from "../errors.ts";
import { JsonPathError, parseJsonPath, type JsonPathTemplate } from "../../api/jsonpath.ts";
import { columnsFor, formatError, jsonPathFailure, objectJson, objectTable, objectYaml, printerColumnsOf } from "../printers.ts";
import type { PrinterColumn } from "../../api/printer-columns.ts";
import { followPrinted } from "../watch-output.ts";

export const OUTPUT_FORMATS = ["json", "yaml", "wide", "name"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * `-o`'s value: a format, or a kubectl JSONPath template (`jsonpath=…`,
 * `jsonpath-as-json=…`: each path's values as a JSON list, `jsonpath-file=FILE`),
 * parsed before anything is asked of the server.
 */
function parseOutput(value: string): OutputFormat | JsonPathTemplate {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  const m = /^(jsonpath|jsonpath-as-json|jsonpath-file)=(.*)$/s.exec(value);
  if (m !== null) {
    let text = m[2]!;
    if (m[1] === "jsonpath-file") {
      try {
        text = readFileSync(text, "utf8");
      } catch (error) {
        throw new InvalidArgumentError(`error reading --template jsonpath-file, error: ${(error as Error).message}`);
      }
    }
    let template: JsonPathTemplate;
    try {
      template = parseJsonPath(text);
    } catch (error) {
      // kubectl's words: "error parsing jsonpath TEMPLATE, WHAT".
      throw new InvalidArgumentError(`error parsing jsonpath ${text}, ${(error as Error).message}`);
    }
    return m[1] === "jsonpath-as-json" ? { ...template, print: template.printJson } : template;
  }
  throw new InvalidArgumentError(`Allowed choices are ${OUTPUT_FORMATS.join(", ")}, jsonpath=TEMPLATE, jsonpath-as-json=TEMPLATE, jsonpath-file=FILE.`);
}

/** A template's text for `value`, ending in exactly one newline when printed (kubectl prints none; a `{"\n"}` at the end is kept as that one). */
function printTemplate(ctx: CliContext, template: JsonPathTemplate, value: unknown): void {
  let text: string;
  try {
    text = template.print(value);
  } catch (error) {
    if (!(error instanceof JsonPathError)) throw error;
    throw new CliError(jsonPathFailure(template, error));
  }
  ctx.out(text.endsWith("\n") ? text.slice(0, -1) : text);
}

export function getCommand(ctx: CliContext): Command {
  const command = new Command("get")
    .summary("list objects of a type, or show some by name")
    .description(
      "Lists objects of TYPE (a plural, singular or kind, any case; plural.group when two groups share it),\n" +
        "or shows the NAMEd ones, as a table or as JSON or YAML.",
    )
    .argument("<type>", "resource type, e.g. pipelineruns, pipelinerun, PipelineRun, pipelineruns.ci.setpoint.dev")
    .argument("[names...]", "object names (default: all)")
    .addOption(
      new Option(
        "-o, --output <format>",
        "output format: a table (default), wide (more columns), json, yaml, name (TYPE/NAME per line), or jsonpath=TEMPLATE " +
          '(kubectl\'s: {.metadata.name}, {.items[*].metadata.name}, {range .items[*]}{.metadata.name}{"\\n"}{end}); ' +
          "jsonpath-as-json=TEMPLATE prints each path's values as a JSON list, jsonpath-file=FILE reads the template from FILE",
      ).argParser(parseOutput),
    )
    .option("-l, --selector <selector>", "label selector, e.g. app=web,tier!=db or 'env in (prod,staging)'")
    .option("-A, --all-namespaces", "list across all namespaces")
    .option("-w, --watch", "after the list, print each change as it happens, until Ctrl-C (exit 0); resumes after a disconnect")
    .option("--watch-only", "print only the changes from now on, not the current objects (implies --watch)")
    .option("--output-watch-events", "with --watch, say each change's type: an EVENT column, or {type, object} JSON/YAML documents")
    .addHelpText(
      "after",
      "\nExamples:\n  setpoint get pipelineruns\n  setpoint get pipelinerun diamond -o yaml\n  setpoint get pipelineruns -A -l app=web\n" +
        "  setpoint get pipelineruns -w\n" +
        "  setpoint get pipelinerun diamond -o jsonpath='{.status.phase}'\n\n" +
        "With -w, -o json and yaml print each object (or event) as a document as it changes,\n" +
        "-o name a TYPE/NAME line.",
    );
  addClientOptions(command);
  command.action(async (type: string, names: string[], opts: GetFlags) => {
    if (names.length > 0 && opts.allNamespaces) throw new UsageError("a name cannot be combined with -A: objects are named within a namespace");
    if (names.length > 0 && opts.selector !== undefined) throw new UsageError("names cannot be combined with a label selector (-l)");
    const watching = opts.watch === true || opts.watchOnly === true;
    if (watching && names.length > 1) throw new UsageError("-w watches one object or a whole type, not several names: give one NAME, or -l SELECTOR");
    if (!watching && opts.outputWatchEvents) throw new UsageError("--output-watch-events needs --watch or --watch-only");
    const session = sessionFor(command, ctx);
    const t = await session.discovery.resolve(type);
    const all = opts.allNamespaces === true && t.namespaced;
    // A table shows the columns the type declares, as kubectl's (from the server's Table) do.
    const table = opts.output === undefined || opts.output === "wide";
    const printerColumns = table ? await printerColumnsOf(session.client, t) : undefined;
    if (watching) {
      await followPrinted(ctx, session.client, t, {
        output: opts.output,
        namespace: all ? undefined : session.namespace,
        labelSelector: opts.selector,
        name: names[0],
        mustExist: true,
        events: opts.outputWatchEvents === true,
        changesOnly: opts.watchOnly === true,
        printerColumns,
        signal: ctx.interrupted(),
      });
      return;
    }
    if (names.length === 0) {
      const list = await session.client.listAll(collectionPath(t, all ? undefined : session.namespace), { labelSelector: opts.selector });
      printObjects(ctx, t, list.items, { output: opts.output, allNamespaces: all, namespace: session.namespace, printerColumns });
      return;
    }
    const found: LooseObject[] = [];
    let failed = false;
    for (const name of names) {
      try {
        found.push((await session.client.get(objectPath(t, session.namespace, name))) as LooseObject);
      } catch (error) {
        failed = true;
        ctx.err(formatError(error));
      }
    }
    if (found.length > 0) printObjects(ctx, t, found, { output: opts.output, single: names.length === 1, namespace: session.namespace, printerColumns });
    if (failed) throw new ExitError(1);
  });
  return command;
}

interface GetFlags {
  output?: OutputFormat | JsonPathTemplate;
  selector?: string;
  allNamespaces?: boolean;
  watch?: boolean;
  watchOnly?: boolean;
  outputWatchEvents?: boolean;
}

interface PrintOptions {
  output?: OutputFormat | JsonPathTemplate;
  allNamespaces?: boolean;
  /** One object asked for by name: -o json/yaml prints it alone. */
  single?: boolean;
  namespace: string;
  /** The columns the type declares (printerColumnsOf). */
  printerColumns?: readonly PrinterColumn[];
}

function printObjects(ctx: CliContext, t: ResourceInfo, objects: LooseObject[], o: PrintOptions): void {
  if (o.output === "json" || o.output === "yaml" || typeof o.output === "object") {
    // As kubectl: one object asked for by name alone, any other answer (a whole type, several names) as a v1 List.
    const value = o.single ? objects[0] : { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items: objects };
    if (typeof o.output === "object") printTemplate(ctx, o.output, value);
    // The YAML text whole, as kubectl prints it (a `|+` string at the end keeps its blank lines); out() adds the last newline.
    else ctx.out(o.output === "json" ? objectJson(value!) : objectYaml(value!).slice(0, -1));
    return;
  }
  if (o.output === "name") {
    for (const obj of objects) ctx.out(`${objectTypeName(t)}/${obj.metadata.name ?? ""}`);
    return;
  }
  if (objects.length === 0) {
    ctx.err(t.namespaced && !o.allNamespaces ? `No resources found in ${o.namespace} namespace.` : "No resources found");
    return;
  }
  const columns = columnsFor(t, { wide: o.output === "wide", allNamespaces: o.allNamespaces, printerColumns: o.printerColumns });
  ctx.out(objectTable(columns, objects, ctx.now()));
}
