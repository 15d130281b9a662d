// `setpoint`: the command line for Setpoint (src/cli/program.ts has the
// commands). Binds the CLI to this process: its streams, environment and
// signals, and exits with the code the command returns (0 ok, 1 failed,
// 2 bad usage). A command that keeps running (server) keeps the process
// alive after returning.

import { runCli } from "./program.ts";
import { packageVersion } from "./version.ts";

let interrupt: AbortController | undefined;

// `setpoint get … | head`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  env: process.env,
  now: () => Date.now(),
  version: packageVersion(),
  interrupted() {
    if (interrupt === undefined) {
      const controller = new AbortController();
      interrupt = controller;
      const stop = () => {
        if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
        controller.abort();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    }
    return interrupt.signal;
  },
});
process.exitCode = code;
