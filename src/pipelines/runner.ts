// The pipeline runner agent: runs PipelineRuns (src/pipelines/resource-type.ts)
// with the public agent SDK only. Each run's tasks run as child processes,
// in parallel where the graph allows and up to `maxParallelTasks` per agent,
// with timeouts, retries and cancellation; status is written as they
// progress. Replicas with the same `name` share runs through leases; one that
// restarts or takes over a dead replica's runs reruns only the attempts that
// died, never a finished task. The parts live in src/pipelines/runner/.
//
// Shutdown (when `signal` aborts): running tasks get SIGTERM, then SIGKILL
// after `killGraceMs`; their status stays Running, so whichever replica next
// owns the run reruns them as new attempts. Then the agent releases its lease.
//
// @example
// await runPipelineAgent({ grpcAddress: "127.0.0.1:9090", httpUrl: "http://127.0.0.1:8080",
//   workDir: "./work", signal: AbortSignal.timeout(60_000) });

import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Agent } from "../agent.ts";
import type { Clock } from "../clock.ts";
import { PIPELINE_RUN_PLURAL, PIPELINES_GROUP, PIPELINES_VERSION } from "./resource-type.ts";
import { ensurePipelineRunType } from "./runner/install.ts";
import { PipelineRunner, type PipelineRun, type RunnerEvent } from "./runner/pipeline-runner.ts";

export { ensurePipelineRunType, type InstallOutcome } from "./runner/install.ts";
export { WORKDIR_FINALIZER, type PipelineRun, type RunnerEvent } from "./runner/pipeline-runner.ts";

/** The agent name pipeline runners use by default (their leases are `pipelines-<identity>`). */
export const PIPELINE_AGENT_NAME = "pipelines";

export interface PipelineAgentOptions {
  /** gRPC address of the server, `host:port`. */
  grpcAddress: string;
  /** HTTP URL of the server, for WebSocket watches and REST writes (AgentOptions.httpUrl). */
  httpUrl?: string;
  token?: string;
  /** TLS for gRPC and wss:// (from a kubeconfig). */
  tls?: import("../agent.ts").ClientTls;
  /** Directory under which each run gets its workspace. Default "./work", resolved against the current directory. */
  workDir?: string;
  /** Task processes this agent runs at once, across all runs. Default 4. */
  maxParallelTasks?: number;
  /** Reconciles at once. Default 4. */
  workers?: number;
  /** Replicas with the same name share runs. Default "pipelines". */
  name?: string;
  /** This replica's identity. Default `<hostname>-<pid>-<random>`. */
  identity?: string;
  /** Directory for warm restarts (informer cache and revision). Default none. */
  stateDir?: string;
  /** Only runs in this namespace. Default all. */
  namespace?: string;
  /** Lease duration: a dead replica's runs move to the others this long after its last renewal. Default 15000 ms. */
  leaseDurationMs?: number;
  /** Share runs with replicas through leases. Default true; false: this agent runs every run (never run two then). */
  claims?: boolean;
  /** Time between SIGTERM and SIGKILL when a task is stopped. Default 5000 ms. */
  killGraceMs?: number;
  /** Least time between two writes of a running task's output. Default 1000 ms. */
  outputFlushMs?: number;
  /** Create or update the PipelineRun ResourceType on start. Default true. */
  installType?: boolean;
  /** Base environment of task processes. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Time source of the leases, backoff and the runner's timers (output flushes, retries, task timeouts). Default the system clock. */
  clock?: Clock;
  /** Called with the agent before it runs (its client, cache and membership): for embedding and tests. */
  onAgent?: (agent: Agent<PipelineRun>) => void;
  /** Told what the agent does (tasks started and finished, runs finished, cleanups). */
  onEvent?: (event: RunnerEvent | { type: "AgentReady"; identity: string; workDir: string }) => void;
  /** Told of failed reconciles (conflicts excepted) and connection problems (once per 30 s while one lasts: AgentOptions.onError). */
  onError?: (err: unknown, key?: string) => void;
  /** Aborting it shuts the agent down (see the file header). */
  signal: AbortSignal;
}

