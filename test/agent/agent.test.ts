// The agent end to end against a real server: level-triggered reconcile with
// status writes (and the latency from a REST create to the reconcile and on
// to a watcher seeing the status), conflicts requeue instead of overwriting,
// deduplication of a busy key, updates turned down by shouldReconcile,
// isolation of failing and hanging reconciles,
// graceful shutdown, resume after a server restart and warm restart without
// listing, and a server that is down.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import { Agent, ConflictError, SetpointClient, type AgentOptions, type ApiObject } from "../../src/agent.ts";
import { PREFIX, TYPE, createWidget, requestCount, startEnv, waitFor, type Env } from "./fixtures.ts";

const RESOURCE = `${TYPE.plural}.${TYPE.group}`;
const path = (name: string) => `${PREFIX}/namespaces/default/widgets/${name}`;

describe("agent", () => {
  let env: Env;
  before(async () => (env = await startEnv()));
  after(() => env.stop());

  /** Starts an agent on the test server; reconciles of keys outside `only` are ignored. */
  function start(options: Partial<AgentOptions> & Pick<AgentOptions, "reconcile">, only?: (key: string) => boolean) {
    const stop = new AbortController();
    const errors: unknown[] = [];
    const reconcile = options.reconcile;
    const agent = new Agent({
      name: "agent-test",
      grpcAddress: env.grpcAddress,
      httpUrl: env.server.url,
      type: TYPE,
      onError: (err) => errors.push(err),
      ...options,
      reconcile: (key, ctx) => (only && !only(key) ? Promise.resolve() : reconcile(key, ctx)),
    });
    const running = agent.run(stop.signal);
    return { agent, errors, stop: () => (stop.abort(), running) };
  }

  test("reconciles the current object and writes status with observedGeneration; measures latency", async (t) => {
    const reconciledAt = new Map<string, number>();
    const a = start(
      {
        reconcile: async (key, ctx) => {
          if (!reconciledAt.has(key)) reconciledAt.set(key, performance.now());
          const o = ctx.object as ApiObject<{ size: number }, { observedGeneration?: number }> | undefined;
          if (o && o.status?.observedGeneration !== o.metadata.generation) await ctx.updateStatus({ doubled: o.spec!.size * 2 });
        },
      },
      (key) => key.startsWith("default/lat-"),
    );
    const watcher = new SetpointClient({ grpcAddress: env.grpcAddress, httpUrl: env.server.url });
    const statusSeenAt = new Map<string, number>();
    const watch = watcher.watch(TYPE, { resourceVersion: String(env.server.store.head()) }, (e) => {
      if ((e.object.status as any)?.doubled !== undefined && !statusSeenAt.has(e.object.metadata.name))
        statusSeenAt.set(e.object.metadata.name, performance.now());
    });
    await waitFor("the agent's lease", () => a.agent.membership?.member);
    const toReconcile: number[] = [];
    const toStatus: number[] = [];
    for (let i = 0; i < 30; i++) {
      const name = `lat-${i}`;
      const created = performance.now();
      await createWidget(env.http, name, { size: i });
      await waitFor(`status of ${name}`, () => statusSeenAt.get(name));
      toReconcile.push(reconciledAt.get(`default/${name}`)! - created);
      toStatus.push(statusSeenAt.get(name)! - reconciledAt.get(`default/${name}`)!);
    }
    const stored = (await env.http.get(path("lat-7"))).body;
    assert.deepEqual(stored.status, { doubled: 14, observedGeneration: 1 });
    const q = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(1);
    t.diagnostic(`REST create -> reconcile: median ${q(toReconcile, 0.5)} ms, p90 ${q(toReconcile, 0.9)} ms, max ${q(toReconcile, 1)} ms`);
    t.diagnostic(`reconcile -> status seen by a watcher: median ${q(toStatus, 0.5)} ms, p90 ${q(toStatus, 0.9)} ms, max ${q(toStatus, 1)} ms`);
    watch.close();
    watcher.close();
    await a.stop();
  });

  test("takes the client's resolver, deadline and keepalive: a server named by a host name only its resolver knows", async () => {
    const port = new URL(env.server.url).port;
    const looked: string[] = [];
    const a = start(
      {
        httpUrl: `http://replicas.agent.test:${port}`,
        resolve: async (hostname, p) => {
          looked.push(hostname);
          return hostname === "replicas.agent.test" ? [{ address: "127.0.0.1", port: p }] : [];
        },
        timeoutMs: 20_000,
        keepaliveMs: 20_000,
        reconcile: async (_key, ctx) => {
          const o = ctx.object as ApiObject<{ size: number }> | undefined;
          if (o && o.status === undefined) await ctx.updateStatus({ doubled: o.spec!.size * 2 });
        },
      },
      (key) => key === "default/resolved",
    );
    try {
      await createWidget(env.http, "resolved", { size: 4 });
      await waitFor("the status written through the resolved name", async () => (await env.http.get(path("resolved"))).body.status?.doubled === 8);
      assert.ok(looked.includes("replicas.agent.test"), `the resolver was asked: ${looked.join(",")}`);
    } finally {
      await a.stop();
    }
  });

  test("a stale status write gets a conflict and a requeue, never an overwrite", async () => {
    await createWidget(env.http, "conflict", { size: 1 });
    const seen: Array<{ generation: number; outcome: string }> = [];
    const a = start(
      {
        reconcile: async (_key, ctx) => {
          const o = ctx.object!;
          if (o.metadata.generation === 1) {
            // Someone changes the spec between our read and our write.
            assert.equal((await env.http.patch(path("conflict"), { spec: { size: 2 } })).status, 200);
          }
          try {
            await ctx.updateStatus({ size: (o.spec as { size: number }).size });
            seen.push({ generation: o.metadata.generation!, outcome: "written" });
          } catch (err) {
            seen.push({ generation: o.metadata.generation!, outcome: err instanceof ConflictError ? "conflict" : String(err) });
            throw err;
          }
        },
      },
      (key) => key === "default/conflict",
    );
    await waitFor("the second reconcile", () => seen.some((s) => s.outcome === "written"));
    assert.deepEqual(seen.slice(0, 2), [
      { generation: 1, outcome: "conflict" },
      { generation: 2, outcome: "written" },
    ]);
    assert.deepEqual((await env.http.get(path("conflict"))).body.status, { size: 2, observedGeneration: 2 });
    assert.deepEqual(a.errors, [], "conflicts are not reported as errors");
    await a.stop();
  });

  test("shouldReconcile turns down the updates it rejects (here the agent's own status writes); by default every update reconciles", async () => {
    type Widget = ApiObject<{ size: number }, { size?: number; observedGeneration?: number }>;
    for (const filtered of [false, true]) {
      const name = `gen-${filtered ? "filtered" : "default"}`;
      const marker = `${name}-marker`;
      const generations: number[] = [];
      let markerDone = false;
      const a = start(
        {
          // One worker: keys are reconciled in the order they were queued (the marker below relies on it).
          workers: 1,
          ...(filtered ? { shouldReconcile: (old: ApiObject, o: ApiObject) => old.metadata.generation !== o.metadata.generation } : {}),
          reconcile: async (key, ctx) => {
            if (key === `default/${marker}`) return void (markerDone = true);
            const o = ctx.object as Widget;
            generations.push(o.metadata.generation!);
            if (o.status?.observedGeneration !== o.metadata.generation) await ctx.updateStatus({ size: o.spec!.size });
          },
        },
        (key) => key === `default/${name}` || key === `default/${marker}`,
      );
      const observed = () => (a.agent.cache.get(`default/${name}`) as Widget | undefined)?.status?.observedGeneration;
      await createWidget(env.http, name, { size: 1 });
      await waitFor("generation 1's status in the agent's cache", () => observed() === 1);
      // Unfiltered, the status write's own event reconciles again (and finds nothing to do).
      if (!filtered) await waitFor("the reconcile of the agent's own status write", () => generations.length === 2);
      assert.equal((await env.http.patch(path(name), { spec: { size: 2 } })).status, 200);
      await waitFor("generation 2's status in the agent's cache", () => observed() === 2);
      if (!filtered) await waitFor("the reconcile of the second status write", () => generations.length === 4);
      // A reconcile the filter should have turned down would be queued before this later key.
      await createWidget(env.http, marker);
      await waitFor("the marker's reconcile", () => markerDone);
      assert.deepEqual(generations, filtered ? [1, 2] : [1, 1, 2, 2], filtered ? "filtered" : "by default");
      assert.deepEqual(a.errors, []);
      await a.stop();
    }
  });

  test("a shouldReconcile that throws is reported and the update reconciles", async () => {
    await createWidget(env.http, "pred-throws", { size: 1 });
    const generations: number[] = [];
    const a = start(
      {
        shouldReconcile: () => {
          throw new Error("predicate broke");
        },
        reconcile: async (_key, ctx) => {
          generations.push(ctx.object!.metadata.generation!);
        },
      },
      (key) => key === "default/pred-throws",
    );
    await waitFor("the first reconcile", () => generations.length === 1);
    assert.equal((await env.http.patch(path("pred-throws"), { spec: { size: 2 } })).status, 200);
    await waitFor("the update's reconcile", () => generations.includes(2));
    assert.ok(a.errors.some((e) => (e as Error).message === "predicate broke"));
    await a.stop();
  });

  test("100 updates to a key while its reconcile is slow lead to at most two more reconciles", async () => {
    await createWidget(env.http, "busy", { size: 0 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const versions: string[] = [];
    let finished = 0;
    let markerDone = false;
    const a = start(
      {
        // One worker: keys are reconciled in the order they were queued (the marker below relies on it).
        workers: 1,
        reconcile: async (key, ctx) => {
          if (key === "default/busy-marker") return void (markerDone = true);
          versions.push(ctx.object!.metadata.resourceVersion!);
          if (versions.length === 1) await gate;
          finished++;
        },
      },
      (key) => key === "default/busy" || key === "default/busy-marker",
    );
    await waitFor("the first reconcile", () => versions.length === 1);
    let last = "";
    for (let i = 1; i <= 100; i++) last = (await env.http.patch(path("busy"), { spec: { size: i } })).body.metadata.resourceVersion;
    await waitFor("the last update in the cache", () => a.agent.cache.get("default/busy")?.metadata.resourceVersion === last);
    release();
    await waitFor("a reconcile of the last version", () => versions.at(-1) === last);
    // A reconcile that should not happen would be queued before this later key: once the
    // marker is reconciled, every reconcile of "busy" queued so far has begun.
    await waitFor("the last reconcile's end", () => finished === versions.length);
    await createWidget(env.http, "busy-marker");
    await waitFor("the marker's reconcile", () => markerDone);
    assert.ok(versions.length <= 3, `${versions.length} reconciles: ${versions.join(",")}`);
    await a.stop();
  });

  test("a reconcile that throws or hangs does not stop the others", async () => {
    for (const n of ["throws", "hangs", "ok1", "ok2"]) await createWidget(env.http, `iso-${n}`);
    const calls = new Map<string, number>();
    const a = start(
      {
        workers: 2,
        reconcile: async (key, ctx) => {
          calls.set(key, (calls.get(key) ?? 0) + 1);
          if (key === "default/iso-throws" && calls.get(key)! < 3) throw new Error("boom");
          if (key === "default/iso-hangs") await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        },
        shutdownGraceMs: 100,
      },
      (key) => key.startsWith("default/iso-"),
    );
    await waitFor(
      "every other key reconciled, the failing one retried",
      () => calls.get("default/iso-ok1") && calls.get("default/iso-ok2") && calls.get("default/iso-throws") === 3,
    );
    assert.equal(a.errors.filter((e) => (e as Error).message === "boom").length, 2);
    await a.stop();
  });

  test("graceful shutdown lets a running reconcile finish and releases the lease", async () => {
    await createWidget(env.http, "shutdown");
    let started = false;
    let finished = false;
    const a = start(
      {
        reconcile: async () => {
          started = true;
          await new Promise((r) => setTimeout(r, 200));
          finished = true;
        },
      },
      (key) => key === "default/shutdown",
    );
    await waitFor("the reconcile", () => started);
    const lease = `/apis/setpoint.dev/v1/namespaces/default/leases/${a.agent.membership!.leaseName}`;
    assert.equal((await env.http.get(lease)).status, 200);
    await a.stop();
    assert.equal(finished, true);
    assert.equal((await env.http.get(lease)).status, 404);
  });

  test("resumes after a server restart without listing, and warm-restarts from its state directory", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "setpoint-agent-state-"));
    const reconciled = new Set<string>();
    const options = { stateDir, reconcile: async (key: string) => void reconciled.add(key) };
    const only = (key: string) => key.startsWith("default/warm-");
    await createWidget(env.http, "warm-1");
    const first = start(options, only);
    await waitFor("warm-1", () => reconciled.has("default/warm-1"));
    await env.restart();
    await createWidget(env.http, "warm-2");
    await waitFor("warm-2 after the restart", () => reconciled.has("default/warm-2"));
    assert.equal(await requestCount(env.server.url, "list", RESOURCE), 0, "no List on the restarted server");
    assert.equal(first.agent.informer.stats.lists, 1);
    await first.stop();

    await createWidget(env.http, "warm-3");
    reconciled.clear();
    const second = start(options, only);
    await waitFor("every widget reconciled by the new agent", () => ["warm-1", "warm-2", "warm-3"].every((n) => reconciled.has(`default/${n}`)));
    assert.equal(second.agent.informer.stats.restores, 1);
    assert.equal(second.agent.informer.stats.lists, 0);
    assert.equal(await requestCount(env.server.url, "list", RESOURCE), 0, "still no List of widgets");
    await second.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
});

test("an agent whose server is down retries with backoff on its clock, never in a busy loop, and stops cleanly", async () => {
  const clock = new ManualClock(0);
  const errors: unknown[] = [];
  const stop = new AbortController();
  const agent = new Agent({
    name: "down",
    grpcAddress: "127.0.0.1:1",
    httpUrl: "http://127.0.0.1:1",
    type: TYPE,
    clock,
    errorReportIntervalMs: 0, // every failure: the two below tell that both informers wait on the clock
    reconcile: async () => assert.fail("nothing to reconcile"),
    onError: (err) => errors.push(err),
  });
  const running = agent.run(stop.signal);
  const lists = () => agent.client.calls.list ?? 0;
  // Two informers (widgets and leases) list once each, fail, and wait on the clock.
  await waitFor("both informers' first list", () => lists() === 2 && errors.length >= 2);
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  await settle();
  assert.equal(lists(), 2, "no retry while the clock stands still");
  clock.advance(60_000); // past any backoff: each informer retries once, then waits again
  await waitFor("one retry of each informer", () => lists() === 4);
  await settle();
  assert.equal(lists(), 4, "one retry per informer per backoff");
  stop.abort();
  await running;
});
