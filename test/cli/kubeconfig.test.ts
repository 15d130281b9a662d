// The kubeconfig `setpoint up --write-kubeconfig` writes: read back by the
// same reader the CLI and agents use, it names the server, the token and the
// gRPC address; the file is its owner's only.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { writeKubeconfig } from "../../src/cli/kubeconfig.ts";
import { loadKubeconfig } from "../../src/kubeconfig.ts";

describe("written kubeconfig", () => {
  it("round-trips through the kubeconfig reader and is mode 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-kc-"));
    try {
      const path = join(dir, "setpoint.kubeconfig");
      writeKubeconfig(path, "http://127.0.0.1:8080", { token: "s3cret", grpcAddress: "127.0.0.1:9090" });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const target = loadKubeconfig({ kubeconfig: path, env: {} });
      assert.equal(target?.server, "http://127.0.0.1:8080");
      assert.equal(target?.token, "s3cret");
      assert.equal(target?.grpcAddress, "127.0.0.1:9090");
      assert.equal(target?.namespace, "default");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
