// What a request asks to do, in the terms authorization decides on (kube's
// authorizer.Attributes): a resource request (verb, API group, resource,
// subresource, namespace, name) or a non-resource request (verb, path). Also
// kube-apiserver's 403 message for a denied request. Pure: no I/O.

import { ApiError } from "../../errors.ts";
import type { UserInfo } from "./authenticator.ts";

export interface ResourceAttributes {
  kind: "resource";
  verb: string;
  group: string;
  version: string;
  /** The plural, e.g. `pipelineruns`. */
  resource: string;
  /** `status`, or "" for the object itself. */
  subresource: string;
  /** "" for cluster-scoped requests and for lists across namespaces. */
  namespace: string;
  /** "" for collection requests. */
  name: string;
}

export interface NonResourceAttributes {
  kind: "nonResource";
  verb: string;
  path: string;
}

export type RequestAttributes = ResourceAttributes | NonResourceAttributes;

/** Verbs of a non-resource request, by HTTP method (kube's RequestInfoFactory). */
export function nonResourceVerb(method: string): string {
  switch (method) {
    case "POST":
      return "post";
    case "PUT":
      return "put";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    case "HEAD":
      return "head";
    default:
      return "get";
  }
}

/** The verb of a resource request from its HTTP method and whether it names an object (kube's RequestInfoFactory). */
export function resourceVerb(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return named ? "delete" : "deletecollection";
    default:
      if (watch) return "watch";
      return named ? "get" : "list";
  }
}

/** Verbs that change state: they count against the mutating in-flight limit. */
export const MUTATING_VERBS: ReadonlySet<string> = new Set(["create", "update", "patch", "delete", "deletecollection", "post", "put", "delete"]);

/**
 * kube-apiserver's 403 for a denied request: `<resource>.<group> "<name>" is
 * forbidden: User "<user>" cannot <verb> resource "<resource>" in API group
 * "<group>" in the namespace "<ns>"` (or `at the cluster scope`; or
 * `forbidden: User "<user>" cannot <verb> path "<path>"`).
 */
export function forbidden(user: UserInfo, a: RequestAttributes, reason = ""): ApiError {
  const suffix = reason === "" ? "" : `: ${reason}`;
  if (a.kind === "nonResource") {
    return new ApiError("Forbidden", `forbidden: User ${JSON.stringify(user.name)} cannot ${a.verb} path ${JSON.stringify(a.path)}${suffix}`);
  }
  const resource = a.subresource === "" ? a.resource : `${a.resource}/${a.subresource}`;
  const where = a.namespace === "" ? "at the cluster scope" : `in the namespace ${JSON.stringify(a.namespace)}`;
  const why = `User ${JSON.stringify(user.name)} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.group)} ${where}${suffix}`;
  const qualified = a.group === "" ? a.resource : `${a.resource}.${a.group}`;
  const message = a.name === "" ? `${qualified} is forbidden: ${why}` : `${qualified} ${JSON.stringify(a.name)} is forbidden: ${why}`;
  const subject: { group: string; kind: string; name?: string } = { group: a.group, kind: a.resource };
  if (a.name !== "") subject.name = a.name;
  return new ApiError("Forbidden", message, { subject });
}

/** kube-apiserver's 401: the message is `Unauthorized`. */
export function unauthorized(): ApiError {
  return new ApiError("Unauthorized", "Unauthorized");
}
