// Faults with replicas on a real 3-member etcd on loopback (API.md §9): a
// replica killed with SIGKILL while watchers use it, the etcd leader killed
// under writes, quorum lost and regained, a member that stops answering
// (SIGSTOP: partitioned), and a short randomized run with replicas killed at
// random. After each, every watcher's history must be a gap-free,
// duplicate-free prefix of the one true history (read by a fresh replica),
// and every acknowledged write must be in it.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { checkHistories, createAcked, eventually, ResumingWatcher, type Ack } from "../helpers/history.ts";
import { startReplica, type ReplicaProcess } from "../helpers/replica.ts";

const GROUP = "faults.example.com";
const NS = "default";
const COLLECTION = `/apis/${GROUP}/v1/namespaces/${NS}/things`;
const thing = (name: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec: { n: name } });

/** Everything a test started, stopped at its end whatever happened. */
class Rig {
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

  async add(args: string[] = []): Promise<ReplicaProcess> {
    const r = await startReplica({ etcdServers: this.etcd.endpoints, prefix: this.prefix, args: ["--bookmark-interval", "500ms", ...args] });
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
    await Promise.all(this.replicas.map((r) => r.kill()));
    await this.etcd?.stop();
  }
}

// Each test's etcd cluster and replicas stop when it ends: left running, they
// would heartbeat and serve bookmarks beside every later test.
const rigs: Rig[] = [];
async function rig(replicas: number, args: string[] = []): Promise<Rig> {
  const r = new Rig();
  rigs.push(r);
  await r.start(replicas, args);
  return r;
}

