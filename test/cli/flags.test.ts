import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { FlagError, SERVER_FLAGS, parseBoolean, parseByteSize, parseDuration, parseServerArgs, resolveServerOptions } from "../../src/cli/flags.ts";
import { defaultServerOptions } from "../../src/server/options.ts";

describe("parseDuration", () => {
  it("parses Go-style durations into milliseconds", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("1m30s250ms"), 90_250);
    assert.equal(parseDuration("1.5h"), 5_400_000);
    assert.equal(parseDuration("0s"), 0);
  });

  it("reads a bare number as seconds", () => {
    assert.equal(parseDuration("10"), 10_000);
    assert.equal(parseDuration("0.25"), 250);
    assert.equal(parseDuration("0"), 0);
  });

  it("rejects anything else with a RangeError quoting the input", () => {
    for (const bad of ["", " ", "abc", "5x", "-5s", "5 s", "s", "1h-30m", "5sm", "1e3", "ms5", "1..5s", "5d"]) {
      assert.throws(
        () => parseDuration(bad),
        (e: unknown) => {
          assert.ok(e instanceof RangeError, `${JSON.stringify(bad)} should throw RangeError`);
          assert.match(e.message, new RegExp(JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
          return true;
        },
      );
    }
  });
});

describe("parseByteSize", () => {
  it("parses plain bytes and binary suffixes", () => {
    assert.equal(parseByteSize("65536"), 65_536);
    assert.equal(parseByteSize("512Ki"), 512 * 1024);
    assert.equal(parseByteSize("16Mi"), 16 * 1024 * 1024);
    assert.equal(parseByteSize("2Gi"), 2 * 1024 ** 3);
    assert.equal(parseByteSize("1.5MiB"), 1.5 * 1024 * 1024);
  });

  it("rejects unknown suffixes, signs and junk", () => {
    for (const bad of ["", "16M", "16mb", "16 Mi", "-1", "Mi", "16B", "1e6", "sixteen", "16Mi5"]) {
      assert.throws(() => parseByteSize(bad), RangeError, `${JSON.stringify(bad)} should be rejected`);
    }
  });
});

describe("parseBoolean", () => {
  it("accepts the usual spellings and rejects others", () => {
    for (const t of ["1", "true", "TRUE", "yes", "on"]) assert.equal(parseBoolean(t), true);
    for (const t of ["0", "false", "no", "off"]) assert.equal(parseBoolean(t), false);
    assert.throws(() => parseBoolean("maybe"), RangeError);
  });
});

