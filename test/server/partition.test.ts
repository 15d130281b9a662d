// A real network partition (API.md §9): a 3-member etcd whose peer traffic
// runs through loopback proxies (test/helpers/peer-proxy.ts), and one member
// cut off from the other two while its client port still answers. Replica A
// talks to the majority, replica P only to the cut-off member. Writes go on
// through A; P fails writes and lists with 503 within its timeout and its
// /readyz fails; once the partition heals, P catches up, and a watch opened on
// P before the partition has every change once, in order.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { checkHistories, createAcked, eventually, ResumingWatcher, type Ack } from "../helpers/history.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

const GROUP = "partition.example.com";
const COLLECTION = `/apis/${GROUP}/v1/namespaces/default/things`;
const TIMEOUT_MS = 2000;
const thing = (name: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec: {} });

let etcd: EtcdCluster;
const servers: TestServer[] = [];
const watchers: ResumingWatcher[] = [];

before(async () => {
  etcd = await startEtcd({ size: 3, partitionable: true });
});
after(async () => {
  for (const w of watchers) w.stop();
  for (const s of servers) await s.stop();
  await etcd?.stop();
});

async function replica(endpoints: string[]): Promise<TestServer> {
  const s = await startTestServer({
    store: "etcd",
    etcdServers: endpoints,
    etcdPrefix: `/partition-${process.pid}`,
    etcdRequestTimeoutMs: TIMEOUT_MS,
    bookmarkIntervalMs: 500,
  });
  servers.push(s);
  return s;
}

/** Polls `check` until it holds; false if `ms` passed first. */
async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function status(url: string, init: RequestInit = {}): Promise<{ status: number; text: string; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, text: await res.text(), ms: Date.now() - t0 };
}

describe("a partitioned etcd member", () => {
  it("writes go on through the majority; the cut-off side's replica answers 503 in time and is not ready; healed, it catches up", async () => {
    const [m0, m1, m2] = etcd.members as [EtcdCluster["members"][0], EtcdCluster["members"][0], EtcdCluster["members"][0]];
    const a = await replica([m0.clientUrl, m1.clientUrl]);
    const p = await replica([m2.clientUrl]);
    await createType(api(a.url), { group: GROUP, kind: "Thing", plural: "things" });
    const acks: Ack[] = [];
    for (let i = 0; i < 3; i++) acks.push(await createAcked(() => [a.url, p.url], COLLECTION, thing(`before-${i}`), { start: i }));
    const from = acks[0]!.rv - 1;
    const onP = { from, w: new ResumingWatcher(() => [p.url], COLLECTION, from), label: "watcher on P" };
    const onA = { from, w: new ResumingWatcher(() => [a.url], COLLECTION, from), label: "watcher on A" };
    watchers.push(onP.w, onA.w);
    await eventually(() => onP.w.events.length === 3 && onA.w.events.length === 3, "the first writes on both watchers");

    await etcd.partition(m2);
    // The majority goes on (after an election, if the leader was cut off).
    for (let i = 0; i < 5; i++) acks.push(await createAcked(() => [a.url], COLLECTION, thing(`during-${i}`), { deadlineMs: 30_000 }));
    // P: a write and a list fail with 503 within the timeout (plus slack for a loaded machine).
    const write = await status(p.url + COLLECTION, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(thing("cut-off")) });
    assert.equal(write.status, 503, write.text);
    assert.equal(JSON.parse(write.text).reason, "ServiceUnavailable");
    assert.ok(write.ms < TIMEOUT_MS * 3, `the write failed after ${write.ms} ms`);
    const list = await status(p.url + COLLECTION);
    assert.equal(list.status, 503, list.text);
    assert.ok(list.ms < TIMEOUT_MS * 3, `the list failed after ${list.ms} ms`);
    assert.ok(await within(20_000, async () => (await status(p.url + "/readyz")).status === 503), "P's /readyz fails while it is cut off");
    assert.equal((await status(a.url + "/readyz")).status, 200, "A stays ready");
    assert.equal((await status(a.url + COLLECTION)).status, 200, "A's lists work");

    etcd.heal();
    assert.ok(await within(30_000, async () => (await status(p.url + "/readyz")).status === 200), "P is ready again once healed");
    // P serves everything written meanwhile (the write it refused is not known to have been applied or not: 503).
    const items: string[] = JSON.parse((await status(p.url + COLLECTION)).text).items.map((o: { metadata: { name: string } }) => o.metadata.name);
    assert.deepEqual(items.filter((n) => n !== "cut-off").sort(), acks.map((x) => x.name).sort());
    for (let i = 0; i < 3; i++) acks.push(await createAcked(() => [p.url], COLLECTION, thing(`after-${i}`)));
    await eventually(() => onP.w.events.length >= acks.length && onA.w.events.length >= acks.length, "both watchers to have every write");
    const truth = onA.w.events.slice();
    checkHistories(truth, [onP, onA], acks, { complete: true });
  });
});
