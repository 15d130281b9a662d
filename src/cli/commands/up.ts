// `setpoint up`: everything needed to run pipelines on one machine, in one
// command: the server on the embedded store (in this process, with every
// `setpoint server` flag), the PipelineRun type, and one pipeline agent as a
// child process (`setpoint agent pipelines`), restarted if it dies, so that
// killing it shows runs recovering. Prints where to go next.
//
// Shutdown: Ctrl-C (SIGINT) or SIGTERM stops the agent first (its tasks get
// SIGTERM, then SIGKILL after --kill-grace; it releases its lease), then
// closes the server; exit 0. The agent runs in a process group of its own so
// that a terminal's Ctrl-C reaches it only through `up`; if `up` itself dies,
// the agent sees its IPC channel close and shuts down too.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { addPipelineAgentOptions, pipelineAgentArgs, type PipelineAgentFlags } from "../agent-options.ts";
import { dataDirProblem, workDirProblem } from "../data-dir.ts";
import { lmdbFilesProblem } from "../../store/lmdb-files.ts";
import { createServerCommand, listenErrorMessage, serverOptionsOf } from "../flags.ts";
import { writeKubeconfig } from "../kubeconfig.ts";
import type { ServerOptions } from "../../server/options.ts";

/** The command line that runs this same `setpoint` (from source through tsx, or the bundle). */
function setpointArgv(): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) return ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("../setpoint.ts", import.meta.url))];
  return [here];
}

/** How a user in this shell runs `setpoint`, for the hints `up` prints. */
function setpointHint(): string {
  if (fileURLToPath(import.meta.url).endsWith(".ts")) return "npm run -s setpoint --";
  const script = process.argv[1] ?? "setpoint";
  if (basename(script) === "setpoint") return "setpoint";
  return `node ${relative(process.cwd(), script) || script}`;
}

/** The banner's first commands: the example pipelines when this directory has them (a clone), else one inline. */
function tryLines(): string[] {
  if (existsSync(join("examples", "pipelines", "diamond.yaml")) && existsSync(join("examples", "pipelines", "flaky.yaml"))) {
    return [
      "  setpoint apply -f examples/pipelines/diamond.yaml -f examples/pipelines/flaky.yaml",
      "  setpoint describe pipelinerun diamond",
      "  setpoint logs flaky test",
    ];
  }
  return [
    "  setpoint apply -f - <<'YAML'",
    "  {apiVersion: ci.setpoint.dev/v1, kind: PipelineRun, metadata: {name: hello}, spec: {tasks: [{name: hi, run: 'echo hello'}]}}",
    "  YAML",
    "  setpoint describe pipelinerun hello",
    "  setpoint logs hello hi",
  ];
}

/** A host to connect to for a server listening on `host` (any-address binds are reached on loopback). */
function connectHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

interface Supervisor {
  /** The running agent's pid, if one runs. */
  pid(): number | undefined;
  /** Stops the agent (SIGTERM; SIGKILL after `waitMs`) and does not restart it. */
  stop(waitMs: number): Promise<void>;
}

