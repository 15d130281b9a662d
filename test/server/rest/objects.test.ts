// REST contract (API.md §1, §4), against the real server over real HTTP:
// objects and server-owned metadata, names, generateName, schemas, and the
// create, get and update (PUT) verbs.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertStatus, causeFields } from "../../helpers/server.ts";
import { c, created, fieldSet, freshNs, GROUP, head, JSON_PATCH, ok, rv, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

describe("create", () => {
  it("returns 201 with server-set metadata, ignoring client values and dropping status", async () => {
    const ns = freshNs();
    const before = await head();
    const o = await created(
      c.post(
        widgets(ns),
        widget(
          "a",
          { size: 2 },
          {
            uid: "client-uid",
            resourceVersion: "99999",
            generation: 42,
            creationTimestamp: "2001-01-01T00:00:00Z",
            deletionTimestamp: "2001-01-01T00:00:00Z",
            labels: { app: "web" },
          },
        ),
      ),
    );
    // status in a create is dropped
    assert.equal(o.status, undefined);
    assert.equal(o.apiVersion, `${GROUP}/v1`);
    assert.equal(o.kind, "Widget");
    assert.equal(o.metadata.name, "a");
    assert.equal(o.metadata.namespace, ns);
    assert.match(o.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(o.metadata.uid, "client-uid");
    assert.equal(o.metadata.resourceVersion, String(before + 1));
    assert.equal(o.metadata.generation, 1);
    assert.match(o.metadata.creationTimestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.ok(Math.abs(Date.parse(o.metadata.creationTimestamp) - Date.now()) < 60_000);
    assert.equal(o.metadata.deletionTimestamp, undefined);
    assert.deepEqual(o.metadata.labels, { app: "web" });
    assert.deepEqual(o.spec, { size: 2 });
    // and GET returns the same stored object
    assert.deepEqual(await ok(c.get(`${widgets(ns)}/a`)), o);
  });

  it("drops status sent on create", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), { ...widget("s"), status: { phase: "Done" } }));
    assert.equal(o.status, undefined);
    assert.equal((await ok(c.get(`${widgets(ns)}/s`))).status, undefined);
  });

  it("makes a unique name from generateName", async () => {
    const ns = freshNs();
    const a = await created(c.post(widgets(ns), { ...widget(""), metadata: { generateName: "job-" } }));
    const b = await created(c.post(widgets(ns), { ...widget(""), metadata: { generateName: "job-" } }));
    assert.match(a.metadata.name, /^job-[a-z0-9]+$/);
    assert.match(b.metadata.name, /^job-[a-z0-9]+$/);
    assert.notEqual(a.metadata.name, b.metadata.name);
    await ok(c.get(`${widgets(ns)}/${a.metadata.name}`));
  });

  it("concurrent creates of one name: exactly one 201, the rest 409 AlreadyExists", async () => {
    const ns = freshNs();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => c.post(widgets(ns), widget("once", { size: i + 1 }))));
    assert.equal(results.filter((r) => r.status === 201).length, 1);
    for (const r of results) if (r.status !== 201) assertStatus(r, 409, "AlreadyExists");
  });

  it("generateName: a given name wins; an invalid prefix is 422", async () => {
    const ns = freshNs();
    const named = await created(c.post(widgets(ns), { ...widget("given"), metadata: { name: "given", generateName: "gen-" } }));
    assert.equal(named.metadata.name, "given");
    const bad = await c.post(widgets(ns), { ...widget(""), metadata: { generateName: "UPPER-" } });
    assertStatus(bad, 422, "Invalid");
    assert.ok(causeFields(bad).includes("metadata.name"));
    // kube-apiserver validates the prefix itself too (a trailing dash masked), even beside a name.
    assert.ok(causeFields(bad).includes("metadata.generateName"), bad.text);
    const badPrefix = await c.post(widgets(ns), { ...widget("given2"), metadata: { name: "given2", generateName: "Bad_" } });
    assertStatus(badPrefix, 422, "Invalid");
    assert.deepEqual(causeFields(badPrefix), ["metadata.generateName"]);
    assert.match(badPrefix.body.details.causes[0].message, /^Invalid value: "Bad_": /);
    await created(c.post(widgets(ns), { ...widget(""), metadata: { generateName: "ok-" } }));
    // As kube's name generator: a long prefix is cut to 58 characters, so the name has 63 at most.
    const long = await created(c.post(widgets(ns), { ...widget(""), metadata: { generateName: `${"a".repeat(99)}-` } }));
    assert.match(long.metadata.name, /^a{58}[a-z0-9]{5}$/);
    assert.equal(long.metadata.generateName, `${"a".repeat(99)}-`);
    await created(c.post(widgets(ns), { ...widget(""), metadata: { generateName: "x" } }));
  });

  it("metadata stored as sent must have its Kubernetes types: generateName, ownerReferences, managedFields", async () => {
    const ns = freshNs();
    const h = await head();
    const bad = await c.post(
      widgets(ns),
      widget("m", { size: 1 }, { generateName: 5, ownerReferences: [{ apiVersion: "v1", kind: "X", name: "o" }], managedFields: {} }),
    );
    // As kube's decoder: the first value of the wrong JSON type, a 400.
    assertStatus(bad, 400, "BadRequest");
    assert.deepEqual(fieldSet(bad), ["metadata.generateName"]);
    const missing = await c.post(widgets(ns), widget("m", { size: 1 }, { ownerReferences: [{ apiVersion: "v1", kind: "X", name: "o" }] }));
    assertStatus(missing, 422, "Invalid");
    assert.deepEqual(fieldSet(missing), ["metadata.ownerReferences.uid"]);
    assertStatus(await c.post(widgets(ns), widget("m", { size: 1 }, { managedFields: {} })), 400, "BadRequest");
    assertStatus(await c.post(widgets(ns), widget("m", { size: 1 }, { ownerReferences: "x" })), 400, "BadRequest");
    assert.equal(await head(), h);
    const owner = { apiVersion: `${GROUP}/v1`, kind: "Widget", name: "o", uid: "0b6c-1" };
    const good = await created(c.post(widgets(ns), widget("m", { size: 1 }, { ownerReferences: [owner] })));
    assert.deepEqual(good.metadata.ownerReferences, [owner]);
    assertStatus(await c.patch(`${widgets(ns)}/m`, { metadata: { ownerReferences: [{ kind: "X" }] } }), 422, "Invalid");
  });

  it("metadata of the wrong JSON type is kube's decode error on every write verb, naming the field, and nothing is written", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("w", { size: 1 })));
    const h = await head();
    const owner = { apiVersion: "v1", kind: "X", name: "o", uid: "u-1" };
    // [metadata, cause field, Go's encoding/json message after "cannot unmarshal "]
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ generateName: 5 }, "metadata.generateName", "number into Go struct field ObjectMeta.generateName of type string"],
      [{ namespace: 5 }, "metadata.namespace", "number into Go struct field ObjectMeta.namespace of type string"],
      [{ uid: 5 }, "metadata.uid", "number into Go struct field ObjectMeta.uid of type types.UID"],
      [{ labels: { a: 1 } }, "metadata.labels[a]", "number into Go struct field ObjectMeta.labels of type string"],
      [{ annotations: ["x"] }, "metadata.annotations", "array into Go struct field ObjectMeta.annotations of type map[string]string"],
      [{ finalizers: "x" }, "metadata.finalizers", "string into Go struct field ObjectMeta.finalizers of type []string"],
      [{ finalizers: ["a", true] }, "metadata.finalizers[1]", "bool into Go struct field ObjectMeta.finalizers of type string"],
      [{ ownerReferences: [5] }, "metadata.ownerReferences[0]", "number into Go struct field ObjectMeta.ownerReferences of type v1.OwnerReference"],
      [
        { ownerReferences: [{ ...owner, controller: "yes" }] },
        "metadata.ownerReferences[0].controller",
        "string into Go struct field OwnerReference.ownerReferences.controller of type bool",
      ],
      [
        { managedFields: [{ manager: 1 }] },
        "metadata.managedFields[0].manager",
        "number into Go struct field ManagedFieldsEntry.managedFields.manager of type string",
      ],
      // Go's decoder reports the first mismatch in the document.
      [{ labels: { a: "b" }, generateName: [], finalizers: 7 }, "metadata.generateName", "array into Go struct field ObjectMeta.generateName of type string"],
    ];
    for (const [meta, field, message] of cases) {
      const what = JSON.stringify(meta);
      for (const [verb, res] of [
        ["POST", await c.post(widgets(ns), { ...widget("n", { size: 1 }), metadata: { name: "n", ...meta } })],
        ["PUT", await c.put(`${widgets(ns)}/w`, { ...o, metadata: { ...o.metadata, ...meta } })],
        ["PUT status", await c.put(`${widgets(ns)}/w/status`, { ...o, metadata: { ...o.metadata, ...meta }, status: { phase: "x" } })],
      ] as const) {
        assertStatus(res, 400, "BadRequest");
        assert.equal(res.body.message, `Widget in version "v1" cannot be handled as a Widget: json: cannot unmarshal ${message}`, `${verb} ${what}`);
        assert.deepEqual(fieldSet(res), [field], `${verb} ${what}`);
      }
      // A patch whose result does not decode: kube's 422 on "patch", with the decoder's words.
      for (const [verb, res] of [
        ["merge patch", await c.patch(`${widgets(ns)}/w`, { metadata: meta }, "application/merge-patch+json")],
        ["merge patch status", await c.patch(`${widgets(ns)}/w/status`, { metadata: meta }, "application/merge-patch+json")],
        [
          "JSON patch",
          await c.patch(
            `${widgets(ns)}/w`,
            Object.entries(meta).map(([k, v]) => ({ op: "add", path: `/metadata/${k}`, value: v })),
            JSON_PATCH,
          ),
        ],
      ] as const) {
        assertStatus(res, 422, "Invalid");
        assert.deepEqual(fieldSet(res), ["patch"], `${verb} ${what}`);
        assert.equal(res.body.details.causes[0].message, `json: cannot unmarshal ${message}`, `${verb} ${what}`);
      }
    }
    assert.equal(await head(), h);
  });

  it('null inside metadata decodes as Go\'s zero value, as kube stores it: a label or annotation of null is "", a null finalizer an empty (invalid) one', async () => {
    const ns = freshNs();
    const made = await created(c.post(widgets(ns), widget("z", { size: 1 }, { labels: { a: null, b: "x" }, annotations: { c: null } })));
    assert.deepEqual(made.metadata.labels, { a: "", b: "x" });
    assert.deepEqual(made.metadata.annotations, { c: "" });
    const put = await ok(c.put(`${widgets(ns)}/z`, { ...made, metadata: { ...made.metadata, labels: { d: null } } }));
    assert.deepEqual(put.metadata.labels, { d: "" });
    const patched = await ok(c.patch(`${widgets(ns)}/z`, [{ op: "add", path: "/metadata/labels/e", value: null }], JSON_PATCH));
    assert.deepEqual(patched.metadata.labels, { d: "", e: "" });
    const finalizer = await c.post(widgets(ns), widget("f", { size: 1 }, { finalizers: [null] }));
    assertStatus(finalizer, 422, "Invalid");
    assert.deepEqual(fieldSet(finalizer), ["metadata.finalizers"]);
  });

  it("owner references are checked as kube-apiserver checks them: its field paths and messages, one controller at most", async () => {
    const ns = freshNs();
    const bad = await c.post(widgets(ns), widget("o", { size: 1 }, { ownerReferences: [{ apiVersion: "example.com/", kind: "", name: "n", uid: "u" }] }));
    assertStatus(bad, 422, "Invalid");
    assert.deepEqual(
      bad.body.details.causes.map((x: Record<string, string>) => `${x.field}: ${x.message}`),
      [
        'metadata.ownerReferences.apiVersion: Invalid value: "example.com/": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
      ],
    );
    const ref = (kind: string, name: string, controller: boolean) => ({ apiVersion: "example.com/v1", kind, name, uid: `uid-${name}`, controller });
    const two = await c.post(widgets(ns), widget("o", { size: 1 }, { ownerReferences: [ref("A", "a", true), ref("B", "b", false), ref("C", "c", true)] }));
    assertStatus(two, 422, "Invalid");
    assert.deepEqual(fieldSet(two), ["metadata.ownerReferences"]);
    assert.match(two.body.details.causes[0].message, /: Only one reference can have Controller set to true\. Found "true" in references for A\/a and C\/c$/);
    await created(c.post(widgets(ns), widget("o", { size: 1 }, { ownerReferences: [ref("A", "a", true), ref("B", "b", false)] })));
    assertStatus(await c.patch(`${widgets(ns)}/o`, { metadata: { ownerReferences: [ref("A", "a", true), ref("C", "c", true)] } }), 422, "Invalid");
  });

  it("answers 409 AlreadyExists for an existing name, without a write", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("dup")));
    const h = await head();
    const res = await c.post(widgets(ns), widget("dup", { size: 9 }));
    assertStatus(res, 409, "AlreadyExists");
    assert.equal(res.body.details.name, "dup");
    assert.equal(await head(), h);
    assert.deepEqual((await ok(c.get(`${widgets(ns)}/dup`))).spec, { size: 1 });
  });

  it("the same name in another namespace is another object", async () => {
    const [n1, n2] = [freshNs(), freshNs()];
    const a = await created(c.post(widgets(n1), widget("same")));
    const b = await created(c.post(widgets(n2), widget("same")));
    assert.notEqual(a.metadata.uid, b.metadata.uid);
  });

  it("rejects a name that is missing, and a namespace or type that does not match the path", async () => {
    const ns = freshNs();
    const noName = await c.post(widgets(ns), { spec: { size: 1 } });
    assertStatus(noName, 422, "Invalid");
    assert.ok(causeFields(noName).includes("metadata.name"));
    assertStatus(await c.post(widgets(ns), widget("x", { size: 1 }, { namespace: "other" })), 400, "BadRequest");
    assertStatus(await c.post(widgets(ns), { ...widget("x"), kind: "Gadget" }), 400, "BadRequest");
    assertStatus(await c.post(widgets(ns), { ...widget("x"), apiVersion: "other.example.com/v1" }), 400, "BadRequest");
    assertStatus(await c.get(`${widgets(ns)}/x`), 404, "NotFound");
  });
});

