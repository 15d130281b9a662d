// The etcd store's hand-made Txn codec (src/store/etcd-wire.ts) against
// protobufjs reading and writing etcd's own .proto files the way the etcd3
// package does: what the store sends decodes to the intended request, and what
// etcd answers decodes to the fields the store reads.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { loadSync } from "@grpc/proto-loader";
import { decodeTxnResponse, decodeWatchResponse, encodeTxnRequest, encodeWatchRequest, type TxnRequest } from "../../src/store/etcd-wire.ts";

const proto = loadSync(fileURLToPath(new URL("../../node_modules/etcd3/proto/rpc.proto", import.meta.url)), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const txn = (proto["etcdserverpb.KV"] as unknown as Record<string, { requestDeserialize(b: Buffer): any; responseSerialize(o: unknown): Buffer }>).Txn!;

const key = Buffer.from("/setpoint/o/things.example.com/ns\u0000a-name");
const tomb = Buffer.from("/setpoint/d/things.example.com/ns\u0000a-name");
const value = Buffer.from(`1700000000000 12 abc.1\n${JSON.stringify({ metadata: { name: "a-name", labels: { é: "✓" } } })}`);

describe("etcd wire: TxnRequest", () => {
  const cases: Array<[string, TxnRequest]> = [
    [
      "a create",
      {
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: 0 }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }, { request_range: { key: tomb } }],
      },
    ],
    [
      "an update at a large revision",
      {
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: 2 ** 40 + 7 }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }, { request_range: { key: tomb } }],
      },
    ],
    [
      "a delete",
      {
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: 300 }],
        success: [{ request_delete_range: { key } }, { request_put: { key: tomb, value } }],
        failure: [{ request_range: { key } }],
      },
    ],
    [
      "a create that no key of a range changed since a revision",
      {
        compare: [
          { key, target: "Mod", result: "Equal", mod_revision: 0 },
          {
            key: Buffer.from("/setpoint/o/resourcetypes.setpoint.dev/"),
            range_end: Buffer.from("/setpoint/o/resourcetypes.setpoint.dev0"),
            target: "Mod",
            result: "Less",
            mod_revision: 41,
          },
        ],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }, { request_range: { key: tomb } }],
      },
    ],
    ["a version compare, nothing to do", { compare: [{ key, target: "Version", result: "Equal", version: 0 }], success: [], failure: [] }],
  ];
  for (const [name, req] of cases) {
    it(`${name} decodes to the request`, () => {
      const got = txn.requestDeserialize(encodeTxnRequest(req));
      assert.equal(got.compare.length, req.compare.length);
      for (const [i, c] of req.compare.entries()) {
        const g = got.compare[i];
        assert.deepEqual(g.key, c.key);
        assert.equal(g.target, c.target);
        assert.equal(g.result, c.result);
        assert.deepEqual(g.range_end, c.range_end ?? Buffer.alloc(0));
        if (c.target === "Mod") assert.equal(g.mod_revision, String(c.mod_revision));
        else assert.equal(g.version, String(c.version));
      }
      for (const [ops, want] of [
        [got.success, req.success],
        [got.failure, req.failure],
      ] as const) {
        assert.equal(ops.length, want.length);
        for (const [i, op] of want.entries()) {
          const g = ops[i];
          if ("request_put" in op) {
            assert.equal(g.request, "request_put");
            assert.deepEqual(g.request_put.key, op.request_put.key);
            assert.deepEqual(g.request_put.value, op.request_put.value);
            assert.equal(g.request_put.prev_kv, false);
          } else if ("request_delete_range" in op) {
            assert.equal(g.request, "request_delete_range");
            assert.deepEqual(g.request_delete_range.key, op.request_delete_range.key);
            assert.equal(g.request_delete_range.range_end.length, 0);
          } else {
            assert.equal(g.request, "request_range");
            assert.deepEqual(g.request_range.key, op.request_range.key);
            assert.equal(g.request_range.range_end.length, 0);
            assert.equal(g.request_range.revision, "0");
          }
        }
      }
    });
  }

  it("refuses a revision that is not a non-negative integer", () => {
    for (const bad of [-1, 1.5, 2 ** 60])
      assert.throws(() => encodeTxnRequest({ compare: [{ key, target: "Mod", result: "Equal", mod_revision: bad }], success: [], failure: [] }), RangeError);
  });
});

