// What every `setpoint` command gets: its input and output (so tests and
// embedders can swap them), the environment, the clock, and — for commands
// that talk to a server — the client options shared by all of them:
// `-s/--server` (SETPOINT_SERVER), `--token` (SETPOINT_TOKEN),
// `--request-timeout` and `-n/--namespace`, accepted before the command
// (`setpoint -n ci get runs`) or after it (`setpoint get runs -n ci`); after
// wins.

import { InvalidArgumentError, Option, type Command } from "commander";
import { parseDuration } from "./flags.ts";
import { loadKubeconfig, tlsOptionsOf, type KubeconfigTarget } from "../kubeconfig.ts";
import { ApiClient } from "./client.ts";
import { UsageError } from "./errors.ts";
import { Discovery } from "./discovery.ts";

/** The server a command talks to when neither --server nor SETPOINT_SERVER says. */
export const DEFAULT_SERVER = "http://127.0.0.1:8080";
export const DEFAULT_NAMESPACE = "default";

export interface CliContext {
  /** Writes a line (a newline is added) to standard output. */
  out(text: string): void;
  /** Writes a line (a newline is added) to standard error. */
  err(text: string): void;
  /** Reads all of standard input (for `-f -`). */
  readStdin(): Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch (ages in tables). */
  now(): number;
  version: string;
  /**
   * A signal aborted when the user interrupts (SIGINT, SIGTERM), for commands
   * that run until then (watch) and exit 0. Until a command asks for it, an
   * interrupt ends the process as usual.
   */
  interrupted(): AbortSignal;
}

/** Adds the client options to a command (and to the root program, for use before the command). */
export function addClientOptions(command: Command, options: { namespace?: boolean } = {}): Command {
  command.addOption(
    new Option(
      "-s, --server <url>",
      `Setpoint server URL, or several replicas' comma-separated (env: SETPOINT_SERVER; default: the kubeconfig's server if there is one, else ${DEFAULT_SERVER})`,
    ),
  );
  command.addOption(new Option("--token <token>", "bearer token for the server (env: SETPOINT_TOKEN; prefer the env var: flags show in ps)"));
  command.addOption(
    new Option("--kubeconfig <file>", "kubeconfig file for server, CA, token or client certificate (default: KUBECONFIG, then ~/.kube/config, as kubectl)"),
  );
  command.addOption(new Option("--context <name>", "kubeconfig context to use (default: its current-context)"));
  command.addOption(
    new Option(
      "--request-timeout <duration>",
      "how long to wait for each answer before giving up on a server (or trying the next replica), e.g. 5s (default: 30s)",
    ).argParser(requestTimeout),
  );
  if (options.namespace !== false) {
    command.addOption(new Option("-n, --namespace <namespace>", `namespace of namespaced objects (default: ${DEFAULT_NAMESPACE})`));
  }
  return command;
}

/** --request-timeout's value in ms: a duration over 0 (kubectl's 0, no deadline, is not offered: a hung replica would hold the command for good). */
function requestTimeout(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  if (!(ms > 0)) throw new InvalidArgumentError(`${JSON.stringify(text)} must be longer than 0, e.g. 5s`);
  return ms;
}

/** A command's connection to its server, with the namespace it works in. */
export interface Session {
  client: ApiClient;
  discovery: Discovery;
  namespace: string;
  /** Whether -n was given (apply refuses objects of another namespace then). */
  namespaceGiven: boolean;
  /** The kubeconfig context used, if any (the agent takes its gRPC address and TLS from it). */
  kubeconfig?: KubeconfigTarget;
}

/** The value of an option on this command or, if not given there, on a parent. */
function optionValue(command: Command, key: string): string | undefined {
  for (let c: Command | null = command; c !== null; c = c.parent) {
    const v: unknown = c.getOptionValue(key);
    if (typeof v === "string") return v;
  }
  return undefined;
}

/** The client, discovery and namespace for a command that has parsed its options. */
export function sessionFor(command: Command, ctx: CliContext): Session {
  const nonEmpty = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);
  const explicitServer = nonEmpty(optionValue(command, "server")) ?? nonEmpty(ctx.env.SETPOINT_SERVER);
  const kubeconfigFlag = nonEmpty(optionValue(command, "kubeconfig"));
  // As kubectl: --kubeconfig, KUBECONFIG, ~/.kube/config. An explicit --server
  // or SETPOINT_SERVER without --kubeconfig means: not the kubeconfig's cluster.
  let kc: KubeconfigTarget | undefined;
  if (kubeconfigFlag !== undefined || explicitServer === undefined) {
    try {
      kc = loadKubeconfig({ kubeconfig: kubeconfigFlag, context: nonEmpty(optionValue(command, "context")), env: ctx.env });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const server = explicitServer ?? kc?.server ?? DEFAULT_SERVER;
  const token = nonEmpty(optionValue(command, "token")) ?? nonEmpty(ctx.env.SETPOINT_TOKEN) ?? kc?.token;
  const ns = optionValue(command, "namespace");
  let timeoutMs: number | undefined;
  for (let c: Command | null = command; c !== null && timeoutMs === undefined; c = c.parent) {
    const v: unknown = c.getOptionValue("requestTimeout");
    if (typeof v === "number") timeoutMs = v;
  }
  const client = new ApiClient({ server, token, timeoutMs, tls: kc ? tlsOptionsOf(kc) : undefined, onWarning: (text) => ctx.err(`Warning: ${text}`) });
  const session: Session = { client, discovery: new Discovery(client), namespace: ns ?? kc?.namespace ?? DEFAULT_NAMESPACE, namespaceGiven: ns !== undefined };
  if (kc) session.kubeconfig = kc;
  return session;
}
