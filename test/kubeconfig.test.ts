// Kubeconfig files read as kubectl reads them (src/kubeconfig.ts), and the
// clients that use them over TLS: the `setpoint` CLI (token and client
// certificate) and the pipeline agent, which runs as the identity its
// kubeconfig gives it, under RBAC, while its task processes never see its
// credentials (a task that prints its environment).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadKubeconfig, KubeconfigError } from "../src/kubeconfig.ts";
import { PIPELINE_RUN_RESOURCE_TYPE } from "../src/pipelines/resource-type.ts";
import { runSetpointInProcess, spawnSetpoint, LineReader, exited } from "./helpers/cli.ts";
import { makePki, type Pki } from "./helpers/pki.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const b64 = (b: Buffer) => b.toString("base64");

describe("loadKubeconfig", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-kc-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("merges KUBECONFIG files first-wins, resolves relative paths, picks the context and its namespace", () => {
    mkdirSync(join(dir, "a"));
    writeFileSync(join(dir, "a", "ca.crt"), "CA-PEM");
    writeFileSync(join(dir, "a", "token"), "file-token\n");
    writeFileSync(
      join(dir, "a", "config"),
      `apiVersion: v1
kind: Config
current-context: one
clusters:
- name: c1
  cluster: {server: "https://one:8443", certificate-authority: ca.crt, extensions: [{name: grpc.setpoint.dev, extension: {address: "one:9443"}}]}
users:
- name: u1
  user: {tokenFile: token}
contexts:
- name: one
  context: {cluster: c1, user: u1, namespace: ci}
`,
    );
    writeFileSync(
      join(dir, "b.yaml"),
      `apiVersion: v1
kind: Config
current-context: two
clusters:
- name: c1
  cluster: {server: "https://shadowed:1"}
- name: c2
  cluster: {server: "http://two:8080", insecure-skip-tls-verify: true}
users:
- name: u2
  user: {token: t2, client-certificate-data: ${b64(Buffer.from("CERT"))}, client-key-data: ${b64(Buffer.from("KEY"))}}
contexts:
- name: two
  context: {cluster: c2, user: u2}
`,
    );
    const env = { KUBECONFIG: [join(dir, "missing"), join(dir, "a", "config"), join(dir, "b.yaml")].join(":"), HOME: dir };
    const one = loadKubeconfig({ env })!;
    assert.equal(one.context, "one", "the first file's current-context wins");
    assert.equal(one.server, "https://one:8443", "the first file's cluster c1 wins");
    assert.equal(one.ca?.toString(), "CA-PEM");
    assert.equal(one.token, "file-token");
    assert.equal(one.namespace, "ci");
    assert.equal(one.grpcAddress, "one:9443");
    const two = loadKubeconfig({ env, context: "two" })!;
    assert.equal(two.server, "http://two:8080");
    assert.equal(two.insecureSkipTlsVerify, true);
    assert.equal(two.cert?.toString(), "CERT");
    assert.equal(two.key?.toString(), "KEY");
    assert.equal(two.namespace, undefined);
    assert.throws(() => loadKubeconfig({ env, context: "three" }), KubeconfigError);
    assert.throws(() => loadKubeconfig({ kubeconfig: join(dir, "nope") }), /does not exist/);
    assert.equal(loadKubeconfig({ env: { HOME: dir } }), undefined, "no ~/.kube/config: nothing");
    mkdirSync(join(dir, ".kube"));
    writeFileSync(
      join(dir, ".kube", "config"),
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'http://home:1'}}]\n",
    );
    assert.equal(loadKubeconfig({ env: { HOME: dir } })?.server, "http://home:1");
    assert.equal(loadKubeconfig({ env: { HOME: dir }, kubeconfig: join(dir, "b.yaml") })?.server, "http://two:8080", "--kubeconfig wins");
  });

  it("refuses a user whose credentials come from a plugin it does not run, rather than sending none", () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-kubeconfig-exec-"));
    try {
      const path = join(dir, "config");
      const users = [
        "- {name: ex, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: aws-iam-authenticator}}}",
        "- {name: ap, user: {auth-provider: {name: oidc}}}",
        "- {name: both, user: {token: t, exec: {apiVersion: client.authentication.k8s.io/v1, command: x}}}",
      ];
      const contexts = ["ex", "ap", "both"].map((u) => `- {name: ${u}, context: {cluster: c, user: ${u}}}`);
      writeFileSync(path, ["clusters: [{name: c, cluster: {server: 'https://k:6443'}}]", "users:", ...users, "contexts:", ...contexts, ""].join("\n"));
      assert.throws(() => loadKubeconfig({ kubeconfig: path, context: "ex" }), /user "ex" gets its credentials from an exec credential plugin/);
      assert.throws(() => loadKubeconfig({ kubeconfig: path, context: "ap" }), /user "ap" gets its credentials from an auth-provider/);
      assert.equal(loadKubeconfig({ kubeconfig: path, context: "both" })?.token, "t", "a token given beside a plugin is used");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("clients with a kubeconfig over TLS", () => {
  let dir: string;
  let pki: Pki;
  let t: TestServer;
  const RUNNER_TOKEN = "t-runner-0123456789abcdef";

  /** Writes a kubeconfig for `name` with a token or a client certificate; returns its path. */
  function kubeconfig(name: string, user: { token?: string; cert?: string; key?: string }): string {
    const path = join(dir, `${name}.kubeconfig`);
    const u = user.token ? `token: ${user.token}` : `client-certificate: ${user.cert}\n    client-key: ${user.key}`;
    writeFileSync(
      path,
      `apiVersion: v1
kind: Config
current-context: ${name}
clusters:
- name: setpoint
  cluster:
    server: ${t.url}
    certificate-authority-data: ${b64(pki.read(pki.caCert))}
    extensions:
    - name: grpc.setpoint.dev
      extension: {address: "localhost:${t.server.grpcPort}"}
users:
- name: ${name}
  user:
    ${u}
contexts:
- name: ${name}
  context: {cluster: setpoint, user: ${name}, namespace: default}
`,
    );
    return path;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-kc-tls-"));
    pki = makePki(dir);
    const serving = pki.server("serving");
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, `t-admin,admin,1,system:masters\n${RUNNER_TOKEN},pipeline-runner,2\n`);
    t = await startTestServer({
      grpcPort: 0,
      tlsCertFile: serving.cert,
      tlsPrivateKeyFile: serving.key,
      clientCaFile: pki.caCert,
      tokenAuthFile: tokens,
      authorizationMode: "RBAC",
      bookmarkIntervalMs: 500,
    });
    const adminConfig = kubeconfig("admin", { token: "t-admin" });
    const rbac = [
      PIPELINE_RUN_RESOURCE_TYPE,
      // The pipeline agent's role: its runs, their status, its leases; reading types.
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "pipeline-agent" },
        rules: [
          { apiGroups: ["ci.setpoint.dev"], resources: ["pipelineruns"], verbs: ["get", "list", "watch", "update", "patch"] },
          { apiGroups: ["ci.setpoint.dev"], resources: ["pipelineruns/status"], verbs: ["get", "update", "patch"] },
          { apiGroups: ["setpoint.dev"], resources: ["leases"], verbs: ["*"] },
          { apiGroups: ["setpoint.dev"], resources: ["resourcetypes"], verbs: ["get", "list", "watch"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "pipeline-agent" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "pipeline-agent" },
        subjects: [{ kind: "User", name: "pipeline-runner" }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "view" },
        rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["get", "list", "watch"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "viewers" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
        subjects: [{ kind: "Group", name: "viewers" }],
      },
    ];
    for (const o of rbac) {
      const r = await runSetpointInProcess(["apply", "-f", "-", "--kubeconfig", adminConfig], { input: JSON.stringify(o), env: {} });
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the CLI reads --kubeconfig or KUBECONFIG: a token, a client certificate, and kube's 403", async () => {
    const viewer = pki.client("vera", ["viewers"]);
    const certConfig = kubeconfig("vera", { cert: viewer.cert, key: viewer.key });
    const got = await runSetpointInProcess(["get", "resourcetypes"], { env: { KUBECONFIG: certConfig } });
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /pipelineruns\.ci\.setpoint\.dev/);
    const denied = await runSetpointInProcess(["delete", "resourcetype", "pipelineruns.ci.setpoint.dev", "--kubeconfig", certConfig], { env: {} });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /User "vera" cannot delete resource "resourcetypes" in API group "setpoint.dev" at the cluster scope/);
    const anonymous = await runSetpointInProcess(["get", "resourcetypes", "--server", t.url], { env: {} });
    assert.notEqual(anonymous.code, 0, "without the kubeconfig there is no CA and no credential");
  });

  it("an agent whose gRPC address is an IP over TLS starts without Node's DEP0123 warning (grpc-js sets the IP as servername)", async () => {
    const config = kubeconfig("runner-ip", { token: RUNNER_TOKEN });
    const agent = spawnSetpoint(
      ["agent", "pipelines", "--kubeconfig", config, "--grpc", `127.0.0.1:${t.server.grpcPort}`, "--work-dir", join(dir, "work-ip"), "--log-format", "json"],
      { env: { KUBECONFIG: config } },
    );
    const lines = new LineReader(agent.stdout!);
    let stderr = "";
    agent.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    try {
      // Ready means it listed PipelineRuns and leases over gRPC, i.e. made its TLS connection to 127.0.0.1.
      await lines.waitFor(/"type":"AgentReady"/, { timeoutMs: 60_000 }).catch((e: Error) => assert.fail(`${e.message}\n${stderr}`));
    } finally {
      agent.kill("SIGTERM");
      await exited(agent, 30_000);
    }
    assert.doesNotMatch(stderr, /DEP0123|TLS ServerName/, stderr);
  });

  it("the pipeline agent runs as its kubeconfig's identity under RBAC; tasks never see its credentials", async () => {
    const config = kubeconfig("runner", { token: RUNNER_TOKEN });
    const out = join(dir, "task-env.txt");
    const admin = kubeconfig("admin2", { token: "t-admin" });
    const agent = spawnSetpoint(
      ["agent", "pipelines", "--kubeconfig", config, "--work-dir", join(dir, "work"), "--lease-duration", "3s", "--log-format", "json"],
      {
        env: { SETPOINT_TOKEN: RUNNER_TOKEN, KUBECONFIG: config },
      },
    );
    const lines = new LineReader(agent.stdout!);
    let stderr = "";
    agent.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    try {
      await lines.waitFor(/"type":"AgentReady"/, { timeoutMs: 60_000 }).catch((e: Error) => assert.fail(`${e.message}\n${stderr}`));
      const run = {
        apiVersion: "ci.setpoint.dev/v1",
        kind: "PipelineRun",
        metadata: { name: "envdump" },
        spec: { tasks: [{ name: "dump", run: `env > '${out}'` }] },
      };
      const created = await runSetpointInProcess(["apply", "-f", "-", "--kubeconfig", admin], { input: JSON.stringify(run), env: {} });
      assert.equal(created.code, 0, created.stderr);
      const deadline = Date.now() + 60_000;
      let phase = "";
      while (phase !== "Succeeded" && Date.now() < deadline) {
        const r = await runSetpointInProcess(["get", "pipelinerun", "envdump", "-o", "json", "--kubeconfig", admin], { env: {} });
        phase = r.code === 0 ? (JSON.parse(r.stdout).status?.phase ?? "") : "";
        if (phase === "Failed") assert.fail(r.stdout);
        if (phase !== "Succeeded") await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(phase, "Succeeded", stderr);
      const env = readFileSync(out, "utf8");
      assert.match(env, /^SETPOINT_TASK_NAME=dump$/m, "the task ran and printed its environment");
      assert.ok(!env.includes(RUNNER_TOKEN), "the agent's token is not in the task's environment");
      assert.doesNotMatch(env, /^KUBECONFIG=/m);
      assert.doesNotMatch(env, /^SETPOINT_TOKEN=/m);
    } finally {
      agent.kill("SIGTERM");
      await exited(agent, 30_000);
    }
  });
});
