// The etcd store sends its transactions to the etcd leader (a member that is
// not the leader forwards each write to it: a hop and CPU on two members), and
// finds the new leader after the old one dies. Checked on a real 3-member etcd
// by each member's own count of the Txn calls it answered (its /metrics).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openEtcdStore } from "../../src/store/etcd.ts";
import type { Store } from "../../src/store/types.ts";
import { startEtcd, type EtcdCluster, type EtcdMember } from "../helpers/etcd.ts";

let etcd: EtcdCluster;
let prefixes = 0;

before(async () => {
  etcd = await startEtcd({ size: 3 });
});
after(async () => {
  await etcd?.stop();
});

/** Txn calls `member` answered OK so far, from its Prometheus metrics. */
async function txns(member: EtcdMember): Promise<number> {
  const text = await (await fetch(`${member.clientUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const m = /grpc_server_handled_total\{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"\} (\d+)/.exec(text);
  assert.ok(m, `no Txn counter in ${member.name}'s metrics`);
  return Number(m[1]);
}

/** Txn calls each live member answered while `fn` ran. */
async function txnsDuring(members: EtcdMember[], fn: () => Promise<void>): Promise<Map<EtcdMember, number>> {
  const before = new Map<EtcdMember, number>();
  for (const m of members) before.set(m, await txns(m));
  await fn();
  const out = new Map<EtcdMember, number>();
  for (const m of members) out.set(m, (await txns(m)) - before.get(m)!);
  return out;
}

async function creates(store: Store, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await store.write({ type: "things.example.com", namespace: "", name: `t${i}` }, (current, revision) => {
      if (current) throw new Error(`t${i} exists`);
      return { op: "put", object: JSON.stringify({ metadata: { name: `t${i}`, resourceVersion: String(revision) } }) };
    });
  }
}

describe("etcd store: the leader", () => {
  it("writes go to the leader, not through a follower", async () => {
    const store = await openEtcdStore({ endpoints: etcd.endpoints.split(","), prefix: `/leader-${process.pid}-${++prefixes}`, syncIntervalMs: 0 });
    try {
      const leader = await etcd.leader();
      const counts = await txnsDuring(etcd.members, () => creates(store, 0, 20));
      assert.ok(counts.get(leader)! >= 20, `the leader answered ${counts.get(leader)} of 20 writes`);
      for (const m of etcd.members) if (m !== leader) assert.equal(counts.get(m), 0, `follower ${m.name} answered ${counts.get(m)} Txn calls`);
    } finally {
      await store.close();
    }
  });

  it("without preferLeader, writes are spread over the members (what the first test tells apart)", async () => {
    const store = await openEtcdStore({
      endpoints: etcd.endpoints.split(","),
      prefix: `/leader-${process.pid}-${++prefixes}`,
      syncIntervalMs: 0,
      preferLeader: false,
    });
    try {
      const leader = await etcd.leader();
      const counts = await txnsDuring(etcd.members, () => creates(store, 0, 30));
      const viaFollowers = etcd.members.filter((m) => m !== leader).reduce((sum, m) => sum + counts.get(m)!, 0);
      assert.ok(viaFollowers > 0, "30 writes spread at random all went to the leader");
    } finally {
      await store.close();
    }
  });

  it("after the leader is killed, writes go on and then go to the new leader", async () => {
    const store = await openEtcdStore({ endpoints: etcd.endpoints.split(","), prefix: `/leader-${process.pid}-${++prefixes}`, requestTimeoutMs: 3000 });
    try {
      await creates(store, 0, 3);
      const old = await etcd.leader();
      await etcd.kill(old);
      const live = etcd.members.filter((m) => m !== old);
      // Writes during the election may fail (503); each is tried again until it is acknowledged.
      const deadline = Date.now() + 60_000;
      let n = 3;
      let routed = false;
      while (!routed) {
        assert.ok(Date.now() < deadline, "writes did not settle on the new leader within 60 s");
        try {
          const leader = await etcd.leader();
          const counts = await txnsDuring(live, () => creates(store, n, 5));
          n += 5;
          routed = live.every((m) => m === leader || counts.get(m) === 0) && counts.get(leader)! >= 5;
        } catch {
          n += 5; // a write failed in the election, or the leader was not known yet: go on with new names
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      await etcd.restart(old);
    } finally {
      await store.close();
    }
  });

  it("a leader that stops answering (SIGSTOP): writes go on through the new leader, and this store's watch has every one of them", async () => {
    const store = await openEtcdStore({ endpoints: etcd.endpoints.split(","), prefix: `/leader-${process.pid}-${++prefixes}`, requestTimeoutMs: 2000 });
    const paused = await etcd.leader();
    try {
      await creates(store, 0, 3);
      await etcd.pause(paused);
      const live = etcd.members.filter((m) => m !== paused);
      // Writes in flight when it stopped fail within the request timeout (503); then the new leader takes them.
      const acked: string[] = ["t0", "t1", "t2"];
      const deadline = Date.now() + 60_000;
      let n = 3;
      let routed = false;
      while (!routed) {
        assert.ok(Date.now() < deadline, `writes did not settle on a new leader within 60 s (${acked.length} acknowledged)`);
        try {
          const leader = await leaderOf(live);
          const from = n;
          n += 5;
          const counts = await txnsDuring(live, async () => {
            for (let i = from; i < from + 5; i++) {
              await creates(store, i, 1);
              acked.push(`t${i}`);
            }
          });
          routed = live.every((m) => m === leader || counts.get(m) === 0) && counts.get(leader)! >= 5;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // Every acknowledged write is served by this store (its watch moved off the stopped member).
      for (let attempt = 1; ; attempt++) {
        try {
          await store.sync!();
          break;
        } catch (err) {
          if (attempt >= 5) throw err; // a sync that finds the watch stalled reopens it and fails this once
        }
      }
      for (const name of acked) assert.ok(store.get({ type: "things.example.com", namespace: "", name }), `${name} acknowledged but not in the store`);
    } finally {
      etcd.resume(paused);
      await store.close();
    }
  });
});

/** The leader among `members`, asked of them alone (a stopped member would not answer). */
async function leaderOf(members: EtcdMember[]): Promise<EtcdMember> {
  for (const m of members) {
    const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(2000) });
    const st = (await res.json()) as { leader?: string; header?: { member_id?: string } };
    if (st.leader && st.leader === st.header?.member_id) return m;
  }
  throw new Error("no leader among the live members yet");
}
