// A dead agent's lease is deleted by the server once it has gone unrenewed
// for its leaseDurationSeconds (src/server/lease-expiry.ts), timed on the
// server's injected clock. Before, only the agent's live peers deleted it: a
// lone agent killed -9 left its lease listed for good (seen with a real
// `setpoint agent pipelines --lease-duration 2s` killed -9: its lease was
// still there 12 s later). The lease here is written as the agent SDK writes
// one, which is all a killed agent leaves behind.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import { api, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const LEASES = "/apis/setpoint.dev/v1/namespaces/default/leases";

let clock: ManualClock;
let ts: TestServer;
let c: ApiClient;

before(async () => {
  clock = new ManualClock(Date.now());
  ts = await startTestServer({}, { clock });
  c = api(ts.url);
});
after(() => ts.stop());

function lease(name: string, labels: Record<string, string> | undefined, seconds = 15): Record<string, unknown> {
  const time = new Date(clock.now()).toISOString();
  return {
    apiVersion: "setpoint.dev/v1",
    kind: "Lease",
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: { holderIdentity: `${name}#1`, leaseDurationSeconds: seconds, acquireTime: time, renewTime: time },
  };
}

/** Moves the server's clock forward a second at a time (each step runs the passes due). */
function advance(ms: number): void {
  for (let done = 0; done < ms; done += 1000) clock.advance(Math.min(1000, ms - done));
}

async function exists(name: string): Promise<boolean> {
  const res = await c.get(`${LEASES}/${name}`);
  assert.ok(res.status === 200 || res.status === 404, res.text);
  return res.status === 200;
}

/** Waits (real time, with a deadline) until the lease is gone; the pass that deletes it has already run. */
async function gone(name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (await exists(name)) {
    if (Date.now() > deadline) assert.fail(`${name} still listed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("a dead agent's lease", () => {
  it("is deleted once unrenewed for its leaseDurationSeconds; a renewed one and one without the agent label stay", async () => {
    const agent = { "agent.setpoint.dev/name": "pipelines" };
    const dead = await c.post(LEASES, lease("pipelines-dead", agent, 15));
    assert.equal(dead.status, 201, dead.text);
    const live = await c.post(LEASES, lease("pipelines-live", agent, 15));
    assert.equal(live.status, 201, live.text);
    // A leader-election lease (client-go writes no such label): kube leaves an expired one listed.
    assert.equal((await c.post(LEASES, lease("leader", undefined, 15))).status, 201);

    advance(10_000);
    // The live agent renews (a write: a new resourceVersion), the dead one does not.
    const current = (await c.get(`${LEASES}/pipelines-live`)).body;
    const renewed = await c.put(`${LEASES}/pipelines-live`, {
      ...current,
      spec: { ...current.spec, renewTime: new Date(clock.now()).toISOString() },
    });
    assert.equal(renewed.status, 200, renewed.text);
    advance(4000);
    // 14 s: under the dead lease's 15 s, nothing is deleted (a pass decides
    // at once, within advance(); only the delete's write is asynchronous).
    assert.ok(await exists("pipelines-dead"), "deleted before its duration");

    advance(3000);
    await gone("pipelines-dead");
    assert.ok(await exists("pipelines-live"), "a lease renewed 7 s ago was deleted");
    assert.ok(await exists("leader"));

    // The live one, once it stops renewing, goes too; the unlabelled one never.
    // The last pass lists "leader" before "pipelines-live" (name order), so
    // had it picked the leader lease, that delete would have been issued
    // first and be done by the time the agent's is.
    advance(60_000);
    await gone("pipelines-live");
    assert.ok(await exists("leader"));
  });
});
