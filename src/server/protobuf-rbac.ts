// Create and update bodies of the RBAC types (API.md §8) sent as Kubernetes
// protobuf (`application/vnd.kubernetes.protobuf`), read into the JSON shape
// the rest of the server handles. kubectl's typed clients send built-in types
// so: `kubectl create role`, `create rolebinding`, `create clusterrole`,
// `create clusterrolebinding` and `auth reconcile` failed with 415 before.
// Setpoint otherwise speaks JSON and YAML (docs/kubectl.md); it answers these
// requests in JSON, which kubectl accepts as well.
//
// The wire form: the magic `k8s\0`, then a runtime.Unknown (typeMeta = 1
// {apiVersion = 1, kind = 2}, raw = 2) whose raw bytes are the object's
// message, per k8s.io/api/rbac/v1/generated.proto and
// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.

import { BadRequestError } from "../errors.ts";
import { isRbacResource, RBAC_GROUP } from "../api/rbac-types.ts";

export const PROTOBUF_TYPE = "application/vnd.kubernetes.protobuf";

/** The magic prefix of a Kubernetes protobuf body, before its runtime.Unknown envelope. */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** One field of a protobuf message: varints as numbers, length-delimited ones as bytes. */
type Field = { n: number; varint: number } | { n: number; bytes: Buffer };

const malformed = (why: string): BadRequestError =>
  new BadRequestError(`malformed protobuf body: ${why}`, { causes: [{ field: "body", message: why, reason: "FieldValueInvalid" }] });

/** The fields of one message, in order (repeated fields appear once per value); fixed-width ones skipped. */
function fieldsOf(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): number => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= buf.length || shift > 63) throw malformed("truncated varint");
      const b = buf[i++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key % 8;
    const n = Math.floor(key / 8);
    if (wire === 0) out.push({ n, varint: varint() });
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw malformed("a field runs past the end");
      out.push({ n, bytes: buf.subarray(i, i + len) });
      i += len;
    } else throw malformed(`unsupported wire type ${wire}`);
    if (i > buf.length) throw malformed("a field runs past the end");
  }
  return out;
}

const bytesOf = (fields: Field[], n: number): Buffer[] => fields.flatMap((f) => (f.n === n && "bytes" in f ? [f.bytes] : []));
const stringsOf = (fields: Field[], n: number): string[] => bytesOf(fields, n).map((b) => b.toString("utf8"));
const stringOf = (fields: Field[], n: number): string | undefined => stringsOf(fields, n).at(-1);
const messageOf = (fields: Field[], n: number): Field[] | undefined => {
  const b = bytesOf(fields, n).at(-1);
  return b === undefined ? undefined : fieldsOf(b);
};
const varintOf = (fields: Field[], n: number): number | undefined => {
  const f = fields.filter((x) => x.n === n && "varint" in x).at(-1);
  return f && "varint" in f ? f.varint : undefined;
};

/** Sets `key` on `o` when `value` is a non-empty string (Go's omitempty). */
function setString(o: Record<string, unknown>, key: string, value: string | undefined): void {
  if (value !== undefined && value !== "") o[key] = value;
}

/** A map<string, string> (entries: key = 1, value = 2), or undefined when empty. */
function mapOf(fields: Field[], n: number): Record<string, string> | undefined {
  const entries = bytesOf(fields, n).map((b) => fieldsOf(b));
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map((e) => [stringOf(e, 1) ?? "", stringOf(e, 2) ?? ""]));
}

/** ObjectMeta: what a client may set (the server sets uid, timestamps, generation and ignores them). */
function objectMeta(fields: Field[] | undefined): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  if (!fields) return m;
  setString(m, "name", stringOf(fields, 1));
  setString(m, "generateName", stringOf(fields, 2));
  setString(m, "namespace", stringOf(fields, 3));
  setString(m, "resourceVersion", stringOf(fields, 6));
  const labels = mapOf(fields, 11);
  if (labels) m.labels = labels;
  const annotations = mapOf(fields, 12);
  if (annotations) m.annotations = annotations;
  const owners = bytesOf(fields, 13).map((b) => {
    const f = fieldsOf(b);
    const o: Record<string, unknown> = { apiVersion: stringOf(f, 5) ?? "", kind: stringOf(f, 1) ?? "", name: stringOf(f, 3) ?? "", uid: stringOf(f, 4) ?? "" };
    const controller = varintOf(f, 6);
    if (controller !== undefined) o.controller = controller !== 0;
    const block = varintOf(f, 7);
    if (block !== undefined) o.blockOwnerDeletion = block !== 0;
    return o;
  });
  if (owners.length > 0) m.ownerReferences = owners;
  const finalizers = stringsOf(fields, 14);
  if (finalizers.length > 0) m.finalizers = finalizers;
  return m;
}

