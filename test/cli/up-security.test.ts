// `setpoint up` gives its pipeline agent --token's token over plain HTTP and
// gRPC. Flags it cannot start that agent under (a token file or client CA
// without --token, TLS) are one line naming the flag and the way out, exit 2,
// before anything starts: they used to start the server and then fail as
// `error: server: Unauthorized` or a raw gRPC `14 UNAVAILABLE`.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runSetpointInProcess } from "../helpers/cli.ts";
import { makePki, type Pki } from "../helpers/pki.ts";

describe("setpoint up with security flags its agent cannot use", () => {
  let dir: string;
  let pki: Pki;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-up-security-"));
    pki = makePki(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a token file without --token, and TLS: one line naming the flag and the way out, exit 2, nothing started", async () => {
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, 's3cret-admin,alice,1,"system:masters"\n');
    const serving = pki.server("up");
    const base = ["up", "--http-port", "0", "--grpc-port", "0", "--data-dir", join(dir, "data")];
    const cases: Array<[string[], RegExp]> = [
      [
        ["--token-auth-file", tokens],
        /^error: setpoint up gives its pipeline agent --token's token \(user admin\), and --token-auth-file sets none: add --token/,
      ],
      [
        ["--tls-cert-file", serving.cert, "--tls-private-key-file", serving.key, "--token", "t"],
        /^error: setpoint up cannot connect its pipeline agent over TLS \(--tls-cert-file\)/,
      ],
    ];
    for (const [args, first] of cases) {
      const r = await runSetpointInProcess([...base, ...args], { env: {} });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, first);
      assert.match(r.stderr, /`setpoint server` with these flags and `setpoint agent pipelines` with a user of its own \(docs\/security\.md/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /starting the server/, "refused before anything starts");
    }
  });
});
