// Resource types: what the server knows about a kind of object (its group,
// version, plural, scope and compiled schemas), the two built-in types
// (ResourceType and Lease), and the rules for ResourceType objects themselves.

import { fieldErrorsMessage, InvalidError, type FieldCause } from "../errors.ts";
import { AGE_COLUMN, parsePrinterColumns, validateNameList } from "./printer-columns.ts";
import { RBAC_TYPES } from "./rbac-types.ts";
import type { TypeInfo } from "./type-info.ts";
import { compileSchema, validateName } from "./validation.ts";

export type { PartCheck, TypeInfo } from "./type-info.ts";

/** `group/version` of a type. */
export function apiVersionOf(t: TypeInfo): string {
  return `${t.group}/${t.version}`;
}

export const SYSTEM_GROUP = "setpoint.dev";

export const RESOURCE_TYPES: TypeInfo = {
  name: `resourcetypes.${SYSTEM_GROUP}`,
  group: SYSTEM_GROUP,
  version: "v1",
  kind: "ResourceType",
  plural: "resourcetypes",
  singular: "resourcetype",
  namespaced: false,
  description: "Declares a type of object the server serves: its group, version, kind, plural, scope and JSON Schemas.",
  shortNames: ["rt"],
  categories: ["setpoint"],
  printerColumns: [
    { name: "Kind", type: "string", jsonPath: ".spec.kind", description: "The kind of the objects" },
    { name: "Group", type: "string", jsonPath: ".spec.group" },
    { name: "Version", type: "string", jsonPath: ".spec.version" },
    { name: "Scope", type: "string", jsonPath: ".spec.scope", priority: 1 },
    AGE_COLUMN,
  ],
  revision: 0,
};

const leaseSpecSchema = {
  type: "object",
  properties: {
    holderIdentity: { type: "string", maxLength: 253 },
    leaseDurationSeconds: { type: "integer", minimum: 1 },
    // kube's MicroTime: RFC 3339 (agents write toISOString()).
    acquireTime: { type: "string", format: "date-time" },
    renewTime: { type: "string", format: "date-time" },
    leaseTransitions: { type: "integer", minimum: 0 },
  },
};

export const LEASES: TypeInfo = {
  name: `leases.${SYSTEM_GROUP}`,
  group: SYSTEM_GROUP,
  version: "v1",
  kind: "Lease",
  plural: "leases",
  singular: "lease",
  namespaced: true,
  specCheck: compileSchema(leaseSpecSchema, "spec").check,
  specSchema: leaseSpecSchema,
  description: "A lease held by one replica of an agent, renewed while it lives (agent membership and failover).",
  categories: ["setpoint"],
  printerColumns: [
    { name: "Holder", type: "string", jsonPath: ".spec.holderIdentity", description: "Who holds the lease" },
    { name: "Renewed", type: "date", jsonPath: ".spec.renewTime" },
    AGE_COLUMN,
  ],
  revision: 0,
};

export const BUILT_IN_TYPES: readonly TypeInfo[] = [RESOURCE_TYPES, LEASES, ...RBAC_TYPES];

const KIND = /^[A-Z][A-Za-z0-9]*$/;
const PLURAL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const VERSION = /^v[0-9]+((alpha|beta)[0-9]+)?$/;

interface ResourceTypeSpec {
  group?: unknown;
  version?: unknown;
  kind?: unknown;
  plural?: unknown;
  scope?: unknown;
  schema?: { spec?: unknown; status?: unknown } | unknown;
  description?: unknown;
  shortNames?: unknown;
  categories?: unknown;
  additionalPrinterColumns?: unknown;
}

/** How typeFromResourceType reads a ResourceType that is already stored. */
export interface StoredTypeOptions {
  /**
   * Printer columns that do not validate (stored before a rule tightened, e.g.
   * a JSONPath the parser took then) are dropped, all of them, and the type
   * loads with the default columns, as kube-apiserver falls back to default
   * printing for a CRD whose columns do not parse; their causes are told here.
   * Without it they make the type invalid (a create, or an update that
   * changes the columns).
   */
  onDroppedColumns?: (causes: FieldCause[]) => void;
}

/**
 * Validates a ResourceType object and turns it into a TypeInfo.
 * Throws InvalidError with one cause per bad field.
 */
