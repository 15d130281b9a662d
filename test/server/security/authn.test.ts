// Authentication on every surface (API.md §8): the static token file, the
// --token shorthand, bearer tokens on REST, HTTP watch, the WebSocket upgrade
// (header and kube's base64url bearer subprotocol) and gRPC metadata; 401
// everywhere but /healthz, /livez, /readyz and /version.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import WebSocket from "ws";
import { loadResourcesService, type ResourcesClient } from "../../../src/proto.ts";
import { Authenticator, bearerOf, bearerOfSubprotocols, hasExtraSpaceBeforeToken, parseTokenFile } from "../../../src/server/auth/authenticator.ts";
import { watchSubprotocol } from "../../../src/server/security.ts";
import { api, assertStatus, startTestServer, type TestServer } from "../../helpers/server.ts";

const { Client } = loadResourcesService();

describe("authenticator", () => {
  it("reads kube's static token file: quoted groups, comments, blank lines", () => {
    const entries = parseTokenFile('# comment\n\nt1,alice,u-1,"dev,ops"\nt2,bob,u-2\nt3,carol,,ops\n');
    assert.deepEqual(entries, [
      { token: "t1", user: { name: "alice", uid: "u-1", groups: ["dev", "ops"] } },
      { token: "t2", user: { name: "bob", uid: "u-2", groups: [] } },
      { token: "t3", user: { name: "carol", groups: ["ops"] } },
    ]);
    assert.throws(() => parseTokenFile("t1,alice"), /line 1/);
    assert.throws(() => parseTokenFile("t1,a,1\nt1,b,2"), /line 2: duplicate token/);
  });

  it("refuses a line with a stray or unclosed quote, naming it, as Go's CSV reader does for kube", () => {
    assert.throws(() => parseTokenFile('t1,a,1\n\nt2,b,"2'), /line 3: .*quote/);
    assert.throws(() => parseTokenFile('t1,a"x",1'), /line 1: .*quote/);
    assert.throws(() => parseTokenFile('t1,a,1,"dev,ops"x'), /line 1: .*quote/);
    assert.deepEqual(parseTokenFile('t1,"a ""b""",1'), [{ token: "t1", user: { name: 'a "b"', uid: "1", groups: [] } }]);
  });

  it("a server does not start on a bad token file, and says which line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-tokens-"));
    try {
      const file = join(dir, "tokens.csv");
      writeFileSync(file, 't1,alice,1,"dev,ops"\nt2,bob,"2\n');
      const started = await startTestServer({ tokenAuthFile: file, durable: false }).catch((err: Error) => err);
      if (!(started instanceof Error)) {
        await started.stop();
        assert.fail("the server started on a token file with an unclosed quote");
      }
      assert.match(started.message, new RegExp(`${file}: line 2: `));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads the header as kube-apiserver does: the Bearer scheme case-insensitively, the token up to the next space", () => {
    assert.equal(bearerOf("Bearer abc"), "abc");
    assert.equal(bearerOf("bearer abc"), "abc");
    assert.equal(bearerOf(" BEARER abc "), "abc");
    assert.equal(bearerOf("Basic abc"), undefined);
    assert.equal(bearerOf("Bearer"), undefined);
    assert.equal(bearerOf("Bearer "), undefined);
    // kube splits at single spaces (strings.SplitN(auth, " ", 3)) and takes the second part.
    assert.equal(bearerOf("Bearer a b"), "a");
    assert.equal(bearerOf("Bearer   abc"), undefined);
    assert.equal(bearerOf("Bearer\tabc"), undefined);
    // Only the extra space before the token is warned about, as kube's authenticator does.
    assert.equal(hasExtraSpaceBeforeToken("Bearer  abc"), true);
    assert.equal(hasExtraSpaceBeforeToken(" bearer   abc "), true);
    for (const h of ["Bearer abc", "Bearer abc  xyz", "Bearer\tabc", "Bearer  ", "Basic  abc", undefined]) assert.equal(hasExtraSpaceBeforeToken(h), false, h);
  });

  it("reads the token from kube's WebSocket subprotocol", () => {
    const token = "s3cret/with+odd=chars";
    const proto = `base64url.bearer.authorization.k8s.io.${Buffer.from(token).toString("base64url")}`;
    assert.equal(bearerOfSubprotocols(`watch.setpoint.dev, ${proto}`), token);
    assert.equal(bearerOfSubprotocols("watch.setpoint.dev"), undefined);
    assert.equal(bearerOfSubprotocols("base64url.bearer.authorization.k8s.io.!!"), undefined);
  });

  it("the --token shorthand is admin in system:masters; every user is also system:authenticated", () => {
    const a = new Authenticator({ token: "tok" });
    assert.ok(a.enabled);
    assert.deepEqual(a.authenticate({ token: "tok" }), { name: "admin", groups: ["system:masters", "system:authenticated"] });
    assert.equal(a.authenticate({ token: "to" }), undefined);
    assert.equal(a.authenticate({ token: "tok " }), undefined);
    assert.equal(a.authenticate({}), undefined);
    assert.equal(new Authenticator().enabled, false);
  });
});

