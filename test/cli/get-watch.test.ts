// `setpoint get TYPE [NAME] -w` (src/cli/commands/get.ts, src/cli/watch-output.ts)
// as a kubectl user expects it, run as a real process against a real server in
// this process: the current list, then a line per change in get's own columns
// (no EVENT column unless --output-watch-events), --watch-only, -o json/name/jsonpath
// documents per change, a connection cut and restored (the change made
// meanwhile still arrives), and exit 0 on SIGINT.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { exited, LineReader, runSetpointInProcess, spawnSetpoint } from "../helpers/cli.ts";
import { startCuttingProxy } from "../helpers/cutting-proxy.ts";
import { createRun as createRunIn, runsPath, startRunsServer } from "../helpers/pipeline-runs.ts";
import type { ApiClient, TestServer } from "../helpers/server.ts";

let t: TestServer;
let c: ApiClient;
/** The server's own watchers (none of a CLI's). */
let idle: number;
const NS = "getw";
const runs = runsPath(NS);

const createRun = (name: string) => createRunIn(c, NS, name);

async function setPhase(name: string, phase: string): Promise<void> {
  const res = await c.patch(`${runs}/${name}/status`, { status: { phase } });
  assert.equal(res.status, 200, res.text);
}

/** `setpoint get ARGS` as a process, with its stdout and stderr lines. */
function spawnGet(args: string[], server = t.url): { child: ChildProcess; out: LineReader; err: LineReader } {
  const child = spawnSetpoint(["get", ...args, "-n", NS, "--server", server]);
  return { child, out: new LineReader(child.stdout!), err: new LineReader(child.stderr!) };
}

/** Interrupts the process as Ctrl-C does and expects exit 0. */
async function interrupt(p: { child: ChildProcess; err: LineReader }): Promise<void> {
  p.child.kill("SIGINT");
  const end = await exited(p.child, 60_000);
  assert.equal(end.code, 0, `exited ${end.code} ${end.signal}; stderr:\n${p.err.lines.join("\n")}`);
}

/** The JSON document (kubectl's indented form) that starts at the first line `{` from `from`, once its closing `}` arrived. */
async function document(out: LineReader, from: number): Promise<{ value: any; next: number }> {
  await out.waitFor(/^\}$/, { from });
  const start = out.lines.indexOf("{", from);
  const end = out.lines.indexOf("}", start);
  return { value: JSON.parse(out.lines.slice(start, end + 1).join("\n")), next: end + 1 };
}

before(async () => {
  ({ t, c } = await startRunsServer());
  await createRun("g1");
  idle = t.server.hub.stats().watchers;
});
after(async () => {
  await t.stop();
});

