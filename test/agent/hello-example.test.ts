// examples/agents/hello.ts is the agent people copy: run where agents run
// (systemd, a container, `kill PID`), it is stopped with SIGTERM, not Ctrl-C.
// It must then stop as gracefully as on Ctrl-C: finish, delete its lease so
// another replica takes its keys at once (not 10–15 s later), exit 0. It
// used to handle SIGINT only, so SIGTERM killed it with its lease left behind.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exited, LineReader } from "../helpers/cli.ts";
import { nodeEntry } from "../helpers/node-entry.ts";
import { api, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "./fixtures.ts";

describe("examples/agents/hello.ts", () => {
  let t: TestServer;
  let dir: string;
  before(async () => {
    t = await startTestServer({ grpcPort: 0 });
    dir = mkdtempSync(join(tmpdir(), "setpoint-hello-"));
    const a = api(t.url);
    const type = {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: "greetings.demo.example.com" },
      spec: { group: "demo.example.com", version: "v1", kind: "Greeting", plural: "greetings", scope: "Namespaced" },
    };
    assert.equal((await a.post("/apis/setpoint.dev/v1/resourcetypes", type)).status, 201);
    const ada = { apiVersion: "demo.example.com/v1", kind: "Greeting", metadata: { name: "ada" }, spec: { name: "Ada" } };
    assert.equal((await a.post("/apis/demo.example.com/v1/namespaces/default/greetings", ada)).status, 201);
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stops on SIGTERM as on Ctrl-C: its lease deleted, exit 0", async () => {
    const leases = async () => {
      const r = await api(t.url).get("/apis/setpoint.dev/v1/namespaces/default/leases");
      assert.equal(r.status, 200);
      return (r.body as { items: Array<{ metadata: { name: string } }> }).items.map((l) => l.metadata.name).filter((n) => n.startsWith("hello-"));
    };
    const child = spawn(process.execPath, nodeEntry("examples/agents/hello.ts"), {
      cwd: dir, // its stateDir, .hello-state, goes here
      env: { ...process.env, SETPOINT_GRPC: `127.0.0.1:${t.server.grpcPort}`, SETPOINT_URL: t.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = new LineReader(child.stdout!);
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    try {
      await out
        .waitFor(/^default\/ada: generation 1: wrote status\.message "Hello, Ada!"$/, { timeoutMs: 60_000 })
        .catch((e: Error) => assert.fail(`${e.message}\n${stderr}`));
      await waitFor("the agent's lease", async () => (await leases()).length === 1);
    } finally {
      child.kill("SIGTERM");
    }
    const { code, signal } = await exited(child, 60_000);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
    assert.deepEqual(await leases(), [], "the lease is deleted on the way out");
  });
});
