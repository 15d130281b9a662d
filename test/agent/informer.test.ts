// The informer against a real server over real sockets: list then watch,
// resume after a server restart without listing, relist with synthetic
// deletes after compaction, warm restart from a state directory, and backoff
// on a server that is down or answers garbage.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocketServer } from "ws";
import { ManualClock } from "../../src/clock.ts";
import { Informer, SetpointClient, type ApiObject, type InformerOptions } from "../../src/agent.ts";
import { PREFIX, TYPE, createWidget, requestCount, startEnv, startProxy, waitFor, type Env } from "./fixtures.ts";

const RESOURCE = `${TYPE.plural}.${TYPE.group}`;

/** An informer recording its handler calls as `add:name`, `update:name`, `delete:name`. */
function recorder(options: Omit<InformerOptions, "type">) {
  const informer = new Informer({ type: TYPE, ...options });
  const log: string[] = [];
  informer.addHandlers({
    onAdd: (o) => log.push(`add:${o.metadata.name}`),
    onUpdate: (_old, o) => log.push(`update:${o.metadata.name}`),
    onDelete: (o) => log.push(`delete:${o.metadata.name}`),
  });
  const stop = new AbortController();
  return { informer, log, stop, run: () => informer.run(stop.signal) };
}

for (const transport of ["websocket", "grpc"] as const) {
  describe(`informer over ${transport}`, () => {
    let env: Env;
    before(async () => (env = await startEnv()));
    after(() => env.stop());

    test("lists, watches, tracks bookmarks, and resumes after a server restart with zero List calls", async () => {
      await createWidget(env.http, `${transport}-a`);
      const client = new SetpointClient({ grpcAddress: env.grpcAddress, httpUrl: env.server.url });
      const r = recorder({ client, transport, backoff: { initialMs: 50, maxMs: 500 } });
      const running = r.run();
      assert.equal(await r.informer.waitForSync(AbortSignal.timeout(10_000)), true);
      assert.ok(r.informer.cache.get(`default/${transport}-a`));
      const listed = r.informer.revision;
      // Bookmarks move the revision even when nothing of this type changes.
      await env.http.post("/apis/setpoint.dev/v1/namespaces/default/leases", {
        apiVersion: "setpoint.dev/v1",
        kind: "Lease",
        metadata: { name: `${transport}-other` },
        spec: {},
      });
      await waitFor("a bookmark past the list revision", () => r.informer.revision > listed);

      await env.restart();
      await createWidget(env.http, `${transport}-b`);
      await waitFor("the widget created after the restart", () => r.informer.cache.get(`default/${transport}-b`));
      assert.equal(await requestCount(env.server.url, "list", RESOURCE), 0, "List calls on the restarted server");
      assert.equal(client.calls.list, 1);
      assert.equal(r.informer.stats.lists, 1);
      assert.ok(r.informer.stats.watches >= 2);
      r.stop.abort();
      await running;
      client.close();
    });

    test("relists after compaction and turns the difference into events, with synthetic deletes", async () => {
      for (const n of ["keep", "gone1", "gone2", "changed", "again"]) await createWidget(env.http, `${transport}-${n}`);
      const grpcProxy = await startProxy(env.server.grpcPort);
      const httpProxy = await startProxy(env.server.port);
      const client = new SetpointClient({ grpcAddress: `127.0.0.1:${grpcProxy.port}`, httpUrl: `http://127.0.0.1:${httpProxy.port}` });
      const r = recorder({ client, transport, backoff: { initialMs: 50, maxMs: 200 } });
      const running = r.run();
      await r.informer.waitForSync(AbortSignal.timeout(10_000));
      r.log.length = 0;

      grpcProxy.cut();
      httpProxy.cut();
      const ns = `${PREFIX}/namespaces/default/widgets`;
      assert.equal((await env.http.del(`${ns}/${transport}-gone1`)).status, 200);
      assert.equal((await env.http.del(`${ns}/${transport}-gone2`)).status, 200);
      assert.equal((await env.http.patch(`${ns}/${transport}-changed`, { spec: { size: 2 } })).status, 200);
      await createWidget(env.http, `${transport}-new`);
      // Deleted and made again under the same name: another object (another uid, generation 1 again).
      const oldUid = r.informer.cache.get(`default/${transport}-again`)?.metadata.uid;
      assert.equal((await env.http.del(`${ns}/${transport}-again`)).status, 200);
      await createWidget(env.http, `${transport}-again`);
      // Past the history window for every change so far, however fast this ran.
      env.skipTime(1000);
      await env.server.store.compact({ minEvents: 0, windowMs: 0 });
      assert.ok(env.server.store.compacted() > r.informer.revision, "the informer's revision is compacted");
      grpcProxy.restore();
      httpProxy.restore();

      const relisted = await waitFor("the relist", () => r.informer.stats.expired === 1 && r.informer.cache.get(`default/${transport}-new`)).then(
        () => true,
        (err: unknown) => err,
      );
      r.stop.abort();
      await running;
      client.close();
      await Promise.all([grpcProxy.close(), httpProxy.close()]);
      assert.equal(relisted, true);
      // The one made again is its old self's delete, then its add: never an update from one object to another.
      const order = [...r.log];
      assert.ok(order.indexOf(`delete:${transport}-again`) < order.indexOf(`add:${transport}-again`), order.join(" "));
      assert.deepEqual(r.log.sort(), [
        `add:${transport}-again`,
        `add:${transport}-new`,
        `delete:${transport}-again`,
        `delete:${transport}-gone1`,
        `delete:${transport}-gone2`,
        `update:${transport}-changed`,
      ]);
      assert.notEqual(r.informer.cache.get(`default/${transport}-again`)?.metadata.uid, oldUid);
      assert.equal(r.informer.stats.lists, 2);
      assert.equal(r.informer.cache.get(`default/${transport}-gone1`), undefined);
      assert.equal((r.informer.cache.get(`default/${transport}-changed`)?.spec as { size?: number } | undefined)?.size, 2);
    });
  });
}

