// A real etcd cluster for tests: 1 or 3 members on 127.0.0.1 ephemeral
// ports, each with a temp data dir, started with short election timeouts so
// fault tests run in seconds. Members can be killed with SIGKILL, restarted
// on their data dir, or paused (SIGSTOP: a member cut off from its peers and
// clients). `stop()` kills every member and removes the data dirs.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pauseProcess } from "./pause.ts";
import { startPeerProxy, type PeerProxy } from "./peer-proxy.ts";
import { freePorts } from "./ports.ts";

export interface EtcdMember {
  name: string;
  /** Client URL, e.g. `http://127.0.0.1:23790`. */
  clientUrl: string;
  /** The peer URL the others dial (with `partitionable`, a proxy in front of `listenPeerUrl`). */
  peerUrl: string;
  listenPeerUrl: string;
  dataDir: string;
  /** The running process, or undefined while killed. */
  child: ChildProcess | undefined;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member, comma-separated (the `--etcd-servers` value). */
  endpoints: string;
  /** SIGKILLs a member and waits for it to exit. */
  kill(member: EtcdMember): Promise<void>;
  /** Starts a killed member again on its data dir and waits until it answers. */
  restart(member: EtcdMember): Promise<void>;
  /**
   * SIGSTOP: a member that stops answering peers and clients without dying.
   * Resolves once every thread of it is stopped, not when the signal is sent
   * (test/helpers/pause.ts). Rejects when the member is not running.
   */
  pause(member: EtcdMember): Promise<void>;
  /** SIGCONT: the paused member runs again. */
  resume(member: EtcdMember): void;
  /** The current leader, asked of the members that answer. */
  leader(): Promise<EtcdMember>;
  /**
   * A network partition (a cluster started with `partitionable`): every peer
   * connection to or from `member` is cut, and none can open, until `heal()`.
   * Its clients still reach it.
   */
  partition(member: EtcdMember): Promise<void>;
  heal(): void;
  /** Kills every member and removes the data dirs. */
  stop(): Promise<void>;
}

/** Whether an `etcd` binary is on the PATH. */
export function haveEtcd(): boolean {
  return spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).status === 0;
}

/** PEM files for etcd's client port over TLS: its certificate and key, and the CA that signed the clients'. */
export interface EtcdTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** A client certificate and key the health checks present (etcd then requires one: --client-cert-auth). */
  clientCertFile: string;
  clientKeyFile: string;
}

/** GET /health over HTTPS with the test CA and client certificate. */
function tlsHealth(url: string, tls: EtcdTls): Promise<{ health?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}/health`,
      { ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile), timeout: 1000 },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => {
          try {
            resolve(JSON.parse(text) as { health?: string });
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

async function waitHealthy(m: EtcdMember, deadlineMs: number, log: () => string, tls?: EtcdTls): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (m.child && m.child.exitCode !== null) throw new Error(`etcd ${m.name} exited (${m.child.exitCode}): ${log().slice(-2000)}`);
    try {
      const body = tls
        ? await tlsHealth(m.clientUrl, tls)
        : ((await (await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) })).json()) as { health?: string });
      if (body.health === "true") return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`etcd ${m.name} not healthy after ${deadlineMs} ms: ${log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts an etcd cluster of `size` members (1 or 3) and waits until every member is healthy; with `tls`, clients speak TLS with a client certificate. */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdCluster> {
  // Another process may still bind a chosen port first (test files run side
  // by side): start again on new ports, at most three times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(options);
    } catch (err) {
      if (attempt >= 3 || !String((err as Error)?.message).includes("address already in use")) throw err;
    }
  }
}

interface EtcdOptions {
  size?: number;
  tls?: EtcdTls;
  partitionable?: boolean;
}

