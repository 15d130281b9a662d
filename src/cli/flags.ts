// Command-line flags of `setpoint-server`: the flag table, the parsers for
// durations, byte sizes, ports and counts, and the resolution of flags and
// SETPOINT_* environment variables into ServerOptions. Nothing here touches
// process state: main.ts passes in argv and env and decides how to exit.
//
// Precedence, per flag: a value on the command line wins over the
// environment variable, which wins over defaultServerOptions. An empty
// environment variable counts as unset.

import { Command, Option } from "commander";
import { defaultServerOptions, type ServerOptions } from "../server/options.ts";

/** A flag or environment value that does not parse. `flag` is e.g. `--http-port`. */
export class FlagError extends Error {
  override name = "FlagError";
  readonly flag: string;
  constructor(flag: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.flag = flag;
  }
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)/gy;

/**
 * Parses a Go-style duration (`500ms`, `30s`, `5m`, `1h30m`, `1.5h`) or a bare
 * number of seconds (`10`, `0.5`) into whole milliseconds, rounded.
 * Throws RangeError on anything else, including negative values.
 * @example parseDuration("1h30m") // 5_400_000
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  let ms: number;
  if (/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(s)) {
    ms = Number(s) * 1000;
  } else {
    ms = 0;
    DURATION_PART.lastIndex = 0;
    let end = 0;
    for (let m = DURATION_PART.exec(s); m !== null; m = DURATION_PART.exec(s)) {
      ms += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
      end = DURATION_PART.lastIndex;
    }
    if (s === "" || end !== s.length) {
      throw new RangeError(
        `invalid duration ${JSON.stringify(text)}: use a number with a unit (ms, s, m, h), ` + `e.g. 500ms, 30s, 5m, 1h30m, or a bare number of seconds`,
      );
    }
  }
  ms = Math.round(ms);
  if (!Number.isSafeInteger(ms)) throw new RangeError(`invalid duration ${JSON.stringify(text)}: too large`);
  return ms;
}

const SIZE_UNIT: Record<string, number> = { "": 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/**
 * Parses a byte size: plain bytes (`65536`) or a binary suffix `Ki`, `Mi`,
 * `Gi`, `Ti`, optionally followed by `B` (`16Mi`, `1.5GiB`). Rounds to whole
 * bytes. Throws RangeError on anything else.
 * @example parseByteSize("16Mi") // 16_777_216
 */
export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)?(B?)$/.exec(text.trim());
  if (m === null || (m[3] === "B" && m[2] === undefined)) {
    throw new RangeError(`invalid size ${JSON.stringify(text)}: use bytes or a number with Ki, Mi, Gi or Ti, e.g. 65536, 512Ki, 16Mi`);
  }
  const bytes = Math.round(Number(m[1]) * SIZE_UNIT[m[2] ?? ""]!);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`invalid size ${JSON.stringify(text)}: too large`);
  return bytes;
}

/** Parses a decimal integer (optional leading `-`); throws RangeError otherwise. */
export function parseInteger(text: string): number {
  const s = text.trim();
  const n = Number(s);
  if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(n)) {
    throw new RangeError(`invalid integer ${JSON.stringify(text)}`);
  }
  return n;
}

/** Parses a boolean environment value: 1/true/yes/on or 0/false/no/off. */
export function parseBoolean(text: string): boolean {
  const s = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  throw new RangeError(`invalid boolean ${JSON.stringify(text)}: use 1/true/yes/on or 0/false/no/off`);
}

/** Log levels pino understands, quietest last. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

function port(text: string, { allowDisable = false } = {}): number {
  const n = parseInteger(text);
  if ((n < 0 || n > 65535) && !(allowDisable && n === -1)) {
    throw new RangeError(`port ${n} is out of range: use 0-65535 (0 picks a free port${allowDisable ? ", -1 disables" : ""})`);
  }
  return n;
}

function atLeast(min: number, parse: (text: string) => number, unit = "") {
  return (text: string): number => {
    const n = parse(text);
    if (n < min) throw new RangeError(`${JSON.stringify(text)} is too small: must be at least ${min}${unit}`);
    return n;
  };
}

function nonEmpty(what: string) {
  return (text: string): string => {
    if (text.trim() === "") throw new RangeError(`${what} must not be empty`);
    return text;
  };
}

/** One server flag: how it is spelled, where its value comes from and how it parses. */
export interface FlagSpec<K extends keyof ServerOptions = keyof ServerOptions> {
  /** Long flag, e.g. `--http-port`. */
  flag: string;
  /** Placeholder in help, e.g. `<port>`; absent for a switch that takes no value. */
  value?: string;
  /** Environment variable, e.g. `SETPOINT_HTTP_PORT`. */
  env: string;
  /** The option this flag sets. */
  key: K;
  /** One line of help; the default and env var are appended. */
  help: string;
  /** The default as a user would write it, shown in help; must parse to defaultServerOptions[key]. */
  defaultText?: string;
  /** Turns the flag's text (or env value) into the option value; throws RangeError if bad. */
  parse(text: string): ServerOptions[K];
  /** For a switch: the option value when the flag is given on the command line. */
  whenGiven?: ServerOptions[K];
}