describe("informer warm restart", () => {
  let env: Env;
  let stateDir: string;
  before(async () => {
    env = await startEnv();
    stateDir = mkdtempSync(join(tmpdir(), "setpoint-agent-state-"));
  });
  after(async () => {
    await env.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const start = () => {
    const client = new SetpointClient({ grpcAddress: env.grpcAddress, httpUrl: env.server.url });
    return { client, ...recorder({ client, stateDir, persistIntervalMs: 20 }) };
  };

  test("a new informer resumes from the state directory without listing", async () => {
    for (const n of ["w1", "w2"]) await createWidget(env.http, n);
    const first = start();
    const running = first.run();
    await first.informer.waitForSync();
    first.stop.abort();
    await running;
    first.client.close();
    const savedAt = first.informer.revision;

    await createWidget(env.http, "w3"); // while no agent runs
    const listsBefore = await requestCount(env.server.url, "list", RESOURCE);
    const second = start();
    const again = second.run();
    assert.equal(second.informer.hasSynced(), true, "synced from the state file at once");
    assert.equal(second.informer.revision, savedAt);
    await waitFor("w3 from the watch", () => second.informer.cache.get("default/w3"));
    assert.deepEqual(second.log.sort(), ["add:w1", "add:w2", "add:w3"]);
    assert.equal(second.client.calls.list ?? 0, 0);
    assert.equal(second.informer.stats.restores, 1);
    assert.equal(await requestCount(env.server.url, "list", RESOURCE), listsBefore);
    second.stop.abort();
    await again;
    second.client.close();

    // Compacted past the saved revision: the next start relists and reports what it missed.
    assert.equal((await env.http.del(`${PREFIX}/namespaces/default/widgets/w1`)).status, 200);
    // Past the history window for every change so far, however fast this ran.
    env.skipTime(1000);
    await env.server.store.compact({ minEvents: 0, windowMs: 0 });
    const third = start();
    const last = third.run();
    await waitFor("the relist after 410", () => third.informer.stats.expired === 1 && third.informer.stats.lists === 1 && third.log.includes("delete:w1"));
    assert.equal(third.informer.cache.size, 2);
    third.stop.abort();
    await last;
    third.client.close();
  });

  test("a state file that is not usable is ignored: the informer lists", async () => {
    const [file] = readdirSync(stateDir).filter((f) => f.endsWith(".json"));
    assert.ok(file, "the earlier test left a state file");
    writeFileSync(join(stateDir, file), '{"format": "setpoint.dev/agent-state/v1", "revision": "garbage"');
    const r = start();
    const running = r.run();
    await r.informer.waitForSync(AbortSignal.timeout(10_000));
    assert.equal(r.informer.stats.restores, 0);
    assert.equal(r.informer.stats.lists, 1);
    assert.equal(r.informer.cache.size, 2);
    r.stop.abort();
    await running;
    r.client.close();
  });
});

describe("informer backoff", () => {
  test("retries a server that is down with capped exponential backoff on the injected clock", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));

    const clock = new ManualClock(0);
    const client = new SetpointClient({ grpcAddress: `127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${port}`, clock });
    const failures: number[] = [];
    const notify = () => {};
    const informer = new Informer<ApiObject>({
      client,
      type: TYPE,
      clock,
      backoff: { initialMs: 100, maxMs: 800, jitter: 0 },
      onError: () => {
        failures.push(clock.now());
        notify();
      },
    });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    const nextFailure = (n: number) => waitFor(`failure ${n}`, () => failures.length >= n);
    const settle = () => new Promise((r) => setImmediate(r));
    const expected = [0, 100, 300, 700, 1500, 2300, 3100];
    await nextFailure(1);
    for (let i = 1; i < expected.length; i++) {
      const wait = expected[i]! - expected[i - 1]!;
      clock.advance(wait - 1);
      await settle();
      assert.equal(client.calls.list, i, `no retry before ${wait} ms`);
      clock.advance(1);
      await nextFailure(i + 1);
    }
    assert.deepEqual(failures, expected);
    stop.abort();
    await running;
    client.close();
  });

  test("does not busy-loop on a server that answers garbage: one retry per backoff on its clock", async () => {
    const env = await startEnv();
    const garbage = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    let connections = 0;
    garbage.on("connection", (ws) => {
      connections++;
      ws.send("this is not JSON");
    });
    await new Promise((r) => garbage.once("listening", r));
    const clock = new ManualClock(0);
    const client = new SetpointClient({ grpcAddress: env.grpcAddress, httpUrl: `http://127.0.0.1:${(garbage.address() as { port: number }).port}`, clock });
    const errors: unknown[] = [];
    const informer = new Informer({ client, type: TYPE, clock, backoff: { initialMs: 100, maxMs: 1000 }, onError: (e) => errors.push(e) });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    const settle = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    // List works (gRPC to the real server); the WebSocket watch gets garbage and fails.
    await waitFor("the first garbage watch to fail", () => connections === 1 && errors.length === 1);
    await settle();
    assert.equal(connections, 1, "no reconnect while the clock stands still");
    for (let round = 2; round <= 4; round++) {
      clock.advance(1000); // at least the (capped) backoff
      await waitFor(`watch attempt ${round}`, () => connections === round && errors.length === round);
      await settle();
      assert.equal(connections, round, "one attempt per backoff");
    }
    assert.ok(errors.every((e) => (e as Error).name === "TransportError"));
    stop.abort();
    await running;
    client.close();
    garbage.close();
    await env.stop();
  });
});
