// RBAC decisions from the in-memory index (src/server/auth/rbac.ts): kube's
// rule matching (wildcards, resourceNames, plural/status, */status), bindings
// to Roles and ClusterRoles, subjects by user, group and service account,
// system:masters, discovery for authenticated users, and kube's 403 message.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES } from "../../../src/api/rbac-types.ts";
import { forbidden, type RequestAttributes } from "../../../src/server/auth/attributes.ts";
import { RbacAuthorizer, RbacIndex } from "../../../src/server/auth/rbac.ts";

const G = "ci.example.com";
const res = (verb: string, resource: string, namespace = "", name = "", subresource = ""): RequestAttributes => ({
  kind: "resource",
  verb,
  group: G,
  version: "v1",
  resource,
  subresource,
  namespace,
  name,
});
const user = (name: string, ...groups: string[]) => ({ name, groups: [...groups, "system:authenticated"] });
const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });
const ref = (kind: string, name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });

function setup() {
  const index = new RbacIndex();
  const authz = new RbacAuthorizer(index);
  index.put(CLUSTER_ROLES, { metadata: meta("reader"), rules: [{ apiGroups: [G], resources: ["runs"], verbs: ["get", "list", "watch"] }] });
  index.put(CLUSTER_ROLES, { metadata: meta("all"), rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] });
  index.put(ROLES, { metadata: meta("status-writer", "dev"), rules: [{ apiGroups: [G], resources: ["runs/status"], verbs: ["update", "patch"] }] });
  index.put(ROLES, { metadata: meta("one", "dev"), rules: [{ apiGroups: [G], resources: ["runs"], resourceNames: ["r1"], verbs: ["get", "update"] }] });
  index.put(ROLES, { metadata: meta("any-status", "dev"), rules: [{ apiGroups: [G], resources: ["*/status"], verbs: ["get"] }] });
  index.put(CLUSTER_ROLES, { metadata: meta("metrics"), rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] });
  index.put(CLUSTER_ROLE_BINDINGS, { metadata: meta("carol-reads"), roleRef: ref("ClusterRole", "reader"), subjects: [{ kind: "User", name: "carol" }] });
  index.put(ROLE_BINDINGS, { metadata: meta("ops-all", "dev"), roleRef: ref("ClusterRole", "all"), subjects: [{ kind: "Group", name: "ops" }] });
  index.put(ROLE_BINDINGS, { metadata: meta("dave-status", "dev"), roleRef: ref("Role", "status-writer"), subjects: [{ kind: "User", name: "dave" }] });
  index.put(ROLE_BINDINGS, { metadata: meta("erin-one", "dev"), roleRef: ref("Role", "one"), subjects: [{ kind: "User", name: "erin" }] });
  index.put(ROLE_BINDINGS, { metadata: meta("sa", "dev"), roleRef: ref("Role", "any-status"), subjects: [{ kind: "ServiceAccount", name: "runner" }] });
  index.put(CLUSTER_ROLE_BINDINGS, { metadata: meta("mon"), roleRef: ref("ClusterRole", "metrics"), subjects: [{ kind: "Group", name: "monitoring" }] });
  return { index, authz };
}

