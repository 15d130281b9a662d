// Calls per gRPC connection (--grpc-max-streams-per-connection, docs/security.md):
// the server announces HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (250 by
// default, kube-apiserver's), so one connection cannot open thousands of
// calls. A grpc-js client past it holds its next call until one of its calls
// ends, while the calls it has open are served. Against the real server, over
// a raw HTTP/2 client (to read the settings) and real grpc-js clients.

import assert from "node:assert/strict";
import { connect as connectH2, type Settings } from "node:http2";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadResourcesService, type ResourcesClient, type WatchEvent } from "../../src/proto.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";
import { within as withinMs } from "../helpers/within.ts";

const DEADLINE_MS = 10_000;
const GROUP = "streams.example.com";
const { Client } = loadResourcesService();
const items = (name = "") => ({ group: GROUP, version: "v1", plural: "items", namespace: "default", name });
const item = (name: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Item", metadata: { name }, spec: {} });

/** `p`, or a failure naming `what` after DEADLINE_MS. */
const within = <T>(p: Promise<T>, what: string): Promise<T> => withinMs(p, what, DEADLINE_MS);

/** The settings the server's gRPC port announces to a new connection. */
async function announced(t: TestServer): Promise<Settings> {
  const h2 = connectH2(`http://127.0.0.1:${t.server.grpcPort}`);
  h2.on("error", () => {});
  try {
    return await within(new Promise<Settings>((resolve) => h2.once("remoteSettings", resolve)), "the server's SETTINGS");
  } finally {
    h2.destroy();
  }
}

/** A gRPC client on a connection of its own (grpc-js otherwise shares one per target in a process). */
function ownClient(t: TestServer): ResourcesClient {
  return new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
}

/** A Get of `name`; resolves with the object's name or the error's code name. */
function get(client: ResourcesClient, name: string): Promise<string> {
  return new Promise((resolve) =>
    client.get({ ref: items(name) }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, res) =>
      resolve(err ? `error ${grpc.status[err.code]}: ${err.details}` : JSON.parse(res!.object.toString("utf8")).metadata.name),
    ),
  );
}

describe("gRPC calls per connection", () => {
  it("the server announces 250 concurrent streams per connection by default", async () => {
    const t = await startTestServer({ grpcPort: 0 });
    try {
      assert.equal((await announced(t)).maxConcurrentStreams, 250);
    } finally {
      await t.stop();
    }
  });

  it("past the limit a client's next call waits while its open calls are served, and is served once one ends", async () => {
    const t = await startTestServer({ grpcPort: 0, grpcMaxStreamsPerConnection: 3 });
    const client = ownClient(t);
    const other = ownClient(t);
    const watches: grpc.ClientReadableStream<WatchEvent>[] = [];
    try {
      assert.equal((await announced(t)).maxConcurrentStreams, 3);
      await createType(api(t.url), { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
      assert.equal((await api(t.url).post(`/apis/${GROUP}/v1/namespaces/default/items`, item("a"))).status, 201);

      // Three watches fill the connection; each gets the existing object's ADDED event.
      const events: string[][] = [];
      for (let i = 0; i < 3; i++) {
        const stream = client.watch({ ref: items() }, new grpc.Metadata());
        const seen: string[] = [];
        events.push(seen);
        let wake = () => {};
        stream.on("data", (ev: WatchEvent) => {
          seen.push(`${ev.type} ${JSON.parse(ev.object.toString("utf8")).metadata.name}`);
          wake();
        });
        stream.on("error", () => {});
        watches.push(stream);
        await within(
          new Promise<void>((resolve) => {
            wake = () => resolve();
            if (seen.length > 0) resolve();
          }),
          `watch ${i + 1}'s first event`,
        );
      }

      // A fourth call on the same connection waits: another connection's call is served meanwhile.
      let waiting = true;
      const fourth = get(client, "a").finally(() => (waiting = false));
      assert.equal(await get(other, "a"), "a", "another connection's call is served");
      assert.ok(waiting, "the fourth call on the full connection waits");

      // The open calls are still served: a change reaches all three watches.
      assert.equal((await api(t.url).post(`/apis/${GROUP}/v1/namespaces/default/items`, item("b"))).status, 201);
      const deadline = Date.now() + DEADLINE_MS;
      while (!events.every((seen) => seen.includes("ADDED b"))) {
        assert.ok(Date.now() < deadline, `every watch sees b: ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(waiting, "still waiting while the three watches are open");

      // One watch ends: the waiting call is sent and served.
      watches[0]!.cancel();
      assert.equal(await within(fourth, "the fourth call served once a watch ended"), "a");
    } finally {
      for (const w of watches) w.cancel();
      client.close();
      other.close();
      await t.stop();
    }
  });
});
