// REST contract (API.md §1–§4) against the real server over real HTTP:
// objects and server-owned metadata, revisions, resource types, every verb,
// lists (selectors, pagination, consistency, expiry), discovery, health,
// metrics, errors as Status objects, and token auth.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { api, assertStatus, causeFields, createType, startTestServer, watchUntil, type ApiClient, type Reply, type TestServer } from "../helpers/server.ts";

const GROUP = "ci.example.com";
const GV = `/apis/${GROUP}/v1`;
const MERGE = "application/merge-patch+json";
const JSON_PATCH = "application/json-patch+json";

const widgetSchema = {
  spec: {
    type: "object",
    required: ["size"],
    properties: { size: { type: "integer", minimum: 1 }, color: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
  },
  status: { type: "object", properties: { phase: { type: "string", enum: ["Pending", "Running", "Done"] }, observedGeneration: { type: "integer" } } },
};

let t: TestServer;
let c: ApiClient;
let nsCounter = 0;
/** A namespace no other test uses, so lists see only this test's objects. */
const freshNs = () => `ns-${++nsCounter}`;
const widgets = (ns: string) => `${GV}/namespaces/${ns}/widgets`;
const gadgets = (ns: string) => `${GV}/namespaces/${ns}/gadgets`;

function widget(name: string, spec: Record<string, unknown> = { size: 1 }, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name, ...metadata }, spec };
}
function gadget(name: string, metadata: Record<string, unknown> = {}, spec: unknown = { x: 1 }): Record<string, unknown> {
  return { apiVersion: `${GROUP}/v1`, kind: "Gadget", metadata: { name, ...metadata }, spec };
}

async function created(res: Promise<Reply>): Promise<Record<string, any>> {
  const r = await res;
  assert.equal(r.status, 201, r.text);
  return r.body;
}
async function ok(res: Promise<Reply>): Promise<Record<string, any>> {
  const r = await res;
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** The newest revision of the whole store, as a list without resourceVersion reports it. */
async function head(): Promise<number> {
  const list = await ok(c.get(`${GV}/gadgets?limit=1`));
  return Number(list.metadata.resourceVersion);
}
const rv = (o: Record<string, any>) => Number(o.metadata.resourceVersion);
/** The distinct cause fields, sorted (a field may carry several causes, as in kube). */
const fieldSet = (res: Reply) => [...new Set(causeFields(res))].sort();
const names = (list: Record<string, any>) => (list.items as Array<Record<string, any>>).map((i) => i.metadata.name as string);

before(async () => {
  t = await startTestServer();
  c = api(t.url);
  await createType(c, { group: GROUP, kind: "Widget", plural: "widgets", schema: widgetSchema });
  await createType(c, { group: GROUP, kind: "Gadget", plural: "gadgets" });
  await createType(c, { group: GROUP, kind: "Realm", plural: "realms", scope: "Cluster" });
});
after(async () => {
  await t.stop();
});

describe("create", () => {
  it("returns 201 with server-set metadata, ignoring client values and dropping status", async () => {
    const ns = freshNs();
    const before = await head();
    const o = await created(
      c.post(
        widgets(ns),
        widget("a", { size: 2 }, {
          uid: "client-uid",
          resourceVersion: "99999",
          generation: 42,
          creationTimestamp: "2001-01-01T00:00:00Z",
          deletionTimestamp: "2001-01-01T00:00:00Z",
          labels: { app: "web" },
        }),
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
        metadata: { ...st.metadata, generation: 77, creationTimestamp: "2001-01-01T00:00:00Z", deletionTimestamp: "2001-01-01T00:00:00Z" },
        spec: { size: 4 },
        status: { phase: "Done" },
      }),
    );
    assert.deepEqual(u.status, { phase: "Running" });
    assert.deepEqual(u.spec, { size: 4 });
    assert.equal(u.metadata.generation, 2);
    assert.equal(u.metadata.creationTimestamp, o.metadata.creationTimestamp);
    assert.equal(u.metadata.deletionTimestamp, undefined);
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
    assert.deepEqual([...revisions].sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => h + 1 + i));
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
    const res = await c.patch(`${widgets(ns)}/j`, [{ op: "test", path: "/spec/size", value: 2 }, { op: "replace", path: "/spec/size", value: 5 }], JSON_PATCH);
    assertStatus(res, 422, "Invalid");
    const res2 = await c.patch(`${widgets(ns)}/j/status`, [{ op: "test", path: "/spec/size", value: 2 }, { op: "add", path: "/status", value: { phase: "Done" } }], JSON_PATCH);
    assertStatus(res2, 422, "Invalid");
    assert.equal(await head(), h);
    assert.deepEqual(await ok(c.get(`${widgets(ns)}/j`)), o);
  });

  it("a JSON patch that removes a missing path is 422; a malformed one is 400", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("j")));
    assertStatus(await c.patch(`${widgets(ns)}/j`, [{ op: "remove", path: "/spec/nothing" }], JSON_PATCH), 422, "Invalid");
    assertStatus(await c.patch(`${widgets(ns)}/j`, { op: "remove", path: "/spec" }, JSON_PATCH), 400, "BadRequest");
    assertStatus(await c.patch(`${widgets(ns)}/j`, [{ op: "frobnicate", path: "/spec" }], JSON_PATCH), 400, "BadRequest");
    assertStatus(await c.patch(`${widgets(ns)}/j`, [1, 2], MERGE), 400, "BadRequest");
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
});