type AnyFlagSpec = { [K in keyof ServerOptions]-?: FlagSpec<K> }[keyof ServerOptions];
const spec = <K extends keyof ServerOptions>(s: FlagSpec<K>): AnyFlagSpec => s as unknown as AnyFlagSpec;

/** Every flag of `setpoint-server`, in help order. */
export const SERVER_FLAGS: readonly AnyFlagSpec[] = [
  spec({
    flag: "--host",
    value: "<address>",
    env: "SETPOINT_HOST",
    key: "host",
    defaultText: "127.0.0.1",
    help: "address to listen on for HTTP and gRPC (0.0.0.0 or :: for all interfaces)",
    parse: nonEmpty("host"),
  }),
  spec({
    flag: "--http-port",
    value: "<port>",
    env: "SETPOINT_HTTP_PORT",
    key: "httpPort",
    defaultText: "8080",
    help: "HTTP/WebSocket port for the REST and watch API; 0 picks a free port",
    parse: (t) => port(t),
  }),
  spec({
    flag: "--grpc-port",
    value: "<port>",
    env: "SETPOINT_GRPC_PORT",
    key: "grpcPort",
    defaultText: "9090",
    help: "gRPC port for agents; 0 picks a free port, -1 disables gRPC",
    parse: (t) => port(t, { allowDisable: true }),
  }),
  spec({
    flag: "--data-dir",
    value: "<path>",
    env: "SETPOINT_DATA_DIR",
    key: "dataDir",
    defaultText: "./data",
    help: "directory of the LMDB store; created if missing",
    parse: nonEmpty("data directory"),
  }),
  spec({
    flag: "--store",
    value: "<lmdb|etcd>",
    env: "SETPOINT_STORE",
    key: "store",
    defaultText: "lmdb",
    help: "where objects live: lmdb (embedded, in --data-dir) or etcd (--etcd-servers; run any number of replicas)",
    parse: (t) => {
      const v = t.trim().toLowerCase();
      if (v !== "lmdb" && v !== "etcd") throw new RangeError(`unknown store ${JSON.stringify(t)}: use lmdb or etcd`);
      return v;
    },
  }),
  spec({
    flag: "--etcd-servers",
    value: "<urls>",
    env: "SETPOINT_ETCD_SERVERS",
    key: "etcdServers",
    help: "comma-separated etcd client URLs for --store etcd, e.g. http://h1:2379,http://h2:2379",
    parse: (t) => {
      const urls = t
        .split(",")
        .map((u) => u.trim())
        .filter((u) => u !== "");
      if (urls.length === 0) throw new RangeError("etcd servers must not be empty");
      for (const u of urls) {
        let url: URL;
        try {
          url = new URL(u);
        } catch {
          throw new RangeError(`invalid etcd URL ${JSON.stringify(u)}: use http(s)://host:port`);
        }
        if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError(`invalid etcd URL ${JSON.stringify(u)}: use http(s)://host:port`);
      }
      return urls;
    },
  }),
  spec({
    flag: "--etcd-prefix",
    value: "<prefix>",
    env: "SETPOINT_ETCD_PREFIX",
    key: "etcdPrefix",
    defaultText: "/setpoint",
    help: "key prefix of everything Setpoint stores in etcd",
    parse: nonEmpty("etcd prefix"),
  }),
  spec({
    flag: "--etcd-cafile",
    value: "<path>",
    env: "SETPOINT_ETCD_CAFILE",
    key: "etcdCaFile",
    help: "CA bundle to verify etcd's TLS certificate",
    parse: nonEmpty("etcd CA file"),
  }),
  spec({
    flag: "--etcd-certfile",
    value: "<path>",
    env: "SETPOINT_ETCD_CERTFILE",
    key: "etcdCertFile",
    help: "client certificate for etcd over TLS",
    parse: nonEmpty("etcd certificate file"),
  }),
  spec({
    flag: "--etcd-keyfile",
    value: "<path>",
    env: "SETPOINT_ETCD_KEYFILE",
    key: "etcdKeyFile",
    help: "private key of the etcd client certificate",
    parse: nonEmpty("etcd key file"),
  }),
  spec({
    flag: "--etcd-request-timeout",
    value: "<duration>",
    env: "SETPOINT_ETCD_REQUEST_TIMEOUT",
    key: "etcdRequestTimeoutMs",
    defaultText: "5s",
    help: "deadline of each etcd request; past it writes and lists fail with 503 ServiceUnavailable",
    parse: atLeast(1, parseDuration, " ms"),
  }),
  spec({
    flag: "--bookmark-interval",
    value: "<duration>",
    env: "SETPOINT_BOOKMARK_INTERVAL",
    key: "bookmarkIntervalMs",
    defaultText: "5s",
    help: "how often watchers that asked for bookmarks receive one",
    parse: atLeast(1, parseDuration, " ms"),
  }),
  spec({
    flag: "--shutdown-grace",
    value: "<duration>",
    env: "SETPOINT_SHUTDOWN_GRACE",
    key: "shutdownGraceMs",
    defaultText: "20s",
    help: "on SIGTERM, how long requests in flight (a long list, a write, a gRPC call) may take to finish before their connections are cut; watches are closed at once",
    parse: parseDuration,
  }),
  spec({
    flag: "--history-window",
    value: "<duration>",
    env: "SETPOINT_HISTORY_WINDOW",
    key: "historyWindowMs",
    defaultText: "5m",
    help: "keep at least this much change history for watches and lists at old revisions",
    parse: parseDuration,
  }),
  spec({
    flag: "--history-min-events",
    value: "<count>",
    env: "SETPOINT_HISTORY_MIN_EVENTS",
    key: "historyMinEvents",
    defaultText: "100000",
    help: "keep at least this many changes in history, however old",
    parse: atLeast(0, parseInteger),
  }),
  spec({
    flag: "--watch-buffer-bytes",
    value: "<size>",
    env: "SETPOINT_WATCH_BUFFER_BYTES",
    key: "watchBufferBytes",
    defaultText: "16Mi",
    help: "a watcher with more unsent bytes than this is disconnected (bytes, or Ki/Mi/Gi suffix)",
    parse: atLeast(1, parseByteSize, " byte"),
  }),
  spec({
    flag: "--watch-memory-budget",
    value: "<size>",
    env: "SETPOINT_WATCH_MEMORY_BUDGET",
    key: "watchMemoryBudgetBytes",
    help: "when the unsent bytes of all watchers together pass this, the watchers furthest behind are disconnected; 0 for no budget (default: 1/16 of RAM, 64Mi to 1Gi)",
    parse: atLeast(0, parseByteSize, " byte"),
  }),
  spec({
    flag: "--quota-backend-bytes",
    value: "<size>",
    env: "SETPOINT_QUOTA_BACKEND_BYTES",
    key: "quotaBackendBytes",
    defaultText: "2Gi",
    help: "past this much stored data and history, writes get 507 until deletes and compaction free room; 0 for no quota",
    parse: atLeast(0, parseByteSize, " byte"),
  }),
  spec({
    flag: "--max-watches-per-client",
    value: "<count>",
    env: "SETPOINT_MAX_WATCHES_PER_CLIENT",
    key: "maxWatchesPerClient",
    defaultText: "5000",
    help: "most WebSocket and HTTP watches one client address may hold open; past it a new watch gets 429; 0 for no cap",
    parse: atLeast(0, parseInteger),
  }),
  spec({
    flag: "--no-fsync",
    env: "SETPOINT_NO_FSYNC",
    key: "durable",
    help: "relax durability: acknowledge writes before they are fsync'd (faster; a crash may lose acknowledged writes)",
    parse: (t) => !parseBoolean(t),
    whenGiven: false,
  }),
  spec({
    flag: "--workers",
    value: "<count>",
    env: "SETPOINT_WORKERS",
    key: "workers",
    help: "server processes sharing the ports and the data directory (default: the number of cores; 1 runs one process)",
    parse: atLeast(1, parseInteger),
  }),
  spec({
    flag: "--token",
    value: "<token>",
    env: "SETPOINT_TOKEN",
    key: "token",
    help: "shorthand for one token of user admin in group system:masters (prefer the env var: flags show in ps)",
    parse: nonEmpty("token"),
  }),
  spec({
    flag: "--token-auth-file",
    value: "<path>",
    env: "SETPOINT_TOKEN_AUTH_FILE",
    key: "tokenAuthFile",
    help: 'static token file as kube-apiserver reads it: one line token,user,uid,"group1,group2" per token',
    parse: nonEmpty("token file"),
  }),
  spec({
    flag: "--client-ca-file",
    value: "<path>",
    env: "SETPOINT_CLIENT_CA_FILE",
    key: "clientCaFile",
    help: "client certificates signed by this CA authenticate: CN is the user, O the groups (needs TLS)",
    parse: nonEmpty("client CA file"),
  }),
  spec({
    flag: "--tls-cert-file",
    value: "<path>",
    env: "SETPOINT_TLS_CERT_FILE",
    key: "tlsCertFile",
    help: "serve HTTPS/WSS and gRPC over TLS 1.2+ with this certificate (PEM); reloaded when it changes",
    parse: nonEmpty("TLS certificate file"),
  }),
  spec({
    flag: "--tls-private-key-file",
    value: "<path>",
    env: "SETPOINT_TLS_PRIVATE_KEY_FILE",
    key: "tlsPrivateKeyFile",
    help: "private key (PEM) of --tls-cert-file",
    parse: nonEmpty("TLS private key file"),
  }),
  spec({
    flag: "--authorization-mode",
    value: "<mode>",
    env: "SETPOINT_AUTHORIZATION_MODE",
    key: "authorizationMode",
    defaultText: "AlwaysAllow",
    help: "AlwaysAllow, or RBAC (Role, ClusterRole, RoleBinding, ClusterRoleBinding in rbac.authorization.k8s.io/v1)",
    parse: (t) => {
      const mode = t.trim();
      if (mode !== "AlwaysAllow" && mode !== "RBAC") throw new RangeError(`unknown authorization mode ${JSON.stringify(t)}: use AlwaysAllow or RBAC`);
      return mode;
    },
  }),
  spec({
    flag: "--max-request-header-bytes",
    value: "<size>",
    env: "SETPOINT_MAX_REQUEST_HEADER_BYTES",
    key: "maxRequestHeaderBytes",
    defaultText: "1Mi",
    help: "bytes of a request's line and headers (a large bearer token, many cookies); past it 431 (bytes, or Ki/Mi/Gi suffix; Go's and kube-apiserver's default)",
    parse: atLeast(1024, parseByteSize, " byte"),
  }),
  spec({
    flag: "--no-response-compression",
    env: "SETPOINT_NO_RESPONSE_COMPRESSION",
    key: "responseCompression",
    help: "never gzip REST answers (by default one over 128Ki goes out gzipped when the request sends Accept-Encoding: gzip, as kube-apiserver's APIResponseCompression), nor gRPC lists that ask for it",
    parse: (t) => !parseBoolean(t),
    whenGiven: false,
  }),
  spec({
    flag: "--max-requests-inflight",
    value: "<count>",
    env: "SETPOINT_MAX_REQUESTS_INFLIGHT",
    key: "maxRequestsInflight",
    defaultText: "400",
    help: "read requests served at once; past it 429 with Retry-After (watches do not count; 0 = no limit)",
    parse: atLeast(0, parseInteger),
  }),
  spec({
    flag: "--max-mutating-requests-inflight",
    value: "<count>",
    env: "SETPOINT_MAX_MUTATING_REQUESTS_INFLIGHT",
    key: "maxMutatingRequestsInflight",
    defaultText: "200",
    help: "writes served at once; past it 429 with Retry-After (0 = no limit); also bounds the request bodies and gRPC request messages being received at once, 1 MiB per write",
    parse: atLeast(0, parseInteger),
  }),
  spec({
    flag: "--max-watches-per-user",
    value: "<count>",
    env: "SETPOINT_MAX_WATCHES_PER_USER",
    key: "maxWatchesPerUser",
    defaultText: "1000",
    help: "watches one authenticated user may hold open at once, all transports together; past it 429 (0 = no limit)",
    parse: atLeast(0, parseInteger),
  }),
  spec({
    flag: "--grpc-max-streams-per-connection",
    value: "<count>",
    env: "SETPOINT_GRPC_MAX_STREAMS_PER_CONNECTION",
    key: "grpcMaxStreamsPerConnection",
    defaultText: "250",
    help: "calls one gRPC connection may have open at once (HTTP/2 max concurrent streams, as kube-apiserver's --http2-max-streams-per-connection); a client's further calls wait for one to end. Raise it behind a proxy that multiplexes many clients onto one connection (0 = no limit)",
    parse: atLeast(0, parseInteger),
  }),
  spec({
    flag: "--audit-log-path",
    value: "<path>",
    env: "SETPOINT_AUDIT_LOG_PATH",
    key: "auditLogPath",
    help: "append one audit.k8s.io/v1 Event (level Metadata) per request to this file",
    parse: nonEmpty("audit log path"),
  }),
  spec({
    flag: "--log-level",
    value: "<level>",
    env: "SETPOINT_LOG_LEVEL",
    key: "logLevel",
    defaultText: "info",
    help: `log level: ${LOG_LEVELS.join(", ")}`,
    parse: (t) => {
      const level = t.trim().toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        throw new RangeError(`unknown log level ${JSON.stringify(t)}: use one of ${LOG_LEVELS.join(", ")}`);
      }
      return level;
    },
  }),
];

