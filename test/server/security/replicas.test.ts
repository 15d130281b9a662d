// RBAC across replicas (API.md §8, §9): "every role change applies to the
// next request, on every replica". Two replicas on one etcd prefix: a binding
// written (or deleted) on A is in force for the very next request on B, over
// REST, gRPC and the WebSocket watch, every time. Without the catch-up, B's
// RBAC index learns of A's commit from etcd's watch a moment later, and a
// few percent of these requests were decided on the old roles (a revoked
// user let in).

import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadResourcesService, type ResourcesClient } from "../../../src/proto.ts";
import { startEtcd, type EtcdCluster } from "../../helpers/etcd.ts";
import { eventually } from "../../helpers/history.ts";
import {
  api,
  createType,
  etcdServerOptions,
  startTestServer,
  testEtcd,
  webSocketUpgradeStatus,
  type ApiClient,
  type TestServer,
} from "../../helpers/server.ts";

const { Client } = loadResourcesService();
const G = "rbac-replicas.example.com";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const ROUNDS = 60;

describe("RBAC across replicas: a role change applies to the next request on every replica", () => {
  let dir: string;
  let a: TestServer;
  let b: TestServer;
  let adminA: ApiClient;
  let carolB: ApiClient;
  let rpcB: ResourcesClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-rbac-replicas-"));
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, "t-admin,admin,1,system:masters\nt-carol,carol,2\n");
    const opts = { ...(await etcdServerOptions()), durable: false, tokenAuthFile: tokens, authorizationMode: "RBAC" as const, grpcPort: 0 };
    a = await startTestServer(opts);
    b = await startTestServer(opts);
    adminA = api(a.url, { token: "t-admin" });
    carolB = api(b.url, { token: "t-carol" });
    rpcB = new Client(`127.0.0.1:${b.server.grpcPort}`, grpc.credentials.createInsecure());
    await createType(adminA, { group: G, kind: "Widget", plural: "widgets" });
    const role = { metadata: { name: "widget-reader" }, rules: [{ apiGroups: [G], resources: ["widgets"], verbs: ["get", "list", "watch"] }] };
    assert.equal((await adminA.post(`${RBAC}/clusterroles`, role)).status, 201);
  });
  after(async () => {
    rpcB?.close();
    await b?.stop();
    await a?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const bind = async (name: string) => {
    const binding = {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "widget-reader" },
      subjects: [{ kind: "User", name: "carol" }],
    };
    const r = await adminA.post(`${RBAC}/clusterrolebindings`, binding);
    assert.equal(r.status, 201, r.text);
  };
  const unbind = async (name: string) => {
    const r = await adminA.del(`${RBAC}/clusterrolebindings/${name}`);
    assert.equal(r.status, 200, r.text);
  };
  const grpcList = () =>
    new Promise<number>((resolve) => {
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer t-carol");
      rpcB.list({ ref: { group: G, version: "v1", plural: "widgets", namespace: "", name: "" } }, md, { deadline: Date.now() + 10_000 }, (err) =>
        resolve(err ? (err.code === grpc.status.PERMISSION_DENIED ? 403 : 1000 + err.code) : 200),
      );
    });
  const wsWatch = () => webSocketUpgradeStatus(`${b.url.replace("http", "ws")}/apis/${G}/v1/widgets`, { authorization: "Bearer t-carol" });

  it("REST, gRPC and WebSocket on B follow each grant and revocation made on A", async () => {
    const wrong: string[] = [];
    const surfaces: Array<[string, () => Promise<number>]> = [
      ["rest", async () => (await carolB.get(`/apis/${G}/v1/widgets`)).status],
      ["grpc", grpcList],
      ["ws", wsWatch],
    ];
    for (let i = 0; i < ROUNDS; i++) {
      const [surface, request] = surfaces[i % surfaces.length]!;
      await bind(`carol-${i}`);
      const granted = await request();
      if (granted !== 200) wrong.push(`round ${i} ${surface}: granted on A, B answered ${granted}`);
      await unbind(`carol-${i}`);
      const revoked = await request();
      if (revoked !== 403) wrong.push(`round ${i} ${surface}: revoked on A, B answered ${revoked}`);
    }
    assert.deepEqual(wrong, []);
  });

  it("a read on B makes one etcd read, the gate's, which also serves it: B's answer holds every write A acknowledged", async () => {
    const member = (await testEtcd()).members[0]!;
    /** Range calls etcd has answered so far (every client's; only these two replicas use this etcd here). */
    const ranges = async () => {
      const text = await (await fetch(`${member.clientUrl}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith("grpc_server_handled_total{") && l.includes('grpc_method="Range"') && l.includes('grpc_code="OK"'));
      return Number(line?.split(" ").pop() ?? 0);
    };
    await bind("carol-reads");
    const items = `/apis/${G}/v1/namespaces/reads/widgets`;
    // Each read is measured alone, from just before it to its answer. The replicas also read etcd on their
    // own (a health sync per second each): such a read can only add to a window, so the fewest Range calls
    // any window saw is what the read itself costs, however slowly this machine runs the loop.
    const fewest = { get: Infinity, list: Infinity, grpc: Infinity };
    const measure = async (kind: keyof typeof fewest, read: () => Promise<void>) => {
      const before = await ranges();
      await read();
      fewest[kind] = Math.min(fewest[kind], (await ranges()) - before);
    };
    for (let i = 0; i < 30; i++) {
      assert.equal((await adminA.post(items, { metadata: { name: `w${i}` }, spec: {} })).status, 201);
      await measure("get", async () => {
        const got = await carolB.get(`${items}/w${i}`);
        assert.equal(got.status, 200, got.text);
      });
      await measure("list", async () => {
        const listed = await carolB.get(items);
        assert.equal(listed.status, 200, listed.text);
        assert.equal(listed.body.items.length, i + 1);
      });
      await measure("grpc", async () => assert.equal(await grpcList(), 200));
    }
    // Two per read before: the gate's catch-up (RBAC), then the read's own.
    assert.deepEqual(fewest, { get: 1, list: 1, grpc: 1 }, "etcd Range calls per read");
    await unbind("carol-reads");
  });
});

describe("RBAC across replicas: a request whose client leaves while its decision waits for etcd", () => {
  let dir: string;
  let etcd: EtcdCluster;
  let t: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-rbac-wait-"));
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, "t-admin,admin,1,system:masters\nt-carol,carol,2\n");
    etcd = await startEtcd({ size: 1 });
    t = await startTestServer({
      store: "etcd",
      etcdServers: etcd.endpoints.split(","),
      etcdPrefix: "/rbac-wait",
      durable: false,
      tokenAuthFile: tokens,
      authorizationMode: "RBAC",
      maxRequestsInflight: 1,
      maxMutatingRequestsInflight: 1,
    });
  });
  after(async () => {
    await t?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("releases its in-flight slot and is audited: the next request is served, not 429", async () => {
    const admin = api(t.url, { token: "t-admin" });
    const rules = [{ apiGroups: ["setpoint.dev"], resources: ["resourcetypes"], verbs: ["list"] }];
    assert.equal((await admin.post(`${RBAC}/clusterroles`, { metadata: { name: "types-reader" }, rules })).status, 201);
    const roleRef = { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "types-reader" };
    assert.equal(
      (await admin.post(`${RBAC}/clusterrolebindings`, { metadata: { name: "carol" }, roleRef, subjects: [{ kind: "User", name: "carol" }] })).status,
      201,
    );
    const carol = api(t.url, { token: "t-carol" });
    assert.equal((await carol.get("/apis/setpoint.dev/v1/resourcetypes")).status, 200);
    // etcd stops answering: carol's next decision waits for it; she gives up, then etcd is back. pause()
    // returns once etcd's every thread is stopped: the gate's catch-up is a read of etcd begun after her
    // request arrived, and such a read was answered when it went out before the stop was complete (a 200
    // within the 300 ms, and a 429 while her previous request's slot was still held, at load 5-25).
    await etcd.pause(etcd.members[0]!);
    // The server's side of her request (Node's own diagnostics channel; the server runs in this process),
    // to resume etcd only once the server has seen her leave: else it could serve the request instead.
    let waiting: ServerResponse | undefined;
    const onRequest = (message: unknown) => {
      const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
      if (request.headers.authorization === "Bearer t-carol") waiting = response;
    };
    subscribe("http.server.request.start", onRequest);
    try {
      const abort = new AbortController();
      const answer = fetch(`${t.url}/apis/setpoint.dev/v1/resourcetypes`, { headers: { authorization: "Bearer t-carol" }, signal: abort.signal }).then(
        async (r) => ({ status: r.status, text: await r.text() }),
        () => "left" as const,
      );
      const early = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300))]);
      assert.equal(early, undefined, `answered while etcd was paused: ${JSON.stringify(early)}`);
      abort.abort();
      assert.equal(await answer, "left");
      await eventually(() => waiting?.closed === true, "the server to see carol's request end");
    } finally {
      unsubscribe("http.server.request.start", onRequest);
    }
    etcd.resume(etcd.members[0]!);
    // Each later request finds the one read slot free (a leaked slot would answer 429 forever).
    for (let i = 0; i < 3; i++) {
      const r = await carol.get("/apis/setpoint.dev/v1/resourcetypes");
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
    }
  });
});
