// `setpoint agent KIND`: runs an agent against a server until interrupted.
// `agent pipelines` is the PipelineRun runner (src/pipelines/runner.ts): it
// declares the PipelineRun type if the server lacks it, then runs each run's
// tasks as processes. Replicas started with the same server share the runs;
// kill one and, a lease duration later, the others finish its runs.
//
// Output: one line per thing the agent does (task started or finished, run
// finished, workspace removed), as text or JSON; errors on stderr. Ctrl-C (or
// SIGTERM) stops the tasks (SIGTERM, then SIGKILL after --kill-grace) and
// exits 0; so does the parent that started the agent with an IPC channel
// (`setpoint up`) going away.

import { Command, Option } from "commander";
import type { PipelineAgentOptions } from "../../pipelines/runner.ts";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { addPipelineAgentOptions, type PipelineAgentFlags } from "../agent-options.ts";
import { formatError } from "../printers.ts";
import { workDirProblem } from "../data-dir.ts";
import { UsageError } from "../errors.ts";

/** The default gRPC port of a server, for agents told only its URL. */
export const DEFAULT_GRPC_PORT = 9090;

type AgentEvent = Parameters<NonNullable<PipelineAgentOptions["onEvent"]>>[0];

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** One line of text for an agent event. */
export function describeAgentEvent(e: AgentEvent): string {
  switch (e.type) {
    case "AgentReady":
      return `pipeline agent ${e.identity} ready; workspaces in ${e.workDir}`;
    case "TaskStarted":
      return `${e.run} ${e.task}: started attempt ${e.attempt}${e.pid !== undefined ? ` (pid ${e.pid})` : ""}`;
    case "TaskFinished":
      return `${e.run} ${e.task}: ${e.outcome} attempt ${e.attempt} after ${seconds(e.durationMs)} (${e.message})`;
    case "TaskStopped":
      return `${e.run} ${e.task}: stopping attempt ${e.attempt} (${e.reason})`;
    case "RunFinished":
      return `${e.run}: ${e.phase}: ${e.message}`;
    case "RunCleanedUp":
      return `${e.run}: deleted; removed ${e.workspace}`;
  }
}

/** A signal that aborts when the parent process that started this one with an IPC channel goes away. */
function parentGone(): AbortSignal | undefined {
  if (typeof process.send !== "function" || !process.connected) return undefined;
  const controller = new AbortController();
  process.once("disconnect", () => controller.abort());
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
  return controller.signal;
}

function pipelinesCommand(ctx: CliContext): Command {
  const command = new Command("pipelines")
    .summary("run PipelineRuns: each run's tasks as processes, in parallel where the graph allows")
    .description(
      "Runs PipelineRuns: each run's tasks as child processes, in parallel where runAfter allows (at most\n" +
        "--parallel at once), with timeouts, retries and cancellation, writing status as they go. Declares\n" +
        "the PipelineRun type on the server if it is missing. Several agents on one server share the runs;\n" +
        "when one dies, the others rerun its interrupted tasks (never finished ones) a lease duration later.",
    )
    .option("--grpc <address>", `gRPC address of the server (env: SETPOINT_GRPC; default: the --server host, port ${DEFAULT_GRPC_PORT})`)
    .option("--state-dir <dir>", "keep the agent's cache here for warm restarts (default: none)")
    .option("--identity <id>", "this replica's identity; its lease is pipelines-<id> (default: <hostname>-<pid>-<random>)")
    .addOption(new Option("--log-format <format>", "output: a line of text per event, or JSON").choices(["text", "json"]).default("text"))
    .addHelpText(
      "after",
      "\nExamples:\n  setpoint agent pipelines --server http://127.0.0.1:8080 --work-dir /var/tmp/setpoint\n" +
        "  setpoint agent pipelines --grpc 10.0.0.5:9090 --server http://10.0.0.5:8080 --parallel 8",
    );
  addPipelineAgentOptions(command, { workDirDefault: "./work; env: SETPOINT_WORK_DIR" });
  addClientOptions(command, { namespace: false });
  command.action(async (opts: PipelineAgentFlags & { grpc?: string; stateDir?: string; identity?: string; logFormat: string }) => {
    const session = sessionFor(command, ctx);
    const server = new URL(session.client.server);
    // Several --server replicas: the agent fails over between them, over gRPC and WebSocket alike.
    const grpcAddress =
      opts.grpc ??
      (ctx.env.SETPOINT_GRPC || session.kubeconfig?.grpcAddress || session.client.servers.map((s) => `${new URL(s).hostname}:${DEFAULT_GRPC_PORT}`).join(","));
    const tls = server.protocol === "https:" ? session.client.tls : undefined;
    const token = session.client.headers().authorization?.replace(/^Bearer /, "");
    const json = opts.logFormat === "json";
    const time = () => new Date(ctx.now()).toISOString();
    const workDir = opts.workDir ?? (ctx.env.SETPOINT_WORK_DIR || "work");
    const problem = workDirProblem(workDir);
    if (problem !== undefined) throw new UsageError(problem);
    const signals = [ctx.interrupted(), parentGone()].filter((s): s is AbortSignal => s !== undefined);
    // Loaded here, as the server's modules are by `server` and `up`: every other command starts without them.
    const { PIPELINE_AGENT_NAME, runPipelineAgent } = await import("../../pipelines/runner.ts");
    await runPipelineAgent({
      name: PIPELINE_AGENT_NAME,
      grpcAddress,
      httpUrl: session.client.servers.join(","),
      token,
      tls,
      workDir,
      maxParallelTasks: opts.parallel,
      stateDir: opts.stateDir,
      identity: opts.identity,
      leaseDurationMs: opts.leaseDuration,
      killGraceMs: opts.killGrace,
      signal: AbortSignal.any(signals),
      onEvent: (e) => ctx.out(json ? JSON.stringify({ time: time(), ...e }) : `${time()} ${describeAgentEvent(e)}`),
      onError: (err, key) => {
        const text = formatError(err, key);
        ctx.err(json ? JSON.stringify({ time: time(), type: "Error", key, message: text }) : `${time()} ${text}`);
      },
    });
  });
  return command;
}

export function agentCommand(ctx: CliContext): Command {
  const agent = new Command("agent")
    .summary("run an agent (pipelines: the PipelineRun runner)")
    .description("Runs an agent that reconciles objects of one type.");
  agent.addCommand(pipelinesCommand(ctx));
  return agent;
}
