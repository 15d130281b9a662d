// Clients of several server replicas (API.md §9): the agent SDK (an informer
// over WebSocket and over gRPC, and unary calls) and the CLI's client and
// follow are given two replicas on one etcd; the one they use goes away, and
// they carry on against the other, resuming from their last revision: no
// relist, nothing missed, nothing repeated.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SetpointClient, type ApiObject, type ClientOptions } from "../../src/agent/client.ts";
import { Informer } from "../../src/agent/informer.ts";
import { ApiClient } from "../../src/cli/client.ts";
import { followCollection, type WatchEvent } from "../../src/cli/follow.ts";
import type { Resolver } from "../../src/endpoints.ts";
import { api, createType, etcdServerOptions, startTestServer, type TestServer } from "../helpers/server.ts";

const GROUP = "failover.example.com";
const DEADLINE_MS = 20_000;

let prefixes = 0;
const replicas: TestServer[] = [];
after(async () => {
  for (const r of replicas) await r.stop();
});

/** Two replicas on one fresh etcd prefix, the type created; returns them. */
async function pair(): Promise<[TestServer, TestServer]> {
  const opts = await etcdServerOptions(`/failover-${process.pid}-${++prefixes}`);
  const a = await startTestServer({ ...opts, grpcPort: 0, bookmarkIntervalMs: 300 });
  const b = await startTestServer({ ...opts, grpcPort: 0, bookmarkIntervalMs: 300 });
  replicas.push(a, b);
  await createType(api(a.url), { group: GROUP, kind: "Item", plural: "items" });
  return [a, b];
}