describe("delete", () => {
  it("returns 200 with the object's last state, then it is gone", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("d", { size: 3 })));
    const h = await head();
    const d = await ok(c.del(`${widgets(ns)}/d`));
    assert.equal(d.metadata.name, "d");
    assert.equal(d.metadata.uid, o.metadata.uid);
    assert.deepEqual(d.spec, { size: 3 });
    assert.equal(d.kind, "Widget");
    assert.equal(await head(), h + 1);
    assertStatus(await c.get(`${widgets(ns)}/d`), 404, "NotFound");
    assertStatus(await c.del(`${widgets(ns)}/d`), 404, "NotFound");
  });

  it("preconditions: a stale resourceVersion or another uid is 409 Conflict; matching ones delete", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("d")));
    const u = await ok(c.patch(`${widgets(ns)}/d`, { spec: { size: 2 } }));
    assertStatus(await c.del(`${widgets(ns)}/d`, { preconditions: { resourceVersion: o.metadata.resourceVersion } }), 409, "Conflict");
    assertStatus(await c.del(`${widgets(ns)}/d`, { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } }), 409, "Conflict");
    await ok(c.get(`${widgets(ns)}/d`));
    await ok(c.del(`${widgets(ns)}/d`, { kind: "DeleteOptions", apiVersion: "v1", preconditions: { resourceVersion: u.metadata.resourceVersion, uid: o.metadata.uid } }));
    assertStatus(await c.get(`${widgets(ns)}/d`), 404, "NotFound");
  });

  it("a re-created object has a new uid, and an old uid precondition does not match it", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("d")));
    await ok(c.del(`${widgets(ns)}/d`));
    const o2 = await created(c.post(widgets(ns), widget("d")));
    assert.notEqual(o2.metadata.uid, o.metadata.uid);
    assertStatus(await c.del(`${widgets(ns)}/d`, { preconditions: { uid: o.metadata.uid } }), 409, "Conflict");
  });

  it("DELETE on /status is 405", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("d")));
    assertStatus(await c.del(`${widgets(ns)}/d/status`), 405, "MethodNotAllowed");
    await ok(c.get(`${widgets(ns)}/d`));
  });
});

describe("finalizers", () => {
  it("delete marks the object; it stays until the write that empties finalizers removes it", async () => {
    const ns = freshNs();
    const path = `${widgets(ns)}/f`;
    const o = await created(c.post(widgets(ns), widget("f", { size: 1 }, { finalizers: ["example.com/a", "example.com/b"] })));
    const d = await ok(c.del(path));
    assert.equal(typeof d.metadata.deletionTimestamp, "string");
    assert.match(d.metadata.deletionTimestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(d.metadata.generation, 2);
    assert.equal(rv(d), rv(o) + 1);
    const got = await ok(c.get(path));
    assert.equal(got.metadata.deletionTimestamp, d.metadata.deletionTimestamp);
    // deleting again changes nothing
    const again = await ok(c.del(path));
    assert.equal(again.metadata.resourceVersion, d.metadata.resourceVersion);
    assert.equal(again.metadata.deletionTimestamp, d.metadata.deletionTimestamp);
    // a client cannot clear deletionTimestamp
    const put = await ok(c.put(path, { ...got, metadata: { ...got.metadata, deletionTimestamp: undefined, labels: { k: "v" } } }));
    assert.equal(put.metadata.deletionTimestamp, d.metadata.deletionTimestamp);
    // no new finalizers while deleting
    const add = await c.patch(path, { metadata: { finalizers: ["example.com/a", "example.com/b", "example.com/c"] } });
    assertStatus(add, 422, "Invalid");
    assert.ok(causeFields(add).includes("metadata.finalizers"));
    const addJp = await c.patch(path, [{ op: "add", path: "/metadata/finalizers/-", value: "example.com/z" }], JSON_PATCH);
    assertStatus(addJp, 422, "Invalid");
    // removing one keeps it
    const one = await ok(c.patch(path, { metadata: { finalizers: ["example.com/b"] } }));
    assert.deepEqual(one.metadata.finalizers, ["example.com/b"]);
    await ok(c.get(path));
    // the write that empties finalizers removes it
    const h = await head();
    await ok(c.patch(path, [{ op: "remove", path: "/metadata/finalizers" }], JSON_PATCH));
    assert.equal(await head(), h + 1);
    assertStatus(await c.get(path), 404, "NotFound");
  });

  it("an object without deletionTimestamp keeps living when its finalizers are removed", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("f", { size: 1 }, { finalizers: ["example.com/a"] })));
    const u = await ok(c.patch(`${widgets(ns)}/f`, { metadata: { finalizers: null } }));
    assert.equal(u.metadata.finalizers, undefined);
    await ok(c.get(`${widgets(ns)}/f`));
  });

  it("a PUT that empties finalizers of a deleting object removes it", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("f", { size: 1 }, { finalizers: ["example.com/a"] })));
    const d = await ok(c.del(`${widgets(ns)}/f`));
    await ok(c.put(`${widgets(ns)}/f`, { ...d, metadata: { ...d.metadata, finalizers: [] } }));
    assertStatus(await c.get(`${widgets(ns)}/f`), 404, "NotFound");
  });

  it("bad finalizer names are 422", async () => {
    const res = await c.post(widgets(freshNs()), widget("f", { size: 1 }, { finalizers: ["Not A Finalizer!"] }));
    assertStatus(res, 422, "Invalid");
    assert.ok(causeFields(res).every((f) => f.startsWith("metadata.finalizers")));
  });
});

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

