// REST contract (API.md §4), against the real server over real HTTP: merge
// patch and JSON patch, on objects and the status subresource.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertStatus } from "../../helpers/server.ts";
import { c, created, fieldSet, freshNs, GROUP, head, JSON_PATCH, MERGE, ok, t, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

describe("patch", () => {
  it("merge patch (RFC 7386) sets and removes fields", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("p", { size: 1, color: "red" }, { labels: { a: "1", b: "2" } })));
    const p = await ok(c.patch(`${widgets(ns)}/p`, { spec: { color: null, tags: ["x"] }, metadata: { labels: { b: null, c: "3" } } }));
    assert.deepEqual(p.spec, { size: 1, tags: ["x"] });
    assert.deepEqual(p.metadata.labels, { a: "1", c: "3" });
    assert.equal(p.metadata.generation, 2);
  });

  it("merge patch on the object ignores status; on /status ignores everything else", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("p")));
    const a = await ok(c.patch(`${widgets(ns)}/p`, { status: { phase: "Done" } }));
    assert.equal(a.status, undefined);
    assert.equal(a.metadata.resourceVersion, o.metadata.resourceVersion);
    const b = await ok(c.patch(`${widgets(ns)}/p/status`, { spec: { size: 9 }, metadata: { labels: { x: "y" } }, status: { phase: "Done" } }));
    assert.deepEqual(b.status, { phase: "Done" });
    assert.deepEqual(b.spec, { size: 1 });
    assert.equal(b.metadata.labels, undefined);
    assert.equal(b.metadata.generation, 1);
  });

  it("a patch that takes metadata away is 422 and writes nothing: labels, annotations and finalizers stay", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("m", { size: 1 }, { labels: { a: "1" }, annotations: { n: "x" }, finalizers: ["example.com/keep"] })));
    for (const [body, type] of [
      [{ metadata: null }, MERGE],
      [[{ op: "remove", path: "/metadata" }], JSON_PATCH],
    ] as const) {
      const res = await c.patch(`${widgets(ns)}/m`, body, type);
      assertStatus(res, 422, "Invalid");
      assert.deepEqual(
        res.body.details.causes.map((x: { field: string; reason: string }) => [x.field, x.reason]),
        [["metadata", "FieldValueRequired"]],
      );
    }
    assert.deepEqual(await ok(c.get(`${widgets(ns)}/m`)), o);
    // Cleanup: the finalizer would keep the object.
    await ok(c.patch(`${widgets(ns)}/m`, { metadata: { finalizers: null } }));
  });

  it("JSON patch (RFC 6902) on the object and on /status", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("j", { size: 1, tags: ["a"] })));
    const p = await ok(
      c.patch(
        `${widgets(ns)}/j`,
        [
          { op: "test", path: "/spec/size", value: 1 },
          { op: "replace", path: "/spec/size", value: 3 },
          { op: "add", path: "/spec/tags/-", value: "b" },
        ],
        JSON_PATCH,
      ),
    );
    assert.deepEqual(p.spec, { size: 3, tags: ["a", "b"] });
    assert.equal(p.metadata.generation, 2);
    const s = await ok(c.patch(`${widgets(ns)}/j/status`, [{ op: "add", path: "/status", value: { phase: "Pending" } }], JSON_PATCH));
    assert.deepEqual(s.status, { phase: "Pending" });
    const s2 = await ok(c.patch(`${widgets(ns)}/j/status`, [{ op: "replace", path: "/status/phase", value: "Done" }], JSON_PATCH));
    assert.deepEqual(s2.status, { phase: "Done" });
    assert.deepEqual(s2.spec, { size: 3, tags: ["a", "b"] });
  });

  it("a failing `test` op is 422 and writes nothing, on the object and on /status", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("j")));
    const h = await head();
    const res = await c.patch(
      `${widgets(ns)}/j`,
      [
        { op: "test", path: "/spec/size", value: 2 },
        { op: "replace", path: "/spec/size", value: 5 },
      ],
      JSON_PATCH,
    );
    assertStatus(res, 422, "Invalid");
    const res2 = await c.patch(
      `${widgets(ns)}/j/status`,
      [
        { op: "test", path: "/spec/size", value: 2 },
        { op: "add", path: "/status", value: { phase: "Done" } },
      ],
      JSON_PATCH,
    );
    assertStatus(res2, 422, "Invalid");
    assert.equal(await head(), h);
    assert.deepEqual(await ok(c.get(`${widgets(ns)}/j`)), o);
  });

  it("a JSON patch that removes a missing path is 422; a malformed one is 400", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("j")));
    assertStatus(await c.patch(`${widgets(ns)}/j`, [{ op: "remove", path: "/spec/nothing" }], JSON_PATCH), 422, "Invalid");
    // The cause names the operation that failed, not the first one.
    const third = await c.patch(
      `${widgets(ns)}/j`,
      [
        { op: "test", path: "/metadata/name", value: "j" },
        { op: "replace", path: "/spec/size", value: 2 },
        { op: "add", path: "/metadata/nothing/here", value: "1" },
      ],
      JSON_PATCH,
    );
    assertStatus(third, 422, "Invalid");
    assert.deepEqual(fieldSet(third), ["[2]"]);
    assert.deepEqual(
      fieldSet(
        await c.patch(
          `${widgets(ns)}/j`,
          [
            { op: "add", path: "/a", value: 1 },
            { op: "test", path: "/a", value: 2 },
          ],
          JSON_PATCH,
        ),
      ),
      ["[1]"],
    );
    assertStatus(await c.patch(`${widgets(ns)}/j`, { op: "remove", path: "/spec" }, JSON_PATCH), 400, "BadRequest");
    assertStatus(await c.patch(`${widgets(ns)}/j`, [1, 2], JSON_PATCH), 400, "BadRequest");
    assertStatus(await c.patch(`${widgets(ns)}/j`, [1, 2], MERGE), 400, "BadRequest");
    // As kube, where json-patch decodes the list and fails to apply the operation: 422.
    for (const operation of [
      { op: "frobnicate", path: "/spec" },
      { op: "add", path: "spec/size", value: 1 },
      { op: "add", path: "/spec/size" },
      { op: "replace", path: 5, value: 1 },
    ]) {
      const res = await c.patch(`${widgets(ns)}/j`, [{ op: "test", path: "/metadata/name", value: "j" }, operation], JSON_PATCH);
      assertStatus(res, 422, "Invalid");
      assert.deepEqual(fieldSet(res), ["[1]"], JSON.stringify(operation));
    }
  });

  it("a JSON patch of more than 10,000 operations is 413 with kube's message, and writes nothing", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("many")));
    const ops = Array.from({ length: 10_001 }, (_, i) => ({ op: "replace", path: "/spec/size", value: i + 1 }));
    const res = await c.patch(`${widgets(ns)}/many`, ops, JSON_PATCH);
    assertStatus(res, 413, "RequestEntityTooLarge");
    assert.equal(res.body.message, "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001");
    assert.deepEqual(await ok(c.get(`${widgets(ns)}/many`)), o);
    // 10,000 apply.
    assert.equal((await ok(c.patch(`${widgets(ns)}/many`, ops.slice(0, 10_000), JSON_PATCH))).spec.size, 10_000);
  });

  it("415 UnsupportedMediaType for any other content type", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("m")));
    for (const type of ["application/strategic-merge-patch+json", "application/apply-patch+yaml", "application/json", "text/plain"]) {
      const body = type.includes("yaml") ? "spec:\n  size: 2\n" : JSON.stringify({ spec: { size: 2 } });
      assertStatus(await c.request("PATCH", `${widgets(ns)}/m`, { body, contentType: type }), 415, "UnsupportedMediaType");
      assertStatus(await c.request("PATCH", `${widgets(ns)}/m/status`, { body, contentType: type }), 415, "UnsupportedMediaType");
    }
    assert.deepEqual((await ok(c.get(`${widgets(ns)}/m`))).spec, { size: 1 });
  });

  it("a patch carrying a stale resourceVersion is 409 Conflict", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("m")));
    await ok(c.patch(`${widgets(ns)}/m`, { spec: { size: 2 } }));
    assertStatus(await c.patch(`${widgets(ns)}/m`, { metadata: { resourceVersion: o.metadata.resourceVersion }, spec: { size: 3 } }), 409, "Conflict");
    const cur = await ok(c.get(`${widgets(ns)}/m`));
    const p = await ok(c.patch(`${widgets(ns)}/m`, { metadata: { resourceVersion: cur.metadata.resourceVersion }, spec: { size: 3 } }));
    assert.deepEqual(p.spec, { size: 3 });
  });

  it("validates the status schema on /status writes", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("v")));
    const put = await c.put(`${widgets(ns)}/v/status`, { ...o, status: { phase: "Exploded", observedGeneration: "one" } });
    assertStatus(put, 422, "Invalid");
    assert.deepEqual(fieldSet(put), ["status.observedGeneration", "status.phase"]);
    const merge = await c.patch(`${widgets(ns)}/v/status`, { status: { phase: 3 } });
    assertStatus(merge, 422, "Invalid");
    assert.deepEqual(fieldSet(merge), ["status.phase"]);
    const jp = await c.patch(`${widgets(ns)}/v/status`, [{ op: "add", path: "/status", value: { phase: "Nope" } }], JSON_PATCH);
    assertStatus(jp, 422, "Invalid");
    assert.equal((await ok(c.get(`${widgets(ns)}/v`))).status, undefined);
  });

  it("validates the spec schema on patches", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("v")));
    const res = await c.patch(`${widgets(ns)}/v`, { spec: { size: null, color: 5 } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.color", "spec.size"]);
  });

  it("404 for a missing object", async () => {
    assertStatus(await c.patch(`${widgets(freshNs())}/nope`, { spec: { size: 2 } }), 404, "NotFound");
  });

  it("an object stored by an older release with metadata of the wrong JSON type takes a patch (or PUT) that makes it valid", async () => {
    // Such fields are refused on write now, but an older release stored them.
    // kube validates the result of an update, not the stored object: a patch
    // that fixes the field is accepted. Before, the fields the server keeps
    // (generateName, uid, timestamps) came back from the stored object into
    // every update, so no patch could fix them (or said 200 and kept the
    // bad value), and a stored generation of "x" became "x1".
    const ns = freshNs();
    const storeAs = async (name: string, key: string, value: unknown) => {
      await created(c.post(widgets(ns), widget(name)));
      await t.server.store.write({ type: `widgets.${GROUP}`, namespace: ns, name }, (current, revision) => {
        const o = JSON.parse(current!.json) as { metadata: Record<string, unknown> };
        o.metadata[key] = value;
        o.metadata.resourceVersion = String(revision);
        return { op: "put", object: JSON.stringify(o) };
      });
    };
    const cases: Array<[key: string, bad: unknown, fixed: unknown]> = [
      ["generateName", 5, "w-"],
      ["creationTimestamp", 123, "2026-01-01T00:00:00Z"],
      ["uid", 7, "0d1b0a0e-0000-4000-8000-000000000001"],
      ["deletionGracePeriodSeconds", "x", null],
      ["labels", { a: 1 }, { a: "1" }],
    ];
    for (const [key, bad, fixed] of cases) {
      const name = `old-${key.toLowerCase()}`;
      await storeAs(name, key, bad);
      // A patch that leaves the bad value in place does not make a valid object: 422, nothing written.
      const h = await head();
      const untouched = await c.patch(`${widgets(ns)}/${name}`, { metadata: { annotations: { x: "y" } } }, MERGE);
      assertStatus(untouched, 422, "Invalid");
      assert.deepEqual(fieldSet(untouched), ["patch"], `${key}: ${untouched.text}`);
      assert.equal(await head(), h);
      const res = await c.patch(`${widgets(ns)}/${name}`, { metadata: { [key]: fixed }, spec: { size: 2 } }, MERGE);
      assert.equal(res.status, 200, `${key}: ${res.text}`);
      assert.deepEqual(res.body.metadata[key], fixed ?? undefined, key);
      assert.equal(res.body.spec.size, 2);
      // And it stays fixed: the next patch needs nothing more.
      await ok(c.patch(`${widgets(ns)}/${name}`, { metadata: { annotations: { x: "y" } } }, MERGE));
    }
    // A JSON patch, and a PUT, the same.
    await storeAs("old-json-patch", "generateName", 5);
    const jp = await ok(c.patch(`${widgets(ns)}/old-json-patch`, [{ op: "replace", path: "/metadata/generateName", value: "j-" }], JSON_PATCH));
    assert.equal(jp.metadata.generateName, "j-");
    await storeAs("old-put", "generateName", 5);
    const current = await ok(c.get(`${widgets(ns)}/old-put`));
    const put = await ok(c.put(`${widgets(ns)}/old-put`, { ...current, metadata: { ...current.metadata, generateName: "p-" } }));
    assert.equal(put.metadata.generateName, "p-");
    // A generation that is not a number: the server's count starts again from 1.
    await storeAs("old-generation", "generation", "x");
    const g = await ok(c.patch(`${widgets(ns)}/old-generation`, { metadata: { generation: 1 }, spec: { size: 3 } }, MERGE));
    assert.equal(g.metadata.generation, 2);
  });

  it("a status write (PUT or patch) on an object stored with metadata of the wrong JSON type succeeds, without the field that does not decode", async () => {
    // kube reads a stored custom resource dropping the metadata fields that do
    // not decode (its storage decoder's dropInvalidMetadata), and a status
    // write keeps the stored metadata: so the write succeeds and the bad field
    // is gone. Before, every status write on such an object was refused
    // (422 on patch, or the stored labels' 422 on PUT), so its agent could
    // never report on it again.
    const ns = freshNs();
    const storeAs = async (name: string, metadata: Record<string, unknown>) => {
      await created(c.post(widgets(ns), { ...widget(name), metadata: { name, labels: { keep: "me" } } }));
      await t.server.store.write({ type: `widgets.${GROUP}`, namespace: ns, name }, (current, revision) => {
        const o = JSON.parse(current!.json) as { metadata: Record<string, unknown> };
        Object.assign(o.metadata, metadata, { resourceVersion: String(revision) });
        return { op: "put", object: JSON.stringify(o) };
      });
    };
    const bad = { labels: { a: 1 }, annotations: "x", finalizers: "f", generateName: 5 };
    const writes: Array<[string, (name: string) => Promise<Awaited<ReturnType<typeof c.get>>>]> = [
      ["merge", (name) => c.patch(`${widgets(ns)}/${name}/status`, { status: { phase: "Done" } }, MERGE)],
      ["json", (name) => c.patch(`${widgets(ns)}/${name}/status`, [{ op: "add", path: "/status", value: { phase: "Done" } }], JSON_PATCH)],
      // A PUT's body must decode, as kube's: the client sends its object with the status it sets.
      ["put", (name) => c.put(`${widgets(ns)}/${name}/status`, { ...widget(name), metadata: { name }, status: { phase: "Done" } })],
    ];
    for (const [how, write] of writes) {
      for (const [key, value] of Object.entries(bad)) {
        const name = `st-${how}-${key.toLowerCase()}`;
        await storeAs(name, { [key]: value });
        const res = await write(name);
        assert.equal(res.status, 200, `${how} ${key}: ${res.text}`);
        assert.equal(res.body.status.phase, "Done");
        assert.equal(res.body.metadata[key], undefined, `${how} ${key}: the field that does not decode is dropped`);
        if (key !== "labels") assert.deepEqual(res.body.metadata.labels, { keep: "me" }, "the fields that decode stay");
        // Stored so: the next write needs nothing more.
        const got = await ok(c.get(`${widgets(ns)}/${name}`));
        assert.equal(got.metadata[key], undefined);
        await ok(c.patch(`${widgets(ns)}/${name}/status`, { status: { phase: "Running" } }, MERGE));
      }
    }
    // A status patch that itself writes metadata of the wrong type is still kube's 422 on patch.
    await created(c.post(widgets(ns), widget("st-own")));
    const own = await c.patch(`${widgets(ns)}/st-own/status`, { metadata: { labels: { a: 1 } }, status: { phase: "Done" } }, MERGE);
    assertStatus(own, 422, "Invalid");
    assert.deepEqual(fieldSet(own), ["patch"]);
  });
});
