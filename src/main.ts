// `setpoint-server`: parses flags and SETPOINT_* variables, starts the server
// and logs one JSON line with its addresses. Exit codes: 0 after --help,
// --version or a clean shutdown; 2 for a bad flag; 1 if the server fails to
// start or to close. SIGTERM/SIGINT close the server gracefully (final
// bookmarks, watches closed, store flushed); a second signal exits at once.

import { readFileSync } from "node:fs";
import { CommanderError } from "commander";
import { pino } from "pino";
import { parseServerArgs } from "./cli/flags.ts";
import { startServer } from "./server.ts";
import type { ServerOptions } from "./server/options.ts";

/** Replaced with the package version by esbuild (esbuild.config.mjs). */
declare const __SETPOINT_VERSION__: string | undefined;

function packageVersion(): string {
  if (typeof __SETPOINT_VERSION__ === "string") return __SETPOINT_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function parseOrExit(): ServerOptions {
  try {
    return parseServerArgs(process.argv.slice(2), process.env, { version: packageVersion() });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    throw error;
  }
}

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function main(): Promise<void> {
  const options = parseOrExit();
  const log = pino(
    { name: "setpoint-server", level: options.logLevel, base: { pid: process.pid } },
    pino.destination({ dest: 1, sync: true }),
  );

  const starting = startServer(options);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without finishing shutdown");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    starting
      .then((server) => server.close())
      .then(
        () => {
          log.info("stopped");
          process.exit(0);
        },
        (error: unknown) => {
          log.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  let server;
  try {
    server = await starting;
  } catch (error) {
    log.fatal({ err: error }, "failed to start");
    process.exit(1);
  }
  log.info(
    {
      url: server.url,
      grpc: server.grpcPort === -1 ? null : hostPort(options.host, server.grpcPort),
      dataDir: options.dataDir,
      durable: options.durable,
      auth: options.token !== undefined,
      version: packageVersion(),
    },
    "setpoint-server listening",
  );
}

await main();