describe("list", () => {
  it("has the List shape and items in (namespace, name) order, within and across namespaces", async () => {
    const base = freshNs();
    const [nb, na] = [`${base}-b`, `${base}-a`];
    for (const [ns, n] of [[nb, "y"], [na, "z"], [nb, "a"], [na, "b"], [nb, "m.2"], [nb, "m-1"]] as const) {
      await created(c.post(gadgets(ns), gadget(n)));
    }
    const one = await ok(c.get(gadgets(nb)));
    assert.equal(one.apiVersion, `${GROUP}/v1`);
    assert.equal(one.kind, "GadgetList");
    assert.equal(typeof one.metadata.resourceVersion, "string");
    assert.equal(one.metadata.continue, undefined);
    assert.deepEqual(names(one), ["a", "m-1", "m.2", "y"]);
    const all = await ok(c.get(`${GV}/gadgets`));
    assert.equal(all.kind, "GadgetList");
    const mine = (all.items as Array<Record<string, any>>)
      .filter((i) => i.metadata.namespace === na || i.metadata.namespace === nb)
      .map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    assert.deepEqual(mine, [`${na}/b`, `${na}/z`, `${nb}/a`, `${nb}/m-1`, `${nb}/m.2`, `${nb}/y`]);
    // the whole cross-namespace list is sorted too
    const keys = (all.items as Array<Record<string, any>>).map((i) => [i.metadata.namespace as string, i.metadata.name as string] as const);
    const sorted = [...keys].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    assert.deepEqual(keys, sorted);
  });

  it("resourceVersionMatch=Exact serves the state at exactly that revision; bad combinations are 400", async () => {
    const ns = freshNs();
    const a = await created(c.post(gadgets(ns), gadget("a")));
    await created(c.post(gadgets(ns), gadget("b")));
    const del = await c.del(`${gadgets(ns)}/a`);
    assert.equal(del.status, 200);
    const exact = await ok(c.get(`${gadgets(ns)}?resourceVersion=${rv(a)}&resourceVersionMatch=Exact`));
    assert.equal(exact.metadata.resourceVersion, String(rv(a)));
    assert.deepEqual(names(exact), ["a"], "b did not exist yet and a was not deleted yet");
    const notOlder = await ok(c.get(`${gadgets(ns)}?resourceVersion=${rv(a)}&resourceVersionMatch=NotOlderThan`));
    assert.deepEqual(names(notOlder), ["b"]);
    for (const q of ["resourceVersionMatch=Exact", `resourceVersion=${rv(a)}&resourceVersionMatch=Sometimes`, "resourceVersion=0&resourceVersionMatch=Exact"]) {
      const res = await c.get(`${gadgets(ns)}?${q}`);
      assertStatus(res, 400, "BadRequest");
      assert.deepEqual(causeFields(res), ["resourceVersionMatch"], q);
    }
  });

  it("an empty list still has kind, items [] and the store's newest revision", async () => {
    const ns = freshNs();
    const w = await created(c.post(widgets(ns), widget("newest")));
    const list = await ok(c.get(gadgets(freshNs())));
    assert.equal(list.kind, "GadgetList");
    assert.deepEqual(list.items, []);
    // a list without resourceVersion is served at the newest revision of the whole store, not of its type
    assert.equal(list.metadata.resourceVersion, w.metadata.resourceVersion);
  });

  it("labelSelector operators", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("o1", { labels: { app: "web", tier: "fe" } })));
    await created(c.post(gadgets(ns), gadget("o2", { labels: { app: "web", tier: "be" } })));
    await created(c.post(gadgets(ns), gadget("o3", { labels: { app: "db" } })));
    await created(c.post(gadgets(ns), gadget("o4")));
    const cases: Array<[string, string[]]> = [
      ["app=web", ["o1", "o2"]],
      ["app==web", ["o1", "o2"]],
      ["app!=web", ["o3", "o4"]],
      ["tier in (fe,be)", ["o1", "o2"]],
      ["tier in (fe)", ["o1"]],
      ["tier notin (fe)", ["o2", "o3", "o4"]],
      ["app notin (web,db)", ["o4"]],
      ["tier", ["o1", "o2"]],
      ["!tier", ["o3", "o4"]],
      ["app=web,tier=be", ["o2"]],
      ["app,!tier", ["o3"]],
      ["app=nothing", []],
      ["", ["o1", "o2", "o3", "o4"]],
    ];
    for (const [sel, want] of cases) {
      const list = await ok(c.get(`${gadgets(ns)}?labelSelector=${encodeURIComponent(sel)}`));
      assert.deepEqual(names(list), want, `labelSelector ${sel}`);
    }
  });

  it("fieldSelector on metadata.name and metadata.namespace", async () => {
    const [n1, n2] = [freshNs(), freshNs()];
    await created(c.post(gadgets(n1), gadget("a")));
    await created(c.post(gadgets(n1), gadget("b")));
    await created(c.post(gadgets(n2), gadget("a")));
    const q = (path: string, sel: string) => ok(c.get(`${path}?fieldSelector=${encodeURIComponent(sel)}`));
    assert.deepEqual(names(await q(gadgets(n1), "metadata.name=a")), ["a"]);
    assert.deepEqual(names(await q(gadgets(n1), "metadata.name==b")), ["b"]);
    assert.deepEqual(names(await q(gadgets(n1), "metadata.name!=a")), ["b"]);
    const across = await q(`${GV}/gadgets`, `metadata.namespace=${n2}`);
    assert.deepEqual((across.items as Array<Record<string, any>>).map((i) => `${i.metadata.namespace}/${i.metadata.name}`), [`${n2}/a`]);
    const both = await q(`${GV}/gadgets`, `metadata.name=a,metadata.namespace=${n1}`);
    assert.deepEqual((both.items as Array<Record<string, any>>).map((i) => `${i.metadata.namespace}/${i.metadata.name}`), [`${n1}/a`]);
    const nameAcross = await q(`${GV}/gadgets`, "metadata.name=a");
    const nsOfA = (nameAcross.items as Array<Record<string, any>>).map((i) => i.metadata.namespace).filter((x) => x === n1 || x === n2);
    assert.deepEqual(nsOfA, [n1, n2]);
    assert.deepEqual(names(await q(gadgets(n1), `metadata.namespace=${n2}`)), []);
    const bad = await c.get(`${gadgets(n1)}?fieldSelector=${encodeURIComponent("spec.x=1")}`);
    assertStatus(bad, 400, "BadRequest");
  });

  it("labelSelector and fieldSelector combine with limit: filtered items count toward the page", async () => {
    const ns = freshNs();
    for (let i = 0; i < 6; i++) await created(c.post(gadgets(ns), gadget(`i${i}`, { labels: { even: String(i % 2 === 0) } })));
    const seen: string[] = [];
    let token: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await ok(c.get(`${gadgets(ns)}?labelSelector=even%3Dtrue&limit=2${token ? `&continue=${encodeURIComponent(token)}` : ""}`));
      assert.ok(page.items.length <= 2);
      seen.push(...names(page));
      token = page.metadata.continue;
      if (!token) break;
    }
    assert.deepEqual(seen, ["i0", "i2", "i4"]);
  });

  it("limit and continue: every page is served at the first page's revision while writes happen between pages", async () => {
    const ns = freshNs();
    for (const n of ["n1", "n2", "n3", "n4", "n5", "n6"]) await created(c.post(gadgets(ns), gadget(n)));
    const p1 = await ok(c.get(`${gadgets(ns)}?limit=2`));
    assert.deepEqual(names(p1), ["n1", "n2"]);
    assert.equal(typeof p1.metadata.continue, "string");
    const at = p1.metadata.resourceVersion;
    // writes after page 1: a new object in the unread range, a delete, an update
    await created(c.post(gadgets(ns), gadget("n3a")));
    await created(c.post(gadgets(ns), gadget("n0")));
    await ok(c.del(`${gadgets(ns)}/n4`));
    await ok(c.patch(`${gadgets(ns)}/n3`, { spec: { x: 99 } }));
    await ok(c.del(`${gadgets(ns)}/n6`));
    const p2 = await ok(c.get(`${gadgets(ns)}?limit=2&continue=${encodeURIComponent(p1.metadata.continue)}`));
    assert.equal(p2.metadata.resourceVersion, at);
    assert.deepEqual(names(p2), ["n3", "n4"], "page 2 must not show n3a (created later) and must show n4 (deleted later)");
    assert.deepEqual(p2.items[0].spec, { x: 1 }, "page 2 shows n3 as it was at page 1's revision");
    assert.ok(Number(p2.items[0].metadata.resourceVersion) <= Number(at));
    const p3 = await ok(c.get(`${gadgets(ns)}?limit=2&continue=${encodeURIComponent(p2.metadata.continue)}`));
    assert.equal(p3.metadata.resourceVersion, at);
    assert.deepEqual(names(p3), ["n5", "n6"]);
    assert.ok(!p3.metadata.continue, "the last page has no continue token");
    // a fresh list sees the new state
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["n0", "n1", "n2", "n3", "n3a", "n5"]);
  });

  it("limit=0 or no limit returns everything; a limit beyond the size returns no continue", async () => {
    const ns = freshNs();
    for (const n of ["a", "b", "c"]) await created(c.post(gadgets(ns), gadget(n)));
    assert.deepEqual(names(await ok(c.get(`${gadgets(ns)}?limit=0`))), ["a", "b", "c"]);
    const big = await ok(c.get(`${gadgets(ns)}?limit=10`));
    assert.deepEqual(names(big), ["a", "b", "c"]);
    assert.ok(!big.metadata.continue);
  });

  it("resourceVersion=R at or below the newest revision is served at once, at least as new as R", async () => {
    const ns = freshNs();
    const o = await created(c.post(gadgets(ns), gadget("a")));
    const list = await ok(c.get(`${gadgets(ns)}?resourceVersion=${o.metadata.resourceVersion}`));
    assert.ok(Number(list.metadata.resourceVersion) >= rv(o));
    assert.deepEqual(names(list), ["a"]);
    const zero = await ok(c.get(`${gadgets(ns)}?resourceVersion=0`));
    assert.deepEqual(names(zero), ["a"]);
  });

  it("resourceVersion=R newer than the store's head: 504 Timeout after waiting ~3 s", async () => {
    const h = await head();
    const started = Date.now();
    const res = await c.request("GET", `${gadgets(freshNs())}?resourceVersion=${h + 1000}`, { timeoutMs: 15_000 });
    const took = Date.now() - started;
    assertStatus(res, 504, "Timeout");
    assert.ok(took >= 2500 && took < 10_000, `waited ${took} ms`);
  });

  it("a continue token whose revision was compacted is 410 Expired", async () => {
    const ns = freshNs();
    for (const n of ["a", "b", "c"]) await created(c.post(gadgets(ns), gadget(n)));
    const p1 = await ok(c.get(`${gadgets(ns)}?limit=1`));
    await created(c.post(gadgets(ns), gadget("d")));
    await created(c.post(gadgets(ns), gadget("e")));
    await t.server.store.compact({ minEvents: 0, windowMs: 0 });
    assert.ok(t.server.store.compacted() > Number(p1.metadata.resourceVersion));
    const res = await c.get(`${gadgets(ns)}?limit=1&continue=${encodeURIComponent(p1.metadata.continue)}`);
    assertStatus(res, 410, "Expired");
    // a fresh list still works
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["a", "b", "c", "d", "e"]);
  });

  it("bad continue, limit and resourceVersion parameters are 400", async () => {
    const ns = freshNs();
    for (const q of ["continue=garbage", "limit=-1", "limit=abc", "resourceVersion=abc", "resourceVersion=-5", "resourceVersion=1.5"]) {
      const res = await c.get(`${gadgets(ns)}?${q}`);
      assertStatus(res, 400, "BadRequest");
    }
  });
});

