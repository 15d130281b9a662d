// The agent process of the resume bench: a real SDK agent (no-op reconcile,
// one replica) with a state directory. It reports over IPC once its informer
// has caught up with `target` — restored from the state file and resumed the
// watch (warm), or listed everything (relist) — then waits for SIGTERM, when
// it shuts down gracefully and flushes its state.
//
// argv: JSON {url, grpc, token?, group, plural, namespace, stateDir, target}
// IPC:  {type:"synced", ms, restores, lists, cached}

import { Agent } from "../../src/agent.ts";

interface Args {
  url: string;
  grpc: string;
  token?: string;
  group: string;
  plural: string;
  namespace: string;
  stateDir: string;
  target: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop.abort());
process.on("disconnect", () => stop.abort());

const agent = new Agent({
  name: "bench-resume",
  grpcAddress: args.grpc,
  httpUrl: args.url,
  token: args.token,
  // An https:// target serves gRPC over TLS too, trusted through the system's
  // roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, as deploy/openshift/bench/job.yaml sets).
  tls: args.url.startsWith("https:") ? {} : undefined,
  type: { group: args.group, version: "v1", plural: args.plural, namespace: args.namespace },
  stateDir: args.stateDir,
  claims: false,
  shutdownGraceMs: 1000,
  onError: (err) => process.stderr.write(`resume-agent: ${(err as Error)?.message ?? err}\n`),
  reconcile: async () => {},
});
const t0 = process.hrtime.bigint();
const running = agent.run(stop.signal);
const poll = setInterval(() => {
  if (agent.informer.revision >= args.target) {
    clearInterval(poll);
    const { restores, lists } = agent.informer.stats;
    process.send?.({ type: "synced", ms: Number(process.hrtime.bigint() - t0) / 1e6, restores, lists, cached: agent.cache.size });
  }
}, 1);
await running;
clearInterval(poll);
process.exit(0);
