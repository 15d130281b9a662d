// The PipelineRun ResourceType (src/pipelines/resource-type.ts): the example
// YAML matches it, the server accepts it, the examples are valid runs, and
// the server rejects a bad task graph with 422 and the field, on create,
// update and patch, over REST — through the validator extension point
// (startServer's `validators`, src/api/type-validators.ts), which the CLI fills
// with PIPELINE_VALIDATORS.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { PIPELINE_RUN_RESOURCE_TYPE, PIPELINE_VALIDATORS, validatePipelineRun } from "../../src/pipelines/resource-type.ts";
import { api, assertStatus, causeFields, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const example = (name: string) => readFileSync(`${root}/examples/pipelines/${name}`, "utf8");
const RUNS = "/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns";

function run(name: string, tasks: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: "ci.setpoint.dev/v1", kind: "PipelineRun", metadata: { name }, spec: { tasks, ...extra } };
}
const cyclic = [
  { name: "a", run: "true", runAfter: ["b"] },
  { name: "b", run: "true", runAfter: ["a"] },
];

describe("examples/pipelines/resource-type.yaml", () => {
  it("is the ResourceType of src/pipelines/resource-type.ts (regenerate: node --import tsx scripts/gen-pipeline-type.ts)", () => {
    assert.deepEqual(parse(example("resource-type.yaml")), JSON.parse(JSON.stringify(PIPELINE_RUN_RESOURCE_TYPE)));
  });
});