describe("setpoint get -w", () => {
  it("prints the list in get's columns, then a row per change, and exits 0 on SIGINT", async () => {
    const p = spawnGet(["pipelineruns", "-w"]);
    try {
      assert.match(await p.out.waitFor(/^NAME/), /^NAME\s+PHASE\s+TASKS\s+AGE$/);
      await p.out.waitFor(/^g1\s+Pending\s+0\/1\s/);
      await setPhase("g1", "Running");
      await p.out.waitFor(/^g1\s+Running\s+0\/1\s/);
      await createRun("g2");
      await p.out.waitFor(/^g2\s+Pending\s/);
      assert.equal(p.out.lines.filter((l) => l.startsWith("NAME")).length, 1, p.out.lines.join("\n"));
    } finally {
      await interrupt(p);
    }
  });

  it("keeps every row under the first header when a later one widens a column, as kubectl get -w", async () => {
    await waitUntil(() => t.server.hub.stats().watchers === idle, "the previous test's watches close");
    const p = spawnGet(["pipelineruns", "-w"]);
    try {
      await p.out.waitFor(/^g2\s/);
      const long = "a-run-with-a-much-longer-name";
      await createRun(long);
      const wide = await p.out.waitFor(new RegExp(`^${long}\\s`));
      const from = p.out.lines.length;
      await setPhase("g1", "Succeeded");
      const after = await p.out.waitFor(/^g1\s+Succeeded\s/, { from });
      // kubectl (cli-runtime's tabwriter, RememberWidths): the column stays as wide as its widest cell
      // so far, and the header is not printed again (setpoint printed it again, widened).
      assert.equal(p.out.lines.filter((l) => l.startsWith("NAME")).length, 1, p.out.lines.join("\n"));
      assert.equal(after.indexOf("Succeeded"), long.length + 3, `${wide}\n${after}`);
      assert.equal(wide.indexOf("Pending"), long.length + 3, wide);
      assert.match(p.out.lines[0]!, /^NAME {3}PHASE/, "the header as first printed, for g1 and g2");
    } finally {
      await interrupt(p);
    }
    const gone = await c.del(`${runs}/a-run-with-a-much-longer-name`);
    assert.equal(gone.status, 200, gone.text);
  });

  it("--watch-only skips the current objects; --output-watch-events adds the EVENT column", async () => {
    await waitUntil(() => t.server.hub.stats().watchers === idle, "the previous test's watches close");
    const p = spawnGet(["pipelineruns", "--watch-only", "--output-watch-events"]);
    try {
      // The follow is open once the server counts its watcher; only then is a change sure to be a change.
      await waitUntil(() => t.server.hub.stats().watchers > idle, "the watch opens");
      await setPhase("g2", "Succeeded");
      await p.out.waitFor(/^MODIFIED\s+g2\s+Succeeded\s/);
      assert.match(p.out.lines[0]!, /^EVENT\s+NAME\s+PHASE\s+TASKS\s+AGE$/);
      assert.deepEqual(
        p.out.lines.filter((l) => /\bg1\b/.test(l)),
        [],
        "g1 did not change: not printed",
      );
    } finally {
      await interrupt(p);
    }
  });

  it("-o json prints the object as a document at each change; -o name a TYPE/NAME line; -o jsonpath its template's text", async () => {
    const json = spawnGet(["pipelinerun", "g1", "-w", "-o", "json"]);
    const name = spawnGet(["pipelineruns", "-w", "-o", "name"]);
    const path = spawnGet(["pipelineruns", "-w", "-o", "jsonpath={.metadata.name}={.status.phase}"]);
    try {
      const first = await document(json.out, 0);
      assert.equal(first.value.kind, "PipelineRun");
      assert.equal(first.value.metadata.name, "g1");
      await name.out.waitFor(/^pipelinerun\.ci\.setpoint\.dev\/g2$/);
      await path.out.waitFor(/^g2=/);
      const [from, fromPath] = [name.out.lines.length, path.out.lines.length];
      await setPhase("g1", "Failed");
      const next = await document(json.out, first.next);
      assert.equal(next.value.status.phase, "Failed");
      await name.out.waitFor(/^pipelinerun\.ci\.setpoint\.dev\/g1$/, { from });
      await path.out.waitFor(/^g1=Failed$/, { from: fromPath });
    } finally {
      await Promise.all([interrupt(json), interrupt(name), interrupt(path)]);
    }
  });

  it("survives a dropped connection: a change made while cut off arrives after it is restored", async () => {
    const proxy = await startCuttingProxy(Number(new URL(t.url).port));
    const p = spawnGet(["pipelinerun", "g2", "-w"], `http://127.0.0.1:${proxy.port}`);
    try {
      await p.out.waitFor(/^g2\s+Succeeded\s/);
      proxy.block();
      await p.err.waitFor(/^watch: disconnected/);
      await setPhase("g2", "Cancelled");
      proxy.unblock();
      await p.out.waitFor(/^g2\s+Cancelled\s/);
      await p.err.waitFor(/^watch: reconnected; resuming from revision \d+$/);
    } finally {
      await interrupt(p);
      await proxy.close();
    }
  });

  it("exits 1 with NotFound for a NAME that is not there, 2 for several names or events without -w", async () => {
    const cli = (args: string[]) => runSetpointInProcess(["get", ...args, "-n", NS, "--server", t.url], { timeoutMs: 30_000 });
    const missing = await cli(["pipelinerun", "nope", "-w"]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(missing.stderr, 'Error from server (NotFound): pipelineruns.ci.setpoint.dev "nope" not found\n');
    for (const args of [
      ["pipelineruns", "g1", "g2", "-w"],
      ["pipelineruns", "--output-watch-events"],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /);
    }
    const help = await runSetpointInProcess(["get", "--help"]);
    assert.match(help.stdout, /-w, --watch/);
    assert.match(help.stdout, /--watch-only/);
  });
});

async function waitUntil(ok: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
