// Gzipped List answers over gRPC (proto: ListRequest.accept_encoding,
// ListResponse.items_gzip): a client that asks gets the items of an answer
// over 128 KiB gzipped, the same items once gunzipped, paged or whole; a
// client that does not ask, a small answer, and a server run with
// --no-response-compression answer as before; the SDK's listEncoding "gzip"
// reads them back as the same objects.

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startCountingProxy } from "../../bench/lib/proxy.ts";
import { SetpointClient } from "../../src/agent/client.ts";
import { loadResourcesService, type ListResponse, type Outgoing, type ResourceRef, type ResourcesClient, type UnaryMethod } from "../../src/proto.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

const GROUP = "gzlist.example.com";
const COUNT = 700;
const { Client } = loadResourcesService();
const deserialize = loadResourcesService().definition.List!.responseDeserialize as (b: Buffer) => ListResponse;
const serialize = loadResourcesService().definition.List!.responseSerialize as (v: Partial<ListResponse>) => Buffer;
const ref: Outgoing<ResourceRef> = { group: GROUP, version: "v1", plural: "things", namespace: "default", name: "" };

function call<Req, Res>(client: ResourcesClient, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

/** Starts a server with COUNT objects of about 450 bytes each (about 300 KiB of items). */
async function serverWithThings(options: { responseCompression?: boolean } = {}): Promise<TestServer> {
  const server = await startTestServer({ grpcPort: 0, ...options });
  const client = api(server.url);
  await createType(client, { group: GROUP, kind: "Thing", plural: "things" });
  for (let from = 0; from < COUNT; from += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, COUNT - from) }, async (_, k) => {
        const i = from + k;
        const res = await client.post(`/apis/${GROUP}/v1/namespaces/default/things`, {
          apiVersion: `${GROUP}/v1`,
          kind: "Thing",
          metadata: { name: `thing-${String(i).padStart(4, "0")}`, labels: { app: `app-${i % 7}` } },
          spec: { image: `registry.example.com/app-${i % 7}:v1.${i % 20}`, replicas: 1 + (i % 5), note: `${i}`.repeat(40) },
        });
        assert.equal(res.status, 201, res.text);
      }),
    );
  }
  return server;
}

const names = (items: Buffer[]) => items.map((b) => (JSON.parse(b.toString()) as { metadata: { name: string } }).metadata.name);

describe("List over gRPC with accept_encoding gzip", () => {
  let server: TestServer;
  let c: ResourcesClient;
  before(async () => {
    server = await serverWithThings();
    c = new Client(`127.0.0.1:${server.server.grpcPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("a page over 128 KiB comes gzipped when asked: the same items, continue and revision, several times fewer bytes", async () => {
    const plain = await call(c, c.list, { ref, limit: 500 });
    assert.equal(plain.items.length, 500);
    assert.equal(plain.itemsGzip.length, 0);
    const zipped = await call(c, c.list, { ref, limit: 500, acceptEncoding: "gzip", resourceVersion: String(plain.revision) });
    assert.equal(zipped.items.length, 0);
    assert.ok(zipped.itemsGzip.length > 0);
    assert.equal(zipped.revision, plain.revision);
    assert.equal(zipped.continue, plain.continue);
    const items = deserialize(gunzipSync(zipped.itemsGzip)).items;
    assert.deepEqual(items, plain.items);
    const plainBytes = serialize(plain).length;
    const zippedBytes = serialize(zipped).length;
    assert.ok(plainBytes > 128 * 1024, `${plainBytes}`);
    assert.ok(zippedBytes * 3 < plainBytes, `${zippedBytes} gzipped against ${plainBytes}`);
    // The next page follows from the gzipped page's continue token.
    const rest = await call(c, c.list, { ref, limit: 500, continue: zipped.continue, acceptEncoding: "GZIP, identity" });
    assert.equal(rest.itemsGzip.length > 0 ? deserialize(gunzipSync(rest.itemsGzip)).items.length : rest.items.length, COUNT - 500);
  });

  it("the whole list (no limit) comes gzipped when asked, the same items at the same revision", async () => {
    const plain = await call(c, c.list, { ref });
    assert.equal(plain.items.length, COUNT);
    const zipped = await call(c, c.list, { ref, acceptEncoding: "gzip" });
    assert.equal(zipped.items.length, 0);
    assert.equal(zipped.revision, plain.revision);
    assert.equal(zipped.continue, "");
    assert.deepEqual(names(deserialize(gunzipSync(zipped.itemsGzip)).items), names(plain.items));
  });

  it("a small answer, or a request that does not ask, comes as it is", async () => {
    const small = await call(c, c.list, { ref, limit: 5, acceptEncoding: "gzip" });
    assert.equal(small.items.length, 5);
    assert.equal(small.itemsGzip.length, 0);
    for (const acceptEncoding of ["", "identity", "deflate", "gzip;q=0x"]) {
      const res = await call(c, c.list, { ref, limit: 500, acceptEncoding });
      assert.equal(res.items.length, 500, acceptEncoding);
      assert.equal(res.itemsGzip.length, 0, acceptEncoding);
    }
  });

  it("the SDK's client with listEncoding gzip reads back the same objects, paged and whole, for several times fewer bytes", async () => {
    // Each client through its own byte-counting proxy (bench/lib/proxy.ts).
    const plainProxy = await startCountingProxy(`127.0.0.1:${server.server.grpcPort}`);
    const gzProxy = await startCountingProxy(`127.0.0.1:${server.server.grpcPort}`);
    const plain = new SetpointClient({ grpcAddress: plainProxy.address });
    const gz = new SetpointClient({ grpcAddress: gzProxy.address, listEncoding: "gzip" });
    try {
      const type = { group: GROUP, version: "v1", plural: "things", namespace: "default" };
      const a = await plain.list(type, { limit: 500 });
      const b = await gz.list(type, { limit: 500, resourceVersion: String(a.revision) });
      assert.deepEqual(b.items, a.items);
      assert.equal(b.continue, a.continue);
      assert.ok(gzProxy.down * 3 < plainProxy.down, `${gzProxy.down} bytes gzipped against ${plainProxy.down}`);
      assert.deepEqual(
        (await gz.list(type)).items.map((o) => o.metadata.name),
        (await plain.list(type)).items.map((o) => o.metadata.name),
      );
    } finally {
      gz.close();
      plain.close();
      await Promise.all([plainProxy.close(), gzProxy.close()]);
    }
  });
});

describe("List over gRPC on a server run with --no-response-compression", () => {
  it("never comes gzipped", async () => {
    const server = await serverWithThings({ responseCompression: false });
    const c = new Client(`127.0.0.1:${server.server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const res = await call(c, c.list, { ref, limit: 500, acceptEncoding: "gzip" });
      assert.equal(res.items.length, 500);
      assert.equal(res.itemsGzip.length, 0);
    } finally {
      c.close();
      await server.stop();
    }
  });
});
