// REST contract (API.md §2), against the real server over real HTTP: one
// global, gap-free revision counter across types.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertStatus } from "../../helpers/server.ts";
import { c, created, freshNs, gadget, gadgets, GV, head, JSON_PATCH, ok, rv, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

describe("revisions", () => {
  it("the global counter grows by exactly one per write of any type, and failed writes take none", async () => {
    const ns = freshNs();
    let r = await head();
    const expect = (o: Record<string, any>, what: string) => {
      r += 1;
      assert.equal(rv(o), r, what);
    };
    expect(await created(c.post(widgets(ns), widget("r1", { size: 1 }, { finalizers: ["example.com/keep"] }))), "create widget");
    expect(await created(c.post(gadgets(ns), gadget("r2"))), "create gadget");
    expect(await created(c.post(`${GV}/realms`, { metadata: { name: `realm-${ns}` }, spec: {} })), "create cluster object");
    expect(await created(c.post(`/apis/setpoint.dev/v1/namespaces/${ns}/leases`, { metadata: { name: "l" }, spec: { holderIdentity: "me" } })), "create lease");
    const w = await ok(c.get(`${widgets(ns)}/r1`));
    const u = await ok(c.put(`${widgets(ns)}/r1`, { ...w, spec: { size: 2 } }));
    expect(u, "update");
    expect(await ok(c.patch(`${gadgets(ns)}/r2`, { spec: { x: 2 } })), "merge patch");
    expect(await ok(c.patch(`${gadgets(ns)}/r2`, [{ op: "replace", path: "/spec/x", value: 3 }], JSON_PATCH)), "json patch");
    expect(await ok(c.put(`${widgets(ns)}/r1/status`, { ...u, status: { phase: "Done" } })), "status put");
    expect(await ok(c.patch(`${widgets(ns)}/r1/status`, { status: { phase: "Running" } })), "status patch");
    // failures write nothing
    assertStatus(await c.post(gadgets(ns), gadget("r2")), 409, "AlreadyExists");
    assertStatus(await c.put(`${widgets(ns)}/r1`, { ...w, spec: { size: 5 } }), 409, "Conflict");
    assertStatus(await c.post(widgets(ns), widget("bad", { size: 0 })), 422, "Invalid");
    assert.equal(await head(), r);
    expect(await ok(c.del(`${widgets(ns)}/r1`)), "delete with finalizer (marks)");
    expect(await ok(c.patch(`${widgets(ns)}/r1`, { metadata: { finalizers: null } })), "finalizer removal (removes)");
    expect(await ok(c.del(`${gadgets(ns)}/r2`)), "delete");
    assert.equal(await head(), r);
    const list = await ok(c.get(`${GV}/widgets`));
    assert.equal(list.metadata.resourceVersion, String(r));
  });

  it("resourceVersions are decimal integer strings", async () => {
    const o = await created(c.post(gadgets(freshNs()), gadget("x")));
    assert.match(o.metadata.resourceVersion, /^[1-9]\d*$/);
  });
});
