// Errors that say what to do, one line each, from real processes: a taken
// HTTP or gRPC port names its flag (exit 2, no stack trace); https against the
// plain server, the gRPC port given as the HTTP URL, and the HTTP port given
// as the gRPC address each say what is wrong; an unreachable server's hint
// names `npm start` and `setpoint up`. `up` and `agent pipelines` check their
// shared options alike.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exited, LineReader, runSetpoint, runSetpointInProcess, spawnSetpoint, type CliResult } from "../helpers/cli.ts";
import { makePki } from "../helpers/pki.ts";
import { freePort } from "../helpers/ports.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
let dir: string;

before(async () => {
  s = await startTestServer({ grpcPort: 0 });
  dir = mkdtempSync(join(tmpdir(), "setpoint-errors-"));
});
after(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Asserts one line on stderr, no stack trace, and the exit code. */
function oneLine(r: CliResult, code: number, pattern: RegExp): void {
  const context = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, code, context);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, context);
  assert.doesNotMatch(r.stderr, /^\s+at /m, context);
  assert.match(r.stderr, pattern, context);
}

describe("taken ports", () => {
  it("server: a taken HTTP port names --http-port", async () => {
    const r = await runSetpoint(["server", "--http-port", String(s.server.port), "--grpc-port", "-1", "--data-dir", join(dir, "a")]);
    oneLine(r, 2, /^error: the HTTP port \d+ on 127\.0\.0\.1 is already in use .*choose another with --http-port/);
  });

  it("server and up: a taken gRPC port names --grpc-port, without grpc-js's own log line", async () => {
    for (const command of ["server", "up"]) {
      const r = await runSetpoint([command, "--http-port", "0", "--grpc-port", String(s.server.grpcPort), "--data-dir", join(dir, command)]);
      oneLine(r, 2, /^error: the gRPC port \d+ on 127\.0\.0\.1 is already in use .*choose another with --grpc-port/);
    }
  });

  it("up: a taken HTTP port names --http-port, and how to start beside the other server on free ports (npm start's way under npm start)", async () => {
    const r = await runSetpoint(["up", "--http-port", String(s.server.port), "--grpc-port", "0", "--data-dir", join(dir, "b")]);
    oneLine(r, 2, /--http-port.*; or setpoint up --http-port 0 --grpc-port 0 takes free ports for both and prints them\n$/);
    const npm = await runSetpoint(["up", "--http-port", String(s.server.port), "--grpc-port", "0", "--data-dir", join(dir, "b")], {
      env: { npm_lifecycle_event: "start" },
    });
    oneLine(npm, 2, /; or npm start -- --http-port 0 --grpc-port 0 takes free ports/);
  });
});