/** What the command line gave, by long flag: a string value, or `true` for a switch. */
export type CliValues = Readonly<Record<string, string | true | undefined>>;

/**
 * Resolves command-line values and environment variables into ServerOptions:
 * flag over env over default. Throws FlagError naming the flag (and the env
 * var, if the bad value came from there).
 * @example resolveServerOptions({ "--http-port": "0" }, { SETPOINT_NO_FSYNC: "1" })
 */
export function resolveServerOptions(cli: CliValues, env: Readonly<Record<string, string | undefined>>): ServerOptions {
  const options: Record<string, unknown> = { ...defaultServerOptions };
  for (const s of SERVER_FLAGS) {
    const given = cli[s.flag];
    if (given === true) {
      options[s.key] = s.whenGiven;
      continue;
    }
    const fromEnv = given === undefined;
    const text = given ?? env[s.env];
    if (text === undefined || (fromEnv && text === "")) continue;
    try {
      options[s.key] = s.parse(text);
    } catch (error) {
      const where = fromEnv ? `${s.env} (for ${s.flag})` : s.flag;
      const reason = error instanceof Error ? error.message : String(error);
      throw new FlagError(s.flag, `invalid value ${JSON.stringify(text)} for ${where}: ${reason}`, { cause: error });
    }
  }
  checkTogether(options as unknown as ServerOptions);
  return options as unknown as ServerOptions;
}

