// `setpoint wait` (src/cli/commands/wait.ts) against a real server in this
// process, no agent: the test writes the runs' status as the runner would
// (condition Succeeded Unknown, then True or False), and checks the exit code
// a CI script gets: 0 once met, 1 at once when the run failed, 1 on timeout,
// 1 for a run that is not there, 2 for bad usage.

import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { checkCondition, parseWaitCondition } from "../../src/cli/commands/wait.ts";
import { exited, runSetpointInProcess, spawnSetpoint, type CliOptions, type CliResult } from "../helpers/cli.ts";
import { freePort } from "../helpers/ports.ts";
import { createRun as createRunIn, runsPath, startRunsServer, until } from "../helpers/pipeline-runs.ts";
import type { ApiClient, TestServer } from "../helpers/server.ts";

let t: TestServer;
let c: ApiClient;
/** The server's own watchers (none of a CLI's). */
let idle: number;
const NS = "waiting";
const runs = runsPath(NS);
const cli = (args: string[], options?: CliOptions) => runSetpointInProcess([...args, "-n", NS, "--server", t.url], options);

const createRun = (name: string, labels: Record<string, string> = {}) => createRunIn(c, NS, name, labels);

async function finish(name: string, status: "True" | "False" | "Unknown", phase: string, message = ""): Promise<void> {
  const reason = status === "True" ? "Succeeded" : status === "False" ? "Failed" : "Running";
  const res = await c.patch(`${runs}/${name}/status`, {
    status: { phase, progress: "0/1", conditions: [{ type: "Succeeded", status, reason, message, lastTransitionTime: new Date().toISOString() }] },
  });
  assert.equal(res.status, 200, res.text);
}

