// The reconcile bench's driver declares each spec change with a PUT of the
// whole object as its watch last showed it, with its resourceVersion: what an
// agent added to the object meanwhile (finalizers, annotations, labels) stays,
// and a copy the agent's write made stale is read again and retried (409).

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseBenchArgs } from "../../bench/lib/options.ts";
import { setpointDriver } from "../../bench/reconcile.ts";
import { api, startTestServer } from "../helpers/server.ts";

test("the reconcile driver's update keeps the finalizers, annotations and labels an agent added, stale copy or not", { timeout: 60_000 }, async () => {
  const server = await startTestServer({ grpcPort: 0 });
  const client = api(server.url);
  const used = new Set<string>();
  try {
    for (const setpointClient of ["sdk", "node-http"]) {
      const o = parseBenchArgs(["--target", server.url, "--grpc-target", `127.0.0.1:${server.server.grpcPort}`, "--setpoint-client", setpointClient]);
      const d = await setpointDriver(o, 1);
      try {
        const seen = d.waiters.wait("x", 1);
        await d.write("x", 1, true);
        // The bench's objects are named `<run>-<name>` and labelled bench-run=<run>.
        const listed = await client.get("/apis/bench.setpoint.dev/v1/namespaces/default/recons");
        const stored = (listed.body.items as Array<{ metadata: { name: string; labels: Record<string, string> } }>).find(
          (i) => !used.has(i.metadata.name) && i.metadata.name === `${i.metadata.labels["bench-run"]}-x`,
        )!;
        used.add(stored.metadata.name);
        const path = `/apis/bench.setpoint.dev/v1/namespaces/default/recons/${stored.metadata.name}`;
        // The agent: a finalizer, an annotation and a label, then its status.
        const added = await client.patch(path, {
          metadata: { finalizers: ["agent.example.com/cleanup"], annotations: { "agent.example.com/seen": "1" }, labels: { owner: "agent" } },
        });
        assert.equal(added.status, 200, added.text);
        const status = await client.request("PATCH", `${path}/status`, { body: { status: { seq: 1 } }, contentType: "application/merge-patch+json" });
        assert.equal(status.status, 200, status.text);
        assert.equal(await seen, true, "the driver's watch showed the status");
        // Once more right before the driver's update: its copy may now be stale (a 409 it retries), or fresh if the watch was quick.
        const again = await client.patch(path, { metadata: { annotations: { "agent.example.com/late": "2" } } });
        assert.equal(again.status, 200, again.text);
        await d.write("x", 2, false);
        const after = await client.get(path);
        assert.equal(after.status, 200, after.text);
        assert.deepEqual(after.body.spec.seq, 2, after.text);
        assert.deepEqual(after.body.metadata.finalizers, ["agent.example.com/cleanup"], after.text);
        assert.equal(after.body.metadata.annotations?.["agent.example.com/seen"], "1", after.text);
        assert.equal(after.body.metadata.annotations?.["agent.example.com/late"], "2", after.text);
        assert.equal(after.body.metadata.labels?.owner, "agent", after.text);
        assert.equal(after.body.metadata.labels?.["bench-run"], stored.metadata.labels["bench-run"], after.text);
        assert.deepEqual(after.body.status, { seq: 1 }, after.text);
        // Let the object go: without its finalizer a delete removes it.
        const freed = await client.patch(path, { metadata: { finalizers: null } });
        assert.equal(freed.status, 200, freed.text);
      } finally {
        await d.close();
      }
    }
  } finally {
    await server.stop();
  }
});