/** Throws FlagError for flags that are each valid but do not go together. */
function checkTogether(o: ServerOptions): void {
  if (o.store === "etcd" && o.etcdServers.length === 0) throw new FlagError("--etcd-servers", "--store etcd needs --etcd-servers, e.g. http://127.0.0.1:2379");
  // Ignoring them would serve from a local LMDB store while the operator thinks every replica shares etcd.
  if (o.store !== "etcd" && o.etcdServers.length > 0) throw new FlagError("--etcd-servers", "--etcd-servers is for --store etcd: add --store etcd");
  if ((o.etcdCertFile === undefined) !== (o.etcdKeyFile === undefined))
    throw new FlagError("--etcd-certfile", "--etcd-certfile and --etcd-keyfile go together");
  if ((o.tlsCertFile === undefined) !== (o.tlsPrivateKeyFile === undefined))
    throw new FlagError("--tls-cert-file", "--tls-cert-file and --tls-private-key-file go together");
  if (o.clientCaFile !== undefined && o.tlsCertFile === undefined)
    throw new FlagError("--client-ca-file", "--client-ca-file needs TLS: set --tls-cert-file and --tls-private-key-file");
}

const DESCRIPTION = `Setpoint is a lightweight, declarative, level-triggered control plane. Users
declare the desired state of resources through a Kubernetes-style REST API;
the server stores every object in LMDB (or in etcd, --store etcd) under a
global revision number and streams each change to watchers over HTTP,
WebSocket and gRPC, while agents watch their objects, drive the world towards
the declared spec and report what they observe in status. This command runs
the server. Every flag can also be set with the environment variable shown; a
flag wins over its variable.`;

