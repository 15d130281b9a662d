// The official Kubernetes Python client (Debian's python3-kubernetes 22.6)
// against a real server on 127.0.0.1 with a real LMDB directory and bearer
// token authentication: test/fixtures/python-client/probe.py uses it as people
// do (a kubeconfig and a hand-made Configuration, the dynamic client,
// CustomObjectsApi, watch.Watch) and prints one JSON line per check; this file
// asserts on the values. docs/kubectl.md ("Python client") says what is
// checked and what differs from kube-apiserver.
//
// Skipped where no Python can import the client, except under CI=true, where
// it fails (.ci/run installs python3-kubernetes), as the console's browser
// tests do for Chromium.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makePki } from "../helpers/pki.ts";
import { pythonClientSkipReason, runProbe, type ProbeRun } from "../helpers/python-client.ts";
import { api, startTestServer, type TestServer } from "../helpers/server.ts";

const TOKEN = "python-client-token";
const NOTES = "/apis/old.example.com/v1/namespaces/py-old/notes";

let s: TestServer;
let tls: TestServer;
let dir: string;
let run: ProbeRun;
let expiredRv: number;

/** The probe's line for `name`; fails with the probe's own error and trace when the check raised. */
function check(name: string): Record<string, any> {
  const line = run.checks.get(name);
  assert.ok(line, `probe.py printed no line for "${name}"; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  assert.equal(line.error, undefined, `check "${name}" raised in Python: ${line.error}\n${line.trace ?? ""}`);
  return line;
}

/** What the probe saw of an ApiException, reduced to what kube-apiserver fixes. */
const statusOf = (e: Record<string, any>) => ({ status: e.status, reason: e.reason, bodyKind: e.body_kind, bodyReason: e.body_reason, bodyCode: e.body_code });

describe("the Kubernetes Python client (python3-kubernetes)", { skip: pythonClientSkipReason() }, () => {
  before(async () => {
    s = await startTestServer({ token: TOKEN });
    const c = api(s.url, { token: TOKEN });
    // A type whose early history is compacted away, for the 410 checks.
    const type = {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: "notes.old.example.com" },
      spec: { group: "old.example.com", version: "v1", kind: "Note", plural: "notes", scope: "Namespaced" },
    };
    assert.equal((await c.post("/apis/setpoint.dev/v1/resourcetypes", type)).status, 201);
    const first = await c.post(NOTES, { metadata: { name: "n0" }, spec: {} });
    assert.equal(first.status, 201, first.text);
    expiredRv = Number(first.body.metadata.resourceVersion);
    for (let i = 1; i < 4; i++) assert.equal((await c.post(NOTES, { metadata: { name: `n${i}` }, spec: {} })).status, 201);
    s.skipTime(1000); // every change so far is older than the window
    await s.server.store.compact({ minEvents: 0, windowMs: 0 });
    assert.ok(s.server.store.compacted() > expiredRv, "compaction must pass the first note's revision");
    // The same client over TLS, as kubeconfigs usually have it: a second server with a serving certificate and a client CA.
    dir = mkdtempSync(join(tmpdir(), "setpoint-python-tls-"));
    const pki = makePki(dir);
    const serving = pki.server("serving");
    const cert = pki.client("py-cert", ["system:masters"]);
    const other = makePki(mkdtempSync(join(dir, "other-")), "other-ca");
    tls = await startTestServer({ token: TOKEN, tlsCertFile: serving.cert, tlsPrivateKeyFile: serving.key, clientCaFile: pki.caCert });
    assert.match(tls.url, /^https:\/\//);
    run = await runProbe([
      ...["--server", s.url, "--token", TOKEN, "--expired-rv", String(expiredRv), "--notes", "notes.old.example.com"],
      ...["--tls-server", tls.url, "--ca-file", pki.caCert, "--client-cert", cert.cert, "--client-key", cert.key, "--other-ca-file", other.caCert],
    ]);
  });
  after(async () => {
    await s?.stop();
    await tls?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs every check to the end", () => {
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.checks.has("done"), run.stdout);
    const failed = [...run.checks.values()].filter((l) => l.error !== undefined).map((l) => `${l.check}: ${l.error}`);
    assert.deepEqual(failed, []);
    // Written against 22.6 (Debian 12); no check relies on a quirk of that version.
    assert.match(check("client").version, /^\d+\.\d+\.\d+/);
  });

  it("configuration: load_kube_config with a bearer token, and Configuration(host, api_key)", () => {
    const k = check("kubeconfig");
    assert.equal(k.host, s.url);
    assert.equal(k.namespace, "py");
    assert.equal(k.major, "1");
    assert.match(k.gitVersion, /^v1\.\d+\.\d+/);
    const b = check("bearer");
    for (const group of ["old.example.com", "rbac.authorization.k8s.io", "setpoint.dev"]) assert.ok(b.groups.includes(group), `${group} in ${b.groups}`);
    assert.deepEqual(statusOf(b.wrongToken), { status: 401, reason: "Unauthorized", bodyKind: "Status", bodyReason: "Unauthorized", bodyCode: 401 });
  });

  it("over TLS: a kubeconfig with certificate-authority-data and a token or a client certificate; 401 without; another CA is refused", () => {
    assert.deepEqual(check("tls"), {
      check: "tls",
      host: tls.url,
      token: { allowed: true, listKind: "ResourceTypeList" },
      cert: { allowed: true, listKind: "ResourceTypeList" },
      anonymousVersion: "1",
      anonymous: 401,
      untrustedIsSslError: true,
      watchEnded: ["BOOKMARK"],
    });
  });

  it("dynamic client: discovers ResourceTypes created a moment before, with their status subresource", () => {
    const d = check("discovery");
    assert.deepEqual(d.widgets, {
      name: "widgets",
      namespaced: true,
      kind: "Widget",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      subresources: ["status"],
    });
    assert.deepEqual(d.gadgets, { name: "gadgets", namespaced: false, subresources: ["status"] });
    assert.equal(d.rtList, "ResourceTypeList");
  });

  it("dynamic client: create, get, list with label and field selectors, pages with limit and continue", () => {
    const c = check("create-get");
    assert.deepEqual(c.createdKinds, ["Widget"]);
    const rvs = c.createdRvs as number[];
    assert.deepEqual(
      rvs,
      [...rvs].sort((a, b) => a - b),
    );
    assert.deepEqual(c.get, { name: "c", namespace: "py", size: 2, generation: 1, uid: true });
    const l = check("list");
    assert.equal(l.kind, "WidgetList");
    assert.deepEqual(l.web, ["a", "c", "e"]);
    assert.deepEqual(l.notWeb, ["b", "d"]);
    assert.deepEqual(l.byName, ["b"]);
    assert.deepEqual(l.allNamespaces, ["a", "b", "c", "d", "e"]);
    assert.deepEqual(l.pages, [["a", "b"], ["c", "d"], ["e"]]);
    assert.equal(l.lastContinue, null);
    assert.equal(l.listRvIsNumber, true);
  });

  it("dynamic client: replace with resourceVersion, a stale one (409 Conflict), and without one", () => {
    const r = check("replace");
    assert.equal(r.replacedSize, 10);
    assert.equal(r.rvGrew, true);
    assert.equal(r.generation, 2);
    assert.equal(r.conflict.exception, "ConflictError");
    assert.deepEqual(statusOf(r.conflict), { status: 409, reason: "Conflict", bodyKind: "Status", bodyReason: "Conflict", bodyCode: 409 });
    assert.match(r.conflict.body_message, /^Operation cannot be fulfilled on widgets\.probe\.example\.com "a": the object has been modified/);
    assert.equal(r.unconditionalSize, 12);
  });

  it("dynamic client: merge patch, JSON patch (a failed test op is 422), strategic merge patch is 415 as for a kube custom resource", () => {
    const p = check("patch");
    assert.deepEqual(p.merge, { labels: { app: "db", tier: "t1", patched: "yes" }, colour: "red", size: 1 });
    assert.deepEqual(p.json, { size: 7, colour: "red" });
    assert.deepEqual(statusOf(p.failedTest), { status: 422, reason: "Unprocessable Entity", bodyKind: "Status", bodyReason: "Invalid", bodyCode: 422 });
    assert.deepEqual(statusOf(p.strategic), {
      status: 415,
      reason: "Unsupported Media Type",
      bodyKind: "Status",
      bodyReason: "UnsupportedMediaType",
      bodyCode: 415,
    });
  });

  it("dynamic client: the status subresource's patch, get and replace change status only", () => {
    assert.deepEqual(check("status"), {
      check: "status",
      subresource: "widgets/status",
      patchedPhase: "Ready",
      getPhase: "Ready",
      replacedPhase: "Done",
      specUnchanged: 2,
      generationUnchanged: true,
    });
  });

  it("dynamic client: 404 NotFound, 409 AlreadyExists and 422 Invalid as ApiExceptions carrying kube's Status", () => {
    const e = check("errors");
    for (const key of ["notFound", "deleteMissing"]) {
      assert.equal(e[key].exception, "NotFoundError");
      assert.deepEqual(statusOf(e[key]), { status: 404, reason: "Not Found", bodyKind: "Status", bodyReason: "NotFound", bodyCode: 404 });
      assert.equal(e[key].body_message, 'widgets.probe.example.com "nope" not found');
      assert.deepEqual([e[key].details_kind, e[key].details_name], ["widgets", "nope"]);
    }
    assert.equal(e.alreadyExists.exception, "ConflictError");
    assert.deepEqual(statusOf(e.alreadyExists), { status: 409, reason: "Conflict", bodyKind: "Status", bodyReason: "AlreadyExists", bodyCode: 409 });
    assert.equal(e.alreadyExists.body_message, 'widgets.probe.example.com "a" already exists');
    assert.equal(e.invalid.exception, "UnprocessibleEntityError");
    assert.equal(e.invalid.isApiException, true);
    assert.deepEqual(statusOf(e.invalid), { status: 422, reason: "Unprocessable Entity", bodyKind: "Status", bodyReason: "Invalid", bodyCode: 422 });
    assert.deepEqual(e.invalid.causes, ["metadata.name", "spec.size"]);
    assert.match(
      e.invalid.body_message,
      /^Widget\.probe\.example\.com "Bad_Name" is invalid: \[metadata\.name: Invalid value: "Bad_Name": .*, spec\.size: Invalid value: -1: spec\.size in body should be greater than or equal to 0\]$/,
    );
    assert.deepEqual([e.invalid.details_kind, e.invalid.details_name], ["Widget", "Bad_Name"]);
  });

  it("watch.Watch().stream: every change from a resourceVersion in order; live changes; one object by field selector", () => {
    const w = check("watch");
    assert.deepEqual(w.replayAdded, ["a", "b", "c", "d", "e"]);
    assert.equal(w.ordered, true);
    assert.deepEqual(w.live, [
      { type: "ADDED", name: "live" },
      { type: "DELETED", name: "live" },
    ]);
    assert.equal(w.liveAfterHead, true);
    assert.deepEqual(w.oneObject, ["a"]);
  });

  it("watch with allow_watch_bookmarks and timeout_seconds ends by itself, its last event a bookmark at the head", () => {
    const b = check("watch-bookmarks");
    assert.equal(b.endedByItself, true);
    assert.equal(b.lastIsBookmark, true);
    assert.equal(b.bookmarkKind, "Widget");
    assert.equal(b.bookmarkAtLeastHead, true);
    assert.ok(b.types.includes("ADDED") && b.types.includes("MODIFIED"), JSON.stringify(b.types));
  });

  it("a watch or Exact list at a compacted revision: 410 Expired, which the client raises (after its one retry)", () => {
    const x = check("expired");
    assert.equal(x.watch.status, 410);
    assert.equal(x.watch.reason, `Expired: too old resource version: ${expiredRv} (${s.server.store.compacted()})`);
    assert.deepEqual(x.watchRetried, x.watch);
    assert.deepEqual(statusOf(x.listExact), { status: 410, reason: "Gone", bodyKind: "Status", bodyReason: "Expired", bodyCode: 410 });
    assert.equal(x.relist, 4);
  });

  it("dynamic client: delete one (its last state), deletecollection by label selector (the deleted list)", () => {
    assert.deepEqual(check("delete"), {
      check: "delete",
      deletedKind: "Widget",
      deletedName: "e",
      gone: 404,
      collectionKind: "WidgetList",
      collectionNames: ["b", "d"],
      left: ["a", "c"],
    });
  });

  it("Setpoint's own Lease (setpoint.dev/v1) through the dynamic client; coordination.k8s.io is not served", () => {
    const l = check("lease");
    assert.equal(l.holder, "py");
    assert.equal(l.coordinationV1.status, 404);
  });

  it("CustomObjectsApi, namespaced: create, get, list, patch, replace (stale: 409), status get/patch/replace, watch, delete, delete_collection", () => {
    const c = check("custom-namespaced");
    assert.equal(c.created, "x");
    assert.deepEqual(c.listed, ["x"]);
    assert.equal(c.listKind, "WidgetList");
    assert.equal(c.patchedSize, 2);
    assert.equal(c.replacedSize, 3);
    assert.deepEqual(c.staleReplace, { status: 409, body_reason: "Conflict" });
    assert.equal(c.statusPatched, "Ready");
    assert.equal(c.statusReplaced, "Done");
    assert.equal(c.statusKeepsSpec, 3);
    assert.deepEqual(c.watch, [
      ["ADDED", "x"],
      ["MODIFIED", "x"],
      ["MODIFIED", "x"],
      ["MODIFIED", "x"],
      ["MODIFIED", "x"],
    ]);
    const d = c.staleDelete;
    assert.deepEqual([d.status, d.body_reason], [409, "Conflict"]);
    assert.equal(
      d.body_message,
      `Operation cannot be fulfilled on Widget.probe.example.com "x": the ResourceVersion in the precondition (${d.createdRv}) does not match the ResourceVersion in record (${d.currentRv}). The object might have been modified`,
    );
    assert.equal(c.deleted, "x", "a delete whose uid precondition holds");
    assert.equal(c.missing, 404);
    assert.deepEqual(c.collection, ["y"]);
  });

  it("CustomObjectsApi, cluster-scoped: create, get, list, patch, replace, status, watch, AlreadyExists, delete, delete_collection", () => {
    const c = check("custom-cluster");
    assert.equal(c.created, "g1");
    assert.equal(c.namespace, null);
    assert.deepEqual(c.listed, ["g1"]);
    assert.equal(c.patched, 5);
    assert.equal(c.replaced, 6);
    assert.deepEqual(c.statusPatched, { ok: true });
    assert.deepEqual(c.statusReplaced, { ok: false });
    assert.deepEqual(c.watch, [
      ["ADDED", "g1"],
      ["ADDED", "g2"],
      ["MODIFIED", "g1"],
      ["MODIFIED", "g1"],
      ["MODIFIED", "g1"],
      ["MODIFIED", "g1"],
    ]);
    assert.deepEqual(c.duplicate, { status: 409, body_reason: "AlreadyExists" });
    assert.equal(c.deleted, "g1");
    assert.deepEqual(c.collection, ["g2"]);
    assert.deepEqual(c.left, []);
  });
});