describe("watch query parameters", () => {
  it("a timeoutSeconds beyond what a timer can hold keeps the watch open", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("first")));
    let second: Promise<Reply> | undefined;
    const event = await watchUntil(`${t.url}${gadgets(ns)}?watch=true&timeoutSeconds=999999999999`, (e) => {
      if (e.object?.metadata?.name === "first") second ??= c.post(gadgets(ns), gadget("second"));
      return e.object?.metadata?.name === "second";
    });
    assert.equal(event.type, "ADDED");
    assert.equal((await second)?.status, 201);
  });

  it("bad watch parameters are 400 before any stream starts", async () => {
    for (const query of ["timeoutSeconds=-1", "timeoutSeconds=x", "allowWatchBookmarks=maybe", "sendInitialEvents=2", "resourceVersion=x", "labelSelector=a%20in%20("]) {
      assertStatus(await c.get(`${gadgets("x")}?watch=true&${query}`), 400, "BadRequest");
    }
  });
});

describe("deletecollection", () => {
  it("deletes what the labelSelector selects and returns it", async () => {
    const ns = freshNs();
    const other = freshNs();
    await created(c.post(gadgets(ns), gadget("a", { labels: { app: "web" } })));
    await created(c.post(gadgets(ns), gadget("b", { labels: { app: "web" } })));
    await created(c.post(gadgets(ns), gadget("c", { labels: { app: "db" } })));
    await created(c.post(gadgets(other), gadget("a", { labels: { app: "web" } })));
    const h = await head();
    const res = await ok(c.del(`${gadgets(ns)}?labelSelector=app%3Dweb`));
    assert.deepEqual(names(res).sort(), ["a", "b"]);
    assert.equal(await head(), h + 2);
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["c"]);
    assert.deepEqual(names(await ok(c.get(gadgets(other)))), ["a"], "other namespaces are untouched");
  });

  it("marks objects with finalizers instead of removing them", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("keep", { finalizers: ["example.com/f"] })));
    await created(c.post(gadgets(ns), gadget("gone")));
    await ok(c.del(gadgets(ns)));
    const list = await ok(c.get(gadgets(ns)));
    assert.deepEqual(names(list), ["keep"]);
    assert.equal(typeof list.items[0].metadata.deletionTimestamp, "string");
  });
});