/** How often the runner checks that it still holds its lease, besides at every membership change (a backstop; it also keeps the process alive). */
const FENCE_CHECK_MS = 200;

/** Runs a pipeline runner agent until `options.signal` aborts; resolves once it has shut down. */
export async function runPipelineAgent(options: PipelineAgentOptions): Promise<void> {
  const workDir = resolve(options.workDir ?? "work");
  mkdirSync(workDir, { recursive: true });
  const identity = options.identity ?? `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 6)}`;
  const claims = options.claims !== false;
  const soleMember = `${identity}#${crypto.randomUUID().slice(0, 8)}`;
  const type = { group: PIPELINES_GROUP, version: PIPELINES_VERSION, plural: PIPELINE_RUN_PLURAL };

  let runner!: PipelineRunner;
  const agent = new Agent<PipelineRun>({
    name: options.name ?? PIPELINE_AGENT_NAME,
    grpcAddress: options.grpcAddress,
    httpUrl: options.httpUrl,
    token: options.token,
    tls: options.tls,
    type: { ...type, namespace: options.namespace },
    workers: options.workers,
    stateDir: options.stateDir,
    identity,
    claims,
    leaseDurationMs: options.leaseDurationMs,
    clock: options.clock,
    onError: options.onError,
    reconcile: (key, ctx) => runner.reconcile(key, ctx),
    // The fence: tasks started under a lease this replica just lost are killed at once.
    onMembershipChange: () => runner.checkFence(),
  });
  runner = new PipelineRunner({
    client: agent.client,
    type,
    workDir,
    maxParallelTasks: options.maxParallelTasks ?? 4,
    killGraceMs: options.killGraceMs ?? 5000,
    outputFlushMs: options.outputFlushMs ?? 1000,
    member: () => (agent.membership ? agent.membership.member : soleMember),
    liveMembers: () => (agent.membership ? agent.membership.members() : [soleMember]),
    env: options.env,
    clock: options.clock,
    onEvent: options.onEvent,
    // Through the agent's report: a server that stays down is one line per interval, with a hint.
    onError: (err, key) => agent.reportError(err, key),
  });
  agent.informer.addHandlers(runner.handlers);
  options.onAgent?.(agent);

  const stop = new AbortController();
  // Plain (ref'd) timers here, not the runner's clock (whose system timers do
  // not hold the process): the agent process must stay up while its informer
  // waits out a server outage. The fence itself acts at once, from the
  // membership's change (onMembershipChange); this check is a backstop.
  const fence = setInterval(() => runner.checkFence(), FENCE_CHECK_MS);
  const onAbort = () => {
    clearInterval(fence);
    void runner.shutdown().finally(() => stop.abort());
  };
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener("abort", onAbort, { once: true });

  try {
    if (options.installType !== false) await install(agent, options);
    if (!options.signal.aborted) options.onEvent?.({ type: "AgentReady", identity, workDir });
    await agent.run(stop.signal);
  } finally {
    clearInterval(fence);
    options.signal.removeEventListener("abort", onAbort);
    if (!stop.signal.aborted) {
      await runner.shutdown();
      stop.abort();
    }
  }
}

/** Declares the PipelineRun type, retrying (with capped backoff) until it works or the agent stops. */
async function install(agent: Agent<PipelineRun>, options: PipelineAgentOptions): Promise<void> {
  for (let delay = 250; !options.signal.aborted; delay = Math.min(delay * 2, 5000)) {
    try {
      await ensurePipelineRunType(agent.client, { signal: options.signal });
      agent.reportConnected();
      return;
    } catch (err) {
      if (options.signal.aborted) return;
      agent.reportError(err);
      // Ref'd: before agent.run nothing else keeps the process alive while it retries.
      await new Promise<void>((done) => {
        const wake = () => {
          clearTimeout(t);
          options.signal.removeEventListener("abort", wake);
          done();
        };
        const t = setTimeout(wake, delay);
        options.signal.addEventListener("abort", wake, { once: true });
      });
    }
  }
}
