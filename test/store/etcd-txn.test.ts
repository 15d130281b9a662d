// The etcd store's Txn client (src/store/etcd-txn.ts: a bare gRPC call over
// node:http2) against a real etcd: answers, etcd's own errors, a member that
// is not there and one that never answers, each as the etcd3 package's typed
// error the store's retry and outcome logic tells apart.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { EtcdTxnClient } from "../../src/store/etcd-txn.ts";
import type { WatchResponse } from "../../src/store/etcd-wire.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

let etcd: EtcdCluster;

before(async () => {
  etcd = await startEtcd({ size: 1 });
});
after(async () => {
  await etcd?.stop();
});

const errorName = (err: unknown) => (err as { constructor?: { name?: string } }).constructor?.name;

describe("etcd Txn client", () => {
  it("a compare that holds applies; one that fails returns the key's value", async () => {
    const c = new EtcdTxnClient({ url: etcd.endpoints, timeoutMs: 5000 });
    try {
      const key = Buffer.from(`/txn-test/${process.pid}/a`);
      const value = Buffer.from("v1 \u0000 ✓");
      const put = await c.txn({
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: 0 }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      });
      assert.equal(put.succeeded, true);
      const again = await c.txn({
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from("v2") } }],
        failure: [{ request_range: { key } }],
      });
      assert.equal(again.succeeded, false);
      const kv = again.responses[0]!.response_range!.kvs[0]!;
      assert.deepEqual([kv.key, kv.value, kv.mod_revision, kv.version], [key, value, put.header.revision, "1"]);
      assert.equal(again.header.revision, put.header.revision);
    } finally {
      c.close();
    }
  });

  it("etcd's refusal comes out with etcd's message", async () => {
    const c = new EtcdTxnClient({ url: etcd.endpoints, timeoutMs: 5000 });
    try {
      const key = Buffer.from(`/txn-test/${process.pid}/dup`);
      await assert.rejects(
        c.txn({ compare: [], success: [{ request_put: { key, value: Buffer.from("x") } }, { request_delete_range: { key } }], failure: [] }),
        (err: Error) => /duplicate key given in txn request/.test(err.message),
      );
    } finally {
      c.close();
    }
  });

  it("a member that is not there is UNAVAILABLE", async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const c = new EtcdTxnClient({ url: `http://127.0.0.1:${closed}`, timeoutMs: 5000 });
    try {
      await assert.rejects(c.txn({ compare: [], success: [], failure: [] }), (err) => errorName(err) === "GRPCUnavailableError");
    } finally {
      c.close();
    }
  });

  it("a member that never answers fails at the deadline, and the next call opens a new connection", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const c = new EtcdTxnClient({ url: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, timeoutMs: 300 });
    try {
      await assert.rejects(c.txn({ compare: [], success: [], failure: [] }), (err) => errorName(err) === "GRPCDeadlineExceededError");
      assert.equal(sockets.length, 1);
      await assert.rejects(c.txn({ compare: [], success: [], failure: [] }), (err) => errorName(err) === "GRPCDeadlineExceededError");
      assert.equal(sockets.length, 2, "the second call did not open a new connection");
    } finally {
      c.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
  it("a watch on the Txn connection delivers each write with its previous value, and a failed connection as UNAVAILABLE", async () => {
    const c = new EtcdTxnClient({ url: etcd.endpoints, timeoutMs: 5000 });
    try {
      const prefix = Buffer.from(`/txn-test/${process.pid}/w/`);
      const key = Buffer.concat([prefix, Buffer.from("k")]);
      const put = (value: string) => c.txn({ compare: [], success: [{ request_put: { key, value: Buffer.from(value) } }], failure: [] });
      const first = await put("one");
      const w = c.watch();
      const seen: WatchResponse[] = [];
      const events = new Promise<void>((resolve, reject) => {
        w.on("data", (res: WatchResponse) => {
          seen.push(res);
          if (seen.flatMap((r) => r.events).length === 3) resolve();
        });
        w.on("error", reject);
      });
      w.write({
        create_request: {
          key: prefix,
          range_end: Buffer.from(`/txn-test/${process.pid}/w0`),
          start_revision: Number(first.header.revision),
          prev_kv: true,
          progress_notify: false,
        },
      });
      // A big value spans several HTTP/2 frames: the message is put together again.
      const big = "b".repeat(100_000);
      await put("two");
      await put(big);
      await events;
      assert.equal(seen[0]!.created, true);
      const evs = seen.flatMap((r) => r.events);
      assert.deepEqual(
        evs.map((e) => [e.kv.value.toString(), e.prev_kv?.value.toString()]),
        [
          ["one", undefined],
          ["two", "one"],
          [big, "two"],
        ],
      );
      w.cancel();
      // The connection the watch and the calls share is cut: a new watch fails as UNAVAILABLE.
      const dead = new EtcdTxnClient({ url: "http://127.0.0.1:1", timeoutMs: 5000 });
      const failed = await new Promise<unknown>((resolve) => dead.watch().on("error", resolve));
      dead.close();
      assert.equal(errorName(failed), "GRPCUnavailableError");
      // The Txn calls go on on the connection the canceled watch used.
      assert.equal((await put("three")).succeeded, true);
    } finally {
      c.close();
    }
  });
});