export function typeFromResourceType(object: Record<string, unknown>, revision: number, options: StoredTypeOptions = {}): TypeInfo {
  const metadata = (object.metadata ?? {}) as { name?: unknown };
  // A name that is not a string names no object ("", as in validateObject).
  const name = metadata.name === undefined || typeof metadata.name === "string" ? metadata.name : "";
  const spec = object.spec as ResourceTypeSpec | undefined;
  const causes: FieldCause[] = [];
  const bad = (field: string, message: string, reason = "FieldValueInvalid") => causes.push({ field, message, reason });
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
    bad("spec", "Required value: spec must be an object", "FieldValueRequired");
    throw new InvalidError(`ResourceType.${SYSTEM_GROUP} "${name ?? ""}" is invalid: spec: Required value`, causes, {
      subject: { kind: "ResourceType", group: SYSTEM_GROUP, name: name ?? "" },
    });
  }
  const str = (field: keyof ResourceTypeSpec, re: RegExp, what: string): string => {
    const v = spec[field];
    if (typeof v !== "string" || v === "") bad(`spec.${field}`, "Required value", "FieldValueRequired");
    else if (!re.test(v)) bad(`spec.${field}`, `Invalid value: ${JSON.stringify(v)}: ${what}`);
    return typeof v === "string" ? v : "";
  };
  const group = spec.group;
  if (typeof group !== "string" || group === "") bad("spec.group", "Required value", "FieldValueRequired");
  else {
    for (const c of validateName(group, "spec.group")) causes.push(c);
    if (group === SYSTEM_GROUP) bad("spec.group", `Invalid value: "${group}": the group ${SYSTEM_GROUP} is reserved for built-in types`);
  }
  const version = str("version", VERSION, "must look like v1, v2beta1 or v1alpha2");
  const kind = str("kind", KIND, "must be CamelCase: start with an uppercase letter, then letters and digits");
  const plural = str("plural", PLURAL, "must be a lowercase RFC 1123 label");
  const scope = spec.scope ?? "Namespaced";
  if (scope !== "Namespaced" && scope !== "Cluster")
    bad("spec.scope", `Unsupported value: ${JSON.stringify(scope)}: supported values: "Namespaced", "Cluster"`, "FieldValueNotSupported");
  const info: TypeInfo = {
    name: `${plural}.${typeof group === "string" ? group : ""}`,
    group: typeof group === "string" ? group : "",
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced: scope !== "Cluster",
    revision,
  };
  if (spec.description !== undefined && typeof spec.description !== "string")
    bad("spec.description", "Invalid value: must be a string", "FieldValueTypeInvalid");
  else if (typeof spec.description === "string") info.description = spec.description;
  const nameLists = [...validateNameList(spec.shortNames, "spec.shortNames"), ...validateNameList(spec.categories, "spec.categories")];
  causes.push(...nameLists);
  if (nameLists.length === 0) {
    if (Array.isArray(spec.shortNames) && spec.shortNames.length > 0) info.shortNames = spec.shortNames as string[];
    if (Array.isArray(spec.categories) && spec.categories.length > 0) info.categories = spec.categories as string[];
  }
  const printer = parsePrinterColumns(spec.additionalPrinterColumns, "spec.additionalPrinterColumns");
  if (printer.causes.length > 0 && options.onDroppedColumns) options.onDroppedColumns(printer.causes);
  else causes.push(...printer.causes);
  if (printer.columns.length > 0) info.printerColumns = printer.columns;
  if (metadata.name !== undefined && metadata.name !== info.name && causes.length === 0) {
    bad("metadata.name", `Invalid value: ${JSON.stringify(metadata.name)}: must be spec.plural + "." + spec.group (${info.name})`);
  }
  const schema = spec.schema;
  if (schema !== undefined && schema !== null) {
    if (typeof schema !== "object" || Array.isArray(schema)) bad("spec.schema", "Invalid value: must be an object with optional spec and status schemas");
    else {
      const s = schema as { spec?: unknown; status?: unknown };
      for (const part of Object.keys(s)) {
        if (part !== "spec" && part !== "status")
          bad(`spec.schema.${part}`, 'Unsupported value: only "spec" and "status" schemas are supported', "FieldValueNotSupported");
      }
      if (s.spec !== undefined) {
        const c = compileSchema(s.spec, "spec.schema.spec");
        causes.push(...c.causes);
        if (c.check) info.specCheck = c.check;
        info.specSchema = s.spec;
      }
      if (s.status !== undefined) {
        const c = compileSchema(s.status, "spec.schema.status");
        causes.push(...c.causes);
        if (c.check) info.statusCheck = c.check;
        info.statusSchema = s.status;
      }
    }
  }
  if (causes.length > 0) {
    throw new InvalidError(`ResourceType.${SYSTEM_GROUP} "${name ?? info.name}" is invalid: ${fieldErrorsMessage(causes)}`, causes, {
      subject: { kind: "ResourceType", group: SYSTEM_GROUP, name: name ?? info.name },
    });
  }
  return info;
}

