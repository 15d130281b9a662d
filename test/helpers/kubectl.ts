// kubectl against a test server, with a KUBECONFIG, HOME and cache directory
// of its own, so the user's own config is never read or changed. kubectl
// (1.32) is on the machine image; .ci/run installs it when missing.

import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  /** The directory kubectl uses as HOME (its config and cache live there). */
  home: string;
  /** Runs kubectl with `args`; resolves with exit code, stdout and stderr (never rejects). */
  run(...args: string[]): Promise<KubectlResult>;
  /** `run` with more environment (say, EDITOR). */
  runWith(env: Record<string, string>, ...args: string[]): Promise<KubectlResult>;
  /** Starts a long-running kubectl (say, `get -w`). */
  spawn(...args: string[]): ChildProcessWithoutNullStreams;
  /** Removes the home directory. */
  close(): void;
}

/** kubectl at `serverUrl`; `namespace` is passed as `-n` when given. Fails the caller when kubectl is missing. */
export function kubectlFor(serverUrl: string, options: { namespace?: string } = {}): Kubectl {
  const which = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
  assert.equal(which.status, 0, "kubectl must be installed (it is on the machine image; .ci/run installs it when missing)");
  const home = mkdtempSync(join(tmpdir(), "setpoint-kubectl-"));
  writeFileSync(join(home, "config"), "apiVersion: v1\nkind: Config\n");
  const env = (more: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: home, KUBECONFIG: join(home, "config"), ...more });
  const argv = (args: string[]) => [
    "--server",
    serverUrl,
    "--cache-dir",
    join(home, "cache"),
    ...(options.namespace ? ["-n", options.namespace] : []),
    ...args,
  ];
  const runWith = (more: Record<string, string>, ...args: string[]) =>
    new Promise<KubectlResult>((done) => {
      execFile("kubectl", argv(args), { env: env(more), timeout: 30_000 }, (err, stdout, stderr) => {
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  return {
    home,
    run: (...args) => runWith({}, ...args),
    runWith,
    spawn: (...args) => spawn("kubectl", argv(args), { env: env() }),
    close: () => rmSync(home, { recursive: true, force: true }),
  };
}
