// REST contract (API.md §8), against the real server over real HTTP: with a
// token, every API path needs it; health checks do not.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { api, assertStatus, startTestServer, type TestServer } from "../../helpers/server.ts";

describe("token auth", () => {
  let secured: TestServer;
  before(async () => {
    secured = await startTestServer({ token: "s3cret-token" });
  });
  after(async () => {
    await secured.stop();
  });

  it("a missing or wrong token is 401; the right one works; /healthz, /readyz and /version need none", async () => {
    const anon = api(secured.url);
    const wrong = api(secured.url, { token: "nope" });
    const right = api(secured.url, { token: "s3cret-token" });
    for (const path of ["/apis", "/api", "/metrics", "/openapi/v3", "/apis/setpoint.dev/v1/resourcetypes", "/apis/setpoint.dev/v1/namespaces/a/leases/x"]) {
      assertStatus(await anon.get(path), 401, "Unauthorized");
      assertStatus(await wrong.get(path), 401, "Unauthorized");
    }
    assertStatus(await anon.post("/apis/setpoint.dev/v1/namespaces/a/leases", { metadata: { name: "x" }, spec: {} }), 401, "Unauthorized");
    assertStatus(await anon.request("GET", "/apis", { headers: { authorization: "Basic czNjcmV0LXRva2Vu" } }), 401, "Unauthorized");
    assertStatus(await anon.request("GET", "/apis", { headers: { authorization: "Bearer s3cret-token-and-more" } }), 401, "Unauthorized");
    assert.equal((await right.get("/apis")).status, 200);
    const lease = await right.post("/apis/setpoint.dev/v1/namespaces/a/leases", { metadata: { name: "x" }, spec: {} });
    assert.equal(lease.status, 201, lease.text);
    const got = await right.get("/apis/setpoint.dev/v1/namespaces/a/leases/x");
    assert.equal(got.status, 200, got.text);
    assert.equal((await anon.get("/healthz")).status, 200);
    assert.equal((await anon.get("/readyz")).status, 200);
    assert.equal((await anon.get("/version")).status, 200);
  });
});