describe("the WebSocket watch's subprotocol", () => {
  const bearer = `base64url.bearer.authorization.k8s.io.${Buffer.from("secret").toString("base64url")}`;
  it("is watch.setpoint.dev when offered, else the one protocol offered beside the bearer one, never the bearer one", () => {
    assert.equal(watchSubprotocol(new Set([bearer, "watch.setpoint.dev"])), "watch.setpoint.dev");
    assert.equal(watchSubprotocol(new Set(["other", "watch.setpoint.dev"])), "watch.setpoint.dev");
    assert.equal(watchSubprotocol(new Set([bearer, "other"])), "other");
    assert.equal(watchSubprotocol(new Set(["other"])), "other");
    assert.equal(watchSubprotocol(new Set([bearer])), false);
    assert.equal(watchSubprotocol(new Set([bearer, "a", "b"])), false);
    assert.equal(watchSubprotocol(new Set()), false);
  });
});

describe("authentication on every surface", () => {
  let t: TestServer;
  let dir: string;
  let client: ResourcesClient;
  const TOKEN = "alice-token-0123456789";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-authn-"));
    const file = join(dir, "tokens.csv");
    writeFileSync(file, `${TOKEN},alice,1001,"dev"\nadmin-token,root,1,system:masters\n`);
    t = await startTestServer({ grpcPort: 0, durable: false, tokenAuthFile: file });
    client = new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("REST: 401 Unauthorized without valid credentials except health and version", async () => {
    const anon = api(t.url);
    const wrong = api(t.url, { token: "nope" });
    for (const path of [
      "/apis",
      "/api",
      "/api/v1",
      "/metrics",
      "/openapi/v3",
      "/apis/setpoint.dev/v1",
      "/apis/setpoint.dev/v1/resourcetypes",
      "/apis/setpoint.dev/v1/namespaces/a/leases/x",
      "/no/such/path",
    ]) {
      const res = await anon.get(path);
      assertStatus(res, 401, "Unauthorized");
      assert.equal(res.body.message, "Unauthorized");
      assertStatus(await wrong.get(path), 401, "Unauthorized");
    }
    assertStatus(await anon.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {}), 401, "Unauthorized");
    assertStatus(await anon.post("/apis/setpoint.dev/v1/namespaces/a/leases", { metadata: { name: "x" }, spec: {} }), 401, "Unauthorized");
    for (const path of ["/healthz", "/livez", "/readyz", "/version"]) assert.equal((await anon.get(path)).status, 200, path);
    const lower = await anon.request("GET", "/apis", { headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(lower.status, 200, "the scheme is case-insensitive");
    // As kube-apiserver's bearertoken authenticator: a space too many before the token carries none; text after it is not the token's.
    // And, as kube's authenticator, the 401 for the extra space says why (bearertoken's invalidTokenWithSpaceWarning); a tab gets no warning.
    const spaced = await anon.request("GET", "/apis", { headers: { authorization: `Bearer  ${TOKEN}` } });
    assertStatus(spaced, 401, "Unauthorized");
    assert.equal(spaced.headers.get("warning"), '299 - "the provided Authorization header contains extra space before the bearer token, and is ignored"');
    const tabbed = await anon.request("GET", "/apis", { headers: { authorization: `Bearer\t${TOKEN}` } });
    assertStatus(tabbed, 401, "Unauthorized");
    assert.equal(tabbed.headers.get("warning"), null);
    const trailing = await anon.request("GET", "/apis", { headers: { authorization: `Bearer ${TOKEN} trailing` } });
    assert.equal(trailing.status, 200);
    assert.equal(trailing.headers.get("warning"), null);
    assert.equal((await api(t.url, { token: TOKEN }).post("/apis/setpoint.dev/v1/namespaces/a/leases", { metadata: { name: "x" }, spec: {} })).status, 201);
  });

  it("HTTP watch: 401 without a token, a stream with one", async () => {
    const path = "/apis/setpoint.dev/v1/namespaces/a/leases?watch=true&timeoutSeconds=1";
    const anon = await fetch(t.url + path, { signal: AbortSignal.timeout(10_000) });
    assert.equal(anon.status, 401);
    assert.equal(((await anon.json()) as { reason: string }).reason, "Unauthorized");
    const ok = await fetch(t.url + path, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    assert.equal(ok.status, 200);
    const text = await ok.text();
    assert.match(text, /"ADDED"/);
  });

  const open = (protocols: string[] | undefined, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; ws?: WebSocket; body?: string; warning?: string; first?: Promise<string> }>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace("http", "ws")}/apis/setpoint.dev/v1/namespaces/a/leases`, protocols, { headers, handshakeTimeout: 10_000 });
      const first = new Promise<string>((r) => ws.once("message", (m) => r(String(m))));
      ws.once("open", () => resolve({ status: 101, ws, first }));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        const warning = res.headers.warning;
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ...(warning !== undefined && { warning: String(warning) }) }));
      });
      ws.once("error", reject);
    });

  it("WebSocket: 401 before upgrading; the header or kube's bearer subprotocol opens it; the token is never echoed", async () => {
    const anon = await open(undefined);
    assert.equal(anon.status, 401);
    assert.equal(JSON.parse(anon.body!).reason, "Unauthorized");
    const wrong = await open(["watch.setpoint.dev", `base64url.bearer.authorization.k8s.io.${Buffer.from("nope").toString("base64url")}`]);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.warning, undefined);
    // As on REST: a space too many before the token is kube's warning on the 401.
    const spaced = await open(undefined, { authorization: `Bearer  ${TOKEN}` });
    assert.equal(spaced.status, 401);
    assert.equal(spaced.warning, '299 - "the provided Authorization header contains extra space before the bearer token, and is ignored"');

    const header = await open(undefined, { authorization: `Bearer ${TOKEN}` });
    assert.equal(header.status, 101);
    header.ws!.close();

    const bearer = `base64url.bearer.authorization.k8s.io.${Buffer.from(TOKEN).toString("base64url")}`;
    const sub = await open([bearer, "watch.setpoint.dev"]);
    assert.equal(sub.status, 101);
    assert.equal(sub.ws!.protocol, "watch.setpoint.dev", "the server selects the watch subprotocol, not the token");
    const first = await sub.first!;
    assert.equal(JSON.parse(first).type, "ADDED");
    sub.ws!.close();
  });

  it("WebSocket: with the bearer protocol and one other offered, the other is selected, as kube-apiserver answers", async () => {
    const bearer = `base64url.bearer.authorization.k8s.io.${Buffer.from(TOKEN).toString("base64url")}`;
    const sub = await open([bearer, "v4.channel.k8s.io"]);
    assert.equal(sub.status, 101);
    assert.equal(sub.ws!.protocol, "v4.channel.k8s.io");
    assert.equal(JSON.parse(await sub.first!).type, "ADDED");
    sub.ws!.close();
  });

  it("gRPC: UNAUTHENTICATED without metadata, served with it", async () => {
    const ref = { group: "setpoint.dev", version: "v1", plural: "leases", namespace: "a" };
    const list = (md: grpc.Metadata) =>
      new Promise<unknown>((resolve, reject) => client.list({ ref }, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res))));
    const err = await list(new grpc.Metadata()).then(
      () => assert.fail("expected UNAUTHENTICATED"),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    const res = (await list(md)) as { items: Buffer[] };
    assert.equal(res.items.length, 1);
  });
});
