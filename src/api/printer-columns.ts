// Printer columns, short names and categories of a ResourceType, as a CRD
// declares them (`additionalPrinterColumns`, `names.shortNames`,
// `names.categories`): their validation, a column's JSONPath included (kube's
// grammar, src/api/jsonpath.ts, which evaluates it). Pure: no I/O. The server turns columns into
// `meta.k8s.io/v1` Table responses (src/server/table.ts).

import type { FieldCause } from "../errors.ts";
import { JsonPathError, parseJsonPath, type JsonPathTemplate } from "./jsonpath.ts";

/** Cell types a column may declare (OpenAPI types, as kubectl reads them). */
export const COLUMN_TYPES = ["string", "integer", "number", "boolean", "date"] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/**
 * One printer column, as declared in `spec.additionalPrinterColumns`. As for
 * a CRD, a type that declares columns shows only those after Name: one that
 * wants an age declares `AGE_COLUMN`; one that declares none is shown with it.
 */
export interface PrinterColumn {
  name: string;
  type: ColumnType;
  jsonPath: string;
  description?: string;
  /** 0: shown by default; higher: shown only with `-o wide`. */
  priority?: number;
  format?: string;
}

/** The Age column as CRDs declare it (kubebuilder's and kube's own default): the time since creation. */
export const AGE_COLUMN: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

/**
 * The template a column's jsonPath is evaluated with, as kube-apiserver's
 * table convertor builds it (`{` + path + `}`, client-go's JSONPath:
 * src/api/jsonpath.ts); undefined when the path is not one kube accepts: it
 * starts with `.` and is one path (`.status.phase`, `.spec.tasks[0].name`,
 * `.metadata.labels['app\.kubernetes\.io/name']`, `.status.conditions[?(@.type=="Ready")].status`).
 */
export function columnTemplate(path: string): JsonPathTemplate | undefined {
  if (!path.startsWith(".")) return undefined;
  try {
    const template = parseJsonPath(`{${path}}`);
    return template.find({}).length === 1 ? template : undefined;
  } catch (error) {
    if (error instanceof JsonPathError) return undefined;
    throw error;
  }
}

const LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Causes for a bad `shortNames` or `categories` list (lowercase RFC 1123 labels, unique). */
export function validateNameList(value: unknown, field: string): FieldCause[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return [{ field, message: "Invalid value: must be a list of lowercase names", reason: "FieldValueTypeInvalid" }];
  const causes: FieldCause[] = [];
  const seen = new Set<string>();
  value.forEach((v: unknown, i) => {
    if (typeof v !== "string" || !LABEL.test(v) || v.length > 63) {
      causes.push({ field: `${field}[${i}]`, message: `Invalid value: ${JSON.stringify(v)}: must be a lowercase RFC 1123 label`, reason: "FieldValueInvalid" });
    } else if (seen.has(v)) causes.push({ field: `${field}[${i}]`, message: `Duplicate value: ${JSON.stringify(v)}`, reason: "FieldValueDuplicate" });
    else seen.add(v);
  });
  return causes;
}

/** Validates `spec.additionalPrinterColumns`; returns the columns and the causes (columns only when there are no causes). */
export function parsePrinterColumns(value: unknown, field: string): { columns: PrinterColumn[]; causes: FieldCause[] } {
  if (value === undefined || value === null) return { columns: [], causes: [] };
  if (!Array.isArray(value)) return { columns: [], causes: [{ field, message: "Invalid value: must be a list of columns", reason: "FieldValueTypeInvalid" }] };
  const causes: FieldCause[] = [];
  const columns: PrinterColumn[] = [];
  const names = new Set<string>();
  value.forEach((c: unknown, i) => {
    const at = `${field}[${i}]`;
    if (c === null || typeof c !== "object" || Array.isArray(c)) {
      causes.push({ field: at, message: "Invalid value: must be an object with name, type and jsonPath", reason: "FieldValueTypeInvalid" });
      return;
    }
    const { name, type, jsonPath, description, priority, format } = c as Record<string, unknown>;
    const before = causes.length;
    if (typeof name !== "string" || name === "") causes.push({ field: `${at}.name`, message: "Required value", reason: "FieldValueRequired" });
    else if (names.has(name.toLowerCase()) || name.toLowerCase() === "name") {
      causes.push({
        field: `${at}.name`,
        message: `Duplicate value: ${JSON.stringify(name)}${name.toLowerCase() === "name" ? " (Name is always shown)" : ""}`,
        reason: "FieldValueDuplicate",
      });
    } else names.add(name.toLowerCase());
    if (typeof type !== "string" || type === "") causes.push({ field: `${at}.type`, message: "Required value", reason: "FieldValueRequired" });
    else if (!(COLUMN_TYPES as readonly string[]).includes(type)) {
      causes.push({
        field: `${at}.type`,
        message: `Unsupported value: ${JSON.stringify(type)}: supported values: ${COLUMN_TYPES.map((t) => `"${t}"`).join(", ")}`,
        reason: "FieldValueNotSupported",
      });
    }
    if (typeof jsonPath !== "string" || jsonPath === "") causes.push({ field: `${at}.jsonPath`, message: "Required value", reason: "FieldValueRequired" });
    else if (!columnTemplate(jsonPath)) {
      causes.push({
        field: `${at}.jsonPath`,
        message: `Invalid value: ${JSON.stringify(jsonPath)}: must be a JSONPath starting with . such as .status.phase or .spec.items[0].name`,
        reason: "FieldValueInvalid",
      });
    }
    if (description !== undefined && typeof description !== "string")
      causes.push({ field: `${at}.description`, message: "Invalid value: must be a string", reason: "FieldValueTypeInvalid" });
    if (format !== undefined && typeof format !== "string")
      causes.push({ field: `${at}.format`, message: "Invalid value: must be a string", reason: "FieldValueTypeInvalid" });
    if (priority !== undefined && !(Number.isInteger(priority) && (priority as number) >= 0)) {
      causes.push({
        field: `${at}.priority`,
        message: `Invalid value: ${JSON.stringify(priority)}: must be an integer of at least 0`,
        reason: "FieldValueInvalid",
      });
    }
    if (causes.length > before) return;
    columns.push({
      name: name as string,
      type: type as ColumnType,
      jsonPath: jsonPath as string,
      ...(description !== undefined && { description: description as string }),
      ...(priority !== undefined && { priority: priority as number }),
      ...(format !== undefined && { format: format as string }),
    });
  });
  return { columns: causes.length === 0 ? columns : [], causes };
}