describe("PipelineRun on a real server", () => {
  let t: TestServer;
  let c: ApiClient;

  before(async () => {
    t = await startTestServer({}, { validators: PIPELINE_VALIDATORS });
    c = api(t.url);
    const res = await c.post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE);
    assert.equal(res.status, 201, res.text);
  });
  after(() => t.stop());

  it("accepts the example runs, which also pass the whole-object check", async () => {
    for (const file of ["diamond.yaml", "flaky.yaml"]) {
      const object = parseAllDocuments(example(file))[0]!.toJS() as Record<string, unknown> & { spec: unknown };
      assert.deepEqual(validatePipelineRun(object), [], file);
      const res = await c.post(RUNS, object);
      assert.equal(res.status, 201, `${file}: ${res.text}`);
    }
  });

  it("rejects a cycle on create with 422 Invalid naming the runAfter entry", async () => {
    const res = await c.post(RUNS, run("cyclic", cyclic));
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(causeFields(res), ["spec.tasks[1].runAfter[0]"]);
    assert.match(res.body.message, /spec\.tasks\[1\]\.runAfter\[0\]: Invalid value: "a": runAfter forms a cycle: a → b → a/);
    assertStatus(await c.get(`${RUNS}/cyclic`), 404, "NotFound");
  });

  it("rejects duplicate and unknown names with their fields, together with schema errors", async () => {
    const res = await c.post(
      RUNS,
      run("dup", [
        { name: "a", run: "x" },
        { name: "a", run: "y", runAfter: ["ghost"], retries: -1 },
      ]),
    );
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(causeFields(res).sort(), ["spec.tasks[1].name", "spec.tasks[1].retries", "spec.tasks[1].runAfter[0]"]);
  });

  it("a run without spec: spec is a required value", async () => {
    const res = await c.post(RUNS, { apiVersion: "ci.setpoint.dev/v1", kind: "PipelineRun", metadata: { name: "no-spec" } });
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(res.body.details.causes, [{ field: "spec", message: "Required value", reason: "FieldValueRequired" }]);
  });

  it("a misspelt task field is an unknown field, with the fields a task has", async () => {
    const res = await c.post(
      RUNS,
      run("typo", [
        { name: "a", run: "x" },
        { name: "b", run: "y", runAfterr: ["a"] },
      ]),
    );
    assertStatus(res, 422, "Invalid");
    assert.deepEqual(causeFields(res), ["spec.tasks[1].runAfterr"]);
    assert.match(
      res.body.message,
      /spec\.tasks\[1\]\.runAfterr: Invalid value: "array": unknown field "runAfterr": the known fields here are args, command, env, name, retries, run, runAfter, timeoutSeconds, workingDir/,
    );
  });

  it("rejects an update (PUT) and a patch that would make a cycle, and keeps the object", async () => {
    const created = await c.post(
      RUNS,
      run("chain", [
        { name: "a", run: "true" },
        { name: "b", run: "true", runAfter: ["a"] },
      ]),
    );
    assert.equal(created.status, 201, created.text);

    const put = await c.put(`${RUNS}/chain`, { ...created.body, spec: { tasks: cyclic } });
    assertStatus(put, 422, "Invalid");
    assert.deepEqual(causeFields(put), ["spec.tasks[1].runAfter[0]"]);

    const patch = await c.patch(`${RUNS}/chain`, [{ op: "add", path: "/spec/tasks/0/runAfter", value: ["b"] }], "application/json-patch+json");
    assertStatus(patch, 422, "Invalid");
    // The search starts at the first task, so the edge b → a is the one that closes a → b → a.
    assert.deepEqual(causeFields(patch), ["spec.tasks[1].runAfter[0]"]);

    const now = await c.get(`${RUNS}/chain`);
    assert.equal(now.body.metadata.resourceVersion, created.body.metadata.resourceVersion);
    assert.deepEqual(now.body.spec, created.body.spec);
  });

  it("refuses a new spec for a finished run (it would never run), but takes cancel, labels, and spec changes before it ends", async () => {
    const created = await c.post(RUNS, run("finished", [{ name: "a", run: "echo one" }]));
    assert.equal(created.status, 201, created.text);
    const running = await c.patch(`${RUNS}/finished`, { spec: { params: { N: "1" } } }); // still Pending: the runner has not finished it
    assert.equal(running.status, 200, running.text);
    for (const phase of ["Succeeded", "Failed", "Cancelled"]) {
      const done = await c.patch(`${RUNS}/finished/status`, { status: { phase } });
      assert.equal(done.status, 200, done.text);
      const changed = await c.patch(`${RUNS}/finished`, { spec: { tasks: [{ name: "a", run: "echo two" }] } });
      assertStatus(changed, 422, "Invalid");
      assert.deepEqual(causeFields(changed), ["spec"]);
      assert.equal(changed.body.details.causes[0].reason, "FieldValueForbidden");
      assert.match(
        changed.body.message,
        new RegExp(`spec: Forbidden: the run has already finished \\(${phase}\\) .*delete the run first, or create it under another name`),
      );
    }
    const put = await c.put(`${RUNS}/finished`, { ...(await c.get(`${RUNS}/finished`)).body, spec: { tasks: [{ name: "b", run: "true" }] } });
    assertStatus(put, 422, "Invalid");
    assert.equal((await c.patch(`${RUNS}/finished`, { spec: { cancel: true } })).status, 200);
    assert.equal((await c.patch(`${RUNS}/finished`, { metadata: { labels: { kept: "yes" } } })).status, 200);
    assert.deepEqual((await c.get(`${RUNS}/finished`)).body.spec, { tasks: [{ name: "a", run: "echo one" }], params: { N: "1" }, cancel: true });
  });

  it("does not run the check on status writes", async () => {
    const created = await c.post(RUNS, run("status-only", [{ name: "a", run: "true" }]));
    assert.equal(created.status, 201, created.text);
    const res = await c.patch(`${RUNS}/status-only/status`, { status: { phase: "Running", tasks: { a: { phase: "Running", attempt: 1 } } } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status.tasks.a.phase, "Running");
  });

  it("checks status against the schema: phases and the bounded output tail", async () => {
    await c.post(RUNS, run("bounded", [{ name: "a", run: "true" }]));
    const badPhase = await c.patch(`${RUNS}/bounded/status`, { status: { phase: "Done" } });
    assertStatus(badPhase, 422, "Invalid");
    assert.deepEqual(causeFields(badPhase), ["status.phase"]);
    const tooLong = await c.patch(`${RUNS}/bounded/status`, { status: { tasks: { a: { phase: "Running", output: "x".repeat(8193) } } } });
    assertStatus(tooLong, 422, "Invalid");
    assert.deepEqual(causeFields(tooLong), ["status.tasks.a.output"]);
  });
});

describe("startServer validators option", () => {
  it("runs no whole-object check by default: the server does not know the pipeline runner", async () => {
    const t = await startTestServer();
    try {
      const c = api(t.url);
      assert.equal((await c.post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE)).status, 201);
      const res = await c.post(RUNS, run("cyclic", cyclic));
      assert.equal(res.status, 201, res.text);
    } finally {
      await t.stop();
    }
  });

  it("runs a custom check for any type", async () => {
    const t = await startTestServer(
      {},
      {
        validators: new Map([
          ["pipelineruns.ci.setpoint.dev", (o) => (o.metadata.labels?.team ? [] : [{ field: "metadata.labels.team", message: "Required value" }])],
        ]),
      },
    );
    try {
      const c = api(t.url);
      await c.post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE);
      const res = await c.post(RUNS, run("unlabelled", [{ name: "a", run: "true" }]));
      assertStatus(res, 422, "Invalid");
      assert.deepEqual(causeFields(res), ["metadata.labels.team"]);
    } finally {
      await t.stop();
    }
  });
});
