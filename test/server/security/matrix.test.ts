// The authorization matrix from outside (API.md §8): users × verbs × types ×
// namespaces over REST, both watch transports and gRPC, each cell answering
// as kube-apiserver would: 401 without credentials, 403 with kube's message
// where RBAC denies, 2xx where it allows. Also: a role change applies to the
// very next request, SelfSubjectAccessReview, and discovery of the RBAC types.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import WebSocket from "ws";
import { loadResourcesService, type ResourcesClient } from "../../../src/proto.ts";
import { api, createType, startTestServer, webSocketUpgradeStatus, type ApiClient, type TestServer } from "../../helpers/server.ts";

const { Client } = loadResourcesService();
const G = "matrix.example.com";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const TOKENS: Record<string, string | undefined> = { anon: undefined, admin: "t-admin", alice: "t-alice", bob: "t-bob", carol: "t-carol", dave: "t-dave" };
const USERS = Object.keys(TOKENS);
const NAMESPACES = ["dev", "qa"];
const VERBS = ["get", "list", "create", "update", "patch", "patch-status", "delete", "watch-http", "watch-ws", "watch-grpc", "list-all"] as const;
type Verb = (typeof VERBS)[number];

/**
 * Who may do what (the RBAC objects below): admin is in system:masters; alice
 * edits widgets in dev (a Role) and reads them in qa (a RoleBinding to a
 * ClusterRole); carol reads widgets everywhere (a ClusterRoleBinding); dave
 * may only write widgets/status in dev; bob has no binding.
 */
function expected(user: string, verb: Verb, ns: string): number {
  if (user === "anon") return 401;
  const reads = ["get", "list", "watch-http", "watch-ws", "watch-grpc"].includes(verb);
  const ok = verb === "create" ? 201 : 200;
  if (user === "admin") return ok;
  if (verb === "list-all") return user === "carol" ? 200 : 403;
  if (user === "alice") return ns === "dev" || reads ? ok : 403;
  if (user === "carol") return reads ? ok : 403;
  if (user === "dave") return ns === "dev" && verb === "patch-status" ? 200 : 403;
  return 403;
}

const GRPC_CODE: Record<number, number> = { [grpc.status.OK]: 200, [grpc.status.UNAUTHENTICATED]: 401, [grpc.status.PERMISSION_DENIED]: 403 };

