// RBAC escalation prevention (kube's): writing a Role or ClusterRole needs
// every rule it grants (or `escalate`), binding a role needs every rule it
// holds (or `bind`), on create, update and patch, over REST and gRPC.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadResourcesService } from "../../../src/proto.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../../helpers/server.ts";

const G = "esc.example.com";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const ref = (kind: string, name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });
const widgets = (verbs: string[]) => [{ apiGroups: [G], resources: ["widgets"], verbs }];

describe("RBAC escalation prevention", () => {
  let t: TestServer;
  let dir: string;
  let admin: ApiClient;
  let lead: ApiClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-esc-"));
    writeFileSync(join(dir, "tokens.csv"), "t-admin,admin,1,system:masters\nt-lead,lead,2\n");
    t = await startTestServer({ grpcPort: 0, durable: false, tokenAuthFile: join(dir, "tokens.csv"), authorizationMode: "RBAC" });
    admin = api(t.url, { token: "t-admin" });
    lead = api(t.url, { token: "t-lead" });
    await createType(admin, { group: G, kind: "Widget", plural: "widgets" });
    const post = async (path: string, body: unknown) => assert.equal((await admin.post(path, body)).status, 201, path);
    // lead manages RBAC in dev and may read widgets there.
    await post(`${RBAC}/clusterroles`, {
      metadata: { name: "rbac-manager" },
      rules: [
        { apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"], verbs: ["get", "list", "create", "update", "patch", "delete"] },
        ...widgets(["get", "list"]),
      ],
    });
    await post(`${RBAC}/namespaces/dev/rolebindings`, {
      metadata: { name: "lead" },
      roleRef: ref("ClusterRole", "rbac-manager"),
      subjects: [{ kind: "User", name: "lead" }],
    });
    await post(`${RBAC}/clusterroles`, { metadata: { name: "widget-reader" }, rules: widgets(["get"]) });
    await post(`${RBAC}/clusterroles`, { metadata: { name: "widget-admin" }, rules: widgets(["*"]) });
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a Role may grant only what its writer holds: on create, update and patch", async () => {
    assert.equal((await lead.post(`${RBAC}/namespaces/dev/roles`, { metadata: { name: "ok" }, rules: widgets(["get"]) })).status, 201);
    const more = await lead.post(`${RBAC}/namespaces/dev/roles`, { metadata: { name: "more" }, rules: widgets(["get", "delete"]) });
    assert.equal(more.status, 403, more.text);
    assert.equal(more.body.reason, "Forbidden");
    assert.match(
      more.body.message,
      /^roles\.rbac\.authorization\.k8s\.io "more" is forbidden: user "lead" .* is attempting to grant RBAC permissions not currently held/,
    );
    assert.equal(
      (await lead.post(`${RBAC}/namespaces/dev/roles`, { metadata: { name: "star" }, rules: widgets(["*"]) })).status,
      403,
      "a wildcard needs a wildcard",
    );
    assert.equal(
      (await lead.post(`${RBAC}/namespaces/qa/roles`, { metadata: { name: "elsewhere" }, rules: widgets(["get"]) })).status,
      403,
      "not allowed to write roles in qa at all",
    );
    const current = (await lead.get(`${RBAC}/namespaces/dev/roles/ok`)).body;
    assert.equal((await lead.put(`${RBAC}/namespaces/dev/roles/ok`, { ...current, rules: widgets(["get", "delete"]) })).status, 403, "update");
    assert.equal((await lead.patch(`${RBAC}/namespaces/dev/roles/ok`, { rules: widgets(["*"]) })).status, 403, "patch");
    assert.equal((await lead.patch(`${RBAC}/namespaces/dev/roles/ok`, { rules: widgets(["list"]) })).status, 200, "a patch within what lead holds");
    assert.equal(
      (await admin.post(`${RBAC}/namespaces/dev/roles`, { metadata: { name: "by-admin" }, rules: widgets(["*"]) })).status,
      201,
      "system:masters holds everything",
    );
  });

  it("over gRPC too: PERMISSION_DENIED (before lead may escalate, below)", async () => {
    const { Client } = loadResourcesService();
    const rpc = new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer t-lead");
    const object = Buffer.from(JSON.stringify({ metadata: { name: "g" }, rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] }));
    const code = await new Promise<number>((resolve) =>
      rpc.create(
        { ref: { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", namespace: "dev", name: "" }, object },
        md,
        { deadline: Date.now() + 10_000 },
        (err) => resolve(err ? err.code : 0),
      ),
    );
    rpc.close();
    assert.equal(code, grpc.status.PERMISSION_DENIED);
  });

  it("a binding may grant only a role whose rules its writer holds, unless they may bind it", async () => {
    assert.equal(
      (
        await lead.post(`${RBAC}/namespaces/dev/rolebindings`, {
          metadata: { name: "r" },
          roleRef: ref("ClusterRole", "widget-reader"),
          subjects: [{ kind: "User", name: "x" }],
        })
      ).status,
      201,
    );
    const denied = await lead.post(`${RBAC}/namespaces/dev/rolebindings`, {
      metadata: { name: "a" },
      roleRef: ref("ClusterRole", "widget-admin"),
      subjects: [{ kind: "User", name: "lead" }],
    });
    assert.equal(denied.status, 403, denied.text);
    assert.equal((await lead.get(`/apis/${G}/v1/namespaces/dev/widgets`)).status, 200);
    assert.equal((await lead.del(`/apis/${G}/v1/namespaces/dev/widgets/w`)).status, 403, "lead did not get widget-admin");
    // With `bind` on that ClusterRole, lead may bind it (kube's rule), but still not write one.
    assert.equal(
      (
        await admin.post(`${RBAC}/clusterroles`, {
          metadata: { name: "binder" },
          rules: [{ apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], resourceNames: ["widget-admin"], verbs: ["bind"] }],
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await admin.post(`${RBAC}/clusterrolebindings`, {
          metadata: { name: "lead-binds" },
          roleRef: ref("ClusterRole", "binder"),
          subjects: [{ kind: "User", name: "lead" }],
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await lead.post(`${RBAC}/namespaces/dev/rolebindings`, {
          metadata: { name: "a" },
          roleRef: ref("ClusterRole", "widget-admin"),
          subjects: [{ kind: "User", name: "x" }],
        })
      ).status,
      201,
    );
    // With `escalate` on roles, lead may write any Role in dev.
    assert.equal(
      (
        await admin.post(`${RBAC}/clusterroles`, {
          metadata: { name: "escalator" },
          rules: [{ apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["escalate"] }],
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await admin.post(`${RBAC}/namespaces/dev/rolebindings`, {
          metadata: { name: "lead-escalates" },
          roleRef: ref("ClusterRole", "escalator"),
          subjects: [{ kind: "User", name: "lead" }],
        })
      ).status,
      201,
    );
    assert.equal((await lead.post(`${RBAC}/namespaces/dev/roles`, { metadata: { name: "now-ok" }, rules: widgets(["*"]) })).status, 201);
  });

  it("a binding's roleRef cannot change, not even for system:masters (kube: 422, delete and recreate it)", async () => {
    const path = `${RBAC}/namespaces/dev/rolebindings`;
    assert.equal((await admin.post(path, { metadata: { name: "fixed" }, roleRef: ref("ClusterRole", "widget-reader"), subjects: [] })).status, 201);
    const patched = await admin.patch(`${path}/fixed`, { roleRef: { name: "widget-admin" } });
    assert.equal(patched.status, 422, patched.text);
    assert.equal(
      patched.body.message,
      'RoleBinding.rbac.authorization.k8s.io "fixed" is invalid: roleRef: Invalid value: ' +
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"widget-admin"}: cannot change roleRef',
    );
    assert.deepEqual(
      patched.body.details.causes.map((c: { field: string; reason: string }) => [c.field, c.reason]),
      [["roleRef", "FieldValueInvalid"]],
    );
    const current = (await admin.get(`${path}/fixed`)).body;
    assert.equal(current.roleRef.name, "widget-reader");
    const put = await admin.put(`${path}/fixed`, { ...current, roleRef: ref("Role", "widget-reader") });
    assert.equal(put.status, 422, put.text);
    // Other fields still change.
    const subjects = await admin.patch(`${path}/fixed`, { subjects: [{ kind: "User", name: "x" }] });
    assert.equal(subjects.status, 200, subjects.text);
    const crb = `${RBAC}/clusterrolebindings`;
    assert.equal((await admin.post(crb, { metadata: { name: "fixed" }, roleRef: ref("ClusterRole", "widget-reader") })).status, 201);
    assert.equal((await admin.patch(`${crb}/fixed`, { roleRef: { name: "widget-admin" } })).status, 422);
  });
});
