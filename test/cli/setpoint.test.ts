// The `setpoint` CLI end to end against a real server started in this
// process on an ephemeral port with a temp data directory. Commands run in
// this process through runCli (fast); a handful run as real child processes
// (from source, through tsx): usage and help exit codes, the environment,
// watch until interrupted, and `setpoint server`.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { PIPELINE_RUN_RESOURCE_TYPE, PIPELINE_VALIDATORS } from "../../src/pipelines/resource-type.ts";
import { exited, LineReader, runSetpoint, runSetpointInProcess, spawnSetpoint, type CliOptions } from "../helpers/cli.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

let t: TestServer;
let c: ApiClient;
let dir: string;

/** `setpoint ARGS --server URL`. */
const cli = (args: string[], options?: CliOptions) => runSetpointInProcess([...args, "--server", t.url], options);
const runs = (ns: string) => `/apis/ci.setpoint.dev/v1/namespaces/${ns}/pipelineruns`;
const lines = (text: string) => text.split("\n").filter((l) => l !== "");

/** A port nothing listens on (one the kernel just handed out and that was closed again). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function runYaml(name: string, ns: string | undefined, tasks: string, labels = ""): string {
  return `apiVersion: ci.setpoint.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
${ns === undefined ? "" : `  namespace: ${ns}\n`}${labels === "" ? "" : `  labels: {${labels}}\n`}spec:
  tasks:
${tasks}`;
}
const TWO_TASKS = `    - {name: a, run: "echo a"}
    - {name: b, run: "echo b", runAfter: [a]}
`;

async function patchStatus(ns: string, name: string, status: unknown): Promise<void> {
  const res = await c.patch(`${runs(ns)}/${name}/status`, { status });
  assert.equal(res.status, 200, res.text);
}

function ok(r: { code: number | null; stdout: string; stderr: string }, what = "setpoint"): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "setpoint-cli-test-"));
  // The server as the CLI assembles it (src/cli/run-server.ts): with the pipeline checks.
  t = await startTestServer({}, { validators: PIPELINE_VALIDATORS });
  c = api(t.url);
});
after(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("setpoint apply", () => {
  it("creates a ResourceType and objects of it from one multi-document file, the type first", async () => {
    const path = file(
      "multi.yaml",
      [runYaml("one", "apply", TWO_TASKS, "app: web"), JSON.stringify(PIPELINE_RUN_RESOURCE_TYPE), runYaml("two", "apply", TWO_TASKS, "app: api")].join(
        "\n---\n",
      ),
    );
    const r = await cli(["apply", "-f", path]);
    ok(r);
    assert.deepEqual(lines(r.stdout), [
      "resourcetype.setpoint.dev/pipelineruns.ci.setpoint.dev created",
      "pipelinerun.ci.setpoint.dev/one created",
      "pipelinerun.ci.setpoint.dev/two created",
    ]);
    const one = await c.get(`${runs("apply")}/one`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.body.metadata.labels, { app: "web" });
  });

  it("reports unchanged objects, updates changed ones (from stdin, JSON too) and keeps metadata the file leaves out", async () => {
    const fin = await c.patch(`${runs("apply")}/one`, { metadata: { finalizers: ["ci.setpoint.dev/cleanup"], annotations: { note: "kept" } } });
    assert.equal(fin.status, 200, fin.text);

    const again = await cli(["apply", "-f", join(dir, "multi.yaml")]);
    ok(again);
    assert.deepEqual(lines(again.stdout).slice(1), ["pipelinerun.ci.setpoint.dev/one unchanged", "pipelinerun.ci.setpoint.dev/two unchanged"]);

    const changed = {
      apiVersion: "ci.setpoint.dev/v1",
      kind: "PipelineRun",
      metadata: { name: "one", namespace: "apply", labels: { app: "web", tier: "1" } },
      spec: { tasks: [{ name: "a", run: "echo A" }], params: { X: "1" } },
    };
    const r = await cli(["apply", "-f", "-"], { input: JSON.stringify(changed) });
    ok(r);
    assert.deepEqual(lines(r.stdout), ["pipelinerun.ci.setpoint.dev/one configured"]);
    const one = (await c.get(`${runs("apply")}/one`)).body;
    assert.deepEqual(one.spec, changed.spec);
    assert.equal(one.metadata.generation, 2);
    assert.deepEqual(one.metadata.labels, { app: "web", tier: "1" });
    assert.deepEqual(one.metadata.finalizers, ["ci.setpoint.dev/cleanup"], "an agent's finalizer survives a re-apply");
    assert.deepEqual(one.metadata.annotations, { note: "kept" });
    await c.patch(`${runs("apply")}/one`, { metadata: { finalizers: null } });
  });

  it("--dry-run=server has the server check each write and store nothing: what would be created, configured or refused", async () => {
    const before = (await c.get(`${runs("apply")}/two`)).body;
    const input = [runYaml("two", "apply", `    - {name: a, run: "echo changed"}\n`), runYaml("dry-new", "apply", TWO_TASKS)].join("---\n");
    const r = await cli(["apply", "-f", "-", "--dry-run=server"], { input });
    ok(r);
    assert.deepEqual(lines(r.stdout), [
      "pipelinerun.ci.setpoint.dev/two configured (server dry run)",
      "pipelinerun.ci.setpoint.dev/dry-new created (server dry run)",
    ]);
    assert.equal((await c.get(`${runs("apply")}/dry-new`)).status, 404);
    assert.deepEqual((await c.get(`${runs("apply")}/two`)).body, before);
    const bad = await cli(["apply", "-f", "-", "--dry-run=server"], { input: runYaml("dry-bad", "apply", `    - {name: a, run: "x", runAfter: [a]}\n`) });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error from server \(Invalid\): .* is invalid:\n {2}spec\.tasks\[0\]\.runAfter\[0\]: .*a task cannot run after itself\n$/);
    assert.equal((await cli(["apply", "-f", "-", "--dry-run=client"], { input })).code, 2);
  });

  it("puts objects without a namespace in -n's, and refuses one whose namespace differs from -n", async () => {
    const path = file("nons.yaml", runYaml("nons", undefined, TWO_TASKS));
    ok(await cli(["apply", "-f", path, "-n", "elsewhere"]));
    assert.equal((await c.get(`${runs("elsewhere")}/nons`)).status, 200);

    const r = await cli(["-n", "elsewhere", "apply", "-f", join(dir, "multi.yaml")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not match the namespace given with -n/);
  });

  it("prints the server's message and every failing field for a bad object, and exits 1", async () => {
    const bad = runYaml(
      "bad",
      "apply",
      `    - {name: a, run: "true", runAfter: [b]}
    - {name: b, run: "true", runAfter: [a]}
    - {name: c, run: "true", runAfter: [ghost]}
`,
    );
    const good = runYaml("good-after-bad", "apply", TWO_TASKS);
    const r = await cli(["apply", "-f", "-"], { input: `${bad}---\n${good}` });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error from server \(Invalid\): error when applying PipelineRun "bad" from -#1: PipelineRun\.ci\.setpoint\.dev "bad" is invalid/m);
    assert.match(r.stderr, /^ {2}spec\.tasks\[1\]\.runAfter\[0\]: Invalid value: "a": runAfter forms a cycle: a → b → a$/m);
    assert.match(r.stderr, /^ {2}spec\.tasks\[2\]\.runAfter\[0\]: Not found: "ghost"/m);
    // It went on with the next object.
    assert.deepEqual(lines(r.stdout), ["pipelinerun.ci.setpoint.dev/good-after-bad created"]);
  });

  it("fails on a file that is not valid YAML, lacks apiVersion or is not there, naming it", async () => {
    const [syntax, missing, absent] = await Promise.all([
      cli(["apply", "-f", file("broken.yaml", "kind: [unclosed\n")]),
      cli(["apply", "-f", file("nokind.yaml", "metadata: {name: x}\n")]),
      cli(["apply", "-f", "no-such-file.yaml"]),
    ]);
    assert.equal(absent.code, 1);
    assert.equal(absent.stderr, "error: cannot read no-such-file.yaml: no such file or directory\n");
    assert.equal(syntax.code, 1);
    // One line, where then what: not the YAML library's multi-line excerpt with a caret.
    assert.match(
      syntax.stderr,
      /^error: \S*broken\.yaml: invalid YAML at line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a \]\n$/,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nokind\.yaml: apiVersion is missing/);
  });
});

describe("setpoint get", () => {
  before(async () => {
    ok(
      await cli(["apply", "-f", "-", "-n", "get"], {
        input: [runYaml("alpha", undefined, TWO_TASKS, "app: web"), runYaml("beta", undefined, TWO_TASKS, "app: api")].join("---\n"),
      }),
    );
    await patchStatus("get", "alpha", { phase: "Running", tasks: { a: { phase: "Succeeded", attempt: 1, exitCode: 0 }, b: { phase: "Running", attempt: 1 } } });
  });

  it("prints a table with NAME, PHASE, TASKS (succeeded/total) and AGE", async () => {
    const r = await cli(["get", "pipelineruns", "-n", "get"]);
    ok(r);
    const [header, ...rows] = lines(r.stdout);
    assert.match(header!, /^NAME\s+PHASE\s+TASKS\s+AGE$/);
    assert.equal(rows.length, 2, r.stdout);
    assert.match(rows[0]!, /^alpha\s+Running\s+1\/2\s+\d+s$/);
    assert.match(rows[1]!, /^beta\s+Pending\s+0\/2\s+\d+s$/);
    // Columns line up.
    assert.equal(header!.indexOf("PHASE"), rows[0]!.indexOf("Running"));
  });

  it("resolves TYPE by plural, singular or kind in any case, or plural.group, or a short name (pr) as kubectl does", async () => {
    const results = await Promise.all(
      ["pipelineruns", "PipelineRun", "PIPELINERUN", "pipelineruns.ci.setpoint.dev", "pipelinerun.ci.setpoint.dev", "pr", "PR"].map((type) =>
        cli(["get", type, "alpha", "-n", "get", "-o", "name"]),
      ),
    );
    for (const r of results) {
      ok(r);
      assert.equal(r.stdout, "pipelinerun.ci.setpoint.dev/alpha\n");
    }
  });

  it("prints -o json and -o yaml: one object by name, otherwise a v1 List as kubectl", async () => {
    const [json, yaml, list] = await Promise.all([
      cli(["get", "pipelinerun", "alpha", "-n", "get", "-o", "json"]),
      cli(["get", "pipelinerun", "alpha", "-n", "get", "-o", "yaml"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", "json"]),
    ]);
    for (const r of [json, yaml, list]) ok(r);
    const stored = (await c.get(`${runs("get")}/alpha`)).body;
    assert.deepEqual(JSON.parse(json.stdout), stored);
    assert.deepEqual(parse(yaml.stdout), stored);
    const parsed = JSON.parse(list.stdout);
    // What kubectl prints for `get TYPE -o json` (cli-runtime wraps the items, whatever the server's list was).
    assert.deepEqual([parsed.apiVersion, parsed.kind, parsed.metadata], ["v1", "List", { resourceVersion: "" }]);
    assert.deepEqual(
      parsed.items.map((i: { metadata: { name: string } }) => i.metadata.name),
      ["alpha", "beta"],
    );
  });

  it("prints -o jsonpath=TEMPLATE as kubectl: the object by name, a v1 List otherwise; a bad template is exit 2 before any request", async () => {
    const [one, names, range, missing, bad, outOfBounds, wrapper] = await Promise.all([
      cli(["get", "pipelinerun", "alpha", "-n", "get", "-o", "jsonpath={.metadata.name}"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", "jsonpath={.items[*].metadata.name}"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", 'jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.app}{"\\n"}{end}']),
      cli(["get", "pipelinerun", "alpha", "-n", "get", "-o", "jsonpath={.status.nothing}"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", "jsonpath={.items[*]"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", "jsonpath={.items[7]}"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", "jsonpath={.apiVersion}/{.kind}/{.metadata.resourceVersion}/{.items[0].kind}"]),
    ]);
    for (const r of [one, names, range, missing, wrapper]) ok(r);
    assert.equal(wrapper.stdout, "v1/List//PipelineRun\n");
    assert.equal(one.stdout, "alpha\n");
    assert.equal(names.stdout, "alpha beta\n");
    assert.equal(range.stdout, "alpha=web\nbeta=api\n");
    assert.equal(missing.stdout, "\n");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error parsing jsonpath \{\.items\[\*\], unclosed action/);
    assert.equal(outOfBounds.code, 1);
    assert.match(
      outOfBounds.stderr,
      /error executing jsonpath "\{\.items\[7\]\}": Error executing template: array index out of bounds: index 7, length 2\. Printing more information/,
    );
  });

  it("prints -o jsonpath-as-json=TEMPLATE and -o jsonpath-file=FILE as kubectl", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-jsonpath-"));
    try {
      const file = join(dir, "names.jsonpath");
      writeFileSync(file, "{.items[*].metadata.name}");
      const [asJson, fromFile, noFile] = await Promise.all([
        cli(["get", "pipelineruns", "-n", "get", "-o", "jsonpath-as-json={.items[*].metadata.name}{.items[0].metadata.labels}"]),
        cli(["get", "pipelineruns", "-n", "get", "-o", `jsonpath-file=${file}`]),
        cli(["get", "pipelineruns", "-n", "get", "-o", `jsonpath-file=${join(dir, "missing")}`]),
      ]);
      ok(asJson);
      ok(fromFile);
      // kubectl's json.MarshalIndent of each path's values, four spaces.
      assert.equal(asJson.stdout, '[\n    "alpha",\n    "beta"\n]\n[\n    {\n        "app": "web"\n    }\n]\n');
      assert.equal(fromFile.stdout, "alpha beta\n");
      assert.equal(noFile.code, 2);
      assert.match(noFile.stderr, /error reading --template jsonpath-file, error: .*missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("filters with -l, adds NAMESPACE with -A, and shows more with -o wide", async () => {
    const [selected, all, wide] = await Promise.all([
      cli(["get", "pipelineruns", "-n", "get", "-l", "app=api"]),
      cli(["get", "pipelineruns", "-A", "-l", "app in (web,api)"]),
      cli(["get", "pipelineruns", "-n", "get", "-o", "wide"]),
    ]);
    for (const r of [selected, all, wide]) ok(r);
    assert.deepEqual(
      lines(selected.stdout)
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
      ["beta"],
    );
    assert.match(lines(all.stdout)[0]!, /^NAMESPACE\s+NAME\s+PHASE/);
    assert.ok(
      lines(all.stdout).some((l) => /^get\s+alpha\s+Running/.test(l)),
      all.stdout,
    );
    assert.match(lines(wide.stdout)[0]!, /^NAME\s+PHASE\s+TASKS\s+AGE\s+DURATION\s+RUNNING$/);
    assert.match(lines(wide.stdout)[1]!, /^alpha\s+Running\s+1\/2\s+\S+\s+<none>\s+b$/);
  });

  it("says when nothing matches, on stderr, and exits 0", async () => {
    const r = await cli(["get", "pipelineruns", "-n", "empty-ns"]);
    ok(r);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /No resources found in empty-ns namespace/);
  });

  it("exits 1 with the server's message for a missing object, after printing the ones found", async () => {
    const r = await cli(["get", "pipelineruns", "alpha", "missing", "-n", "get"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^alpha\s+Running/m);
    assert.match(r.stderr, /Error from server \(NotFound\): pipelineruns\.ci\.setpoint\.dev "missing" not found/);
  });

  it("exits 1 for an unknown type and for an ambiguous one, saying how to disambiguate", async () => {
    await createType(c, { group: "a.example.com", kind: "Widget", plural: "widgets" });
    await createType(c, { group: "b.example.com", kind: "Widget", plural: "widgets" });
    const [unknown, ambiguous, qualified] = await Promise.all([cli(["get", "gizmos"]), cli(["get", "widgets"]), cli(["get", "widgets.b.example.com"])]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /the server doesn't have a resource type "gizmos"/);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /ambiguous.*widgets\.a\.example\.com, widgets\.b\.example\.com/);
    ok(qualified);
  });

  it("reads the server from SETPOINT_SERVER, and exits 1 when it cannot be reached", async () => {
    const [fromEnv, down] = await Promise.all([
      runSetpoint(["get", "pipelineruns", "-n", "get", "-o", "name"], { env: { SETPOINT_SERVER: t.url } }),
      runSetpointInProcess(["get", "pipelineruns", "--server", `http://127.0.0.1:${await closedPort()}`]),
    ]);
    ok(fromEnv);
    assert.equal(fromEnv.stdout, "pipelinerun.ci.setpoint.dev/alpha\npipelinerun.ci.setpoint.dev/beta\n");
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the Setpoint server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });
});

describe("setpoint describe and logs", () => {
  before(async () => {
    ok(
      await cli(["apply", "-f", "-", "-n", "show"], {
        input: runYaml(
          "shown",
          undefined,
          `    - {name: a, run: "echo a"}
    - {name: b, command: [sh, -c], args: ["exit 3"], runAfter: [a], retries: 1}
    - {name: c, run: "echo c", runAfter: [b]}
`,
        ),
      }),
    );
    await patchStatus("show", "shown", {
      phase: "Failed",
      observedGeneration: 1,
      startTime: "2026-01-01T00:00:00Z",
      completionTime: "2026-01-01T00:00:09Z",
      conditions: [{ type: "Succeeded", status: "False", reason: "Failed", message: "task b failed", lastTransitionTime: "2026-01-01T00:00:09Z" }],
      tasks: {
        a: {
          phase: "Succeeded",
          attempt: 2,
          exitCode: 0,
          startTime: "2026-01-01T00:00:00Z",
          completionTime: "2026-01-01T00:00:01Z",
          output: "a says hi\n",
          previousAttempts: [{ attempt: 1, outcome: "Lost", reason: "AgentLost", output: "a started\n" }],
        },
        b: {
          phase: "Failed",
          attempt: 2,
          exitCode: 3,
          startTime: "2026-01-01T00:00:05Z",
          completionTime: "2026-01-01T00:00:09Z",
          output: "first line\nsecond line\n",
          previousAttempts: [{ attempt: 1, outcome: "Failed", exitCode: 3, output: "attempt one\n" }],
        },
        c: { phase: "Skipped" },
      },
    });
  });

  it("describe shows the run's phase, conditions and each task's phase, attempt and exit code", async () => {
    const r = await cli(["describe", "pipelinerun", "shown", "-n", "show"]);
    ok(r);
    assert.match(r.stdout, /^Name:\s+shown$/m);
    assert.match(r.stdout, /^Namespace:\s+show$/m);
    assert.match(r.stdout, /^Phase:\s+Failed$/m);
    assert.match(r.stdout, /^Duration:\s+9s$/m);
    assert.match(r.stdout, /^\s+Succeeded\s+False\s+Failed\s+\S+\s+task b failed$/m);
    assert.match(r.stdout, /^\s+NAME\s+PHASE\s+ATTEMPT\s+EXIT\s+DURATION\s+RUN AFTER/m);
    assert.match(r.stdout, /^\s+a\s+Succeeded\s+2 \(takeover: attempt 1 lost with its agent\)\s+0\s+1s\s+<none>/m);
    assert.match(r.stdout, /^\s+b\s+Failed\s+2 \(1 retry allowed\)\s+3\s+4s\s+a\s+<none>\s+sh -c "exit 3"$/m);
    assert.match(r.stdout, /^\s+c\s+Skipped\s+0\s+<none>\s+<none>\s+b/m);
  });

  it("describe shows spec and status of other types as YAML", async () => {
    const r = await cli(["describe", "resourcetype", "pipelineruns.ci.setpoint.dev"]);
    ok(r);
    assert.match(r.stdout, /^Kind:\s+ResourceType \(resourcetypes\.setpoint\.dev\)$/m);
    assert.match(r.stdout, /^Spec:\n {2}group: ci\.setpoint\.dev$/m);
  });

  it("describe of an object that is not there prints the error only: nothing on stdout, exit 1", async () => {
    const r = await cli(["describe", "resourcetype", "nothing-here.example.com"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^Error from server \(NotFound\): .*"nothing-here\.example\.com" not found\n$/);
  });

  it("logs prints every attempt's recorded output under a header, in graph order; with TASK that task's; --attempt N one attempt as is", async () => {
    const [all, one, first, gone, missing, noTask] = await Promise.all([
      cli(["logs", "shown", "-n", "show"]),
      cli(["logs", "shown", "b", "-n", "show"]),
      cli(["logs", "shown", "b", "--attempt", "1", "-n", "show"]),
      cli(["logs", "shown", "b", "--attempt", "3", "-n", "show"]),
      cli(["logs", "shown", "zz", "-n", "show"]),
      cli(["logs", "shown", "--attempt", "1", "-n", "show"]),
    ]);
    ok(all);
    assert.equal(
      all.stdout,
      "==> a attempt 1 (Lost) <==\na started\n\n==> a attempt 2 (Succeeded, exit 0) <==\na says hi\n\n" +
        "==> b attempt 1 (Failed, exit 3) <==\nattempt one\n\n==> b attempt 2 (Failed, exit 3) <==\nfirst line\nsecond line\n",
    );
    ok(one);
    assert.equal(one.stdout, "==> b attempt 1 (Failed, exit 3) <==\nattempt one\n\n==> b attempt 2 (Failed, exit 3) <==\nfirst line\nsecond line\n");
    ok(first);
    assert.equal(first.stdout, "attempt one\n");
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /task b of shown has no recorded attempt 3; recorded: 1, 2/);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no task "zz"; its tasks: a, b, c/);
    assert.equal(noTask.code, 2);
    assert.match(noTask.stderr, /--attempt needs a TASK/);
  });
});

describe("setpoint delete", () => {
  before(async () => {
    ok(await cli(["apply", "-f", "-", "-n", "del"], { input: ["d1", "d2", "d3"].map((n) => runYaml(n, undefined, TWO_TASKS)).join("---\n") }));
  });

  it("deletes by type and names, says so, and the objects are gone", async () => {
    const r = await cli(["delete", "pipelinerun", "d1", "d2", "-n", "del"]);
    ok(r);
    assert.deepEqual(lines(r.stdout), ['pipelinerun.ci.setpoint.dev "d1" deleted', 'pipelinerun.ci.setpoint.dev "d2" deleted']);
    assert.equal((await c.get(`${runs("del")}/d1`)).status, 404);
    assert.equal((await c.get(`${runs("del")}/d2`)).status, 404);
  });

  it("says an object with finalizers is only marked for deletion, and how to wait until it is gone (that command works)", async () => {
    await c.patch(`${runs("del")}/d3`, { metadata: { finalizers: ["ci.setpoint.dev/cleanup"] } });
    const r = await cli(["delete", "pipelinerun", "d3", "-n", "del"]);
    ok(r);
    assert.equal(
      r.stdout,
      'pipelinerun.ci.setpoint.dev "d3" marked for deletion (waiting for finalizers: ci.setpoint.dev/cleanup; setpoint wait pipelinerun/d3 -n del --for=delete waits until it is gone)\n',
    );
    assert.ok((await c.get(`${runs("del")}/d3`)).body.metadata.deletionTimestamp);
    const waiting = cli(["wait", "pipelinerun/d3", "-n", "del", "--for=delete", "--timeout=30s"]);
    await c.patch(`${runs("del")}/d3`, { metadata: { finalizers: null } });
    ok(await waiting);
  });

  it("deletes what a file describes; a missing object fails unless --ignore-not-found", async () => {
    const path = file("del.yaml", runYaml("fd", "del", TWO_TASKS));
    ok(await cli(["apply", "-f", path]));
    const r = await cli(["delete", "-f", path]);
    ok(r);
    assert.equal(r.stdout, 'pipelinerun.ci.setpoint.dev "fd" deleted\n');
    const [again, ignored] = await Promise.all([cli(["delete", "-f", path]), cli(["delete", "-f", path, "--ignore-not-found"])]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error from server \(NotFound\)/);
    ok(ignored);
  });

  it("deletes every object of a type with --all, or those -l picks (-A: in every namespace); none is not an error", async () => {
    const input = (ns: string) => [runYaml("l1", ns, TWO_TASKS, "batch: x"), runYaml("l2", ns, TWO_TASKS, "batch: y")].join("---\n");
    ok(await cli(["apply", "-f", "-"], { input: input("bulk1") }));
    ok(await cli(["apply", "-f", "-"], { input: input("bulk2") }));
    const picked = await cli(["delete", "pipelineruns", "-l", "batch=x", "-A"]);
    ok(picked);
    assert.deepEqual(lines(picked.stdout), ['pipelinerun.ci.setpoint.dev "l1" deleted', 'pipelinerun.ci.setpoint.dev "l1" deleted']);
    const all = await cli(["delete", "pipelineruns", "--all", "-n", "bulk1"]);
    ok(all);
    assert.deepEqual(lines(all.stdout), ['pipelinerun.ci.setpoint.dev "l2" deleted']);
    assert.equal((await c.get(runs("bulk1"))).body.items.length, 0);
    assert.deepEqual(
      (await c.get(runs("bulk2"))).body.items.map((o: { metadata: { name: string } }) => o.metadata.name),
      ["l2"],
    );
    const none = await cli(["delete", "pipelineruns", "--all", "-n", "bulk1"]);
    ok(none);
    assert.equal(none.stderr, "No resources found in bulk1 namespace.\n");
    for (const args of [
      ["delete", "--all"],
      ["delete", "pipelineruns", "l2", "--all"],
      ["delete", "pipelineruns", "l2", "-A"],
    ]) {
      assert.equal((await cli(args)).code, 2, args.join(" "));
    }
  });
});

describe("setpoint watch", () => {
  it("prints the current objects, then a line per change, and exits 0 on SIGINT", async () => {
    ok(await cli(["apply", "-f", "-", "-n", "watch"], { input: runYaml("w1", undefined, TWO_TASKS) }));
    const child = spawnSetpoint(["watch", "pipelineruns", "-n", "watch", "--server", t.url]);
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const out = new LineReader(child.stdout!);
    try {
      assert.match(await out.waitFor(/^EVENT/), /^EVENT\s+NAME\s+PHASE\s+TASKS\s+AGE$/);
      await out.waitFor(/^ADDED\s+w1\s+Pending\s+0\/2/);

      await patchStatus("watch", "w1", { phase: "Running", tasks: { a: { phase: "Succeeded", attempt: 1, exitCode: 0 } } });
      await out.waitFor(/^MODIFIED\s+w1\s+Running\s+1\/2\s/);
      ok(await cli(["apply", "-f", "-", "-n", "watch"], { input: runYaml("w2", undefined, TWO_TASKS) }));
      await out.waitFor(/^ADDED\s+w2\s+Pending/);
      ok(await cli(["delete", "pipelinerun", "w1", "-n", "watch"]));
      await out.waitFor(/^DELETED\s+w1\s/);
    } finally {
      child.kill("SIGINT");
    }
    const end = await exited(child);
    assert.equal(end.code, 0, `watch exited ${end.code} ${end.signal}; stderr:\n${stderr}`);
  });

  it("prints one JSON event per line with -o json", async () => {
    const child = spawnSetpoint(["watch", "pipelinerun", "w2", "-n", "watch", "-o", "json", "--server", t.url]);
    const out = new LineReader(child.stdout!);
    try {
      const first = JSON.parse(await out.waitFor(/^\{/));
      assert.equal(first.type, "ADDED");
      assert.equal(first.object.metadata.name, "w2");
      const from = out.lines.length;
      await patchStatus("watch", "w2", { phase: "Succeeded" });
      const next = JSON.parse(await out.waitFor(/"MODIFIED"/, { from }));
      assert.equal(next.object.status.phase, "Succeeded");
    } finally {
      child.kill("SIGINT");
    }
    assert.equal((await exited(child)).code, 0);
  });
});

describe("setpoint usage and auth", () => {
  it("exits 2 for bad usage and 0 for --help, everywhere", async () => {
    const [noType, badOutput, unknown, help, getHelp, serverHelp, nothing] = await Promise.all([
      cli(["get"]),
      cli(["get", "pipelineruns", "-o", "xml"]),
      runSetpoint(["frobnicate"]),
      runSetpoint(["--help"]),
      runSetpointInProcess(["get", "--help"]),
      runSetpointInProcess(["server", "--help"]),
      runSetpointInProcess(["delete"]),
    ]);
    assert.equal(noType.code, 2);
    assert.match(noType.stderr, /missing required argument 'type'/);
    assert.equal(badOutput.code, 2);
    assert.equal(unknown.code, 2);
    assert.equal(nothing.code, 2);
    for (const r of [help, getHelp, serverHelp]) ok(r);
    for (const cmd of ["server", "up", "agent", "apply", "get", "describe", "delete", "watch", "logs"]) {
      assert.match(help.stdout, new RegExp(`^  ${cmd} `, "m"), `${cmd} in help`);
    }
    assert.match(getHelp.stdout, /-o, --output <format>/);
    assert.match(serverHelp.stdout, /--history-window <duration>/);
    assert.match(serverHelp.stdout, /Usage: setpoint server/);
  });

  it("help COMMAND prints that command's help; an unknown one is named, with a suggestion, exit 2", async () => {
    const [get, nested, misspelt, unknown, nestedUnknown] = await Promise.all([
      runSetpointInProcess(["help", "get"]),
      runSetpointInProcess(["help", "agent", "pipelines"]),
      runSetpointInProcess(["help", "gte"]),
      runSetpointInProcess(["help", "frobnicate"]),
      runSetpointInProcess(["help", "agent", "pipeline"]),
    ]);
    ok(get);
    assert.match(get.stdout, /^Usage: setpoint get /);
    ok(nested);
    assert.match(nested.stdout, /^Usage: setpoint agent pipelines /);
    for (const r of [misspelt, unknown, nestedUnknown]) {
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "", "no whole-program help in place of an error");
    }
    assert.equal(misspelt.stderr, "error: unknown command 'gte' (Did you mean get?)\n(add --help for usage)\n");
    assert.match(
      unknown.stderr,
      /^error: unknown command 'frobnicate' \(the commands: server, up, agent, apply, get, describe, delete, watch, wait, logs, version\)\n/,
    );
    assert.match(nestedUnknown.stderr, /^error: unknown command 'agent pipeline' \(Did you mean pipelines\?\)\n/);
  });

  it("kubectl's create, edit, patch and a cancel say what does the job here; other unknown commands keep commander's suggestion (exit 2)", async () => {
    const [create, cancel, patch, misspelt] = await Promise.all([
      runSetpointInProcess(["create", "-f", "run.yaml"]),
      runSetpointInProcess(["-s", "http://127.0.0.1:1", "cancel", "pipelinerun", "diamond"]),
      runSetpointInProcess(["patch", "pr", "x"]),
      runSetpointInProcess(["gte", "pr"]),
    ]);
    for (const r of [create, cancel, patch, misspelt]) {
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
    }
    assert.equal(
      create.stderr,
      "error: unknown command 'create': setpoint apply -f FILE creates the objects (and updates them once they exist); a run with metadata.generateName gets a new name each time\n(add --help for usage)\n",
    );
    assert.match(
      cancel.stderr,
      /^error: unknown command 'cancel': a PipelineRun stops when spec\.cancel is true: add cancel: true to its spec and setpoint apply -f the file\n/,
    );
    assert.match(patch.stderr, /^error: unknown command 'patch': change the file and setpoint apply -f it\n/);
    assert.equal(misspelt.stderr, "error: unknown command 'gte'\n(Did you mean get?)\n(add --help for usage)\n");
  });

  it("version prints the client's and the server's versions as kubectl version; --client asks no server; an unreachable one is exit 1", async () => {
    const [both, client, json, unreachable] = await Promise.all([
      cli(["version"]),
      runSetpointInProcess(["version", "--client", "--server", `http://127.0.0.1:${await closedPort()}`]),
      cli(["version", "-o", "json"]),
      runSetpointInProcess(["version", "--server", `http://127.0.0.1:${await closedPort()}`, "--request-timeout", "5s"]),
    ]);
    const server = (await c.get("/version")).body as { setpointVersion: string; gitVersion: string; major: string; minor: string };
    const own = "0.0.0-test"; // the in-process CLI's version (test/helpers/cli.ts)
    ok(both);
    assert.equal(both.stdout, `Client Version: ${own}\nServer Version: ${server.setpointVersion} (Kubernetes API v${server.major}.${server.minor})\n`);
    ok(client);
    assert.equal(client.stdout, `Client Version: ${own}\n`);
    ok(json);
    assert.deepEqual(JSON.parse(json.stdout), { clientVersion: { setpointVersion: own }, serverVersion: server });
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stdout, `Client Version: ${own}\n`);
    assert.notEqual(unreachable.stderr, "");
  });

  it("sends the token from --token or SETPOINT_TOKEN; without it, or with a wrong one, the server's 401 is printed with where a token goes", async () => {
    const secured = await startTestServer({ token: "s3cret" });
    try {
      const [none, flag, env, wrong] = await Promise.all([
        runSetpointInProcess(["get", "resourcetypes", "--server", secured.url]),
        runSetpointInProcess(["get", "resourcetypes", "--server", secured.url, "--token", "s3cret"]),
        runSetpointInProcess(["get", "resourcetypes", "--server", secured.url], { env: { SETPOINT_TOKEN: "s3cret" } }),
        runSetpointInProcess(["get", "resourcetypes", "--server", secured.url, "--token", "wrong"]),
      ]);
      for (const r of [none, wrong]) {
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /^Error from server \(Unauthorized\): .*\n {2}the server wants a valid bearer token: --token, SETPOINT_TOKEN, or a kubeconfig user's token\n$/,
        );
      }
      ok(flag);
      ok(env);
      assert.match(env.stderr, /No resources found/);
    } finally {
      await secured.stop();
    }
  });
});

describe("setpoint server", () => {
  it("runs the same server as setpoint-server: listens, serves, stops on SIGTERM with exit 0", async () => {
    const data = join(dir, "server-data");
    const child = spawnSetpoint(["server", "--data-dir", data, "--http-port", "0", "--grpc-port", "-1", "--no-fsync"]);
    const out = new LineReader(child.stdout!);
    try {
      const record = JSON.parse(await out.waitFor(/setpoint-server listening/)) as { url: string; dataDir: string; durable: boolean };
      assert.equal(record.dataDir, data);
      assert.equal(record.durable, false);
      const res = await fetch(`${record.url}/healthz`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal((await exited(child)).code, 0);
  });

  it("rejects a bad server flag with exit 2, naming it", async () => {
    const r = await runSetpoint(["server", "--http-port", "nope"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--http-port/);
  });
});
