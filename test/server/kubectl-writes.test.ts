// kubectl (1.32) writing to a real server on an ephemeral port, answered as
// kube-apiserver answers for a custom resource: kubectl's default
// fieldValidation=Strict refuses a manifest's unknown fields with kube's
// message, --validate=warn prints kube's warnings, and the patch types a
// custom resource lacks (strategic merge, server-side apply) fail with the
// errors kubectl knows. Each command gets its own KUBECONFIG, HOME and cache.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { kubectlFor, type Kubectl } from "../helpers/kubectl.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const WIDGETS = "/apis/demo.example.com/v1/namespaces/default/widgets";

let s: TestServer;
let c: ApiClient;
let k: Kubectl;
let home: string;

const kubectl = (...args: string[]) => k.run(...args);
const kubectlWith = (env: Record<string, string>, ...args: string[]) => k.runWith(env, ...args);

/** Writes a manifest into the test's home; returns its path. */
function manifest(name: string, yaml: string): string {
  const path = join(home, name);
  writeFileSync(path, yaml);
  return path;
}

const typo = (name: string) => `apiVersion: demo.example.com/v1
kind: Widget
metadata: {name: ${name}}
spec: {size: 3, colour: red}
extra: true
`;

before(async () => {
  s = await startTestServer();
  k = kubectlFor(s.url, { namespace: "default" });
  home = k.home;
  c = api(s.url);
  await createType(c, {
    group: "demo.example.com",
    kind: "Widget",
    plural: "widgets",
    schema: { spec: { type: "object", required: ["size"], properties: { size: { type: "integer" }, color: { type: "string" } } } },
  });
});
after(async () => {
  await s?.stop();
  k?.close();
});

describe("kubectl writes", () => {
  it("create refuses a manifest's unknown fields with kube's strict decoding error, and stores nothing", async () => {
    const file = manifest("typo.yaml", typo("strict"));
    const r = await kubectl("create", "-f", file);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(
      r.stderr.trim(),
      `Error from server (BadRequest): error when creating "${file}": Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "extra", unknown field "spec.colour"`,
    );
    assert.equal((await c.get(`${WIDGETS}/strict`)).status, 404);
    const applied = await kubectl("apply", "-f", file);
    assert.equal(applied.code, 1);
    assert.match(applied.stderr, /strict decoding error: unknown field "extra", unknown field "spec\.colour"/);
  });

  it("create --validate=warn writes and prints kube's warnings; the top-level field is not stored", async () => {
    const r = await kubectl("create", "--validate=warn", "-f", manifest("warn.yaml", typo("warned")));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "widget.demo.example.com/warned created");
    assert.deepEqual(r.stderr.trim().split("\n"), ['Warning: unknown field "extra"', 'Warning: unknown field "spec.colour"']);
    const stored = (await c.get(`${WIDGETS}/warned`)).body;
    assert.equal(stored.extra, undefined);
  });

  it("apply --server-side: refused with 415, which kubectl reports as server-side apply not available", async () => {
    const file = manifest("ssa.yaml", "apiVersion: demo.example.com/v1\nkind: Widget\nmetadata: {name: ssa}\nspec: {size: 1}\n");
    const r = await kubectl("apply", "--server-side", "-f", file);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^error: Server-side apply not available on the server: \(server-side apply is not supported by this server: use client-side apply/);
    const client = await kubectl("apply", "-f", file);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), "widget.demo.example.com/ssa created");
  });

  it("patch: strategic merge is 415 as for any custom resource; merge and json patches work", async () => {
    await kubectl("create", "-f", manifest("p.yaml", "apiVersion: demo.example.com/v1\nkind: Widget\nmetadata: {name: p}\nspec: {size: 1}\n"));
    const strategic = await kubectl("patch", "widgets", "p", "--type", "strategic", "-p", '{"spec":{"size":2}}');
    assert.equal(strategic.code, 1);
    assert.match(strategic.stderr, /^error: application\/strategic-merge-patch\+json is not supported by demo\.example\.com\/v1, Kind=Widget: /);
    const merge = await kubectl("patch", "widgets", "p", "--type", "merge", "-p", '{"spec":{"size":2}}');
    assert.equal(merge.code, 0, merge.stderr);
    const json = await kubectl("patch", "widgets", "p", "--type", "json", "-p", '[{"op":"replace","path":"/spec/size","value":3}]');
    assert.equal(json.code, 0, json.stderr);
    assert.equal((await c.get(`${WIDGETS}/p`)).body.spec.size, 3);
  });

  it("edit, diff, --dry-run=server, wait and delete --wait behave as with a cluster", async () => {
    await kubectl("create", "-f", manifest("e.yaml", "apiVersion: demo.example.com/v1\nkind: Widget\nmetadata: {name: e}\nspec: {size: 1}\n"));
    const path = `${WIDGETS}/e`;
    const rv = (await c.get(path)).body.metadata.resourceVersion;
    // edit: the EDITOR script changes size (saved) or adds an unknown field (refused with kube's words, nothing saved).
    const editor = (name: string, sed: string) => {
      const file = join(home, name);
      writeFileSync(file, `#!/bin/sh\nsed -i '${sed}' "$1"\n`, { mode: 0o755 });
      return { EDITOR: file };
    };
    const edited = await kubectlWith(editor("size.sh", "s/size: 1/size: 2/"), "edit", "widgets", "e");
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal(edited.stdout.trim(), "widget.demo.example.com/e edited");
    const refused = await kubectlWith(editor("tint.sh", "s/^spec:$/spec:\\n  tint: blue/"), "edit", "widgets", "e");
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /could not be patched: Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec\.tint"/,
    );
    const afterEdit = (await c.get(path)).body;
    assert.deepEqual(afterEdit.spec, { size: 2 });
    // diff and --dry-run=server show the change and store nothing.
    const changed = manifest("e2.yaml", "apiVersion: demo.example.com/v1\nkind: Widget\nmetadata: {name: e}\nspec: {size: 9}\n");
    const diff = await kubectl("diff", "-f", changed);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, /^-\s+size: 2$/m);
    assert.match(diff.stdout, /^\+\s+size: 9$/m);
    const dry = await kubectl("apply", "-f", changed, "--dry-run=server");
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout.trim(), "widget.demo.example.com/e configured (server dry run)");
    assert.equal((await c.get(path)).body.metadata.resourceVersion, afterEdit.metadata.resourceVersion);
    assert.notEqual(afterEdit.metadata.resourceVersion, rv);
    // wait: a condition written to status, a jsonpath, then the deletion.
    const status = await kubectl(
      "patch",
      "widgets",
      "e",
      "--subresource=status",
      "--type",
      "merge",
      "-p",
      '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    );
    assert.equal(status.code, 0, status.stderr);
    const ready = await kubectl("wait", "widgets/e", "--for=condition=Ready", "--timeout=20s");
    assert.equal(ready.code, 0, ready.stderr);
    const size = await kubectl("wait", "widgets/e", "--for=jsonpath={.spec.size}=2", "--timeout=20s");
    assert.equal(size.code, 0, size.stderr);
    const deleted = await kubectl("delete", "widgets", "e", "--wait", "--cascade=foreground");
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout.trim(), 'widget.demo.example.com "e" deleted');
    const gone = await kubectl("wait", "widgets/e", "--for=delete", "--timeout=20s");
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal((await c.get(path)).status, 404);
  });
});