const FORMATS = `
Formats:
  durations  500ms, 30s, 5m, 1h, 1h30m, or a bare number of seconds
  sizes      bytes, or a number with Ki, Mi, Gi or Ti (e.g. 512Ki, 16Mi)
  switches   from the environment: 1/true/yes/on or 0/false/no/off
`;

/** Output hooks, so tests can capture help and errors instead of printing them. */
export interface CommandOutput {
  /** Where help and version go. Default: process.stdout. */
  writeOut?: (text: string) => void;
  /** Where errors go. Default: process.stderr. */
  writeErr?: (text: string) => void;
}

/**
 * Builds the `setpoint-server` commander program (named `name`, e.g. `server`
 * as a subcommand of `setpoint`). It never exits the process:
 * help, version and errors throw a CommanderError (exitCode 0 for help and
 * version, 2 for bad usage) after writing their text.
 */
export function createServerCommand(options: { version: string; name?: string } & CommandOutput): Command {
  const name = options.name ?? "setpoint-server";
  const command = new Command(name)
    .description(DESCRIPTION)
    .version(options.version, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "print this help and exit")
    .allowExcessArguments(false)
    .showHelpAfterError(`(run ${name} --help for usage)`)
    .addHelpText("after", FORMATS)
    .configureHelp({ helpWidth: 100 })
    .exitOverride((error) => {
      throw Object.assign(error, { exitCode: error.exitCode === 0 ? 0 : 2 });
    });
  if (options.writeOut !== undefined || options.writeErr !== undefined) {
    command.configureOutput({
      ...(options.writeOut && { writeOut: options.writeOut }),
      ...(options.writeErr && { writeErr: options.writeErr }),
    });
  }
  for (const s of SERVER_FLAGS) {
    const notes = [s.defaultText !== undefined ? `default: ${s.defaultText}` : "", `env: ${s.env}`];
    command.addOption(new Option(`${s.flag}${s.value ? ` ${s.value}` : ""}`, `${s.help} (${notes.filter(Boolean).join("; ")})`));
  }
  return command;
}

