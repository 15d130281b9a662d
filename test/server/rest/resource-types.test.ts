// REST contract (API.md §3), against the real server over real HTTP:
// declaring, changing and deleting resource types, and the built-in Lease.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { warningTexts } from "../../../src/cli/client.ts";
import { api, assertStatus, causeFields, createType, startTestServer, type TestServer } from "../../helpers/server.ts";
import { c, created, fieldSet, freshNs, gadget, gadgets, GROUP, GV, names, ok, rv, t, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

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

  it("a type cannot come back while objects of its deleted namesake remain: 409 as kube's terminating CRD, until they are gone", async () => {
    const g = "again.example.com";
    const base = await createType(c, { group: g, kind: "Again", plural: "agains" });
    for (let i = 0; i < 3; i++) await created(c.post(`${base}/namespaces/x/agains`, { metadata: { name: `old-${i}` }, spec: { v: i } }));
    // The type deleted with its objects left, as after a restart cut their
    // removal short: the ResourceType is removed behind the API, so no removal
    // runs (a delete through the API starts one, which could win the race
    // against the create below).
    await t.server.store.write({ type: "resourcetypes.setpoint.dev", namespace: "", name: `agains.${g}` }, (current, revision) => {
      assert.ok(current, "the type is stored");
      const last = JSON.parse(current.json) as { metadata: { resourceVersion?: string } };
      last.metadata.resourceVersion = String(revision);
      return { op: "delete", object: JSON.stringify(last) };
    });
    const body = { metadata: { name: `agains.${g}` }, spec: { group: g, version: "v1", kind: "Again", plural: "agains" } };
    const refused = await c.post("/apis/setpoint.dev/v1/resourcetypes", body);
    assertStatus(refused, 409, "AlreadyExists");
    assert.equal(refused.body.message, `object is being deleted: resourcetypes.setpoint.dev "agains.${g}" already exists`);
    // The refusal restarted the removal: the type can be created once it is done, and starts empty.
    const deadline = Date.now() + 10_000;
    let res = refused;
    while (res.status === 409) {
      assert.ok(Date.now() < deadline, "the leftovers must be removed");
      await new Promise((r) => setTimeout(r, 20));
      res = await c.post("/apis/setpoint.dev/v1/resourcetypes", body);
    }
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(names(await ok(c.get(`${base}/agains`))), []);
    // An existing type is AlreadyExists as always.
    const again = await c.post("/apis/setpoint.dev/v1/resourcetypes", body);
    assertStatus(again, 409, "AlreadyExists");
    assert.equal(again.body.message, `resourcetypes.setpoint.dev "agains.${g}" already exists`);
  });

  it("schema validation: 422 with one cause per bad field", async () => {
    const ns = freshNs();
    const res = await c.post(widgets(ns), widget("bad", { color: 1, tags: ["ok", 2] }));
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.color", "spec.size", "spec.tags[1]"]);
    assert.equal(res.body.details.name, "bad");
    assert.equal(res.body.details.kind, "Widget");
    assert.ok(res.body.details.causes.every((x: Record<string, unknown>) => typeof x.message === "string" && x.message !== ""));
    // kube's reasons and words for a custom resource's type and enum errors
    const byField = new Map(res.body.details.causes.map((x: Record<string, string>) => [x.field, x]));
    assert.deepEqual(byField.get("spec.color"), {
      field: "spec.color",
      reason: "FieldValueTypeInvalid",
      message: 'Invalid value: "integer": spec.color in body must be of type string: "integer"',
    });
    await created(c.post(widgets(ns), widget("good")));
    const phase = await c.patch(`${widgets(ns)}/good/status`, { status: { phase: "Lost" } });
    assertStatus(phase, 422, "Invalid");
    assert.deepEqual(phase.body.details.causes, [
      { field: "status.phase", reason: "FieldValueNotSupported", message: 'Unsupported value: "Lost": supported values: "Pending", "Running", "Done"' },
    ]);
  });

  it("every bad field has its cause, however many (one cause per field, API.md §4)", async () => {
    const properties = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${String(i).padStart(2, "0")}`, { type: "integer" }]));
    const base = await createType(c, { group: "many.example.com", kind: "Many", plural: "manies", schema: { spec: { type: "object", properties } } });
    const spec = Object.fromEntries(Object.keys(properties).map((k) => [k, "text"]));
    const res = await c.post(`${base}/namespaces/${freshNs()}/manies`, { metadata: { name: "m" }, spec });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(
      fieldSet(res),
      Object.keys(properties).map((k) => `spec.${k}`),
    );
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
    // As kube validates a CRD: a missing name does not hide the spec's errors, all come in one 422.
    const res4 = await c.post("/apis/setpoint.dev/v1/resourcetypes", { spec: { group: "named.example.com", version: "one", kind: "Named", plural: "nameds" } });
    assertStatus(res4, 422, "Invalid");
    assert.deepEqual(fieldSet(res4), ["metadata.name", "spec.version"]);
  });

  it("a plural, kind or version longer than 63 characters is 422, as kube checks each as a DNS-1035 label", async () => {
    const long = "p".repeat(64);
    const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `${long}.long.example.com` },
      spec: { group: "long.example.com", version: `v${"1".repeat(63)}`, kind: `K${"k".repeat(63)}`, plural: long },
    });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.kind", "spec.plural", "spec.version"]);
    assert.match(res.body.message, /spec\.plural: Invalid value: "p{64}": must be no more than 63 bytes/);
    // 63 is the limit, not past it.
    const at = "p".repeat(63);
    const ok63 = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `${at}.long.example.com` },
      spec: { group: "long.example.com", version: "v1", kind: `K${"k".repeat(62)}`, plural: at },
    });
    assert.equal(ok63.status, 201, ok63.text);
  });

  it("a kind already served in the group, in any version, under another plural is 422 (clients map a kind to one resource)", async () => {
    const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `widgets2.${GROUP}` },
      spec: { group: GROUP, version: "v1", kind: "Widget", plural: "widgets2" },
    });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.kind"]);
    assertStatus(await c.get(`${GV}/widgets2`), 404, "NotFound");
    // In another version too, as kube's naming controller compares every CRD of a group: kubectl maps
    // `widget` to the group's preferred version, so `kubectl get widget w` would go to the v2 type.
    const v2 = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `widgets2.${GROUP}` },
      spec: { group: GROUP, version: "v2", kind: "Widget", plural: "widgets2" },
    });
    assertStatus(v2, 422, "Invalid");
    assert.deepEqual(fieldSet(v2), ["spec.kind"]);
    assert.match(v2.body.message, new RegExp(`kind Widget is already in use in ${GROUP}/v1 by widgets\\.${GROUP}`));
    assertStatus(await c.get(`/apis/${GROUP}/v2/widgets2`), 404, "NotFound");
    // Another kind in another version is fine.
    await createType(c, { group: GROUP, version: "v2", kind: "Sprocket", plural: "sprockets" });
  });

  it("a plural, singular, short name or list kind already used by another type of the group (any version) is 422, as kube's naming rules", async () => {
    const g = "names.example.com";
    await createType(c, { group: g, kind: "Widget", plural: "widgets", shortNames: ["wd"] });
    const clash = async (spec: Record<string, unknown>, fields: string[]) => {
      const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
        metadata: { name: `${spec.plural}.${g}` },
        spec: { group: g, version: "v1", ...spec },
      });
      assertStatus(res, 422, "Invalid");
      assert.deepEqual(fieldSet(res), fields);
      assert.match(
        res.body.details.causes[0].message,
        /^Duplicate value: ".*": .* is already in use in names\.example\.com\/v1 by widgets\.names\.example\.com$/,
      );
      assertStatus(await c.get(`/apis/${g}/v1/${spec.plural}`), 404, "NotFound");
    };
    await clash({ kind: "Gadget", plural: "wd" }, ["spec.plural"]);
    await clash({ kind: "Gadget", plural: "widget" }, ["spec.plural"]);
    await clash({ kind: "Gadget", plural: "gadgets", shortNames: ["g", "widgets"] }, ["spec.shortNames[1]"]);
    await clash({ kind: "Widgets", plural: "others" }, ["spec.kind"]);
    await clash({ kind: "WidgetList", plural: "lists" }, ["spec.kind"]);
    // A clash a change of short names brings is refused too.
    const other = await createType(c, { group: g, kind: "Gadget", plural: "gadgets", shortNames: ["gd"] });
    assert.equal(other, `/apis/${g}/v1`);
    const res = await c.patch(`/apis/setpoint.dev/v1/resourcetypes/gadgets.${g}`, { spec: { shortNames: ["gd", "wd"] } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.shortNames[1]"]);
    // The same names in another version clash too (kube's naming controller compares the whole group).
    const v2 = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `wd.${g}` },
      spec: { group: g, version: "v2", kind: "Widget", plural: "wd" },
    });
    assertStatus(v2, 422, "Invalid");
    assert.deepEqual(fieldSet(v2), ["spec.kind", "spec.plural"]);
  });

  it("of clashing types created at once (or a short-name change racing a create), exactly one is accepted", async () => {
    const g = "race.example.com";
    const rt = (plural: string, spec: Record<string, unknown>) => ({
      metadata: { name: `${plural}.${g}` },
      spec: { group: g, version: "v1", plural, ...spec },
    });
    const post = (body: unknown) => c.post("/apis/setpoint.dev/v1/resourcetypes", body);
    for (let i = 0; i < 10; i++) {
      const pairs = [
        [rt(`kas${i}`, { kind: `Same${i}` }), rt(`kbs${i}`, { kind: `Same${i}` })],
        [rt(`sas${i}`, { kind: `Sa${i}`, shortNames: [`s${i}`] }), rt(`sbs${i}`, { kind: `Sb${i}`, shortNames: [`s${i}`] })],
        [rt(`pas${i}`, { kind: `Pa${i}`, shortNames: [`pbs${i}`] }), rt(`pbs${i}`, { kind: `Pb${i}` })],
      ];
      const answers = await Promise.all(pairs.flatMap(([x, y]) => [post(x), post(y)]));
      for (let k = 0; k < answers.length; k += 2) {
        const [rx, ry] = [answers[k]!, answers[k + 1]!];
        assert.deepEqual([rx.status, ry.status].sort(), [201, 422], `round ${i}: ${rx.text.slice(0, 300)} / ${ry.text.slice(0, 300)}`);
      }
      await created(post(rt(`ups${i}`, { kind: `Up${i}` })));
      const [rx, ry] = await Promise.all([
        c.patch(`/apis/setpoint.dev/v1/resourcetypes/ups${i}.${g}`, { spec: { shortNames: [`u${i}`] } }),
        post(rt(`uds${i}`, { kind: `Ud${i}`, shortNames: [`u${i}`] })),
      ]);
      assert.deepEqual([rx.status === 200, ry.status === 201].filter(Boolean).length, 1, `round ${i}: ${rx.text.slice(0, 300)} / ${ry.text.slice(0, 300)}`);
    }
    const served = (await ok(c.get(`/apis/${g}/v1`))).resources.filter((r: { name: string }) => !r.name.includes("/"));
    const all = served.flatMap((r: { name: string; singularName: string; shortNames?: string[] }) => [
      ...new Set([r.name, r.singularName, ...(r.shortNames ?? [])]),
    ]);
    assert.equal(new Set(all).size, all.length, `a name served twice: ${all.filter((n: string, k: number) => all.indexOf(n) !== k).join(", ")}`);
  });

  it("a new type's group is a domain with at least one dot, as kube's, and not a built-in type's", async () => {
    const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: "things.local" },
      spec: { group: "local", version: "v1", kind: "Thing", plural: "things" },
    });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.group"]);
    assert.equal(res.body.details.causes[0].message, 'Invalid value: "local": should be a domain with at least one dot');
    // The group of a built-in type is reserved: a type there would be shadowed by the built-in of its name, or sit beside them.
    for (const [plural, kind] of [
      ["roles", "Role"],
      ["things", "Thing"],
    ]) {
      const name = `${plural}.rbac.authorization.k8s.io`;
      const rbac = await c.post("/apis/setpoint.dev/v1/resourcetypes", {
        metadata: { name },
        spec: { group: "rbac.authorization.k8s.io", version: "v1", kind, plural },
      });
      assertStatus(rbac, 422, "Invalid");
      assert.deepEqual(fieldSet(rbac), ["spec.group"]);
      assertStatus(await c.get(`/apis/setpoint.dev/v1/resourcetypes/${name}`), 404, "NotFound");
    }
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
    await ok(
      c.patch("/apis/setpoint.dev/v1/resourcetypes/evos.evolve.example.com", {
        spec: { schema: { spec: { type: "object", properties: { n: { type: "integer" } } } } },
      }),
    );
    const res = await c.post(`${base}/namespaces/${ns}/evos`, { metadata: { name: "b" }, spec: { n: "text" } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.n"]);
  });

  it("an object that no longer fits a tightened schema can still be written where the write leaves the misfit unchanged (kube's ratcheting)", async () => {
    const base = await createType(c, { group: "ratchet.example.com", kind: "Rat", plural: "rats" });
    const ns = freshNs();
    const path = `${base}/namespaces/${ns}/rats/a`;
    await created(c.post(`${base}/namespaces/${ns}/rats`, { metadata: { name: "a" }, spec: { n: "text", m: 1 } }));
    await ok(c.patch(`${path}/status`, { status: { phase: 7 } }));
    const intOnly = { type: "object", properties: { n: { type: "integer" }, m: { type: "integer" }, phase: { type: "string" } } };
    await ok(c.patch("/apis/setpoint.dev/v1/resourcetypes/rats.ratchet.example.com", { spec: { schema: { spec: intOnly, status: intOnly } } }));
    // Metadata-only writes: labels, a finalizer added and then removed (which must never be stuck).
    assert.deepEqual((await ok(c.patch(path, { metadata: { labels: { app: "web" }, finalizers: ["ratchet.example.com/f"] } }))).metadata.labels, {
      app: "web",
    });
    await ok(c.del(path));
    await ok(c.patch(path, { metadata: { finalizers: null } }));
    assertStatus(await c.get(path), 404, "NotFound");

    await created(c.post(`${base}/namespaces/${ns}/rats`, { metadata: { name: "b" }, spec: { n: 1, m: 1 } }));
    const store = t.server.store;
    // Written behind the API (as if stored before the schema changed): n is a string again.
    const key = { type: "rats.ratchet.example.com", namespace: ns, name: "b" };
    await store.write(key, (current, revision) => {
      const o = JSON.parse(current!.json);
      o.spec.n = "text";
      o.status = { phase: 7 };
      o.metadata.resourceVersion = String(revision);
      return { op: "put", object: JSON.stringify(o) };
    });
    const pathB = `${base}/namespaces/${ns}/rats/b`;
    // Another spec field changes, the misfit stays: accepted; the misfit changed to another misfit: 422.
    assert.equal((await ok(c.patch(pathB, { spec: { m: 2 } }))).metadata.generation, 2);
    const res = await c.patch(pathB, { spec: { n: "other" } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.n"]);
    // The same for status on the status subresource.
    await ok(c.patch(`${pathB}/status`, { status: { extra: 1 } }));
    assert.deepEqual(fieldSet(await c.patch(`${pathB}/status`, { status: { phase: 8 } })), ["status.phase"]);
    // A create is checked whole.
    assertStatus(await c.post(`${base}/namespaces/${ns}/rats`, { metadata: { name: "c" }, spec: { n: "text" } }), 422, "Invalid");
  });

  it("a type stored with printer columns the JSONPath parser now refuses is still served, with the default columns, and can still be updated", async () => {
    const g = "oldcols.example.com";
    const typePath = `/apis/setpoint.dev/v1/resourcetypes/olds.${g}`;
    const spec = { group: g, version: "v1", kind: "Old", plural: "olds", scope: "Namespaced" };
    await created(
      c.post("/apis/setpoint.dev/v1/resourcetypes", {
        metadata: { name: `olds.${g}` },
        spec: { ...spec, additionalPrinterColumns: [{ name: "App", type: "string", jsonPath: ".metadata.labels.app" }] },
      }),
    );
    const ns = freshNs();
    await created(c.post(`/apis/${g}/v1/namespaces/${ns}/olds`, { metadata: { name: "a", labels: { app: "x" } }, spec: { n: 1 } }));
    // Written behind the API, as the parser took it before it followed client-go (which refuses `["app"]`).
    await t.server.store.write({ type: "resourcetypes.setpoint.dev", namespace: "", name: `olds.${g}` }, (current, revision) => {
      const o = JSON.parse(current!.json);
      o.spec.additionalPrinterColumns[0].jsonPath = '.metadata.labels["app"]';
      o.metadata.resourceVersion = String(revision);
      return { op: "put", object: JSON.stringify(o) };
    });
    assert.equal((await ok(c.get(`/apis/${g}/v1/namespaces/${ns}/olds/a`))).spec.n, 1, "its objects are still served");
    // With replicas (the etcd suite), the one that answers may see a type's change a moment after the one that made it.
    const tableOnce = async (want: (table: any) => boolean) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const table = await ok(
          c.request("GET", `/apis/${g}/v1/namespaces/${ns}/olds`, { headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" } }),
        );
        if (want(table) || Date.now() > deadline) return table;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const columnNames = (table: any) => table.columnDefinitions.map((d: { name: string }) => d.name);
    const table = await tableOnce((x) => columnNames(x).length === 2);
    assert.deepEqual(columnNames(table), ["Name", "Age"], "kube-apiserver's fallback to default printing");
    // A change that leaves the columns alone is taken; new columns are checked.
    assert.equal((await ok(c.patch(typePath, { metadata: { labels: { team: "a" } } }))).metadata.labels.team, "a");
    assert.deepEqual((await ok(c.patch(typePath, { spec: { shortNames: ["ol"] } }))).spec.shortNames, ["ol"]);
    const res = await c.patch(typePath, { spec: { additionalPrinterColumns: [{ name: "App", type: "string", jsonPath: '.metadata.labels["other"]' }] } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(fieldSet(res), ["spec.additionalPrinterColumns[0].jsonPath"]);
    await ok(c.patch(typePath, { spec: { additionalPrinterColumns: [{ name: "App", type: "string", jsonPath: ".metadata.labels.app" }] } }));
    const fixed = await tableOnce((x) => x.rows[0]?.cells[1] === "x");
    assert.deepEqual(fixed.rows[0].cells.slice(0, 2), ["a", "x"]);
  });

  it("schema defaults fill in missing (or wrongly null) fields on writes, as kube defaults a custom resource", async () => {
    const spec = {
      type: "object",
      properties: {
        replicas: { type: "integer", default: 1 },
        opts: { type: "object", default: {}, properties: { mode: { type: "string", default: "fast" } } },
        items: { type: "array", items: { type: "object", properties: { w: { type: "integer", default: 2 } } } },
        note: { type: ["string", "null"], default: "n" },
      },
    };
    const status = { type: "object", properties: { phase: { type: "string", default: "Pending" } } };
    const g = "defaults.example.com";
    const base = await createType(c, { group: g, kind: "Def", plural: "defs", schema: { spec, status } });
    const ns = freshNs();
    const o = await created(c.post(`${base}/namespaces/${ns}/defs`, { metadata: { name: "a" }, spec: { replicas: null, items: [{}, { w: 5 }], note: null } }));
    assert.deepEqual(o.spec, { replicas: 1, items: [{ w: 2 }, { w: 5 }], note: null, opts: { mode: "fast" } });
    assert.equal(o.metadata.generation, 1);
    const path = `${base}/namespaces/${ns}/defs/a`;
    assert.deepEqual((await ok(c.patch(`${path}/status`, { status: {} }))).status, { phase: "Pending" });
    const put = await ok(c.put(path, { metadata: { name: "a" }, spec: { replicas: 3 } }));
    assert.deepEqual(put.spec, { replicas: 3, opts: { mode: "fast" }, note: "n" });
    assert.equal(put.metadata.generation, 2);
    // A default added to the schema later is no change of a metadata-only write: the generation stays.
    await ok(
      c.patch(`/apis/setpoint.dev/v1/resourcetypes/defs.${g}`, {
        spec: { schema: { spec: { ...spec, properties: { ...spec.properties, color: { type: "string", default: "red" } } } } },
      }),
    );
    const labelled = await ok(c.patch(path, { metadata: { labels: { a: "b" } } }));
    assert.equal(labelled.metadata.generation, 2);
    assert.equal(labelled.spec.color, "red");
  });

  it("cluster-scoped types live at /apis/G/V/PLURAL/NAME with no namespace", async () => {
    const o = await created(
      c.post(`${GV}/realms`, { apiVersion: `${GROUP}/v1`, kind: "Realm", metadata: { name: "earth", namespace: "ignored" }, spec: { size: 1 } }),
    );
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
    // acquireTime and renewTime are times (kube's MicroTime), in RFC 3339 with or without fractions.
    const badTimes = await c.post(path, { metadata: { name: "bad-times" }, spec: { acquireTime: "yesterday", renewTime: "1700000000" } });
    assertStatus(badTimes, 422, "Invalid");
    assert.deepEqual(fieldSet(badTimes), ["spec.acquireTime", "spec.renewTime"]);
    await created(c.post(path, { metadata: { name: "micro" }, spec: { acquireTime: "2026-11-25T10:00:00.123456Z", renewTime: "2026-11-25T10:00:00Z" } }));
    assert.deepEqual(names(await ok(c.get(path))), ["leader", "micro"]);
  });
});

describe("a write whose type changes between its checks and its commit", () => {
  it("starts over from the body as sent, on the new type: its defaults, its checks, one set of warnings, one object", async () => {
    const g = "midway.example.com";
    const typeKey = { type: "resourcetypes.setpoint.dev", namespace: "", name: `midways.${g}` };
    const before = { type: "object", properties: { n: { type: "string" }, d: { type: "string", default: "filled" } } };
    const after = { type: "object", properties: { n: { type: "string" }, d: { type: "integer" } } };
    let server: TestServer | undefined;
    let checks = 0;
    // The type's own check runs before the write; its first run changes the schema behind the API,
    // as another replica or worker would between this write's checks and its commit. On LMDB that
    // change is queued first, so it commits before the create is decided: deterministic here (on
    // etcd either may win; replicas.test races them there).
    const validators = new Map([
      [
        typeKey.name,
        () => {
          if (checks++ === 0) {
            void server!.server.store.write(typeKey, (current, revision) => {
              const rt = JSON.parse(current!.json);
              rt.spec.schema = { spec: after };
              rt.metadata.resourceVersion = String(revision);
              return { op: "put", object: JSON.stringify(rt) };
            });
          }
          return [];
        },
      ],
    ]);
    server = await startTestServer({ store: "lmdb" }, { validators });
    try {
      const client = api(server.url);
      const base = await createType(client, { group: g, kind: "Midway", plural: "midways", schema: { spec: before } });
      const res = await client.post(`${base}/namespaces/x/midways`, { metadata: { generateName: "m-" }, spec: { n: "a", u: 1 } });
      assert.equal(res.status, 201, res.text);
      assert.equal(checks, 2, "checked twice: on the type as resolved, then on the new one");
      // The old schema's default, filled in by the first run, did not stay in the body (the new schema refuses it: 422).
      assert.equal(res.body.spec.d, undefined, res.text);
      assert.deepEqual(warningTexts(res.headers.get("warning")), ['unknown field "spec.u"']);
      const listed = await client.get(`${base}/namespaces/x/midways`);
      assert.deepEqual(
        listed.body.items.map((o: { metadata: { name: string } }) => o.metadata.name),
        [res.body.metadata.name],
      );
    } finally {
      await server.stop();
    }
  });
});
