// A cluster run by the real primary (src/cli/cluster.ts, runPrimary) whose
// workers do nothing but commit notices, for test/server/cluster-relay.test.ts.
// Worker 1 sends notices back to back (one as the last one's write completes),
// as a worker under a stream of writes does; every other worker only takes the
// relayed ones. Worker 1 prints `sender PID`, the primary `listening` once
// every first worker has announced itself. Argument: the number of workers.

import cluster from "node:cluster";
import { pino } from "pino";
import { announceListening, runPrimary } from "../../src/cli/cluster.ts";

const workers = Number(process.argv[2] ?? "3");
if (cluster.isPrimary) {
  runPrimary({
    workers,
    log: pino({ level: "warn" }, pino.destination({ dest: 2, sync: true })),
    restartDelayMs: 1,
    onListening: () => console.log("listening"),
  });
} else {
  announceListening("http://127.0.0.1:1", 1);
  if (cluster.worker?.id === 1) {
    console.log(`sender ${process.pid}`);
    let revision = 0;
    const send = (): void => {
      if (process.connected) process.send?.({ setpoint: "commit", revision: ++revision }, undefined, {}, (err) => (err ? undefined : setImmediate(send)));
    };
    send();
  } else {
    process.on("message", () => {});
  }
}
