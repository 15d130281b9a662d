// `setpoint up`'s banner suggests only commands that work where it runs: the
// example files from a clone's root, an inline PipelineRun from a folder
// without examples/ (a deploy of dist/ alone), and kubectl with --server or
// the kubeconfig it wrote.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { exited, LineReader } from "../helpers/cli.ts";
import { nodeEntry } from "../helpers/node-entry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `setpoint up ARGS` in `cwd` until its banner ends, then Ctrl-C; returns the banner. */
async function banner(cwd: string, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [...nodeEntry(join(root, "src/cli/setpoint.ts")), "up", "--http-port", "0", "--grpc-port", "0", ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: cwd },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = new LineReader(child.stdout!);
  try {
    await lines.waitFor(/^Ctrl-C here stops/, { timeoutMs: 60_000 });
  } finally {
    child.kill("SIGINT");
  }
  assert.equal((await exited(child, 60_000)).code, 0);
  return lines.lines.join("\n");
}

describe("setpoint up's banner", () => {
  it("from a folder without examples/: an inline PipelineRun, and kubectl through the kubeconfig it wrote", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-banner-"));
    try {
      const text = await banner(dir, ["--data-dir", join(dir, "data"), "--write-kubeconfig", "k.yaml"]);
      // Said before the slow part (loading the server, opening the store): what it starts, where.
      assert.match(
        text.split("\n")[0]!,
        new RegExp(
          `^setpoint up: starting the server \\(data ${join(dir, "data").replace(/[./]/g, "\\$&")}; HTTP 127\\.0\\.0\\.1, a free port, gRPC 127\\.0\\.0\\.1, a free port\\) and a pipeline agent…$`,
        ),
      );
      assert.match(text.split("\n")[1]!, /^Setpoint is up: /);
      assert.doesNotMatch(text, /examples\/pipelines/);
      assert.match(text, /setpoint apply -f - <<'YAML'\n\s+\{apiVersion: ci\.setpoint\.dev\/v1, kind: PipelineRun, metadata: \{name: hello\}/);
      assert.match(text, /setpoint logs hello hi/);
      assert.match(text, /KUBECONFIG=k\.yaml kubectl get pipelineruns/);
      const url = /API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(text)![1]!;
      assert.match(readFileSync(join(dir, "k.yaml"), "utf8"), new RegExp(`server: ${url.replace(/[./]/g, "\\$&")}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("from a clone's root: the example files, and kubectl --server", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-banner-"));
    try {
      const text = await banner(root, ["--data-dir", join(dir, "data")]);
      assert.match(text, /setpoint apply -f examples\/pipelines\/diamond\.yaml -f examples\/pipelines\/flaky\.yaml/);
      assert.match(text, /kubectl --server http:\/\/127\.0\.0\.1:\d+ get pipelineruns/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
