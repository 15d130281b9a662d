// The audit log (API.md §8): one audit.k8s.io/v1 Event per request at level
// Metadata, on every surface, flushed on shutdown; a full disk (/dev/full)
// loses events but never fails or stalls a request; the buffer is bounded.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadResourcesService } from "../../../src/proto.ts";
import { AuditLog } from "../../../src/server/audit.ts";
import { api, startTestServer, webSocketUpgradeStatus } from "../../helpers/server.ts";

const { Client } = loadResourcesService();

describe("audit log", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-audit-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes one Metadata-level Event per request, on every surface, flushed on shutdown", async () => {
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, "t-admin,admin,1,system:masters\nt-bob,bob,2\n");
    const path = join(dir, "audit.log");
    const t = await startTestServer({ grpcPort: 0, durable: false, tokenAuthFile: tokens, authorizationMode: "RBAC", auditLogPath: path });
    const admin = api(t.url, { token: "t-admin" });
    const lease = { metadata: { name: "l1" }, spec: { holderIdentity: "x" } };
    assert.equal((await admin.post("/apis/setpoint.dev/v1/namespaces/ns1/leases", lease)).status, 201);
    assert.equal((await admin.post("/apis/setpoint.dev/v1/namespaces/ns1/leases", lease)).status, 409);
    assert.equal((await admin.get("/apis/setpoint.dev/v1/namespaces/ns1/leases/none")).status, 404);
    assert.equal((await api(t.url, { token: "t-bob" }).get("/apis/setpoint.dev/v1/namespaces/ns1/leases/l1")).status, 403);
    assert.equal((await api(t.url).get("/apis/setpoint.dev/v1/namespaces/ns1/leases")).status, 401);
    assert.equal((await admin.get("/healthz")).status, 200);
    const watch = await fetch(`${t.url}/apis/setpoint.dev/v1/namespaces/ns1/leases?watch=true&timeoutSeconds=1`, {
      headers: { authorization: "Bearer t-admin" },
    });
    await watch.text();
    const rpc = new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer t-admin");
    await new Promise<void>((resolve, reject) =>
      rpc.get({ ref: { group: "setpoint.dev", version: "v1", plural: "leases", namespace: "ns1", name: "l1" } }, md, (err) => (err ? reject(err) : resolve())),
    );
    const ref = { group: "setpoint.dev", version: "v1", plural: "leases", namespace: "ns2", name: "" };
    const l2 = Buffer.from(JSON.stringify({ metadata: { name: "l2" }, spec: { holderIdentity: "x" } }));
    for (const want of [grpc.status.OK, grpc.status.ALREADY_EXISTS]) {
      await new Promise<void>((resolve, reject) =>
        rpc.create({ ref, object: l2 }, md, (err) => ((err?.code ?? grpc.status.OK) === want ? resolve() : reject(err ?? new Error("created twice")))),
      );
    }
    rpc.close();
    await t.stop();

    const events = readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const summary = events.map((e) => `${e.user.username ?? "-"} ${e.verb} ${e.objectRef?.resource ?? e.requestURI} ${e.responseStatus.code}`);
    assert.deepEqual(
      summary.sort(),
      [
        "- list leases 401",
        "admin create leases 201",
        "admin create leases 409",
        "admin get leases 404",
        "admin get leases 200",
        "admin watch leases 200",
        "bob get leases 403",
        "admin create leases 201",
        "admin create leases 409",
      ].sort(),
      "one event per request; none for /healthz",
    );
    for (const e of events) {
      assert.equal(e.kind, "Event");
      assert.equal(e.apiVersion, "audit.k8s.io/v1");
      assert.equal(e.level, "Metadata");
      assert.equal(e.stage, "ResponseComplete");
      assert.match(e.auditID, /^[0-9a-f-]{36}$/);
      assert.ok(Date.parse(e.stageTimestamp) >= Date.parse(e.requestReceivedTimestamp));
      assert.equal(e.requestObject, undefined, "Metadata level: no bodies");
    }
    const create = events.find((e) => e.verb === "create" && e.responseStatus.code === 201);
    // kube's LogRequestObject completes objectRef from the body: a create's name is in no path.
    assert.deepEqual(create.objectRef, { resource: "leases", namespace: "ns1", name: "l1", apiGroup: "setpoint.dev", apiVersion: "v1" });
    assert.deepEqual(create.responseStatus, { metadata: {}, code: 201 });
    // A failure the API answered carries its Status reason, as kube's LogResponseObject copies it.
    const exists = events.find((e) => e.verb === "create" && e.responseStatus.code === 409);
    assert.equal(exists.objectRef.name, "l1");
    assert.equal(exists.responseStatus.status, "Failure");
    assert.equal(exists.responseStatus.reason, "AlreadyExists");
    // Over gRPC the same: the created name, and the Status reason of a failure.
    const viaGrpc = events.filter((e) => e.verb === "create" && e.objectRef.namespace === "ns2");
    assert.deepEqual(
      viaGrpc.map((e) => [e.objectRef.name, e.responseStatus.code, e.responseStatus.reason]),
      [
        ["l2", 201, undefined],
        ["l2", 409, "AlreadyExists"],
      ],
    );
    // sourceIPs hold addresses, as over HTTP (grpc-js's peer is `address:port`); requestURI is the call's method path.
    assert.deepEqual(
      viaGrpc.map((e) => [e.sourceIPs, e.requestURI]),
      [
        [["127.0.0.1"], "/setpoint.v1.Resources/Create"],
        [["127.0.0.1"], "/setpoint.v1.Resources/Create"],
      ],
    );
    const missing = events.find((e) => e.responseStatus.code === 404);
    assert.equal(missing.responseStatus.reason, "NotFound");
    assert.equal(missing.objectRef.name, "none");
    assert.deepEqual(create.user.groups, ["system:masters", "system:authenticated"]);
    assert.deepEqual(create.sourceIPs, ["127.0.0.1"]);
    const denied = events.find((e) => e.responseStatus.code === 403);
    assert.equal(denied.responseStatus.reason, "Forbidden");
    assert.equal(denied.annotations["authorization.k8s.io/decision"], "forbid");
    assert.equal(denied.objectRef.name, "l1");
  });

  it("a WebSocket watch refused before the upgrade records its Status reason and message, as an HTTP watch's refusal", async () => {
    const path = join(dir, "audit-ws.log");
    const t = await startTestServer({ durable: false, auditLogPath: path });
    const ws = t.url.replace(/^http/, "ws");
    const leases = "/apis/setpoint.dev/v1/namespaces/ns1/leases";
    assert.equal(await webSocketUpgradeStatus(`${ws}${leases}?resourceVersion=abc`), 400);
    assert.equal(await webSocketUpgradeStatus(`${ws}/apis/setpoint.dev/v1/namespaces/ns1/nothings`), 404);
    assert.equal((await fetch(`${t.url}${leases}?watch=true&resourceVersion=abc`)).status, 400);
    await t.stop();
    const events = readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    // In any order: a WebSocket's event is written when its socket closes.
    const byUri = new Map(events.map((e) => [e.requestURI, e]));
    assert.equal(byUri.size, 3);
    const summary = (uri: string) => {
      const r = byUri.get(uri)?.responseStatus;
      return [r?.code, r?.status, r?.reason, typeof r?.message];
    };
    assert.deepEqual(summary(`${leases}?resourceVersion=abc`), [400, "Failure", "BadRequest", "string"]);
    assert.deepEqual(summary("/apis/setpoint.dev/v1/namespaces/ns1/nothings"), [404, "Failure", "NotFound", "string"]);
    assert.deepEqual(summary(`${leases}?watch=true&resourceVersion=abc`), [400, "Failure", "BadRequest", "string"]);
    assert.equal(
      byUri.get(`${leases}?resourceVersion=abc`).responseStatus.message,
      byUri.get(`${leases}?watch=true&resourceVersion=abc`).responseStatus.message,
    );
  });

  it("each response's Audit-Id header names its event; a valid Audit-ID from the client is kept (kube's)", async () => {
    const tokens = join(dir, "tokens-id.csv");
    writeFileSync(tokens, "t-admin,admin,1,system:masters\n");
    const path = join(dir, "audit-id.log");
    const t = await startTestServer({ durable: false, tokenAuthFile: tokens, auditLogPath: path });
    const get = (uri: string, headers: Record<string, string>) => fetch(`${t.url}${uri}`, { headers, signal: AbortSignal.timeout(10_000) });
    const mine = await get("/apis?mine", { authorization: "Bearer t-admin", "audit-id": "my-request-42" });
    assert.equal(mine.status, 200);
    assert.equal(mine.headers.get("audit-id"), "my-request-42");
    const fresh = await get("/apis?fresh", { authorization: "Bearer t-admin", "audit-id": "not valid!" });
    const refused = await get("/apis?refused", {});
    assert.equal(refused.status, 401);
    await Promise.all([mine.text(), fresh.text(), refused.text()]);
    await t.stop();
    const events = readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const idOf = (uri: string) => events.find((e) => e.requestURI === uri)?.auditID;
    assert.equal(idOf("/apis?mine"), "my-request-42");
    assert.match(fresh.headers.get("audit-id") ?? "", /^[0-9a-f-]{36}$/, "an invalid one is replaced");
    assert.equal(idOf("/apis?fresh"), fresh.headers.get("audit-id"));
    assert.equal(idOf("/apis?refused"), refused.headers.get("audit-id"));
  });

  it("a full disk loses events without failing or stalling anything, and auditing resumes by itself", async () => {
    assert.ok(existsSync("/dev/full"), "/dev/full is on every Linux machine");
    const full = new AuditLog("/dev/full");
    const record = (code: number) =>
      full.record({
        user: { name: "u", groups: [] },
        attributes: { kind: "nonResource", verb: "get", path: "/x" },
        requestURI: "/x",
        sourceIP: "127.0.0.1",
        code,
        receivedAt: Date.now(),
      });
    for (let i = 0; i < 100; i++) record(200);
    await full.flush();
    assert.equal(full.stats.written, 0);
    assert.equal(full.stats.failed, 100);
    for (let i = 0; i < 10; i++) record(200);
    await full.close();
    assert.equal(full.stats.failed, 110, "later batches are tried again");
  });

  it("keeps at most maxBufferBytes waiting for the disk; past it events are dropped and counted", async () => {
    const path = join(dir, "small.log");
    const log = new AuditLog(path, { maxBufferBytes: 2000 });
    for (let i = 0; i < 200; i++) {
      log.record({
        user: { name: "u", groups: [] },
        attributes: { kind: "nonResource", verb: "get", path: `/p${i}` },
        requestURI: `/p${i}`,
        sourceIP: "127.0.0.1",
        code: 200,
        receivedAt: Date.now(),
      });
    }
    await log.close();
    const lines = readFileSync(path, "utf8").trim().split("\n");
    assert.ok(log.stats.dropped > 0);
    assert.equal(lines.length, log.stats.written);
    assert.equal(log.stats.written + log.stats.dropped, 200);
  });
});
