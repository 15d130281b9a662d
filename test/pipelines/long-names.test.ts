// The pipeline runner at the limits of names: PipelineRuns named with 253
// characters, in `default` and in a 63-character namespace. Each run's
// workspace `NAMESPACE/NAME-UID` would be a 262-byte path component, past
// the 255 bytes file systems allow: the runner shortens the name part with a
// hash, so such runs still run, get workspaces of their own (two names that
// differ only in their last character included), and are cleaned up on
// deletion.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runPipelineAgent, type RunnerEvent } from "../../src/pipelines/runner.ts";
import { startPipelineEnv, waitFor, type PipelineEnv, type Run } from "./fixtures.ts";

const NS63 = "team-".padEnd(62, "z") + "9";
const runsIn = (ns: string) => `/apis/ci.setpoint.dev/v1/namespaces/${ns}/pipelineruns`;

let env: PipelineEnv;
let stopAgent: AbortController;
let agentDone: Promise<void>;
let workDir: string;
const events: RunnerEvent[] = [];
const errors: string[] = [];

before(async () => {
  env = await startPipelineEnv();
  workDir = join(env.dir, "work");
  stopAgent = new AbortController();
  agentDone = runPipelineAgent({
    grpcAddress: env.grpcAddress,
    httpUrl: env.server.url,
    workDir,
    maxParallelTasks: 4,
    killGraceMs: 1000,
    outputFlushMs: 200,
    signal: stopAgent.signal,
    onEvent: (e) => void (e.type !== "AgentReady" && events.push(e)),
    onError: (err, key) => void errors.push(`${key ?? ""}: ${(err as Error).message}`),
  });
});

after(async () => {
  stopAgent.abort();
  await agentDone;
  await env.stop();
});

async function getRun(ns: string, name: string): Promise<Run | undefined> {
  const res = await env.http.get(`${runsIn(ns)}/${name}`);
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200, res.text);
  return res.body as Run;
}

describe("pipeline runner: 253-character run names", () => {
  it("runs them, each in a workspace of its own whose path components fit in 255 bytes, and cleans them up", async () => {
    const stem = "build-".padEnd(252, "x");
    const runs = [
      { ns: "default", name: `${stem}1` },
      { ns: "default", name: `${stem}2` },
      { ns: NS63, name: `${stem}3` },
    ];
    for (const r of runs) {
      assert.equal(r.name.length, 253);
      const res = await env.http.post(runsIn(r.ns), {
        apiVersion: "ci.setpoint.dev/v1",
        kind: "PipelineRun",
        metadata: { name: r.name },
        spec: { tasks: [{ name: "write", run: 'echo "$SETPOINT_RUN_NAME" > "$SETPOINT_WORKSPACE/name.txt"; echo "$SETPOINT_WORKSPACE"' }] },
      });
      assert.equal(res.status, 201, res.text);
    }
    const workspaces: string[] = [];
    for (const r of runs) {
      const run = await waitFor(`run ${r.ns}/${r.name.slice(-4)} to succeed`, async () => {
        const got = await getRun(r.ns, r.name);
        if (got?.status?.phase === "Failed") throw new Error(`run failed: ${JSON.stringify(got.status)}`);
        return got?.status?.phase === "Succeeded" ? got : undefined;
      });
      const workspace = (run.status!.tasks!.write!.output ?? "").trim();
      assert.ok(workspace.startsWith(join(workDir, r.ns)), workspace);
      assert.equal(readFileSync(join(workspace, "name.txt"), "utf8").trim(), r.name, "the task saw its run's full name");
      const component = basename(workspace);
      assert.ok(Buffer.byteLength(component) <= 255, `${Buffer.byteLength(component)} bytes`);
      assert.ok(component.startsWith("build-xxxx"), component);
      assert.ok(component.endsWith(`-${run.metadata.uid.slice(0, 8)}`), "the uid stays visible");
      workspaces.push(workspace);
    }
    assert.equal(new Set(workspaces).size, runs.length, "every run has its own workspace");

    for (const [i, r] of runs.entries()) {
      const res = await env.http.del(`${runsIn(r.ns)}/${r.name}`);
      assert.equal(res.status, 200, res.text);
      await waitFor(`run ${r.name.slice(-4)} to be gone`, async () => (await getRun(r.ns, r.name)) === undefined);
      assert.equal(existsSync(workspaces[i]!), false, "workspace removed");
    }
    assert.deepEqual(errors, []);
  });
});
