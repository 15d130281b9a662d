// Claims by lease against a real server: rendezvous ownership, handoff when a
// replica joins (the new owner waits for the old one to finish), the fence on
// a replica cut off from the server, takeover after its lease expires, and
// immediate takeover after a release.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LeaseMembership, ownerOf, SetpointClient } from "../../src/agent.ts";
import { ManualClock, type Clock } from "../../src/clock.ts";
import { drainingKeys, mayClaim } from "../../src/agent/claims.ts";
import { startEnv, startProxy, waitFor, type Env } from "./fixtures.ts";

const DURATION = 1500;
const KEYS = Array.from({ length: 40 }, (_, i) => `default/w${i}`);

describe("ownerOf", () => {
  test("spreads keys and moves only the leaving member's keys", () => {
    const members = ["a#1", "b#1", "c#1"];
    const before = new Map(KEYS.map((k) => [k, ownerOf(k, members)]));
    for (const m of members) assert.ok([...before.values()].filter((o) => o === m).length >= 5, `${m} owns a fair share`);
    const after = new Map(KEYS.map((k) => [k, ownerOf(k, ["a#1", "c#1"])]));
    for (const k of KEYS) if (before.get(k) !== "b#1") assert.equal(after.get(k), before.get(k), k);
    assert.equal(ownerOf("x", []), undefined);
  });
});

describe("mayClaim", () => {
  const both = ["a#1", "b#1"];
  const moving = KEYS.find((k) => ownerOf(k, both) === "b#1" && ownerOf(k, ["a#1"]) === "a#1")!;
  const b = { member: "b#1", current: both, published: both };

  test("a new member waits until the old owner acknowledges it and no longer drains the key", () => {
    assert.equal(mayClaim(moving, b, [{ member: "a#1", view: ["a#1"], draining: new Set() }]), false, "a has not seen b");
    assert.equal(mayClaim(moving, b, [{ member: "a#1", view: both, draining: new Set([moving]) }]), false, "a still runs the key");
    assert.equal(mayClaim(moving, b, [{ member: "a#1", view: both, draining: new Set() }]), true);
  });

  test("a member starts only keys that are its own under its current and its published set", () => {
    const a = { member: "a#1", current: both, published: ["a#1"] };
    assert.equal(mayClaim(moving, a, [{ member: "b#1", view: both, draining: new Set() }]), false);
    const three = ["a#1", "b#1", "c#1"];
    const k = KEYS.find((key) => ownerOf(key, both) === "b#1" && ownerOf(key, three) === "c#1")!;
    assert.equal(mayClaim(k, { ...b, published: three }, [{ member: "a#1", view: both, draining: new Set() }]), false, "not b's under the set b published");
    assert.equal(
      mayClaim(k, { ...b, publishing: three }, [{ member: "a#1", view: both, draining: new Set() }]),
      false,
      "not b's under the set b is publishing",
    );
    assert.equal(mayClaim(k, b, [{ member: "a#1", view: both, draining: new Set() }]), true);
    assert.deepEqual(drainingKeys([moving, "x"], both, "a#1"), ownerOf("x", both) === "a#1" ? [moving] : [moving, "x"].sort());
  });
});

