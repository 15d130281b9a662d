// fieldValidation (kube-apiserver's Strict, Warn, Ignore), against the real
// server over real HTTP: unknown top-level and metadata fields are never
// stored; a field outside a schema's declared properties is refused by Strict
// (what kubectl sends) and warned of by Warn (the default), with kube's words.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { warningTexts } from "../../../src/cli/client.ts";
import { assertStatus } from "../../helpers/server.ts";
import { c, created, freshNs, JSON_PATCH, MERGE, ok, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

const typo = (name: string) => ({ ...widget(name, { size: 1, colour: "red" }, { bogus: 1 }), extra: true });
const warnings = (headers: Headers) => headers.get("warning");

describe("fieldValidation", () => {
  it("Strict refuses unknown fields with 400 and kube's message, and stores nothing", async () => {
    const ns = freshNs();
    const r = await c.request("POST", `${widgets(ns)}?fieldValidation=Strict`, { body: typo("s") });
    assertStatus(r, 400, "BadRequest");
    assert.equal(
      r.body.message,
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "extra", unknown field "metadata.bogus", unknown field "spec.colour"',
    );
    assertStatus(await c.get(`${widgets(ns)}/s`), 404, "NotFound");
  });

  it("Strict accepts a known object, and fields the schema leaves open", async () => {
    const ns = freshNs();
    const r = await c.request("POST", `${widgets(ns)}?fieldValidation=Strict`, { body: widget("k", { size: 2, tags: ["a"] }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(warnings(r.headers), null);
    // Gadget has no schema: its spec is open.
    const g = await c.request("POST", `/apis/ci.example.com/v1/namespaces/${ns}/gadgets?fieldValidation=Strict`, {
      body: { metadata: { name: "g" }, spec: { anything: { goes: 1 } } },
    });
    assert.equal(g.status, 201, g.text);
  });

  it("Warn (the default) writes, drops unknown top-level and metadata fields, and sends one Warning header per field", async () => {
    for (const query of ["", "?fieldValidation=Warn"]) {
      const ns = freshNs();
      const r = await c.request("POST", `${widgets(ns)}${query}`, { body: typo("w") });
      assert.equal(r.status, 201, r.text);
      assert.equal(
        warnings(r.headers),
        '299 - "unknown field \\"extra\\"", 299 - "unknown field \\"metadata.bogus\\"", 299 - "unknown field \\"spec.colour\\""',
      );
      const stored = await ok(c.get(`${widgets(ns)}/w`));
      assert.equal(stored.extra, undefined);
      assert.equal(stored.metadata.bogus, undefined);
      assert.equal(stored.spec.colour, "red", "within spec the type's JSON Schema decides what is stored (API.md §3)");
    }
  });

  it("Ignore writes without a warning", async () => {
    const ns = freshNs();
    const r = await c.request("POST", `${widgets(ns)}?fieldValidation=Ignore`, { body: typo("i") });
    assert.equal(r.status, 201, r.text);
    assert.equal(warnings(r.headers), null);
    assert.equal(r.body.extra, undefined);
  });

  it("an unsupported directive is 422 naming fieldValidation", async () => {
    const r = await c.request("POST", `${widgets(freshNs())}?fieldValidation=strict`, { body: widget("x") });
    assertStatus(r, 422, "Invalid");
    assert.deepEqual(
      r.body.details.causes.map((x: { field: string }) => x.field),
      ["fieldValidation"],
    );
  });

  it("update and both patch types: Strict refuses a new unknown field, not one already stored", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u", { size: 1, colour: "red" })));
    const path = `${widgets(ns)}/u`;
    const merge = await c.request("PATCH", `${path}?fieldValidation=Strict`, { body: { spec: { shade: "dark" } }, contentType: MERGE });
    assertStatus(merge, 400, "BadRequest");
    assert.match(merge.body.message, /strict decoding error: unknown field "spec\.shade"$/);
    const json = await c.request("PATCH", `${path}?fieldValidation=Strict`, {
      body: [{ op: "add", path: "/spec/shade", value: "x" }],
      contentType: JSON_PATCH,
    });
    assertStatus(json, 400, "BadRequest");
    const put = await c.request("PUT", `${path}?fieldValidation=Strict`, { body: { ...o, spec: { size: 1, colour: "red", shade: "x" } } });
    assertStatus(put, 400, "BadRequest");
    assert.match(put.body.message, /unknown field "spec\.shade"$/);
    // spec.colour was stored before (no fieldValidation then): later strict writes still work.
    const fine = await c.request("PATCH", `${path}?fieldValidation=Strict`, { body: { spec: { size: 2 } }, contentType: MERGE });
    assert.equal(fine.status, 200, fine.text);
    assert.deepEqual(fine.body.spec, { size: 2, colour: "red" });
    const warned = await c.request("PATCH", path, { body: { status: { phase: "Done", note: 1 } }, contentType: MERGE });
    assert.equal(warned.status, 200, warned.text);
    assert.equal(warnings(warned.headers), '299 - "unknown field \\"status.note\\""');
  });

  it("a JSON body's duplicate keys: Strict refuses them, Warn (asked for by name) warns, and the last one is stored", async () => {
    const ns = freshNs();
    const body = '{"metadata":{"name":"d","name":"d"},"spec":{"size":1,"colour":"x","size":2}}';
    const strict = await c.request("POST", `${widgets(ns)}?fieldValidation=Strict`, { body });
    assertStatus(strict, 400, "BadRequest");
    assert.equal(
      strict.body.message,
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: duplicate field "metadata.name", duplicate field "spec.size", unknown field "spec.colour"',
    );
    const warn = await c.request("POST", `${widgets(ns)}?fieldValidation=Warn`, { body });
    assert.equal(warn.status, 201, warn.text);
    assert.equal(
      warnings(warn.headers),
      '299 - "duplicate field \\"metadata.name\\"", 299 - "duplicate field \\"spec.size\\"", 299 - "unknown field \\"spec.colour\\""',
    );
    assert.equal(warn.body.spec.size, 2);
    const patch = await c.request("PATCH", `${widgets(ns)}/d?fieldValidation=Strict`, { body: '{"spec":{"size":3,"size":4}}', contentType: MERGE });
    assertStatus(patch, 400, "BadRequest");
    assert.match(patch.body.message, /strict decoding error: duplicate field "spec\.size"$/);
  });

  it("many long unknown fields: Warning headers stay within kube's bounds (256 characters each, 4 KiB in all)", async () => {
    const spec: Record<string, number> = { size: 1 };
    for (let i = 0; i < 300; i++) spec[`${String(i).padStart(3, "0")}${"x".repeat(500)}`] = i;
    const r = await c.request("POST", widgets(freshNs()), { body: widget("many", spec) });
    assert.equal(r.status, 201, r.text.slice(0, 300));
    const values = r.headers.get("warning")!.split(/, (?=299 - )/);
    assert.ok(values.length >= 10 && values.length < 20, `${values.length} warnings`);
    assert.equal(values[0], `299 - "unknown field \\"spec.000${"x".repeat(256 - 'unknown field "spec.000'.length)}..."`);
    assert.ok(values.join("").length < 4096 + 20 * 20);
    const strict = await c.request("POST", `${widgets(freshNs())}?fieldValidation=Strict`, { body: widget("many", spec) });
    assertStatus(strict, 400, "BadRequest");
    assert.equal(strict.body.message.match(/unknown field/g).length, 100, "at most 100 fields named");
  });

  it("a warning names a field with any characters, escaped into a valid header", async () => {
    const r = await c.request("POST", widgets(freshNs()), { body: widget("e", { size: 1, "cé\r\nX-Injected: 1": 1 }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get("x-injected"), null);
    // As kube-apiserver sends it: " and \\ quoted by a backslash, the rest as is in UTF-8 (the header's bytes, latin1 characters here):
    // kubectl reads a backslash as quoting the next character, so a \\u00e9 escape would print as u00e9.
    const header = warnings(r.headers)!;
    assert.equal(Buffer.from(header, "latin1").toString("utf8"), '299 - "unknown field \\"spec.cé\\\\r\\\\nX-Injected: 1\\""');
    assert.deepEqual(warningTexts(header), ['unknown field "spec.cé\\r\\nX-Injected: 1"']);
  });

  it("the RBAC types (built in, no spec): a field their Go structs lack, at any depth, is refused by Strict, warned of and never stored, as kube", async () => {
    const ns = freshNs();
    const RBAC = "/apis/rbac.authorization.k8s.io/v1";
    const role = (name: string) => ({
      metadata: { name },
      rules: [{ apiGroups: ["ex.com"], resources: ["widgets"], verbs: ["get"], verb: ["list"] }],
      extra: 1,
    });
    const strict = await c.request("POST", `${RBAC}/namespaces/${ns}/roles?fieldValidation=Strict`, { body: role("s") });
    assertStatus(strict, 400, "BadRequest");
    assert.equal(
      strict.body.message,
      'Role in version "v1" cannot be handled as a Role: strict decoding error: unknown field "extra", unknown field "rules[0].verb"',
    );
    assertStatus(await c.get(`${RBAC}/namespaces/${ns}/roles/s`), 404, "NotFound");
    const warned = await c.request("POST", `${RBAC}/namespaces/${ns}/roles`, { body: role("w") });
    assert.equal(warned.status, 201, warned.text);
    assert.equal(warnings(warned.headers), '299 - "unknown field \\"extra\\"", 299 - "unknown field \\"rules[0].verb\\""');
    for (const stored of [warned.body, await ok(c.get(`${RBAC}/namespaces/${ns}/roles/w`))]) {
      assert.equal(stored.extra, undefined);
      assert.deepEqual(stored.rules, [{ apiGroups: ["ex.com"], resources: ["widgets"], verbs: ["get"] }]);
    }
    // A binding: subjects and roleRef too; the known fields (aggregationRule's selectors included) pass Strict.
    const binding = await c.request("POST", `${RBAC}/clusterrolebindings?fieldValidation=Strict`, {
      body: { metadata: { name: `b-${ns}` }, roleRef: { kind: "ClusterRole", name: "x", namespace: "n" }, subjects: [{ kind: "User", name: "u", uid: "1" }] },
    });
    assertStatus(binding, 400, "BadRequest");
    assert.match(binding.body.message, /strict decoding error: unknown field "roleRef\.namespace", unknown field "subjects\[0\]\.uid"$/);
    const known = await c.request("POST", `${RBAC}/clusterroles?fieldValidation=Strict`, {
      body: {
        metadata: { name: `agg-${ns}` },
        aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: "b" }, matchExpressions: [{ key: "k", operator: "In", values: ["v"] }] }] },
        rules: [{ nonResourceURLs: ["/healthz"], verbs: ["get"] }],
      },
    });
    assert.equal(known.status, 201, known.text);
    await ok(c.del(`${RBAC}/clusterroles/agg-${ns}`));
  });
});
