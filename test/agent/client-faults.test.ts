// Clients under replica faults (API.md §7, §9), on a real 3-member etcd with
// replicas as processes (test/helpers/fault-rig.ts): a replica that stops
// answering without closing (SIGSTOP: connections accepted, nothing answered),
// a write whose answer is lost after the replica applied it (a proxy that
// forwards the request and cuts the connection), and a replica killed with
// SIGKILL under `setpoint watch`. The clients must move on, resume from their
// last revision with nothing lost or repeated, and never apply a create
// without a name twice.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Agent } from "../../src/agent/agent.ts";
import { SetpointClient, TransportError } from "../../src/agent/client.ts";
import { ApiClient } from "../../src/cli/client.ts";
import { applyOne } from "../../src/cli/commands/apply.ts";
import { ServerError, UnreachableError } from "../../src/cli/errors.ts";
import { followCollection, type WatchEvent } from "../../src/cli/follow.ts";
import { ApiError, TimeoutError } from "../../src/errors.ts";
import { exited, LineReader, spawnSetpoint } from "../helpers/cli.ts";
import { startCuttingProxy, type CuttingProxy } from "../helpers/cutting-proxy.ts";
import { pauseProcess } from "../helpers/pause.ts";
import { COLLECTION, rig, stopRigs, thing, type Rig } from "../helpers/fault-rig.ts";
import { createAcked, eventually } from "../helpers/history.ts";
import { freePort } from "../helpers/ports.ts";

const GROUP = "faults.example.com";
const ref = { group: GROUP, version: "v1", plural: "things", namespace: "default" };
const unnamed = (prefix: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name: "", generateName: prefix }, spec: {} });
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

