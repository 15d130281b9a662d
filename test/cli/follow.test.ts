// followCollection (src/cli/follow.ts), the engine of `setpoint watch`,
// against a real server reached through a TCP proxy the test can cut: a
// dropped connection resumes from the last revision (each change once), and
// a revision compacted away in the meantime (410) turns into a relist whose
// differences arrive as ADDED, MODIFIED and DELETED.

import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { ApiClient } from "../../src/cli/client.ts";
import { followCollection, type WatchEvent } from "../../src/cli/follow.ts";
import { api, createType, startTestServer, type ApiClient as TestClient, type TestServer } from "../helpers/server.ts";

/** Forwards connections to `target`; `cut()` drops them all and refuses new ones until `resume()`. */
class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #open = true;
  port = 0;
  /** Connections refused while cut. */
  refused = 0;

  constructor(target: number) {
    this.#server = createServer((client) => {
      if (!this.#open) {
        this.refused++;
        return client.destroy();
      }
      const upstream = connect(target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }
  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
  }
  resume(): void {
    this.#open = true;
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Events as `TYPE name` strings, and a way to wait for a number of them. */
class Recorder {
  readonly seen: string[] = [];
  readonly notices: string[] = [];
  #wake: () => void = () => {};
  add(e: WatchEvent): void {
    this.seen.push(`${e.type} ${e.object.metadata.name}`);
    this.#wake();
  }
  async waitForCount(n: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.seen.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.seen.length} of ${n} events: ${JSON.stringify(this.seen)}; notices: ${JSON.stringify(this.notices)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => (clearTimeout(timer), resolve());
      });
    }
  }
}

describe("followCollection", () => {
  let t: TestServer;
  let c: TestClient;
  let proxy: TcpProxy;
  let base: string;

  before(async () => {
    // The background compactor keeps 10 minutes of history, so it never races the
    // resume test; the 410 test compacts everything itself (after skipTime).
    t = await startTestServer({ historyMinEvents: 0, historyWindowMs: 600_000 });
    c = api(t.url);
    base = await createType(c, { group: "follow.example.com", kind: "Thing", plural: "things" });
    proxy = new TcpProxy(t.server.port);
    await proxy.listen();
  });
  after(async () => {
    await proxy.close();
    await t.stop();
  });

  const thing = (name: string, size = 1) => ({ metadata: { name }, spec: { size } });

  async function follow(ns: string, rec: Recorder, signal: AbortSignal): Promise<{ done: Promise<void>; initial: Promise<string[]> }> {
    let gotInitial!: (names: string[]) => void;
    const initial = new Promise<string[]>((resolve) => (gotInitial = resolve));
    const client = new ApiClient({ server: `http://127.0.0.1:${proxy.port}` });
    const done = followCollection(client, {
      path: `${base}/namespaces/${ns}/things`,
      signal,
      backoff: { initialMs: 20, maxMs: 100 },
      onInitial: (events) => gotInitial(events.map((e) => `${e.type} ${e.object.metadata.name}`)),
      onEvent: (e) => rec.add(e),
      onNotice: (m) => rec.notices.push(m),
    });
    return { done, initial };
  }

  it("resumes from the last revision after a dropped connection: every change once, in order", async () => {
    await c.post(`${base}/namespaces/resume/things`, thing("a"));
    const rec = new Recorder();
    const stop = new AbortController();
    const { done, initial } = await follow("resume", rec, stop.signal);
    try {
      assert.deepEqual(await initial, ["ADDED a"]);
      await c.patch(`${base}/namespaces/resume/things/a`, { spec: { size: 2 } });
      await rec.waitForCount(1);

      proxy.cut();
      await c.post(`${base}/namespaces/resume/things`, thing("b"));
      await c.patch(`${base}/namespaces/resume/things/a`, { spec: { size: 3 } });
      await c.del(`${base}/namespaces/resume/things/b`);
      proxy.resume();

      await rec.waitForCount(4);
    } finally {
      stop.abort(); // a failed assertion must not leave the follower retrying (the file would never end)
      proxy.resume();
    }
    await done;
    assert.deepEqual(rec.seen, ["MODIFIED a", "ADDED b", "MODIFIED a", "DELETED b"]);
    assert.ok(
      rec.notices.some((n) => /disconnected/.test(n)),
      JSON.stringify(rec.notices),
    );
    assert.ok(!rec.notices.some((n) => /relisting/.test(n)), JSON.stringify(rec.notices));
  });

  it("relists after 410 Expired and reports the net difference", async () => {
    const ns = "expire";
    await c.post(`${base}/namespaces/${ns}/things`, thing("keep"));
    await c.post(`${base}/namespaces/${ns}/things`, thing("change"));
    await c.post(`${base}/namespaces/${ns}/things`, thing("drop"));
    const rec = new Recorder();
    const stop = new AbortController();
    const { done, initial } = await follow(ns, rec, stop.signal);
    try {
      assert.deepEqual((await initial).sort(), ["ADDED change", "ADDED drop", "ADDED keep"]);

      proxy.cut();
      await c.patch(`${base}/namespaces/${ns}/things/change`, { spec: { size: 9 } });
      await c.del(`${base}/namespaces/${ns}/things/drop`);
      await c.post(`${base}/namespaces/${ns}/things`, thing("new"));
      t.skipTime(1000); // every change so far is older than the window
      const compacted = await t.server.store.compact({ minEvents: 0, windowMs: 0 });
      assert.ok(compacted > 0);
      proxy.resume();

      await rec.waitForCount(3);
    } finally {
      stop.abort();
      proxy.resume();
    }
    await done;
    assert.deepEqual(rec.seen.sort(), ["ADDED new", "DELETED drop", "MODIFIED change"]);
    assert.ok(
      rec.notices.some((n) => /relisting/.test(n)),
      JSON.stringify(rec.notices),
    );
  });
  it("leaves no abort listener behind per retry, and says that the list failed once, not once per retry", async () => {
    // Each backoff sleep used to add one and keep it: after 10 retries Node warned of a leak
    // (MaxListenersExceededWarning on the CLI's stderr) and the list went on growing. And
    // every retry printed its own "list failed" line, where a disconnect is reported once.
    proxy.cut(); // refuses every connection until resumed
    const refusedBefore = proxy.refused;
    const notices: string[] = [];
    const stop = new AbortController();
    const client = new ApiClient({ server: `http://127.0.0.1:${proxy.port}` });
    const done = followCollection(client, {
      path: `${base}/namespaces/retry/things`,
      signal: stop.signal,
      backoff: { initialMs: 1, maxMs: 1 },
      onInitial: () => {},
      onEvent: () => {},
      onNotice: (m) => notices.push(m),
    });
    try {
      const deadline = Date.now() + 30_000;
      while (proxy.refused - refusedBefore < 30) {
        assert.ok(Date.now() < deadline, `only ${proxy.refused - refusedBefore} retries within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(
        getEventListeners(stop.signal, "abort").length <= 2,
        `${getEventListeners(stop.signal, "abort").length} abort listeners after ${proxy.refused - refusedBefore} retries`,
      );
      assert.equal(notices.length, 1, JSON.stringify(notices));
      assert.match(notices[0]!, /^watch: list failed \(.*\); retrying$/);
    } finally {
      stop.abort();
      proxy.resume();
    }
    await done;
  });
});
