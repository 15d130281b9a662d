// Faults with replicas on a real 3-member etcd on loopback (API.md §9): a
// replica killed with SIGKILL while watchers use it, the etcd leader killed
// under writes, and a short randomized run with replicas killed and etcd
// members killed or paused at random, one member at a time (quorum loss and
// a member that stops answering: faults-quorum.test.ts; the rig:
// test/helpers/fault-rig.ts). After each, every watcher's history must be
// a gap-free, duplicate-free prefix of the one true history (read by a fresh
// replica), and every acknowledged write must be in it.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { EtcdCluster, EtcdMember } from "../helpers/etcd.ts";
import { COLLECTION, rig, stopRigs, thing } from "../helpers/fault-rig.ts";
import { checkHistories, createAcked, eventually, ResumingWatcher, type Ack } from "../helpers/history.ts";

describe("faults with replicas on a 3-member etcd", () => {
  afterEach(stopRigs);

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

  it("randomized: concurrent writers, resuming watchers, replicas killed and etcd members killed or paused at random", async () => {
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
    let memberFaults = 0;
    // At most one etcd member of three is out at a time (quorum holds); the next step brings it back.
    let down: EtcdMember | undefined;
    let paused: EtcdMember | undefined;
    const faults: string[] = [];
    // At least `runMs`, then on until the run did what it is for (two replica
    // kills, one etcd member killed or paused, ten acknowledged writes): a
    // loaded machine may need longer for that, which is no failure; a run that
    // cannot do it in two minutes is.
    const done = () => Date.now() - t0 >= runMs && ((kills >= 2 && memberFaults >= 1 && acks.length >= 10) || Date.now() - t0 >= 120_000);
    try {
      while (!done()) {
        await new Promise((res) => setTimeout(res, 500 + random() * 1000));
        if (down) {
          faults.push(`restart ${down.name}`);
          await r.etcd.restart(down);
          down = undefined;
          continue;
        }
        if (paused) {
          faults.push(`resume ${paused.name}`);
          r.etcd.resume(paused);
          paused = undefined;
          continue;
        }
        const roll = random();
        if (roll < 0.5) {
          const live = r.replicas.filter((x) => x.child.exitCode === null && x.child.signalCode === null);
          if (live.length < 2) continue;
          const victim = live[Math.floor(random() * live.length)]!;
          faults.push(`kill replica ${victim.url}`);
          await victim.kill();
          kills++;
          void r.add();
        } else {
          // The leader or a follower: whichever the roll names.
          const member = r.etcd.members[Math.floor(random() * r.etcd.members.length)]!;
          memberFaults++;
          if (roll < 0.75) {
            faults.push(`kill etcd ${member.name}`);
            await r.etcd.kill(member);
            down = member;
          } else {
            faults.push(`pause etcd ${member.name}`);
            paused = member;
            await r.etcd.pause(member);
          }
        }
      }
    } finally {
      if (paused) r.etcd.resume(paused);
      if (down) await r.etcd.restart(down);
    }
    stop = true;
    await Promise.all(writers);
    const what = `seed ${seed}: ${faults.join(", ")}`;
    assert.ok(kills >= 2, `killed ${kills} replicas (${what})`);
    assert.ok(memberFaults >= 1, `${memberFaults} etcd member faults (${what})`);
    assert.ok(acks.length >= 10, `${acks.length} acknowledged writes (${what})`);
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), `every watcher to catch up (${what})`);
    checkHistories(truth, watchers, acks, { complete: true });
  });
});
