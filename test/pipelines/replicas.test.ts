// The pipeline runner's leases and claims through server replicas (API.md §9):
// two Setpoint replicas on one real 3-member etcd, and two pipeline agents
// (`setpoint agent pipelines` processes), each talking to a different replica
// first. Their leases, written through different replicas, must make them one
// membership; their claims, written through different replicas, must give
// each run to one agent: every task runs once, and both agents take a share.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { PIPELINE_RUN_RESOURCE_TYPE } from "../../src/pipelines/resource-type.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { api } from "../helpers/server.ts";
import { createRun, getRun, mark, markers, startAgent, waitForPhase, type AgentProcess, type PipelineEnv } from "./fixtures.ts";

it("two pipeline agents on two server replicas: one membership, each run claimed by one agent, every task run once", async () => {
  let etcd: EtcdCluster | undefined;
  const replicas: RunningServer[] = [];
  const agents: AgentProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "setpoint-pipelines-replicas-"));
  try {
    etcd = await startEtcd({ size: 3 });
    for (let i = 0; i < 2; i++) {
      replicas.push(
        await startServer({
          host: "127.0.0.1",
          httpPort: 0,
          grpcPort: 0,
          store: "etcd",
          etcdServers: etcd.endpoints.split(","),
          etcdPrefix: "/pipelines-replicas",
          logLevel: "silent",
          bookmarkIntervalMs: 500,
        }),
      );
    }
    const [a, b] = replicas as [RunningServer, RunningServer];
    const created = await api(a.url).post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE);
    assert.equal(created.status, 201, created.text);
    // Each agent's first replica is a different one (the other is its fallback).
    const env = (first: RunningServer, second: RunningServer): PipelineEnv => ({
      server: { ...first, url: `${first.url},${second.url}` },
      http: api(first.url),
      grpcAddress: `127.0.0.1:${first.grpcPort},127.0.0.1:${second.grpcPort}`,
      dir,
      stop: async () => {},
    });
    // Leases far longer than the test: no takeover can blur whose claim a run got.
    agents.push(await startAgent(env(a, b), { identity: "on-a", parallel: 4, leaseDuration: "60s", workDir: join(dir, "work-a") }));
    agents.push(await startAgent(env(b, a), { identity: "on-b", parallel: 4, leaseDuration: "60s", workDir: join(dir, "work-b") }));
    const file = join(dir, "markers");
    // Runs go to agents by rendezvous hashing over member ids with a random part: with 16, all on one agent has probability 2^-15.
    const names = Array.from({ length: 16 }, (_, i) => `r${i + 1}`);
    for (const [i, n] of names.entries()) {
      await createRun(api((i % 2 ? b : a).url), n, {
        tasks: [
          { name: "work", run: `${mark(file, `${n}-work $SETPOINT_TASK_ATTEMPT`)}; sleep 0.2` },
          { name: "after", runAfter: ["work"], run: mark(file, `${n}-after $SETPOINT_TASK_ATTEMPT`) },
        ],
      });
    }
    for (const [i, n] of names.entries()) await waitForPhase(api((i % 2 ? a : b).url), n, "Succeeded", 60_000);
    const lines = markers(file);
    for (const n of names) {
      assert.deepEqual(
        lines.filter((l) => l.startsWith(`${n}-`)),
        [`${n}-work 1`, `${n}-after 1`],
        `${n}: each task ran once, in order`,
      );
    }
    const used = new Set<string>();
    for (const n of names) for (const t of Object.values((await getRun(api(a.url), n))!.status!.tasks!)) used.add((t.agent ?? "").split("#")[0]!);
    assert.deepEqual([...used].sort(), ["on-a", "on-b"], "both agents took a share: their leases made one membership");
  } finally {
    for (const x of agents) await x.kill().catch(() => {});
    await Promise.all(replicas.map((r) => r.close()));
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
