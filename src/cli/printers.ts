// How the CLI shows objects: the table columns of each type (PipelineRuns
// and the built-ins have their own, any other type its ResourceType's printer
// columns, as kubectl shows them, or NAME and AGE when it declares none), JSON
// and YAML output, and server errors with their field causes.

import { stringify as toYaml } from "yaml";
import { goJson, goText, type JsonPathTemplate } from "../api/jsonpath.ts";
import { parsePrinterColumns, type PrinterColumn } from "../api/printer-columns.ts";
import { cell } from "../server/table.ts";
import { asYaml } from "../server/yaml-response.ts";
import type { LooseObject } from "../wire.ts";
import type { ApiClient } from "./client.ts";
import { CliError, ExitError, ServerError } from "./errors.ts";
import { typeName, type ResourceInfo } from "./discovery.ts";
import { PIPELINE_RUN_COLUMNS, PIPELINE_RUN_WIDE_COLUMNS } from "./pipelinerun-view.ts";
import { AGE, NAME, NAMESPACE, renderTable, type Column } from "./table.ts";

const LABELS: Column = {
  header: "LABELS",
  cell: (o) =>
    Object.entries(o.metadata.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",") || "<none>",
};
const text = (v: unknown): string => (v === undefined || v === null || v === "" ? "<none>" : String(v));

/** Columns after NAME, by type name; the wide set replaces the normal one with `-o wide`. */
const TYPE_COLUMNS: Record<string, { normal: Column[]; wide: Column[] }> = {
  "pipelineruns.ci.setpoint.dev": { normal: PIPELINE_RUN_COLUMNS, wide: PIPELINE_RUN_WIDE_COLUMNS },
  "resourcetypes.setpoint.dev": {
    normal: [
      { header: "KIND", cell: (o) => text(o.spec?.kind) },
      { header: "VERSION", cell: (o) => text(o.spec?.version) },
      { header: "SCOPE", cell: (o) => text(o.spec?.scope ?? "Namespaced") },
      AGE,
    ],
    wide: [
      { header: "KIND", cell: (o) => text(o.spec?.kind) },
      { header: "VERSION", cell: (o) => text(o.spec?.version) },
      { header: "SCOPE", cell: (o) => text(o.spec?.scope ?? "Namespaced") },
      AGE,
      { header: "SCHEMA", cell: (o) => ["spec", "status"].filter((p) => o.spec?.schema?.[p] !== undefined).join(",") || "<none>" },
    ],
  },
  "leases.setpoint.dev": {
    normal: [{ header: "HOLDER", cell: (o) => text(o.spec?.holderIdentity) }, AGE],
    wide: [
      { header: "HOLDER", cell: (o) => text(o.spec?.holderIdentity) },
      AGE,
      { header: "RENEWED", cell: (o) => text(o.spec?.renewTime) },
      { header: "DURATION", cell: (o) => (o.spec?.leaseDurationSeconds === undefined ? "<none>" : `${o.spec.leaseDurationSeconds}s`) },
    ],
  },
};

/** A cell as kubectl prints a Table's: nothing for null, Go's %v for a number. */
function tableCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "number" ? goText(v) : String(v);
}

/**
 * A type's declared printer columns (its ResourceType's
 * `additionalPrinterColumns`) as the CLI's: the server Table's headers and
 * cells, as kubectl prints them. A declared Age of the creation time is the
 * CLI's AGE (never `<invalid>` for a clock a moment behind the server's).
 */
function declaredColumns(columns: readonly PrinterColumn[], wide: boolean): Column[] {
  return columns
    .filter((c) => wide || (c.priority ?? 0) === 0)
    .map((c) =>
      c.type === "date" && c.jsonPath === ".metadata.creationTimestamp"
        ? { ...AGE, header: c.name.toUpperCase() }
        : { header: c.name.toUpperCase(), cell: (o: LooseObject, now: number) => tableCell(cell(c, o, now)) },
    );
}

/**
 * The table columns for a type: [NAMESPACE,] NAME, then the type's own
 * (PipelineRuns and the built-ins), or the columns its ResourceType declares,
 * as the server's Table and kubectl show them (AGE only when declared), or
 * AGE for a type that declares none (kube's default column; -o wide adds LABELS).
 */
