// The cost of authentication and authorization on the request path, side by
// side: GETs of one object per second against a server with no security
// (AlwaysAllow, no authentication) and against one with a token file and RBAC
// (a non-master user allowed by a RoleBinding among 200 other bindings), run
// alternately, plus the cost of one RBAC decision alone. Prints one JSON line
// per measurement.
//
//   node --import tsx bench/auth.ts [--seconds 1] [--rounds 15] [--concurrency 32]
//
// To split the cost: MODE=AlwaysAllow keeps the token file but not RBAC;
// BENCH_USER=t-admin asks as a system:masters member (no rule walk).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLUSTER_ROLES, ROLE_BINDINGS } from "../src/api/rbac-types.ts";
import { standaloneArgs } from "./lib/options.ts";
import { RbacAuthorizer, RbacIndex } from "../src/server/auth/rbac.ts";
import { startServer, type RunningServer } from "../src/server.ts";

const values = standaloneArgs(
  "usage: node --import tsx bench/auth.ts [--seconds 1] [--rounds 15] [--concurrency 32]\n\nGETs per second with and without authentication and RBAC, side by side; one JSON line per measurement.",
  { seconds: "1", rounds: "15", concurrency: "32" },
  ["seconds", "rounds", "concurrency"],
);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const G = "bench.example.com";

async function server(secure: boolean, dir: string): Promise<{ s: RunningServer; token?: string }> {
  const tokens = join(dir, "tokens.csv");
  writeFileSync(tokens, "t-admin,admin,1,system:masters\nt-user,user,2,team\n");
  const s = await startServer({
    host: "127.0.0.1",
    httpPort: 0,
    grpcPort: -1,
    dataDir: mkdtempSync(join(dir, "data-")),
    logLevel: "silent",
    durable: false,
    ...(secure ? { tokenAuthFile: tokens, authorizationMode: (process.env.MODE ?? "RBAC") as "RBAC" } : {}),
    maxRequestsInflight: 0,
  });
  const admin = { authorization: "Bearer t-admin", "content-type": "application/json" };
  const post = async (path: string, body: unknown) => {
    const r = await fetch(s.url + path, { method: "POST", headers: admin, body: JSON.stringify(body) });
    if (r.status !== 201) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  };
  await post("/apis/setpoint.dev/v1/resourcetypes", { metadata: { name: `things.${G}` }, spec: { group: G, version: "v1", kind: "Thing", plural: "things" } });
  await post(`/apis/${G}/v1/namespaces/ns/things`, { metadata: { name: "t1" }, spec: { n: 1 } });
  await post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
    metadata: { name: "reader" },
    rules: [{ apiGroups: [G], resources: ["things"], verbs: ["get", "list", "watch"] }],
  });
  for (let i = 0; i < 200; i++) {
    await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/ns${i}/rolebindings`, {
      metadata: { name: `b${i}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader" },
      subjects: [{ kind: "User", name: `other${i}` }],
    });
  }
  await post("/apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings", {
    metadata: { name: "team" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader" },
    subjects: [{ kind: "Group", name: "team" }],
  });
  return { s, token: secure ? (process.env.BENCH_USER ?? "t-user") : undefined };
}

/** Requests per second of wall time, and CPU microseconds (this process: client and server) per request. */
async function load(url: string, token: string | undefined): Promise<{ rps: number; cpuUs: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(`${url}/apis/${G}/v1/namespaces/ns/things/t1`);
  // Both sides send the same header (ignored without authentication), so that only the server differs.
  const headers: Record<string, string> = { authorization: `Bearer ${token ?? "t-user"}` };
  const cpu0 = process.cpuUsage();
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, agent, headers }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  const cpu = process.cpuUsage(cpu0);
  return { rps: done / seconds, cpuUs: (cpu.user + cpu.system) / done };
}

const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-auth-"));
try {
  // Which server starts first alternates with SWAP=1, to see that order is not what differs.
  const swap = process.env.SWAP === "1";
  const first = await server(swap, dir);
  const second = await server(!swap, dir);
  const [off, on] = swap ? [second, first] : [first, second];
  await load(off.s.url, off.token); // warm up both
  await load(on.s.url, on.token);
  // Short slices, alternating (and alternating which goes first), so that the
  // load of a shared machine falls on both sides alike; the medians are the result.
  const offs: number[] = [];
  const ons: number[] = [];
  const offCpu: number[] = [];
  const onCpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    const b0 = first ? await load(on.s.url, on.token) : undefined;
    const a = await load(off.s.url, off.token);
    const b = b0 ?? (await load(on.s.url, on.token));
    offs.push(a.rps);
    ons.push(b.rps);
    offCpu.push(a.cpuUs);
    onCpu.push(b.cpuUs);
    console.log(
      JSON.stringify({
        bench: "auth",
        round: r + 1,
        seconds,
        concurrency,
        rbacOffRps: Math.round(a.rps),
        rbacOnRps: Math.round(b.rps),
        ratio: Number((b.rps / a.rps).toFixed(3)),
        rbacOffCpuUs: Math.round(a.cpuUs),
        rbacOnCpuUs: Math.round(b.cpuUs),
      }),
    );
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const ratios = offs.map((a, i) => ons[i]! / a);
  console.log(
    JSON.stringify({
      bench: "auth-summary",
      rounds,
      medianRbacOffRps: Math.round(median(offs)),
      medianRbacOnRps: Math.round(median(ons)),
      medianRatio: Number(median(ratios).toFixed(3)),
      medianRbacOffCpuUsPerRequest: Math.round(median(offCpu)),
      medianRbacOnCpuUsPerRequest: Math.round(median(onCpu)),
    }),
  );
  await off.s.close();
  await on.s.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// One decision alone: the index holds 200 bindings; the user is allowed through a group binding.
const index = new RbacIndex();
index.put(CLUSTER_ROLES, { metadata: { name: "reader" }, rules: [{ apiGroups: [G], resources: ["things"], verbs: ["get", "list", "watch"] }] });
for (let i = 0; i < 200; i++)
  index.put(ROLE_BINDINGS, {
    metadata: { name: `b${i}`, namespace: `ns${i}` },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader" },
    subjects: [{ kind: "User", name: `other${i}` }],
  });
index.put(ROLE_BINDINGS, {
  metadata: { name: "team", namespace: "ns" },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader" },
  subjects: [{ kind: "Group", name: "team" }],
});
const authz = new RbacAuthorizer(index);
const user = { name: "user", groups: ["team", "system:authenticated"] };
const attrs = { kind: "resource" as const, verb: "get", group: G, version: "v1", resource: "things", subresource: "", namespace: "ns", name: "t1" };
const N = 1_000_000;
let allowed = 0;
const t0 = performance.now();
for (let i = 0; i < N; i++) if (authz.authorize(user, attrs).allowed) allowed++;
const ns = ((performance.now() - t0) * 1e6) / N;
if (allowed !== N) throw new Error("bench: the decision should allow");
console.log(JSON.stringify({ bench: "auth-decision", decisions: N, nsPerDecision: Math.round(ns) }));
