// Runs server test files again with every test server on etcd
// (SETPOINT_TEST_STORE=etcd: test/helpers/server.ts starts one etcd for each
// child test process and gives each server a fresh key prefix), made of two
// replicas behind a round-robin front end (SETPOINT_TEST_REPLICAS=2). Used by
// test/server/etcd-suite*.test.ts, which split the files between them so that
// they run side by side.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "./node-entry.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * A test that runs `files` (repository-relative) on etcd, one after the other,
 * and passes when all of them pass and at least `minPass` tests ran. Each test
 * server is `replicas` replicas (default 2); 1 for files that check what each
 * server process holds on its own (per-client caps, a spy on its store).
 */
export function passesOnEtcd(files: string[], minPass: number, replicas = 2): void {
  const named = files.map((f) => f.replace(/^test\/server\//, "")).join(", ");
  it(`passes ${files.length} files with SETPOINT_TEST_STORE=etcd, ${replicas} replica${replicas === 1 ? "" : "s"}: ${named}`, async () => {
    assert.ok(files.length >= 1, `found ${files.join(", ")}`);
    const child = spawn(process.execPath, ["--enable-source-maps", "--test", "--test-concurrency=1", "--test-reporter=tap", ...nodeEntry(...files)], {
      cwd: ROOT,
      // Without the parent's NODE_TEST_CONTEXT: the child reports TAP on its own instead of to this runner.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_TEST_CONTEXT")),
        SETPOINT_TEST_STORE: "etcd",
        SETPOINT_TEST_REPLICAS: String(replicas),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, "m").exec(out)?.[1] ?? NaN);
    // Each failing test with its YAML block (the error and where it was thrown), which the tail of the output may not hold.
    const lines = out.split("\n");
    const failures = lines.flatMap((l, i) => (/^\s*not ok/.test(l) ? lines.slice(i, i + 14) : [])).join("\n");
    assert.equal(code, 0, `the suite on etcd failed:\n${failures}\n${out.slice(-4000)}`);
    assert.ok(count("pass") > minPass, `ran ${count("pass")} tests`);
    assert.equal(count("fail"), 0);
    assert.equal(count("cancelled"), 0);
  });
}
