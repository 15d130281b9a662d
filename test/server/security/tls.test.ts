// TLS from outside (API.md §8) with a throwaway CA made by the test: HTTPS,
// WSS and gRPC over TLS, TLS 1.2 as the floor, client certificates (CN = user,
// O = groups) on every transport, certificates reloaded from disk without a
// restart, and kubectl with a kubeconfig using a token and a client
// certificate, including `kubectl auth can-i` and `kubectl auth whoami`.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import WebSocket from "ws";
import { loadResourcesService, type ResourcesClient } from "../../../src/proto.ts";
import { makePki, type Pki } from "../../helpers/pki.ts";
import { startTestServer, type TestServer } from "../../helpers/server.ts";

const { Client } = loadResourcesService();
const G = "tls.example.com";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";

describe("TLS, client certificates and kubectl", () => {
  let dir: string;
  let pki: Pki;
  let t: TestServer;
  let certFile: string;
  let keyFile: string;
  let carol: { cert: string; key: string };
  let root: { cert: string; key: string };

  /** An HTTPS request trusting only the test CA; resolves with status, body and the server's certificate. */
  const get = (path: string, o: { token?: string; client?: { cert: string; key: string }; method?: string; body?: unknown } = {}) =>
    new Promise<{ status: number; body: any; peer: PeerCertificate }>((resolve, reject) => {
      const url = new URL(t.url + path);
      const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
      const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
      if (payload) headers["content-type"] = "application/json";
      const req = httpsRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: o.method ?? "GET",
          headers,
          ca: pki.read(pki.caCert),
          cert: o.client && pki.read(o.client.cert),
          key: o.client && pki.read(o.client.key),
          agent: false,
          timeout: 10_000,
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c));
          res.on("end", () => {
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body, peer: (res.socket as import("node:tls").TLSSocket).getPeerCertificate() });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-tls-"));
    pki = makePki(dir);
    const serving = pki.server("serving-1");
    certFile = join(dir, "tls.crt");
    keyFile = join(dir, "tls.key");
    copyFileSync(serving.cert, certFile);
    copyFileSync(serving.key, keyFile);
    carol = pki.client("carol", ["readers", "qa"]);
    root = pki.client("root", ["system:masters"]);
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, "t-alice,alice,1,dev\n");
    t = await startTestServer({
      grpcPort: 0,
      durable: false,
      tlsCertFile: certFile,
      tlsPrivateKeyFile: keyFile,
      clientCaFile: pki.caCert,
      tokenAuthFile: tokens,
      authorizationMode: "RBAC",
      tlsReloadIntervalMs: 100,
    });
    assert.match(t.url, /^https:\/\//);
    const as = { client: root };
    const post = async (path: string, body: unknown) => {
      const r = await get(path, { ...as, method: "POST", body });
      assert.equal(r.status, 201, `${path}: ${JSON.stringify(r.body)}`);
    };
    await post("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `gadgets.${G}` },
      spec: { group: G, version: "v1", kind: "Gadget", plural: "gadgets", scope: "Namespaced" },
    });
    await post(`${RBAC}/clusterroles`, {
      metadata: { name: "gadget-reader" },
      rules: [{ apiGroups: [G], resources: ["gadgets"], verbs: ["get", "list", "watch"] }],
    });
    await post(`${RBAC}/clusterroles`, { metadata: { name: "gadget-editor" }, rules: [{ apiGroups: [G], resources: ["gadgets"], verbs: ["*"] }] });
    await post(`${RBAC}/clusterrolebindings`, {
      metadata: { name: "readers" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "gadget-reader" },
      subjects: [{ kind: "Group", name: "readers" }],
    });
    await post(`${RBAC}/namespaces/dev/rolebindings`, {
      metadata: { name: "dev-edits" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "gadget-editor" },
      subjects: [{ kind: "Group", name: "dev" }],
    });
    await post(`/apis/${G}/v1/namespaces/dev/gadgets`, { metadata: { name: "g1" }, spec: {} });
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("HTTPS: a client certificate authenticates as CN in groups O; a token too; nothing is 401", async () => {
    assert.equal((await get(`/apis/${G}/v1/namespaces/dev/gadgets/g1`, { client: carol })).status, 200);
    const denied = await get(`/apis/${G}/v1/namespaces/dev/gadgets`, { client: carol, method: "POST", body: { metadata: { name: "x" }, spec: {} } });
    assert.equal(denied.status, 403);
    assert.match(denied.body.message, /User "carol" cannot create resource "gadgets"/);
    assert.equal((await get(`/apis/${G}/v1/namespaces/dev/gadgets/g1`, { token: "t-alice" })).status, 200);
    assert.equal((await get(`/apis/${G}/v1/namespaces/dev/gadgets/g1`)).status, 401);
    assert.equal((await get("/healthz")).status, 200);
  });

  it("a client certificate from another CA proves nothing", async () => {
    const other = makePki(mkdtempSync(join(dir, "other-")), "other-ca");
    const mallory = other.client("root", ["system:masters"]);
    const r = await get(`/apis/${G}/v1/namespaces/dev/gadgets/g1`, { client: { cert: mallory.cert, key: mallory.key } }).catch((e: Error) => ({
      status: -1,
      body: e.message,
    }));
    assert.ok(r.status === 401 || r.status === -1, `got ${r.status}`);
  });

  it("refuses TLS 1.1 and serves TLS 1.2 and 1.3", async () => {
    const port = Number(new URL(t.url).port);
    const handshake = (maxVersion: "TLSv1.1" | "TLSv1.2" | "TLSv1.3", minVersion: "TLSv1" | "TLSv1.2" | "TLSv1.3") =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({ host: "127.0.0.1", port, ca: pki.read(pki.caCert), maxVersion, minVersion, servername: "localhost" }, () => {
          const v = s.getProtocol() ?? "";
          s.end();
          resolve(v);
        });
        s.on("error", (e) => resolve(`error: ${e.message}`));
      });
    assert.match(await handshake("TLSv1.1", "TLSv1"), /^error/);
    assert.equal(await handshake("TLSv1.2", "TLSv1.2"), "TLSv1.2");
    assert.equal(await handshake("TLSv1.3", "TLSv1.3"), "TLSv1.3");
  });

  it("plain HTTP on the TLS port is answered 400 in Go's words, as kube-apiserver, not an empty reply", async () => {
    const port = Number(new URL(t.url).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const s = netConnect({ host: "127.0.0.1", port }, () => s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
      let text = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        text += d;
      });
      s.on("close", () => resolve(text));
      s.on("error", reject);
      s.setTimeout(10_000, () => s.destroy(new Error("no answer in 10 s")));
    });
    assert.equal(reply, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
    // The port still serves TLS.
    assert.equal((await get("/healthz", {})).status, 200);
  });

  it("WSS with a client certificate; gRPC over TLS with a certificate and with a token", async () => {
    const ws = new WebSocket(`${t.url.replace("https", "wss")}/apis/${G}/v1/namespaces/dev/gadgets`, ["watch.setpoint.dev"], {
      ca: pki.read(pki.caCert),
      cert: pki.read(carol.cert),
      key: pki.read(carol.key),
      handshakeTimeout: 10_000,
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once("message", (m) => resolve(String(m)));
      ws.once("error", reject);
    });
    assert.equal(JSON.parse(first).object.metadata.name, "g1");
    ws.close();

    const creds = grpc.credentials.createSsl(pki.read(pki.caCert), pki.read(carol.key), pki.read(carol.cert));
    const rpc: ResourcesClient = new Client(`localhost:${t.server.grpcPort}`, creds);
    try {
      const ref = { group: G, version: "v1", plural: "gadgets", namespace: "dev", name: "g1" };
      const call = (method: "get" | "delete", md = new grpc.Metadata()) =>
        new Promise<number>((resolve) =>
          rpc[method]({ ref }, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) => resolve(err ? err.code : 0)),
        );
      assert.equal(await call("get"), grpc.status.OK);
      assert.equal(await call("delete"), grpc.status.PERMISSION_DENIED);
      const anonCreds = grpc.credentials.createSsl(pki.read(pki.caCert));
      const anon: ResourcesClient = new Client(`localhost:${t.server.grpcPort}`, anonCreds);
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer t-alice");
      const viaToken = await new Promise<number>((resolve) => anon.get({ ref }, md, { deadline: Date.now() + 10_000 }, (err) => resolve(err ? err.code : 0)));
      const none = await new Promise<number>((resolve) =>
        anon.get({ ref }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(err ? err.code : 0)),
      );
      anon.close();
      assert.equal(viaToken, grpc.status.OK);
      assert.equal(none, grpc.status.UNAUTHENTICATED);
    } finally {
      rpc.close();
    }
  });

  it("kubectl with a kubeconfig: token and client certificate, get and auth can-i", async () => {
    const home = mkdtempSync(join(dir, "kube-"));
    const b64 = (p: string) => pki.read(p).toString("base64");
    const config = `apiVersion: v1
kind: Config
clusters:
- name: setpoint
  cluster:
    server: ${t.url}
    certificate-authority-data: ${b64(pki.caCert)}
users:
- name: alice
  user:
    token: t-alice
- name: carol
  user:
    client-certificate-data: ${b64(carol.cert)}
    client-key-data: ${b64(carol.key)}
contexts:
- name: alice
  context: {cluster: setpoint, user: alice, namespace: dev}
- name: carol
  context: {cluster: setpoint, user: carol, namespace: dev}
current-context: alice
`;
    writeFileSync(join(home, "config"), config);
    const kubectl = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(
          "kubectl",
          ["--cache-dir", join(home, "cache"), ...args],
          { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: join(home, "config") }, timeout: 60_000 },
          (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const got = await kubectl("get", `gadgets.${G}`, "-o", "name");
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), `gadget.${G}/g1`);
    const canCreate = await kubectl("auth", "can-i", "create", `gadgets.${G}`);
    assert.equal(canCreate.stdout.trim(), "yes", canCreate.stderr);
    const canCreateQa = await kubectl("auth", "can-i", "create", `gadgets.${G}`, "-n", "qa");
    assert.equal(canCreateQa.stdout.trim(), "no", canCreateQa.stderr);
    assert.notEqual(canCreateQa.code, 0);

    const asCarol = await kubectl("--context", "carol", "get", `gadgets.${G}`, "g1", "-o", "jsonpath={.metadata.name}");
    assert.equal(asCarol.code, 0, asCarol.stderr);
    assert.equal(asCarol.stdout, "g1");
    const carolDelete = await kubectl("--context", "carol", "delete", `gadgets.${G}`, "g1");
    assert.notEqual(carolDelete.code, 0);
    assert.match(
      carolDelete.stderr,
      /Error from server \(Forbidden\): gadgets\.tls\.example\.com "g1" is forbidden: User "carol" cannot delete resource "gadgets" in API group "tls\.example\.com" in the namespace "dev"/,
    );
    const carolCan = await kubectl("--context", "carol", "auth", "can-i", "list", `gadgets.${G}`, "--all-namespaces");
    assert.equal(carolCan.stdout.trim(), "yes", carolCan.stderr);
    // `--list` is a SelfSubjectRulesReview: alice's rules in dev (the RoleBinding to gadget-editor) and the basic ones.
    const list = await kubectl("auth", "can-i", "--list");
    assert.equal(list.code, 0, list.stderr);
    const line = list.stdout.split("\n").find((l) => l.startsWith(`gadgets.${G} `));
    assert.ok(line, list.stdout);
    assert.match(line!, /\[\*\]\s*$/, "verbs [*]");
    assert.match(list.stdout, /selfsubjectaccessreviews\.authorization\.k8s\.io/);
    const qa = await kubectl("auth", "can-i", "--list", "-n", "qa");
    assert.ok(!qa.stdout.includes(`gadgets.${G} `), "no gadget rules for alice in qa");
    // `whoami` is a SelfSubjectReview (kubectl sends it as protobuf), which every authenticated user may create, as in kube.
    const whoami = await kubectl("auth", "whoami", "-o", "json");
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.deepEqual(JSON.parse(whoami.stdout), {
      kind: "SelfSubjectReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: null },
      status: { userInfo: { username: "alice", uid: "1", groups: ["dev", "system:authenticated"] } },
    });
    const carolWho = await kubectl("--context", "carol", "auth", "whoami");
    assert.equal(carolWho.code, 0, carolWho.stderr);
    assert.match(carolWho.stdout, /^Username\s+carol\nGroups\s+\[readers qa system:authenticated\]\n$/m);
  });

  it("a new certificate on disk is served without a restart, on HTTPS and gRPC", async () => {
    const before1 = (await get("/healthz")).peer.serialNumber;
    const next = pki.server("serving-2");
    // Key first, then certificate: in between the pair does not load and the old one stays in use.
    copyFileSync(next.key, keyFile);
    copyFileSync(next.cert, certFile);
    const deadline = Date.now() + 15_000;
    let serial = before1;
    while (serial === before1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      serial = (await get("/healthz")).peer.serialNumber;
    }
    assert.notEqual(serial, before1, "HTTPS serves the new certificate");
    const grpcSerial = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: t.server.grpcPort, ca: pki.read(pki.caCert), servername: "localhost", ALPNProtocols: ["h2"] }, () => {
        const p = s.getPeerCertificate().serialNumber;
        s.destroy();
        resolve(p);
      });
      s.on("error", reject);
    });
    assert.equal(grpcSerial, serial, "gRPC serves it too");
  });
});
