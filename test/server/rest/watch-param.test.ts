// The `watch` query parameter as kube-apiserver reads it (API.md §5; where the
// contract is silent, kube's boolean conversion): any value but `false` and `0`
// (in any case) makes a list request a watch, and authorization sees the same
// verb as the handler, so RBAC's list and watch grants mean what they say.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../../helpers/server.ts";

const G = "wp.example.com";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const coll = `/apis/${G}/v1/namespaces/wp/widgets`;

describe("the watch query parameter", () => {
  let t: TestServer;
  let dir: string;
  let admin: ApiClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-watch-param-"));
    writeFileSync(join(dir, "tokens.csv"), "t-admin,admin,1,system:masters\nt-lister,lister,2\nt-watcher,watcher,3\nt-getter,getter,4\n");
    t = await startTestServer({ durable: false, tokenAuthFile: join(dir, "tokens.csv"), authorizationMode: "RBAC" });
    admin = api(t.url, { token: "t-admin" });
    await createType(admin, { group: G, kind: "Widget", plural: "widgets" });
    assert.equal((await admin.post(coll, { metadata: { name: "a" }, spec: {} })).status, 201);
    for (const [verb, user] of [
      ["list", "lister"],
      ["watch", "watcher"],
      ["get", "getter"],
    ]) {
      const role = { metadata: { name: `${verb}-widgets` }, rules: [{ apiGroups: [G], resources: ["widgets"], verbs: [verb] }] };
      assert.equal((await admin.post(`${RBAC}/namespaces/wp/roles`, role)).status, 201);
      const binding = {
        metadata: { name: user },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${verb}-widgets` },
        subjects: [{ kind: "User", name: user }],
      };
      assert.equal((await admin.post(`${RBAC}/namespaces/wp/rolebindings`, binding)).status, 201);
    }
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** "watch" if the answer is a stream of events, "list" if a WidgetList, else the status. */
  const served = async (client: ApiClient, query: string): Promise<string> => {
    const res = await client.request("GET", `${coll}?timeoutSeconds=1&${query}`, { timeoutMs: 15_000 });
    if (res.status !== 200) return String(res.status);
    if (res.text.startsWith('{"type":"ADDED"')) return "watch";
    return (res.body as { kind?: string }).kind === "WidgetList" ? "list" : res.text.slice(0, 80);
  };

  it("is a watch for any value but false and 0, in any case, as kube's boolean conversion", async () => {
    for (const query of ["watch=true", "watch=True", "watch=1", "watch=yes", "watch", "watch="]) {
      assert.equal(await served(admin, query), "watch", query);
    }
    for (const query of ["watch=false", "watch=False", "watch=0", ""]) {
      assert.equal(await served(admin, query), "list", query);
    }
  });

  it("is authorized with the verb it is served as: a watch needs watch, a list needs list", async () => {
    const lister = api(t.url, { token: "t-lister" });
    const watcher = api(t.url, { token: "t-watcher" });
    for (const query of ["watch=true", "watch=True", "watch=yes"]) {
      assert.equal(await served(watcher, query), "watch", query);
      assert.equal(await served(lister, query), "403", query);
    }
    for (const query of ["watch=false", "watch=FALSE", ""]) {
      assert.equal(await served(lister, query), "list", query);
      assert.equal(await served(watcher, query), "403", query);
    }
  });

  it("on one object's path is a get, served and authorized as one, as kube's RequestInfo", async () => {
    const getter = api(t.url, { token: "t-getter" });
    const watcher = api(t.url, { token: "t-watcher" });
    const res = await getter.get(`${coll}/a?watch=true`);
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body as { metadata?: { name?: string } }).metadata?.name, "a");
    assert.equal((await watcher.get(`${coll}/a?watch=true`)).status, 403);
  });
});
