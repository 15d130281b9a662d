// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: who am I? Answered
// as kube-apiserver does (201 with the caller's user info), so `kubectl auth
// whoami` works. The request body (JSON or kubectl's protobuf) carries nothing
// the answer needs; nothing is stored.

import type { UserInfo } from "./authenticator.ts";

export const SELF_REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

/** The SelfSubjectReview kube answers for `user`. */
export function selfReview(user: UserInfo): unknown {
  const userInfo: Record<string, unknown> = { username: user.name };
  if (user.uid !== undefined && user.uid !== "") userInfo.uid = user.uid;
  userInfo.groups = user.groups;
  return { kind: "SelfSubjectReview", apiVersion: "authentication.k8s.io/v1", metadata: { creationTimestamp: null }, status: { userInfo } };
}
