// `setpoint apply -f FILE|DIR|-`: create or update every object of the
// manifests. ResourceTypes go first (so a file may declare a type and then
// objects of it); the rest keep their order.
//
// Per object: GET it; absent → POST; present → PUT the manifest guarded by
// the resourceVersion just read. A 409 (someone wrote in between, or created
// it first) starts the object over, up to 5 times. The PUT carries the
// manifest's spec whole; metadata fields the manifest leaves out (labels,
// annotations, finalizers, ownerReferences) keep their stored values, so an
// agent's finalizer survives a re-apply. status is the agents': never sent.
// Prints `<type>/<name> created|configured|unchanged` per object; on errors
// it goes on with the other objects and exits 1 at the end. --dry-run=server
// sends the same writes with dryRun=All: the server validates and answers as
// it would, and stores nothing (lines end in "(server dry run)").

import { isDeepStrictEqual } from "node:util";
import { Command, Option } from "commander";
import type { ApiClient } from "../client.ts";
import type { LooseObject } from "../../wire.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { apiVersionOf, collectionPath, objectPath, objectTypeName, type Discovery, type ResourceInfo } from "../discovery.ts";
import { CliError, ExitError, ServerError, UnreachableError, UsageError } from "../errors.ts";
import { readManifests, type Manifest } from "../manifests.ts";
import { formatError } from "../printers.ts";

const RESOURCE_TYPE_API_VERSION = "setpoint.dev/v1";
const MAX_ATTEMPTS = 5;
/** Metadata the server owns: never sent from a manifest. */
const SERVER_OWNED = ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"];
/** Metadata kept from the stored object when the manifest does not set it. */
const KEPT = ["labels", "annotations", "finalizers", "ownerReferences"];

export function applyCommand(ctx: CliContext): Command {
  const command = new Command("apply")
    .summary("create or update objects from YAML or JSON files")
    .description(
      "Creates or updates every object in the files (several YAML documents each; JSON works too).\n" +
        "ResourceTypes are applied first, so a file may declare a type and objects of it.",
    )
    .addOption(
      new Option("-f, --filename <file>", "file, directory of .yaml/.yml/.json files, or - for stdin (repeatable)").argParser(collect).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--dry-run <mode>",
        "server: send every write with dryRun=All, so the server validates it and says what would change, and stores nothing; none: apply (default)",
      ).choices(["none", "server", "client"]),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  setpoint apply -f examples/pipelines/diamond.yaml\n  setpoint apply -f examples/pipelines/ --dry-run=server\n  cat run.yaml | setpoint apply -f -",
    );
  addClientOptions(command);
  command.action(async (opts: { filename: string[]; dryRun?: "none" | "server" | "client" }) => {
    if (opts.dryRun === "client") throw new UsageError("--dry-run=client is not supported: --dry-run=server checks the objects without storing them");
    const dryRun = opts.dryRun === "server";
    const session = sessionFor(command, ctx);
    const manifests = await readManifests(opts.filename, ctx.readStdin);
    if (manifests.length === 0) throw new CliError(`no objects in ${opts.filename.join(", ")}`);
    const isType = (m: Manifest) => m.object.apiVersion === RESOURCE_TYPE_API_VERSION && m.object.kind === "ResourceType";
    const ordered = [...manifests.filter(isType), ...manifests.filter((m) => !isType(m))];
    let failed = false;
    let typesChanged = false;
    for (const m of ordered) {
      if (typesChanged && !isType(m)) {
        session.discovery.refresh();
        typesChanged = false;
      }
      try {
        const t = await typeOf(session.discovery, m);
        const namespace = namespaceOf(t, m, session.namespace, session.namespaceGiven);
        const { name, outcome } = await applyOne(session.client, t, namespace, m.object, { dryRun });
        ctx.out(`${objectTypeName(t)}/${name} ${outcome}${dryRun ? " (server dry run)" : ""}`);
        if (isType(m) && outcome !== "unchanged") typesChanged = true;
      } catch (error) {
        if (error instanceof UnreachableError) throw error;
        failed = true;
        const what = `${m.object.kind ?? "object"} ${JSON.stringify(m.object.metadata.name ?? m.object.metadata.generateName ?? "")} from ${m.source}`;
        ctx.err(formatError(error, `error when applying ${what}`));
      }
    }
    if (failed) throw new ExitError(1);
  });
  return command;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function typeOf(discovery: Discovery, m: Manifest): Promise<ResourceInfo> {
  const t = await discovery.forObject(String(m.object.apiVersion), String(m.object.kind));
  if (t) return t;
  const closest = await discovery.closest(String(m.object.apiVersion), String(m.object.kind));
  if (closest !== undefined) {
    throw new CliError(`the server has no resource type for kind ${JSON.stringify(m.object.kind)} in ${JSON.stringify(m.object.apiVersion)}: ${closest}`);
  }
  // A PipelineRun on a bare `setpoint server` is the usual first case: say where its type comes from.
  const pipelineRun = m.object.kind === "PipelineRun" && String(m.object.apiVersion).startsWith("ci.setpoint.dev/");
  const how = pipelineRun
    ? "start a pipeline agent (setpoint agent pipelines, or setpoint up instead of setpoint server), which declares it, or apply examples/pipelines/resource-type.yaml"
    : "apply its ResourceType first";
  throw new CliError(`the server has no resource type for kind ${JSON.stringify(m.object.kind)} in ${JSON.stringify(m.object.apiVersion)}: ${how}`);
}