describe("etcd wire: TxnResponse", () => {
  const header = { cluster_id: "14841639068965178418", member_id: "10276657743932975437", revision: String(2 ** 40 + 3), raft_term: "5" };
  const kv = (k: Buffer, v: Buffer, mod: number, version: number) => ({
    key: k,
    value: v,
    create_revision: String(mod - version + 1),
    mod_revision: String(mod),
    version: String(version),
    lease: "0",
  });

  it("a transaction that succeeded", () => {
    const bytes = txn.responseSerialize({ header, succeeded: true, responses: [{ response_put: { header } }] });
    const got = decodeTxnResponse(bytes);
    assert.equal(got.header.revision, String(2 ** 40 + 3));
    assert.equal(got.succeeded, true);
    assert.equal(got.responses.length, 1);
    assert.equal(got.responses[0]!.response_range, undefined);
  });

  it("a failed compare with the key's value and an absent tombstone", () => {
    const binary = Buffer.from([0, 1, 2, 255, 10, 128]);
    const bytes = txn.responseSerialize({
      header,
      succeeded: false,
      responses: [
        { response_range: { header, kvs: [kv(key, value, 2 ** 33 + 1, 4)], count: "1", more: false } },
        { response_range: { header, kvs: [], count: "0" } },
        { response_range: { header, kvs: [kv(tomb, binary, 9, 1), kv(Buffer.from("k"), Buffer.alloc(0), 10, 1)], count: "2" } },
      ],
    });
    const got = decodeTxnResponse(bytes);
    assert.equal(got.succeeded, false);
    assert.equal(got.header.revision, String(2 ** 40 + 3));
    assert.deepEqual(
      got.responses.map((r) => r.response_range?.kvs),
      [[kv(key, value, 2 ** 33 + 1, 4)], [], [kv(tomb, binary, 9, 1), kv(Buffer.from("k"), Buffer.alloc(0), 10, 1)]],
    );
    // The values are copies: the answer's buffer may be reused.
    const v = got.responses[0]!.response_range!.kvs[0]!.value;
    bytes.fill(0);
    assert.deepEqual(v, value);
  });

  it("a truncated answer is an error, not a partial one", () => {
    const bytes = txn.responseSerialize({ header, succeeded: false, responses: [{ response_range: { header, kvs: [kv(key, value, 5, 1)] } }] });
    for (const cut of [1, 5, bytes.length - 3]) assert.throws(() => decodeTxnResponse(bytes.subarray(0, cut)), RangeError);
  });
});

describe("etcd wire: the watch", () => {
  const watch = (proto["etcdserverpb.Watch"] as unknown as Record<string, { requestDeserialize(b: Buffer): any; responseSerialize(o: unknown): Buffer }>)
    .Watch!;
  const header = { cluster_id: "14841639068965178418", member_id: "10276657743932975437", revision: String(2 ** 36 + 1), raft_term: "5" };
  const kv = (k: string, v: string, mod: number, version: number) => ({
    key: Buffer.from(k),
    value: Buffer.from(v),
    create_revision: String(mod - version + 1),
    mod_revision: String(mod),
    version: String(version),
    lease: "0",
  });

  it("the create request decodes to what the store asks", () => {
    const got = watch.requestDeserialize(
      encodeWatchRequest({
        create_request: { key: Buffer.from("/p/"), range_end: Buffer.from("/p0"), start_revision: 2 ** 34 + 5, prev_kv: true, progress_notify: true },
      }),
    );
    assert.equal(got.request_union, "create_request");
    const c = got.create_request;
    assert.deepEqual(
      [c.key.toString(), c.range_end.toString(), c.start_revision, c.prev_kv, c.progress_notify],
      ["/p/", "/p0", String(2 ** 34 + 5), true, true],
    );
    assert.deepEqual(c.filters, []);
    assert.equal(c.fragment, false);
  });

  it("events: puts with and without prev_kv, a delete, in order", () => {
    const events = [
      { type: "Put", kv: kv("/p/o/a", "one", 2 ** 36, 1) },
      { type: "Put", kv: kv("/p/o/b", "two", 2 ** 36 + 1, 3), prev_kv: kv("/p/o/b", "two-before", 40, 2) },
      { type: "Delete", kv: { ...kv("/p/o/c", "", 2 ** 36 + 1, 0), create_revision: "0" }, prev_kv: kv("/p/o/c", "last", 41, 1) },
    ];
    const got = decodeWatchResponse(watch.responseSerialize({ header, watch_id: "0", events }));
    assert.equal(got.header.revision, String(2 ** 36 + 1));
    assert.deepEqual([got.created, got.canceled, got.compact_revision], [false, false, "0"]);
    assert.deepEqual(got.events, events);
  });

  it("created, progress, and a cancel for compaction", () => {
    assert.equal(decodeWatchResponse(watch.responseSerialize({ header, watch_id: "0", created: true })).created, true);
    const progress = decodeWatchResponse(watch.responseSerialize({ header, watch_id: "0" }));
    assert.deepEqual([progress.events, progress.header.revision], [[], String(2 ** 36 + 1)]);
    const canceled = decodeWatchResponse(
      watch.responseSerialize({
        header,
        watch_id: "7",
        canceled: true,
        compact_revision: "1234",
        cancel_reason: "mvcc: required revision has been compacted ✓",
      }),
    );
    assert.deepEqual(
      [canceled.canceled, canceled.compact_revision, canceled.cancel_reason, canceled.watch_id],
      [true, "1234", "mvcc: required revision has been compacted ✓", "7"],
    );
  });
});
