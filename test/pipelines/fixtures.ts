// Shared setup for the pipeline runner tests: a real server (HTTP and gRPC on
// ephemeral ports, temp data directory) with the PipelineRun type declared, a
// temp directory for workspaces and marker files, helpers to create, read and
// wait for runs, and pipeline agents as child processes (`setpoint agent
// pipelines`) that a test can SIGKILL. Every wait has a deadline.

import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { startServer, type RunningServer } from "../../src/server.ts";
import { PIPELINE_RUN_RESOURCE_TYPE, type PipelineRunStatus, type PipelineTask } from "../../src/pipelines/resource-type.ts";
import { api, type ApiClient } from "../helpers/server.ts";
import { exited, LineReader, spawnSetpoint } from "../helpers/cli.ts";

export const RUNS = "/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns";

export interface PipelineEnv {
  server: RunningServer;
  http: ApiClient;
  grpcAddress: string;
  /** Temp directory for the test's own files (markers, workspaces). */
  dir: string;
  stop(): Promise<void>;
}

/** A server with gRPC and the PipelineRun type, on fresh temp directories. */
export async function startPipelineEnv(): Promise<PipelineEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), "setpoint-pipelines-data-"));
  const dir = mkdtempSync(join(tmpdir(), "setpoint-pipelines-"));
  const server = await startServer({ host: "127.0.0.1", httpPort: 0, grpcPort: 0, dataDir, logLevel: "silent", bookmarkIntervalMs: 500 });
  const http = api(server.url);
  const res = await http.post("/apis/setpoint.dev/v1/resourcetypes", PIPELINE_RUN_RESOURCE_TYPE);
  if (res.status !== 201) throw new Error(`create the PipelineRun type: ${res.status} ${res.text}`);
  return {
    server,
    http,
    grpcAddress: `127.0.0.1:${server.grpcPort}`,
    dir,
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Run {
  metadata: { name: string; uid: string; generation: number; resourceVersion: string; finalizers?: string[]; deletionTimestamp?: string };
  spec: { tasks: PipelineTask[]; cancel?: boolean };
  status?: PipelineRunStatus;
}

/** Creates a PipelineRun in `default` (asserting 201). */
export async function createRun(
  http: ApiClient,
  name: string,
  spec: { tasks: PipelineTask[]; params?: Record<string, string> },
  labels?: Record<string, string>,
): Promise<Run> {
  const res = await http.post(RUNS, { apiVersion: "ci.setpoint.dev/v1", kind: "PipelineRun", metadata: { name, labels }, spec });
  if (res.status !== 201) throw new Error(`create run ${name}: ${res.status} ${res.text}`);
  return res.body as Run;
}

/** The run, or undefined once it is gone. */
export async function getRun(http: ApiClient, name: string): Promise<Run | undefined> {
  const res = await http.get(`${RUNS}/${name}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`get run ${name}: ${res.status} ${res.text}`);
  return res.body as Run;
}

/** Polls `check` every 50 ms until it returns something truthy; fails after `timeoutMs` with `what` and the last value seen. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    last = value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the run's phase is `phase` (failing early if it reaches another final phase) and returns it. */
export async function waitForPhase(http: ApiClient, name: string, phase: string, timeoutMs = 20_000): Promise<Run> {
  let last: Run | undefined;
  try {
    return await waitFor(
      `run ${name} to be ${phase}`,
      async () => {
        last = await getRun(http, name);
        const p = last?.status?.phase;
        if (p !== undefined && p !== phase && ["Succeeded", "Failed", "Cancelled"].includes(p)) {
          throw new Error(`run ${name} ended ${p}, not ${phase}: ${JSON.stringify(last?.status, null, 1)}`);
        }
        return p === phase ? last : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    if (error instanceof Error && !error.message.includes(" ended ")) error.message += `\nstatus: ${JSON.stringify(last?.status, null, 1)}`;
    throw error;
  }
}

/** The lines of a marker file (empty if it does not exist). */
export function markers(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

/** A shell snippet that appends `text` (expanded by the shell) as one line to `file`. */
export const mark = (file: string, text: string): string => `echo "${text}" >> '${file}'`;

export interface AgentProcess {
  child: ChildProcess;
  out: LineReader;
  /** What the agent wrote to stderr (errors), for failure messages. */
  stderr(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

/** Starts `setpoint agent pipelines` against the env's server as a child process, and waits until it is ready. */
export async function startAgent(
  env: PipelineEnv,
  options: { identity?: string; workDir?: string; leaseDuration?: string; parallel?: number; extra?: string[] } = {},
): Promise<AgentProcess> {
  const args = ["agent", "pipelines", "--server", env.server.url, "--grpc", env.grpcAddress, "--work-dir", options.workDir ?? join(env.dir, "work")];
  args.push("--lease-duration", options.leaseDuration ?? "3s", "--kill-grace", "1s", "--log-format", "json");
  if (options.identity !== undefined) args.push("--identity", options.identity);
  if (options.parallel !== undefined) args.push("--parallel", String(options.parallel));
  args.push(...(options.extra ?? []));
  const child = spawnSetpoint(args);
  const out = new LineReader(child.stdout!);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  try {
    await out.waitFor(/"type":"AgentReady"/, { timeoutMs: 30_000 });
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`agent did not get ready: ${(error as Error).message}\nstderr:\n${stderr}`);
  }
  return {
    child,
    out,
    stderr: () => stderr,
    async stop() {
      child.kill("SIGTERM");
      await exited(child, 30_000);
    },
    async kill() {
      child.kill("SIGKILL");
      await exited(child, 10_000);
    },
  };
}

/** Whether a process with this pid is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
