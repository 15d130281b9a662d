// kubectl (1.32) writing to a real server on an ephemeral port, answered as
// kube-apiserver answers for a custom resource: kubectl's default
// fieldValidation=Strict refuses a manifest's unknown fields with kube's
// message, --validate=warn prints kube's warnings, and the patch types a
// custom resource lacks (strategic merge, server-side apply) fail with the
// errors kubectl knows. Each command gets its own KUBECONFIG, HOME and cache.

import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const WIDGETS = "/apis/demo.example.com/v1/namespaces/default/widgets";

let s: TestServer;
let c: ApiClient;
let home: string;

/** Runs kubectl with `args`; resolves with exit code, stdout and stderr (never rejects). */
function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const env = { PATH: process.env.PATH, HOME: home, KUBECONFIG: join(home, "config") };
    execFile("kubectl", ["--server", s.url, "--cache-dir", join(home, "cache"), "-n", "default", ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

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
  const which = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
  assert.equal(which.status, 0, "kubectl must be installed (it is on the machine image; .ci/run installs it when missing)");
  home = mkdtempSync(join(tmpdir(), "setpoint-kubectl-writes-"));
  writeFileSync(join(home, "config"), "apiVersion: v1\nkind: Config\n");
  s = await startTestServer();
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
  if (home) rmSync(home, { recursive: true, force: true });
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
});