const item = (name: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Item", metadata: { name }, spec: {} });

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The CLI's follow of `path`: each event as "TYPE name", its notices, and the size of its initial list (-1 until listed). */
function follow(client: ApiClient, path: string, signal: AbortSignal) {
  const seen: string[] = [];
  const notices: string[] = [];
  let initial = -1;
  const following = followCollection(client, {
    path,
    signal,
    onInitial: (events) => (initial = events.length),
    onEvent: (e: WatchEvent) => seen.push(`${e.type} ${e.object.metadata.name}`),
    onNotice: (m) => notices.push(m),
    backoff: { initialMs: 50, maxMs: 200 },
  });
  return { seen, notices, initial: () => initial, following };
}

/**
 * The SDK's WebSocket informer and the CLI's follow, both given `name` (an
 * http URL whose host only `resolve` knows) for the items of the default
 * namespace; gRPC goes to `client.grpcAddress`. `stop()` ends both.
 */
function watchThroughName(name: string, resolve: Resolver, client: Pick<ClientOptions, "grpcAddress" | "statusTransport">) {
  const sdk = new SetpointClient({ ...client, httpUrl: name, resolve });
  const cli = new ApiClient({ server: name, resolve });
  const path = `/apis/${GROUP}/v1/namespaces/default/items`;
  const adds = new Map<string, number>();
  const ref = { group: GROUP, version: "v1", plural: "items", namespace: "default" };
  const informer = new Informer<ApiObject>({ client: sdk, type: ref, transport: "websocket", backoff: { initialMs: 50, maxMs: 200 } });
  informer.addHandlers({ onAdd: (o) => adds.set(o.metadata.name!, (adds.get(o.metadata.name!) ?? 0) + 1) });
  const abort = new AbortController();
  const running = informer.run(abort.signal);
  const followed = follow(cli, path, abort.signal);
  return {
    client: sdk,
    cli,
    path,
    adds,
    informer,
    ...followed,
    async stop() {
      abort.abort();
      await running;
      await followed.following;
      sdk.close();
    },
  };
}

before(async () => {
  await etcdServerOptions(); // start the test etcd once, up front
});

describe("clients fail over between replicas", () => {
  for (const transport of ["websocket", "grpc"] as const) {
    it(`the SDK informer (${transport}) resumes on the other replica from its last revision`, async () => {
      const [a, b] = await pair();
      const client = new SetpointClient({ grpcAddress: `127.0.0.1:${a.server.grpcPort},127.0.0.1:${b.server.grpcPort}`, httpUrl: `${a.url},${b.url}` });
      const ref = { group: GROUP, version: "v1", plural: "items", namespace: "default" };
      const adds = new Map<string, number>();
      const informer = new Informer<ApiObject>({ client, type: ref, transport, backoff: { initialMs: 50, maxMs: 200 } });
      informer.addHandlers({ onAdd: (o) => adds.set(o.metadata.name!, (adds.get(o.metadata.name!) ?? 0) + 1) });
      const stop = new AbortController();
      const running = informer.run(stop.signal);
      try {
        for (let i = 0; i < 5; i++) await client.create(ref, item(`before-${i}`));
        await until(() => adds.size === 5, "the first five");
        assert.equal(client.replica.httpUrl, a.url, "the client starts on the first replica");
        await a.stop();
        // Unary calls move to B at once.
        for (let i = 0; i < 5; i++) await client.create(ref, item(`after-${i}`));
        assert.equal((await client.get({ ...ref, name: "before-0" })).metadata.name, "before-0");
        await until(() => adds.size === 10, "the five created after A went away");
        assert.ok(
          [...adds.values()].every((n) => n === 1),
          `each object added once: ${JSON.stringify([...adds])}`,
        );
        assert.equal(informer.stats.lists, 1, "resumed from its revision, not relisted");
        assert.ok(informer.stats.watches >= 2, "the watch was reopened");
        assert.ok((client.calls.failover ?? 0) >= 1, "the client failed over");
      } finally {
        stop.abort();
        await running;
        client.close();
      }
    });
  }

  it("the CLI's client and follow move to the other replica and resume", async () => {
    const [a, b] = await pair();
    const client = new ApiClient({ server: `${a.url},${b.url}` });
    const path = `/apis/${GROUP}/v1/namespaces/default/items`;
    const stop = new AbortController();
    const { seen, notices, initial, following } = follow(client, path, stop.signal);
    try {
      await until(() => initial() === 0, "the initial list");
      for (let i = 0; i < 3; i++) await client.request("POST", path, { body: item(`c${i}`) });
      await until(() => seen.length === 3, "three events");
      await a.stop();
      // Requests go to B; the follow resumes there.
      for (let i = 3; i < 6; i++) await client.request("POST", path, { body: item(`c${i}`) });
      await until(() => seen.length === 6, "six events");
      assert.deepEqual(
        seen,
        [0, 1, 2, 3, 4, 5].map((i) => `ADDED c${i}`),
      );
      assert.equal(client.server, b.url);
      assert.ok(
        notices.some((m) => m.includes(b.url)),
        `resumed on B: ${notices.join(" | ")}`,
      );
      assert.ok(!notices.some((m) => m.includes("relisting")), "no relist");
    } finally {
      stop.abort();
      await following;
    }
  });

  it("a DNS name that resolves to both replicas: the SDK's WebSocket informer and the CLI's follow move between its addresses", async () => {
    const [a, b] = await pair();
    // The name stands for both replicas: one address each (here on two ports of 127.0.0.1, through an injected resolver).
    const looked: string[] = [];
    const resolve = async (hostname: string) => {
      looked.push(hostname);
      return hostname === "replicas.setpoint.test" ? [a, b].map((r) => ({ address: "127.0.0.1", port: r.server.port })) : [];
    };
    const name = `http://replicas.setpoint.test:${a.server.port}`;
    const w = watchThroughName(name, resolve, { grpcAddress: `127.0.0.1:${a.server.grpcPort},127.0.0.1:${b.server.grpcPort}` });
    const { client, cli, path, adds, informer, seen, notices, initial } = w;
    try {
      await until(() => initial() === 0, "the CLI's initial list");
      assert.deepEqual(cli.replicas, [`${name} (127.0.0.1:${a.server.port})`, `${name} (127.0.0.1:${b.server.port})`]);
      for (let i = 0; i < 3; i++) await cli.request("POST", path, { body: item(`n${i}`) });
      await until(() => adds.size === 3 && seen.length === 3, "three events in both");
      await a.stop();
      // The CLI's requests move to the name's second address; both watches resume there.
      for (let i = 3; i < 6; i++) await cli.request("POST", path, { body: item(`n${i}`) });
      await until(() => adds.size === 6 && seen.length === 6, "six events in both");
      assert.deepEqual(
        seen,
        [0, 1, 2, 3, 4, 5].map((i) => `ADDED n${i}`),
      );
      assert.ok(
        [...adds.values()].every((n) => n === 1),
        `each object added once: ${JSON.stringify([...adds])}`,
      );
      assert.equal(informer.stats.lists, 1, "the informer resumed, not relisted");
      assert.ok((client.calls.failover ?? 0) >= 1, "the SDK failed over");
      assert.equal(cli.replica, `${name} (127.0.0.1:${b.server.port})`);
      assert.ok(
        notices.some((m) => m.includes(`127.0.0.1:${b.server.port}`)),
        `the follow resumed on B: ${notices.join(" | ")}`,
      );
      assert.ok(looked.every((h) => h === "replicas.setpoint.test") && looked.length === 2, `resolved once per client: ${looked.join(",")}`);
    } finally {
      await w.stop();
    }
  });

  it("a name whose address changes (its replica replaced): the SDK's informer and the CLI's follow look it up again once its addresses failed", async () => {
    const [a, b] = await pair();
    // The name stands for one replica at a time, as a headless Service whose pod was replaced by one with a new address.
    let now = a;
    let lookups = 0;
    const resolve = async (hostname: string) => {
      lookups++;
      return hostname === "replaced.setpoint.test" ? [{ address: "127.0.0.1", port: now.server.port }] : [];
    };
    const name = `http://replaced.setpoint.test:${a.server.port}`;
    const w = watchThroughName(name, resolve, { grpcAddress: `127.0.0.1:${b.server.grpcPort}`, statusTransport: "grpc" });
    const { cli, path, adds, informer, seen, notices, initial } = w;
    const writer = api(b.url);
    try {
      await until(() => initial() === 0, "the CLI's initial list");
      for (let i = 0; i < 3; i++) assert.equal((await writer.post(path, item(`r${i}`))).status, 201);
      await until(() => adds.size === 3 && seen.length === 3, "three events in both");
      now = b;
      await a.stop();
      for (let i = 3; i < 6; i++) assert.equal((await writer.post(path, item(`r${i}`))).status, 201);
      await until(() => adds.size === 6 && seen.length === 6, `six events in both (notices: ${notices.join(" | ")})`);
      assert.deepEqual(
        seen,
        [0, 1, 2, 3, 4, 5].map((i) => `ADDED r${i}`),
      );
      assert.ok(
        [...adds.values()].every((n) => n === 1),
        `each object added once: ${JSON.stringify([...adds])}`,
      );
      assert.equal(informer.stats.lists, 1, "the informer resumed, not relisted");
      assert.ok(lookups >= 4, `the name was looked up again by both clients: ${lookups} lookups`);
      assert.equal(cli.replica, `${name} (127.0.0.1:${b.server.port})`);
    } finally {
      await w.stop();
    }
  });

  it("a real name (localhost) is resolved by the system: each of its addresses is a replica, and one that refuses is passed over", async () => {
    const [a] = await pair();
    const cli = new ApiClient({ server: `http://localhost:${a.server.port}` });
    const body = await cli.request("GET", `/apis/${GROUP}/v1/namespaces/default/items`);
    assert.equal(body.kind, "ItemList");
    // localhost is 127.0.0.1 and possibly ::1 (the server listens on 127.0.0.1 only: ::1 refuses, and the next is tried).
    assert.ok(
      cli.replicas.some((s) => s.endsWith(`(127.0.0.1:${a.server.port})`)),
      cli.replicas.join(", "),
    );
    assert.equal(cli.replica, `http://localhost:${a.server.port} (127.0.0.1:${a.server.port})`);
  });
});
