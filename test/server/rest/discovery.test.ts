// REST contract (API.md §4), against the real server over real HTTP:
// discovery documents, health checks and metrics.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertStatus, createType } from "../../helpers/server.ts";
import { c, freshNs, gadgets, GROUP, GV, ok, t, useRestServer } from "./fixture.ts";

useRestServer();

/**
 * Waits (10 s at most) until every replica's discovery document at `path` satisfies `done`:
 * each replica applies a type change when its store's change stream reaches it.
 */
async function discovered(path: string, done: (doc: Record<string, any>) => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  // Several answers in a row, so that each replica (the front end takes turns) has been asked.
  for (let inARow = 0; inARow < 4; ) {
    const res = await c.get(path);
    inARow = res.status === 200 && done(res.body) ? inARow + 1 : 0;
    if (inARow === 0 && Date.now() > deadline) assert.fail(`${path} did not follow the type change: ${res.text.slice(0, 300)}`);
    if (inARow === 0) await new Promise((r) => setTimeout(r, 20));
  }
}

describe("discovery, health, metrics", () => {
  it("/api, /api/v1, /apis, /apis/G, /apis/G/V and /version", async () => {
    const apiDoc = await ok(c.get("/api"));
    assert.equal(apiDoc.kind, "APIVersions");
    assert.ok(Array.isArray(apiDoc.versions));
    const v1 = await ok(c.get("/api/v1"));
    assert.equal(v1.kind, "APIResourceList");
    assert.equal(v1.groupVersion, "v1");
    assert.ok(Array.isArray(v1.resources));

    const apis = await ok(c.get("/apis"));
    assert.equal(apis.kind, "APIGroupList");
    assert.equal(apis.apiVersion, "v1");
    const ci = apis.groups.find((g: Record<string, any>) => g.name === GROUP);
    assert.ok(ci, "the group of a created type is listed");
    assert.deepEqual(ci.versions, [{ groupVersion: `${GROUP}/v1`, version: "v1" }]);
    assert.deepEqual(ci.preferredVersion, { groupVersion: `${GROUP}/v1`, version: "v1" });
    assert.ok(apis.groups.some((g: Record<string, any>) => g.name === "setpoint.dev"));

    const group = await ok(c.get(`/apis/${GROUP}`));
    assert.equal(group.kind, "APIGroup");
    assert.equal(group.name, GROUP);

    const rl = await ok(c.get(GV));
    assert.equal(rl.kind, "APIResourceList");
    assert.equal(rl.groupVersion, `${GROUP}/v1`);
    const byName = new Map<string, Record<string, any>>(rl.resources.map((r: Record<string, any>) => [r.name, r]));
    const w = byName.get("widgets")!;
    assert.ok(w, "widgets listed");
    assert.equal(w.kind, "Widget");
    assert.equal(w.namespaced, true);
    assert.equal(w.singularName, "widget");
    assert.deepEqual([...w.verbs].sort(), ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
    const ws = byName.get("widgets/status")!;
    assert.ok(ws, "widgets/status listed");
    assert.deepEqual([...ws.verbs].sort(), ["get", "patch", "update"]);
    assert.equal(byName.get("realms")?.namespaced, false);
    assert.ok(byName.has("gadgets/status"));

    const sys = await ok(c.get("/apis/setpoint.dev/v1"));
    const sysNames = new Map<string, Record<string, any>>(sys.resources.map((r: Record<string, any>) => [r.name, r]));
    assert.equal(sysNames.get("resourcetypes")?.namespaced, false);
    assert.equal(sysNames.get("resourcetypes")?.kind, "ResourceType");
    assert.equal(sysNames.get("leases")?.namespaced, true);
    assert.equal(sysNames.get("leases")?.kind, "Lease");

    assertStatus(await c.get("/apis/unknown.example.com"), 404, "NotFound");
    assertStatus(await c.get(`/apis/${GROUP}/v9`), 404, "NotFound");

    const version = await ok(c.get("/version"));
    for (const k of ["major", "minor", "gitVersion", "platform"]) assert.equal(typeof version[k], "string", k);
  });

  it("a group's versions are in kube's order (GA, beta, alpha; higher first), the preferred one first; discovery follows type changes", async () => {
    const g = "versions.example.com";
    const kinds = { v1beta1: "A", v2: "B", v1alpha1: "C", v10: "D", v1: "E", v2beta1: "F" };
    for (const [version, kind] of Object.entries(kinds)) await createType(c, { group: g, version, kind, plural: `${kind.toLowerCase()}s` });
    const order = ["v10", "v2", "v1", "v2beta1", "v1beta1", "v1alpha1"];
    const expected = order.map((v) => ({ groupVersion: `${g}/${v}`, version: v }));
    // Behind several replicas (the etcd suite), one may answer discovery before it has applied the last type.
    await discovered(`/apis/${g}`, (doc) => doc.versions?.length === order.length);
    const group = await ok(c.get(`/apis/${g}`));
    assert.deepEqual(group.versions, expected);
    assert.deepEqual(group.preferredVersion, expected[0]);
    const listed = (await ok(c.get("/apis"))).groups.find((x: Record<string, any>) => x.name === g);
    assert.deepEqual(listed.versions, expected);
    assert.deepEqual(listed.preferredVersion, expected[0]);
    // Deleting the preferred version's only type: the next one is preferred, and its version is gone.
    await ok(c.del(`/apis/setpoint.dev/v1/resourcetypes/ds.${g}`));
    await discovered(`/apis/${g}`, (doc) => doc.versions?.length === order.length - 1);
    assert.deepEqual((await ok(c.get(`/apis/${g}`))).preferredVersion, expected[1]);
    assertStatus(await c.get(`/apis/${g}/v10`), 404, "NotFound");
  });

  it("/healthz and /readyz", async () => {
    const h = await c.get("/healthz");
    assert.equal(h.status, 200);
    assert.equal(h.text, "ok");
    const r = await c.get("/readyz");
    assert.equal(r.status, 200);
  });

  it("/metrics is Prometheus text with request counters and the store revision", async () => {
    await ok(c.get(gadgets(freshNs())));
    const res = await c.get("/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(res.text, /^# TYPE setpoint_requests_total counter$/m);
    assert.match(res.text, /^setpoint_requests_total\{[^}]*\} \d+/m);
    assert.match(res.text, /^# TYPE setpoint_request_duration_seconds histogram$/m);
    const rev = /^setpoint_revision (\d+)$/m.exec(res.text);
    assert.ok(rev, "setpoint_revision gauge");
    assert.equal(Number(rev[1]), t.server.store.head());
  });
});
