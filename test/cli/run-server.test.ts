// A server that cannot start on its configuration (API.md §8, §9) says why in
// one plain `error:` line on stderr that names the file and what is wrong,
// besides the JSON log line, and exits 1: a person reads the first, a log
// collector the second.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../helpers/node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** Runs setpoint-server with `args` until it exits (deadline 60 s); its code and stderr. */
function runServer(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...nodeEntry("src/main.ts"), "--http-port", "0", "--grpc-port", "-1", "--workers", "1", ...args], {
    cwd: REPO,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe("setpoint-server: configuration that does not load", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-start-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a bad token file line: exit 1 and one error line naming the file and the line", async () => {
    const file = join(dir, "tokens.csv");
    writeFileSync(file, "t1,alice,1\n\nonly,two\n");
    const r = await runServer(["--data-dir", join(dir, "d1"), "--token-auth-file", file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: ${file}: line 3: `, "m"));
  });

  it("an etcd that is not there: exit 1 and one error line naming the URLs, the first failure and --etcd-servers", async () => {
    const hole = createServer();
    await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(hole.address() as AddressInfo).port}`;
    await new Promise((resolve) => hole.close(resolve)); // a port nothing listens on
    const r = await runServer(["--store", "etcd", "--etcd-servers", url]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^error: store: etcd at ${url} cannot be reached \\(.*ECONNREFUSED.*\\): is etcd running there\\? \\(--etcd-servers\\)$`, "m"),
    );
    assert.doesNotMatch(r.stderr, /circuit breaker/);
  });

  it("a key that does not fit its certificate: the error names both files", async () => {
    const cert = join(dir, "tls.crt");
    const key = join(dir, "tls.key");
    writeFileSync(cert, "not a certificate\n");
    writeFileSync(key, "not a key\n");
    const r = await runServer(["--data-dir", join(dir, "d2"), "--tls-cert-file", cert, "--tls-private-key-file", key]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: tls: /m);
    assert.ok(r.stderr.includes(cert) && r.stderr.includes(key), r.stderr);
  });
});