describe("the wrong address", () => {
  const port = () => s.server.port;

  it("https against the plain server says to use http://", async () => {
    const r = await runSetpointInProcess(["get", "resourcetypes", "--server", `https://127.0.0.1:${port()}`]);
    oneLine(r, 1, new RegExp(`does not speak TLS.*use --server http://127\\.0\\.0\\.1:${port()}`));
  });

  it("a server URL with a path (the console's /ui/ from up's banner) says the API is at the root", async () => {
    const server = `http://127.0.0.1:${port()}/ui/`;
    const [get, logs] = await Promise.all([
      runSetpointInProcess(["get", "resourcetypes", "--server", server]),
      runSetpointInProcess(["logs", "diamond", "--server", server]),
    ]);
    const said = new RegExp(
      `^error: http://127\\.0\\.0\\.1:${port()}/ui has no API at its path /ui \\(.*\\): Setpoint serves it at the root, --server http://127\\.0\\.0\\.1:${port()}\n$`,
    );
    oneLine(get, 1, said);
    oneLine(logs, 1, said);
  });

  it("the gRPC port as the server URL says it looks like the gRPC port", async () => {
    const r = await runSetpointInProcess(["get", "resourcetypes", "--server", `http://127.0.0.1:${s.server.grpcPort}`]);
    oneLine(r, 1, /did not answer in HTTP\/1\.1.*is it the gRPC port\? --server takes the HTTP port/);
  });

  it("the HTTP port as the agent's gRPC address says it is the HTTP port", async () => {
    const child = spawnSetpoint(["agent", "pipelines", "--server", s.url, "--grpc", `127.0.0.1:${port()}`, "--work-dir", join(dir, "w")]);
    const err = new LineReader(child.stderr!);
    try {
      await err.waitFor(/the gRPC address answered, but not in gRPC .*is it the server's HTTP port\?/);
    } finally {
      child.kill("SIGTERM");
    }
    await exited(child);
  });

  it("a server on a port the Fetch standard blocks (6000, 6665-6669, 10080, ...) is reached, not refused as a bad port", async (t) => {
    let blocked: TestServer | undefined;
    for (const httpPort of [6665, 6666, 6667, 6668, 6669, 6697, 10080, 6000, 4045]) {
      blocked = await startTestServer({ httpPort }).catch(() => undefined);
      if (blocked) break;
    }
    if (!blocked) return t.skip("every fetch-blocked port tried is taken on this machine");
    try {
      const r = await runSetpointInProcess(["get", "resourcetypes", "--server", blocked.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /No resources found/);
    } finally {
      await blocked.stop();
    }
  });

  it("a server that accepts connections but never answers: --request-timeout bounds each wait, then the next replica answers", async () => {
    const hole = createServer(() => {}); // accepts, reads nothing, answers nothing
    const sockets = new Set<Socket>();
    hole.on("connection", (c) => (sockets.add(c), c.on("close", () => sockets.delete(c))));
    await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
    const holeUrl = `http://127.0.0.1:${(hole.address() as AddressInfo).port}`;
    try {
      const alone = await runSetpointInProcess(["get", "resourcetypes", "--server", holeUrl, "--request-timeout", "1s"]);
      oneLine(alone, 1, new RegExp(`the Setpoint server at ${holeUrl.replace(/[.]/g, "\\.")} did not answer within 1 s`));
      const next = await runSetpointInProcess(["get", "resourcetypes", "--server", `${holeUrl},${s.url}`, "--request-timeout", "1s"]);
      assert.equal(next.code, 0, next.stderr);
      assert.match(next.stderr, /No resources found/);
      const zero = await runSetpointInProcess(["--request-timeout", "0", "get", "resourcetypes", "--server", s.url]);
      assert.equal(zero.code, 2, zero.stderr);
      assert.match(zero.stderr, /--request-timeout.*"0" must be longer than 0/);
    } finally {
      for (const c of sockets) c.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });

  it("an unreachable server: the hint names npm start and setpoint up", async () => {
    const closed = await startTestServer();
    const url = closed.url;
    await closed.stop();
    const r = await runSetpointInProcess(["get", "resourcetypes", "--server", url]);
    oneLine(r, 1, /cannot reach the Setpoint server at .*ECONNREFUSED.*"npm start".*"setpoint up"/);
  });
});

describe("up and agent pipelines share their agent options", () => {
  it("both refuse a lease under 300 ms with the same message, and a --parallel of 0", async () => {
    const [up, agent] = await Promise.all([
      runSetpointInProcess(["up", "--lease-duration", "1ms"]),
      runSetpointInProcess(["agent", "pipelines", "--lease-duration", "1ms"]),
    ]);
    for (const r of [up, agent]) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /'--lease-duration <duration>' argument '1ms' is invalid\. "1ms" is too short: must be at least 300 ms/);
    }
    const [up0, agent0] = await Promise.all([runSetpointInProcess(["up", "--parallel", "0"]), runSetpointInProcess(["agent", "pipelines", "--parallel", "0"])]);
    for (const r of [up0, agent0]) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /'--parallel <n>' argument '0' is invalid/);
    }
  });
});

describe("agent pipelines against a server that is not there", () => {
  it("says once which addresses it cannot reach and what to check, not a raw gRPC error; Ctrl-C stops it (exit 0)", async () => {
    const port = await freePort();
    const child = spawnSetpoint([
      "agent",
      "pipelines",
      "--server",
      `http://127.0.0.1:${port}`,
      "--grpc",
      `127.0.0.1:${port}`,
      "--work-dir",
      join(dir, "agent-work"),
    ]);
    const err = new LineReader(child.stderr!);
    try {
      const line = await err.waitFor(/error:/);
      assert.match(
        line,
        new RegExp(`error: agent: cannot reach the server \\(gRPC 127\\.0\\.0\\.1:${port}, HTTP http://127\\.0\\.0\\.1:${port}\\): .*ECONNREFUSED`),
      );
      assert.match(line, /Is it running \(setpoint up, or setpoint server\)/);
      assert.match(line, /reported once every 30 s\.$/);
    } finally {
      child.kill("SIGINT");
    }
    const { code } = await exited(child);
    assert.equal(code, 0);
    assert.doesNotMatch(err.lines.join("\n"), /^\s+at /m);
  });
});

