// kubectl (1.32) against a real server on an ephemeral port: the first hour of
// a Kubernetes user. Every command gets `--server URL` and a KUBECONFIG, HOME
// and cache directory of its own, so the user's own config is never read or
// changed. Checks api-resources, api-versions, version (no skew warning), get
// with printer columns (and by short name and category), explain, and get -w.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PIPELINE_RUN_RESOURCE_TYPE } from "../../src/pipelines/resource-type.ts";
import { kubectlFor, type Kubectl } from "../helpers/kubectl.ts";
import { api, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const RUNS = "/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns";

let s: TestServer;
let c: ApiClient;
let k: Kubectl;

const kubectl = (...args: string[]) => k.run(...args);

/** Lines of a kubectl table split on runs of spaces. */
const rows = (text: string): string[][] =>
  text
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s{2,}/));

before(async () => {
  s = await startTestServer();
  k = kubectlFor(s.url);
  c = api(s.url);
  assert.equal((await c.post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE)).status, 201);
  const created = await c.post(RUNS, {
    metadata: { name: "diamond" },
    spec: {
      tasks: [
        { name: "a", run: "true" },
        { name: "b", run: "true", runAfter: ["a"] },
      ],
    },
  });
  assert.equal(created.status, 201, created.text);
  const status = { phase: "Running", progress: "1/2", startTime: new Date().toISOString(), message: "1 of 2 tasks succeeded; running b" };
  assert.equal((await c.put(`${RUNS}/diamond/status`, { ...created.body, status })).status, 200);
});
after(async () => {
  await s?.stop();
  k?.close();
});