async function startEtcdOnce(options: EtcdOptions): Promise<EtcdCluster> {
  const size = options.size ?? 1;
  const tls = options.tls;
  /** With `partitionable`: the member cut off, and each member's hex id (from its peers' X-Server-From). */
  let isolated: EtcdMember | undefined;
  const ids = new Map<EtcdMember, string>();
  const proxies: PeerProxy[] = [];
  const token = `setpoint-test-${process.pid}-${Date.now()}`;
  const members: EtcdMember[] = [];
  // Every member's client and peer ports, all different.
  const ports = await freePorts(2 * size);
  for (let i = 0; i < size; i++) {
    const [c, p] = [ports[2 * i]!, ports[2 * i + 1]!];
    const member: EtcdMember = {
      name: `m${i}`,
      clientUrl: `${tls ? "https" : "http"}://127.0.0.1:${c}`,
      peerUrl: `http://127.0.0.1:${p}`,
      listenPeerUrl: `http://127.0.0.1:${p}`,
      dataDir: mkdtempSync(join(tmpdir(), "setpoint-etcd-test-")),
      child: undefined,
    };
    if (options.partitionable) {
      const proxy = await startPeerProxy(p, (from) => isolated !== undefined && (isolated === member || from === ids.get(isolated)));
      proxies.push(proxy);
      member.peerUrl = `http://127.0.0.1:${proxy.port}`;
    }
    members.push(member);
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const logs = new Map<EtcdMember, string>();

  const launch = (m: EtcdMember) => {
    const child = spawn(
      "etcd",
      [
        "--name",
        m.name,
        "--data-dir",
        m.dataDir,
        "--listen-client-urls",
        m.clientUrl,
        "--advertise-client-urls",
        m.clientUrl,
        "--listen-peer-urls",
        m.listenPeerUrl,
        "--initial-advertise-peer-urls",
        m.peerUrl,
        "--initial-cluster",
        initialCluster,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        token,
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        "--log-level",
        "error",
        "--logger",
        "zap",
        ...(tls ? ["--cert-file", tls.certFile, "--key-file", tls.keyFile, "--trusted-ca-file", tls.caFile, "--client-cert-auth"] : []),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    logs.set(m, "");
    child.stderr!.on("data", (d: Buffer) => {
      const s = logs.get(m)! + d.toString();
      logs.set(m, s.length > 20_000 ? s.slice(-20_000) : s);
    });
    // A test process must be able to end while a shared etcd still runs (its exit hook kills it).
    child.unref();
    (child.stderr as unknown as { unref(): void }).unref();
    m.child = child;
  };

  const kill = async (m: EtcdMember) => {
    const child = m.child;
    if (!child) return;
    m.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Waiting for its exit must keep the process alive (the child is unref'd).
    child.ref();
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  };

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl).join(","),
    kill,
    async restart(m) {
      if (m.child) return;
      launch(m);
      await waitHealthy(m, 30_000, () => logs.get(m) ?? "", tls);
    },
    async pause(m) {
      if (!m.child) throw new Error(`etcd ${m.name}: not running, cannot pause it`);
      await pauseProcess(m.child, `etcd ${m.name}`);
    },
    resume(m) {
      m.child?.kill("SIGCONT");
    },
    async leader() {
      const deadline = Date.now() + 15_000;
      for (;;) {
        for (const m of members) {
          if (!m.child) continue;
          try {
            const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) });
            const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
            if (body.leader && body.leader !== "0" && body.header?.member_id === body.leader) return m;
          } catch {
            // down or paused
          }
        }
        if (Date.now() > deadline) throw new Error("etcd: no leader found within 15 s");
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async partition(m) {
      if (!options.partitionable) throw new Error("etcd: partition() needs a cluster started with partitionable");
      if (ids.size === 0) {
        const res = await fetch(`${members.find((x) => x.child)!.clientUrl}/v3/cluster/member/list`, {
          method: "POST",
          body: "{}",
          signal: AbortSignal.timeout(5000),
        });
        const body = (await res.json()) as { members: Array<{ ID: string; name: string }> };
        for (const x of body.members) {
          const member = members.find((y) => y.name === x.name);
          if (member) ids.set(member, BigInt(x.ID).toString(16));
        }
      }
      isolated = m;
      for (const p of proxies) p.enforce();
    },
    heal() {
      isolated = undefined;
    },
    async stop() {
      await Promise.all(proxies.map((p) => p.close()));
      await Promise.all(members.map(kill));
      for (const m of members) rmSync(m.dataDir, { recursive: true, force: true });
    },
  };
  try {
    for (const m of members) launch(m);
    await Promise.all(members.map((m) => waitHealthy(m, 30_000, () => logs.get(m) ?? "", tls)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Makes a CA, a server certificate for 127.0.0.1 and a client certificate with openssl in `dir`. */
export function makeTestCertificates(dir: string): EtcdTls {
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=setpoint-test-ca"]);
  for (const [name, cn, ext] of [
    ["server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"],
    ["client", "setpoint", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    spawnSync("sh", ["-c", `printf '${ext}' > ${name}.ext`], { cwd: dir });
    run([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  }
  return {
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
    caFile: `${dir}/ca.pem`,
    clientCertFile: `${dir}/client.pem`,
    clientKeyFile: `${dir}/client.key`,
  };
}
