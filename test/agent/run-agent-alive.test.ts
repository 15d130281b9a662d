// runAgent keeps its process alive until its signal aborts, also while the
// server cannot be reached: the SDK's backoff timers (systemClock's) do not
// hold the process, and a script doing `await runAgent(…)` (as
// examples/agents/hello.ts does) used to end after the first failed attempt
// with exit code 13 and no message. A real child process, a port nothing
// listens on.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { exited, LineReader } from "../helpers/cli.ts";
import { nodeModule } from "../helpers/node-entry.ts";

const AGENT = nodeModule(fileURLToPath(new URL("../../src/agent.ts", import.meta.url)));

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("runAgent", () => {
  it("keeps retrying an unreachable server until its signal aborts, then resolves (exit 0)", async () => {
    const port = await closedPort();
    const script = `
      import { runAgent } from ${JSON.stringify(AGENT.url)};
      const stop = new AbortController();
      process.once("SIGINT", () => stop.abort());
      let failures = 0;
      await runAgent({
        name: "alive",
        grpcAddress: "127.0.0.1:${port}",
        httpUrl: "http://127.0.0.1:${port}",
        type: { group: "x.example.com", version: "v1", plural: "things" },
        signal: stop.signal,
        errorReportIntervalMs: 0, // every failure, not one report per 30 s
        onError: () => console.log("failed " + ++failures),
        async reconcile() {},
      });
      console.log("stopped");
    `;
    const child = spawn(process.execPath, [...AGENT.execArgv, "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const out = new LineReader(child.stdout!);
    let running = true;
    const ended = new Promise<never>((_, reject) =>
      child.once("exit", (code) => {
        if (running) reject(new Error(`the agent's process ended (exit ${code}) while its signal was not aborted`));
      }),
    );
    try {
      // Each failure after the first comes after a backoff wait with no socket open: the moment the process used to end.
      await Promise.race([out.waitFor(/^failed 3$/), ended]);
    } finally {
      running = false;
      child.kill("SIGINT");
    }
    const { code } = await exited(child);
    assert.equal(code, 0);
    assert.ok(out.lines.includes("stopped"), out.lines.join("\n"));
  });
});