function policyRule(fields: Field[]): Record<string, unknown> {
  const r: Record<string, unknown> = { verbs: stringsOf(fields, 1) };
  const names = ["verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"];
  for (let n = 2; n <= 5; n++) {
    const values = stringsOf(fields, n);
    if (values.length > 0) r[names[n - 1]!] = values;
  }
  return r;
}

function labelSelector(fields: Field[]): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  const labels = mapOf(fields, 1);
  if (labels) s.matchLabels = labels;
  const expressions = bytesOf(fields, 2).map((b) => {
    const f = fieldsOf(b);
    const e: Record<string, unknown> = { key: stringOf(f, 1) ?? "", operator: stringOf(f, 2) ?? "" };
    const values = stringsOf(f, 3);
    if (values.length > 0) e.values = values;
    return e;
  });
  if (expressions.length > 0) s.matchExpressions = expressions;
  return s;
}

function subject(fields: Field[]): Record<string, unknown> {
  const s: Record<string, unknown> = { kind: stringOf(fields, 1) ?? "" };
  setString(s, "apiGroup", stringOf(fields, 2));
  s.name = stringOf(fields, 3) ?? "";
  setString(s, "namespace", stringOf(fields, 4));
  return s;
}

/** The kinds this module reads, by plural. */
const KINDS: Record<string, string> = {
  roles: "Role",
  clusterroles: "ClusterRole",
  rolebindings: "RoleBinding",
  clusterrolebindings: "ClusterRoleBinding",
};

/** Whether a body for this resource may come as Kubernetes protobuf. */
export const readsProtobuf = isRbacResource;

/**
 * A Role, ClusterRole, RoleBinding or ClusterRoleBinding sent as Kubernetes
 * protobuf, as its JSON object; 400 for a body that is not one.
 */
export function rbacFromProtobuf(body: Buffer, plural: string): Record<string, unknown> {
  const expected = KINDS[plural];
  if (expected === undefined) throw malformed(`${plural} is not read from protobuf`);
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw malformed("no k8s magic prefix");
  const unknown = fieldsOf(body.subarray(4));
  const typeMeta = messageOf(unknown, 1) ?? [];
  const apiVersion = stringOf(typeMeta, 1) ?? "";
  const kind = stringOf(typeMeta, 2) ?? "";
  if (kind !== "" && kind !== expected) throw malformed(`the body is a ${kind}, not a ${expected}`);
  const encoding = stringOf(unknown, 3) ?? "";
  if (encoding !== "") throw malformed(`content encoding ${encoding} is not supported`);
  const raw = bytesOf(unknown, 2).at(-1);
  if (raw === undefined) throw malformed("no object in the envelope");
  const fields = fieldsOf(raw);
  const o: Record<string, unknown> = { apiVersion: apiVersion || `${RBAC_GROUP}/v1`, kind: expected, metadata: objectMeta(messageOf(fields, 1)) };
  if (expected === "Role" || expected === "ClusterRole") {
    o.rules = bytesOf(fields, 2).map((b) => policyRule(fieldsOf(b)));
    const aggregation = messageOf(fields, 3);
    if (expected === "ClusterRole" && aggregation) o.aggregationRule = { clusterRoleSelectors: bytesOf(aggregation, 1).map((b) => labelSelector(fieldsOf(b))) };
  } else {
    const subjects = bytesOf(fields, 2).map((b) => subject(fieldsOf(b)));
    if (subjects.length > 0) o.subjects = subjects;
    const ref = messageOf(fields, 3) ?? [];
    o.roleRef = { apiGroup: stringOf(ref, 1) ?? "", kind: stringOf(ref, 2) ?? "", name: stringOf(ref, 3) ?? "" };
  }
  return o;
}
