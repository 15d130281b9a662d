// The etcd store's Txn client (src/store/etcd-txn.ts: a bare gRPC call over
// node:http2) against a real etcd: answers, etcd's own errors, a member that
// is not there and one that never answers, each as the etcd3 package's typed
// error the store's retry and outcome logic tells apart.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { EtcdTxnClient } from "../../src/store/etcd-txn.ts";
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
});
