// How an attempt is launched (src/pipelines/runner/task-launch.ts): argv from
// `run` or `command`/`args`, the environment without the agent's credentials
// and with the SETPOINT_* variables, the working directory made inside the
// workspace, and a workspace that cannot be made turned into a failing command.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { taskLaunch } from "../../src/pipelines/runner/task-launch.ts";

const dir = mkdtempSync(join(tmpdir(), "setpoint-launch-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const spec = { tasks: [], params: { GREETING: "hi", SETPOINT_TOKEN: "from-params" } };
const baseEnv = { PATH: "/usr/bin", SETPOINT_TOKEN: "agent-secret", KUBECONFIG: "/agent/kubeconfig", HOME: undefined };

test("a shell task: argv through /bin/sh, env without the agent's credentials, SETPOINT_* set, working dir made", () => {
  const workspace = join(dir, "ws1");
  const l = taskLaunch({
    run: { name: "r", namespace: "ci", spec },
    task: { name: "build", run: "make", workingDir: "src", env: { LEVEL: "2" } },
    attempt: 3,
    workspace,
    baseEnv,
  });
  assert.deepEqual(l.argv, ["/bin/sh", "-c", "make"]);
  assert.equal(l.cwd, join(workspace, "src"));
  assert.ok(existsSync(l.cwd));
  assert.equal(l.env.KUBECONFIG, undefined, "the agent's kubeconfig stays with the agent");
  assert.equal(l.env.SETPOINT_TOKEN, "from-params", "a run may set the variable itself; the agent's value never passes");
  assert.equal(l.env.PATH, "/usr/bin");
  assert.ok(!("HOME" in l.env));
  assert.equal(l.env.GREETING, "hi");
  assert.equal(l.env.LEVEL, "2");
  assert.deepEqual(
    [l.env.SETPOINT_RUN_NAME, l.env.SETPOINT_RUN_NAMESPACE, l.env.SETPOINT_TASK_NAME, l.env.SETPOINT_TASK_ATTEMPT, l.env.SETPOINT_WORKSPACE],
    ["r", "ci", "build", "3", workspace],
  );
});

test("a command task: argv is command then args", () => {
  const l = taskLaunch({
    run: { name: "r", spec: { tasks: [] } },
    task: { name: "t", command: ["echo"], args: ["a b", "c"] },
    attempt: 1,
    workspace: join(dir, "ws2"),
    baseEnv: {},
  });
  assert.deepEqual(l.argv, ["echo", "a b", "c"]);
  assert.equal(l.env.SETPOINT_RUN_NAMESPACE, "");
});

test("a workspace that cannot be made becomes a command that fails and says why", () => {
  const blocker = join(dir, "file");
  writeFileSync(blocker, "not a directory");
  const l = taskLaunch({ run: { name: "r", spec: { tasks: [] } }, task: { name: "t", run: "true" }, attempt: 1, workspace: join(blocker, "ws"), baseEnv: {} });
  assert.equal(l.cwd, "/");
  assert.equal(l.argv[0], "/bin/sh");
  assert.match(l.argv.at(-1)!, /^setpoint: cannot prepare the workspace: /);
});
