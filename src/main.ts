// `setpoint-server`: parses flags and SETPOINT_* variables, starts the server
// and logs one JSON line with its addresses (src/cli/run-server.ts). Exit
// codes: 0 after --help, --version or a clean shutdown; 2 for a bad flag; 1 if
// the server fails to start or to close. SIGTERM/SIGINT close the server
// gracefully (final bookmarks, watches closed, store flushed); a second signal
// exits at once. `setpoint server` runs the same server.

import { CommanderError } from "commander";
import { parseServerArgs } from "./cli/flags.ts";
import { runServer } from "./cli/run-server.ts";
import { packageVersion } from "./cli/version.ts";
import type { ServerOptions } from "./server/options.ts";

function parseOrExit(): ServerOptions {
  try {
    return parseServerArgs(process.argv.slice(2), process.env, { version: packageVersion() });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    throw error;
  }
}

await runServer(parseOrExit(), { version: packageVersion() });