describe("lease membership", () => {
  let env: Env;
  before(async () => (env = await startEnv()));
  after(() => env.stop());

  /** A replica of agent `agentName` (one per test, so that tests do not see each other's replicas). */
  function member(agentName: string, identity: string, address = { grpc: env.grpcAddress, http: env.server.url }, leaseDurationMs = DURATION, clock?: Clock) {
    const client = new SetpointClient({ grpcAddress: address.grpc, httpUrl: address.http });
    const stop = new AbortController();
    const m = new LeaseMembership({ client, agentName, identity, leaseDurationMs, clock });
    const running = m.run(stop.signal).finally(() => client.close());
    return { m, stop: () => (stop.abort(), running) };
  }
  const mine = (m: LeaseMembership) => KEYS.filter((k) => m.owns(k));
  const runnable = (m: LeaseMembership, keys: string[]) =>
    keys.every((k) => {
      const claim = m.begin(k);
      claim?.end();
      return claim !== undefined;
    });

  test("a lone replica holds and renews its lease and may run every key", async () => {
    const a = member("solo", "solo");
    await waitFor("the lease", () => a.m.member);
    await waitFor("every key runnable", () => runnable(a.m, KEYS));
    const path = `/apis/setpoint.dev/v1/namespaces/default/leases/${a.m.leaseName}`;
    const first = (await env.http.get(path)).body;
    assert.equal(first.spec.holderIdentity, a.m.member);
    assert.equal(first.metadata.labels["agent.setpoint.dev/name"], "solo");
    assert.deepEqual(JSON.parse(first.metadata.annotations["agent.setpoint.dev/view"]), [a.m.member]);
    await waitFor("a renewal", async () => (await env.http.get(path)).body.spec.renewTime !== first.spec.renewTime);
    await a.stop();
    assert.equal((await env.http.get(path)).status, 404, "released on shutdown");
  });

  test("a joining replica waits until the old owner finished a key it takes over", async () => {
    // On a manual clock: leases renew only when the test moves time, so none can lapse
    // mid-test on a loaded machine and reshuffle the keys.
    const clock = new ManualClock(Date.now());
    const renewMs = DURATION / 3;
    const here = { grpc: env.grpcAddress, http: env.server.url };
    const a = member("join", "a", here, DURATION, clock);
    await waitFor("a's lease", () => a.m.member && runnable(a.m, KEYS));
    // Hold a claim on every key: some of them will move to b.
    const claims = new Map(KEYS.map((k) => [k, a.m.begin(k)!]));
    const b = member("join", "b", here, DURATION, clock);
    await waitFor("a sees b", () => a.m.members().length === 2 && b.m.members().length === 2);
    const moving = mine(b.m);
    const staying = mine(a.m);
    assert.ok(moving.length > 0 && staying.length > 0);
    assert.ok(runnable(a.m, staying), "a keeps running its own keys");
    assert.ok(!moving.some((k) => a.m.begin(k)), "a starts nothing that moves");
    // Two renewals of both: room for b to start a key it must not.
    const renewTime = async (m: LeaseMembership) => (await env.http.get(`/apis/setpoint.dev/v1/namespaces/default/leases/${m.leaseName}`)).body.spec?.renewTime;
    for (let round = 0; round < 2; round++) {
      const before = [await renewTime(a.m), await renewTime(b.m)];
      clock.advance(renewMs);
      await waitFor(`renewal ${round + 1} of both`, async () => {
        clock.advance(0); // fires a renewal that came due while a write was in flight
        return (await renewTime(a.m)) > before[0] && (await renewTime(b.m)) > before[1];
      });
      assert.ok(!moving.some((k) => b.m.begin(k)), "b waits while a still runs the keys");
    }
    const leaseOfA = (await env.http.get(`/apis/setpoint.dev/v1/namespaces/default/leases/${a.m.leaseName}`)).body;
    assert.deepEqual(JSON.parse(leaseOfA.metadata.annotations["agent.setpoint.dev/draining"]), [...moving].sort(), "a publishes what it still runs");
    for (const k of moving.slice(1)) claims.get(k)!.end();
    await waitFor("b may run the finished keys", () => runnable(b.m, moving.slice(1)));
    assert.equal(b.m.begin(moving[0]!), undefined, "a still runs the first one");
    for (const c of claims.values()) c.end();
    await waitFor("b runs all its keys", () => runnable(b.m, moving));
    await Promise.all([a.stop(), b.stop()]);
  });

  test("a replica cut off from the server fences itself; the other takes over once its lease expired", async (t) => {
    const grpc = await startProxy(env.server.grpcPort);
    const http = await startProxy(env.server.port);
    const a = member("fence", "cut", { grpc: `127.0.0.1:${grpc.port}`, http: `http://127.0.0.1:${http.port}` });
    const b = member("fence", "live");
    await waitFor("both hold leases and agree", () => a.m.members().length === 2 && runnable(a.m, mine(a.m)) && runnable(b.m, mine(b.m)));
    const aKeys = mine(a.m);
    const claim = a.m.begin(aKeys[0]!)!;
    assert.ok(claim);
    const cutAt = Date.now();
    grpc.cut();
    http.cut();
    await waitFor("a's fence", () => claim.signal.aborted, DURATION);
    const fencedAfter = Date.now() - cutAt;
    // The fence is two thirds into the lease after the last renewal began (before the cut); slack for a busy event loop.
    assert.ok(fencedAfter <= (DURATION * 2) / 3 + 400, `fenced after ${fencedAfter} ms`);
    t.diagnostic(`fenced ${fencedAfter} ms after the cut`);
    assert.equal(a.m.begin(aKeys[1]!), undefined);
    claim.end();
    await waitFor("b runs a's keys", () => b.m.members().length === 1 && runnable(b.m, aKeys), 3 * DURATION);
    const takeover = Date.now() - cutAt;
    assert.ok(takeover >= (DURATION * 2) / 3 && takeover <= DURATION + 800, `took over after ${takeover} ms`);
    t.diagnostic(`keys taken over ${takeover} ms after the cut (lease ${DURATION} ms)`);
    grpc.restore();
    http.restore();
    await waitFor("a rejoins under a new incarnation", () => a.m.member && b.m.members().length === 2, 20_000);
    await Promise.all([a.stop(), b.stop(), grpc.close(), http.close()]);
  });

  test("a released lease hands its keys over at once", async () => {
    const a = member("release", "leaving");
    const b = member("release", "staying");
    await waitFor("both agree", () => a.m.members().length === 2 && b.m.members().length === 2 && runnable(a.m, mine(a.m)));
    const aKeys = mine(a.m);
    const stoppedAt = Date.now();
    await a.stop();
    await waitFor("b runs a's keys", () => runnable(b.m, aKeys));
    assert.ok(Date.now() - stoppedAt < DURATION / 2, `handover took ${Date.now() - stoppedAt} ms`);
    await b.stop();
  });
});
