// How one attempt of a task is started: its working directory (made inside
// the run's workspace), its environment and its argv. Pure but for making the
// directories. A workspace that cannot be prepared becomes a command that
// fails at once and says why, so the attempt is recorded as failed.

import { mkdirSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import type { PipelineRunSpec, PipelineTask } from "../resource-type.ts";

/** Variables of the agent's environment that carry its credentials; task processes never get them. */
export const AGENT_CREDENTIAL_ENV: ReadonlySet<string> = new Set(["SETPOINT_TOKEN", "KUBECONFIG"]);

/** What startTaskProcess needs for one attempt. */
export interface TaskLaunch {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface TaskLaunchOptions {
  /** The run's name and namespace (SETPOINT_RUN_NAME, SETPOINT_RUN_NAMESPACE). */
  run: { name: string; namespace?: string; spec: PipelineRunSpec };
  task: PipelineTask;
  attempt: number;
  /** The run's workspace directory (made if missing). */
  workspace: string;
  /** The agent's environment; its credentials (AGENT_CREDENTIAL_ENV) are left out. */
  baseEnv: Record<string, string | undefined>;
}

/**
 * The argv, working directory and environment of attempt `attempt` of `task`:
 * the agent's environment less its credentials, then the run's params, the
 * task's env, and the SETPOINT_* variables.
 */
export function taskLaunch(o: TaskLaunchOptions): TaskLaunch {
  const { run, task, attempt, workspace } = o;
  let cwd = workspace;
  let setupError: string | undefined;
  try {
    mkdirSync(workspace, { recursive: true });
    if (task.workingDir !== undefined) {
      cwd = resolve(workspace, task.workingDir);
      const inside = relative(workspace, cwd);
      if (!inside.startsWith("..") && !isAbsolute(inside)) mkdirSync(cwd, { recursive: true });
    }
  } catch (err) {
    setupError = (err as Error).message;
  }
  const env: Record<string, string> = {};
  // The agent's environment, less its credentials: tasks do not get to act as the agent.
  for (const [k, v] of Object.entries(o.baseEnv)) if (v !== undefined && !AGENT_CREDENTIAL_ENV.has(k)) env[k] = v;
  Object.assign(env, run.spec.params ?? {}, task.env ?? {}, {
    SETPOINT_RUN_NAME: run.name,
    SETPOINT_RUN_NAMESPACE: run.namespace ?? "",
    SETPOINT_TASK_NAME: task.name,
    SETPOINT_TASK_ATTEMPT: String(attempt),
    SETPOINT_WORKSPACE: workspace,
  });
  if (setupError !== undefined) {
    return { argv: ["/bin/sh", "-c", `echo "$1" >&2; exit 1`, "sh", `setpoint: cannot prepare the workspace: ${setupError}`], cwd: "/", env };
  }
  const argv = task.run !== undefined ? ["/bin/sh", "-c", task.run] : [...(task.command ?? []), ...(task.args ?? [])];
  return { argv, cwd, env };
}
