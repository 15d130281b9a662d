// REST contract (API.md §1, §4), against the real server over real HTTP:
// DELETE with preconditions, finalizers, and deletecollection.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { warningTexts } from "../../../src/cli/client.ts";
import { assertStatus, causeFields } from "../../helpers/server.ts";
import { c, created, freshNs, gadget, gadgets, GROUP, GV, head, JSON_PATCH, MERGE, names, ok, rv, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

describe("delete", () => {
  it("a finalizer a write adds without a path draws kube's warning (custom types only; sorted; not again once present)", async () => {
    const ns = freshNs();
    const texts = (r: { headers: Headers }) => warningTexts(r.headers.get("warning"));
    const prefer = (f: string, path: boolean) =>
      `metadata.finalizers: "${f}": prefer a domain-qualified finalizer name${path ? " including a path (/)" : ""} to avoid accidental conflicts with other finalizer writers`;
    const r = await c.request("POST", widgets(ns), { body: widget("w", { size: 1 }, { finalizers: ["example.com/ok", "zeta", "orphan", "a.example.com"] }) });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(texts(r), [prefer("a.example.com", true), prefer("zeta", false)]);
    const p = await c.request("PATCH", `${widgets(ns)}/w`, {
      body: { metadata: { finalizers: ["example.com/ok", "zeta", "orphan", "a.example.com", "beta"] } },
      contentType: MERGE,
    });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(texts(p), [prefer("beta", false)]);
    // A built-in type is no custom resource: no warning.
    const lease = await c.request("POST", `/apis/setpoint.dev/v1/namespaces/${ns}/leases`, {
      body: { metadata: { name: "l", finalizers: ["zeta"] }, spec: {} },
    });
    assert.equal(lease.status, 201, lease.text);
    assert.deepEqual(texts(lease), []);
  });

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
    const staleRv = await c.del(`${widgets(ns)}/d`, { preconditions: { resourceVersion: o.metadata.resourceVersion } });
    assertStatus(staleRv, 409, "Conflict");
    // kube-apiserver's BeforeDelete words, its Conflict naming the kind (not the plural, as an update's does).
    assert.equal(
      staleRv.body.message,
      `Operation cannot be fulfilled on Widget.${GROUP} "d": the ResourceVersion in the precondition (${o.metadata.resourceVersion}) does not match the ResourceVersion in record (${u.metadata.resourceVersion}). The object might have been modified`,
    );
    assert.deepEqual(staleRv.body.details, { name: "d", group: GROUP, kind: "Widget" });
    const otherUid = await c.del(`${widgets(ns)}/d`, { preconditions: { uid: "00000000-0000-0000-0000-000000000000", resourceVersion: "1" } });
    assertStatus(otherUid, 409, "Conflict");
    assert.equal(
      otherUid.body.message,
      `Operation cannot be fulfilled on Widget.${GROUP} "d": the UID in the precondition (00000000-0000-0000-0000-000000000000) does not match the UID in record (${o.metadata.uid}). The object might have been deleted and then recreated`,
      "the uid is checked first",
    );
    await ok(c.get(`${widgets(ns)}/d`));
    await ok(
      c.del(`${widgets(ns)}/d`, {
        kind: "DeleteOptions",
        apiVersion: "v1",
        preconditions: { resourceVersion: u.metadata.resourceVersion, uid: o.metadata.uid },
      }),
    );
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

describe("dryRun=All (kube-apiserver's dry run; kubectl --dry-run=server)", () => {
  it("create, update, patch, delete and deletecollection answer as the write would and store nothing", async () => {
    const ns = freshNs();
    const h0 = await head();
    const dry = await created(c.post(`${widgets(ns)}?dryRun=All`, widget("d", { size: 2 })));
    assert.equal(dry.metadata.name, "d");
    assert.equal(dry.metadata.generation, 1);
    assert.equal(dry.metadata.resourceVersion, undefined); // as kube: nothing was stored
    assert.equal(await head(), h0);
    assertStatus(await c.get(`${widgets(ns)}/d`), 404, "NotFound");
    assertStatus(await c.post(`${widgets(ns)}?dryRun=All`, widget("e", { size: 0 })), 422, "Invalid");

    const o = await created(c.post(widgets(ns), widget("d", { size: 2 }, { finalizers: ["x.io/keep"] })));
    const h = await head();
    const put = await ok(c.put(`${widgets(ns)}/d?dryRun=All`, { ...widget("d", { size: 5 }, { finalizers: ["x.io/keep"] }) }));
    assert.equal(put.spec.size, 5);
    assert.equal(put.metadata.generation, 2);
    assert.equal(put.metadata.resourceVersion, o.metadata.resourceVersion);
    const patched = await ok(c.patch(`${widgets(ns)}/d?dryRun=All`, { spec: { size: 7 } }));
    assert.equal(patched.spec.size, 7);
    assertStatus(await c.patch(`${widgets(ns)}/d?dryRun=All`, { metadata: { resourceVersion: "1" } }), 409, "Conflict");
    const marked = await ok(c.del(`${widgets(ns)}/d?dryRun=All`));
    assert.equal(typeof marked.metadata.deletionTimestamp, "string");
    // kubectl delete --dry-run=server sends it in the DeleteOptions body.
    await ok(c.del(`${widgets(ns)}/d`, { kind: "DeleteOptions", apiVersion: "v1", dryRun: ["All"] }));
    const gone = await ok(c.del(`${widgets(ns)}?dryRun=All`));
    assert.deepEqual(names(gone), ["d"]);
    assert.equal(await head(), h);
    const still = await ok(c.get(`${widgets(ns)}/d`));
    assert.deepEqual(still, o);
  });

  it("any value but All is 422 Invalid naming dryRun, and nothing is written", async () => {
    const ns = freshNs();
    const r = await c.post(`${widgets(ns)}?dryRun=Some`, widget("d"));
    assertStatus(r, 422, "Invalid");
    assert.deepEqual(causeFields(r), ["dryRun"]);
    assert.equal(r.body.message, 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: "Some": supported values: "All"');
    assertStatus(await c.get(`${widgets(ns)}/d`), 404, "NotFound");
  });

  it("a write's options are checked as kube's Validate*Options: every error in one 422 of kind <Verb>Options.meta.k8s.io, fieldManager included", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("o")));
    const long = "m".repeat(129);
    const cases: Array<[string, string, unknown, string, string[]]> = [
      [
        "POST",
        `${widgets(ns)}?fieldManager=${long}&dryRun=Some&fieldValidation=Loose`,
        widget("n"),
        "CreateOptions",
        ["fieldManager", "dryRun", "fieldValidation"],
      ],
      ["PUT", `${widgets(ns)}/o?fieldManager=${long}`, widget("o", { size: 2 }), "UpdateOptions", ["fieldManager"]],
      ["PATCH", `${widgets(ns)}/o?fieldManager=a%07b`, { spec: { size: 3 } }, "PatchOptions", ["fieldManager"]],
    ];
    for (const [method, path, body, kind, fields] of cases) {
      const res = await c.request(method, path, { body, contentType: method === "PATCH" ? MERGE : "application/json" });
      assertStatus(res, 422, "Invalid");
      assert.deepEqual(causeFields(res), fields, `${method} ${path}`);
      assert.ok(res.body.message.startsWith(`${kind}.meta.k8s.io "" is invalid: `), res.body.message);
      assert.deepEqual([res.body.details.kind, res.body.details.group], [kind, "meta.k8s.io"]);
    }
    const created3 = await c.request("POST", `${widgets(ns)}?fieldManager=${long}&dryRun=Some&fieldValidation=Loose`, { body: widget("n") });
    assert.equal(
      created3.body.message,
      'CreateOptions.meta.k8s.io "" is invalid: [fieldManager: Too long: may not be more than 128 bytes, dryRun: Unsupported value: "Some": supported values: "All", fieldValidation: Unsupported value: "Loose": supported values: "", "Ignore", "Strict", "Warn"]',
    );
    const unprintable = await c.patch(`${widgets(ns)}/o?fieldManager=a%07b`, { spec: { size: 3 } });
    assert.equal(unprintable.body.details.causes[0].message, 'Invalid value: "a\\u0007b": invalid character U+0007 (at position 1)');
    assertStatus(await c.get(`${widgets(ns)}/n`), 404, "NotFound");
    assert.equal((await ok(c.get(`${widgets(ns)}/o`))).spec.size, 1, "nothing updated or patched");
    // A printable manager of 128 bytes is taken (and otherwise unused: no managedFields).
    await ok(c.patch(`${widgets(ns)}/o?fieldManager=${"é".repeat(64)}`, { spec: { size: 4 } }));
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
    const add = await c.patch(path, { metadata: { finalizers: ["example.com/a", "example.com/e", "example.com/b", "example.com/c"] } });
    assertStatus(add, 422, "Invalid");
    assert.ok(causeFields(add).includes("metadata.finalizers"));
    // kube's words: the new ones sorted, as Go prints a []string
    assert.equal(
      add.body.details.causes[0].message,
      'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/c", "example.com/e"}',
    );
    assertStatus(await c.patch(path, { metadata: { finalizers: "example.com/c" } }), 422, "Invalid");
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

  it("applies the delete options' preconditions to every object, as kube: one that does not match is 409 and is not deleted", async () => {
    const ns = freshNs();
    const a = await created(c.post(gadgets(ns), gadget("a")));
    await created(c.post(gadgets(ns), gadget("b")));
    const res = await c.del(gadgets(ns), { preconditions: { uid: a.metadata.uid } });
    assertStatus(res, 409, "Conflict");
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["b"], "b's uid did not match: it stays");
    const stale = await c.del(gadgets(ns), { preconditions: { resourceVersion: "1" } });
    assertStatus(stale, 409, "Conflict");
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["b"]);
  });

  it("is not served across namespaces: DELETE on /apis/G/V/PLURAL of a namespaced type is 405 and deletes nothing, as kube", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("a", { labels: { app: "web" } })));
    const h = await head();
    const res = await c.del(`${GV}/gadgets?labelSelector=app%3Dweb`);
    assertStatus(res, 405, "MethodNotAllowed");
    assert.equal(await head(), h, "nothing was written");
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["a"]);
    // A cluster-scoped type's collection is its /apis/G/V/PLURAL.
    await created(c.post(`${GV}/realms`, { apiVersion: `${GV.slice(6)}`, kind: "Realm", metadata: { name: "dc-realm", labels: { dc: "x" } }, spec: {} }));
    assert.deepEqual(names(await ok(c.del(`${GV}/realms?labelSelector=dc%3Dx`))), ["dc-realm"]);
  });
});

