// The agent process of the reconcile bench. Reconciles with no work: copies
// `spec.seq` to `status.seq` and reports `observedGeneration`.
//
//   setpoint: a real agent built with the SDK (src/agent.ts): informer
//             (gRPC list, WebSocket watch), work queue, `ctx.updateStatus`
//             (the SDK's default with an HTTP URL: a PUT of the status
//             subresource over kept-alive HTTP); one replica (claims off),
//             `workers` reconciles at once. Updates that leave the generation
//             alone (its own status writes) are not reconciled
//             (`shouldReconcile`): the etcd agent never sees its status
//             writes, which go to keys it does not watch.
//   etcd:     the minimal loop the issue asks for: watch the spec prefix →
//             get the key (level-triggered read) → put the status key.
//
// argv: JSON {system, url, grpc?, token?, group, plural, namespace, prefix?, workers?}.
// Sends {type:"ready"} over IPC once synced/watching; exits on SIGTERM or
// when the bench's IPC channel goes away.

import type { Etcd3 } from "etcd3";
import { Agent, type ApiObject } from "../../src/agent.ts";
import { etcdClient } from "./clients.ts";

interface AgentArgs {
  system: "setpoint" | "etcd";
  url: string;
  grpc?: string;
  token?: string;
  group: string;
  plural: string;
  namespace: string;
  prefix?: string;
  workers?: number;
}

type Obj = ApiObject<{ seq: number }, { seq?: number; observedGeneration?: number }>;

const args = JSON.parse(process.argv[2] ?? "{}") as AgentArgs;
const stop = new AbortController();
let errors = 0;
const onError = (err: unknown) => {
  if (++errors <= 5) process.stderr.write(`reconcile-agent: ${(err as Error)?.message ?? err}\n`);
};
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop.abort());
process.on("disconnect", () => stop.abort());

async function runSetpoint(): Promise<void> {
  const agent = new Agent<Obj>({
    name: "bench-reconcile",
    grpcAddress: args.grpc!,
    httpUrl: args.url,
    token: args.token,
    // An https:// target serves gRPC over TLS too, trusted through the system's
    // roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, as deploy/openshift/bench/job.yaml sets).
    tls: args.url.startsWith("https:") ? {} : undefined,
    type: { group: args.group, version: "v1", plural: args.plural, namespace: args.namespace },
    claims: false,
    workers: args.workers ?? 100,
    shutdownGraceMs: 1000,
    shouldReconcile: (old, o) => old.metadata.generation !== o.metadata.generation,
    onError,
    async reconcile(_key, ctx) {
      const o = ctx.object;
      if (!o || o.status?.observedGeneration === o.metadata.generation) return;
      await ctx.updateStatus({ seq: o.spec?.seq });
    },
  });
  const running = agent.run(stop.signal);
  const ready = setInterval(() => {
    if (agent.informer.hasSynced()) {
      clearInterval(ready);
      process.send?.({ type: "ready" });
    }
  }, 5);
  await running;
  clearInterval(ready);
}

async function runEtcd(): Promise<void> {
  const client: Etcd3 = etcdClient(args.url);
  const specPrefix = `${args.prefix}spec/`;
  const statusPrefix = `${args.prefix}status/`;
  const watcher = await client.watch().prefix(specPrefix).create();
  watcher.on("put", (kv) => {
    const key = kv.key.toString();
    void (async () => {
      try {
        const value = await client.get(key).buffer();
        if (value === null) return;
        const { spec } = JSON.parse(value.toString()) as { spec: { seq: number } };
        await client.put(statusPrefix + key.slice(specPrefix.length)).value(JSON.stringify({ seq: spec.seq }));
      } catch (err) {
        onError(err);
      }
    })();
  });
  watcher.on("error", onError);
  process.send?.({ type: "ready" });
  await new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
  await watcher.cancel().catch(() => undefined);
  client.close();
}

await (args.system === "etcd" ? runEtcd() : runSetpoint());
process.exit(0);