describe("resource types", () => {
  it("a new type's endpoints are live at once, and go away at once when it is deleted; its objects eventually go", async () => {
    const g = "live.example.com";
    const typePath = `/apis/setpoint.dev/v1/resourcetypes/things.${g}`;
    assertStatus(await c.get(`/apis/${g}/v1/namespaces/x/things`), 404, "NotFound");
    const base = await createType(c, { group: g, kind: "Thing", plural: "things" });
    await created(c.post(`${base}/namespaces/x/things`, { metadata: { name: "t1" }, spec: { a: 1 } }));
    await created(c.post(`${base}/namespaces/y/things`, { metadata: { name: "t2" } }));
    assert.deepEqual(names(await ok(c.get(`${base}/things`))), ["t1", "t2"]);
    const disco = await ok(c.get(base));
    assert.ok(disco.resources.some((r: Record<string, unknown>) => r.name === "things"));
    const rt = await ok(c.get(typePath));
    assert.equal(rt.kind, "ResourceType");
    assert.equal(rt.metadata.namespace, undefined);

    await ok(c.del(typePath));
    assertStatus(await c.get(`${base}/namespaces/x/things`), 404, "NotFound");
    assertStatus(await c.get(`${base}/namespaces/x/things/t1`), 404, "NotFound");
    assertStatus(await c.post(`${base}/namespaces/x/things`, { metadata: { name: "t3" } }), 404, "NotFound");
    assertStatus(await c.get(base), 404, "NotFound");
    const groups = await ok(c.get("/apis"));
    assert.ok(!groups.groups.some((gr: Record<string, unknown>) => gr.name === g));

    const deadline = Date.now() + 10_000;
    while (t.server.store.list({ type: `things.${g}` }).items.length > 0) {
      assert.ok(Date.now() < deadline, "objects of a deleted type must eventually be removed");
      await new Promise((r) => setTimeout(r, 20));
    }
    // re-creating the type starts empty
    await createType(c, { group: g, kind: "Thing", plural: "things" });
    assert.deepEqual(names(await ok(c.get(`${base}/things`))), []);
  });

  it("schema validation: 422 with one cause per bad field", async () => {
    const ns = freshNs();
    const res = await c.post(widgets(ns), widget("bad", { color: 1, tags: ["ok", 2] }));
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.color", "spec.size", "spec.tags[1]"]);
    assert.equal(res.body.details.name, "bad");
    assert.equal(res.body.details.kind, "Widget");
    assert.ok(res.body.details.causes.every((x: Record<string, unknown>) => typeof x.message === "string" && x.message !== ""));
  });

  it("an invalid schema is 422", async () => {
    const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: "bads.bad.example.com" },
      spec: { group: "bad.example.com", version: "v1", kind: "Bad", plural: "bads", schema: { spec: { type: 12 } } },
    });
    assertStatus(res, 422, "Invalid");
    assert.ok(causeFields(res).some((f) => f.startsWith("spec.schema.spec")));
    const res2 = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: "bads.bad.example.com" },
      spec: { group: "bad.example.com", version: "v1", kind: "Bad", plural: "bads", schema: { status: { properties: 5 } } },
    });
    assertStatus(res2, 422, "Invalid");
    assert.ok(causeFields(res2).some((f) => f.startsWith("spec.schema.status")));
    assertStatus(await c.get("/apis/bad.example.com/v1/bads"), 404, "NotFound");
  });

  it("the name must be <plural>.<group>; identity fields are checked", async () => {
    const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: "wrong.example.com" },
      spec: { group: "named.example.com", version: "v1", kind: "Named", plural: "nameds" },
    });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["metadata.name"]);
    const res2 = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: "x.named.example.com" },
      spec: { group: "named.example.com", version: "one", kind: "lower", plural: "Bad_Plural", scope: "Galaxy" },
    });
    assertStatus(res2, 422, "Invalid");
    assert.deepEqual(fieldSet(res2), ["spec.kind", "spec.plural", "spec.scope", "spec.version"]);
    const res3 = await c.post("/apis/setpoint.dev/v1/resourcetypes", { metadata: { name: "x.y.com" } });
    assertStatus(res3, 422, "Invalid");
  });

  it("a type's identity is immutable", async () => {
    await createType(c, { group: "immutable.example.com", kind: "Fixed", plural: "fixeds" });
    const path = "/apis/setpoint.dev/v1/resourcetypes/fixeds.immutable.example.com";
    const rt = await ok(c.get(path));
    const res = await c.put(path, { ...rt, spec: { ...rt.spec, kind: "Other", scope: "Cluster" } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.kind", "spec.scope"]);
  });

  it("changing a type's schema applies at once", async () => {
    const base = await createType(c, { group: "evolve.example.com", kind: "Evo", plural: "evos" });
    const ns = freshNs();
    await created(c.post(`${base}/namespaces/${ns}/evos`, { metadata: { name: "a" }, spec: { n: "text" } }));
    await ok(c.patch("/apis/setpoint.dev/v1/resourcetypes/evos.evolve.example.com", { spec: { schema: { spec: { type: "object", properties: { n: { type: "integer" } } } } } }));
    const res = await c.post(`${base}/namespaces/${ns}/evos`, { metadata: { name: "b" }, spec: { n: "text" } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.n"]);
  });

  it("cluster-scoped types live at /apis/G/V/PLURAL/NAME with no namespace", async () => {
    const o = await created(c.post(`${GV}/realms`, { apiVersion: `${GROUP}/v1`, kind: "Realm", metadata: { name: "earth", namespace: "ignored" }, spec: { size: 1 } }));
    assert.equal(o.metadata.namespace, undefined);
    assert.equal(o.metadata.generation, 1);
    const got = await ok(c.get(`${GV}/realms/earth`));
    assert.deepEqual(got, o);
    assert.ok(names(await ok(c.get(`${GV}/realms`))).includes("earth"));
    assertStatus(await c.get(`${GV}/namespaces/x/realms`), 404, "NotFound");
    assertStatus(await c.get(`${GV}/namespaces/x/realms/earth`), 404, "NotFound");
    const p = await ok(c.patch(`${GV}/realms/earth/status`, { status: { ok: true } }));
    assert.deepEqual(p.status, { ok: true });
    const u = await ok(c.put(`${GV}/realms/earth`, { ...p, spec: { size: 2 } }));
    assert.equal(u.metadata.generation, 2);
    await ok(c.del(`${GV}/realms/earth`));
    assertStatus(await c.get(`${GV}/realms/earth`), 404, "NotFound");
  });

  it("namespaced objects are not addressable without a namespace", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("a")));
    assertStatus(await c.get(`${GV}/gadgets/a`), 404, "NotFound");
    const res = await c.post(`${GV}/gadgets`, gadget("b"));
    assert.ok(res.status >= 400 && res.status < 500, res.text);
    assertStatus(res, res.status);
  });

  it("lists ResourceTypes", async () => {
    const list = await ok(c.get("/apis/setpoint.dev/v1/resourcetypes"));
    assert.equal(list.kind, "ResourceTypeList");
    assert.ok(names(list).includes(`widgets.${GROUP}`));
  });
});

