// `setpoint describe TYPE [NAME...]`: objects in human-readable form: their
// metadata, then for a PipelineRun its phase, conditions and a table of its
// tasks (phase, attempt, exit code, duration), for other types spec and
// status as YAML. Without names: every object of the type in the namespace.

import { Command } from "commander";
import { stringify as toYaml } from "yaml";
import type { LooseObject } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { apiVersionOf, collectionPath, objectPath, typeName, type ResourceInfo } from "../discovery.ts";
import { ExitError } from "../errors.ts";
import { describePipelineRun, indent } from "../pipelinerun-view.ts";
import { formatError } from "../printers.ts";
import { age } from "../table.ts";

export function describeCommand(ctx: CliContext): Command {
  const command = new Command("describe")
    .summary("show objects in detail (a PipelineRun's tasks with phase, attempt and exit code)")
    .description("Shows objects of TYPE in human-readable form; without NAMEs, every object of the type in the namespace.")
    .argument("<type>", "resource type, e.g. pipelineruns")
    .argument("[names...]", "object names (default: all)")
    .option("-l, --selector <selector>", "label selector, when no names are given")
    .addHelpText("after", "\nExample:\n  setpoint describe pipelinerun diamond");
  addClientOptions(command);
  command.action(async (type: string, names: string[], opts: { selector?: string }) => {
    const session = sessionFor(command, ctx);
    const t = await session.discovery.resolve(type);
    let objects: LooseObject[] = [];
    let failed = false;
    if (names.length === 0) {
      objects = (await session.client.listAll(collectionPath(t, session.namespace), { labelSelector: opts.selector })).items;
      if (objects.length === 0) ctx.err(t.namespaced ? `No resources found in ${session.namespace} namespace.` : "No resources found");
    } else {
      for (const name of names) {
        try {
          objects.push((await session.client.get(objectPath(t, session.namespace, name))) as LooseObject);
        } catch (error) {
          failed = true;
          ctx.err(formatError(error));
        }
      }
    }
    if (objects.length > 0) ctx.out(objects.map((o) => describe(t, o, ctx.now())).join("\n\n"));
    if (failed) throw new ExitError(1);
  });
  return command;
}

/** The whole `describe` text of one object. */
export function describe(t: ResourceInfo, o: LooseObject, now: number): string {
  const m = o.metadata;
  const lines: string[] = [];
  const field = (k: string, v: string) => lines.push(`${(k + ":").padEnd(14)}${v}`);
  const map = (k: string, entries: Record<string, string> | undefined) => {
    const e = Object.entries(entries ?? {});
    if (e.length === 0) return field(k, "<none>");
    e.forEach(([key, value], i) => lines.push(`${(i === 0 ? k + ":" : "").padEnd(14)}${key}=${value}`));
  };
  field("Name", m.name ?? "");
  if (t.namespaced) field("Namespace", m.namespace ?? "");
  map("Labels", m.labels);
  map("Annotations", m.annotations);
  field("API Version", apiVersionOf(t));
  field("Kind", `${t.kind} (${typeName(t)})`);
  field("Created", m.creationTimestamp ? `${m.creationTimestamp} (${age(m.creationTimestamp, now)} ago)` : "<unknown>");
  field("Generation", String(m.generation ?? "<none>"));
  field("Revision", m.resourceVersion ?? "<none>");
  field("UID", m.uid ?? "<none>");
  if ((m.finalizers ?? []).length > 0) field("Finalizers", m.finalizers!.join(", "));
  if (m.deletionTimestamp) field("Deleting", `since ${m.deletionTimestamp} (waiting for finalizers)`);
  if (typeName(t) === "pipelineruns.ci.setpoint.dev") lines.push(describePipelineRun(o, now));
  else {
    for (const part of ["spec", "status"] as const) {
      const title = part === "spec" ? "Spec" : "Status";
      if (o[part] === undefined) field(title, "<none>");
      else lines.push(`${title}:`, indent(toYaml(o[part], { lineWidth: 0 }).trimEnd()));
    }
  }
  return lines.join("\n");
}
