// A test server with the PipelineRun type and nothing running its runs: for
// CLI tests that set a run's status by hand and watch the CLI react.

import assert from "node:assert/strict";
import { PIPELINE_RUN_RESOURCE_TYPE, PIPELINE_VALIDATORS } from "../../src/pipelines/resource-type.ts";
import { api, startTestServer, type ApiClient, type TestServer } from "./server.ts";

/** The PipelineRuns collection of a namespace. */
export function runsPath(namespace: string): string {
  return `/apis/ci.setpoint.dev/v1/namespaces/${namespace}/pipelineruns`;
}

/** Starts the server and creates the PipelineRun type. */
export async function startRunsServer(): Promise<{ t: TestServer; c: ApiClient }> {
  const t = await startTestServer({}, { validators: PIPELINE_VALIDATORS });
  const c = api(t.url);
  const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE);
  assert.equal(res.status, 201, res.text);
  return { t, c };
}

/** Creates a one-task run `name` (echo a) in `namespace`. */
export async function createRun(c: ApiClient, namespace: string, name: string, labels: Record<string, string> = {}): Promise<void> {
  const res = await c.post(runsPath(namespace), {
    apiVersion: "ci.setpoint.dev/v1",
    kind: "PipelineRun",
    metadata: { name, labels },
    spec: { tasks: [{ name: "a", run: "echo a" }] },
  });
  assert.equal(res.status, 201, res.text);
}

/** Resolves once `ok()` holds; fails after `ms` naming `what`. */
export async function until(ok: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
