// The `--workers` primary relays each worker's commit notice to the other
// workers (src/cli/cluster.ts). A worker that dies (SIGKILL, a crash, the OOM
// killer) while the others commit must not take the primary with it: a relay
// written to its closed IPC channel fails with EPIPE, which the primary must
// drop (the worker's exit is handled on its own), not throw as an 'error'
// event nobody listens to. Before, it did: the primary died of an uncaught
// `write EPIPE`, and with it every worker (a worker whose primary dies exits),
// so one worker's death under writes ended the whole server.
//
// Run with the real primary and real worker processes (test/helpers/relay-cluster.ts):
// one worker sends notices back to back, the others are killed one after
// another while the primary relays to them.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../helpers/node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const DEADLINE_MS = 60_000;
const WORKERS = 4;
const KILLS = 12;

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe("--workers primary", () => {
  it("survives workers killed while it relays another worker's commit notices to them", { timeout: 180_000 }, async () => {
    const primary = spawn(process.execPath, [...nodeEntry("test/helpers/relay-cluster.ts"), String(WORKERS)], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    primary.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | string | null>((resolve) => primary.on("exit", (code, signal) => resolve(code ?? signal)));
    let exitedWith: number | string | null | undefined;
    void exited.then((c) => (exitedWith = c));
    try {
      let sender = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not listening within ${DEADLINE_MS} ms: ${output}`)), DEADLINE_MS);
        void exited.then((code) => reject(new Error(`primary exited with ${code}: ${output}`)));
        createInterface({ input: primary.stdout! }).on("line", (line) => {
          const m = /^sender (\d+)$/.exec(line);
          if (m) sender = Number(m[1]);
          if (line === "listening") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const deadline = Date.now() + 120_000;
      for (let kill = 0; kill < KILLS && exitedWith === undefined; kill++) {
        // Wait for a full set of workers (the killed one restarted) and the sender among them.
        let workers: number[] = [];
        for (;;) {
          workers = childrenOf(primary.pid!);
          if (exitedWith !== undefined || (sender > 0 && workers.length === WORKERS && workers.includes(sender))) break;
          assert.ok(Date.now() < deadline, `workers back within the deadline: ${workers.length} of ${WORKERS}: ${output.slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        const victim = workers.filter((p) => p !== sender)[kill % (WORKERS - 1)];
        if (victim !== undefined && exitedWith === undefined) process.kill(victim, "SIGKILL");
        // Until it is gone from the primary's children.
        while (exitedWith === undefined && childrenOf(primary.pid!).includes(victim!)) {
          assert.ok(Date.now() < deadline, `worker ${victim} reaped within the deadline`);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      assert.equal(exitedWith, undefined, `the primary died: ${output.slice(-2000)}`);
      assert.ok(!/EPIPE|Unhandled|uncaught/i.test(output), output.slice(-2000));
      primary.kill("SIGTERM");
      assert.equal(await exited, 0, output.slice(-2000));
    } finally {
      if (primary.exitCode === null && primary.signalCode === null) primary.kill("SIGKILL");
    }
  });
});