export function columnsFor(t: ResourceInfo, options: { wide?: boolean; allNamespaces?: boolean; printerColumns?: readonly PrinterColumn[] } = {}): Column[] {
  const own = TYPE_COLUMNS[typeName(t)];
  const declared = options.printerColumns !== undefined && options.printerColumns.length > 0 ? options.printerColumns : undefined;
  const rest = own
    ? options.wide
      ? own.wide
      : own.normal
    : declared
      ? declaredColumns(declared, options.wide === true)
      : options.wide
        ? [AGE, LABELS]
        : [AGE];
  return [...(options.allNamespaces && t.namespaced ? [NAMESPACE] : []), NAME, ...rest];
}

/**
 * The printer columns the ResourceType of `t` declares, read from the server;
 * undefined for a built-in type, one the caller may not read, or any failure
 * (the table then has the default columns).
 */
export async function printerColumnsOf(client: ApiClient, t: ResourceInfo, signal?: AbortSignal): Promise<PrinterColumn[] | undefined> {
  if (t.group === "setpoint.dev" || TYPE_COLUMNS[typeName(t)] !== undefined) return undefined;
  try {
    const rt = (await client.get(`/apis/setpoint.dev/v1/resourcetypes/${encodeURIComponent(typeName(t))}`, undefined, { signal })) as LooseObject;
    const parsed = parsePrinterColumns(rt.spec?.additionalPrinterColumns, "spec.additionalPrinterColumns");
    return parsed.causes.length === 0 ? parsed.columns : undefined;
  } catch (error) {
    if (error instanceof ServerError) return undefined;
    throw error;
  }
}

/** A table of objects with the type's columns. */
export function objectTable(columns: readonly Column[], objects: readonly LooseObject[], now: number): string {
  return renderTable(
    columns.map((c) => c.header),
    objects.map((o) => columns.map((c) => c.cell(o, now))),
  );
}

/** JSON as kubectl prints it (4-space indent). */
export const toJson = (value: unknown): string => JSON.stringify(value, null, 4);

/**
 * Objects as `kubectl get -o json` and `-o yaml` print them: JSON as Go's
 * json.MarshalIndent of the decoded object (keys sorted, `<>&` escaped, four
 * spaces), YAML as sigs.k8s.io/yaml writes it (the server's YAML answers,
 * ../server/go-yaml.ts: go-yaml v2's key order, quoting and folding).
 */
export const objectJson = (value: object): string => goJson(value, 4);
export const objectYaml = (value: object): string => asYaml(JSON.stringify(value));

/** YAML without line folding. */
export const toYamlText = (value: unknown): string => toYaml(value, { lineWidth: 0 });

/**
 * The lines to print for an error: a server Status as
 * `Error from server (Reason): message` followed by one line per field cause
 * (and, for a 401, one saying where a token goes), anything else as `error: message`; nothing for ExitError. `context` (e.g.
 * `error when applying x`) goes before the message.
 */
/**
 * A JSONPath template that failed on an object, in kubectl's words
 * (cli-runtime's JSONPathPrinter), less the Go dump of the object it appends.
 */
export function jsonPathFailure(template: JsonPathTemplate, error: Error): string {
  return (
    `error executing jsonpath ${JSON.stringify(template.source)}: Error executing template: ${error.message}. ` +
    `Printing more information for debugging the template:\n\ttemplate was:\n\t\t${template.source}`
  );
}

export function formatError(error: unknown, context?: string): string {
  if (error instanceof ExitError) return "";
  const prefix = context === undefined ? "" : `${context}: `;
  if (error instanceof ServerError) {
    const causes = error.status.details?.causes ?? [];
    // An Invalid message repeats its causes after "is invalid:" (kube's form, one line, in brackets
    // when several): as kubectl, print the head once and each cause on its own line.
    const at = error.reason === "Invalid" && causes.length > 0 ? error.message.indexOf(" is invalid: ") : -1;
    const message = at < 0 ? error.message : error.message.slice(0, at + " is invalid:".length);
    const lines = [`Error from server (${error.reason}): ${prefix}${message}`];
    for (const c of causes) {
      lines.push(c.field ? `  ${c.field}: ${c.message ?? ""}` : `  ${c.message ?? ""}`);
    }
    // kubectl's bare "Unauthorized" leaves a newcomer guessing what to send.
    if (error.code === 401) lines.push("  the server wants a valid bearer token: --token, SETPOINT_TOKEN, or a kubeconfig user's token");
    return lines.join("\n");
  }
  if (error instanceof CliError) return `error: ${prefix}${error.message}`;
  return `error: ${prefix}${error instanceof Error ? error.message : String(error)}`;
}
