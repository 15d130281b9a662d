// Faults with replicas on a real 3-member etcd on loopback (API.md §9), the
// second half of faults.test.ts (split so the two run side by side): quorum
// lost and regained, the whole of etcd killed and restarted on its data dirs,
// and a member that stops answering (SIGSTOP: partitioned).
// After each, every watcher's history must be a gap-free, duplicate-free
// prefix of the one true history (read by a fresh replica), and every
// acknowledged write must be in it.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadResourcesService, statusOfError, type UnaryMethod } from "../../src/proto.ts";
import { COLLECTION, rig, stopRigs, thing } from "../helpers/fault-rig.ts";
import { checkHistories, createAcked, eventually, ResumingWatcher, type Ack } from "../helpers/history.ts";

const { Client } = loadResourcesService();

describe("faults with replicas on a 3-member etcd", () => {
  afterEach(stopRigs);

  it("quorum lost: writes and lists fail with 503 (gRPC UNAVAILABLE) within their timeout, /readyz fails, open watches stay open and continue", async () => {
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
    // Over gRPC the same: UNAVAILABLE with the ServiceUnavailable Status, for a create and a list.
    const g = new Client(a!.grpc, grpc.credentials.createInsecure());
    try {
      const ref = { group: "faults.example.com", version: "v1", plural: "things", namespace: "default", name: "" };
      const unary = <Req, Res>(method: UnaryMethod<Req, Res>, request: Req) =>
        new Promise<Res>((resolve, reject) =>
          method.call(g, request, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (err, res) => (err ? reject(err) : resolve(res!))),
        );
      const calls: Array<() => Promise<unknown>> = [
        () => unary(g.create, { ref, object: Buffer.from(JSON.stringify(thing("lost-grpc"))) }),
        () => unary(g.list, { ref }),
      ];
      for (const attempt of calls) {
        const err = await attempt().then(
          () => assert.fail("a gRPC call succeeded without quorum"),
          (e: grpc.ServiceError) => e,
        );
        assert.equal(err.code, grpc.status.UNAVAILABLE, err.message);
        assert.equal(statusOfError(err)?.reason, "ServiceUnavailable", `${err.message} ${JSON.stringify(err.metadata?.getMap())}`);
      }
    } finally {
      g.close();
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

  it("etcd restarted (every member SIGKILLed under writes, then started on its data dir): open watches stay open and continue, nothing lost or repeated", async () => {
    const r = await rig(2, ["--etcd-request-timeout", "2s"]);
    const from = await r.revision();
    const watchers = [0, 1].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, i), label: `watcher on replica ${i}` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    for (let i = 0; i < 5; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`k${i}`), { start: i }));
    await eventually(() => watchers.every((x) => x.w.events.length === 5), "the first writes");
    // Writes keep coming while etcd dies: some are in flight at the kill, and retry until acknowledged after the restart.
    const writing = (async () => {
      for (let i = 5; i < 25; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`k${i}`), { start: i }));
    })();
    await eventually(() => acks.length >= 8, "writes under way");
    for (const m of r.etcd.members) await r.etcd.kill(m);
    // Together: a member alone has no quorum, so none is healthy until two are back.
    await Promise.all(r.etcd.members.map((m) => r.etcd.restart(m)));
    await writing;
    const truth = await r.truth(from);
    await eventually(() => watchers.every((x) => x.w.events.length >= truth.length), "every watcher to continue");
    checkHistories(truth, watchers, acks, { complete: true });
    assert.ok(
      watchers.every((x) => x.w.disconnects === 0),
      "the watches were never closed",
    );
  });

  it("a member that stops answering (SIGSTOP): writes and watches go on through the others", async () => {
    const r = await rig(2);
    const from = await r.revision();
    const watchers = [0, 1].map((i) => ({ from, w: new ResumingWatcher(r.urls, COLLECTION, from, i), label: `watcher on replica ${i}` }));
    r.watchers.push(...watchers.map((x) => x.w));
    const acks: Ack[] = [];
    for (let i = 0; i < 5; i++) acks.push(await createAcked(r.urls, COLLECTION, thing(`p${i}`), { start: i }));
    const paused = r.etcd.members[0]!;
    try {
      await r.etcd.pause(paused);
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
});