describe("RBAC authorizer", () => {
  it("a ClusterRoleBinding grants everywhere; nothing else is granted", () => {
    const { authz } = setup();
    const carol = user("carol");
    for (const ns of ["", "dev", "prod"]) {
      for (const verb of ["get", "list", "watch"]) assert.ok(authz.authorize(carol, res(verb, "runs", ns)).allowed, `${verb} in ${ns}`);
      for (const verb of ["create", "update", "patch", "delete", "deletecollection"])
        assert.ok(!authz.authorize(carol, res(verb, "runs", ns)).allowed, `${verb} in ${ns}`);
    }
    assert.ok(!authz.authorize(carol, res("get", "runs", "dev", "r1", "status")).allowed, "runs does not cover runs/status");
    assert.ok(!authz.authorize(carol, res("get", "others", "dev")).allowed);
    assert.ok(!authz.authorize(user("mallory"), res("get", "runs", "dev")).allowed);
  });

  it("a RoleBinding to a ClusterRole grants it in its namespace only; groups match", () => {
    const { authz } = setup();
    const ops = user("olga", "ops");
    assert.ok(authz.authorize(ops, res("delete", "anything", "dev", "x")).allowed);
    assert.ok(!authz.authorize(ops, res("delete", "anything", "prod", "x")).allowed);
    assert.ok(!authz.authorize(ops, res("list", "anything", "")).allowed, "not at the cluster scope");
  });

  it("plural/status grants the subresource only; resourceNames limit to named objects; */status matches any", () => {
    const { authz } = setup();
    const dave = user("dave");
    assert.ok(authz.authorize(dave, res("patch", "runs", "dev", "r1", "status")).allowed);
    assert.ok(!authz.authorize(dave, res("patch", "runs", "dev", "r1")).allowed);
    const erin = user("erin");
    assert.ok(authz.authorize(erin, res("get", "runs", "dev", "r1")).allowed);
    assert.ok(!authz.authorize(erin, res("get", "runs", "dev", "r2")).allowed);
    assert.ok(!authz.authorize(erin, res("list", "runs", "dev")).allowed, "a list names no object");
    const sa = user("system:serviceaccount:dev:runner");
    assert.ok(authz.authorize(sa, res("get", "widgets", "dev", "w", "status")).allowed);
    assert.ok(!authz.authorize(sa, res("get", "widgets", "dev", "w")).allowed);
  });

  it("system:masters may do anything; authenticated users may read discovery; non-resource rules", () => {
    const { authz } = setup();
    assert.ok(authz.authorize({ name: "root", groups: ["system:masters"] }, res("delete", "x", "")).allowed);
    const nobody = user("nobody");
    for (const path of ["/api", "/apis", "/apis/ci.example.com/v1", "/openapi/v3", "/version"])
      assert.ok(authz.authorize(nobody, { kind: "nonResource", verb: "get", path }).allowed, path);
    assert.ok(!authz.authorize(nobody, { kind: "nonResource", verb: "get", path: "/metrics" }).allowed);
    assert.ok(authz.authorize(user("m", "monitoring"), { kind: "nonResource", verb: "get", path: "/metrics" }).allowed);
    assert.ok(!authz.authorize({ name: "system:anonymous", groups: ["system:unauthenticated"] }, { kind: "nonResource", verb: "get", path: "/apis" }).allowed);
  });

  it("changes apply to the next decision: new bindings, changed roles, deletions, a binding whose role appears later", () => {
    const { index, authz } = setup();
    const bob = user("bob");
    assert.ok(!authz.authorize(bob, res("get", "runs", "dev", "r1")).allowed);
    index.put(ROLE_BINDINGS, { metadata: meta("bob", "dev"), roleRef: ref("Role", "later"), subjects: [{ kind: "User", name: "bob" }] });
    assert.ok(!authz.authorize(bob, res("get", "runs", "dev", "r1")).allowed, "the role does not exist yet");
    index.put(ROLES, { metadata: meta("later", "dev"), rules: [{ apiGroups: [G], resources: ["runs"], verbs: ["get"] }] });
    assert.ok(authz.authorize(bob, res("get", "runs", "dev", "r1")).allowed);
    index.put(ROLES, { metadata: meta("later", "dev"), rules: [{ apiGroups: [G], resources: ["runs"], verbs: ["list"] }] });
    assert.ok(!authz.authorize(bob, res("get", "runs", "dev", "r1")).allowed);
    assert.ok(authz.authorize(bob, res("list", "runs", "dev")).allowed);
    index.remove(ROLE_BINDINGS, "dev", "bob");
    assert.ok(!authz.authorize(bob, res("list", "runs", "dev")).allowed);
    index.put(CLUSTER_ROLE_BINDINGS, { metadata: meta("carol-reads"), roleRef: ref("ClusterRole", "reader"), subjects: [] });
    assert.ok(!authz.authorize(user("carol"), res("get", "runs", "dev")).allowed, "a binding replaced without the subject");
  });

  it("malformed objects grant nothing and break nothing", () => {
    const index = new RbacIndex();
    const authz = new RbacAuthorizer(index);
    index.put(CLUSTER_ROLES, { metadata: meta("bad"), rules: [null, 3, { verbs: "get" }, { apiGroups: [G], resources: "runs", verbs: ["get"] }] as unknown[] });
    index.put(CLUSTER_ROLE_BINDINGS, {
      metadata: meta("b"),
      roleRef: ref("ClusterRole", "bad"),
      subjects: [null, { kind: "User" }, { kind: "User", name: "u" }] as unknown[],
    });
    index.put(CLUSTER_ROLE_BINDINGS, { metadata: meta("c"), roleRef: "nope" as unknown as object, subjects: "x" as unknown as unknown[] });
    assert.ok(!authz.authorize(user("u"), res("get", "runs", "dev")).allowed);
  });

  it("kube's 403 message", () => {
    const bob = user("bob");
    assert.equal(
      forbidden(bob, res("get", "runs", "dev", "r1")).message,
      'runs.ci.example.com "r1" is forbidden: User "bob" cannot get resource "runs" in API group "ci.example.com" in the namespace "dev"',
    );
    assert.equal(
      forbidden(bob, res("list", "runs", "")).message,
      'runs.ci.example.com is forbidden: User "bob" cannot list resource "runs" in API group "ci.example.com" at the cluster scope',
    );
    assert.equal(
      forbidden(bob, res("patch", "runs", "dev", "r1", "status")).message,
      'runs.ci.example.com "r1" is forbidden: User "bob" cannot patch resource "runs/status" in API group "ci.example.com" in the namespace "dev"',
    );
    assert.equal(forbidden(bob, { kind: "nonResource", verb: "get", path: "/metrics" }).message, 'forbidden: User "bob" cannot get path "/metrics"');
  });
});
