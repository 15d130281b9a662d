// Claims by lease against a real server: rendezvous ownership, handoff when a
// replica joins (the new owner waits for the old one to finish), the fence on
// a replica cut off from the server, takeover after its lease expires, and
// immediate takeover after a release.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LeaseMembership, ownerOf, SetpointClient } from "../../src/agent.ts";
import { ManualClock, systemClock, type Clock } from "../../src/clock.ts";
import { drainingKeys, mayClaim } from "../../src/agent/claims.ts";
import { startEnv, startProxy, waitFor, type Env } from "./fixtures.ts";

// Every test runs on a manual clock that it moves itself, so the lease can be long: what
// stays real is each lease call's deadline (a third of the lease), and 5 s of it
// keeps a renewal on a loaded machine from timing out and waiting for a retry that
// only the clock would bring.
const DURATION = 15_000;
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
    // Every lease this replica deletes, and when on its clock it sent the delete (a reap
    // sends it at once, from the timer that found the lease expired).
    const deletes: Array<{ name: string; at: number }> = [];
    const send = client.delete.bind(client);
    client.delete = (ref, options) => {
      deletes.push({ name: ref.name, at: (clock ?? systemClock).now() });
      return send(ref, options);
    };
    const stop = new AbortController();
    const m = new LeaseMembership({ client, agentName, identity, leaseDurationMs, clock });
    const running = m.run(stop.signal).finally(() => client.close());
    return { m, deletes, stop: () => (stop.abort(), running) };
  }
  const mine = (m: LeaseMembership) => KEYS.filter((k) => m.owns(k));
  const runnable = (m: LeaseMembership, keys: string[]) =>
    keys.every((k) => {
      const claim = m.begin(k);
      claim?.end();
      return claim !== undefined;
    });

  test("a lone replica holds and renews its lease and may run every key", async () => {
    // On a manual clock: the lease cannot lapse between two reads on a loaded machine,
    // and the renewal comes exactly when the test moves time by the renew interval.
    const clock = new ManualClock(Date.now());
    const a = member("solo", "solo", undefined, DURATION, clock);
    const path = `/apis/setpoint.dev/v1/namespaces/default/leases/${a.m.leaseName}`;
    try {
      await waitFor("the lease", () => a.m.member);
      await waitFor("every key runnable", () => runnable(a.m, KEYS));
      const read = await env.http.get(path);
      assert.equal(read.status, 200, read.text);
      const first = read.body;
      assert.equal(first.spec.holderIdentity, a.m.member);
      assert.equal(first.metadata.labels["agent.setpoint.dev/name"], "solo");
      assert.deepEqual(JSON.parse(first.metadata.annotations["agent.setpoint.dev/view"]), [a.m.member]);
      const renewedAt = a.m.renewedAt!;
      clock.advance(DURATION / 3);
      await waitFor("a renewal", () => {
        clock.advance(0); // fires a renewal that came due while a write was in flight
        return a.m.renewedAt! > renewedAt;
      });
      const renewed = (await env.http.get(path)).body;
      assert.equal(renewed.spec.renewTime, new Date(a.m.renewedAt!).toISOString(), "the renewal is stored with the time it began");
      assert.equal(renewed.spec.holderIdentity, first.spec.holderIdentity, "renewed by the same member");
    } finally {
      await a.stop();
    }
    assert.equal((await env.http.get(path)).status, 404, "released on shutdown");
  });

  test("a joining replica waits until the old owner finished a key it takes over", async () => {
    // On a manual clock: leases renew only when the test moves time, so none can lapse
    // mid-test on a loaded machine and reshuffle the keys.
    const clock = new ManualClock(Date.now());
    const renewMs = DURATION / 3;
    const here = { grpc: env.grpcAddress, http: env.server.url };
    const a = member("join", "a", here, DURATION, clock);
    const stops = [a.stop];
    try {
      await waitFor("a's lease", () => a.m.member && runnable(a.m, KEYS));
      // Hold a claim on every key: some of them will move to b.
      const claims = new Map(KEYS.map((k) => [k, a.m.begin(k)!]));
      const b = member("join", "b", here, DURATION, clock);
      stops.push(b.stop);
      await waitFor("a sees b", () => a.m.members().length === 2 && b.m.members().length === 2);
      const moving = mine(b.m);
      const staying = mine(a.m);
      assert.ok(moving.length > 0 && staying.length > 0);
      assert.ok(runnable(a.m, staying), "a keeps running its own keys");
      assert.ok(!moving.some((k) => a.m.begin(k)), "a starts nothing that moves");
      // Two renewals of both: room for b to start a key it must not.
      for (let round = 0; round < 2; round++) {
        const before = [a.m.renewedAt ?? 0, b.m.renewedAt ?? 0];
        clock.advance(renewMs);
        await waitFor(`renewal ${round + 1} of both`, () => {
          clock.advance(0); // fires a renewal that came due while a write was in flight
          return (a.m.renewedAt ?? 0) > before[0]! && (b.m.renewedAt ?? 0) > before[1]!;
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
    } finally {
      await Promise.all(stops.map((stop) => stop()));
    }
  });

  test("a replica cut off from the server fences itself at its renew deadline; the other takes over once its lease expired", async () => {
    // On a manual clock, so that the fence and the takeover are checked at the exact
    // instants the lease sets, and a loaded machine cannot move them.
    const clock = new ManualClock(Date.now());
    const t0 = clock.now();
    const renewMs = DURATION / 3;
    const deadlineMs = (DURATION * 2) / 3;
    const grpc = await startProxy(env.server.grpcPort);
    const http = await startProxy(env.server.port);
    const a = member("fence", "cut", { grpc: `127.0.0.1:${grpc.port}`, http: `http://127.0.0.1:${http.port}` }, DURATION, clock);
    const b = member("fence", "live", undefined, DURATION, clock);
    try {
      await waitFor("both hold leases and agree", () => a.m.members().length === 2 && runnable(a.m, mine(a.m)) && runnable(b.m, mine(b.m)));
      const aKeys = mine(a.m);
      const claim = a.m.begin(aKeys[0]!)!;
      assert.ok(claim);
      /**
       * Waits until b has seen its own renewal that began at or after `at` succeed:
       * b's fence moves only when the answer reaches b, which can be later than the
       * write lands in the server, so the clock must not pass b's fence before that.
       */
      const bRenewed = (at: number) =>
        waitFor(`b's renewal at t0+${at - t0}`, () => {
          clock.advance(0); // fires a renewal that came due while a write was in flight
          return (b.m.renewedAt ?? 0) >= at;
        });
      /** Moves the clock to t0 + `at`; with `bRenews`, waits for b's renewal due then (b must never lapse). */
      const advanceTo = async (at: number, bRenews = false) => {
        clock.advance(t0 + at - clock.now());
        if (bRenews) await bRenewed(t0 + at);
      };
      grpc.cut();
      http.cut();
      // Both leases were taken at t0 and not renewed since: a's fence is due at t0 + deadline.
      await advanceTo(renewMs, true); // a's renewal fails; b's lands
      await advanceTo(deadlineMs - 1);
      assert.equal(claim.signal.aborted, false, "a still holds its lease 1 ms before the renew deadline");
      await advanceTo(deadlineMs, true);
      assert.equal(claim.signal.aborted, true, "a fenced itself at the renew deadline");
      assert.equal(a.m.begin(aKeys[1]!), undefined, "a starts nothing once fenced");
      claim.end();
      // a's lease was last written at t0: b may take its keys only from t0 + the lease duration.
      assert.ok(!aKeys.some((k) => runnable(b.m, [k])), "b does not run a's keys while a's lease may still be held");
      await advanceTo(DURATION - 1);
      assert.deepEqual(b.deletes, [], "b does not reap a's lease 1 ms before it expires");
      assert.equal(b.m.members().length, 2, `b still knows a 1 ms before a's lease expires (b knows ${b.m.members().join(", ")})`);
      assert.ok(!aKeys.some((k) => runnable(b.m, [k])), "b does not run a's keys 1 ms before a's lease expires");
      await advanceTo(DURATION);
      assert.deepEqual(b.deletes[0], { name: a.m.leaseName, at: t0 + DURATION }, "b reaps a's lease the instant it expires");
      await bRenewed(t0 + DURATION);
      await waitFor("b reaps a's lease and runs a's keys", () => b.m.members().length === 1 && runnable(b.m, aKeys));
      grpc.restore();
      http.restore();
      // a rejoins under a new incarnation: steps of a fifth of the renew interval wake its
      // acquire loop's backoff. The clock never passes b's next renewal before b saw that
      // renewal land (b's writes as its view changes move the renewal too).
      const nextOfB = () => (b.m.renewedAt ?? Number.NEGATIVE_INFINITY) + renewMs;
      await waitFor(
        "a rejoins under a new incarnation",
        async () => {
          if (a.m.member && b.m.members().length === 2) return true;
          await waitFor("b's renewal", () => {
            clock.advance(0); // fires a renewal that came due while a write was in flight
            return nextOfB() > clock.now();
          });
          clock.advance(Math.min(renewMs / 5, nextOfB() - clock.now()));
          return false;
        },
        20_000,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await Promise.all([grpc.close(), http.close()]);
    }
  });

  test("a released lease hands its keys over at once", async () => {
    // On a manual clock that never moves: no lease can expire, so b can only get a's
    // keys from a's release.
    const clock = new ManualClock(Date.now());
    const a = member("release", "leaving", undefined, DURATION, clock);
    const b = member("release", "staying", undefined, DURATION, clock);
    try {
      await waitFor("both agree", () => a.m.members().length === 2 && b.m.members().length === 2 && runnable(a.m, mine(a.m)));
      const aKeys = mine(a.m);
      assert.ok(!aKeys.some((k) => runnable(b.m, [k])), "b does not run a's keys while a holds them");
      await a.stop();
      await waitFor("b runs a's keys with no time passed", () => runnable(b.m, aKeys));
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