function namespaceOf(t: ResourceInfo, m: Manifest, namespace: string, given: boolean): string | undefined {
  if (!t.namespaced) return undefined;
  const own = m.object.metadata.namespace;
  if (own === undefined || own === "") return namespace;
  if (given && own !== namespace) {
    throw new CliError(`the namespace from the object (${JSON.stringify(own)}) does not match the namespace given with -n (${JSON.stringify(namespace)})`);
  }
  return own;
}

type Outcome = "created" | "configured" | "unchanged";

/** Creates or updates one object; retries on 409. With `dryRun`, the server checks the writes and stores nothing. */
export async function applyOne(
  client: ApiClient,
  t: ResourceInfo,
  namespace: string | undefined,
  manifest: LooseObject,
  options: { dryRun?: boolean } = {},
): Promise<{ name: string; outcome: Outcome }> {
  const query = options.dryRun ? { dryRun: "All" } : undefined;
  const desired: LooseObject = { ...manifest, apiVersion: apiVersionOf(t), kind: t.kind, metadata: { ...manifest.metadata } };
  delete desired.status;
  for (const k of SERVER_OWNED) delete desired.metadata[k];
  if (namespace !== undefined) desired.metadata.namespace = namespace;
  else delete desired.metadata.namespace;
  const name = desired.metadata.name;
  if (name === undefined || name === "") {
    // generateName (or nothing, which the server refuses with its own message): always a new object.
    const created = (await client.request("POST", collectionPath(t, namespace), { body: desired, query })) as LooseObject;
    return { name: created.metadata.name ?? "", outcome: "created" };
  }
  const path = objectPath(t, namespace ?? "", name);
  for (let attempt = 1; ; attempt++) {
    try {
      const current = await getOrUndefined(client, path);
      if (current === undefined) {
        await client.request("POST", collectionPath(t, namespace), { body: desired, query });
        return { name, outcome: "created" };
      }
      const body: LooseObject = { ...desired, metadata: { ...desired.metadata } };
      for (const k of KEPT) if (!(k in manifest.metadata) && current.metadata[k] !== undefined) body.metadata[k] = current.metadata[k];
      body.metadata.resourceVersion = current.metadata.resourceVersion;
      const updated = (await client.request("PUT", path, { body, query })) as LooseObject;
      // A dry run keeps the revision either way (as kube-apiserver does): compare what it would store.
      const same = options.dryRun ? sameContent(updated, current) : updated.metadata.resourceVersion === current.metadata.resourceVersion;
      return { name, outcome: same ? "unchanged" : "configured" };
    } catch (error) {
      if (error instanceof ServerError && error.code === 409 && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
  }
}

/** Whether two versions of an object hold the same content, apart from what every write may bump. */
function sameContent(a: LooseObject, b: LooseObject): boolean {
  const strip = (o: LooseObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined, generation: undefined, managedFields: undefined } });
  return isDeepStrictEqual(strip(a), strip(b));
}

async function getOrUndefined(client: ApiClient, path: string): Promise<LooseObject | undefined> {
  try {
    return (await client.get(path)) as LooseObject;
  } catch (error) {
    if (error instanceof ServerError && error.code === 404 && error.reason === "NotFound") return undefined;
    throw error;
  }
}
