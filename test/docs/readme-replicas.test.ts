// README's three replicas on a local 3-member etcd ("Replicas on etcd"), run as
// written: the block marked as run by this file, with only its ports (etcd's
// 20379-22380, the replicas' 8080-8082 and 9090-9092) rewritten to free ones
// and /tmp/setpoint-* to a scratch directory, so that it runs beside other
// tests. It must exit 0, the write through one replica must be listed by
// another, and its last line (`kill $(jobs -p)`) must stop every process it
// started: nothing of its process group may outlive it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { it } from "node:test";
import { freePorts } from "../helpers/ports.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const MARK = "test/docs/readme-replicas.test.ts runs this block";

/** The ```sh block after the marker naming this file. */
function recipe(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const at = readme.indexOf(MARK);
  assert.ok(at >= 0, `README.md has a block marked "${MARK}"`);
  const open = readme.indexOf("```sh\n", at);
  const close = readme.indexOf("\n```\n", open);
  assert.ok(open > at && close > open, "the marker is followed by a ```sh block");
  return readme.slice(open + "```sh\n".length, close + 1);
}

/** Whether any process of group `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

it("README: three replicas on a local 3-member etcd, as written, on free ports; kill $(jobs -p) stops them all", { timeout: 240_000 }, async () => {
  const body = recipe();
  const ports = await freePorts(12);
  const [client, peer, http, grpc] = [0, 3, 6, 9].map((i) => ports.slice(i, i + 3)) as [number[], number[], number[], number[]];
  // The block's port patterns, each checked present so that a changed README fails here instead of running on fixed ports.
  const rewrites: Array<[string, string]> = [
    [`2\${i}379`, `\${CLIENT[$i]}`],
    [`2\${i}380`, `\${PEER[$i]}`],
    ["808$i", `\${HTTP[$i]}`],
    ["909$i", `\${GRPC[$i]}`],
    ...[0, 1, 2].flatMap(
      (i): Array<[string, string]> => [
        [`127.0.0.1:2${i}379`, `127.0.0.1:${client[i]}`],
        [`127.0.0.1:2${i}380`, `127.0.0.1:${peer[i]}`],
        [`127.0.0.1:808${i}`, `127.0.0.1:${http[i]}`],
      ],
    ),
  ];
  let script = body;
  for (const [from, to] of rewrites) {
    assert.ok(script.includes(from), `the README block uses ${from}`);
    script = script.replaceAll(from, to);
  }
  const fixed = [`2\${i}`, "808$i", "909$i", ...[0, 1, 2].flatMap((i) => [`:2${i}379`, `:2${i}380`, `:808${i}`, `:909${i}`])];
  for (const f of fixed) assert.ok(!script.includes(f), `a fixed port left after the rewrite (${f}):\n${script}`);
  const dir = mkdtempSync(join(tmpdir(), "setpoint-readme-replicas-"));
  script = script.replaceAll("/tmp/setpoint-", `${dir}/setpoint-`);
  const arrays = Object.entries({ CLIENT: client, PEER: peer, HTTP: http, GRPC: grpc }).map(([k, v]) => `${k}=(${v!.join(" ")})`);
  // Its own process group, so that the test can tell whether anything the block started outlived it.
  const child = spawn("bash", ["-eo", "pipefail", "-c", [...arrays, script].join("\n")], { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const pgid = child.pid!;
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    const logs = () => ["etcd-m0", "replica-0"].map((f) => `--- ${f}:\n${readLog(join(dir, `setpoint-${f}.log`))}`).join("\n");
    assert.equal(code, 0, `the block failed:\n${out}\n${logs()}`);
    assert.match(out, /resourcetype\.setpoint\.dev\/pipelineruns\.ci\.setpoint\.dev created/);
    const listed = out.split("\n").filter((l) => /^pipelineruns\.ci\.setpoint\.dev\s+PipelineRun\s/.test(l));
    assert.equal(listed.length, 2, `the type, listed through the other replica and through all three:\n${out}`);
    // etcd's leader, stopped last of its cluster, waits for its peers before it exits: a few seconds.
    const deadline = Date.now() + 60_000;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(groupAlive(pgid), false, "every process the block started has exited after its kill $(jobs -p)");
  } finally {
    if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8").slice(-3000);
  } catch {
    return "(none)";
  }
}