/** Causes for changes to a ResourceType's identity, which is immutable. */
export function immutableTypeChanges(before: TypeInfo, after: TypeInfo): FieldCause[] {
  const causes: FieldCause[] = [];
  for (const f of ["group", "version", "kind", "plural"] as const) {
    if (before[f] !== after[f]) causes.push({ field: `spec.${f}`, message: "Invalid value: field is immutable", reason: "FieldValueInvalid" });
  }
  if (before.namespaced !== after.namespaced) causes.push({ field: "spec.scope", message: "Invalid value: field is immutable", reason: "FieldValueInvalid" });
  return causes;
}

/** A type's names kubectl resolves a resource by: plural, singular and short names. */
const resourceNames = (t: TypeInfo): string[] => [t.plural, t.singular, ...(t.shortNames ?? [])];

/**
 * Causes for a type whose names clash with another type of the same group,
 * in any version, as kube's CRD naming controller finds them (it compares
 * every CRD of the group, then leaves the CRD unserved, NamesAccepted false;
 * here the write is refused):
 * its plural, singular (the lowercase kind) or a short name is already a
 * plural, singular or short name of the other, or its kind (or `<kind>List`)
 * is already the other's kind or list kind. Clients map each name to one
 * resource: kubectl would send one type's requests to the other (`kubectl
 * get widget` goes to the group's preferred version's Widget).
 */
export function typeNameConflicts(info: TypeInfo, others: readonly TypeInfo[]): FieldCause[] {
  const causes: FieldCause[] = [];
  for (const other of others) {
    if (other.name === info.name || other.group !== info.group) continue;
    const taken = new Set(resourceNames(other));
    const by = `in ${apiVersionOf(other)} by ${other.name}`;
    const clash = (field: string, value: string, what: string) =>
      causes.push({ field, message: `Duplicate value: ${JSON.stringify(value)}: ${what} is already in use ${by}`, reason: "FieldValueDuplicate" });
    if (taken.has(info.plural)) clash("spec.plural", info.plural, `the name ${info.plural}`);
    if (info.kind === other.kind || info.kind === `${other.kind}List` || `${info.kind}List` === other.kind) {
      clash("spec.kind", info.kind, `kind ${info.kind}`);
    } else if (taken.has(info.singular)) clash("spec.kind", info.kind, `its singular name ${info.singular}`);
    (info.shortNames ?? []).forEach((s, i) => {
      if (taken.has(s)) clash(`spec.shortNames[${i}]`, s, `the name ${s}`);
    });
  }
  return causes;
}

/**
 * Causes for a new type that only a create checks (stored types created
 * before a rule existed keep loading): its group is a domain with at least
 * one dot, as kube requires of a CRD's group, and not the group of a
 * built-in type (a stored type there would be shadowed by, or sit beside,
 * the built-in ones); its plural, kind and version have at most 63
 * characters, as kube checks each as a DNS-1035 label.
 */
export function newTypeCauses(info: TypeInfo): FieldCause[] {
  const causes: FieldCause[] = [];
  for (const field of ["plural", "kind", "version"] as const) {
    const v = info[field];
    if (v.length > 63)
      causes.push({ field: `spec.${field}`, message: `Invalid value: ${JSON.stringify(v)}: must be no more than 63 bytes`, reason: "FieldValueInvalid" });
  }
  const bad = (detail: string) =>
    causes.push({ field: "spec.group", message: `Invalid value: ${JSON.stringify(info.group)}: ${detail}`, reason: "FieldValueInvalid" });
  if (!info.group.includes(".")) bad("should be a domain with at least one dot");
  else if (BUILT_IN_TYPES.some((t) => t.group === info.group)) bad(`the group ${info.group} is reserved for built-in types`);
  return causes;
}
