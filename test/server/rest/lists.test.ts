// REST contract (API.md §4), against the real server over real HTTP: lists
// (selectors, pagination, consistency, expiry) and the query parameters of
// watch requests.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertStatus, causeFields, watchUntil, type Reply } from "../../helpers/server.ts";
import { c, created, freshNs, gadget, gadgets, GROUP, GV, head, names, ok, rv, t, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

describe("list", () => {
  it("has the List shape and items in (namespace, name) order, within and across namespaces", async () => {
    const base = freshNs();
    const [nb, na] = [`${base}-b`, `${base}-a`];
    for (const [ns, n] of [
      [nb, "y"],
      [na, "z"],
      [nb, "a"],
      [na, "b"],
      [nb, "m.2"],
      [nb, "m-1"],
    ] as const) {
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

  it("resourceVersionMatch=Exact serves the state at exactly that revision; bad combinations are 422 as kube's ListOptions", async () => {
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
    // kube-apiserver validates ListOptions after decoding them: 422 Invalid of kind ListOptions.meta.k8s.io.
    for (const [q, field, reason] of [
      ["resourceVersionMatch=Exact", "resourceVersionMatch", "FieldValueForbidden"],
      [`resourceVersion=${rv(a)}&resourceVersionMatch=Sometimes`, "resourceVersionMatch", "FieldValueNotSupported"],
      ["resourceVersion=0&resourceVersionMatch=Exact", "resourceVersionMatch", "FieldValueForbidden"],
      ["sendInitialEvents=true", "sendInitialEvents", "FieldValueForbidden"],
    ] as const) {
      const res = await c.get(`${gadgets(ns)}?${q}`);
      assertStatus(res, 422, "Invalid");
      const status = res.body as Record<string, any>;
      assert.match(status.message, /^ListOptions\.meta\.k8s\.io "" is invalid: /, q);
      assert.equal(status.details.kind, "ListOptions", q);
      assert.equal(status.details.group, "meta.k8s.io", q);
      assert.deepEqual(
        status.details.causes.map((x: Record<string, string>) => [x.field, x.reason]),
        [[field, reason]],
        q,
      );
    }
    // A continue token with resourceVersionMatch: forbidden too.
    await created(c.post(gadgets(ns), gadget("c")));
    const p1 = await ok(c.get(`${gadgets(ns)}?limit=1`));
    const res = await c.get(`${gadgets(ns)}?limit=1&continue=${encodeURIComponent(p1.metadata.continue)}&resourceVersion=0&resourceVersionMatch=NotOlderThan`);
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(causeFields(res), ["resourceVersionMatch"]);
    // Every error at once, as kube gathers them, and before the storage's 400 for a resourceVersion beside a continue token.
    const token = encodeURIComponent(p1.metadata.continue);
    const all = await c.get(`${gadgets(ns)}?continue=${token}&resourceVersion=${rv(a)}&resourceVersionMatch=Sometimes&sendInitialEvents=false`);
    assertStatus(all, 422, "Invalid");
    assert.equal(
      all.body.message,
      'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided, ' +
        'resourceVersionMatch: Unsupported value: "Sometimes": supported values: "Exact", "NotOlderThan", "", ' +
        "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list]",
    );
    assert.deepEqual(causeFields(all), ["resourceVersionMatch", "resourceVersionMatch", "sendInitialEvents"]);
    const watch = await c.get(`${gadgets(ns)}?watch=true&continue=${token}&resourceVersionMatch=Exact`);
    assertStatus(watch, 422, "Invalid");
    assert.deepEqual(causeFields(watch), ["resourceVersionMatch", "resourceVersionMatch", "resourceVersionMatch"]);
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
    assert.deepEqual(
      (across.items as Array<Record<string, any>>).map((i) => `${i.metadata.namespace}/${i.metadata.name}`),
      [`${n2}/a`],
    );
    const both = await q(`${GV}/gadgets`, `metadata.name=a,metadata.namespace=${n1}`);
    assert.deepEqual(
      (both.items as Array<Record<string, any>>).map((i) => `${i.metadata.namespace}/${i.metadata.name}`),
      [`${n1}/a`],
    );
    const nameAcross = await q(`${GV}/gadgets`, "metadata.name=a");
    const nsOfA = (nameAcross.items as Array<Record<string, any>>).map((i) => i.metadata.namespace).filter((x) => x === n1 || x === n2);
    assert.deepEqual(nsOfA, [n1, n2]);
    assert.deepEqual(names(await q(gadgets(n1), `metadata.namespace=${n2}`)), []);
    const bad = await c.get(`${gadgets(n1)}?fieldSelector=${encodeURIComponent("spec.x=1")}`);
    assertStatus(bad, 400, "BadRequest");
  });

  it("fieldSelector values take kube's escapes (\\, \\= \\\\); a bad escape is 400 naming fieldSelector", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("a")));
    const q = (sel: string) => c.get(`${gadgets(ns)}?fieldSelector=${encodeURIComponent(sel)}`);
    // No name holds `,`, `=` or `\`: the escaped values parse and match nothing.
    for (const sel of ["metadata.name=a\\,b", "metadata.name=a\\=b", "metadata.name=a\\\\b", "metadata.name!=a\\,b,metadata.namespace!=x\\=y"]) {
      const reply = await q(sel);
      assert.equal(reply.status, 200, `${sel}: ${JSON.stringify(reply.body)}`);
    }
    assert.deepEqual(names(await ok(q("metadata.name=a\\,b"))), []);
    assert.deepEqual(names(await ok(q("metadata.name!=a\\,b"))), ["a"]);
    const badEscape = await q("metadata.name=a\\b");
    assertStatus(badEscape, 400, "BadRequest");
    assert.equal(badEscape.body.message, "invalid field selector: invalid escape sequence: \\b");
    assert.deepEqual(causeFields(badEscape), ["fieldSelector"]);
    const bare = await q("metadata.name=a=b");
    assertStatus(bare, 400, "BadRequest");
    assert.equal(bare.body.message, "invalid field selector: unescaped character in value: 61");
  });

  it("labelSelector and fieldSelector combine with limit: filtered items count toward the page", async () => {
    const ns = freshNs();
    for (let i = 0; i < 6; i++) await created(c.post(gadgets(ns), gadget(`i${i}`, { labels: { even: String(i % 2 === 0) } })));
    const seen: string[] = [];
    let token: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await ok(c.get(`${gadgets(ns)}?labelSelector=even%3Dtrue&limit=2${token ? `&continue=${encodeURIComponent(token)}` : ""}`));
      assert.ok(page.items.length <= 2);
      // As kube: a list with a selector does not count what follows a page.
      assert.equal(page.metadata.remainingItemCount, undefined);
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
    // kube's remainingItemCount: the items after a page cut by limit, at the page's revision (a list without selectors).
    assert.deepEqual(Object.keys(p1.metadata), ["resourceVersion", "continue", "remainingItemCount"]);
    assert.equal(p1.metadata.remainingItemCount, 4);
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
    assert.equal(p2.metadata.remainingItemCount, 2, "n5 and n6 follow at page 1's revision (n6 deleted since)");
    assert.ok(Number(p2.items[0].metadata.resourceVersion) <= Number(at));
    const p3 = await ok(c.get(`${gadgets(ns)}?limit=2&continue=${encodeURIComponent(p2.metadata.continue)}`));
    assert.equal(p3.metadata.resourceVersion, at);
    assert.deepEqual(names(p3), ["n5", "n6"]);
    assert.ok(!p3.metadata.continue, "the last page has no continue token");
    assert.equal(p3.metadata.remainingItemCount, undefined, "nor a remaining count");
    // A first page past the server's bound (10,000 items after it) carries no count in its
    // token: the next pages count nothing either (each would read as many keys again).
    const uncounted = JSON.parse(Buffer.from(p1.metadata.continue, "base64url").toString());
    assert.equal(uncounted.r, 4, "the token carries page 1's count");
    delete uncounted.r;
    delete uncounted.ra;
    const token = Buffer.from(JSON.stringify(uncounted)).toString("base64url");
    const p2u = await ok(c.get(`${gadgets(ns)}?limit=2&continue=${encodeURIComponent(token)}`));
    assert.deepEqual(names(p2u), ["n3", "n4"]);
    assert.equal(p2u.metadata.remainingItemCount, undefined, "a page after an uncounted one is not counted");
    // across namespaces, and at the newest revision
    const across = await ok(c.get(`${GV}/gadgets?limit=1`));
    const every = await ok(c.get(`${GV}/gadgets?resourceVersion=${across.metadata.resourceVersion}&resourceVersionMatch=Exact`));
    assert.equal(across.metadata.remainingItemCount, every.items.length - 1);
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
    assert.equal(big.metadata.remainingItemCount, undefined);
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
    // It waited for the store to catch up before giving up (the client's 15 s timeout bounds it above).
    assert.ok(took >= 2500, `waited ${took} ms`);
    // As kube-apiserver: NewTimeoutError's words, and Retry-After beside details.retryAfterSeconds.
    assert.match((res.body as Record<string, any>).message, /^Timeout: Too large resource version: \d+, current: \d+$/);
    assert.equal(res.headers.get("retry-after"), "1");
    // kube's shape, by which client-go's reflector recognises it (apierrors.IsTooLargeResourceVersion) and relists.
    assert.deepEqual((res.body as Record<string, any>).details, {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version", field: "" }],
      retryAfterSeconds: 1,
    });
  });

  it("a continue token whose revision was compacted is 410 Expired", async () => {
    const ns = freshNs();
    for (const n of ["a", "b", "c"]) await created(c.post(gadgets(ns), gadget(n)));
    const p1 = await ok(c.get(`${gadgets(ns)}?limit=1`));
    await created(c.post(gadgets(ns), gadget("d")));
    await created(c.post(gadgets(ns), gadget("e")));
    t.skipTime(1000); // every change so far is older than the window
    await t.server.store.compact({ minEvents: 0, windowMs: 0 });
    assert.ok(t.server.store.compacted() > Number(p1.metadata.resourceVersion));
    const res = await c.get(`${gadgets(ns)}?limit=1&continue=${encodeURIComponent(p1.metadata.continue)}`);
    assertStatus(res, 410, "Expired");
    // a fresh list still works
    assert.deepEqual(names(await ok(c.get(gadgets(ns)))), ["a", "b", "c", "d", "e"]);
    // An exact list at the compacted revision: 410 in kube's words for a list (not a watch's).
    const exact = await c.get(`${gadgets(ns)}?resourceVersion=${p1.metadata.resourceVersion}&resourceVersionMatch=Exact`);
    assertStatus(exact, 410, "Expired");
    assert.equal(exact.body.message, "The resourceVersion for the provided list is too old.");
  });

  it("a compacted continue token's 410 carries kube's fresh token, which goes on after the last key at the newest revision", async () => {
    const ns = freshNs();
    for (const n of ["a", "b", "c"]) await created(c.post(gadgets(ns), gadget(n)));
    const p1 = await ok(c.get(`${gadgets(ns)}?limit=1`));
    assert.deepEqual(names(p1), ["a"]);
    await c.del(`${gadgets(ns)}/b`);
    await created(c.post(gadgets(ns), gadget("d")));
    t.skipTime(1000);
    await t.server.store.compact({ minEvents: 0, windowMs: 0 });
    const res = await c.get(`${gadgets(ns)}?limit=1&continue=${encodeURIComponent(p1.metadata.continue)}`);
    assertStatus(res, 410, "Expired");
    const status = res.body as Record<string, any>;
    // kube-apiserver's words (etcd3 store, handleCompactedErrorForPaging) and its ListMeta.continue
    assert.match(status.message, /use the continue token in this response to retrieve the remainder of the results/);
    const fresh = status.metadata?.continue;
    assert.equal(typeof fresh, "string", res.text);
    assert.notEqual(fresh, p1.metadata.continue);
    // The fresh token lists what follows "a" now (b deleted, d created), a page at a time, at the newest revision.
    const h = await head();
    const p2 = await ok(c.get(`${gadgets(ns)}?limit=1&continue=${encodeURIComponent(fresh)}`));
    assert.deepEqual(names(p2), ["c"]);
    assert.ok(Number(p2.metadata.resourceVersion) >= h);
    const p3 = await ok(c.get(`${gadgets(ns)}?limit=1&continue=${encodeURIComponent(p2.metadata.continue)}`));
    assert.deepEqual(names(p3), ["d"]);
    assert.equal(p3.metadata.resourceVersion, p2.metadata.resourceVersion, "later pages stay at the fresh page's revision");
  });

  it("bad continue, limit and resourceVersion parameters are 400", async () => {
    const ns = freshNs();
    // timeoutSeconds means nothing to a list, but kube decodes it as a number all the same.
    for (const q of [
      "continue=garbage",
      "limit=abc",
      "limit=1.5",
      "limit=9223372036854775808",
      "resourceVersion=abc",
      "resourceVersion=-5",
      "resourceVersion=1.5",
      "timeoutSeconds=x",
    ]) {
      const res = await c.get(`${gadgets(ns)}?${q}`);
      assertStatus(res, 400, "BadRequest");
    }
    // As kube decodes them (Go's int64): a sign is allowed, 0 or less is no limit, and any int64 is a limit.
    for (const n of ["a", "b"]) await created(c.post(gadgets(ns), gadget(n)));
    for (const [q, want] of [
      ["limit=-1", ["a", "b"]],
      ["limit=-9223372036854775808", ["a", "b"]],
      ["limit=9223372036854775807", ["a", "b"]],
      ["limit=%2B1", ["a"]],
      ["timeoutSeconds=-3", ["a", "b"]],
    ] as const) {
      assert.deepEqual(names(await ok(c.get(`${gadgets(ns)}?${q}`))), want, q);
    }
    await ok(c.get(`${gadgets(ns)}?watch=true&limit=-1&timeoutSeconds=1`));
    // A continue token carries its revision: another resourceVersion beside it is 400, as in kube ("0" is allowed).
    const p1 = await ok(c.get(`${gadgets(ns)}?limit=1`));
    const cont = encodeURIComponent(p1.metadata.continue);
    const both = await c.get(`${gadgets(ns)}?limit=1&continue=${cont}&resourceVersion=${p1.metadata.resourceVersion}`);
    assertStatus(both, 400, "BadRequest");
    assert.deepEqual(causeFields(both), ["resourceVersion"]);
    assert.deepEqual(names(await ok(c.get(`${gadgets(ns)}?limit=1&continue=${cont}&resourceVersion=0`))), ["b"]);
    // A token continues the list it came from: on another namespace's list it is 400 (the store
    // would resume at the token's key and read the namespaces between).
    const other = freshNs();
    for (const n of ["y", "z"]) await created(c.post(gadgets(other), gadget(n)));
    const [first, second] = [ns, other].sort();
    const early = encodeURIComponent((await ok(c.get(`${gadgets(first!)}?limit=1`))).metadata.continue);
    const foreign = await c.get(`${gadgets(second!)}?limit=5&continue=${early}`);
    assertStatus(foreign, 400, "BadRequest");
    assert.deepEqual(causeFields(foreign), ["continue"]);
    assertStatus(await c.get(`${GV}/gadgets?fieldSelector=metadata.namespace%3D${second}&continue=${early}`), 400, "BadRequest");
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

  it("booleans in any case, as Python's Kubernetes client sends them (watch=True)", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("first")));
    const end = await watchUntil(`${t.url}${gadgets(ns)}?watch=True&allowWatchBookmarks=TRUE&sendInitialEvents=True`, (e) => e.type === "BOOKMARK");
    assert.equal(end.object?.metadata?.annotations?.["k8s.io/initial-events-end"], "true");
  });

  it("booleans as kube-apiserver decodes them: absent, 0 or false (any case) are false, anything else true", async () => {
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("first")));
    // `yes`, a bare parameter and Go's `f` are all true to kube (apimachinery's Convert_Slice_string_To_bool); they were 400 here.
    for (const query of [
      "allowWatchBookmarks=yes&sendInitialEvents=yes",
      "allowWatchBookmarks&sendInitialEvents",
      "allowWatchBookmarks=f&sendInitialEvents=2",
    ]) {
      const end = await watchUntil(`${t.url}${gadgets(ns)}?watch=true&${query}`, (e) => e.type === "BOOKMARK");
      assert.equal(end.object?.metadata?.annotations?.["k8s.io/initial-events-end"], "true", query);
    }
    // A list with sendInitialEvents present at all, empty or false, is refused as by kube's ListOptions validation.
    for (const value of ["", "false"]) {
      const res = await c.get(`${gadgets(ns)}?sendInitialEvents=${value}`);
      assertStatus(res, 422, "Invalid");
    }
  });

  it("bad watch parameters are 400 before any stream starts", async () => {
    for (const query of ["timeoutSeconds=-1", "timeoutSeconds=x", "resourceVersion=x", "labelSelector=a%20in%20(", "limit=x"]) {
      assertStatus(await c.get(`${gadgets("x")}?watch=true&${query}`), 400, "BadRequest");
    }
  });

  it("resourceVersionMatch on a watch: NotOlderThan with sendInitialEvents only, else 422 as kube's ListOptions", async () => {
    for (const [query, reason] of [
      ["sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1", "FieldValueNotSupported"],
      ["resourceVersionMatch=NotOlderThan", "FieldValueForbidden"],
    ] as const) {
      const res = await c.get(`${gadgets("x")}?watch=true&${query}`);
      assertStatus(res, 422, "Invalid");
      assert.equal((res.body as Record<string, any>).details.kind, "ListOptions", query);
      assert.deepEqual(
        (res.body as Record<string, any>).details.causes.map((x: Record<string, string>) => [x.field, x.reason]),
        [["resourceVersionMatch", reason]],
        query,
      );
    }
    // What client-go's WatchList sends is served.
    const ns = freshNs();
    await created(c.post(gadgets(ns), gadget("first")));
    const end = await watchUntil(
      `${t.url}${gadgets(ns)}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
      (e) => e.type === "BOOKMARK",
    );
    assert.equal(end.object?.metadata?.annotations?.["k8s.io/initial-events-end"], "true");
  });
});