describe("built-in Lease", () => {
  it("create, renew with a precondition, and schema checks", async () => {
    const ns = freshNs();
    const path = `/apis/setpoint.dev/v1/namespaces/${ns}/leases`;
    const now = new Date().toISOString();
    const l = await created(
      c.post(path, {
        apiVersion: "setpoint.dev/v1",
        kind: "Lease",
        metadata: { name: "leader" },
        spec: { holderIdentity: "agent-1", leaseDurationSeconds: 15, acquireTime: now, renewTime: now },
      }),
    );
    assert.equal(l.kind, "Lease");
    assert.equal(l.metadata.namespace, ns);
    const renewed = await ok(c.put(`${path}/leader`, { ...l, spec: { ...l.spec, renewTime: new Date(Date.now() + 1000).toISOString() } }));
    assert.equal(rv(renewed), rv(l) + 1);
    // a second agent racing with the stale copy loses
    assertStatus(await c.put(`${path}/leader`, { ...l, spec: { ...l.spec, holderIdentity: "agent-2" } }), 409, "Conflict");
    const bad = await c.post(path, { metadata: { name: "bad" }, spec: { holderIdentity: 5, leaseDurationSeconds: "long" } });
    assertStatus(bad, 422, "Invalid");
    assert.deepEqual(fieldSet(bad), ["spec.holderIdentity", "spec.leaseDurationSeconds"]);
    assert.deepEqual(names(await ok(c.get(path))), ["leader"]);
  });
});

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

