// Runs a server in this process until a signal stops it: what `setpoint-server`
// (src/main.ts) and `setpoint server` both do once their flags are parsed.
// Logs one JSON line `setpoint-server listening` with the addresses.
//
// Exit: SIGTERM/SIGINT close the server gracefully (final bookmarks, watches
// closed, store flushed) and exit 0; a second signal exits 1 at once; a port
// that cannot be bound, or a data directory that cannot be used, prints one
// line naming the flag to change and exits 2;
// a server that fails otherwise to start, or to close, exits 1.

import { pino, type Logger } from "pino";
import { PIPELINE_VALIDATORS } from "../pipelines/resource-type.ts";
import { ListenError, startServer, type RunningServer } from "../server.ts";
import { probePort } from "../server/listen-error.ts";
import { dataDirProblem } from "./data-dir.ts";
import { lmdbFilesProblem } from "../store/lmdb-files.ts";
import { listenErrorMessage } from "./flags.ts";
import type { ServerOptions } from "../server/options.ts";
import { ipcCommitPeers } from "../store/commit-peers.ts";
import { announceListening, isClusterWorker, runPrimary } from "./cluster.ts";

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Starts the server and wires the signals; resolves once it listens. The
 * process exits on shutdown. With `workers` > 1 this process becomes the
 * primary of a cluster (src/cli/cluster.ts) whose workers run this same
 * function again.
 */
export async function runServer(options: ServerOptions, info: { version: string }): Promise<void> {
  const log = pino({ name: "setpoint-server", level: options.logLevel, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
  const worker = isClusterWorker();
  if (!worker && options.store === "lmdb") {
    // Checked once, here, before any worker: LMDB's own error is a stack trace that names no flag.
    const problem = dataDirProblem(options.dataDir) ?? lmdbFilesProblem(options.dataDir);
    if (problem !== undefined) {
      process.stderr.write(`error: ${problem}\n`);
      process.exit(2);
    }
  }
  if (!worker && options.workers > 1) {
    // Every worker would fail on a taken port and say so: check once, here, and say it once.
    await checkPorts(options);
    runPrimary({
      workers: options.workers,
      log,
      onListening: ({ url, grpcPort }) => logListening(log, { options, info, url, grpcPort, workers: options.workers }),
    });
    return;
  }

  if (worker) dieWithPrimary(log);
  const starting = startServer(options, {
    version: info.version,
    validators: PIPELINE_VALIDATORS,
    ...(worker && { commitPeers: ipcCommitPeers() }),
  });
  closeOnSignals(starting, { log, worker });

  let server;
  try {
    server = await starting;
  } catch (error) {
    if (error instanceof ListenError) {
      process.stderr.write(`error: ${listenErrorMessage(error)}\n`);
      process.exit(2);
    }
    log.fatal({ err: error }, "failed to start");
    // The log line is for collectors; a person starting the server reads this one.
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  if (worker) {
    log.debug({ url: server.url }, "worker listening");
    announceListening(server.url, server.grpcPort);
    return;
  }
  logListening(log, { options, info, url: server.url, grpcPort: server.grpcPort, workers: 1 });
}

/**
 * A cluster worker dies at once when its primary goes or an error escapes.
 * The primary owns the listening sockets and restarts workers: without it a
 * worker would serve on, orphaned, and hold the data directory. Die at once,
 * as the primary did, without a log line (its stdout may have no reader
 * left): process.exit() runs exit handlers that can wait forever on lmdb-js's
 * write thread mid-transaction. Acknowledged writes are durable; the rest
 * were never acknowledged.
 */
function dieWithPrimary(log: Logger): void {
  // prepend: node:cluster's own listener (registered first) calls process.exit().
  process.prependOnceListener("disconnect", () => process.kill(process.pid, "SIGKILL"));
  // The same hang awaits a worker that dies of an uncaught error: log it,
  // then die at once; the primary restarts it.
  process.on("uncaughtException", (err) => {
    try {
      log.fatal({ err }, "worker: uncaught error; exiting");
    } finally {
      process.kill(process.pid, "SIGKILL");
    }
  });
}

/** SIGTERM/SIGINT close the server gracefully and exit 0 (1 if closing failed); a second signal exits 1 at once. */
function closeOnSignals(starting: Promise<RunningServer>, o: { log: Logger; worker: boolean }): void {
  const { log, worker } = o;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A cluster's primary decides when its workers stop: Ctrl-C reaches the
    // whole process group, and the primary's SIGTERM follows.
    if (worker && signal === "SIGINT") return;
    if (stopping) {
      if (worker) return;
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
}

/** Exits 2 with one line naming the flag when the HTTP or gRPC port cannot be bound. */
async function checkPorts(options: ServerOptions): Promise<void> {
  const ports: Array<["http" | "grpc", number]> = [["http", options.httpPort]];
  if (options.grpcPort !== -1) ports.push(["grpc", options.grpcPort]);
  for (const [listener, port] of ports) {
    try {
      await probePort(options.host, port);
    } catch (err) {
      process.stderr.write(`error: ${listenErrorMessage(new ListenError(listener, options.host, port, err))}\n`);
      process.exit(2);
    }
  }
}

/** The `setpoint-server listening` line: where it listens and how it runs. */
function logListening(log: Logger, listening: { options: ServerOptions; info: { version: string }; url: string; grpcPort: number; workers: number }): void {
  const { options, info, url, grpcPort, workers } = listening;
  log.info(
    {
      url,
      grpc: grpcPort === -1 ? null : hostPort(options.host, grpcPort),
      store: options.store,
      ...(options.store === "etcd" ? { etcdServers: options.etcdServers, etcdPrefix: options.etcdPrefix } : { dataDir: options.dataDir }),
      durable: options.durable,
      auth: options.token !== undefined || options.tokenAuthFile !== undefined || options.clientCaFile !== undefined,
      authorization: options.authorizationMode,
      tls: options.tlsCertFile !== undefined,
      version: info.version,
      workers,
    },
    "setpoint-server listening",
  );
}
