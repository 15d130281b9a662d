// The REST, watch and gRPC test files, run again with every test server on
// etcd (SETPOINT_TEST_STORE=etcd: test/helpers/server.ts starts one etcd for
// the child test process and gives each server a fresh key prefix). What the
// LMDB server passes, the etcd-backed server must pass too (API.md §9).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FILES = ["test/server/rest.test.ts", "test/server/watch.test.ts", "test/server/grpc.test.ts"];

describe("the server test suite on etcd", () => {
  it(`passes ${FILES.join(", ")} with SETPOINT_TEST_STORE=etcd`, async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=tap", ...FILES], {
      cwd: ROOT,
      env: { ...process.env, SETPOINT_TEST_STORE: "etcd" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, "m").exec(out)?.[1] ?? NaN);
    const failures = out.split("\n").filter((l) => /^\s*not ok/.test(l)).join("\n");
    assert.equal(code, 0, `the suite on etcd failed:\n${failures}\n${out.slice(-4000)}`);
    assert.ok(count("pass") > 100, `ran ${count("pass")} tests`);
    assert.equal(count("fail"), 0);
    assert.equal(count("cancelled"), 0);
  });
});