describe("errors are Status objects", () => {
  it("malformed JSON and non-object bodies are 400", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("e")));
    for (const body of ["{", '{"metadata": ', "nul", "[1,2]", '"a string"', "42", "null", '{"metadata": "x"}', '{"metadata": []}']) {
      assertStatus(await c.request("POST", widgets(ns), { body }), 400, "BadRequest");
      assertStatus(await c.request("PUT", `${widgets(ns)}/e`, { body }), 400, "BadRequest");
    }
    assertStatus(await c.request("PATCH", `${widgets(ns)}/e`, { body: "{", contentType: MERGE }), 400, "BadRequest");
    assertStatus(await c.request("PATCH", `${widgets(ns)}/e`, { body: "[", contentType: JSON_PATCH }), 400, "BadRequest");
    assertStatus(await c.request("DELETE", `${widgets(ns)}/e`, { body: "{" }), 400, "BadRequest");
    assertStatus(await c.request("DELETE", `${widgets(ns)}/e`, { body: '{"preconditions": 5}' }), 400, "BadRequest");
    await ok(c.get(`${widgets(ns)}/e`));
  });

  it("a bad name is 422 on metadata.name", async () => {
    const ns = freshNs();
    for (const name of ["UPPER", "under_score", "-lead", "trail-", "a".repeat(254), "sp ace", "ünï"]) {
      const res = await c.post(widgets(ns), widget(name));
      assertStatus(res, 422, "Invalid");
      assert.ok(causeFields(res).includes("metadata.name"), `${name}: ${res.text}`);
    }
    const notString = await c.post(widgets(ns), { metadata: { name: 5 }, spec: { size: 1 } });
    assert.ok(notString.status === 400 || notString.status === 422, notString.text);
    assertStatus(notString, notString.status);
    assert.equal((await ok(c.get(widgets(ns)))).items.length, 0);
  });

  it("a bad namespace in the path is 422 on metadata.namespace", async () => {
    const res = await c.post(widgets("Bad_NS"), widget("a"));
    assertStatus(res, 422, "Invalid");
    assert.ok(causeFields(res).includes("metadata.namespace"));
  });

  it("bad labels and annotations are 422 on metadata.labels / metadata.annotations", async () => {
    const ns = freshNs();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ labels: { "bad key!": "v" } }, "metadata.labels"],
      [{ labels: { k: "bad value!" } }, "metadata.labels"],
      [{ labels: { k: "v".repeat(64) } }, "metadata.labels"],
      [{ labels: { ["k".repeat(64)]: "v" } }, "metadata.labels"],
      [{ labels: { k: 5 } }, "metadata.labels"],
      [{ labels: "app=web" }, "metadata.labels"],
      [{ labels: { "Bad_Prefix/k": "v" } }, "metadata.labels"],
      [{ annotations: { "bad key!": "v" } }, "metadata.annotations"],
      [{ annotations: { k: 5 } }, "metadata.annotations"],
    ];
    for (const [meta, field] of cases) {
      const res = await c.post(widgets(ns), widget("l", { size: 1 }, meta));
      assertStatus(res, 422, "Invalid");
      const fields = causeFields(res);
      assert.ok(fields.length > 0 && fields.every((f) => f.startsWith(field)), `${JSON.stringify(meta)}: ${res.text}`);
    }
    // good ones pass
    await created(c.post(widgets(ns), widget("l", { size: 1 }, { labels: { "example.com/app": "web-1", empty: "" }, annotations: { "Any.Case/Key": "any value at all ✓" } })));
  });

  it("an unknown type, group or version is 404", async () => {
    for (const path of ["/apis/nope.example.com/v1/namespaces/x/things", `${GV}/namespaces/x/nothings`, `/apis/${GROUP}/v2/namespaces/x/widgets`, "/nope", "/apis/a/b/c/d/e/f/g", `${widgets("x")}/a/scale`]) {
      assertStatus(await c.get(path), 404, "NotFound");
    }
    assertStatus(await c.post("/apis/nope.example.com/v1/namespaces/x/things", { metadata: { name: "a" } }), 404, "NotFound");
  });

  it("a bad labelSelector is 400", async () => {
    for (const sel of ["a in (", "a b", "=x", "a=(b)", "bad key!=x", "a=b c", "a in x", "k=" + "v".repeat(64)]) {
      const res = await c.get(`${gadgets("x")}?labelSelector=${encodeURIComponent(sel)}`);
      assertStatus(res, 400, "BadRequest");
    }
  });

  it("a bad resourceVersion is 400, in the query, the body and the delete preconditions", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("r")));
    assertStatus(await c.get(`${widgets(ns)}?resourceVersion=abc`), 400, "BadRequest");
    assertStatus(await c.put(`${widgets(ns)}/r`, { ...o, metadata: { ...o.metadata, resourceVersion: "abc" } }), 400, "BadRequest");
    assertStatus(await c.patch(`${widgets(ns)}/r`, { metadata: { resourceVersion: "x1" } }), 400, "BadRequest");
    assertStatus(await c.del(`${widgets(ns)}/r`, { preconditions: { resourceVersion: "-1" } }), 400, "BadRequest");
    await ok(c.get(`${widgets(ns)}/r`));
  });

  it("a body over 3 MiB is 413; an object over 1.5 MiB is 413", async () => {
    const ns = freshNs();
    const huge = await c.request("POST", gadgets(ns), { body: JSON.stringify(gadget("huge", {}, { blob: "x".repeat(3 * 1024 * 1024 + 10) })) });
    assertStatus(huge, 413, "RequestEntityTooLarge");
    const big = await c.post(gadgets(ns), gadget("big", {}, { blob: "x".repeat(1.5 * 1024 * 1024) }));
    assertStatus(big, 413, "RequestEntityTooLarge");
    // an update that makes an object too large is refused too
    await created(c.post(gadgets(ns), gadget("grow")));
    assertStatus(await c.patch(`${gadgets(ns)}/grow`, { spec: { blob: "y".repeat(1.6 * 1024 * 1024) } }), 413, "RequestEntityTooLarge");
    const under = await created(c.post(gadgets(ns), gadget("under", {}, { blob: "z".repeat(1024 * 1024) })));
    assert.equal(under.spec.blob.length, 1024 * 1024);
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["grow", "under"]);
  });

  it("a chunked body that passes 3 MiB is 413, and the server keeps serving on its connections", async () => {
    const ns = freshNs();
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent >= 4 * 1024 * 1024) return ctrl.close();
        sent += chunk.length;
        ctrl.enqueue(chunk);
      },
    });
    const init = { method: "POST", body, duplex: "half", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(10_000) };
    const res = await fetch(t.url + gadgets(ns), init as RequestInit);
    const text = await res.text();
    assertStatus({ status: res.status, body: JSON.parse(text), text, headers: res.headers }, 413, "RequestEntityTooLarge");
    // the pooled connections still work, one after another and in parallel
    for (let i = 0; i < 4; i++) assert.equal((await c.request("GET", "/healthz", { timeoutMs: 5000 })).status, 200);
    const parallel = await Promise.all(Array.from({ length: 8 }, () => c.request("GET", gadgets(ns), { timeoutMs: 5000 })));
    assert.deepEqual(parallel.map((r) => r.status), Array(8).fill(200));
  });

  it("a wrong method is 405", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("m")));
    const cases: Array<[string, string]> = [
      ["PUT", gadgets(ns)],
      ["PATCH", gadgets(ns)],
      ["POST", `${gadgets(ns)}/m`],
      ["POST", `${gadgets(ns)}/m/status`],
      ["DELETE", `${gadgets(ns)}/m/status`],
      ["POST", "/apis"],
      ["DELETE", "/version"],
      ["PUT", "/metrics"],
    ];
    for (const [method, path] of cases) {
      const res = await c.request(method, path, { body: "{}" });
      assertStatus(res, 405, "MethodNotAllowed");
    }
    await ok(c.get(`${gadgets(ns)}/m`));
  });

  it("a Status names the object in details", async () => {
    const res = await c.get(`${widgets("x")}/who`);
    assertStatus(res, 404, "NotFound");
    assert.equal(res.body.details.name, "who");
    assert.equal(res.body.details.group, GROUP);
    assert.equal(typeof res.body.details.kind, "string");
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  });
});

