// The benches' SdkCreator (bench/lib/clients.ts) reports a refused write with
// the server's HTTP status, as node:http's client does, so a 409 or a 422 in
// a bench's `errors` notes reads as what it was, not as 0 (no answer).

import assert from "node:assert/strict";
import { test } from "node:test";
import { SdkCreator } from "../../bench/lib/clients.ts";
import { api, createType, startTestServer } from "../helpers/server.ts";

test("SdkCreator answers a create with 201, an existing name with 409, a bad object with 422, no server with 0", async () => {
  const server = await startTestServer();
  const creator = new SdkCreator(server.url, { timeoutMs: 10_000 });
  try {
    const base = await createType(api(server.url), { group: "creator.example.com", kind: "Thing", plural: "things" });
    const path = `${base}/namespaces/default/things`;
    const cm = { apiVersion: "creator.example.com/v1", kind: "Thing", metadata: { name: "sdk-creator" }, spec: { a: 1 } };
    assert.equal((await creator.create(path, cm)).status, 201);
    const again = await creator.create(path, cm);
    assert.equal(again.status, 409, again.text);
    assert.match(again.text, /already exists/);
    const bad = await creator.create(path, { ...cm, metadata: { name: "Not_A_Name" } });
    assert.equal(bad.status, 422, bad.text);
    assert.equal((await creator.replace(`${path}/sdk-creator`, cm)).status, 200);
    const missing = await creator.replace(`${path}/none`, { ...cm, metadata: { name: "none" } });
    assert.equal(missing.status, 404, missing.text);
  } finally {
    creator.close();
    await server.stop();
  }
  const gone = new SdkCreator(server.url, { timeoutMs: 10_000 });
  try {
    assert.equal((await gone.create("/apis/creator.example.com/v1/namespaces/default/things", { metadata: { name: "x" } })).status, 0);
  } finally {
    gone.close();
  }
});
