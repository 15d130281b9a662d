// The official Kubernetes Python client (Debian's python3-kubernetes, 22.6 on
// bookworm) for test/server/python-client.test.ts: which Python can import it,
// and how to run test/fixtures/python-client/probe.py against a server.
//
// Where no Python with the client is found the test fails in CI (CI=true:
// .ci/run installs python3-kubernetes) and is skipped elsewhere, with a message
// that says how to get it (as test/helpers/browser.ts does for Chromium).

import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const PROBE = fileURLToPath(new URL("../fixtures/python-client/probe.py", import.meta.url));

export const MISSING_PYTHON_CLIENT =
  "no Python with the kubernetes client found (tried $SETPOINT_PYTHON, else python3 and /usr/bin/python3): install it with `apt-get install -y python3-kubernetes` (.ci/run does) to run the Python client test";

let found: string | null | undefined;

/**
 * $SETPOINT_PYTHON when set, else the first of `python3` and /usr/bin/python3,
 * that can `import kubernetes` (Debian's package lives in /usr/bin/python3's
 * path, which a pyenv or venv `python3` earlier on PATH does not see);
 * undefined when none can.
 */
export function pythonWithClient(): string | undefined {
  if (found === undefined) {
    found = null;
    const candidates = process.env.SETPOINT_PYTHON ? [process.env.SETPOINT_PYTHON] : ["python3", "/usr/bin/python3"];
    for (const candidate of candidates) {
      const r = spawnSync(candidate, ["-c", "import kubernetes"], { stdio: "ignore", timeout: 30_000 });
      if (r.status === 0) {
        found = candidate;
        break;
      }
    }
  }
  return found ?? undefined;
}

/** Why the Python client test cannot run here, for `describe(…, { skip })`; undefined when it can (or in CI, where it must, and fails). */
export function pythonClientSkipReason(): string | undefined {
  if (pythonWithClient() !== undefined || process.env.CI) return undefined;
  return MISSING_PYTHON_CLIENT;
}

export interface ProbeRun {
  code: number | null;
  /** One parsed JSON line per check, by check name. */
  checks: Map<string, Record<string, any>>;
  stdout: string;
  stderr: string;
}

/**
 * Runs the probe script (asynchronously: the server under test may live in
 * this process) with `args`; resolves when it exits, or rejects after
 * `timeoutMs` (default 90 s) having killed it.
 */
export function runProbe(args: string[], options: { timeoutMs?: number } = {}): Promise<ProbeRun> {
  const python = pythonWithClient();
  if (python === undefined) return Promise.reject(new Error(MISSING_PYTHON_CLIENT));
  const child = spawn(python, [PROBE, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`probe.py did not end within ${options.timeoutMs ?? 90_000} ms; output so far:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 90_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const checks = new Map<string, Record<string, any>>();
      for (const line of stdout.split("\n")) {
        if (!line.trim()) continue;
        let parsed: Record<string, any>;
        try {
          parsed = JSON.parse(line) as Record<string, any>;
        } catch {
          continue; // not one of the probe's lines (a warning the client printed)
        }
        if (typeof parsed.check === "string") checks.set(parsed.check, parsed);
      }
      resolve({ code, checks, stdout, stderr });
    });
  });
}
