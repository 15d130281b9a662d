// The REST (test/server/rest/), watch and gRPC test files, run again with every test server on
// etcd (SETPOINT_TEST_STORE=etcd: test/helpers/server.ts starts one etcd for
// the child test process and gives each server a fresh key prefix). What the
// LMDB server passes, the etcd-backed server must pass too (API.md §9).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../helpers/node-entry.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FILES = [
  ...readdirSync(join(ROOT, "test/server/rest"))
    .filter((f) => f.endsWith(".test.ts"))
    .sort()
    .map((f) => `test/server/rest/${f}`),
  "test/server/watch.test.ts",
  "test/server/grpc.test.ts",
];

describe("the server test suite on etcd", () => {
  it(`passes the REST, watch and gRPC files (${FILES.length}) with SETPOINT_TEST_STORE=etcd`, async () => {
    assert.ok(FILES.length >= 5, `found ${FILES.join(", ")}`);
    const child = spawn(process.execPath, ["--enable-source-maps", "--test", "--test-concurrency=1", "--test-reporter=tap", ...nodeEntry(...FILES)], {
      cwd: ROOT,
      // Without the parent's NODE_TEST_CONTEXT: the child reports TAP on its own instead of to this runner.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_TEST_CONTEXT")),
        SETPOINT_TEST_STORE: "etcd",
        SETPOINT_TEST_REPLICAS: "2",
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
    assert.ok(count("pass") > 100, `ran ${count("pass")} tests`);
    assert.equal(count("fail"), 0);
    assert.equal(count("cancelled"), 0);
  });
});
