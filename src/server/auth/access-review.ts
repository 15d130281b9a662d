// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (API.md §8):
// may the caller do this? Answered as kube-apiserver does (201 with the
// review, `status.allowed`), so `kubectl auth can-i` works. Nothing is stored.

import { BadRequestError } from "../../errors.ts";
import type { UserInfo } from "./authenticator.ts";
import type { RequestAttributes } from "./attributes.ts";
import type { Authorizer } from "./rbac.ts";

export const ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** The attributes a SelfSubjectAccessReview's spec asks about; BadRequest if it names neither kind. */
export function reviewAttributes(body: unknown): RequestAttributes {
  const spec = (body as { spec?: Record<string, unknown> } | null)?.spec;
  const ra = spec?.resourceAttributes as Record<string, unknown> | undefined;
  const nra = spec?.nonResourceAttributes as Record<string, unknown> | undefined;
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
  throw new BadRequestError("SelfSubjectAccessReview: exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set", {
    causes: [{ field: "spec.resourceAttributes", message: "Required value: exactly one of resourceAttributes or nonResourceAttributes must be specified", reason: "FieldValueRequired" }],
  });
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
