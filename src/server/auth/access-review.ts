// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (API.md §8):
// may the caller do this? Answered as kube-apiserver does (201 with the
// review, `status.allowed`), so `kubectl auth can-i` works. Nothing is stored.

import { BadRequestError, InvalidError } from "../../errors.ts";
import type { UserInfo } from "./authenticator.ts";
import type { RequestAttributes } from "./attributes.ts";
import type { Authorizer } from "./rbac.ts";

export const ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** kube-apiserver's answer to a review spec that fails validation: 422 Invalid, one cause. */
function invalidSpec(field: string, message: string): InvalidError {
  const cause = { field, message: `Invalid value: "null": ${message}`, reason: "FieldValueInvalid" };
  return new InvalidError(`SelfSubjectAccessReview.authorization.k8s.io "" is invalid: ${field}: ${cause.message}`, [cause], {
    subject: { kind: "SelfSubjectAccessReview", group: "authorization.k8s.io" },
  });
}

type Fields = Record<string, "string" | { struct: string; goType: string; fields: Fields }>;

const RESOURCE_ATTRIBUTES: Fields = {
  namespace: "string",
  verb: "string",
  group: "string",
  version: "string",
  resource: "string",
  subresource: "string",
  name: "string",
};

/** The JSON fields of the review kinds' Go structs that this server reads, with their types. */
const REVIEW_FIELDS: Record<"SelfSubjectAccessReview" | "SelfSubjectRulesReview", Fields> = {
  SelfSubjectAccessReview: {
    spec: {
      struct: "SelfSubjectAccessReview",
      goType: "v1.SelfSubjectAccessReviewSpec",
      fields: {
        resourceAttributes: { struct: "SelfSubjectAccessReviewSpec", goType: "v1.ResourceAttributes", fields: RESOURCE_ATTRIBUTES },
        nonResourceAttributes: { struct: "SelfSubjectAccessReviewSpec", goType: "v1.NonResourceAttributes", fields: { path: "string", verb: "string" } },
      },
    },
  },
  SelfSubjectRulesReview: {
    spec: { struct: "SelfSubjectRulesReview", goType: "v1.SelfSubjectRulesReviewSpec", fields: { namespace: "string" } },
  },
};

/** What Go's encoding/json calls a JSON value in an UnmarshalTypeError. */
function goJsonKind(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "boolean") return "bool";
  return typeof value === "object" ? "object" : typeof value;
}

/**
 * A review's JSON body checked as kube's decoder reads it into the review's Go
 * struct: an object, `kind` (when given) the review's, and each field the
 * server reads of its JSON type; a 400 `BadRequest` in kube's words naming
 * the field otherwise (`{"spec": {"resourceAttributes": {"verb": 5}}}` used to
 * be answered 201, with the number echoed back).
 */
export function checkReviewBody(body: unknown, kind: "SelfSubjectAccessReview" | "SelfSubjectRulesReview"): void {
  const prefix = `${kind} in version "v1" cannot be handled as a ${kind}: `;
  const fail = (message: string, field: string): never => {
    throw new BadRequestError(prefix + message, { causes: [{ field, message, reason: "FieldValueTypeInvalid" }] });
  };
  if (body === null || typeof body !== "object" || Array.isArray(body)) fail(`json: cannot unmarshal ${goJsonKind(body)} into Go value of type v1.${kind}`, "");
  const o = body as Record<string, unknown>;
  for (const key of ["apiVersion", "kind"])
    if (o[key] !== undefined && o[key] !== null && typeof o[key] !== "string")
      fail(`json: cannot unmarshal ${goJsonKind(o[key])} into Go struct field ${kind}.${key} of type string`, key);
  if (typeof o.kind === "string" && o.kind !== "" && o.kind !== kind)
    throw new BadRequestError(`the kind in the data (${o.kind}) does not match the expected kind (${kind})`, {
      causes: [{ field: "kind", message: `must be ${kind}`, reason: "FieldValueInvalid" }],
    });
  const walk = (value: Record<string, unknown>, fields: Fields, struct: string, path: string): void => {
    for (const [key, type] of Object.entries(fields)) {
      const v = value[key];
      if (v === undefined || v === null) continue;
      const at = path === "" ? key : `${path}.${key}`;
      if (type === "string") {
        if (typeof v !== "string") fail(`json: cannot unmarshal ${goJsonKind(v)} into Go struct field ${struct}.${at} of type string`, at);
      } else if (typeof v !== "object" || Array.isArray(v)) {
        fail(`json: cannot unmarshal ${goJsonKind(v)} into Go struct field ${type.struct}.${at} of type ${type.goType}`, at);
      } else walk(v as Record<string, unknown>, type.fields, type.goType.replace(/^v1\./, ""), at);
    }
  };
  walk(o, REVIEW_FIELDS[kind], kind, "");
}

