// Pipeline agents as processes when membership changes without a crash: an
// agent joining mid-run, an agent stopped gracefully, and an agent cut off
// from the server (the lease fence). Agents run as `setpoint agent pipelines`
// child processes with 3 s leases (60 s for the joining one, whose claim no
// lease expiry may blur; 9 s for the cut-off one); e2e.test.ts has the kill -9
// cases.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startProxy } from "../agent/fixtures.ts";
import { alive, createRun, getRun, mark, markers, startAgent, startPipelineEnv, waitFor, waitForPhase, type AgentProcess } from "./fixtures.ts";

/** A lease so long that a test ending well within it cannot have waited for it to expire. */
const LONG_LEASE = "10m";

/** The cut-off agent's lease: its fence fires 6 s after its last renewal, 3 s before a takeover could. */
const CUT_LEASE = "9s";

/** A task that logs `<label> start <attempt> <pid>`, waits for the file `gate` (if given), works `seconds`, then logs `<label> end <attempt>`. */
const slowTask = (file: string, label: string, seconds: number, gate?: string) =>
  `${mark(file, `${label} start $SETPOINT_TASK_ATTEMPT $$`)}; ${gate ? `while [ ! -e ${gate} ]; do sleep 0.2; done; ` : ""}sleep ${seconds}; ${mark(file, `${label} end $SETPOINT_TASK_ATTEMPT`)}`;

