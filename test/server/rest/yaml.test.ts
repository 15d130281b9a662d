// `Accept: application/yaml` on gets, lists, writes and errors, answered as kube-apiserver
// answers for a custom resource (API.md is silent): the same document as
// YAML, keys sorted, strings a YAML 1.1 reader would take for something else
// quoted; JSON when the client prefers it.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { assertStatus } from "../../helpers/server.ts";
import { c, created, freshNs, ok, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

const getAs = (path: string, accept: string) => c.request("GET", path, { headers: { accept } });

describe("YAML answers", () => {
  it("a get and a list with Accept: application/yaml are the JSON documents as YAML", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("y", { size: 2, color: "on" }, { labels: { b: "yes", a: "123" } })));
    const json = await ok(c.get(`${widgets(ns)}/y`));
    const one = await getAs(`${widgets(ns)}/y`, "application/yaml");
    assert.equal(one.status, 200, one.text);
    assert.equal(one.headers.get("content-type"), "application/yaml");
    assert.deepEqual(parse(one.text, { version: "1.1" }), json);
    assert.match(one.text, /^apiVersion: ci\.example\.com\/v1\nkind: Widget\nmetadata:\n {2}creationTimestamp: "\d{4}-[^"]+"\n/);
    assert.match(one.text, /\n {4}a: "123"\n {4}b: "yes"\n/);
    assert.match(one.text, /\n {2}color: "on"\n/);
    const list = await getAs(widgets(ns), "application/yaml;q=0.9, application/json;q=0.8");
    assert.equal(list.headers.get("content-type"), "application/yaml");
    const parsed = parse(list.text, { version: "1.1" });
    assert.equal(parsed.kind, "WidgetList");
    assert.deepEqual(parsed.items, [json]);
  });

  it("a write's answer and an error are YAML too", async () => {
    const ns = freshNs();
    const yaml = { accept: "application/yaml" };
    const made = await c.request("POST", widgets(ns), { body: widget("w"), headers: yaml });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.headers.get("content-type"), "application/yaml");
    assert.equal(parse(made.text, { version: "1.1" }).metadata.name, "w");
    const patched = await c.request("PATCH", `${widgets(ns)}/w`, { body: { spec: { size: 5 } }, contentType: "application/merge-patch+json", headers: yaml });
    assert.equal(parse(patched.text, { version: "1.1" }).spec.size, 5);
    const deleted = await c.request("DELETE", `${widgets(ns)}/w`, { headers: yaml });
    assert.equal(deleted.headers.get("content-type"), "application/yaml");
    assert.equal(parse(deleted.text, { version: "1.1" }).metadata.name, "w");
    const missing = await getAs(`${widgets(ns)}/nope`, "application/yaml");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/yaml");
    assert.deepEqual(parse(missing.text, { version: "1.1" }), {
      apiVersion: "v1",
      code: 404,
      details: { group: "ci.example.com", kind: "widgets", name: "nope" },
      kind: "Status",
      message: 'widgets.ci.example.com "nope" not found',
      metadata: {},
      reason: "NotFound",
      status: "Failure",
    });
  });

  it("at the contract's limits: a 253-character name in a 63-character namespace, an object near 1.5 MiB of multi-byte text, read back at a revision", async () => {
    const ns = `${freshNs()}-`.padEnd(63, "n");
    assert.equal(ns.length, 63);
    const name = "w".repeat(253);
    // Near the 1.5 MiB object limit, with multi-byte text (yaml-response.test checks the escapes one by one; a NEL,
    // LS or PS does not read back from go-yaml's text, kube's, and kubectl-output.test compares those with kubectl).
    const color = `ü€😀\u00e9\u4e2d\u0001${"x".repeat(1_400_000)}`;
    const made = await c.request("POST", `${widgets(ns)}?fieldValidation=Strict`, {
      body: widget(name, { size: 3, color }),
      headers: { accept: "application/yaml" },
    });
    assert.equal(made.status, 201, made.text.slice(0, 300));
    const stored = parse(made.text, { version: "1.1" });
    assert.equal(stored.spec.color, color);
    const json = await ok(c.get(`${widgets(ns)}/${name}`));
    const one = await getAs(`${widgets(ns)}/${name}?resourceVersion=${stored.metadata.resourceVersion}`, "application/yaml");
    assert.equal(one.status, 200, one.text.slice(0, 300));
    assert.deepEqual(parse(one.text, { version: "1.1" }), json);
    const list = await getAs(widgets(ns), "application/yaml");
    assert.deepEqual(parse(list.text, { version: "1.1" }).items, [json]);
  });

  it("JSON when the client lists it first, or asks for anything", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("j")));
    for (const accept of ["application/json, application/yaml", "*/*", "application/json"]) {
      const r = await getAs(`${widgets(ns)}/j`, accept);
      assert.equal(r.headers.get("content-type"), "application/json", accept);
      assert.equal(r.body.metadata.name, "j");
    }
  });
});

describe("YAML request bodies", () => {
  it("a YAML body is read once into the object; one that is not YAML, or holds two documents, is 400 naming where, and nothing is written", async () => {
    const ns = freshNs();
    const asYaml = (body: string) => c.request("POST", widgets(ns), { body, contentType: "application/yaml" });
    const made = await asYaml(`apiVersion: ci.example.com/v1\nkind: Widget\nmetadata:\n  name: y\n  labels: {a: "1"}\nspec:\n  size: 3\n`);
    assert.equal(made.status, 201, made.text);
    assert.deepEqual([made.body.metadata.labels, made.body.spec.size], [{ a: "1" }, 3]);
    // The library's reason and where it is, as one line (it used to end in a stray ':', the start of the context lines cut off).
    for (const [body, message] of [
      ["apiVersion: ci.example.com/v1\nkind: Widget\nkind: Widget\n", "Map keys must be unique at line 3, column 1"],
      ["metadata: {name: y}\nspec: [1, 2\n", "Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1"],
      ["a: 1\n---\nb: 2\n", "Source contains multiple documents; please use YAML.parseAllDocuments() at line 2, column 1"],
    ]) {
      const res = await asYaml(body!);
      assertStatus(res, 400, "BadRequest");
      assert.equal(res.body.message, `invalid YAML body: ${message}`);
      assert.deepEqual(res.body.details.causes, [{ field: "body", message: "invalid YAML", reason: "FieldValueInvalid" }]);
    }
    assert.deepEqual(
      (await ok(c.get(widgets(ns)))).items.map((o: { metadata: { name: string } }) => o.metadata.name),
      ["y"],
    );
  });
});