describe("a data directory that cannot be used", () => {
  it("server (one worker or several) and up: one line naming --data-dir, exit 2, no stack trace", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a directory\n");
    const cases: Array<[string[], RegExp]> = [
      [["server", "--workers", "1", "--data-dir", join(file, "data")], /a part of its path is a file, not a directory/],
      [["server", "--workers", "2", "--data-dir", join(file, "data")], /a part of its path is a file, not a directory/],
      [["server", "--workers", "1", "--data-dir", file], /it is a file, not a directory/],
      [["up", "--data-dir", join(file, "data")], /a part of its path is a file, not a directory/],
    ];
    const results = await Promise.all(cases.map(([args]) => runSetpoint([...args, "--http-port", "0", "--grpc-port", "0"])));
    results.forEach((r, i) => {
      const [args, why] = cases[i]!;
      const shown = args[args.length - 1]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      oneLine(r, 2, new RegExp(`^error: the data directory ${shown} cannot be used: `));
      assert.match(r.stderr, why);
      assert.match(r.stderr, /choose another with --data-dir \(or SETPOINT_DATA_DIR\)/);
    });
  });

  it("a missing one is created, parents included, and the server starts", async () => {
    const nested = join(dir, "new", "nested", "data");
    const child = spawnSetpoint(["server", "--workers", "1", "--http-port", "0", "--grpc-port", "-1", "--data-dir", nested]);
    const out = new LineReader(child.stdout!);
    try {
      await out.waitFor(/setpoint-server listening/);
      assert.ok(statSync(nested).isDirectory());
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal((await exited(child)).code, 0);
  });
});

describe("a workspace directory that cannot be used", () => {
  it("agent pipelines and up: one line naming --work-dir, exit 2, before anything starts (a path under /proc hung at 100% CPU)", async () => {
    const file = join(dir, "a-work-file");
    writeFileSync(file, "not a directory\n");
    const cases: Array<[string[], RegExp]> = [
      [["agent", "pipelines", "--server", s.url, "--work-dir", file], /it is a file, not a directory/],
      [["agent", "pipelines", "--server", s.url, "--work-dir", join(file, "w")], /a part of its path is a file, not a directory/],
      [["agent", "pipelines", "--server", s.url, "--work-dir", "/proc/setpoint-work"], /it cannot be created there/],
      [["up", "--http-port", "0", "--grpc-port", "0", "--data-dir", join(dir, "up-data"), "--work-dir", file], /it is a file, not a directory/],
    ];
    const results = await Promise.all(cases.map(([args]) => runSetpoint(args, { timeoutMs: 30_000 })));
    results.forEach((r, i) => {
      const [args, why] = cases[i]!;
      const shown = args[args.length - 1]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      oneLine(r, 2, new RegExp(`^error: the workspace directory ${shown} cannot be used: `));
      assert.match(r.stderr, why);
      assert.match(r.stderr, /choose another with --work-dir \(or SETPOINT_WORK_DIR\)/);
    });
  });
});

describe("a TLS server whose certificate the client does not trust", () => {
  it("says so and how to give the CA, not 'is it running?'; with NODE_EXTRA_CA_CERTS the same command works", async () => {
    const pki = makePki(mkdtempSync(join(dir, "pki-")));
    const serving = pki.server("serving");
    const tls = await startTestServer({ tlsCertFile: serving.cert, tlsPrivateKeyFile: serving.key });
    try {
      const untrusted = await runSetpoint(["get", "resourcetypes", "--server", tls.url]);
      oneLine(
        untrusted,
        1,
        /presents a certificate this client does not trust \(\w+\): give its CA with a kubeconfig's certificate-authority \(--kubeconfig\), or NODE_EXTRA_CA_CERTS=ca\.pem/,
      );
      assert.doesNotMatch(untrusted.stderr, /is it running/);
      const trusted = await runSetpoint(["get", "resourcetypes", "--server", tls.url], { env: { NODE_EXTRA_CA_CERTS: pki.caCert } });
      assert.equal(trusted.code, 0, trusted.stderr);
    } finally {
      await tls.stop();
    }
  });
});

describe("several replicas, none up", () => {
  it("the error names every replica tried, not only the last", async () => {
    const [a, b] = [await startTestServer(), await startTestServer()];
    await Promise.all([a.stop(), b.stop()]);
    const r = await runSetpointInProcess(["get", "resourcetypes", "--server", `${a.url},${b.url}`]);
    oneLine(r, 1, new RegExp(`^error: tried every replica \\(${a.url}, ${b.url}\\): cannot reach the Setpoint server at ${b.url}: ECONNREFUSED`));
  });
});