describe("pipeline agents as processes, handing runs over", () => {
  it("an agent joining mid-run leaves running tasks to the agent that runs them, then takes its share", async () => {
    const env = await startPipelineEnv();
    const agents: AgentProcess[] = [];
    try {
      const file = join(env.dir, "markers");
      // Leases far longer than the test: a lease lost to an overloaded machine
      // is a takeover (attempt 2, allowed by the runner's contract and tested
      // in e2e.test.ts), not the joining this test is about.
      agents.push(await startAgent(env, { identity: "first", parallel: 2, leaseDuration: "60s" }));
      // Runs go to replicas by rendezvous hashing over member ids that end in
      // a random part, so which runs the second agent gets differs from run to
      // run: with 14 runs not started when it joins, it gets none with
      // probability 2^-14 (with 6, as this test had, 1 in 64: it failed so
      // once in a full suite).
      const names = Array.from({ length: 16 }, (_, i) => `j${i + 1}`);
      // Work waits for this file, made once the second agent is ready: however
      // slow its start, the first agent cannot finish every run before it.
      const gate = join(env.dir, "gate");
      for (const n of names) {
        await createRun(env.http, n, {
          tasks: [
            { name: "work", run: slowTask(file, `${n}-work`, 2, gate) },
            { name: "after", runAfter: ["work"], run: mark(file, `${n}-after $SETPOINT_TASK_ATTEMPT`) },
          ],
        });
      }
      await waitFor("two tasks to run (the first agent's bound)", () => markers(file).filter((l) => l.includes("-work start")).length >= 2);
      agents.push(await startAgent(env, { identity: "second", parallel: 2, leaseDuration: "60s" }));
      writeFileSync(gate, "");
      for (const n of names) await waitForPhase(env.http, n, "Succeeded", 60_000);
      const lines = markers(file);
      for (const n of names) {
        assert.deepEqual(
          lines.filter((l) => l.startsWith(`${n}-work start`)).map((l) => l.split(" ")[2]),
          ["1"],
          `${n}: work ran once`,
        );
        assert.deepEqual(
          lines.filter((l) => l.startsWith(`${n}-after`)),
          [`${n}-after 1`],
        );
      }
      const agentsUsed = new Set<string>();
      for (const n of names) for (const t of Object.values((await getRun(env.http, n))!.status!.tasks!)) agentsUsed.add((t.agent ?? "").split("#")[0]!);
      assert.deepEqual([...agentsUsed].sort(), ["first", "second"], "the new agent took a share");
    } finally {
      for (const a of agents) await a.kill().catch(() => {});
      await env.stop();
    }
  });

  it("a stopped agent stops its tasks and releases its runs at once; the next agent reruns the stopped task", async () => {
    const env = await startPipelineEnv();
    const agents: AgentProcess[] = [];
    try {
      const file = join(env.dir, "markers");
      agents.push(await startAgent(env, { identity: "one", leaseDuration: LONG_LEASE }));
      await createRun(env.http, "handover", {
        tasks: [
          {
            name: "slow",
            run: `trap '${mark(file, "slow got TERM")}; exit 143' TERM; ${mark(file, "slow start $SETPOINT_TASK_ATTEMPT")}; sleep 3 & wait; ${mark(file, "slow end $SETPOINT_TASK_ATTEMPT")}`,
          },
        ],
      });
      await waitFor("the task to start", () => markers(file).includes("slow start 1"));
      await agents[0]!.stop();
      assert.ok(markers(file).includes("slow got TERM"), "the task got SIGTERM");
      const stoppedAt = Date.now();
      agents.push(await startAgent(env, { identity: "two", leaseDuration: LONG_LEASE }));
      // Far below the lease, whatever the machine's load: starting the next agent's process may take a while.
      const run = await waitForPhase(env.http, "handover", "Succeeded", 120_000);
      assert.ok(Date.now() - stoppedAt < 120_000, "no wait for a 10-minute lease to expire");
      assert.equal(run.status!.tasks!.slow!.attempt, 2);
      assert.deepEqual(markers(file), ["slow start 1", "slow got TERM", "slow start 2", "slow end 2"]);
    } finally {
      for (const a of agents) await a.kill().catch(() => {});
      await env.stop();
    }
  });

  it("an agent cut off from the server kills its tasks before its lease could pass to another, and reruns them once back", async () => {
    const env = await startPipelineEnv();
    const httpProxy = await startProxy(env.server.port);
    const grpcProxy = await startProxy(env.server.grpcPort);
    let agent: AgentProcess | undefined;
    try {
      const file = join(env.dir, "markers");
      const proxied = { ...env, server: { ...env.server, url: `http://127.0.0.1:${httpProxy.port}` }, grpcAddress: `127.0.0.1:${grpcProxy.port}` };
      agent = await startAgent(proxied as typeof env, { identity: "cut", leaseDuration: CUT_LEASE });
      // Attempt 1 outlasts any fence (up to 6 s after the cut), so only the fence can end it; the rerun is short.
      const slow = `${mark(file, "slow start $SETPOINT_TASK_ATTEMPT $$")}; if [ "$SETPOINT_TASK_ATTEMPT" = 1 ]; then sleep 60; else sleep 1; fi; ${mark(file, "slow end $SETPOINT_TASK_ATTEMPT")}`;
      await createRun(env.http, "partition", { tasks: [{ name: "slow", run: slow }] });
      const started = await waitFor("the task to start", () => markers(file).find((l) => l.startsWith("slow start 1")));
      const pid = Number(started.split(" ")[3]);
      httpProxy.cut();
      grpcProxy.cut();
      await waitFor("the task to be killed by the lease fence", () => !alive(pid), 30_000);
      assert.ok(!markers(file).includes("slow end 1"), "attempt 1 was killed, not finished");
      // The fence fires two thirds into a lease without renewal; another agent
      // could take the run over only once a whole lease has passed since the
      // last renewal the server holds. Compare the agent's own time of the kill
      // with that renewal, both stamped by the agent: how soon this test notices
      // the kill (or how soon after the cut the last renewal happened to be)
      // says nothing about the fence.
      const stop = JSON.parse(await agent.out.waitFor(/"type":"TaskStopped".*"reason":"AgentLost"/, { timeoutMs: 30_000 })) as { time: string };
      const leases = (await env.http.get("/apis/setpoint.dev/v1/namespaces/default/leases")).body.items as Array<{
        spec: { holderIdentity: string; renewTime: string; leaseDurationSeconds: number };
      }>;
      const lease = leases.find((l) => l.spec.holderIdentity.startsWith("cut"));
      assert.ok(lease, `the cut-off agent's lease is on the server: ${JSON.stringify(leases)}`);
      const expires = Date.parse(lease.spec.renewTime) + lease.spec.leaseDurationSeconds * 1000;
      assert.ok(
        Date.parse(stop.time) < expires,
        `the fence killed the task at ${stop.time}, not before the lease (renewed ${lease.spec.renewTime}) could pass to another`,
      );
      httpProxy.restore();
      grpcProxy.restore();
      const run = await waitForPhase(env.http, "partition", "Succeeded", 40_000);
      assert.equal(run.status!.tasks!.slow!.attempt, 2);
      assert.deepEqual(
        markers(file).map((l) => l.split(" ").slice(0, 3).join(" ")),
        ["slow start 1", "slow start 2", "slow end 2"],
      );
    } finally {
      await agent?.kill().catch(() => {});
      await httpProxy.close();
      await grpcProxy.close();
      await env.stop();
    }
  });
});
