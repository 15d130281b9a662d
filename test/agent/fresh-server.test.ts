// An agent started against a server nothing was ever written to: a new
// user's `setpoint server` on a fresh data directory, agent first. Its lists
// are at revision 0 (no write yet), which the client took for a broken
// server: "the server's address answers, but not in Setpoint's protocol …
// list revision 0 is not a revision", retried with backoff. A fresh store's
// list is at revision 0; the informer then watches from there.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Informer, SetpointClient, type ApiObject } from "../../src/agent.ts";
import { api, startTestServer, TEST_STORE, type TestServer } from "../helpers/server.ts";
import { waitFor } from "./fixtures.ts";

const LEASES = { group: "setpoint.dev", version: "v1", plural: "leases" };

describe("an agent on a server nothing was written to yet", () => {
  let t: TestServer;
  before(async () => (t = await startTestServer({ grpcPort: 0 })));
  after(async () => await t?.stop());

  it("lists at revision 0, syncs without an error, and sees the first object written", async () => {
    const client = new SetpointClient({ grpcAddress: `127.0.0.1:${t.server.grpcPort}`, httpUrl: t.url });
    const stop = new AbortController();
    const errors: unknown[] = [];
    const added: string[] = [];
    try {
      const first = await client.list(LEASES);
      if (TEST_STORE === "lmdb") assert.equal(first.revision, 0, "nothing written yet"); // etcd's revisions start at 1
      assert.deepEqual(first.items, []);
      const informer = new Informer<ApiObject>({ client, type: LEASES, onError: (err) => errors.push(err) });
      informer.addHandlers({ onAdd: (o) => added.push(o.metadata.name) });
      const running = informer.run(stop.signal);
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true, `synced; errors: ${errors.map(String).join("; ")}`);
      const lease = { apiVersion: "setpoint.dev/v1", kind: "Lease", metadata: { name: "first" }, spec: { holderIdentity: "x" } };
      assert.equal((await api(t.url).post("/apis/setpoint.dev/v1/namespaces/default/leases", lease)).status, 201);
      await waitFor("the first object, through the watch", () => added.includes("first"));
      assert.deepEqual(errors, []);
      stop.abort();
      await running;
    } finally {
      stop.abort();
      client.close();
    }
  });
});