describe("kubectl", () => {
  it("api-resources exits 0 and lists every type with short names and categories", async () => {
    const r = await kubectl("api-resources", "-o", "wide");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const byName = new Map(
      rows(r.stdout)
        .slice(1)
        .map((cells) => [cells[0], cells]),
    );
    assert.deepEqual(rows(r.stdout)[0]!.slice(0, 5), ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
    assert.deepEqual(byName.get("pipelineruns")?.slice(0, 5), ["pipelineruns", "pr", "ci.setpoint.dev/v1", "true", "PipelineRun"]);
    assert.equal(byName.get("pipelineruns")?.at(-1), "setpoint,pipelines");
    assert.deepEqual(byName.get("resourcetypes")?.slice(0, 5), ["resourcetypes", "rt", "setpoint.dev/v1", "false", "ResourceType"]);
    assert.ok(byName.has("leases"));
  });

  it("api-versions exits 0 and lists the groups", async () => {
    const r = await kubectl("api-versions");
    assert.equal(r.code, 0, r.stderr);
    const served = ((await c.get("/apis")).body.groups as Array<{ versions: Array<{ groupVersion: string }> }>).flatMap((g) =>
      g.versions.map((v) => v.groupVersion),
    );
    assert.deepEqual(r.stdout.trim().split("\n").sort(), served.sort());
    assert.ok(served.includes("ci.setpoint.dev/v1") && served.includes("setpoint.dev/v1"));
  });

  it("version: no skew warning, Setpoint's version visible", async () => {
    const r = await kubectl("version");
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /WARNING/);
    assert.match(r.stdout, /^Server Version: v1\.32\.0-setpoint\.\d+\.\d+\.\d+/m);
  });

  it("get shows the printer columns, by plural, short name and category; -o wide adds the priority ones", async () => {
    for (const what of ["pipelineruns", "pr"]) {
      const r = await kubectl("get", what);
      assert.equal(r.code, 0, r.stderr);
      const [head, row] = rows(r.stdout);
      assert.deepEqual(head, ["NAME", "PHASE", "PROGRESS", "STARTED", "DURATION", "AGE"]);
      assert.deepEqual(row!.slice(0, 3), ["diamond", "Running", "1/2"]);
    }
    const wide = await kubectl("get", "pr", "-o", "wide");
    assert.deepEqual(rows(wide.stdout)[0], ["NAME", "PHASE", "PROGRESS", "STARTED", "DURATION", "MESSAGE", "AGE"]);
    assert.match(wide.stdout, /1 of 2 tasks succeeded; running b/);
    const one = await kubectl("get", "pr", "diamond");
    assert.equal(rows(one.stdout).length, 2);
    const category = await kubectl("get", "setpoint");
    assert.equal(category.code, 0, category.stderr);
    assert.match(category.stdout, /pipelinerun\.ci\.setpoint\.dev\/diamond\s+Running\s+1\/2/);
    assert.match(category.stdout, /resourcetype\.setpoint\.dev\/pipelineruns\.ci\.setpoint\.dev\s+PipelineRun\s+ci\.setpoint\.dev\s+v1/);
  });

  it("finds the review types the server answers, so that create -f a SelfSubjectAccessReview works (API.md §8)", async () => {
    const resources = await kubectl("api-resources", "--api-group", "authorization.k8s.io", "-o", "name");
    assert.equal(resources.code, 0, resources.stderr);
    assert.deepEqual(resources.stdout.trim().split("\n").sort(), [
      "selfsubjectaccessreviews.authorization.k8s.io",
      "selfsubjectrulesreviews.authorization.k8s.io",
    ]);
    const review = {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { group: "ci.setpoint.dev", resource: "pipelineruns", verb: "create", namespace: "default" } },
    };
    const file = join(k.home, "review.json");
    writeFileSync(file, JSON.stringify(review));
    const created = await kubectl("create", "-f", file, "-o", "json");
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).status.allowed, true);
    const whoami = await kubectl("api-resources", "--api-group", "authentication.k8s.io", "-o", "name");
    assert.equal(whoami.stdout.trim(), "selfsubjectreviews.authentication.k8s.io");
  });

  it("create role, rolebinding, clusterrole and clusterrolebinding (sent as protobuf) store what kubectl meant (API.md §8)", async () => {
    const RBAC = "/apis/rbac.authorization.k8s.io/v1";
    const made = [
      await kubectl("create", "role", "kr", "-n", "rbac", "--verb=get,list", "--resource=pipelineruns.ci.setpoint.dev", "--resource-name=diamond"),
      await kubectl("create", "rolebinding", "krb", "-n", "rbac", "--role=kr", "--user=bob", "--group=g1", "--serviceaccount=rbac:sa1"),
      await kubectl("create", "clusterrole", "kcr", "--verb=get", "--non-resource-url=/metrics"),
      await kubectl("create", "clusterrole", "kagg", "--aggregation-rule=a=b"),
      await kubectl("create", "clusterrolebinding", "kcrb", "--clusterrole=kcr", "--group=devs"),
    ];
    for (const r of made) assert.equal(r.code, 0, r.stderr);
    const role = await c.get(`${RBAC}/namespaces/rbac/roles/kr`);
    assert.deepEqual(role.body.rules, [{ apiGroups: ["ci.setpoint.dev"], resources: ["pipelineruns"], resourceNames: ["diamond"], verbs: ["get", "list"] }]);
    assert.equal(role.body.metadata.namespace, "rbac");
    const binding = await c.get(`${RBAC}/namespaces/rbac/rolebindings/krb`);
    assert.deepEqual(binding.body.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "kr" });
    assert.deepEqual(binding.body.subjects, [
      { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "bob" },
      { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "g1" },
      { kind: "ServiceAccount", name: "sa1", namespace: "rbac" },
    ]);
    assert.deepEqual((await c.get(`${RBAC}/clusterroles/kcr`)).body.rules, [{ verbs: ["get"], nonResourceURLs: ["/metrics"] }]);
    assert.deepEqual((await c.get(`${RBAC}/clusterroles/kagg`)).body.aggregationRule, { clusterRoleSelectors: [{ matchLabels: { a: "b" } }] });
    assert.deepEqual((await c.get(`${RBAC}/clusterrolebindings/kcrb`)).body.subjects, [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "devs" }]);
    // A server-side dry run answers and stores nothing; a second create is AlreadyExists in kube's words.
    const dry = await kubectl("create", "role", "kr2", "-n", "rbac", "--verb=get", "--resource=pipelineruns.ci.setpoint.dev", "--dry-run=server", "-o", "json");
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).metadata.name, "kr2");
    assert.equal((await c.get(`${RBAC}/namespaces/rbac/roles/kr2`)).status, 404);
    const again = await kubectl("create", "clusterrole", "kcr", "--verb=get", "--non-resource-url=/metrics");
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /AlreadyExists.*"kcr" already exists/);
    for (const path of [
      `${RBAC}/namespaces/rbac/roles/kr`,
      `${RBAC}/namespaces/rbac/rolebindings/krb`,
      `${RBAC}/clusterroles/kcr`,
      `${RBAC}/clusterroles/kagg`,
      `${RBAC}/clusterrolebindings/kcrb`,
    ])
      assert.equal((await c.del(path)).status, 200);
  });

  it("explain describes the RBAC types' fields (rules, subjects, roleRef), as kube's OpenAPI does", async () => {
    const rules = await kubectl("explain", "role.rules");
    assert.equal(rules.code, 0, rules.stderr);
    assert.match(rules.stdout, /FIELD: rules <\[\]Object>/);
    assert.match(rules.stdout, /verbs\t<\[\]string> -required-/);
    assert.match(rules.stdout, /nonResourceURLs\t<\[\]string>/);
    const binding = await kubectl("explain", "clusterrolebinding", "--recursive");
    assert.equal(binding.code, 0, binding.stderr);
    assert.match(binding.stdout, /roleRef\t<Object> -required-/);
    assert.match(binding.stdout, /subjects\t<\[\]Object>/);
    assert.doesNotMatch(binding.stdout, /\bspec\b|\bstatus\b/);
    const aggregation = await kubectl("explain", "clusterrole.aggregationRule.clusterRoleSelectors.matchLabels");
    assert.equal(aggregation.code, 0, aggregation.stderr);
  });

  it("apply, patch, edit and set subject of RBAC objects (strategic merge patches of built-in types) work as with a cluster", async () => {
    const RBAC = "/apis/rbac.authorization.k8s.io/v1";
    const manifest = (verbs: string) => {
      const file = join(k.home, "rbac.yaml");
      writeFileSync(
        file,
        `apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: app, namespace: smp}\nrules:\n- {apiGroups: [ex.com], resources: [widgets], verbs: [${verbs}]}\n---\n` +
          "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: app, namespace: smp}\nroleRef: {kind: Role, name: app}\nsubjects:\n- {kind: User, name: bob}\n",
      );
      return file;
    };
    const rules = async () => (await c.get(`${RBAC}/namespaces/smp/roles/app`)).body.rules;
    for (const verbs of ["get, list", "get"]) {
      const applied = await kubectl("apply", "-f", manifest(verbs));
      assert.equal(applied.code, 0, applied.stderr);
    }
    assert.deepEqual(await rules(), [{ apiGroups: ["ex.com"], resources: ["widgets"], verbs: ["get"] }]);
    const patched = await kubectl("patch", "role", "app", "-n", "smp", "-p", '{"rules":[{"apiGroups":["ex.com"],"resources":["widgets"],"verbs":["list"]}]}');
    assert.equal(patched.code, 0, patched.stderr);
    assert.deepEqual(await rules(), [{ apiGroups: ["ex.com"], resources: ["widgets"], verbs: ["list"] }]);
    const editor = join(k.home, "edit.sh");
    writeFileSync(editor, "#!/bin/sh\nsed -i 's/- list/- watch/' \"$1\"\n", { mode: 0o755 });
    const edited = await k.runWith({ EDITOR: editor }, "edit", "role", "app", "-n", "smp");
    assert.equal(edited.code, 0, edited.stderr);
    assert.deepEqual(await rules(), [{ apiGroups: ["ex.com"], resources: ["widgets"], verbs: ["watch"] }]);
    const subject = await kubectl("set", "subject", "rolebinding", "app", "-n", "smp", "--user=carol", "--group=g2");
    assert.equal(subject.code, 0, subject.stderr);
    assert.deepEqual(
      (await c.get(`${RBAC}/namespaces/smp/rolebindings/app`)).body.subjects.map((x: { kind: string; name: string }) => `${x.kind}:${x.name}`),
      ["User:bob", "User:carol", "Group:g2"],
    );
    // ObjectMeta's finalizers merge as a set, and $deleteFromPrimitiveList removes, as kube's strategic merge.
    for (const f of ["a.io/x", "b.io/y"]) {
      const r = await kubectl("patch", "role", "app", "-n", "smp", "--type=strategic", "-p", JSON.stringify({ metadata: { finalizers: [f] } }));
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual((await c.get(`${RBAC}/namespaces/smp/roles/app`)).body.metadata.finalizers, ["a.io/x", "b.io/y"]);
    const removed = await c.patch(
      `${RBAC}/namespaces/smp/roles/app`,
      { metadata: { "$deleteFromPrimitiveList/finalizers": ["a.io/x", "b.io/y"] }, $retainKeys: ["apiVersion", "kind", "metadata"] },
      "application/strategic-merge-patch+json",
    );
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.metadata.finalizers, undefined);
    assert.equal(removed.body.rules, undefined, "$retainKeys dropped the rules");
    // A custom type still refuses it, as kube does for a custom resource.
    const custom = await kubectl("patch", "pipelineruns", "diamond", "--type=strategic", "-p", '{"metadata":{"labels":{"a":"b"}}}');
    assert.equal(custom.code, 1);
    assert.match(custom.stderr, /application\/strategic-merge-patch\+json is not supported/);
    for (const path of [`${RBAC}/namespaces/smp/roles/app`, `${RBAC}/namespaces/smp/rolebindings/app`]) assert.equal((await c.del(path)).status, 200);
  });

  it("get, describe and label of a missing object in a namespace other than default say the object is not found, as with a cluster", async () => {
    // kubectl (cli-runtime's Info.Get) asks GET /api/v1/namespaces/NS after a NotFound outside "default" and
    // prints that answer instead when it is a NotFound: namespaces are implicit here, so every valid one exists.
    for (const args of [
      ["get", "pipelinerun", "nope", "-n", "team-a"],
      ["describe", "pipelinerun", "nope", "-n", "team-a"],
      ["label", "pipelinerun", "nope", "x=y", "-n", "team-a"],
    ]) {
      const r = await kubectl(...args);
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.stderr.trim(), 'Error from server (NotFound): pipelineruns.ci.setpoint.dev "nope" not found', args.join(" "));
    }
    const ns = await c.get("/api/v1/namespaces/team-a");
    assert.equal(ns.status, 200, ns.text);
    assert.deepEqual(
      { kind: ns.body.kind, apiVersion: ns.body.apiVersion, name: ns.body.metadata.name, phase: ns.body.status.phase },
      { kind: "Namespace", apiVersion: "v1", name: "team-a", phase: "Active" },
    );
    // A name no namespace can have is kube's NotFound for it.
    const bad = await c.get("/api/v1/namespaces/Team_A");
    assert.equal(bad.status, 404, bad.text);
    assert.deepEqual([bad.body.reason, bad.body.message], ["NotFound", 'namespaces "Team_A" not found']);
    assert.equal((await c.request("DELETE", "/api/v1/namespaces/team-a")).status, 405);
  });

  it("explain describes the kind and its fields", async () => {
    const top = await kubectl("explain", "pipelineruns");
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /DESCRIPTION:\n\s+A run of a task graph/);
    assert.doesNotMatch(top.stdout, /<empty>|<no description>/);
    const tasks = await kubectl("explain", "pipelineruns.spec.tasks");
    assert.equal(tasks.code, 0, tasks.stderr);
    assert.match(tasks.stdout, /runAfter\s+<\[\]string>\n\s+Names of tasks that must succeed/);
    assert.match(tasks.stdout, /name\s+<string> -required-/);
  });

  it("get -w prints the table, then a row per change with its columns", async () => {
    const child = k.spawn("get", "pr", "-w");
    let out = "";
    // One listener collects the output: one per wait doubled every later chunk, and a row kubectl wrote in two
    // chunks ("diamond", "   Succeeded …") then read "diamonddiamond   Succeeded…", matching nothing.
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    const seen = (re: RegExp) =>
      new Promise<void>((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`kubectl get -w printed no line matching ${re} within 60 s:\n${out}`)), 60_000);
        const check = () => {
          if (re.test(out)) {
            clearTimeout(timer);
            child.stdout.off("data", check);
            done();
          }
        };
        child.stdout.on("data", check);
        check();
      });
    try {
      await seen(/^diamond\s+Running\s+1\/2/m);
      const current = await c.get(`${RUNS}/diamond`);
      const status = { ...current.body.status, phase: "Succeeded", progress: "2/2", duration: "3s" };
      assert.equal((await c.put(`${RUNS}/diamond/status`, { ...current.body, status })).status, 200);
      await seen(/^diamond\s+Succeeded\s+2\/2\s+\S+\s+3s/m);
      assert.equal(out.match(/^NAME\s+PHASE\s+PROGRESS/gm)?.length, 1, `one header:\n${out}`);
    } finally {
      child.kill();
    }
  });
});
