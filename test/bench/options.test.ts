// `npm run bench -- --kubeconfig FILE` takes the target, token, gRPC address
// and CA from the same kubeconfig kubectl reads; flags given on the command
// line win.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseBenchArgs } from "../../bench/lib/options.ts";
import { runBench } from "../helpers/bench-run.ts";

test("--kubeconfig sets --target, --token, --grpc-target and the CA; flags win", () => {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-kc-"));
  const saved = { a: process.env.NODE_EXTRA_CA_CERTS, b: process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH };
  try {
    const file = join(dir, "config");
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: s, cluster: {server: "https://setpoint.example:8443", certificate-authority-data: ${Buffer.from("PEM").toString("base64")}, extensions: [{name: grpc.setpoint.dev, extension: {address: "setpoint.example:9443"}}]}}]
users: [{name: u, user: {token: kc-token}}]
contexts: [{name: c, context: {cluster: s, user: u}}]
`,
    );
    const o = parseBenchArgs(["--kubeconfig", file]);
    assert.equal(o.target?.href, "https://setpoint.example:8443/");
    assert.equal(o.token, "kc-token");
    assert.equal(o.grpcTarget, "setpoint.example:9443");
    assert.equal(o.ca?.toString(), "PEM");
    assert.deepEqual(o.systems, ["setpoint"], "a target means only the deployed Setpoint");
    assert.equal(readFileSync(process.env.NODE_EXTRA_CA_CERTS!, "utf8"), "PEM", "child processes trust the CA");
    assert.equal(process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, process.env.NODE_EXTRA_CA_CERTS);
    const flags = parseBenchArgs(["--kubeconfig", file, "--token", "flag-token", "--target", "https://other:1"]);
    assert.equal(flags.token, "flag-token");
    assert.equal(flags.target?.host, "other:1");
  } finally {
    for (const [k, v] of [
      ["NODE_EXTRA_CA_CERTS", saved.a],
      ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", saved.b],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

// Each case starts tsx processes that compile the benches: seconds on a quiet machine, more than a
// minute at a load average of 25 (seen in a full-suite run beside other work), hence the bounds.
test("a bench's --help lists the options and exits 0; a bad option is one clear line and exit 2", { timeout: 240_000 }, async () => {
  const help = await runBench("bench/run.ts", ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--systems a,b/);
  assert.match(help.stdout, /--watchers/);
  const bad = await runBench("bench/writes.ts", ["--no-such-option"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.equal(bad.stderr, "bench: Unknown option '--no-such-option'\nRun with --help for the options.\n");
  const only = await runBench("bench/run.ts", ["--only", "nope"]);
  assert.equal(only.code, 2);
  assert.match(only.stderr, /^bench: unknown bench "nope" in --only \(known: fanout, /);
  assert.doesNotMatch(only.stderr, /\n\s+at /);
});

test("the benches that run on their own (store, auth) have a --help and refuse bad values in one line", { timeout: 240_000 }, async () => {
  for (const bench of ["bench/store-writes.ts", "bench/store-keys.ts", "bench/auth.ts"]) {
    const help = await runBench(bench, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^usage: node --import tsx ${bench}`));
  }
  const bad = await runBench("bench/store-writes.ts", ["--count", "lots"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.equal(bad.stderr, 'bench: --count must be a number >= 0, got "lots"\nRun with --help for the options.\n');
});
