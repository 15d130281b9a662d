// `setpoint delete TYPE NAME...`, `TYPE --all`, `TYPE -l SELECTOR` (with -A
// across namespaces; the objects listed when it starts) or
// `setpoint delete -f FILE`: deletes the objects (for -f, the objects the
// manifests name, ResourceTypes last so their objects go first). An object with finalizers is only marked: the
// line says what it waits for, and how to wait until it is gone. Goes on past errors and exits 1 at the end.

import { Command, Option } from "commander";
import type { ApiClient } from "../client.ts";
import type { LooseObject } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { collectionPath, objectPath, objectTypeName, type ResourceInfo } from "../discovery.ts";
import { CliError, ExitError, ServerError, UnreachableError, UsageError } from "../errors.ts";
import { readManifests } from "../manifests.ts";
import { formatError } from "../printers.ts";

export function deleteCommand(ctx: CliContext): Command {
  const command = new Command("delete")
    .summary("delete objects by type and name, or those in files")
    .description("Deletes the NAMEd objects of TYPE, or every object the files (-f) describe.")
    .argument("[type]", "resource type, e.g. pipelineruns")
    .argument("[names...]", "object names")
    .addOption(
      new Option("-f, --filename <file>", "file, directory or - for stdin (repeatable)").argParser((v: string, p: string[] | undefined) => [...(p ?? []), v]),
    )
    .option("--ignore-not-found", "treat an object that does not exist as deleted (always so with --all and -l)")
    .option("--all", "every object of TYPE in the namespace (with -A, in every namespace)")
    .option("-l, --selector <selector>", "every object of TYPE this label selector picks")
    .option("-A, --all-namespaces", "with --all or -l: across all namespaces")
    .addHelpText(
      "after",
      "\nExamples:\n  setpoint delete pipelinerun diamond\n  setpoint delete -f examples/pipelines/flaky.yaml\n  setpoint delete pipelineruns -l example=flaky",
    );
  addClientOptions(command);
  type Opts = { filename?: string[]; ignoreNotFound?: boolean; all?: boolean; selector?: string; allNamespaces?: boolean };
  command.action(async (type: string | undefined, names: string[], opts: Opts) => {
    const bulk = opts.all === true || opts.selector !== undefined;
    if (opts.filename !== undefined && type !== undefined) throw new UsageError("give either TYPE NAME... or -f FILE, not both");
    if (bulk && (opts.filename !== undefined || names.length > 0))
      throw new UsageError("--all and -l pick the objects of TYPE: give no NAMEs and no -f with them");
    if (bulk && type === undefined) throw new UsageError("say which type: setpoint delete TYPE --all, or TYPE -l SELECTOR");
    if (opts.allNamespaces && !bulk) throw new UsageError("-A goes with --all or -l: objects are named within a namespace");
    if (opts.filename === undefined && !bulk && (type === undefined || names.length === 0)) {
      throw new UsageError("say what to delete: TYPE NAME..., TYPE --all, TYPE -l SELECTOR, or -f FILE");
    }
    const session = sessionFor(command, ctx);
    const targets: Array<{ t: ResourceInfo; namespace: string; name: string }> = [];
    if (opts.filename !== undefined) {
      const manifests = await readManifests(opts.filename, ctx.readStdin);
      const isType = (o: LooseObject) => o.apiVersion === "setpoint.dev/v1" && o.kind === "ResourceType";
      const ordered = [...manifests.filter((m) => !isType(m.object)), ...manifests.filter((m) => isType(m.object))];
      for (const m of ordered) {
        const t = await session.discovery.forObject(String(m.object.apiVersion), String(m.object.kind));
        const name = m.object.metadata.name;
        if (t === undefined) {
          if (opts.ignoreNotFound) continue;
          const closest = await session.discovery.closest(String(m.object.apiVersion), String(m.object.kind));
          throw new CliError(
            `${m.source}: the server has no resource type for kind ${JSON.stringify(m.object.kind)} in ${JSON.stringify(m.object.apiVersion)}${closest === undefined ? "" : `: ${closest}`}`,
          );
        }
        if (name === undefined || name === "") throw new CliError(`${m.source}: the object has no metadata.name, so there is nothing to delete`);
        targets.push({ t, namespace: m.object.metadata.namespace || session.namespace, name });
      }
    } else if (bulk) {
      const t = await session.discovery.resolve(type!);
      const all = opts.allNamespaces === true && t.namespaced;
      const list = await session.client.listAll(collectionPath(t, all ? undefined : session.namespace), { labelSelector: opts.selector });
      for (const o of list.items) targets.push({ t, namespace: o.metadata.namespace ?? session.namespace, name: o.metadata.name ?? "" });
      if (targets.length === 0) ctx.err(t.namespaced && !all ? `No resources found in ${session.namespace} namespace.` : "No resources found");
    } else {
      const t = await session.discovery.resolve(type!);
      for (const name of names) targets.push({ t, namespace: session.namespace, name });
    }
    let failed = false;
    for (const { t, namespace, name } of targets) {
      try {
        // An object that --all or -l listed may be gone by its delete (its finalizers
        // removed meanwhile): as kubectl, a bulk delete ignores not found.
        ctx.out(await deleteOne(session.client, { t, namespace, name, ignoreNotFound: opts.ignoreNotFound === true || bulk }));
      } catch (error) {
        if (error instanceof UnreachableError) throw error;
        failed = true;
        ctx.err(formatError(error));
      }
    }
    if (failed) throw new ExitError(1);
  });
  return command;
}

/** Deletes one object; says what became of it (deleted, waiting for finalizers, or not found and ignored). */
async function deleteOne(client: ApiClient, target: { t: ResourceInfo; namespace: string; name: string; ignoreNotFound: boolean }): Promise<string> {
  const { t, namespace, name, ignoreNotFound } = target;
  const id = `${objectTypeName(t)} ${JSON.stringify(name)}`;
  let last: LooseObject;
  try {
    last = (await client.request("DELETE", objectPath(t, namespace, name))) as LooseObject;
  } catch (error) {
    if (ignoreNotFound && error instanceof ServerError && error.code === 404) return `${id} not found (ignored)`;
    throw error;
  }
  const finalizers = last.metadata?.finalizers ?? [];
  if (last.metadata?.deletionTimestamp !== undefined && finalizers.length > 0) {
    // Who removes a finalizer is up to its agent (none running: it stays); wait says when the object is gone.
    const ns = t.namespaced && namespace !== "default" ? ` -n ${namespace}` : "";
    return `${id} marked for deletion (waiting for finalizers: ${finalizers.join(", ")}; setpoint wait ${t.singular}/${name}${ns} --for=delete waits until it is gone)`;
  }
  return `${id} deleted`;
}
