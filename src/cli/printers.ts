// How the CLI shows objects: the table columns of each type (PipelineRuns
// and the built-ins have their own, any other type gets NAME and AGE), JSON
// and YAML output, and server errors with their field causes.

import { stringify as toYaml } from "yaml";
import { goJson, type JsonPathTemplate } from "../api/jsonpath.ts";
import { asYaml } from "../server/yaml-response.ts";
import type { LooseObject } from "../wire.ts";
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

/** The table columns for a type: [NAMESPACE,] NAME, then the type's own (AGE for most). */
export function columnsFor(t: ResourceInfo, options: { wide?: boolean; allNamespaces?: boolean } = {}): Column[] {
  const own = TYPE_COLUMNS[typeName(t)];
  const rest = own ? (options.wide ? own.wide : own.normal) : options.wide ? [AGE, LABELS] : [AGE];
  return [...(options.allNamespaces && t.namespaced ? [NAMESPACE] : []), NAME, ...rest];
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