describe("resolveServerOptions", () => {
  it("returns the defaults when nothing is given", () => {
    assert.deepEqual(resolveServerOptions({}, {}), defaultServerOptions);
  });

  it("shows in help the same defaults that defaultServerOptions holds", () => {
    for (const s of SERVER_FLAGS) {
      if (s.defaultText === undefined) continue;
      assert.deepEqual(s.parse(s.defaultText), defaultServerOptions[s.key], s.flag);
    }
  });

  it("parses every flag", () => {
    const options = resolveServerOptions(
      {
        "--host": "0.0.0.0",
        "--http-port": "0",
        "--grpc-port": "-1",
        "--data-dir": "/var/lib/setpoint",
        "--bookmark-interval": "500ms",
        "--history-window": "1h30m",
        "--history-min-events": "42",
        "--watch-buffer-bytes": "1Mi",
        "--quota-backend-bytes": "64Mi",
        "--watch-memory-budget": "256Mi",
        "--max-watches-per-client": "7",
        "--no-fsync": true,
        "--token": "s3cret",
        "--token-auth-file": "/etc/setpoint/tokens.csv",
        "--client-ca-file": "/etc/setpoint/ca.crt",
        "--tls-cert-file": "/etc/setpoint/tls.crt",
        "--tls-private-key-file": "/etc/setpoint/tls.key",
        "--authorization-mode": "RBAC",
        "--max-requests-inflight": "10",
        "--max-mutating-requests-inflight": "5",
        "--max-watches-per-user": "7",
        "--grpc-max-streams-per-connection": "1000",
        "--max-request-header-bytes": "64Ki",
        "--no-response-compression": true,
        "--audit-log-path": "/var/log/setpoint/audit.log",
        "--log-level": "DEBUG",
        "--workers": "3",
        "--store": "etcd",
        "--etcd-servers": "http://127.0.0.1:2379, https://h2:2379",
        "--etcd-prefix": "/sp",
        "--etcd-cafile": "/tls/ca.pem",
        "--etcd-certfile": "/tls/client.pem",
        "--etcd-keyfile": "/tls/client-key.pem",
        "--etcd-request-timeout": "2s",
        "--shutdown-grace": "45s",
      },
      {},
    );
    assert.deepEqual(options, {
      host: "0.0.0.0",
      httpPort: 0,
      grpcPort: -1,
      dataDir: "/var/lib/setpoint",
      bookmarkIntervalMs: 500,
      historyWindowMs: 5_400_000,
      historyMinEvents: 42,
      watchBufferBytes: 1024 * 1024,
      quotaBackendBytes: 64 * 1024 * 1024,
      watchMemoryBudgetBytes: 256 * 1024 * 1024,
      maxWatchesPerClient: 7,
      durable: false,
      token: "s3cret",
      tokenAuthFile: "/etc/setpoint/tokens.csv",
      clientCaFile: "/etc/setpoint/ca.crt",
      tlsCertFile: "/etc/setpoint/tls.crt",
      tlsPrivateKeyFile: "/etc/setpoint/tls.key",
      tlsReloadIntervalMs: 10_000,
      authorizationMode: "RBAC",
      maxRequestsInflight: 10,
      maxMutatingRequestsInflight: 5,
      maxWatchesPerUser: 7,
      grpcMaxStreamsPerConnection: 1000,
      maxRequestHeaderBytes: 64 * 1024,
      responseCompression: false,
      auditLogPath: "/var/log/setpoint/audit.log",
      logLevel: "debug",
      workers: 3,
      store: "etcd",
      etcdServers: ["http://127.0.0.1:2379", "https://h2:2379"],
      etcdPrefix: "/sp",
      etcdCaFile: "/tls/ca.pem",
      etcdCertFile: "/tls/client.pem",
      etcdKeyFile: "/tls/client-key.pem",
      etcdRequestTimeoutMs: 2000,
      shutdownGraceMs: 45_000,
    });
  });

  it("takes SETPOINT_* variables over defaults, and flags over variables", () => {
    const env = {
      SETPOINT_HTTP_PORT: "8181",
      SETPOINT_HISTORY_WINDOW: "10m",
      SETPOINT_WATCH_BUFFER_BYTES: "4096",
      SETPOINT_NO_FSYNC: "1",
      SETPOINT_TOKEN: "from-env",
    };
    const fromEnv = resolveServerOptions({}, env);
    assert.equal(fromEnv.httpPort, 8181);
    assert.equal(fromEnv.historyWindowMs, 600_000);
    assert.equal(fromEnv.watchBufferBytes, 4096);
    assert.equal(fromEnv.durable, false);
    assert.equal(fromEnv.token, "from-env");

    const both = resolveServerOptions({ "--http-port": "9999", "--token": "from-flag" }, env);
    assert.equal(both.httpPort, 9999);
    assert.equal(both.token, "from-flag");
    assert.equal(both.historyWindowMs, 600_000);
  });

  it("treats SETPOINT_NO_FSYNC=0 and empty variables as not set", () => {
    assert.equal(resolveServerOptions({}, { SETPOINT_NO_FSYNC: "0" }).durable, true);
    assert.equal(resolveServerOptions({}, { SETPOINT_NO_FSYNC: "" }).durable, true);
    assert.equal(resolveServerOptions({}, {}).responseCompression, true);
    assert.equal(resolveServerOptions({}, { SETPOINT_NO_RESPONSE_COMPRESSION: "1" }).responseCompression, false);
    assert.equal(resolveServerOptions({}, { SETPOINT_NO_RESPONSE_COMPRESSION: "0" }).responseCompression, true);
    assert.equal(resolveServerOptions({}, { SETPOINT_TOKEN: "" }).token, undefined);
    assert.equal(resolveServerOptions({}, { SETPOINT_HTTP_PORT: "" }).httpPort, 8080);
  });

  it("names the flag and the value in errors", () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ "--http-port": "http" }, "--http-port"],
      [{ "--http-port": "65536" }, "--http-port"],
      [{ "--http-port": "-1" }, "--http-port"],
      [{ "--http-port": "80.5" }, "--http-port"],
      [{ "--grpc-port": "-2" }, "--grpc-port"],
      [{ "--bookmark-interval": "0s" }, "--bookmark-interval"],
      [{ "--bookmark-interval": "soon" }, "--bookmark-interval"],
      [{ "--history-window": "5 minutes" }, "--history-window"],
      [{ "--history-min-events": "-3" }, "--history-min-events"],
      [{ "--history-min-events": "1e5" }, "--history-min-events"],
      [{ "--watch-buffer-bytes": "16MB" }, "--watch-buffer-bytes"],
      [{ "--watch-buffer-bytes": "0" }, "--watch-buffer-bytes"],
      [{ "--log-level": "loud" }, "--log-level"],
      [{ "--host": "" }, "--host"],
      [{ "--data-dir": " " }, "--data-dir"],
      [{ "--token": "" }, "--token"],
    ];
    for (const [cli, flag] of cases) {
      const value = Object.values(cli)[0]!;
      assert.throws(
        () => resolveServerOptions(cli, {}),
        (e: unknown) => {
          assert.ok(e instanceof FlagError, `${flag}=${value} should throw FlagError`);
          assert.equal(e.flag, flag);
          assert.ok(e.message.includes(flag), e.message);
          assert.ok(e.message.includes(JSON.stringify(value)), e.message);
          return true;
        },
      );
    }
  });

  it("names the variable when a bad value came from the environment", () => {
    assert.throws(
      () => resolveServerOptions({}, { SETPOINT_NO_FSYNC: "maybe" }),
      (e: unknown) => e instanceof FlagError && e.flag === "--no-fsync" && e.message.includes("SETPOINT_NO_FSYNC"),
    );
    assert.throws(
      () => resolveServerOptions({}, { SETPOINT_GRPC_PORT: "x" }),
      (e: unknown) => e instanceof FlagError && /SETPOINT_GRPC_PORT \(for --grpc-port\)/.test(e.message),
    );
  });
});