/** The attributes a SelfSubjectAccessReview's spec asks about; Invalid (as kube) unless it names exactly one kind. */
export function reviewAttributes(body: unknown): RequestAttributes {
  const spec = (body as { spec?: Record<string, unknown> } | null)?.spec;
  const ra = spec?.resourceAttributes as Record<string, unknown> | undefined;
  const nra = spec?.nonResourceAttributes as Record<string, unknown> | undefined;
  if (ra && typeof ra === "object" && nra && typeof nra === "object") {
    throw invalidSpec("spec.nonResourceAttributes", "cannot be specified in combination with resourceAttributes");
  }
  if (ra && typeof ra === "object") {
    return {
      kind: "resource",
      verb: str(ra.verb),
      group: str(ra.group),
      version: str(ra.version),
      resource: str(ra.resource),
      subresource: str(ra.subresource),
      namespace: str(ra.namespace),
      name: str(ra.name),
    };
  }
  if (nra && typeof nra === "object") return { kind: "nonResource", verb: str(nra.verb), path: str(nra.path) };
  throw invalidSpec("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes must be specified");
}

/** The review kube-apiserver returns: the request with `status.allowed` (and `status.reason`) filled in. */
export function reviewAccess(authorizer: Authorizer, user: UserInfo, body: unknown): Record<string, unknown> {
  const attributes = reviewAttributes(body);
  const decision = authorizer.authorize(user, attributes);
  const status: Record<string, unknown> = { allowed: decision.allowed };
  if (decision.reason !== "") status.reason = decision.reason;
  return {
    kind: "SelfSubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec: (body as { spec: unknown }).spec,
    status,
  };
}

/** The magic prefix of a Kubernetes protobuf body (`k8s\0`), before its runtime.Unknown envelope. */
const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Length-delimited fields of one protobuf message, by field number (other wire types skipped). */
function protoFields(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let i = 0;
  const varint = (): number => {
    let n = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length || shift > 49) throw new BadRequestError("malformed protobuf body");
      const b = buf[i++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key % 8;
    const field = Math.floor(key / 8);
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new BadRequestError("malformed protobuf body");
      out.set(field, buf.subarray(i, i + len));
      i += len;
    } else throw new BadRequestError("malformed protobuf body");
  }
  return out;
}

/**
 * A SelfSubjectAccessReview sent as `application/vnd.kubernetes.protobuf`
 * (kubectl sends built-in types so), as the JSON shape reviewAccess reads.
 */
export function reviewFromProtobuf(body: Buffer): unknown {
  if (body.length < 4 || !body.subarray(0, 4).equals(PROTOBUF_MAGIC)) throw new BadRequestError("protobuf body without the k8s magic prefix");
  const raw = protoFields(body.subarray(4)).get(2); // runtime.Unknown.raw
  if (!raw) throw new BadRequestError("protobuf body without an object");
  const spec = protoFields(raw).get(2); // SelfSubjectAccessReview.spec
  const parts = spec ? protoFields(spec) : new Map<number, Buffer>();
  const strings = (b: Buffer | undefined, names: string[]) => {
    const out: Record<string, string> = {};
    if (!b) return out;
    const f = protoFields(b);
    names.forEach((n, k) => {
      const v = f.get(k + 1);
      if (v !== undefined) out[n] = v.toString("utf8");
    });
    return out;
  };
  const reviewSpec: Record<string, unknown> = {};
  if (parts.has(1)) reviewSpec.resourceAttributes = strings(parts.get(1), ["namespace", "verb", "group", "version", "resource", "subresource", "name"]);
  if (parts.has(2)) reviewSpec.nonResourceAttributes = strings(parts.get(2), ["path", "verb"]);
  return { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: reviewSpec };
}

export const RULES_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";

/** The namespace a SelfSubjectRulesReview asks about, from JSON or Kubernetes protobuf. */
export function rulesReviewNamespace(body: unknown, protobuf: Buffer | undefined): string {
  if (protobuf) {
    if (protobuf.length < 4 || !protobuf.subarray(0, 4).equals(PROTOBUF_MAGIC)) throw new BadRequestError("protobuf body without the k8s magic prefix");
    const raw = protoFields(protobuf.subarray(4)).get(2);
    const spec = raw ? protoFields(raw).get(2) : undefined;
    return spec ? (protoFields(spec).get(1)?.toString("utf8") ?? "") : "";
  }
  const ns = (body as { spec?: { namespace?: unknown } } | null)?.spec?.namespace;
  return typeof ns === "string" ? ns : "";
}

/** kube's SelfSubjectRulesReview answer: the rules that apply to the caller in `namespace`. */
export function reviewRules(authorizer: Authorizer, user: UserInfo, namespace: string): Record<string, unknown> {
  const rules = authorizer.rulesFor?.(user, namespace) ?? { resourceRules: [], nonResourceRules: [], incomplete: true };
  return {
    kind: "SelfSubjectRulesReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec: { namespace },
    status: { resourceRules: rules.resourceRules, nonResourceRules: rules.nonResourceRules, incomplete: rules.incomplete },
  };
}
