// `setpoint server`: the same server, flags and SETPOINT_* variables as
// `setpoint-server` (src/cli/flags.ts, src/cli/run-server.ts). The server's
// modules load only when this command runs.

import type { Command } from "commander";
import { createServerCommand, serverOptionsOf } from "../flags.ts";
import type { CliContext } from "../context.ts";

export function serverCommand(ctx: CliContext): Command {
  const command = createServerCommand({ version: ctx.version, name: "server" });
  command.summary("run the Setpoint server (REST, watch and gRPC) on the embedded LMDB store, or on etcd");
  command.action(async () => {
    const options = serverOptionsOf(command, ctx.env);
    // Loaded here so that client commands do not load the store and server.
    const { runServer } = await import("../run-server.ts");
    await runServer(options, { version: ctx.version });
  });
  return command;
}