/** Runs parseServerArgs, capturing what it would print. */
function run(argv: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const io = { version: "1.2.3", writeOut: (s: string) => (out += s), writeErr: (s: string) => (err += s) };
  try {
    return { options: parseServerArgs(argv, env, io), out, err, exitCode: undefined };
  } catch (error) {
    assert.ok(error instanceof CommanderError, String(error));
    return { options: undefined, out, err, exitCode: error.exitCode };
  }
}

describe("parseServerArgs", () => {
  it("parses flags in both --flag value and --flag=value forms", () => {
    const r = run(["--http-port", "0", "--grpc-port=-1", "--no-fsync", "--data-dir", "/tmp/x"]);
    assert.equal(r.exitCode, undefined, r.err);
    assert.equal(r.options?.httpPort, 0);
    assert.equal(r.options?.grpcPort, -1);
    assert.equal(r.options?.durable, false);
    assert.equal(r.options?.dataDir, "/tmp/x");
  });

  it("lets flags win over the environment", () => {
    const r = run(["--log-level", "warn"], { SETPOINT_LOG_LEVEL: "debug", SETPOINT_HOST: "::1" });
    assert.equal(r.options?.logLevel, "warn");
    assert.equal(r.options?.host, "::1");
  });

  it("exits 2 naming the flag for a bad value", () => {
    const r = run(["--bookmark-interval", "fast"]);
    assert.equal(r.exitCode, 2);
    assert.match(r.err, /--bookmark-interval/);
    assert.match(r.err, /"fast"/);
    assert.match(r.err, /--help/);
  });

  it("exits 2 for flags that do not go together, naming them (API.md §8, §9)", () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["--store", "etcd"], {}, /--store etcd needs --etcd-servers/],
      [["--etcd-servers", "http://127.0.0.1:2379"], {}, /--etcd-servers is for --store etcd/],
      [[], { SETPOINT_ETCD_SERVERS: "http://127.0.0.1:2379" }, /--etcd-servers is for --store etcd/],
      [["--store", "etcd", "--etcd-servers", "http://127.0.0.1:2379", "--etcd-certfile", "/c.pem"], {}, /--etcd-certfile and --etcd-keyfile go together/],
      [["--store", "etcd", "--etcd-servers", "http://127.0.0.1:2379", "--etcd-keyfile", "/k.pem"], {}, /--etcd-certfile and --etcd-keyfile go together/],
      [["--tls-cert-file", "/c.pem"], {}, /--tls-cert-file and --tls-private-key-file go together/],
      [["--tls-private-key-file", "/k.pem"], {}, /--tls-cert-file and --tls-private-key-file go together/],
      [["--client-ca-file", "/ca.pem"], {}, /--client-ca-file needs TLS/],
    ];
    for (const [argv, env, message] of cases) {
      const r = run(argv, env);
      assert.equal(r.exitCode, 2, `${argv.join(" ")}: ${r.err}`);
      assert.match(r.err, message);
    }
    const etcd = run(["--store", "etcd", "--etcd-servers", "http://127.0.0.1:2379", "--etcd-certfile", "/c.pem", "--etcd-keyfile", "/k.pem"]);
    assert.equal(etcd.exitCode, undefined, etcd.err);
    const tls = run(["--tls-cert-file", "/c.pem", "--tls-private-key-file", "/k.pem", "--client-ca-file", "/ca.pem"]);
    assert.equal(tls.exitCode, undefined, tls.err);
  });

  it("exits 2 for an unknown flag, a missing value or a stray argument", () => {
    assert.equal(run(["--htp-port", "1"]).exitCode, 2);
    assert.equal(run(["--http-port"]).exitCode, 2);
    assert.equal(run(["serve"]).exitCode, 2);
  });

  it("prints help describing every flag with its default and variable", () => {
    const r = run(["--help"]);
    assert.equal(r.exitCode, 0);
    const help = r.out.replace(/\s+/g, " "); // undo line wrapping
    assert.match(help, /control plane/);
    for (const s of SERVER_FLAGS) {
      assert.ok(help.includes(s.flag), `help lacks ${s.flag}`);
      assert.ok(help.includes(s.env), `help lacks ${s.env}`);
      if (s.defaultText !== undefined) assert.ok(help.includes(`default: ${s.defaultText}`), `help lacks default of ${s.flag}`);
    }
    assert.match(help, /1h30m/);
  });

  it("prints the version", () => {
    const r = run(["--version"]);
    assert.equal(r.exitCode, 0);
    assert.equal(r.out.trim(), "1.2.3");
  });
});
