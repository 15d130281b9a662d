// Prints a followed collection (./follow.ts) as `kubectl get -w` does, for
// `setpoint get -w` and `setpoint watch`: the current objects, then one line
// (or document) per change until the signal aborts. As a table (columns
// sized for the current objects, widened when a later cell needs more room,
// under the one header, as kubectl), as JSON or YAML documents, as TYPE/NAME
// lines (YAML documents each after `---`), or as a JSONPath template's text
// per object (kubectl's -o jsonpath); with `events`, each change says its type (an EVENT column, or `{type, object}` documents). Reconnects and
// relists go to stderr.

import type { ApiClient } from "./client.ts";
import type { CliContext } from "./context.ts";
import { collectionPath, objectTypeName, typeName, type ResourceInfo } from "./discovery.ts";
import { ExitError } from "./errors.ts";
import { followCollection, type WatchEvent } from "./follow.ts";
import { JsonPathError, type JsonPathTemplate } from "../api/jsonpath.ts";
import type { PrinterColumn } from "../api/printer-columns.ts";
import { columnsFor, jsonPathFailure, objectYaml, toJson } from "./printers.ts";
import { LineTable, type Column } from "./table.ts";

export interface FollowPrintOptions {
  /** Default a table; `wide` adds columns; `json`, `yaml` print documents; `name` TYPE/NAME lines; a JSONPath template a line per object (or event). */
  output?: "wide" | "json" | "yaml" | "name" | JsonPathTemplate;
  /** The namespace to follow; undefined: every namespace (a NAMESPACE column). */
  namespace: string | undefined;
  labelSelector?: string;
  /** Only this object. */
  name?: string;
  /** With `name`: an object that is not there when the follow starts is an error (NotFound, exit 1), as kubectl get -w NAME. Default false: wait for it. */
  mustExist?: boolean;
  /** Say each change's type: an EVENT column, or `{"type", "object"}` documents (kubectl --output-watch-events). Default false. */
  events?: boolean;
  /** Skip the current objects, print only later changes (kubectl --watch-only). Default false. */
  changesOnly?: boolean;
  /** The columns the type declares (printerColumnsOf), for a table. Default: the CLI's own for the type, or AGE. */
  printerColumns?: readonly PrinterColumn[];
  /** JSON documents on one line each (a stream for jq) rather than indented as kubectl prints them. Default false. */
  compactJson?: boolean;
  /** Stops following (Ctrl-C): the call then resolves. */
  signal: AbortSignal;
}

/** Follows objects of `t` and prints them until `options.signal` aborts; throws ExitError(1) for a named object that is not there. */
export async function followPrinted(ctx: CliContext, client: ApiClient, t: ResourceInfo, options: FollowPrintOptions): Promise<void> {
  const { output, events = false } = options;
  const all = options.namespace === undefined && t.namespaced;
  const own = columnsFor(t, { wide: output === "wide", allNamespaces: all, printerColumns: options.printerColumns });
  const columns: Column[] = events ? [{ header: "EVENT", cell: () => "" }, ...own] : own;
  const row = (e: WatchEvent): string[] => columns.map((c, i) => (events && i === 0 ? e.type : c.cell(e.object, ctx.now())));
  let table: LineTable | undefined;
  let headerShown = false;
  let documents = 0;
  const print = (e: WatchEvent) => {
    if (typeof output === "object") {
      // As get without -w, a line per object; an object the template cannot be applied to is said on stderr, and the watch goes on.
      try {
        const text = output.print(events ? e : e.object);
        ctx.out(text.endsWith("\n") ? text.slice(0, -1) : text);
      } catch (error) {
        if (!(error instanceof JsonPathError)) throw error;
        ctx.err(jsonPathFailure(output, error));
      }
    } else if (output === "name") ctx.out(`${objectTypeName(t)}/${e.object.metadata.name ?? ""}`);
    else if (output === "json") {
      const value = events ? e : e.object;
      ctx.out(options.compactJson ? JSON.stringify(value) : toJson(value));
    } else if (output === "yaml") {
      // As kubectl's YAML printer: `---` between documents, not before the first.
      ctx.out(`${documents++ > 0 ? "---\n" : ""}${objectYaml(events ? e : e.object).slice(0, -1)}`);
    } else {
      table ??= new LineTable(columns.map((c) => c.header));
      if (!headerShown) {
        headerShown = true;
        ctx.out(table.header());
      }
      ctx.out(table.line(row(e)));
    }
  };
  const stop = new AbortController();
  let missing = false;
  await followCollection(client, {
    path: collectionPath(t, options.namespace),
    labelSelector: options.labelSelector,
    fieldSelector: options.name === undefined ? undefined : `metadata.name=${options.name}`,
    signal: AbortSignal.any([options.signal, stop.signal]),
    onInitial(initial) {
      if (options.mustExist && options.name !== undefined && initial.length === 0) {
        missing = true;
        stop.abort();
        return;
      }
      // Size the columns for the current objects (and EVENT for its longest value).
      table = new LineTable(
        columns.map((c) => c.header),
        [...(events ? [["MODIFIED"]] : []), ...initial.map(row)],
      );
      if (!options.changesOnly) for (const e of initial) print(e);
    },
    onEvent: print,
    onNotice: (message) => ctx.err(message),
  });
  if (missing) {
    ctx.err(`Error from server (NotFound): ${typeName(t)} "${options.name}" not found`);
    throw new ExitError(1);
  }
}