describe("delete options kube checks", () => {
  it("propagationPolicy: Foreground, Background and Orphan delete (no garbage collector); anything else is 422 and deletes nothing", async () => {
    const ns = freshNs();
    for (const policy of ["Foreground", "Background", "Orphan"]) {
      await created(c.post(widgets(ns), widget("p")));
      await ok(c.request("DELETE", `${widgets(ns)}/p?propagationPolicy=${policy}`));
      assertStatus(await c.get(`${widgets(ns)}/p`), 404, "NotFound");
    }
    await created(c.post(widgets(ns), widget("p")));
    for (const res of [
      await c.request("DELETE", `${widgets(ns)}/p?propagationPolicy=Bogus`),
      await c.del(`${widgets(ns)}/p`, { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Later" }),
      await c.request("DELETE", `${widgets(ns)}?propagationPolicy=Bogus`),
    ]) {
      assertStatus(res, 422, "Invalid");
      assert.deepEqual(causeFields(res), ["propagationPolicy"]);
      assert.match(
        res.body.message,
        /^DeleteOptions\.meta\.k8s\.io "" is invalid: propagationPolicy: Unsupported value: "(Bogus|Later)": supported values: "Foreground", "Background", "Orphan", "nil"$/,
      );
      assert.equal(res.body.details.kind, "DeleteOptions");
      assert.equal(res.body.details.group, "meta.k8s.io");
    }
    // orphanDependents beside a propagationPolicy, and a bad dryRun: every error in one 422, in kube's order.
    const both = await c.del(`${widgets(ns)}/p`, { orphanDependents: true, propagationPolicy: "Orphan", dryRun: ["Some"] });
    assertStatus(both, 422, "Invalid");
    assert.equal(
      both.body.message,
      'DeleteOptions.meta.k8s.io "" is invalid: [propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set, dryRun: Unsupported value: "Some": supported values: "All"]',
    );
    // The same in the query, which kube reads when there is no body: orphanDependents counts with any value (it was ignored, and the object deleted).
    for (const path of [`${widgets(ns)}/p`, widgets(ns)]) {
      for (const value of ["true", "false", ""]) {
        const res = await c.request("DELETE", `${path}?orphanDependents=${value}&propagationPolicy=Foreground`);
        assertStatus(res, 422, "Invalid");
        assert.equal(
          res.body.message,
          'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Foreground": orphanDependents and deletionPropagation cannot be both set',
        );
      }
    }
    await ok(c.get(`${widgets(ns)}/p`));
  });

  it("with a body the options are the body's alone, the query's ignored, as kube-apiserver's delete handlers read them; selectors still come from the query", async () => {
    // Setpoint used to read both: `?dryRun=All` beside a body made a dry run (kube deletes), `?propagationPolicy=Bogus`
    // or `?gracePeriodSeconds=abc` beside a valid body was refused (kube deletes), for an object and a collection alike.
    const ns = freshNs();
    const body = { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1" };
    for (const query of ["dryRun=All", "dryRun=Some", "propagationPolicy=Bogus", "gracePeriodSeconds=abc", "orphanDependents=true&propagationPolicy=Orphan"]) {
      await created(c.post(widgets(ns), widget("q")));
      const last = await ok(c.del(`${widgets(ns)}/q?${query}`, body));
      assert.equal(last.metadata.name, "q", query);
      assertStatus(await c.get(`${widgets(ns)}/q`), 404, "NotFound");
      await created(c.post(widgets(ns), widget("in", { size: 1 }, { labels: { sel: "in" } })));
      await created(c.post(widgets(ns), widget("out", { size: 1 }, { labels: { sel: "out" } })));
      assert.deepEqual(names(await ok(c.del(`${widgets(ns)}?labelSelector=sel%3Din&${query}`, body))), ["in"], query);
      assert.deepEqual(names(await ok(c.get(widgets(ns)))), ["out"], query);
      await ok(c.del(`${widgets(ns)}/out`));
    }
    // The body's own options count: its dryRun is a dry run, whatever the query says.
    await created(c.post(widgets(ns), widget("d")));
    await ok(c.del(`${widgets(ns)}/d?dryRun=Some`, { ...body, dryRun: ["All"] }));
    await ok(c.del(`${widgets(ns)}?dryRun=Some`, { ...body, dryRun: ["All"] }));
    await ok(c.get(`${widgets(ns)}/d`));
    // Without a body the query's options count (an empty body is none, as kube's len(body) > 0).
    await ok(c.request("DELETE", `${widgets(ns)}/d?dryRun=All`, { body: "" }));
    await ok(c.get(`${widgets(ns)}/d`));
    assertStatus(await c.request("DELETE", `${widgets(ns)}/d?gracePeriodSeconds=abc`), 400, "BadRequest");
    await ok(c.get(`${widgets(ns)}/d`));
  });

  it("a delete option of the wrong JSON type, or a body of another kind, is 400 naming the field and deletes nothing", async () => {
    const ns = freshNs();
    const o = await created(c.post(widgets(ns), widget("t")));
    const cases: [Record<string, unknown>, string, string][] = [
      [{ gracePeriodSeconds: "x" }, "gracePeriodSeconds", "json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds of type int64"],
      [
        { gracePeriodSeconds: 1.5 },
        "gracePeriodSeconds",
        "json: cannot unmarshal number 1.5 into Go struct field DeleteOptions.gracePeriodSeconds of type int64",
      ],
      [{ orphanDependents: "x" }, "orphanDependents", "json: cannot unmarshal string into Go struct field DeleteOptions.orphanDependents of type bool"],
      [{ propagationPolicy: 5 }, "propagationPolicy", "json: cannot unmarshal number into Go struct field DeleteOptions.propagationPolicy of type string"],
      [{ dryRun: "All" }, "dryRun", "json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string"],
      [{ dryRun: [true] }, "dryRun", "json: cannot unmarshal bool into Go struct field DeleteOptions.dryRun of type string"],
      [
        { preconditions: { resourceVersion: Number(o.metadata.resourceVersion) } },
        "preconditions.resourceVersion",
        "json: cannot unmarshal number into Go struct field DeleteOptions.preconditions.resourceVersion of type string",
      ],
      [
        { preconditions: { uid: ["x"] } },
        "preconditions.uid",
        "json: cannot unmarshal array into Go struct field DeleteOptions.preconditions.uid of type string",
      ],
      [{ kind: 5 }, "kind", "json: cannot unmarshal number into Go struct field DeleteOptions.kind of type string"],
      [{ apiVersion: "v1", kind: "Pod" }, "kind", "the kind in the data (Pod) does not match the expected kind (DeleteOptions)"],
    ];
    for (const [body, field, message] of cases) {
      for (const path of [`${widgets(ns)}/t`, widgets(ns)]) {
        const res = await c.del(path, body);
        assertStatus(res, 400, "BadRequest");
        assert.equal(res.body.message, message, JSON.stringify(body));
        assert.deepEqual(causeFields(res), [field]);
      }
    }
    for (const query of ["gracePeriodSeconds=abc", "gracePeriodSeconds=1.5", "gracePeriodSeconds=9999999999999999999"]) {
      for (const path of [`${widgets(ns)}/t`, widgets(ns)]) {
        const res = await c.request("DELETE", `${path}?${query}`);
        assertStatus(res, 400, "BadRequest");
        assert.deepEqual(causeFields(res), ["gracePeriodSeconds"]);
      }
    }
    assert.equal((await ok(c.get(`${widgets(ns)}/t`))).metadata.resourceVersion, o.metadata.resourceVersion);
    // The well-typed forms clients send still delete: kubectl's, the Python client's nulls, a query grace period.
    await ok(
      c.request("DELETE", `${widgets(ns)}/t?gracePeriodSeconds=0`, {
        body: { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1", propagationPolicy: "Background" },
      }),
    );
    await created(c.post(widgets(ns), widget("t")));
    await ok(
      c.del(`${widgets(ns)}/t`, { apiVersion: null, kind: null, gracePeriodSeconds: null, preconditions: { resourceVersion: null, uid: null }, dryRun: null }),
    );
    assertStatus(await c.get(`${widgets(ns)}/t`), 404, "NotFound");
  });
});
