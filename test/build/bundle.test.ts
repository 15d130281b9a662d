// The deployable bundle: builds dist/ into a temp folder with no node_modules
// above it (so nothing can be resolved from the repo), then runs the bundled
// `setpoint-server` from there. Set SETPOINT_TEST_DIST=<dir> to test an
// existing build instead of building (it is copied first).

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, parse } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { SERVER_NODE_FLAGS } from "../../bench/lib/procs.ts";
import { SERVER_FLAGS } from "../../src/cli/flags.ts";
import { loadResourcesService } from "../../src/proto.ts";
import { api, createType, startTestServer } from "../helpers/server.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; scripts: Record<string, string> };

/** True if some folder from dir up to / holds a node_modules. */
function nodeModulesAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules"))) return true;
    if (d === parse(d).root) return false;
  }
}

/** Waits for a child to exit, failing after ms. */
function exited(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${ms} ms`)), ms);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe("bundled setpoint-server", () => {
  let deploy: string;
  const run = (args: string[]) => spawnSync(process.execPath, ["dist/server.mjs", ...args], { cwd: deploy, encoding: "utf8", timeout: 30_000 });

  before(() => {
    deploy = mkdtempSync(join(tmpdir(), "setpoint-deploy-"));
    assert.ok(!nodeModulesAbove(deploy), `${deploy} has a node_modules above it; the test would prove nothing`);
    const prebuilt = process.env.SETPOINT_TEST_DIST;
    if (prebuilt !== undefined) {
      cpSync(prebuilt, join(deploy, "dist"), { recursive: true });
    } else {
      const build = spawnSync(process.execPath, ["esbuild.config.mjs", "--outdir", join(deploy, "dist")], {
        cwd: root,
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(build.status, 0, `build failed:\n${build.stdout}\n${build.stderr}`);
    }
    assert.ok(existsSync(join(deploy, "dist/server.mjs")), "no dist/server.mjs");
    assert.ok(existsSync(join(deploy, "dist/lmdb.node")), "no dist/lmdb.node next to the bundle");
  });

  after(() => {
    if (deploy !== undefined) rmSync(deploy, { recursive: true, force: true });
  });

  it("prints help naming every flag, from a folder with only dist/", () => {
    const r = run(["--help"]);
    assert.equal(r.status, 0, r.stderr);
    for (const s of SERVER_FLAGS) {
      assert.ok(r.stdout.includes(s.flag), `help lacks ${s.flag}`);
      assert.ok(r.stdout.includes(s.env), `help lacks ${s.env}`);
    }
  });

  it("prints the package version", () => {
    const r = run(["--version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it("ships the watch client as an ES module next to the bundle, where package.json exports it", async () => {
    const exported = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, { types: string; default: string }> }).exports[
      "./watch-client"
    ]!;
    assert.equal(exported.default, "./dist/watch-client.mjs");
    assert.ok(existsSync(join(root, exported.types)), `${exported.types} is missing`);
    const mod = (await import(pathToFileURL(join(deploy, "dist/watch-client.mjs")).href)) as {
      watchList?: unknown;
      watchSubprotocols?: (t?: string) => string[];
    };
    assert.equal(typeof mod.watchList, "function");
    assert.deepEqual(mod.watchSubprotocols?.("a"), ["watch.setpoint.dev", "base64url.bearer.authorization.k8s.io.YQ"]);
  });

  it("ships the agent SDK as dist/agent.mjs, where package.json exports it: an agent run from a folder with only dist/ reconciles", async () => {
    const exported = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, { types: string; default: string }> }).exports[
      "./agent"
    ]!;
    assert.equal(exported.default, "./dist/agent.mjs");
    assert.ok(existsSync(join(root, exported.types)), `${exported.types} is missing`);
    const t = await startTestServer({ grpcPort: 0 });
    try {
      await createType(api(t.url), { group: "bundle.example.com", kind: "Widget", plural: "widgets" });
      const widget = { apiVersion: "bundle.example.com/v1", kind: "Widget", metadata: { name: "w1" }, spec: { size: 3 } };
      assert.equal((await api(t.url).post("/apis/bundle.example.com/v1/namespaces/default/widgets", widget)).status, 201);
      // Nothing but dist/ in reach: the SDK's dependencies must be inside the bundle.
      const script = `
        import { runAgent } from "./dist/agent.mjs";
        const stop = new AbortController();
        await runAgent({
          name: "bundled", grpcAddress: "127.0.0.1:${t.server.grpcPort}", httpUrl: "${t.url}",
          type: { group: "bundle.example.com", version: "v1", plural: "widgets" }, signal: stop.signal,
          onError: (err) => console.error(err.message),
          async reconcile(key, { object, updateStatus }) {
            await updateStatus({ seen: object.spec.size });
            console.log("reconciled " + key);
            stop.abort();
          },
        });
      `;
      // Not spawnSync: the server runs in this process and must answer meanwhile.
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: deploy, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      clearTimeout(timer);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^reconciled default\/w1$/m);
      const got = await api(t.url).get("/apis/bundle.example.com/v1/namespaces/default/widgets/w1");
      assert.deepEqual((got.body as { status?: unknown }).status, { seen: 3, observedGeneration: 1 });
    } finally {
      await t.stop();
    }
  });

  it("is Latin-1 text, so V8 holds each bundle's source as a one-byte string", () => {
    // A script's source stays in the heap for as long as it runs. esbuild
    // escapes non-ASCII characters everywhere but in the comments it keeps,
    // and one "…" in such a comment made server.mjs a two-byte string:
    // 6.4 MiB instead of 3.2 in V8's large-object space, all the server's life.
    for (const file of ["server.mjs", "setpoint.mjs"]) {
      const text = readFileSync(join(deploy, "dist", file), "utf8");
      let at = 0;
      while (at < text.length && text.charCodeAt(at) <= 0xff) at++;
      const line = text.slice(0, at).split("\n").length;
      assert.equal(at, text.length, `dist/${file} line ${line} has ${JSON.stringify(text[at])}: keep comments that reach the bundle Latin-1`);
    }
  });

  it("runs node with the flags the bench starts the server with: the bundles' #! line, npm start and npm run setpoint", () => {
    for (const file of ["server.mjs", "setpoint.mjs"]) {
      const first = readFileSync(join(deploy, "dist", file), "utf8").split("\n", 1)[0];
      assert.equal(first, `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(" ")}`, `dist/${file}'s first line`);
    }
    for (const script of ["start", "setpoint"]) {
      const words = pkg.scripts[script]!.split(/\s+/);
      assert.equal(words[0], "node");
      for (const flag of SERVER_NODE_FLAGS) assert.ok(words.includes(flag), `npm run ${script} (${pkg.scripts[script]}) has ${flag}`);
    }
    // The #! line works as written (env -S splits it into node's arguments).
    chmodSync(join(deploy, "dist/server.mjs"), 0o755);
    const r = spawnSync(join(deploy, "dist/server.mjs"), ["--version"], { cwd: deploy, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(pkg.version.replaceAll(".", "\\.")));
  });

  it("exits 2 naming the flag for a bad value", () => {
    const r = run(["--watch-buffer-bytes", "lots"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--watch-buffer-bytes/);
  });

  it("starts on ephemeral ports, answers /healthz and gRPC, and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, ["dist/server.mjs", "--data-dir", join(deploy, "data"), "--http-port", "0", "--grpc-port", "0", "--no-fsync"], {
      cwd: deploy,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    try {
      let grpcAddress: unknown;
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no 'listening' log line within 30 s; stderr:\n${stderr}`)), 30_000);
        child.once("exit", (code) => reject(new Error(`server exited with ${code} before listening; stderr:\n${stderr}`)));
        createInterface({ input: child.stdout! }).on("line", (line) => {
          let record: { msg?: string; url?: string; grpc?: string } | undefined;
          try {
            record = JSON.parse(line) as typeof record;
          } catch {
            return;
          }
          if (record?.msg === "setpoint-server listening" && typeof record.url === "string") {
            clearTimeout(timer);
            grpcAddress = record.grpc;
            resolve(record.url);
          }
        });
      });
      const response = await fetch(new URL("/healthz", url), { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200);
      await response.body?.cancel();

      // The web console is inside the bundle: no esbuild, no src/ui on disk.
      const ui = await fetch(new URL("/ui/", url), { signal: AbortSignal.timeout(10_000) });
      assert.equal(ui.status, 200);
      const script = /src="(app-[^"]+\.js)"/.exec(await ui.text())?.[1];
      assert.ok(script, "no script in /ui/");
      const js = await fetch(new URL(`/ui/${script}`, url), { signal: AbortSignal.timeout(10_000) });
      assert.equal(js.status, 200);
      assert.ok((await js.text()).length > 1000);

      // The bundle serves gRPC with the descriptor inlined (no .proto on disk).
      assert.equal(typeof grpcAddress, "string", "no grpc address in the listening line");
      const { Client } = loadResourcesService();
      const client = new Client(grpcAddress as string, grpc.credentials.createInsecure());
      try {
        const lease = { apiVersion: "setpoint.dev/v1", kind: "Lease", metadata: { name: "bundle" }, spec: { holderIdentity: "test" } };
        const ref = { group: "setpoint.dev", version: "v1", plural: "leases", namespace: "default" };
        const created = await new Promise<{ object: Buffer }>((resolve, reject) =>
          client.create({ ref, object: Buffer.from(JSON.stringify(lease)) }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, res) =>
            err ? reject(err) : resolve(res!),
          ),
        );
        const listed = await new Promise<{ items: Buffer[]; revision: number }>((resolve, reject) =>
          client.list({ ref }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!))),
        );
        assert.deepEqual(
          listed.items.map((b) => JSON.parse(b.toString()).metadata.name),
          ["bundle"],
        );
        assert.equal(String(listed.revision), JSON.parse(created.object.toString()).metadata.resourceVersion);
      } finally {
        client.close();
      }

      child.kill("SIGTERM");
      const { code, signal } = await exited(child, 30_000);
      assert.equal(signal, null, stderr);
      assert.equal(code, 0, stderr);
      assert.ok(existsSync(join(deploy, "data")), "no data directory was created");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