describe("faults with replicas on a 3-member etcd", () => {
  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.stop();
  });

  it("a replica killed with SIGKILL: its watchers resume on another, nothing lost or repeated", async () => {
    const r = await rig(2);
    const [a] = r.replicas;
    const from = await r.revision();
    // Watchers start on A (index 0), and move to B when A dies.
    const watchers = [0, 1, 2].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, 0), label: `watcher ${i}` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    for (let i = 0; i < 40; i++) {
      if (i === 15) await a!.kill();
      acks.push(await createAcked(r.urls, COLLECTION, thing(`k${i}`), { start: 1 }));
    }
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), "every watcher to catch up");
    checkHistories(truth, watchers, acks, { complete: true });
    assert.ok(
      watchers.every((x) => x.w.disconnects >= 1),
      "the watchers did lose their replica",
    );
  });

  it("the etcd leader killed under writes: writes go on after the election, each delivered once, in order", async () => {
    const r = await rig(2);
    const from = await r.revision();
    const watchers = [0, 1].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, i), label: `watcher on replica ${i}` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    let killed: Awaited<ReturnType<EtcdCluster["leader"]>> | undefined;
    const writers = [0, 1].map(async (wi) => {
      for (let i = 0; i < 25; i++) {
        if (wi === 0 && i === 8) {
          killed = await r.etcd.leader();
          await r.etcd.kill(killed);
        }
        acks.push(await createAcked(r.urls, COLLECTION, thing(`l${wi}-${i}`), { start: wi }));
      }
    });
    await Promise.all(writers);
    assert.ok(killed, "a leader was killed");
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), "every watcher to catch up");
    checkHistories(truth, watchers, acks, { complete: true });
    await r.etcd.restart(killed!);
  });

  it("quorum lost: writes and lists fail with 503 within their timeout, /readyz fails, open watches stay open and continue", async () => {
    const r = await rig(2, ["--etcd-request-timeout", "2s"]);
    const [a, b] = r.replicas;
    const from = await r.revision();
    const watchers = [0, 1].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, i), label: `watcher on replica ${i}` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    for (let i = 0; i < 5; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`q${i}`)));
    await eventually(() => watchers.every((x) => x.w.events.length === 5), "the first writes");

    const [m0, m1, m2] = r.etcd.members;
    await r.etcd.kill(m1!);
    await r.etcd.kill(m2!);
    // Writes and lists: 503 ServiceUnavailable, within the 2 s timeout (plus slack for a loaded machine).
    for (const replica of [a!, b!]) {
      const t0 = Date.now();
      const write = await fetch(replica.url + COLLECTION, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(thing(`lost-${replica.url.slice(-5)}`)),
      });
      const wbody = (await write.json()) as { reason?: string };
      assert.equal(write.status, 503, JSON.stringify(wbody));
      assert.equal(wbody.reason, "ServiceUnavailable");
      const list = await fetch(replica.url + COLLECTION);
      assert.equal(list.status, 503, await list.text());
      assert.ok(Date.now() - t0 < 12_000, `both failed in ${Date.now() - t0} ms`);
    }
    for (const replica of [a!, b!]) {
      let ready = 200;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        ready = (await fetch(replica.url + "/readyz")).status;
        if (ready === 503) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(ready, 503, `${replica.url} /readyz while quorum is lost`);
    }
    assert.ok(
      watchers.every((x) => x.w.disconnects === 0),
      "open watches stayed open",
    );

    await r.etcd.restart(m1!);
    await r.etcd.restart(m2!);
    for (const replica of [a!, b!]) {
      const deadline = Date.now() + 30_000;
      let ready = 0;
      while (Date.now() < deadline && (ready = (await fetch(replica.url + "/readyz")).status) !== 200) await new Promise((res) => setTimeout(res, 200));
      assert.equal(ready, 200, `${replica.url} ready again`);
    }
    for (let i = 5; i < 15; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`q${i}`)));
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), "every watcher to continue");
    checkHistories(truth, watchers, acks, { complete: true });
    assert.ok(
      watchers.every((x) => x.w.disconnects === 0),
      "the watches were never closed",
    );
    assert.ok(m0);
  });

  it("a member that stops answering (SIGSTOP): writes and watches go on through the others", async () => {
    const r = await rig(2);
    const from = await r.revision();
    const watchers = [0, 1].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, i), label: `watcher on replica ${i}` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    for (let i = 0; i < 5; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`p${i}`), { start: i }));
    const paused = r.etcd.members[0]!;
    r.etcd.pause(paused);
    try {
      const t0 = Date.now();
      for (let i = 5; i < 25; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`p${i}`), { start: i }));
      assert.ok(Date.now() - t0 < 60_000);
      await eventually(() => watchers.every((x) => x.w.events.length >= 25), "the watchers to see every write while the member is stopped");
    } finally {
      r.etcd.resume(paused);
    }
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), "every watcher to catch up");
    checkHistories(truth, watchers, acks, { complete: true });
  });

  it("randomized: concurrent writers, resuming watchers, replicas killed at random", async () => {
    const seed = Number(process.env.SETPOINT_FAULT_SEED ?? Date.now() % 100_000);
    let s = seed >>> 0;
    const random = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), s | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const r = await rig(3);
    const from = await r.revision();
    const watchers = [0, 1, 2, 3].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, i), label: `watcher ${i} (seed ${seed})` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    const runMs = 6000;
    const t0 = Date.now();
    let stop = false;
    const writers = [0, 1, 2].map(async (wi) => {
      for (let i = 0; !stop && i < 200; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`r${wi}-${i}`), { start: Math.floor(random() * 3) }));
    });
    let kills = 0;
    while (Date.now() - t0 < runMs) {
      await new Promise((res) => setTimeout(res, 500 + random() * 1000));
      const live = r.replicas.filter((x) => x.child.exitCode === null && x.child.signalCode === null);
      if (live.length < 2) continue;
      await live[Math.floor(random() * live.length)]!.kill();
      kills++;
      void r.add();
    }
    stop = true;
    await Promise.all(writers);
    assert.ok(kills >= 2, `killed ${kills} replicas (seed ${seed})`);
    assert.ok(acks.length >= 10, `${acks.length} acknowledged writes (seed ${seed})`);
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), `every watcher to catch up (seed ${seed})`);
    checkHistories(truth, watchers, acks, { complete: true });
  });
});
