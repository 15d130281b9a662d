// The rig of the fault tests (test/server/faults*.test.ts): a real 3-member
// etcd on loopback, Setpoint replicas on it as processes, watchers that
// resume across replicas, and the true history read by a fresh replica.

import assert from "node:assert/strict";
import { startEtcd, type EtcdCluster } from "./etcd.ts";
import { eventually, ResumingWatcher } from "./history.ts";
import { startReplica, type ReplicaProcess } from "./replica.ts";

const GROUP = "faults.example.com";
const NS = "default";
export const COLLECTION = `/apis/${GROUP}/v1/namespaces/${NS}/things`;
export const thing = (name: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec: { n: name } });

/** Everything a test started, stopped at its end whatever happened. */
export class Rig {
  etcd!: EtcdCluster;
  replicas: ReplicaProcess[] = [];
  watchers: ResumingWatcher[] = [];
  prefix = `/faults-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  async start(replicas: number, args: string[] = []): Promise<void> {
    this.etcd = await startEtcd({ size: 3 });
    for (let i = 0; i < replicas; i++) await this.add(args);
    const res = await fetch(`${this.replicas[0]!.url}/apis/setpoint.dev/v1/resourcetypes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        apiVersion: "setpoint.dev/v1",
        kind: "ResourceType",
        metadata: { name: `things.${GROUP}` },
        spec: { group: GROUP, version: "v1", kind: "Thing", plural: "things", scope: "Namespaced" },
      }),
    });
    assert.equal(res.status, 201, await res.text());
  }

  /** Replicas still starting (the randomized test adds one without waiting): stop() waits for them, so none outlives the test. */
  starting: Array<Promise<unknown>> = [];

  async add(args: string[] = []): Promise<ReplicaProcess> {
    const started = startReplica({ etcdServers: this.etcd.endpoints, prefix: this.prefix, args: ["--bookmark-interval", "500ms", ...args] });
    this.starting.push(started.catch(() => undefined));
    const r = await started;
    this.replicas.push(r);
    return r;
  }

  urls = (): string[] => this.replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null).map((r) => r.url);

  /** The current revision, from a consistent list on a live replica. */
  async revision(): Promise<number> {
    for (;;) {
      try {
        const res = await fetch(`${this.urls()[0]}${COLLECTION}?limit=1`, { signal: AbortSignal.timeout(10_000) });
        if (res.status === 200) return Number(((await res.json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
      } catch {
        // retry
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The true history after `from`, read by a replica started now (its mirror rebuilt from etcd). */
  async truth(from: number): Promise<ResumingWatcher["events"]> {
    const fresh = await this.add();
    const upTo = await this.revision();
    const w = new ResumingWatcher(() => [fresh.url], COLLECTION, from);
    this.watchers.push(w);
    await eventually(() => w.last >= upTo, `the fresh replica's history to reach ${upTo}`);
    w.stop();
    return w.events;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.stop();
    await Promise.all(this.starting);
    await Promise.all(this.replicas.map((r) => r.kill()));
    await this.etcd?.stop();
  }
}

// Each test's etcd cluster and replicas stop when it ends: left running, they
// would heartbeat and serve bookmarks beside every later test.
const rigs: Rig[] = [];

/** Starts a Rig (a 3-member etcd and `replicas` replicas on it), stopped by stopRigs(). */
export async function rig(replicas: number, args: string[] = []): Promise<Rig> {
  const r = new Rig();
  rigs.push(r);
  await r.start(replicas, args);
  return r;
}

/** Stops every Rig started since the last call: each test file runs it in afterEach. */
export async function stopRigs(): Promise<void> {
  for (const r of rigs.splice(0)) await r.stop();
}