describe("authorization matrix: REST, HTTP and WebSocket watch, gRPC", () => {
  let t: TestServer;
  let dir: string;
  let rpc: ResourcesClient;
  let admin: ApiClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-rbac-"));
    const file = join(dir, "tokens.csv");
    writeFileSync(file, `t-admin,admin,1,system:masters\nt-alice,alice,2,dev\nt-bob,bob,3\nt-carol,carol,4\nt-dave,dave,5\n`);
    t = await startTestServer({ grpcPort: 0, durable: false, tokenAuthFile: file, authorizationMode: "RBAC" });
    rpc = new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    admin = api(t.url, { token: "t-admin" });
    await createType(admin, { group: G, kind: "Widget", plural: "widgets", schema: { status: { type: "object", properties: { phase: { type: "string" } } } } });
    const post = async (path: string, body: unknown) => {
      const r = await admin.post(path, body);
      assert.equal(r.status, 201, `${path}: ${r.text}`);
    };
    const rules = (verbs: string[], resources = ["widgets"]) => [{ apiGroups: [G], resources, verbs }];
    const roleRef = (kind: string, name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });
    const user = (name: string) => [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name }];
    await post(`${RBAC}/clusterroles`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "widget-reader" },
      rules: rules(["get", "list", "watch"]),
    });
    await post(`${RBAC}/namespaces/dev/roles`, { kind: "Role", metadata: { name: "widget-editor" }, rules: rules(["*"], ["widgets", "widgets/status"]) });
    await post(`${RBAC}/namespaces/dev/roles`, { kind: "Role", metadata: { name: "status-writer" }, rules: rules(["patch", "update"], ["widgets/status"]) });
    await post(`${RBAC}/namespaces/dev/rolebindings`, {
      kind: "RoleBinding",
      metadata: { name: "alice-edits" },
      roleRef: roleRef("Role", "widget-editor"),
      subjects: [{ kind: "Group", name: "dev" }],
    });
    await post(`${RBAC}/namespaces/qa/rolebindings`, {
      kind: "RoleBinding",
      metadata: { name: "alice-reads" },
      roleRef: roleRef("ClusterRole", "widget-reader"),
      subjects: user("alice"),
    });
    await post(`${RBAC}/clusterrolebindings`, {
      kind: "ClusterRoleBinding",
      metadata: { name: "carol-reads" },
      roleRef: roleRef("ClusterRole", "widget-reader"),
      subjects: user("carol"),
    });
    await post(`${RBAC}/namespaces/dev/rolebindings`, {
      kind: "RoleBinding",
      metadata: { name: "dave-status" },
      roleRef: roleRef("Role", "status-writer"),
      subjects: user("dave"),
    });
    for (const ns of NAMESPACES) await post(`/apis/${G}/v1/namespaces/${ns}/widgets`, { metadata: { name: "w1" }, spec: {} });
  });
  after(async () => {
    rpc?.close();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const md = (user: string) => {
    const m = new grpc.Metadata();
    if (TOKENS[user]) m.set("authorization", `Bearer ${TOKENS[user]}`);
    return m;
  };
  const unary = (method: string, request: unknown, user: string) =>
    new Promise<number>((resolve) => {
      (rpc as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.call(
        rpc,
        request,
        md(user),
        { deadline: Date.now() + 10_000 },
        (err: grpc.ServiceError | null) => resolve(GRPC_CODE[err ? err.code : 0] ?? 1000 + (err?.code ?? 0)),
      );
    });
  const grpcWatch = (user: string, ns: string) =>
    new Promise<number>((resolve) => {
      const stream = rpc.watch({ ref: { group: G, version: "v1", plural: "widgets", namespace: ns, name: "" } }, md(user));
      stream.on("data", () => {
        resolve(200);
        stream.cancel();
      });
      stream.on("error", (err: grpc.ServiceError) => resolve(GRPC_CODE[err.code] ?? 1000 + err.code));
    });
  const wsWatch = (user: string, ns: string) =>
    webSocketUpgradeStatus(
      `${t.url.replace("http", "ws")}/apis/${G}/v1/namespaces/${ns}/widgets`,
      TOKENS[user] ? { authorization: `Bearer ${TOKENS[user]}` } : {},
    );

  /** Performs one cell; returns the HTTP code (gRPC codes mapped to theirs) and the Status message, if any. */
  async function cell(user: string, verb: Verb, ns: string): Promise<{ code: number; message?: string }> {
    const c = api(t.url, TOKENS[user] ? { token: TOKENS[user] } : {});
    const base = `/apis/${G}/v1/namespaces/${ns}/widgets`;
    const rest = async (p: Promise<{ status: number; body: any }>) => {
      const r = await p;
      return { code: r.status, message: r.body?.message as string | undefined };
    };
    switch (verb) {
      case "get":
        return rest(c.get(`${base}/w1`));
      case "list":
        return rest(c.get(base));
      case "list-all":
        return rest(c.get(`/apis/${G}/v1/widgets`));
      case "create":
        return rest(c.post(base, { metadata: { name: `w-${user}` }, spec: {} }));
      case "update":
        return rest(c.put(`${base}/w1`, { metadata: { name: "w1" }, spec: { by: user } }));
      case "patch":
        return rest(c.patch(`${base}/w1`, { metadata: { labels: { by: user } } }));
      case "patch-status":
        return rest(c.patch(`${base}/w1/status`, { status: { phase: user } }));
      case "delete": {
        // Something to delete: admin makes it, the user deletes it.
        await admin.post(base, { metadata: { name: `d-${user}` }, spec: {} });
        const r = await rest(c.del(`${base}/d-${user}`));
        await admin.del(`${base}/d-${user}`);
        return r;
      }
      case "watch-http": {
        const res = await fetch(`${t.url}${base}?watch=true&timeoutSeconds=1`, {
          headers: TOKENS[user] ? { authorization: `Bearer ${TOKENS[user]}` } : {},
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        return { code: res.status, message: res.status === 200 ? undefined : JSON.parse(text).message };
      }
      case "watch-ws":
        return { code: await wsWatch(user, ns) };
      case "watch-grpc":
        return { code: await grpcWatch(user, ns) };
    }
  }

  it("every cell answers as kube-apiserver would", async () => {
    const wrong: string[] = [];
    let cells = 0;
    for (const user of USERS) {
      for (const ns of NAMESPACES) {
        for (const verb of VERBS) {
          if (verb === "list-all" && ns !== "dev") continue;
          const want = expected(user, verb, ns);
          const got = await cell(user, verb, ns);
          cells++;
          if (got.code !== want) wrong.push(`${user} ${verb} in ${ns}: want ${want}, got ${got.code} ${got.message ?? ""}`);
        }
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${cells} cells wrong`);
    assert.ok(cells >= 100);
  });

  it("gRPC unary verbs follow the same matrix", async () => {
    const wrong: string[] = [];
    for (const user of USERS) {
      for (const ns of NAMESPACES) {
        const ref = (name = "") => ({ group: G, version: "v1", plural: "widgets", namespace: ns, name });
        const obj = (name: string, extra: object = {}) => Buffer.from(JSON.stringify({ metadata: { name }, spec: {}, ...extra }));
        const checks: Array<[Verb, Promise<number>]> = [
          ["get", unary("get", { ref: ref("w1") }, user)],
          ["list", unary("list", { ref: ref() }, user)],
          ["create", unary("create", { ref: ref(), object: obj(`g-${user}`) }, user)],
          ["update", unary("update", { ref: ref("w1"), object: obj("w1", { spec: { g: user } }) }, user)],
          [
            "patch",
            unary("patch", { ref: ref("w1"), patchType: "application/merge-patch+json", patch: Buffer.from('{"metadata":{"labels":{"g":"1"}}}') }, user),
          ],
          ["patch-status", unary("updateStatus", { ref: ref("w1"), object: obj("w1", { status: { phase: "g" } }) }, user)],
          // Patch with `status` set is a patch of widgets/status, as REST's PATCH …/status.
          [
            "patch-status",
            unary("patch", { ref: ref("w1"), patchType: "application/merge-patch+json", patch: Buffer.from('{"status":{"phase":"p"}}'), status: true }, user),
          ],
        ];
        for (const [verb, p] of checks) {
          const want = expected(user, verb, ns) === 201 ? 200 : expected(user, verb, ns);
          const got = await p;
          if (got !== want) wrong.push(`grpc ${user} ${verb} in ${ns}: want ${want}, got ${got}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("403s carry kube's message and Status details", async () => {
    const bob = api(t.url, { token: "t-bob" });
    const get = await bob.get(`/apis/${G}/v1/namespaces/dev/widgets/w1`);
    assert.equal(get.status, 403);
    assert.equal(get.body.reason, "Forbidden");
    assert.equal(get.body.message, `widgets.${G} "w1" is forbidden: User "bob" cannot get resource "widgets" in API group "${G}" in the namespace "dev"`);
    assert.deepEqual(get.body.details, { name: "w1", group: G, kind: "widgets" });
    const list = await bob.get(`/apis/${G}/v1/widgets`);
    assert.equal(list.body.message, `widgets.${G} is forbidden: User "bob" cannot list resource "widgets" in API group "${G}" at the cluster scope`);
    const metrics = await bob.get("/metrics");
    assert.equal(metrics.status, 403);
    assert.equal(metrics.body.message, 'forbidden: User "bob" cannot get path "/metrics"');
    assert.equal((await bob.get("/apis")).status, 200, "discovery is open to authenticated users");
  });

  it("a role change applies to the very next request", async () => {
    const bob = api(t.url, { token: "t-bob" });
    const path = `/apis/${G}/v1/namespaces/qa/widgets/w1`;
    assert.equal((await bob.get(path)).status, 403);
    const binding = {
      kind: "RoleBinding",
      metadata: { name: "bob-reads" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "widget-reader" },
      subjects: [{ kind: "User", name: "bob" }],
    };
    assert.equal((await admin.post(`${RBAC}/namespaces/qa/rolebindings`, binding)).status, 201);
    assert.equal((await bob.get(path)).status, 200);
    const role = await admin.get(`${RBAC}/clusterroles/widget-reader`);
    assert.equal(
      (await admin.put(`${RBAC}/clusterroles/widget-reader`, { ...role.body, rules: [{ apiGroups: [G], resources: ["widgets"], verbs: ["list"] }] })).status,
      200,
    );
    assert.equal((await bob.get(path)).status, 403, "the role lost get");
    assert.equal((await bob.get(`/apis/${G}/v1/namespaces/qa/widgets`)).status, 200);
    assert.equal((await admin.put(`${RBAC}/clusterroles/widget-reader`, { ...role.body, metadata: { name: "widget-reader" } })).status, 200);
    assert.equal((await bob.get(path)).status, 200);
    assert.equal((await admin.del(`${RBAC}/namespaces/qa/rolebindings/bob-reads`)).status, 200);
    assert.equal((await bob.get(path)).status, 403);
  });

  it("resourceNames: a list or watch whose fieldSelector pins metadata.name is authorized for that name, as kube (kubectl get NAME -w)", async () => {
    await admin.post(`${RBAC}/namespaces/qa/roles`, {
      kind: "Role",
      metadata: { name: "w1-only" },
      rules: [{ apiGroups: [G], resources: ["widgets"], verbs: ["get", "list", "watch"], resourceNames: ["w1"] }],
    });
    await admin.post(`${RBAC}/namespaces/qa/rolebindings`, {
      kind: "RoleBinding",
      metadata: { name: "bob-w1" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "w1-only" },
      subjects: [{ kind: "User", name: "bob" }],
    });
    const bob = api(t.url, { token: "t-bob" });
    const coll = `/apis/${G}/v1/namespaces/qa/widgets`;
    assert.equal((await bob.get(`${coll}/w1`)).status, 200);
    assert.equal((await bob.get(coll)).status, 403, "a list of every name is not granted by resourceNames");
    const named = await bob.get(`${coll}?fieldSelector=metadata.name%3Dw1`);
    assert.equal(named.status, 200, named.text);
    assert.deepEqual(
      (named.body.items as Array<Record<string, any>>).map((i) => i.metadata.name),
      ["w1"],
    );
    assert.equal((await bob.get(`${coll}?fieldSelector=metadata.name%3Dw2`)).status, 403);
    assert.equal((await bob.get(`${coll}?fieldSelector=metadata.name!%3Dw1`)).status, 403);
    const watched = await bob.request("GET", `${coll}?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3D%3Dw1`, { timeoutMs: 10_000 });
    assert.equal(watched.status, 200, watched.text);
    assert.match(watched.text, /"name":"w1"/);
    const ws = new WebSocket(`${t.url.replace("http", "ws")}${coll}?timeoutSeconds=1&fieldSelector=metadata.name%3Dw1`, {
      headers: { Authorization: "Bearer t-bob" },
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once("message", (m) => resolve(m.toString()));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`WebSocket answered ${res.statusCode}`)));
      ws.once("error", reject);
    });
    ws.close();
    assert.match(first, /"name":"w1"/);
    assert.equal((await admin.del(`${RBAC}/namespaces/qa/rolebindings/bob-w1`)).status, 200);
  });

  it("SelfSubjectAccessReview answers for the caller, as kube-apiserver does", async () => {
    const alice = api(t.url, { token: "t-alice" });
    const review = (namespace: string, verb: string, extra: object = {}) =>
      alice.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { namespace, verb, group: G, resource: "widgets", ...extra } },
      });
    const yes = await review("dev", "create");
    assert.equal(yes.status, 201, yes.text);
    assert.equal(yes.body.kind, "SelfSubjectAccessReview");
    assert.equal(yes.body.apiVersion, "authorization.k8s.io/v1");
    assert.equal(yes.body.status.allowed, true);
    assert.equal(yes.body.spec.resourceAttributes.verb, "create");
    assert.equal((await review("qa", "create")).body.status.allowed, false);
    assert.equal((await review("qa", "get")).body.status.allowed, true);
    assert.equal((await review("qa", "patch", { subresource: "status" })).body.status.allowed, false);
    // kube-apiserver validates the spec: 422 Invalid of kind SelfSubjectAccessReview.authorization.k8s.io.
    const bad = await alice.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", { spec: {} });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.body.reason, "Invalid");
    assert.equal(bad.body.details.kind, "SelfSubjectAccessReview");
    assert.equal(bad.body.details.group, "authorization.k8s.io");
    assert.deepEqual(
      bad.body.details.causes.map((x: Record<string, string>) => x.field),
      ["spec.resourceAttributes"],
    );
    const both = await alice.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      spec: { resourceAttributes: { namespace: "dev", verb: "get", group: G, resource: "widgets" }, nonResourceAttributes: { path: "/version", verb: "get" } },
    });
    assert.equal(both.status, 422, both.text);
    assert.deepEqual(
      both.body.details.causes.map((x: Record<string, string>) => x.field),
      ["spec.nonResourceAttributes"],
    );
  });

  it("a review body of the wrong JSON shape is 400 naming the field, as kube's decoder answers, not a review", async () => {
    const alice = api(t.url, { token: "t-alice" });
    const SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    const SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
    const prefix = (kind: string) => `${kind} in version "v1" cannot be handled as a ${kind}: `;
    const cases: [string, unknown, string, string][] = [
      [
        SSAR,
        { spec: { resourceAttributes: { namespace: "dev", verb: 5, resource: "widgets" } } },
        "spec.resourceAttributes.verb",
        `${prefix("SelfSubjectAccessReview")}json: cannot unmarshal number into Go struct field ResourceAttributes.spec.resourceAttributes.verb of type string`,
      ],
      [
        SSAR,
        { spec: "x" },
        "spec",
        `${prefix("SelfSubjectAccessReview")}json: cannot unmarshal string into Go struct field SelfSubjectAccessReview.spec of type v1.SelfSubjectAccessReviewSpec`,
      ],
      [
        SSAR,
        { spec: { nonResourceAttributes: [] } },
        "spec.nonResourceAttributes",
        `${prefix("SelfSubjectAccessReview")}json: cannot unmarshal array into Go struct field SelfSubjectAccessReviewSpec.spec.nonResourceAttributes of type v1.NonResourceAttributes`,
      ],
      [
        SSAR,
        { spec: { nonResourceAttributes: { path: true, verb: "get" } } },
        "spec.nonResourceAttributes.path",
        `${prefix("SelfSubjectAccessReview")}json: cannot unmarshal bool into Go struct field NonResourceAttributes.spec.nonResourceAttributes.path of type string`,
      ],
      [SSAR, [], "", `${prefix("SelfSubjectAccessReview")}json: cannot unmarshal array into Go value of type v1.SelfSubjectAccessReview`],
      [
        SSAR,
        { kind: "Pod", spec: { nonResourceAttributes: { path: "/version", verb: "get" } } },
        "kind",
        "the kind in the data (Pod) does not match the expected kind (SelfSubjectAccessReview)",
      ],
      [
        SSRR,
        { spec: { namespace: 5 } },
        "spec.namespace",
        `${prefix("SelfSubjectRulesReview")}json: cannot unmarshal number into Go struct field SelfSubjectRulesReviewSpec.spec.namespace of type string`,
      ],
    ];
    for (const [path, body, field, message] of cases) {
      const r = await alice.post(path, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.reason, "BadRequest");
      assert.equal(r.body.message, message);
      assert.deepEqual(
        r.body.details.causes.map((x: Record<string, string>) => x.field),
        [field],
      );
    }
    // Nulls decode as absent, as in Go; a well-typed review still answers.
    const fine = await alice.post(SSAR, {
      apiVersion: null,
      spec: { resourceAttributes: { namespace: "dev", verb: "get", group: G, resource: "widgets", name: null } },
    });
    assert.equal(fine.status, 201, fine.text);
    assert.equal(fine.body.status.allowed, true);
  });

  it("discovery lists the RBAC types; invalid RBAC objects are rejected with 422", async () => {
    const list = await admin.get(RBAC);
    assert.equal(list.status, 200);
    const names = (list.body.resources as Array<{ name: string; namespaced: boolean }>).filter((r) => !r.name.includes("/"));
    assert.deepEqual(names.map((r) => `${r.name}:${r.namespaced}`).sort(), [
      "clusterrolebindings:false",
      "clusterroles:false",
      "rolebindings:true",
      "roles:true",
    ]);
    const groups = await admin.get("/apis");
    assert.ok(groups.body.groups.some((g: { name: string }) => g.name === "rbac.authorization.k8s.io"));
    const bad = await admin.post(`${RBAC}/clusterrolebindings`, {
      metadata: { name: "bad" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "x" },
      subjects: [{ kind: "Robot", name: "r" }],
    });
    assert.equal(bad.status, 422, bad.text);
    const fields = (bad.body.details.causes as Array<{ field: string }>).map((c) => c.field).sort();
    assert.deepEqual(fields, ["roleRef.kind", "subjects[0].kind"]);
    const noVerbs = await admin.post(`${RBAC}/namespaces/dev/roles`, { metadata: { name: "bad" }, rules: [{ apiGroups: [G], resources: ["widgets"] }] });
    assert.equal(noVerbs.status, 422, noVerbs.text);
  });

  it("a binding's roleRef and User/Group subjects without apiGroup get kube's default, and bind; a wrong subject apiGroup is 422", async () => {
    const bob = api(t.url, { token: "t-bob" });
    const path = `/apis/${G}/v1/namespaces/qa/widgets/w1`;
    assert.equal((await bob.get(path)).status, 403);
    // As kubectl users write them: no apiGroup anywhere.
    const made = await admin.post(`${RBAC}/namespaces/qa/rolebindings`, {
      metadata: { name: "bob-plain" },
      roleRef: { kind: "ClusterRole", name: "widget-reader" },
      subjects: [
        { kind: "User", name: "bob" },
        { kind: "Group", name: "nobody" },
        { kind: "ServiceAccount", name: "sa" },
      ],
    });
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(made.body.roleRef, { kind: "ClusterRole", name: "widget-reader", apiGroup: "rbac.authorization.k8s.io" });
    assert.deepEqual(
      made.body.subjects.map((x: { apiGroup?: string }) => x.apiGroup),
      ["rbac.authorization.k8s.io", "rbac.authorization.k8s.io", undefined],
    );
    assert.equal((await bob.get(path)).status, 200);
    // An update that leaves the apiGroup out again keeps the same roleRef (not a change of it).
    const again = await admin.put(`${RBAC}/namespaces/qa/rolebindings/bob-plain`, {
      metadata: { name: "bob-plain" },
      roleRef: { kind: "ClusterRole", name: "widget-reader" },
      subjects: [{ kind: "User", name: "bob" }],
    });
    assert.equal(again.status, 200, again.text);
    const crb = await admin.post(`${RBAC}/clusterrolebindings`, { metadata: { name: "plain" }, roleRef: { kind: "ClusterRole", name: "widget-reader" } });
    assert.equal(crb.status, 201, crb.text);
    assert.equal(crb.body.roleRef.apiGroup, "rbac.authorization.k8s.io");
    const wrong = await admin.post(`${RBAC}/clusterrolebindings`, {
      metadata: { name: "wrong" },
      roleRef: { kind: "Nope", name: "widget-reader" },
      subjects: [
        { kind: "User", apiGroup: "example.com", name: "bob" },
        { kind: "ServiceAccount", apiGroup: "rbac.authorization.k8s.io", name: "sa", namespace: "qa" },
        { name: "x" },
      ],
    });
    assert.equal(wrong.status, 422, wrong.text);
    assert.equal(
      wrong.body.message,
      'ClusterRoleBinding.rbac.authorization.k8s.io "wrong" is invalid: [roleRef.kind: Unsupported value: "Nope": supported values: "ClusterRole", ' +
        'subjects[0].apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io", ' +
        'subjects[1].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: "", ' +
        'subjects[2].kind: Unsupported value: "": supported values: "ServiceAccount", "User", "Group"]',
    );
    assert.equal((await admin.del(`${RBAC}/namespaces/qa/rolebindings/bob-plain`)).status, 200);
    assert.equal((await admin.del(`${RBAC}/clusterrolebindings/plain`)).status, 200);
    assert.equal((await bob.get(path)).status, 403);
  });
});
