// Server-side printing (`meta.k8s.io/v1` Table), the answer to kubectl's
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` on get, list and
// watch. Columns: Name, then the type's printer columns (JSONPath, as CRDs
// declare them), or Age alone when it declares none (kube-apiserver's
// serveDefaultColumnsIfEmpty: a CRD that declares columns and wants Age
// declares it, `.metadata.creationTimestamp` as a `date`). Cells are computed as kube-apiserver's CRD table
// convertor does: dates become ages (`5m`), missing values are null, and each
// row carries its object as PartialObjectMetadata (default), the full object
// (`includeObject=Object`) or nothing (`includeObject=None`).
//
// Which requests ask for a Table is negotiated in negotiation.ts.
//
// The RBAC types are printed with kube's own columns for them (rbac-table.ts).
//
// A watch answered as Table sends each event's object as a Table of one row
// (with its column definitions, so a client may print headers from any
// event); BOOKMARK and ERROR events pass through unchanged.

import { parseGoRfc3339 } from "../api/go-time.ts";
import { goJson, goText, JsonPathError, type JsonPathTemplate } from "../api/jsonpath.ts";
import { columnTemplate, type PrinterColumn } from "../api/printer-columns.ts";
import type { ListForm } from "../api/resources.ts";
import type { TypeInfo } from "../api/types.ts";
import { BadRequestError } from "../errors.ts";
import { humanDuration } from "../human-duration.ts";
import { WatchEvent } from "../watch.ts";
import type { LooseObject } from "../wire.ts";
import { parseListJson } from "./list-json.ts";
import { builtInColumns } from "./rbac-table.ts";

export type IncludeObject = "None" | "Metadata" | "Object";

/** The `includeObject` query parameter (default Metadata); throws BadRequestError. */
export function includeObjectOf(params: URLSearchParams): IncludeObject {
  const v = params.get("includeObject");
  if (v === null || v === "") return "Metadata";
  if (v === "None" || v === "Metadata" || v === "Object") return v;
  throw new BadRequestError(`includeObject must be None, Metadata or Object, not ${JSON.stringify(v)}`, {
    causes: [{ field: "includeObject", message: `Unsupported value: ${JSON.stringify(v)}`, reason: "FieldValueNotSupported" }],
  });
}

export interface TableOptions {
  /** The `meta.k8s.io` version of the answer, e.g. `meta.k8s.io/v1`. */
  apiVersion: string;
  includeObject: IncludeObject;
  /** Milliseconds since the epoch, for ages. */
  now: number;
}

// Descriptions in kube-apiserver 1.32's words (apiextensions-apiserver's table convertor and default
// Age column take them from ObjectMeta's generated swagger docs).
const NAME_COLUMN = {
  name: "Name",
  type: "string",
  format: "name",
  description:
    "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
  priority: 0,
};
/** The column a type that declares none is served with, as kube's serveDefaultColumnsIfEmpty makes it. */
const DEFAULT_AGE_COLUMN: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description:
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
};

/** The columns after Name: the declared ones, or Age alone when there are none. */
function columnsOf(t: TypeInfo): readonly PrinterColumn[] {
  return t.printerColumns !== undefined && t.printerColumns.length > 0 ? t.printerColumns : [DEFAULT_AGE_COLUMN];
}

/** Column definitions of a type's Tables. */
export function columnDefinitions(t: TypeInfo): unknown[] {
  const builtIn = builtInColumns(t);
  if (builtIn) return [NAME_COLUMN, ...builtIn.map((c) => c.definition)];
  const declared = columnsOf(t).map((c) => ({
    name: c.name,
    type: c.type,
    format: c.format ?? "",
    description: c.description || `Custom resource definition column (in JSONPath format): ${c.jsonPath}`,
    priority: c.priority ?? 0,
  }));
  return [NAME_COLUMN, ...declared];
}

/**
 * A timestamp as kube-apiserver reads a `date` cell (metav1.Time's
 * UnmarshalQueryParameter: "" and "null" are no time, anything else goes
 * through Go's time.Parse with the RFC 3339 layout, src/api/go-time.ts):
 * milliseconds since the epoch, "zero" for no time (Go's zero time,
 * 0001-01-01T00:00:00Z, included), undefined for a text Go refuses.
 */
function goTimestamp(text: string): number | "zero" | undefined {
  if (text === "" || text === "null") return "zero";
  const t = parseGoRfc3339(text);
  if ("error" in t) return undefined;
  return t.ms === GO_ZERO_TIME && t.nanos === 0 ? "zero" : t.ms;
}

/** Go's zero time.Time, 0001-01-01T00:00:00Z, in milliseconds since the epoch. */
const GO_ZERO_TIME = new Date(0).setUTCFullYear(1, 0, 1);

/** kube's ConvertToHumanReadableDateType: `<unknown>` for no time, `<invalid>` for a text that is not one, else the time since (HumanDuration: `<invalid>` too when 2s or more ahead). */
function age(text: string | undefined, now: number): string {
  const t = text === undefined ? "zero" : goTimestamp(text);
  if (t === undefined) return "<invalid>";
  return t === "zero" ? "<unknown>" : humanDuration(now - t);
}

/** Each column's parsed jsonPath (declared columns were checked: every one parses), kept as long as its type. */
const templates = new WeakMap<PrinterColumn, JsonPathTemplate | undefined>();

/** The first value a column's path finds, as kube's table convertor takes it; undefined for none or an error (an index out of bounds). */
function columnValue(c: PrinterColumn, o: LooseObject): unknown {
  if (!templates.has(c)) templates.set(c, columnTemplate(c.jsonPath));
  try {
    return templates.get(c)?.find(o)[0]?.[0];
  } catch (error) {
    if (error instanceof JsonPathError) return undefined;
    throw error;
  }
}

/** A cell as kube's CRD table convertor makes it: null when the path finds nothing or fails, or the value is not of the column's type. */
export function cell(c: PrinterColumn, o: LooseObject, now: number): unknown {
  const v = columnValue(c, o);
  if (v === undefined) return null;
  // A string column prints what client-go's PrintResults prints, for a JSON null too: Go's "<no value>" (reflect.ValueOf(nil)).
  if (c.type === "string") return v === null ? "<no value>" : typeof v === "object" ? goJson(v) : goText(v as string | number | boolean);
  if (v === null) return null;
  switch (c.type) {
    case "date":
      return typeof v === "string" ? age(v, now) : null;
    case "integer":
      // As kube's table convertor: a float in an integer column is cut to its integer part.
      return typeof v === "number" ? Math.trunc(v) : null;
    case "number":
      return typeof v === "number" ? v : null;
    case "boolean":
      return typeof v === "boolean" ? v : null;
  }
  return null;
}

function rowOf(t: TypeInfo, o: LooseObject, opts: TableOptions): unknown {
  const builtIn = builtInColumns(t);
  const cells = [o.metadata?.name ?? "", ...(builtIn ? builtIn.map((c) => c.cell(o, opts.now)) : columnsOf(t).map((c) => cell(c, o, opts.now)))];
  if (opts.includeObject === "None") return { cells };
  const object = opts.includeObject === "Object" ? o : { kind: "PartialObjectMetadata", apiVersion: opts.apiVersion, metadata: o.metadata ?? {} };
  return { cells, object };
}

/** A Table of `objects`, with list metadata (resourceVersion, continue) when given. */
export function toTable(t: TypeInfo, objects: readonly LooseObject[], metadata: Record<string, unknown>, opts: TableOptions): unknown {
  return {
    kind: "Table",
    apiVersion: opts.apiVersion,
    metadata,
    columnDefinitions: columnDefinitions(t),
    rows: objects.map((o) => rowOf(t, o, opts)),
  };
}

/** A list's JSON text as a Table. */
export function listAsTable(t: TypeInfo, listJson: string, opts: TableOptions): string {
  const { items, metadata } = parseListJson(listJson);
  return JSON.stringify(toTable(t, items, metadata, opts));
}

/**
 * A list as a Table written row by row as the list streams (Resources.listChunks):
 * the same text as listAsTable of the whole list, without holding it.
 */
export function tableListForm(opts: TableOptions): Required<Omit<ListForm, "separator">> {
  let type: TypeInfo | undefined;
  return {
    head(t, meta) {
      type = t;
      const empty = JSON.stringify(toTable(t, [], { ...meta }, opts));
      return empty.slice(0, -"]}".length);
    },
    item: (json) => JSON.stringify(rowOf(type!, JSON.parse(json) as LooseObject, opts)),
    tail: () => "]}",
  };
}

/** One object's JSON text as a Table of one row. */
export function objectAsTable(t: TypeInfo, objectJson: string, opts: TableOptions): string {
  const o = JSON.parse(objectJson) as LooseObject;
  const rv = o.metadata?.resourceVersion;
  return JSON.stringify(toTable(t, [o], rv === undefined ? {} : { resourceVersion: rv }, opts));
}

/** A watch event with its object as a one-row Table; BOOKMARK (and any other) events unchanged. */
export function watchEventAsTable(t: TypeInfo, event: WatchEvent, opts: TableOptions): WatchEvent {
  if (event.type !== "ADDED" && event.type !== "MODIFIED" && event.type !== "DELETED") return event;
  const o = JSON.parse(event.object) as LooseObject;
  const rv = o.metadata?.resourceVersion;
  const table = toTable(t, [o], rv === undefined ? {} : { resourceVersion: rv }, opts);
  return new WatchEvent(event.type, JSON.stringify(table), event.revision);
}