/** Resolves once the server's watcher count satisfies `ok`, within 30 s. */
async function watchers(ok: (n: number) => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ok(t.server.hub.stats().watchers)) {
    if (Date.now() > deadline) throw new Error(`watchers: ${t.server.hub.stats().watchers} after 30 s (idle ${idle})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Starts `setpoint wait ARGS` and resolves once its watch is open (past its first list), with its result to come. */
async function startWait(args: string[], options?: CliOptions): Promise<{ result: Promise<CliResult> }> {
  await watchers((n) => n === idle); // the previous test's watch has closed
  const result = cli(["wait", ...args], options);
  await Promise.race([watchers((n) => n > idle), result]);
  return { result };
}

function expectCode(r: CliResult, code: number): void {
  assert.equal(r.code, code, `exited ${r.code}, wanted ${code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

/** A real 127.0.0.1 socket that accepts connections and never answers; `open` are those the client has not closed. */
async function blackHole(): Promise<{ url: string; accepted: number; open: Set<Socket>; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const hole = { url: "", accepted: 0, open, close: () => Promise.resolve() };
  const server = createTcpServer((socket) => {
    hole.accepted++;
    open.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => open.delete(socket));
    socket.resume(); // read the request, answer nothing
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hole.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hole.close = async () => {
    for (const socket of open) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return hole;
}

before(async () => {
  ({ t, c } = await startRunsServer());
  idle = t.server.hub.stats().watchers;
});
after(async () => {
  await t.stop();
});

describe("setpoint wait", () => {
  it("exits 0 once the run's Succeeded condition turns True, printing TYPE/NAME condition met", async () => {
    await createRun("ok-run");
    await finish("ok-run", "Unknown", "Running");
    const { result: waiting } = await startWait(["pipelinerun/ok-run", "--for=condition=Succeeded", "--timeout=30s"]);
    await finish("ok-run", "True", "Succeeded");
    const r = await waiting;
    expectCode(r, 0);
    assert.equal(r.stdout, "pipelinerun.ci.setpoint.dev/ok-run condition met\n");
  });

  it("exits 1 as soon as Succeeded turns False (the run failed), with the condition's message, not at the timeout", async () => {
    await createRun("bad-run");
    const { result: waiting } = await startWait(["pipelinerun", "bad-run", "--for", "condition=Succeeded", "--timeout", "10m"], { timeoutMs: 30_000 });
    await finish("bad-run", "False", "Failed", "task a failed: exit code 3");
    const r = await waiting;
    expectCode(r, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /pipelinerun\.ci\.setpoint\.dev\/bad-run: its condition Succeeded is False \(Failed: task a failed: exit code 3\); its output: setpoint logs bad-run/,
    );
  });

  it("exits 1 on timeout, in kubectl's words; --timeout 0 checks once", async () => {
    await createRun("slow-run");
    await finish("slow-run", "Unknown", "Running");
    // Long enough for the first list on a loaded machine: the message tells the state it brought.
    const r = await cli(["wait", "pipelinerun/slow-run", "--for=condition=Succeeded", "--timeout=2s"]);
    expectCode(r, 1);
    assert.equal(r.stderr, "error: timed out waiting for the condition on pipelineruns/slow-run\n");
    expectCode(await cli(["wait", "pipelinerun/slow-run", "--for=condition=Succeeded=Unknown", "--timeout=0"]), 0);
    expectCode(await cli(["wait", "pipelinerun/slow-run", "--for=condition=Succeeded", "--timeout=0"]), 1);
  });

  it("exits 1 on timeout when the server has not even answered the list (it exited 0: nothing was pending)", async () => {
    await createRun("unanswered");
    // Discovery passes through to the server; the runs' list is held, never answered: only the
    // --timeout can end it (--request-timeout 10m), and the CLI closes it then (it used to leave it open).
    // 5 s leaves discovery, answered through the proxy, time to finish first even on a loaded
    // machine (the deadline starts before discovery).
    const held: ServerResponse[] = [];
    let closed = 0;
    const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith(runs)) {
        held.push(res);
        res.on("close", () => closed++);
        return;
      }
      const upstream = request(`${t.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      for (const args of [["pipelinerun/unanswered"], ["pipelineruns", "--all"]]) {
        const r = await runSetpointInProcess(
          ["wait", ...args, "--for=condition=Succeeded", "--timeout=5s", "--request-timeout=10m", "-n", NS, "--server", url],
          {
            timeoutMs: 30_000,
          },
        );
        expectCode(r, 1);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^error: timed out after 5 s waiting for condition=Succeeded=True on .*: the server has not answered the list$/m);
      }
      assert.ok(held.length >= 2, "the lists were held");
      await until(() => closed === held.length, `the CLI closes the held lists (${closed} of ${held.length})`);
    } finally {
      for (const res of held) res.destroy();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("--timeout cancels the request in flight when the server accepts and never answers (it was left running until --request-timeout)", async () => {
    const hole = await blackHole();
    try {
      // --request-timeout 10m: only the --timeout can end these requests before the test's deadline.
      const args = ["wait", "pipelinerun/silent", "--for=condition=Succeeded", "--timeout=1s", "--request-timeout=10m", "-n", NS, "--server", hole.url];
      const r = await runSetpointInProcess(args, { timeoutMs: 30_000 });
      expectCode(r, 1);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        /^error: timed out after 1 s waiting for condition=Succeeded=True on pipelinerun\/silent: the server has not answered discovery$/m,
      );
      assert.ok(hole.accepted > 0, "the request reached the server");
      await until(() => hole.open.size === 0, `the client closes its ${hole.open.size} connection(s) to the silent server`);

      // As a real process: nothing left running keeps it alive past its exit code.
      const child = spawnSetpoint(args);
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (text: string) => (stderr += text));
      const end = await exited(child, 60_000);
      assert.equal(end.code, 1, `exited ${end.code} ${end.signal}; stderr:\n${stderr}`);
      assert.match(stderr, /the server has not answered discovery/);
    } finally {
      await hole.close();
    }
  });

  it("waits for a jsonpath value, and for every run -l or --all picks", async () => {
    await createRun("j1", { batch: "b" });
    await createRun("j2", { batch: "b" });
    await finish("j1", "True", "Succeeded");
    const { result: waiting } = await startWait(["pipelineruns", "-l", "batch=b", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=30s"]);
    await finish("j2", "True", "Succeeded");
    const r = await waiting;
    expectCode(r, 0);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), ["pipelinerun.ci.setpoint.dev/j1 condition met", "pipelinerun.ci.setpoint.dev/j2 condition met"]);
    const all = await cli(["wait", "pipelineruns", "--all", "--for=jsonpath={.metadata.namespace}=waiting", "--timeout=0"]);
    expectCode(all, 0);
    assert.ok(all.stdout.split("\n").length > 4, all.stdout);
  });

  it("--for=jsonpath as kubectl: a filter, a quoted value, no value (the path finds something); several values or a map are errors", async () => {
    await createRun("jf");
    const { result: exists } = await startWait(["pipelinerun/jf", "--for=jsonpath={.status.conditions}", "--timeout=30s"]);
    await finish("jf", "Unknown", "Running");
    expectCode(await exists, 0);
    const { result: filtered } = await startWait([
      "pipelinerun/jf",
      '--for=jsonpath={.status.conditions[?(@.type=="Succeeded")].status}="True"',
      "--timeout=30s",
    ]);
    await finish("jf", "True", "Succeeded");
    const r = await filtered;
    expectCode(r, 0);
    assert.equal(r.stdout, "pipelinerun.ci.setpoint.dev/jf condition met\n");
    for (const [path, message] of [
      ["{.status.*}=x", /given jsonpath expression matches more than one value/],
      ["{.status.conditions[0]}=x", /jsonpath leads to a nested object or list which is not supported/],
    ] as const) {
      const bad = await cli(["wait", "pipelinerun/jf", `--for=jsonpath=${path}`, "--timeout=10s"]);
      expectCode(bad, 1);
      assert.match(bad.stderr, message, path);
    }
  });

  it("--for=delete exits 0 once the run is gone, and at once (silently, as kubectl) for one that is not there", async () => {
    await createRun("doomed");
    const { result: waiting } = await startWait(["pipelinerun/doomed", "pipelinerun/never-was", "--for=delete", "--timeout=30s"]);
    assert.equal((await c.del(`${runs}/doomed`)).status, 200);
    const r = await waiting;
    expectCode(r, 0);
    assert.equal(r.stdout, "pipelinerun.ci.setpoint.dev/doomed condition met\n");
    assert.equal(r.stderr, "");
  });

  it("exits 1 with the server's NotFound for a run that is not there", async () => {
    const r = await cli(["wait", "pipelinerun/nope", "--for=condition=Succeeded", "--timeout=30s"]);
    expectCode(r, 1);
    assert.equal(r.stderr, 'Error from server (NotFound): pipelineruns.ci.setpoint.dev "nope" not found\n');
    const none = await cli(["wait", "pipelineruns", "-l", "batch=none", "--for=condition=Succeeded"]);
    expectCode(none, 1);
    assert.equal(none.stderr, "error: no matching resources found\n"); // kubectl's words: no namespace
  });

  it("follows on the next replica when the first one cannot be reached", async () => {
    const port = await freePort(); // nothing listens there
    await createRun("replicated");
    await finish("replicated", "True", "Succeeded");
    const r = await runSetpointInProcess([
      "wait",
      "pipelinerun/replicated",
      "--for=condition=Succeeded",
      "-n",
      NS,
      "--server",
      `http://127.0.0.1:${port},${t.url}`,
    ]);
    expectCode(r, 0);
  });

  it("says what it was waiting for when the server cannot be reached", async () => {
    const port = await freePort();
    const down = `http://127.0.0.1:${port}`;
    const one = await runSetpointInProcess(["wait", "pr/a", "pr/b", "--for=condition=Succeeded", "-n", NS, "--server", down]);
    expectCode(one, 1);
    assert.match(
      one.stderr,
      /^error: waiting for condition=Succeeded=True on pr\/a, pr\/b: cannot reach the Setpoint server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
    const all = await runSetpointInProcess(["wait", "pr", "-l", "app=x", "-A", "--for=delete", "--server", down]);
    expectCode(all, 1);
    assert.match(all.stderr, /^error: waiting for delete on every pr -l app=x in every namespace: cannot reach/);
    const some = await runSetpointInProcess(["wait", "pr", "--all", "--for=create", "-n", NS, "--server", down]);
    assert.match(some.stderr, /^error: waiting for create on every pr in namespace waiting: cannot reach/);
  });

  it("exits 2 with one line and the usage hint for bad usage, 1 for a bad --for (as kubectl)", async () => {
    for (const args of [
      ["wait", "pipelinerun/x"],
      ["wait", "pipelinerun/x", "--for=delete", "--timeout=soon"],
      ["wait", "pipelinerun", "--for=delete"],
      ["wait", "pipelinerun/x", "other/y", "--for=delete"],
      ["wait", "pipelinerun", "x", "--all", "--for=delete"],
      ["wait", "pipelinerun/x", "-A", "--for=delete"],
    ]) {
      const r = await cli(args);
      expectCode(r, 2);
      assert.equal(r.stdout, "", args.join(" "));
      assert.match(r.stderr, /^error: /, args.join(" "));
    }
    // A --for kubectl refuses is exit 1, as kubectl (test/cli/kubectl-wait.test.ts compares the words), before any request.
    for (const bad of ["ready", "jsonpath={.a}{.b}", "jsonpath={.status.phase}=", "jsonpath={.status.phase}=a=b", "jsonpath={.a[?(@.x}"]) {
      const r = await runSetpointInProcess(["wait", "pipelinerun/x", `--for=${bad}`, "--server", "http://127.0.0.1:1"]);
      expectCode(r, 1);
      assert.equal(r.stdout, "", bad);
      assert.match(r.stderr, /^error: [^\n]+\n$/, bad);
    }
    const help = await cli(["wait", "--help"]);
    expectCode(help, 0);
    assert.match(help.stdout, /setpoint wait pipelinerun\/diamond --for=condition=Succeeded/);
  });
});

describe("--for=jsonpath, read as kubectl 1.32 reads it", () => {
  const run = {
    metadata: { name: "r", labels: { "app.kubernetes.io/name": "ci" } },
    status: {
      phase: "Succeeded",
      ready: 3,
      ratio: 0.5,
      tiny: 0.00001,
      large: 1234567.5,
      negative: -1234567.5,
      below: 999999.5,
      count: 1000000,
      huge: 1e20,
      empty: "",
      none: null,
      conditions: [
        { type: "Ready", status: "True" },
        { type: "Succeeded", status: "False" },
      ],
    },
  };
  const state = (forText: string) => checkCondition(run as never, parseWaitCondition(forText)).state;
  it("compares the one value found with the value given, as Go prints it, spaces and quotes around the value dropped", () => {
    for (const text of [
      "jsonpath={.status.phase}=Succeeded",
      "jsonpath=.status.phase=Succeeded",
      "jsonpath={status.phase}=Succeeded",
      "jsonpath=status.phase=Succeeded",
      "jsonpath={.status.phase}='Succeeded'",
      'jsonpath={.status.phase}="Succeeded"',
      "jsonpath={.status.ready}=3",
      "jsonpath={.status.ratio}=0.5",
      "jsonpath={.status.tiny}=1e-05",
      // kubectl 1.32 prints these so (kubectl label --local -o jsonpath): floats with an exponent from 1e6, int64s as digits.
      "jsonpath={.status.large}=1.2345675e+06",
      "jsonpath={.status.negative}=-1.2345675e+06",
      "jsonpath={.status.below}=999999.5",
      "jsonpath={.status.count}=1000000",
      "jsonpath={.status.huge}=1e+20",
      "jsonpath={.status.none}=<nil>",
      "jsonpath={.metadata.labels['app\\.kubernetes\\.io/name']}=ci",
      "jsonpath={.metadata.labels.app\\.kubernetes\\.io/name}=ci",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}=True',
      "jsonpath={.status.conditions[-1].type}=Succeeded",
    ]) {
      assert.equal(state(text), "met", text);
    }
    assert.equal(state("jsonpath={.status.phase}=Running"), "waiting");
    // As client-go, ['a.b'] is read as .a.b: the dotted key is not found (kubectl waits too).
    assert.equal(state("jsonpath={.metadata.labels['app.kubernetes.io/name']}=ci"), "waiting");
    assert.equal(state("jsonpath={.status.large}=1234567.5"), "waiting");
    assert.equal(state('jsonpath={.status.conditions[?(@.type=="Other")].status}=True'), "waiting");
    // kubectl splits --for at every single '=': a filter's != cannot be written there.
    assert.throws(() => parseWaitCondition("jsonpath={.status.conditions[?(@.type!='Ready')].status}=False"), /jsonpath wait format must be/);
  });
  it("without a value: met once the path finds something, even an empty string or null; a missing key is not yet", () => {
    assert.equal(state("jsonpath={.status.empty}"), "met");
    assert.equal(state("jsonpath={.status.none}"), "met");
    assert.equal(state("jsonpath={.status.conditions}"), "met");
    assert.equal(state("jsonpath={.status.missing}"), "waiting");
    assert.equal(state("jsonpath={.spec.anything}"), "waiting");
  });
  it("several values, or a map or list to compare, are errors", () => {
    assert.equal(state("jsonpath={.status.conditions[*].type}=Ready"), "failed");
    assert.equal(state("jsonpath={.status.conditions}=x"), "failed");
    assert.equal(state("jsonpath={.status.conditions[5]}"), "failed");
  });
});

describe("--for=condition, read as kubectl 1.32 reads it", () => {
  const state = (o: object, forText: string) => checkCondition(o as never, parseWaitCondition(forText)).state;
  it("splits at the first =: condition=A=B=C is type A, status B=C; an empty status is one to wait for", () => {
    const o = {
      metadata: { name: "r" },
      status: {
        conditions: [
          { type: "A", status: "B=C" },
          { type: "Empty", status: "" },
        ],
      },
    };
    assert.equal(state(o, "condition=A=B=C"), "met");
    assert.equal(state(o, "condition=a=b=c"), "met");
    assert.equal(state(o, "condition=A"), "waiting");
    assert.equal(state(o, "condition=Empty="), "met");
    assert.equal(state(o, "condition="), "waiting");
  });

  it("a condition of an older spec is not yet, even a Succeeded False (a rerun may succeed)", () => {
    const failed = { type: "Succeeded", status: "False", reason: "Failed" };
    const old = { metadata: { name: "r", generation: 2 }, status: { observedGeneration: 1, conditions: [failed] } };
    assert.equal(state(old, "condition=Succeeded=False"), "waiting");
    assert.equal(state(old, "condition=Succeeded"), "waiting");
    const own = { metadata: { name: "r", generation: 2 }, status: { observedGeneration: 1, conditions: [{ ...failed, observedGeneration: 2 }] } };
    assert.equal(state(own, "condition=Succeeded=False"), "met");
    assert.equal(state(own, "condition=Succeeded"), "failed");
    const current = { metadata: { name: "r", generation: 2 }, status: { observedGeneration: 2, conditions: [failed] } };
    assert.equal(state(current, "condition=Succeeded"), "failed");
  });
});