/** Test names for grpc-js (`setpoint-test:NAME`): each stands for the 127.0.0.1 ports listed here. */
const TEST_SCHEME = "setpoint-test";
const replicasOfName = new Map<string, number[]>();
grpc.experimental.registerResolver(
  TEST_SCHEME,
  class {
    readonly #name: string;
    readonly #listener: grpc.experimental.ResolverListener;
    constructor(target: grpc.experimental.GrpcUri, listener: grpc.experimental.ResolverListener) {
      this.#name = target.path;
      this.#listener = listener;
    }
    updateResolution(): void {
      const endpoints = (replicasOfName.get(this.#name) ?? []).map((port) => ({ addresses: [{ host: "127.0.0.1", port }] }));
      setImmediate(() => this.#listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, ""));
    }
    destroy(): void {}
    static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
      return target.path;
    }
  },
);

let r: Rig;
const proxies: CuttingProxy[] = [];

before(async () => {
  r = await rig(2);
});
after(async () => {
  for (const p of proxies) await p.close();
  for (const replica of r?.replicas ?? []) if (replica.child.exitCode === null) replica.child.kill("SIGCONT");
  await stopRigs();
});

/** Names of the stored things starting with `prefix`, read from a live replica. */
async function stored(prefix: string): Promise<string[]> {
  const res = await fetch(`${r.urls().at(-1)}${COLLECTION}`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(res.status, 200);
  const list = (await res.json()) as { items: Array<{ metadata: { name: string } }> };
  return list.items.map((i) => i.metadata.name).filter((n) => n.startsWith(prefix));
}

describe("clients under replica faults (3-member etcd, replicas as processes)", () => {
  it("a create whose answer is lost is never sent again without a name; with a name the retry's AlreadyExists says so (SDK over gRPC and REST, CLI)", async () => {
    const [a, b] = r.replicas;
    const grpcProxy = await startCuttingProxy(portOf(a!.grpc));
    const httpProxy = await startCuttingProxy(portOf(a!.url));
    proxies.push(grpcProxy, httpProxy);
    const via = { grpcAddress: `127.0.0.1:${grpcProxy.port},${b!.grpc}`, httpUrl: `http://127.0.0.1:${httpProxy.port},${b!.url}` };

    // SDK over gRPC, generateName: the replica applies it, its answer is lost; sending it to B would make a second object.
    const sdk = new SetpointClient({ ...via, writeTransport: "grpc" });
    try {
      await sdk.list(ref); // connected through the proxy to A
      grpcProxy.arm("lost-sdk-");
      await assert.rejects(sdk.create(ref, unnamed("lost-sdk-")), (err: unknown) => {
        assert.ok(err instanceof TransportError, String(err));
        assert.match(err.message, /may have been applied/);
        return true;
      });
      assert.equal(grpcProxy.cuts(), 1);
      assert.equal((await stored("lost-sdk-")).length, 1, "the create was applied once");
      // The client moved on: the next create goes to B.
      assert.equal(sdk.replica.grpcAddress, b!.grpc);
      await sdk.create(ref, unnamed("next-sdk-"));
      assert.equal((await stored("next-sdk-")).length, 1);
    } finally {
      sdk.close();
    }

    // SDK over gRPC, a name: sent again to B, which finds it taken; the error says the lost attempt may have made it.
    const named = new SetpointClient({ ...via, writeTransport: "grpc" });
    try {
      await named.list(ref);
      grpcProxy.arm("named-sdk");
      await assert.rejects(named.create(ref, thing("named-sdk")), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.reason === "AlreadyExists", String(err));
        assert.match(err.message, /lost its answer: it may have created it/);
        return true;
      });
      assert.deepEqual(await stored("named-sdk"), ["named-sdk"]);
    } finally {
      named.close();
    }

    // SDK over REST (its default with an HTTP URL): the same.
    const rest = new SetpointClient(via);
    try {
      httpProxy.arm("lost-rest-");
      await assert.rejects(rest.create(ref, unnamed("lost-rest-")), (err: unknown) => {
        assert.ok(err instanceof TransportError, String(err));
        assert.match(err.message, /lost its answer .*may have been applied/);
        return true;
      });
      assert.equal(httpProxy.cuts(), 1);
      assert.equal((await stored("lost-rest-")).length, 1, "the create was applied once");
      assert.equal(rest.replica.httpUrl, b!.url, "the client moved on to B");
    } finally {
      rest.close();
    }
    const namedRest = new SetpointClient(via);
    try {
      httpProxy.arm("named-rest");
      await assert.rejects(namedRest.create(ref, thing("named-rest")), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.reason === "AlreadyExists", String(err));
        assert.match(err.message, /lost its answer: it may have created it/);
        return true;
      });
      assert.deepEqual(await stored("named-rest"), ["named-rest"]);
    } finally {
      namedRest.close();
    }

    // CLI, generateName: the same, over HTTP.
    const cli = new ApiClient({ server: via.httpUrl });
    await cli.request("GET", COLLECTION);
    httpProxy.arm("lost-cli-");
    await assert.rejects(cli.request("POST", COLLECTION, { body: unnamed("lost-cli-") }), (err: unknown) => {
      assert.ok(err instanceof UnreachableError, String(err));
      assert.match(err.message, /may have been applied/);
      return true;
    });
    assert.equal((await stored("lost-cli-")).length, 1, "the CLI's create was applied once");
    assert.equal(httpProxy.cuts(), 3);
    assert.equal(cli.server, b!.url, "the CLI moved on to B");

    // CLI apply, a name: the retry on B finds it, and apply carries on to the manifest's state.
    const applier = new ApiClient({ server: via.httpUrl });
    await applier.request("GET", COLLECTION);
    httpProxy.arm("named-cli");
    const info = { group: GROUP, version: "v1", plural: "things", singular: "thing", kind: "Thing", namespaced: true };
    const applied = await applyOne(applier, info, "default", thing("named-cli"));
    assert.equal(applied.name, "named-cli");
    assert.deepEqual(await stored("named-cli"), ["named-cli"]);

    // A replica that refuses the connection never got the create: it goes to the next one.
    const dead = await freePort(); // nothing listens there
    const refused = new ApiClient({ server: `http://127.0.0.1:${dead},${b!.url}` });
    const created = await refused.request("POST", COLLECTION, { body: unnamed("refused-cli-") });
    assert.match(created.metadata.name, /^refused-cli-/);
    assert.equal((await stored("refused-cli-")).length, 1);
    const sdkRefused = new SetpointClient({ grpcAddress: `127.0.0.1:${dead},${b!.grpc}` });
    try {
      await sdkRefused.create(ref, unnamed("refused-sdk-"));
      assert.equal((await stored("refused-sdk-")).length, 1);
    } finally {
      sdkRefused.close();
    }
    const restRefused = new SetpointClient({ grpcAddress: `127.0.0.1:${dead},${b!.grpc}`, httpUrl: `http://127.0.0.1:${dead},${b!.url}` });
    try {
      await restRefused.create(ref, unnamed("refused-rest-"));
      assert.equal((await stored("refused-rest-")).length, 1);
    } finally {
      restRefused.close();
    }
  });

  it("a delete whose answer is lost is sent to the next replica; its NotFound says the lost attempt may have deleted it (SDK and CLI)", async () => {
    const [a, b] = r.replicas;
    const grpcProxy = await startCuttingProxy(portOf(a!.grpc));
    const httpProxy = await startCuttingProxy(portOf(a!.url));
    proxies.push(grpcProxy, httpProxy);
    for (const name of ["del-sdk", "del-cli"]) await createAcked(() => [b!.url], COLLECTION, thing(name));

    const sdk = new SetpointClient({ grpcAddress: `127.0.0.1:${grpcProxy.port},${b!.grpc}` });
    try {
      await sdk.list(ref);
      grpcProxy.arm("del-sdk");
      await assert.rejects(sdk.delete({ ...ref, name: "del-sdk" }), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.reason === "NotFound", String(err));
        assert.match(err.message, /lost its answer: it may have deleted it/);
        return true;
      });
      assert.equal(grpcProxy.cuts(), 1);
    } finally {
      sdk.close();
    }

    const cli = new ApiClient({ server: `http://127.0.0.1:${httpProxy.port},${b!.url}` });
    await cli.request("GET", COLLECTION);
    httpProxy.arm("del-cli");
    await assert.rejects(cli.request("DELETE", `${COLLECTION}/del-cli`), (err: unknown) => {
      assert.ok(err instanceof ServerError && err.code === 404, String(err));
      assert.match(err.message, /lost its answer: it may have been applied there/);
      return true;
    });
    assert.equal(httpProxy.cuts(), 1);
    assert.deepEqual(await stored("del-"), [], "both deleted");
  });

  it("the CLI's follow (setpoint watch) leaves a replica that stops answering without closing, and resumes on the next", async () => {
    const [a, b] = r.replicas;
    const client = new ApiClient({ server: `${a!.url},${b!.url}`, timeoutMs: 10_000 });
    const path = COLLECTION;
    const stop = new AbortController();
    const seen: string[] = [];
    const notices: string[] = [];
    let initial = -1;
    const following = followCollection(client, {
      path,
      labelSelector: "follow=stop",
      signal: stop.signal,
      onInitial: (events) => (initial = events.length),
      onEvent: (e: WatchEvent) => seen.push(`${e.type} ${e.object.metadata.name}`),
      onNotice: (m) => notices.push(m),
      backoff: { initialMs: 50, maxMs: 200 },
      idleTimeoutMs: 1500,
    });
    const labelled = (name: string) => ({ ...thing(name), metadata: { name, labels: { follow: "stop" } } });
    try {
      await eventually(() => initial === 0, "the initial list");
      assert.equal(client.server, a!.url);
      for (let i = 0; i < 3; i++) await createAcked(() => [b!.url], COLLECTION, labelled(`s${i}`));
      await eventually(() => seen.length === 3, "three events from A");
      await pauseProcess(a!.child, "replica A");
      for (let i = 3; i < 6; i++) await createAcked(() => [b!.url], COLLECTION, labelled(`s${i}`));
      await eventually(() => seen.length === 6, `six events (after A stopped answering); notices: ${notices.join(" | ")}`, 60_000);
      assert.deepEqual(
        seen,
        [0, 1, 2, 3, 4, 5].map((i) => `ADDED s${i}`),
      );
      assert.equal(client.server, b!.url);
      assert.ok(
        notices.some((m) => m.includes("no answer for 1.5 s") && m.includes(b!.url)),
        notices.join(" | "),
      );
      assert.ok(!notices.some((m) => m.includes("relisting")), "resumed, not relisted");
    } finally {
      a!.child.kill("SIGCONT");
      stop.abort();
      await following;
    }
  });

  it("the SDK's status write (REST) to a replica that stops answering times out at its deadline, and the next call goes to the next replica", async () => {
    const [a, b] = r.replicas;
    await createAcked(() => [b!.url], COLLECTION, thing("status-1"));
    const client = new SetpointClient({ grpcAddress: `${a!.grpc},${b!.grpc}`, httpUrl: `${a!.url},${b!.url}`, timeoutMs: 1500 });
    const obj = { ...ref, name: "status-1" };
    // Only the call made while A hangs is meant to meet the 1.5 s deadline; the others get room on a busy machine.
    const roomy = { timeoutMs: 30_000 };
    try {
      const current = await client.get(obj, roomy);
      assert.equal(client.replica.httpUrl, a!.url);
      await client.updateStatus(obj, { ...current, status: { phase: "one" } }, roomy); // the connection to A is open
      await pauseProcess(a!.child, "replica A");
      await assert.rejects(
        client.updateStatus(obj, { ...current, metadata: { ...current.metadata, resourceVersion: undefined }, status: { phase: "two" } }),
        (err: unknown) => {
          assert.ok(err instanceof TimeoutError, String(err));
          return true;
        },
      );
      assert.equal(client.replica.httpUrl, b!.url, "the next call goes to B");
      const written = await client.updateStatus(
        obj,
        { ...current, metadata: { ...current.metadata, resourceVersion: undefined }, status: { phase: "three" } },
        roomy,
      );
      assert.deepEqual(written.status, { phase: "three" });
    } finally {
      a!.child.kill("SIGCONT");
      client.close();
    }
  });

  it("the SDK's gRPC calls to a name that resolves to several replicas leave one that stops answering (keepalive pings)", async () => {
    const [a, b] = r.replicas;
    // A name standing for both replicas, through grpc-js's resolver registry (DNS would give every address one port).
    replicasOfName.set("both", [portOf(a!.grpc), portOf(b!.grpc)]);
    await createAcked(() => [b!.url], COLLECTION, thing("named-hang"));
    const client = new SetpointClient({ grpcAddress: `${TEST_SCHEME}:both`, timeoutMs: 1500, keepaliveMs: 1000 });
    const obj = { ...ref, name: "named-hang" };
    let failed = 0;
    try {
      await client.get(obj, { timeoutMs: 30_000 }); // connected to the first address: A (room on a busy machine)
      await pauseProcess(a!.child, "replica A");
      const deadline = Date.now() + 60_000;
      let answered = false;
      for (let i = 0; i < 200 && !answered && Date.now() < deadline; i++) {
        try {
          await client.get(obj);
          answered = failed > 0;
        } catch {
          failed++;
        }
      }
      assert.ok(answered, `a get answered after ${failed} failed on the hung replica`);
      assert.ok(failed >= 1, "the calls went to A while it hung");
    } finally {
      a!.child.kill("SIGCONT");
      client.close();
    }
  });

  it("an agent through a SIGKILL of its replica: resumes on the next from its revision and reconciles every change, status with observedGeneration", async () => {
    const b = r.replicas[1]!;
    const c = await r.add(); // its own replica, killed here
    const labelled = (name: string, n = name) => ({ ...thing(name), metadata: { name, labels: { agent: "kill" } }, spec: { n } });
    const agent = new Agent({
      name: "kill-agent",
      grpcAddress: `${c.grpc},${b.grpc}`,
      httpUrl: `${c.url},${b.url}`,
      type: ref,
      labelSelector: "agent=kill",
      claims: false,
      shouldReconcile: (old, o) => old.metadata.generation !== o.metadata.generation,
      reconcile: async (_key, ctx) => {
        if (ctx.object) await ctx.updateStatus({ n: (ctx.object.spec as { n: string }).n });
      },
    });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    /** name → [generation, status.observedGeneration, status.n] as B serves them. */
    const states = async () => {
      const res = await fetch(`${b.url}${COLLECTION}?labelSelector=agent%3Dkill`, { signal: AbortSignal.timeout(15_000) });
      const list = (await res.json()) as {
        items: Array<{ metadata: { name: string; generation: number }; status?: { observedGeneration?: number; n?: string } }>;
      };
      return new Map(list.items.map((i) => [i.metadata.name, [i.metadata.generation, i.status?.observedGeneration, i.status?.n] as const]));
    };
    const settled = async (names: string[]) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const now = await states();
        if (names.every((n) => now.get(n)?.[0] === now.get(n)?.[1])) return now;
        if (Date.now() > deadline) throw new Error(`not reconciled within 60 s: ${JSON.stringify([...now])}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    try {
      for (let i = 0; i < 3; i++) await createAcked(() => [b.url], COLLECTION, labelled(`g${i}`));
      await settled(["g0", "g1", "g2"]);
      assert.equal(agent.client.replica.httpUrl, c.url, "the agent works through C");
      await c.kill();
      for (let i = 3; i < 6; i++) await createAcked(() => [b.url], COLLECTION, labelled(`g${i}`));
      const current = (await (await fetch(`${b.url}${COLLECTION}/g0`)).json()) as Record<string, unknown>;
      const put = await fetch(`${b.url}${COLLECTION}/g0`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...current, spec: { n: "g0-changed" } }),
      });
      assert.equal(put.status, 200, await put.text());
      const after = await settled(["g0", "g1", "g2", "g3", "g4", "g5"]);
      assert.deepEqual(after.get("g0"), [2, 2, "g0-changed"], "the change made while C was gone, reconciled from the current object");
      assert.deepEqual(after.get("g5"), [1, 1, "g5"]);
      assert.equal(agent.informer.stats.lists, 1, "resumed from its revision, not relisted");
      assert.ok((agent.client.calls.failover ?? 0) >= 1, "the client failed over");
    } finally {
      stop.abort();
      await running;
    }
  });

  // Last: it kills a replica of the shared rig.
  it("setpoint watch (the CLI process) across a SIGKILL of its replica: every change once, in order", async () => {
    const [a, b] = r.replicas;
    const child = spawnSetpoint(["watch", "things", "--server", `${a!.url},${b!.url}`, "-o", "json", "-l", "watch=kill"]);
    const lines = new LineReader(child.stdout!);
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const labelled = (name: string) => ({ ...thing(name), metadata: { name, labels: { watch: "kill" } } });
    try {
      await createAcked(() => [b!.url], COLLECTION, labelled("k0"));
      await lines.waitFor(/"name":"k0"/);
      await a!.kill();
      for (let i = 1; i < 4; i++) await createAcked(() => [b!.url], COLLECTION, labelled(`k${i}`));
      await lines.waitFor(/"name":"k3"/);
      const names = lines.lines
        .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } })
        .map((e) => `${e.type} ${e.object.metadata.name}`);
      assert.deepEqual(names, ["ADDED k0", "ADDED k1", "ADDED k2", "ADDED k3"], stderr);
      assert.match(stderr, new RegExp(`retrying from revision \\d+ on ${b!.url.replace(/[.]/g, "\\.")}`));
    } finally {
      child.kill("SIGINT");
      await exited(child);
    }
  });
});
