// `--workers N`: N server processes (node:cluster) sharing the listening
// sockets and the one LMDB directory, so a server uses every core.
//
// - The primary serves nothing itself: it forks the workers, owns the
//   listening sockets (node:cluster hands each connection to a worker in
//   turn), relays every worker's commit notice to the other workers (so each
//   one's watch hub delivers the others' writes at once: src/store/commit-peers.ts),
//   logs the one `setpoint-server listening` line once every worker listens,
//   and restarts a worker that dies. A watch on a dead worker ends; its
//   client resumes on another from its last revision.
// - LMDB serialises the writers and keeps the one revision counter, so every
//   worker's hub reads the same change log in the same order: a write on any
//   worker reaches the watchers of every worker in order, exactly once.
// - Shutdown: SIGTERM/SIGINT to the primary sends SIGTERM to every worker
//   (each closes gracefully: final bookmarks, store flushed) and exits 0 once
//   they have (1 if one failed); a second signal kills them and exits 1.
//   Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process
//   group; the primary decides). A worker whose primary dies exits.

import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { isCommitNotice } from "../store/commit-peers.ts";

/** What a worker tells the primary once it listens. */
interface ListeningNotice {
  setpoint: "listening";
  url: string;
  grpcPort: number;
}

function isListeningNotice(message: unknown): message is ListeningNotice {
  return typeof message === "object" && message !== null && (message as ListeningNotice).setpoint === "listening";
}

/** In a worker: tells the primary this worker listens. */
export function announceListening(url: string, grpcPort: number): void {
  process.send?.({ setpoint: "listening", url, grpcPort } satisfies ListeningNotice, undefined, {}, () => {});
}

export interface ClusterOptions {
  workers: number;
  log: Logger;
  /** Called once every first-generation worker listens, with the first one's addresses. */
  onListening(address: { url: string; grpcPort: number }): void;
  /** A dead worker is restarted after this delay, doubled for each death within a minute of its start (up to 30 s). Default 100 ms. */
  restartDelayMs?: number;
}

/**
 * Runs the primary of a cluster of `workers` server processes: each runs this
 * same command line (`cluster.isWorker` tells it it is one). Resolves never;
 * exits the process on shutdown or when the first workers fail to start.
 */
export function runPrimary(o: ClusterOptions): void {
  const baseDelay = o.restartDelayMs ?? 100;
  let stopping = false;
  let listening = 0;
  let announced = false;
  let failures = 0;
  /** The exit code when the first workers failed to start (2: a port they could not bind). */
  let startFailureCode: number | undefined;
  /** Workers that died within a minute of their start, in a row: each doubles the restart delay. */
  let deaths = 0;
  const started = new Map<Worker, number>();

  // Real time and timers, not an injected clock: this supervises real worker
  // processes, and its restart backoff is tested only with them.
  const fork = (): void => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    worker.on("message", (message: unknown) => {
      if (isCommitNotice(message)) {
        for (const other of Object.values(cluster.workers ?? {})) {
          // With a callback: a worker that has just died (its exit not handled yet) fails the write with
          // EPIPE, which would otherwise be an 'error' event on it, nobody's to catch, and kill the primary.
          if (other && other !== worker && other.isConnected()) other.send(message, undefined, {}, () => {});
        }
      } else if (isListeningNotice(message)) {
        if (announced) return;
        listening++;
        if (listening === o.workers) {
          announced = true;
          o.onListening({ url: message.url, grpcPort: message.grpcPort });
        }
      }
    });
  };

  cluster.on("exit", (worker, code, signal) => {
    const since = started.get(worker) ?? Date.now();
    started.delete(worker);
    if (stopping) {
      // A worker still starting up dies of the SIGTERM itself: nothing to flush yet.
      if (code !== 0 && signal !== "SIGTERM") failures++;
      if (started.size === 0) {
        o.log.info({ failures }, "stopped");
        process.exit(startFailureCode ?? (failures > 0 ? 1 : 0));
      }
      return;
    }
    if (!announced) {
      o.log.fatal({ pid: worker.process.pid, code, signal }, "a worker failed to start");
      // Exit code 2: the worker could not bind a port and has said which flag to change; pass the code on.
      startFailureCode = code === 2 ? 2 : 1;
      stopping = true;
      failures++;
      for (const w of started.keys()) w.process.kill("SIGTERM");
      if (started.size === 0) process.exit(startFailureCode);
      return;
    }
    const lived = Date.now() - since;
    deaths = lived < 60_000 ? deaths + 1 : 0;
    const delay = Math.min(30_000, baseDelay * 2 ** Math.min(deaths, 10));
    o.log.warn({ pid: worker.process.pid, code, signal, restartInMs: delay }, "a worker died: restarting it");
    setTimeout(() => {
      if (!stopping) fork();
    }, delay).unref();
  });

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      o.log.warn({ signal }, "second signal: killing the workers");
      for (const w of started.keys()) w.process.kill("SIGKILL");
      process.exit(1);
    }
    stopping = true;
    o.log.info({ signal, workers: started.size }, "shutting down");
    for (const w of started.keys()) w.process.kill("SIGTERM");
    if (started.size === 0) process.exit(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  for (let i = 0; i < o.workers; i++) fork();
}

/** True in a process that cluster.fork() started. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}
