// Failover between agent replicas in separate processes: a second replica
// joins and takes its share, one replica is killed with SIGKILL, and the
// other reconciles all its objects (the diagnostic gives how long after the
// kill; the exact instants of fence and takeover are checked on a manual
// clock in lease.test.ts, which real processes on a loaded machine cannot
// give). Every reconcile's start and end, per key and replica, is recorded
// over a pipe, and no two replicas' reconciles of one key may overlap.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { createWidget, startEnv, waitFor, type Env } from "./fixtures.ts";
import { nodeEntry } from "../helpers/node-entry.ts";

const LEASE_MS = 3000;
const KEYS = Array.from({ length: 24 }, (_, i) => `default/fo-${i}`);

interface Event {
  r: string;
  k?: string;
  ev: "start" | "end" | "exit";
  t: number;
}

let env: Env;
before(async () => {
  env = await startEnv();
  for (const key of KEYS) await createWidget(env.http, key.slice("default/".length));
});
after(() => env.stop());

const events: Event[] = [];
const children: ChildProcess[] = [];
after(() => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")));

function spawnReplica(identity: string): ChildProcess {
  const settings = { grpcAddress: env.grpcAddress, httpUrl: env.server.url, identity, leaseDurationMs: LEASE_MS, workMs: 400, requeueMs: 50, workers: 12 };
  const child = spawn(process.execPath, nodeEntry(fileURLToPath(new URL("./replica.ts", import.meta.url))), {
    env: { ...process.env, REPLICA: JSON.stringify(settings) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  createInterface({ input: child.stdout! }).on("line", (line) => events.push(JSON.parse(line) as Event));
  children.push(child);
  return child;
}

const now = () => performance.timeOrigin + performance.now();
/** Keys `replica` started reconciling after time `since`. */
const startedBy = (replica: string, since: number) => new Set(events.filter((e) => e.r === replica && e.ev === "start" && e.t > since).map((e) => e.k!));

/** Every reconcile as [start, end] per key and replica; an unfinished one ends at `cutoff[replica]` (or never). */
function intervals(cutoff: Record<string, number>): Map<string, Array<{ r: string; from: number; to: number }>> {
  const byKey = new Map<string, Array<{ r: string; from: number; to: number }>>();
  const open = new Map<string, number>();
  for (const e of events) {
    if (!e.k) continue;
    const id = `${e.r} ${e.k}`;
    if (e.ev === "start") {
      assert.equal(open.has(id), false, `${id} started twice in one replica`);
      open.set(id, e.t);
    } else {
      const list = byKey.get(e.k) ?? [];
      list.push({ r: e.r, from: open.get(id)!, to: e.t });
      byKey.set(e.k, list);
      open.delete(id);
    }
  }
  for (const [id, from] of open) {
    const [r, k] = id.split(" ") as [string, string];
    byKey.set(k, [...(byKey.get(k) ?? []), { r, from, to: cutoff[r] ?? Infinity }]);
  }
  return byKey;
}

test("two replicas share the keys; after SIGKILL of one, the other takes all its keys, never overlapping", async (t) => {
  const a = spawnReplica("a");
  await waitFor("replica a reconciling every key", () => startedBy("a", 0).size === KEYS.length, 30_000);

  const joined = now();
  spawnReplica("b");
  await waitFor("replica b taking its share", () => startedBy("b", joined).size >= 4, 30_000);
  const settled = now();
  await waitFor("both replicas reconciling their shares", () => startedBy("a", settled).size + startedBy("b", settled).size === KEYS.length, 30_000);
  const ofA = startedBy("a", settled);
  const ofB = startedBy("b", settled);
  assert.ok(ofA.size > 0 && ofB.size > 0, `a has ${ofA.size} keys, b has ${ofB.size}`);
  assert.equal([...ofA].filter((k) => ofB.has(k)).length, 0, "no key reconciled by both since the handoff");

  const killedAt = now();
  a.kill("SIGKILL");
  await waitFor("b reconciling a's keys", () => [...ofA].every((k) => startedBy("b", killedAt).has(k)), LEASE_MS + 30_000);
  const takeover = Math.max(...[...ofA].map((k) => events.find((e) => e.r === "b" && e.k === k && e.ev === "start" && e.t > killedAt)!.t - killedAt));
  t.diagnostic(`all ${ofA.size} keys of the killed replica reconciled by the other ${takeover.toFixed(0)} ms after SIGKILL (lease ${LEASE_MS} ms)`);

  // No key ever reconciled by two replicas at once: during the join, and after the kill.
  let pairs = 0;
  for (const [key, list] of intervals({ a: killedAt })) {
    for (const x of list) {
      for (const y of list) {
        if (x.r >= y.r) continue;
        pairs++;
        assert.ok(x.to < y.from || y.to < x.from, `${key}: ${x.r} [${x.from}, ${x.to}] overlaps ${y.r} [${y.from}, ${y.to}]`);
      }
    }
  }
  assert.ok(pairs > KEYS.length, `${pairs} pairs of reconciles by different replicas checked`);

  const b = children[1]!;
  b.kill("SIGTERM");
  const code = await new Promise((r) => b.once("exit", r));
  assert.equal(code, 0, "b shuts down gracefully");
  assert.ok(events.some((e) => e.r === "b" && e.ev === "exit"));
});