describe("get", () => {
  it("404 NotFound Status for a missing object", async () => {
    const res = await c.get(`${widgets(freshNs())}/missing`);
    assertStatus(res, 404, "NotFound");
    assert.equal(res.body.details.name, "missing");
  });

  it("/status returns the whole object", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("g")));
    assert.deepEqual(await ok(c.get(`${widgets(ns)}/g/status`)), o);
  });
});

describe("update (PUT)", () => {
  it("with the current resourceVersion: writes, bumps generation on a spec change", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    const u = await ok(c.put(`${widgets(ns)}/u`, { ...o, spec: { size: 5 } }));
    assert.equal(rv(u), rv(o) + 1);
    assert.equal(u.metadata.generation, 2);
    assert.deepEqual(u.spec, { size: 5 });
    assert.equal(u.metadata.uid, o.metadata.uid);
    assert.equal(u.metadata.creationTimestamp, o.metadata.creationTimestamp);
  });

  it("metadata.resourceVersion (or uid, generation) of the wrong JSON type is kube's decode error, and nothing is written", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    const h = await head();
    const numeric = await c.put(`${widgets(ns)}/u`, { ...o, metadata: { ...o.metadata, resourceVersion: rv(o) }, spec: { size: 2 } });
    assertStatus(numeric, 400, "BadRequest");
    assert.equal(
      numeric.body.message,
      'Widget in version "v1" cannot be handled as a Widget: json: cannot unmarshal number into Go struct field ObjectMeta.resourceVersion of type string',
    );
    assert.deepEqual(causeFields(numeric), ["metadata.resourceVersion"]);
    const onCreate = await c.post(widgets(ns), widget("v", { size: 1 }, { resourceVersion: 5 }));
    assertStatus(onCreate, 400, "BadRequest");
    assert.deepEqual(causeFields(onCreate), ["metadata.resourceVersion"]);
    const generation = await c.post(widgets(ns), widget("v", { size: 1 }, { generation: "3" }));
    assertStatus(generation, 400, "BadRequest");
    assert.match(generation.body.message, /cannot unmarshal string into Go struct field ObjectMeta\.generation of type int64$/);
    const uid = await c.put(`${widgets(ns)}/u/status`, { ...o, metadata: { ...o.metadata, uid: true } });
    assertStatus(uid, 400, "BadRequest");
    assert.deepEqual(causeFields(uid), ["metadata.uid"]);
    // Timestamps are metav1.Time (an RFC 3339 string or null) and selfLink a string, as kube decodes them.
    for (const [field, value, message] of [
      ["creationTimestamp", 5, "json: cannot unmarshal number into Go value of type string"],
      ["deletionTimestamp", "tomorrow", 'parsing time "tomorrow" as "2006-01-02T15:04:05Z07:00": cannot parse "tomorrow" as "2006"'],
      ["creationTimestamp", "2026-13-01T00:00:00Z", 'parsing time "2026-13-01T00:00:00Z": month out of range'],
      // RFC 3339 in form but no date: Go's time.Parse checks each field's range (JavaScript's Date.parse took these).
      ["creationTimestamp", "2026-02-30T00:00:00Z", 'parsing time "2026-02-30T00:00:00Z": day out of range'],
      ["deletionTimestamp", "2026-04-31T10:00:00+02:00", 'parsing time "2026-04-31T10:00:00+02:00": day out of range'],
      ["creationTimestamp", "2026-01-01T24:00:00Z", 'parsing time "2026-01-01T24:00:00Z": hour out of range'],
      ["selfLink", 7, "json: cannot unmarshal number into Go struct field ObjectMeta.selfLink of type string"],
    ] as const) {
      for (const res of [
        await c.post(widgets(ns), widget("t", { size: 1 }, { [field]: value })),
        await c.put(`${widgets(ns)}/u`, { ...o, metadata: { ...o.metadata, [field]: value }, spec: { size: 2 } }),
      ]) {
        assertStatus(res, 400, "BadRequest");
        assert.equal(res.body.message, `Widget in version "v1" cannot be handled as a Widget: ${message}`);
        assert.deepEqual(causeFields(res), [`metadata.${field}`]);
      }
    }
    // A patch that leaves a number there: kube decodes the patched object and answers 422 on `patch`.
    const patched = await c.patch(`${widgets(ns)}/u`, { metadata: { resourceVersion: rv(o) }, spec: { size: 3 } }, "application/merge-patch+json");
    assertStatus(patched, 422, "Invalid");
    assert.deepEqual(causeFields(patched), ["patch"]);
    assert.equal(await head(), h);
    assert.deepEqual((await ok(c.get(`${widgets(ns)}/u`))).spec, { size: 1 });
    // Well-formed ones are still ignored (API.md §1): null, Z, an offset, a fraction.
    // Go's parser also takes a one-digit hour and `,` before a fraction, and February 29 of a leap year.
    for (const stamp of [null, "2001-01-01T00:00:00Z", "2001-01-01T00:00:00+02:00", "2001-01-01T00:00:00.123456Z", "2024-02-29T1:00:00,5Z"])
      await created(c.post(widgets(ns), widget(`ok-${String(stamp).length}`, { size: 1 }, { creationTimestamp: stamp })));
    // null is no value at all, as in Go's decoder.
    await ok(c.put(`${widgets(ns)}/u`, { ...o, metadata: { ...o.metadata, resourceVersion: null, generation: null }, spec: { size: 4 } }));
  });

  it("with a stale resourceVersion: 409 Conflict and nothing written", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    await ok(c.put(`${widgets(ns)}/u`, { ...o, spec: { size: 2 } }));
    const h = await head();
    const res = await c.put(`${widgets(ns)}/u`, { ...o, spec: { size: 3 } });
    assertStatus(res, 409, "Conflict");
    assert.equal(await head(), h);
    assert.deepEqual((await ok(c.get(`${widgets(ns)}/u`))).spec, { size: 2 });
  });

  it("without a resourceVersion: writes unconditionally", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    await ok(c.put(`${widgets(ns)}/u`, { ...o, spec: { size: 2 } }));
    const u = await ok(c.put(`${widgets(ns)}/u`, widget("u", { size: 3 })));
    assert.deepEqual(u.spec, { size: 3 });
    assert.equal(u.metadata.generation, 3);
    assert.equal(u.metadata.uid, o.metadata.uid);
  });

  it("ignores status and server-set fields", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    const st = await ok(c.put(`${widgets(ns)}/u/status`, { ...o, status: { phase: "Running" } }));
    const u = await ok(
      c.put(`${widgets(ns)}/u`, {
        ...st,
        metadata: {
          ...st.metadata,
          uid: "client-uid",
          generation: 77,
          creationTimestamp: "2001-01-01T00:00:00Z",
          deletionTimestamp: "2001-01-01T00:00:00Z",
        },
        spec: { size: 4 },
        status: { phase: "Done" },
      }),
    );
    assert.deepEqual(u.status, { phase: "Running" });
    assert.deepEqual(u.spec, { size: 4 });
    assert.equal(u.metadata.uid, o.metadata.uid);
    assert.equal(u.metadata.generation, 2);
    assert.equal(u.metadata.creationTimestamp, o.metadata.creationTimestamp);
    assert.equal(u.metadata.deletionTimestamp, undefined);
    // The same through a merge patch.
    const p = await ok(c.patch(`${widgets(ns)}/u`, { metadata: { uid: "client-uid", generation: 5 }, spec: { size: 6 } }, "application/merge-patch+json"));
    assert.equal(p.metadata.uid, o.metadata.uid);
    assert.equal(p.metadata.generation, 3);
    assert.deepEqual(p.spec, { size: 6 });
  });

  it("a PUT that changes only status is a no-op", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    const h = await head();
    const u = await ok(c.put(`${widgets(ns)}/u`, { ...o, status: { phase: "Done" } }));
    assert.equal(u.status, undefined);
    assert.equal(rv(u), rv(o));
    assert.equal(await head(), h);
  });

  it("on /status ignores everything but status", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u", { size: 1 }, { labels: { a: "1" } })));
    const u = await ok(
      c.put(`${widgets(ns)}/u/status`, {
        ...o,
        metadata: { ...o.metadata, labels: { a: "2" }, annotations: { note: "x" }, finalizers: ["example.com/f"] },
        spec: { size: 9 },
        status: { phase: "Running", observedGeneration: 1 },
      }),
    );
    assert.deepEqual(u.status, { phase: "Running", observedGeneration: 1 });
    assert.deepEqual(u.spec, { size: 1 });
    assert.deepEqual(u.metadata.labels, { a: "1" });
    assert.equal(u.metadata.annotations, undefined);
    assert.equal(u.metadata.finalizers, undefined);
    assert.equal(u.metadata.generation, 1);
    assert.equal(rv(u), rv(o) + 1);
  });

  it("on /status honours the resourceVersion precondition", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("u")));
    await ok(c.put(`${widgets(ns)}/u`, { ...o, spec: { size: 2 } }));
    assertStatus(await c.put(`${widgets(ns)}/u/status`, { ...o, status: { phase: "Done" } }), 409, "Conflict");
    assert.equal((await ok(c.get(`${widgets(ns)}/u`))).status, undefined);
  });

  it("generation grows only when spec changes, not on labels, annotations or status", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("g")));
    const l = await ok(c.patch(`${widgets(ns)}/g`, { metadata: { labels: { x: "y" }, annotations: { a: "b" } } }));
    assert.equal(l.metadata.generation, 1);
    assert.equal(rv(l), rv(o) + 1);
    const s = await ok(c.patch(`${widgets(ns)}/g/status`, { status: { phase: "Running" } }));
    assert.equal(s.metadata.generation, 1);
    assert.equal(rv(s), rv(l) + 1);
    const sp = await ok(c.patch(`${widgets(ns)}/g`, { spec: { size: 7 } }));
    assert.equal(sp.metadata.generation, 2);
    const sp2 = await ok(c.put(`${widgets(ns)}/g`, { ...sp, spec: { size: 8, color: "red" } }));
    assert.equal(sp2.metadata.generation, 3);
  });

  it("concurrent PUTs with the same resourceVersion: exactly one wins", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("race")));
    const h = await head();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => c.put(`${widgets(ns)}/race`, { ...o, spec: { size: i + 2 } })));
    const winners = results.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, results.map((r) => r.status).join(","));
    for (const r of results) if (r.status !== 200) assertStatus(r, 409, "Conflict");
    assert.equal(await head(), h + 1);
    assert.deepEqual((await ok(c.get(`${widgets(ns)}/race`))).spec, winners[0]!.body.spec);
  });

  it("concurrent patches all apply, each at its own revision", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("merge")));
    const h = await head();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => c.patch(`${widgets(ns)}/merge`, { metadata: { labels: { [`l${i}`]: "x" } } })));
    const revisions = results.map((r) => {
      assert.equal(r.status, 200, r.text);
      return rv(r.body);
    });
    assert.deepEqual(
      [...revisions].sort((a, b) => a - b),
      Array.from({ length: 10 }, (_, i) => h + 1 + i),
    );
    const labels = (await ok(c.get(`${widgets(ns)}/merge`))).metadata.labels;
    assert.deepEqual(Object.keys(labels).sort(), Array.from({ length: 10 }, (_, i) => `l${i}`).sort());
  });

  it("an update that changes nothing does not bump resourceVersion or the store revision", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("n", { size: 1 }, { labels: { a: "b" } })));
    const h = await head();
    const same = await ok(c.put(`${widgets(ns)}/n`, o));
    assert.equal(same.metadata.resourceVersion, o.metadata.resourceVersion);
    const merged = await ok(c.patch(`${widgets(ns)}/n`, { metadata: { labels: { a: "b" } } }));
    assert.equal(merged.metadata.resourceVersion, o.metadata.resourceVersion);
    const jp = await ok(c.patch(`${widgets(ns)}/n`, [{ op: "replace", path: "/spec/size", value: 1 }], JSON_PATCH));
    assert.equal(jp.metadata.resourceVersion, o.metadata.resourceVersion);
    // apiVersion and kind are the type's whatever the body says: leaving them out (or nulling them) changes nothing either.
    const { apiVersion: _a, kind: _k, ...bare } = o;
    assert.equal((await ok(c.put(`${widgets(ns)}/n`, bare))).metadata.resourceVersion, o.metadata.resourceVersion);
    for (const patch of [{ kind: null }, { apiVersion: null }, { kind: null, apiVersion: null }]) {
      const res = await ok(c.patch(`${widgets(ns)}/n`, patch));
      assert.equal(res.metadata.resourceVersion, o.metadata.resourceVersion, JSON.stringify(patch));
      assert.deepEqual([res.apiVersion, res.kind], [o.apiVersion, o.kind]);
    }
    assert.equal(await head(), h);
  });

  it("404 for a missing object, 400 when the body's name differs from the URL", async () => {
    const ns = freshNs();
    assertStatus(await c.put(`${widgets(ns)}/nope`, widget("nope")), 404, "NotFound");
    await created(c.post(widgets(ns), widget("a")));
    assertStatus(await c.put(`${widgets(ns)}/a`, widget("b")), 400, "BadRequest");
  });

  it("validates the spec schema on update", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("v")));
    const res = await c.put(`${widgets(ns)}/v`, { ...o, spec: { size: 0 } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.size"]);
  });
});