describe("token auth", () => {
  let secured: TestServer;
  before(async () => {
    secured = await startTestServer({ token: "s3cret-token" });
  });
  after(async () => {
    await secured.stop();
  });

  it("a missing or wrong token is 401; the right one works; /healthz and /readyz need none", async () => {
    const anon = api(secured.url);
    const wrong = api(secured.url, { token: "nope" });
    const right = api(secured.url, { token: "s3cret-token" });
    for (const path of ["/apis", "/api", "/version", "/apis/setpoint.dev/v1/resourcetypes", "/apis/setpoint.dev/v1/namespaces/a/leases/x"]) {
      assertStatus(await anon.get(path), 401, "Unauthorized");
      assertStatus(await wrong.get(path), 401, "Unauthorized");
    }
    assertStatus(await anon.post("/apis/setpoint.dev/v1/namespaces/a/leases", { metadata: { name: "x" }, spec: {} }), 401, "Unauthorized");
    assertStatus(await anon.request("GET", "/apis", { headers: { authorization: "Basic czNjcmV0LXRva2Vu" } }), 401, "Unauthorized");
    assertStatus(await anon.request("GET", "/apis", { headers: { authorization: "Bearer s3cret-token-and-more" } }), 401, "Unauthorized");
    assert.equal((await right.get("/apis")).status, 200);
    const lease = await right.post("/apis/setpoint.dev/v1/namespaces/a/leases", { metadata: { name: "x" }, spec: {} });
    assert.equal(lease.status, 201, lease.text);
    assert.equal((await right.get("/apis/setpoint.dev/v1/namespaces/a/leases/x")).status, 200);
    assert.equal((await anon.get("/healthz")).status, 200);
    assert.equal((await anon.get("/readyz")).status, 200);
  });
});