/**
 * Parses argv (without the node and script entries) and env into ServerOptions.
 * Throws CommanderError after writing help, the version (exitCode 0) or a
 * usage error naming the flag (exitCode 2).
 */
export function parseServerArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: { version: string } & CommandOutput,
): ServerOptions {
  const command = createServerCommand(options);
  command.parse([...argv], { from: "user" });
  return serverOptionsOf(command, env);
}

/**
 * The ServerOptions of a server command (from createServerCommand) that has
 * parsed its arguments, e.g. inside its action when it is a subcommand of
 * another program. Throws CommanderError (exitCode 2) naming a bad flag.
 */
export function serverOptionsOf(command: Command, env: Readonly<Record<string, string | undefined>>): ServerOptions {
  const cli: Record<string, string | true> = {};
  for (const option of command.options) {
    const key = option.attributeName();
    if (option.long !== undefined && command.getOptionValueSource(key) === "cli") {
      const value: unknown = command.getOptionValue(key);
      cli[option.long] = typeof value === "string" ? value : true;
    }
  }
  try {
    return resolveServerOptions(cli, env);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    return command.error(`error: ${error.message}`, { exitCode: 2, code: "setpoint.invalidFlag" });
  }
}

/**
 * One line for a server that could not bind a port, naming the flag (and
 * variable) that changes it: what `setpoint server`, `setpoint up` and
 * `setpoint-server` print before exiting with code 2.
 */
export function listenErrorMessage(err: { listener: "http" | "grpc"; host: string; port: number; code: string }): string {
  const http = err.listener === "http";
  const what = http ? "HTTP" : "gRPC";
  const flag = http ? "--http-port (or SETPOINT_HTTP_PORT; 0 picks a free port)" : "--grpc-port (or SETPOINT_GRPC_PORT; 0 picks a free port)";
  const why =
    err.code === "EADDRINUSE"
      ? `port ${err.port} on ${err.host} is already in use (another Setpoint, or another program)`
      : err.code === "EACCES"
        ? `port ${err.port} on ${err.host} needs privileges this process lacks`
        : err.code === "EADDRNOTAVAIL"
          ? `${err.host} is not an address of this machine (see --host)`
          : `cannot listen on ${err.host}:${err.port} (${err.code})`;
  return `the ${what} ${why}: choose another with ${flag}`;
}
