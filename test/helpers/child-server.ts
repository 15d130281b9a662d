// The real server (src/main.ts) as a child process on free ports, for tests
// that kill it, fill its disk or load it from outside its process
// (crash.test.ts, disk-full.test.ts, cut-off.test.ts).

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "./node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const DEADLINE_MS = 60_000; // generous: the machine may be busy with other test runs

export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** Resolves to the exit code once the process ended. */
  exited: Promise<number | null>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

/**
 * Starts `setpoint-server` on `dataDir` with HTTP on a free port and no gRPC,
 * plus `args`; resolves once it logged that it listens (and, with `healthz`,
 * once /healthz answers).
 */
export async function startChildServer(dataDir: string, args: string[] = [], options: { healthz?: boolean } = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, [...nodeEntry("src/main.ts"), "--http-port", "0", "--grpc-port", "-1", "--data-dir", dataDir, ...args], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${DEADLINE_MS} ms: ${output}`)), DEADLINE_MS);
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${output}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output += `${line}\n`;
      if (line.includes('"setpoint-server listening"')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
  });
  if (options.healthz) {
    // Deadline-polling for "the server is up" is allowed.
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${url}/healthz never answered: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, child, exited, output: () => output };
}
