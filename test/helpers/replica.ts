// Server replicas as real processes (`node --import tsx src/main.ts --store
// etcd …`, one worker each) on 127.0.0.1 ephemeral ports, so tests can kill
// one with SIGKILL while clients use it, and start it again.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "./node-entry.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ReplicaProcess {
  /** HTTP base URL. */
  url: string;
  /** gRPC address host:port. */
  grpc: string;
  child: ChildProcess;
  /** The process's output so far (its JSON log lines). */
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (graceful), and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts one replica on `etcdServers` under `prefix`; resolves once it logs that it listens. */
export async function startReplica(options: { etcdServers: string; prefix: string; args?: string[] }): Promise<ReplicaProcess> {
  const args = [
    ...nodeEntry("src/main.ts"),
    "--store",
    "etcd",
    "--etcd-servers",
    options.etcdServers,
    "--etcd-prefix",
    options.prefix,
    "--host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--grpc-port",
    "0",
    "--workers",
    "1",
    "--log-level",
    "info",
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const info = await new Promise<{ url: string; grpc: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`replica did not start within 60 s: ${out.slice(-2000)}`));
    }, 60_000);
    const look = () => {
      for (const line of out.split("\n")) {
        if (!line.includes("setpoint-server listening")) continue;
        const j = JSON.parse(line) as { url: string; grpc: string };
        clearTimeout(timer);
        child.stdout!.off("data", look);
        resolve(j);
        return;
      }
    };
    child.stdout!.on("data", look);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`replica exited (${code}) before listening: ${out.slice(-2000)}`));
    });
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { url: info.url, grpc: info.grpc, child, output: () => out, kill: () => end("SIGKILL"), stop: () => end("SIGTERM") };
}
