// The Table columns of the RBAC types (API.md §8), as kube-apiserver's own
// printers make them for these built-in types (they declare no printer
// columns, so table.ts would print Age alone): Role and ClusterRole show
// `Created At`; RoleBinding and ClusterRoleBinding show `Role` (`Kind/name`)
// and `Age`, and, for `kubectl get -o wide`, `Users`, `Groups` and
// `ServiceAccounts` (`namespace/name`), comma-separated.

import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES } from "../api/rbac-types.ts";
import type { TypeInfo } from "../api/types.ts";
import { humanDuration } from "../human-duration.ts";
import type { LooseObject } from "../wire.ts";

/** A column after Name, with the cell it shows for an object. */
export interface BuiltInColumn {
  definition: { name: string; type: string; format: string; description: string; priority: number };
  cell(o: LooseObject, now: number): unknown;
}

const CREATION =
  "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

const column = (name: string, type: string, description: string, priority: number, cell: BuiltInColumn["cell"]): BuiltInColumn => ({
  definition: { name, type, format: "", description, priority },
  cell,
});

const created = (o: LooseObject): string | undefined => (typeof o.metadata?.creationTimestamp === "string" ? o.metadata.creationTimestamp : undefined);

/** Go's `Time.UTC().Format(time.RFC3339)`: whole seconds, `Z`. */
function rfc3339(text: string | undefined): string {
  const t = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(t) ? "0001-01-01T00:00:00Z" : new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** kube's translateTimestampSince: `<unknown>` without a time. */
function since(text: string | undefined, now: number): string {
  const t = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(t) ? "<unknown>" : humanDuration(now - t);
}

/** Names of a binding's subjects of one kind, as kube's SubjectsStrings lists them. */
function subjects(o: LooseObject, kind: string): string {
  const list = Array.isArray(o.subjects) ? (o.subjects as Array<Record<string, unknown>>) : [];
  return list
    .filter((s) => s !== null && typeof s === "object" && s.kind === kind)
    .map((s) => (kind === "ServiceAccount" ? `${String(s.namespace ?? "")}/${String(s.name ?? "")}` : String(s.name ?? "")))
    .join(", ");
}

const ROLE_COLUMNS: readonly BuiltInColumn[] = [column("Created At", "date", CREATION, 0, (o) => rfc3339(created(o)))];

const BINDING_COLUMNS: readonly BuiltInColumn[] = [
  column("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.", 0, (o) => {
    const ref = (o.roleRef ?? {}) as Record<string, unknown>;
    return `${String(ref.kind ?? "")}/${String(ref.name ?? "")}`;
  }),
  column("Age", "string", CREATION, 0, (o, now) => since(created(o), now)),
  column("Users", "string", "Users in the roleBinding", 1, (o) => subjects(o, "User")),
  column("Groups", "string", "Groups in the roleBinding", 1, (o) => subjects(o, "Group")),
  column("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1, (o) => subjects(o, "ServiceAccount")),
];

const BY_TYPE = new Map<string, readonly BuiltInColumn[]>([
  [ROLES.name, ROLE_COLUMNS],
  [CLUSTER_ROLES.name, ROLE_COLUMNS],
  [ROLE_BINDINGS.name, BINDING_COLUMNS],
  [CLUSTER_ROLE_BINDINGS.name, BINDING_COLUMNS],
]);

/** The columns kube prints for a built-in RBAC type, or undefined for any other type. */
export function builtInColumns(t: TypeInfo): readonly BuiltInColumn[] | undefined {
  return t.revision === 0 ? BY_TYPE.get(t.name) : undefined;
}