/** Runs `setpoint agent pipelines ARGS` as a child, restarting it (with capped backoff) whenever it exits. */
function superviseAgent(args: string[], env: NodeJS.ProcessEnv, ctx: CliContext): Supervisor {
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  // Real time and timers, not an injected clock: this supervises a real child
  // process. The timers are ref'd on purpose: a pending restart, or the wait
  // for a child to exit, keeps `up` alive.
  const start = () => {
    const startedAt = Date.now();
    const c = spawn(process.execPath, [...setpointArgv(), "agent", "pipelines", ...args], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      detached: true,
      env,
    });
    child = c;
    c.on("error", (err) => ctx.err(`setpoint up: cannot start the pipeline agent: ${err.message}`));
    c.once("exit", (code, signal) => {
      if (stopping) return;
      failures = Date.now() - startedAt > 30_000 ? 0 : failures + 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.max(0, failures - 1));
      ctx.err(`setpoint up: the pipeline agent (pid ${c.pid}) exited (${signal ?? `exit code ${code}`}); starting a new one in ${delay / 1000} s`);
      timer = setTimeout(() => {
        start();
        ctx.err(`setpoint up: pipeline agent restarted (pid ${child?.pid}); it takes over the old one's runs once its lease expires`);
      }, delay);
    });
  };
  start();
  return {
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async stop(waitMs) {
      stopping = true;
      clearTimeout(timer);
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      c.kill("SIGTERM");
      const killer = setTimeout(() => c.kill("SIGKILL"), waitMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

export function upCommand(ctx: CliContext): Command {
  const command = createServerCommand({ version: ctx.version, name: "up" });
  command
    .summary("run the server and a pipeline agent together; Ctrl-C stops both")
    .description(
      "Runs the Setpoint server on the embedded store (every `setpoint server` flag works here), declares\n" +
        "the PipelineRun type, and starts one pipeline agent as a child process (restarted if it dies).\n" +
        "Ctrl-C stops the agent, then the server.",
    );
  // up logs less than server (its banner says what a person needs): say so where --log-level is described.
  const logLevel = command.options.find((o) => o.long === "--log-level");
  if (logLevel) logLevel.description = logLevel.description.replace("default: info;", "default: warn for up;");
  addPipelineAgentOptions(command, { workDirDefault: "<data-dir>/workspaces" });
  command.option("--write-kubeconfig <path>", "write a kubeconfig for this server to PATH, for KUBECONFIG=PATH kubectl …");
  command.addHelpText(
    "after",
    "\nExamples:\n  setpoint up\n  setpoint up --http-port 8081 --grpc-port 9091 --data-dir ./data2\n  setpoint up --write-kubeconfig setpoint.kubeconfig",
  );
  command.action(async (opts: PipelineAgentFlags & { writeKubeconfig?: string }) => {
    const options = serverOptionsOf(command, ctx.env);
    if (options.grpcPort === -1) throw new UsageError("setpoint up runs a pipeline agent, which talks gRPC: --grpc-port cannot be -1");
    const securityTrouble = agentCredentialsProblem(options);
    if (securityTrouble !== undefined) throw new UsageError(securityTrouble);
    if (command.getOptionValueSource("logLevel") !== "cli" && !ctx.env.SETPOINT_LOG_LEVEL) options.logLevel = "warn";
    if (options.store === "lmdb") {
      const problem = dataDirProblem(options.dataDir) ?? lmdbFilesProblem(options.dataDir);
      if (problem !== undefined) throw new UsageError(problem);
    }
    const workDir = opts.workDir ?? join(options.dataDir, "workspaces");
    const workDirTrouble = workDirProblem(workDir);
    if (workDirTrouble !== undefined) throw new UsageError(workDirTrouble);
    const signal = ctx.interrupted();
    // Said at once: loading the server's modules and opening the store can take a while on a busy machine.
    const at = (port: number) => (port === 0 ? `${options.host}, a free port` : `${connectHost(options.host)}:${port}`);
    ctx.out(`setpoint up: starting the server (${storeSummary(options)}; HTTP ${at(options.httpPort)}, gRPC ${at(options.grpcPort)}) and a pipeline agent…`);
    // Loaded here, not with the CLI: every other command starts without the server's modules.
    const [{ ListenError, startServer }, { SetpointClient }, { ensurePipelineRunType }, { PIPELINE_VALIDATORS }] = await Promise.all([
      import("../../server.ts"),
      import("../../agent.ts"),
      import("../../pipelines/runner.ts"),
      import("../../pipelines/resource-type.ts"),
    ]);
    const server = await startServer(options, { version: ctx.version, validators: PIPELINE_VALIDATORS }).catch((err: unknown) => {
      if (!(err instanceof ListenError)) throw err;
      // Taken ports are most often another `up` (both its ports): say how to start beside it at once.
      const beside = ctx.env.npm_lifecycle_event === "start" ? "npm start -- --http-port 0 --grpc-port 0" : "setpoint up --http-port 0 --grpc-port 0";
      throw new UsageError(listenErrorMessage(err) + (err.code === "EADDRINUSE" ? `; or ${beside} takes free ports for both and prints them` : ""));
    });
    try {
      const host = connectHost(options.host);
      const url = `${new URL(server.url).protocol}//${host}:${server.port}`;
      const grpc = `${host}:${server.grpcPort}`;
      const client = new SetpointClient({ grpcAddress: grpc, token: options.token });
      try {
        await ensurePipelineRunType(client, { signal });
      } finally {
        client.close();
      }
      if (opts.writeKubeconfig !== undefined) writeKubeconfig(opts.writeKubeconfig, url, { token: options.token, grpcAddress: grpc });
      const agentArgs = ["--server", url, "--grpc", grpc, ...pipelineAgentArgs({ ...opts, workDir })];
      // The token travels in the environment (SETPOINT_TOKEN), not in argv where ps shows it.
      const env = options.token === undefined ? process.env : { ...process.env, SETPOINT_TOKEN: options.token };
      const agent = superviseAgent(agentArgs, env, ctx);

      const cli = setpointHint();
      // Always name the server: without -s the CLI follows KUBECONFIG or ~/.kube/config, as kubectl does,
      // and a Kubernetes user's current context is their real cluster, not this one.
      const s = ` -s ${url}`;
      const kubectl = opts.writeKubeconfig === undefined ? `kubectl --server ${url}` : `KUBECONFIG=${opts.writeKubeconfig} kubectl`;
      ctx.out(
        [
          `Setpoint is up: the server and a pipeline agent (pid ${agent.pid() ?? "?"}).`,
          `  API         ${url}   gRPC ${grpc}`,
          `  console     ${url}/ui/`,
          `  data        ${options.dataDir}   workspaces ${workDir}`,
          `  security    ${securitySummary(options)}`,
          "",
          "In another terminal, from this directory:",
          `  alias setpoint='${cli}${s}'`,
          ...tryLines(),
          "  setpoint watch pipelineruns          # live; Ctrl-C to stop watching",
          `  ${kubectl} get pipelineruns`,
          `Kill the agent (kill -9 PID) mid-run: up starts a new one, which reruns only the interrupted task.`,
          "Ctrl-C here stops the agent and the server.",
          "",
        ].join("\n"),
      );
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
      ctx.out("setpoint up: stopping the pipeline agent, then the server");
      await agent.stop(opts.killGrace + 15_000);
    } finally {
      await server.close();
    }
    ctx.out("setpoint up: stopped");
  });
  return command;
}

/**
 * Why up cannot start its pipeline agent against a server with these security
 * flags, if it cannot: it connects the agent (and declares the PipelineRun
 * type) over plain HTTP and gRPC, with --token's token as its only credential.
 * Said before anything starts; without this, a token file failed later as
 * `error: server: Unauthorized` and TLS as a raw gRPC `14 UNAVAILABLE`.
 */
function agentCredentialsProblem(o: ServerOptions): string | undefined {
  const split = `run \`setpoint server\` with these flags and \`setpoint agent pipelines\` with a user of its own (docs/security.md, "An agent's own token")`;
  if (o.tlsCertFile !== undefined) return `setpoint up cannot connect its pipeline agent over TLS (--tls-cert-file): ${split}`;
  if (o.token === undefined && (o.tokenAuthFile !== undefined || o.clientCaFile !== undefined)) {
    const flag = o.tokenAuthFile !== undefined ? "--token-auth-file" : "--client-ca-file";
    return `setpoint up gives its pipeline agent --token's token (user admin), and ${flag} sets none: add --token (or SETPOINT_TOKEN), or ${split}`;
  }
  return undefined;
}

/** Where the data lives: the data directory, or the etcd servers and prefix. */
function storeSummary(o: ServerOptions): string {
  return o.store === "etcd" ? `store etcd ${o.etcdServers.join(",")} prefix ${o.etcdPrefix}` : `data ${o.dataDir}`;
}

/** One line on what protects this server (docs/security.md): the zero-config default says it trusts every caller. */
function securitySummary(o: ServerOptions): string {
  const authn = [
    o.token !== undefined ? "--token" : "",
    o.tokenAuthFile !== undefined ? "token file" : "",
    o.clientCaFile !== undefined ? "client certificates" : "",
  ].filter(Boolean);
  if (authn.length === 0) return `none: every caller that can reach ${o.host} is trusted (zero-config default; docs/security.md turns on tokens, RBAC and TLS)`;
  const tls = o.tlsCertFile !== undefined ? "TLS" : "no TLS";
  return `${authn.join(" + ")}; authorization ${o.authorizationMode}; ${tls}`;
}
