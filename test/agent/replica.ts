// One agent replica for test/agent/failover.test.ts, run as a child process
// (`node --import tsx test/agent/replica.ts`) with its settings as JSON in the
// REPLICA environment variable. It writes one JSON line per reconcile start
// and end to stdout (a pipe: synchronous, so nothing is lost on SIGKILL) and
// shuts down gracefully on SIGTERM.

import { runAgent } from "../../src/agent.ts";
import { TYPE } from "./fixtures.ts";

const settings = JSON.parse(process.env.REPLICA ?? "{}") as {
  grpcAddress: string;
  httpUrl: string;
  identity: string;
  leaseDurationMs: number;
  workMs: number;
  requeueMs: number;
  workers: number;
};
const now = () => performance.timeOrigin + performance.now();
const emit = (record: object) => process.stdout.write(`${JSON.stringify({ r: settings.identity, ...record })}\n`);
const stop = new AbortController();
process.on("SIGTERM", () => stop.abort());

await runAgent({
  name: "failover",
  grpcAddress: settings.grpcAddress,
  httpUrl: settings.httpUrl,
  type: TYPE,
  identity: settings.identity,
  leaseDurationMs: settings.leaseDurationMs,
  workers: settings.workers,
  signal: stop.signal,
  onError: (err) => process.stderr.write(`${settings.identity}: ${String(err)}\n`),
  reconcile: async (key) => {
    emit({ k: key, ev: "start", t: now() });
    await new Promise((r) => setTimeout(r, settings.workMs));
    emit({ k: key, ev: "end", t: now() });
    return { requeueAfter: settings.requeueMs };
  },
});
emit({ ev: "exit", t: now() });
