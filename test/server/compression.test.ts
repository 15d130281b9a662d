// Response compression (src/server/compression.ts), as kube-apiserver's
// APIResponseCompression: answers over 128 KiB go out gzipped to a request
// that accepts gzip, smaller ones and watches as they are; lists stay
// streamed; `--no-response-compression` turns it off. Real server on
// 127.0.0.1, real sockets, and kubectl through a byte-counting TCP proxy.

import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import WebSocket from "ws";
import { acceptsGzip, GZIP_THRESHOLD_BYTES } from "../../src/server/compression.ts";
import { runSetpointInProcess } from "../helpers/cli.ts";
import { kubectlFor } from "../helpers/kubectl.ts";
import { ListPages } from "../helpers/list-pages.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

const GROUP = "gz.example.com";
const TYPE = `items.${GROUP}`;
const BASE = `/apis/${GROUP}/v1`;
const ITEMS = `${BASE}/namespaces/many/items`;
/** Items whose pads are random (incompressible) bytes, for the back-pressure test. */
const NOISY = `${BASE}/namespaces/noisy/items`;
const COUNT = 3000;
const NOISY_COUNT = 10_000;
const DEADLINE_MS = 20_000;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it came over the wire. */
  raw: Buffer;
}

/** GET `path` over node:http, which sends only the headers given and decompresses nothing. */
function get(url: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, { headers, timeout: DEADLINE_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer within ${DEADLINE_MS} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** GET `path`, resolving with the response before its body is read (paused). */
function open(url: string, path: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, { headers }, (res) => {
      res.pause();
      resolve(res);
    });
    req.on("error", reject);
    req.end();
  });
}

const until = async (what: string, ok: () => boolean): Promise<void> => {
  const deadline = Date.now() + DEADLINE_MS;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Asserts `a` went out gzipped and returns its decompressed body. */
function gzipped(a: Answer): Buffer {
  assert.equal(a.headers["content-encoding"], "gzip");
  assert.equal(a.headers.vary, "Accept-Encoding");
  return gunzipSync(a.raw);
}

/** Asserts `a` went out as it is (no gzip, no Vary). */
function plain(a: Answer): Buffer {
  assert.equal(a.headers["content-encoding"], undefined);
  assert.equal(a.headers.vary, undefined);
  return a.raw;
}

/** Writes `count` items in namespace `ns` straight through the store (one turn, one commit). */
async function populate(t: TestServer, ns: string, count: number, pad: (i: number) => string): Promise<void> {
  const writes = [];
  for (let i = 0; i < count; i++) {
    const name = `item-${String(i).padStart(6, "0")}`;
    writes.push(
      t.server.store.write({ type: TYPE, namespace: ns, name }, (_current, revision) => ({
        op: "put",
        object: JSON.stringify({
          apiVersion: `${GROUP}/v1`,
          kind: "Item",
          metadata: { name, namespace: ns, resourceVersion: String(revision), labels: { app: "gz" } },
          spec: { i, pad: pad(i) },
        }),
      })),
    );
  }
  await Promise.all(writes);
}

/** A TCP proxy on 127.0.0.1 in front of `port` that counts the bytes the server sends back. */
async function countingProxy(port: number): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    upstream.on("data", (d: Buffer) => (received += d.length));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    received: () => received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe("Accept-Encoding", () => {
  it("accepts gzip as RFC 9110 reads the header: case, x-gzip, weights, *", () => {
    const cases: Array<[string | undefined, boolean]> = [
      [undefined, false],
      ["", false],
      ["gzip", true],
      ["GZip", true],
      ["x-gzip", true],
      ["deflate, gzip", true],
      ["gzip, deflate, br", true], // Node's fetch
      [" br ; q=1 ,  gzip ; q=0.5 ", true],
      ["gzip;q=0", false],
      ["gzip; q=0.000", false],
      ["gzip;Q=0", false],
      ["gzip;q=0.001", true],
      ["gzip;q=1.000", true],
      ["gzip;q=abc", false],
      ["gzip;q=1.5", false],
      ["*", true],
      ["*;q=0", false],
      ["gzip;q=0, *", false],
      ["*, gzip;q=0", false],
      ["*;q=0, gzip", true],
      ["deflate", false],
      ["identity", false],
      ["br, deflate;q=0.5", false],
      ["gzipped", false],
    ];
    for (const [header, want] of cases) assert.equal(acceptsGzip(header), want, JSON.stringify(header));
  });
});

describe("response compression", () => {
  let t: TestServer;
  /** The store page reads of TYPE's lists (and a page to fail). */
  let spy: ListPages;

  before(async () => {
    t = await startTestServer({ durable: false });
    await createType(api(t.url), { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
    spy = new ListPages(t.server.store, TYPE);
    await populate(t, "many", COUNT, () => "x".repeat(300));
    // Incompressible, and larger gzipped (about 68 MB) than a paused client's socket and the server's can hold between
    // them (tcp_rmem's max is 32 MiB here, tcp_wmem's 4 MiB): with a third of this, 13 to 20 of the 20 pages were read
    // before the client read anything, as loopback's buffers grew.
    await populate(t, "noisy", NOISY_COUNT, () => randomBytes(6750).toString("base64"));
    // One object larger than the threshold, one list between 64 KiB (where lists stream) and 128 KiB.
    await populate(t, "big", 1, () => "b".repeat(GZIP_THRESHOLD_BYTES + 1000));
    await populate(t, "mid", 300, () => "m".repeat(200));
  });

  after(async () => {
    await t?.stop();
  });

  it("gzips a large list for a request that accepts gzip: the same bytes, far fewer on the wire", async () => {
    const bare = await get(t.url, ITEMS);
    assert.equal(bare.status, 200);
    const text = plain(bare);
    assert.equal(bare.headers["transfer-encoding"], "chunked", "a large list streams");
    const list = JSON.parse(text.toString("utf8")) as { items: unknown[] };
    assert.equal(list.items.length, COUNT);

    const zipped = await get(t.url, ITEMS, { "accept-encoding": "gzip" });
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers["content-type"], "application/json");
    assert.equal(zipped.headers["transfer-encoding"], "chunked", "a gzipped list streams too");
    const unzipped = gzipped(zipped);
    // Every read is at the newest revision: nothing was written in between.
    assert.equal(unzipped.toString("utf8"), text.toString("utf8"));
    assert.ok(zipped.raw.length * 5 < text.length, `gzipped ${zipped.raw.length} bytes of ${text.length}`);
  });

  it("gzips the Table, metadata-only and YAML forms of a large list", async () => {
    const forms: Array<[string, string]> = [
      ["application/json;as=Table;v=v1;g=meta.k8s.io", "application/json"],
      ["application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "application/json"],
      ["application/yaml", "application/yaml"],
    ];
    for (const [accept, type] of forms) {
      const bare = await get(t.url, ITEMS, { accept });
      const zipped = await get(t.url, ITEMS, { accept, "accept-encoding": "gzip" });
      assert.equal(zipped.status, 200, accept);
      assert.equal(zipped.headers["content-type"], type, accept);
      const text = plain(bare).toString("utf8");
      // Tables carry ages (the same second, on a test this fast, but not certainly): compare what does not move.
      const unzipped = gzipped(zipped).toString("utf8");
      if (accept.includes("Table")) {
        const rows = (s: string) => (JSON.parse(s) as { rows: Array<{ cells: unknown[] }> }).rows.map((r) => r.cells[0]);
        assert.deepEqual(rows(unzipped), rows(text), accept);
      } else assert.equal(unzipped, text, accept);
      assert.ok(text.length > GZIP_THRESHOLD_BYTES, `${accept}: ${text.length} bytes`);
    }
    // ?pretty (as curl gets by default): the indented text, streamed through gzip.
    const pretty = plain(await get(t.url, `${ITEMS}?pretty=true`)).toString("utf8");
    assert.match(pretty, /^\{\n {2}"apiVersion"/);
    assert.equal(gzipped(await get(t.url, `${ITEMS}?pretty=true`, { "accept-encoding": "gzip" })).toString("utf8"), pretty);
  });

  it("gzips a page of a list (limit) and a single object over the threshold", async () => {
    const page = await get(t.url, `${ITEMS}?limit=2000`, { "accept-encoding": "gzip" });
    const list = JSON.parse(gzipped(page).toString("utf8")) as { items: unknown[]; metadata: { continue?: string } };
    assert.equal(list.items.length, 2000);
    assert.ok(list.metadata.continue);

    const one = `${BASE}/namespaces/big/items/item-000000`;
    const bare = await get(t.url, one);
    const zipped = await get(t.url, one, { "accept-encoding": "gzip" });
    assert.equal(zipped.status, 200);
    assert.equal(gzipped(zipped).toString("utf8"), plain(bare).toString("utf8"));
    assert.equal(Number(zipped.headers["content-length"]), zipped.raw.length, "a whole answer keeps its Content-Length");
  });

  it("sends answers at or under the threshold as they are, with their Content-Length", async () => {
    const small = await get(t.url, `${ITEMS}/item-000001`, { "accept-encoding": "gzip" });
    assert.equal(small.status, 200);
    assert.equal(Number(small.headers["content-length"]), plain(small).length);

    // Past the 64 KiB at which lists stream, under 128 KiB: held back to be judged, then sent whole.
    const mid = await get(t.url, `${BASE}/namespaces/mid/items`, { "accept-encoding": "gzip" });
    assert.equal(mid.status, 200);
    const body = plain(mid);
    assert.ok(body.length > 64 * 1024 && body.length <= GZIP_THRESHOLD_BYTES, `${body.length} bytes`);
    assert.equal(Number(mid.headers["content-length"]), body.length);

    // Errors follow the same rule: a Status is small.
    const missing = await get(t.url, `${ITEMS}/nope`, { "accept-encoding": "gzip" });
    assert.equal(missing.status, 404);
    assert.equal((JSON.parse(plain(missing).toString("utf8")) as { reason: string }).reason, "NotFound");
  });

  it("honours a weight of 0 and a refusing *", async () => {
    for (const encoding of ["gzip;q=0", "gzip;q=0, *", "*;q=0", "deflate, br", "identity"]) {
      const a = await get(t.url, ITEMS, { "accept-encoding": encoding });
      assert.equal(a.status, 200, encoding);
      assert.equal(a.headers["content-encoding"], undefined, encoding);
      JSON.parse(a.raw.toString("utf8"));
    }
    for (const encoding of ["GZIP", "br;q=1, gzip;q=0.1", "*"]) {
      const a = await get(t.url, ITEMS, { "accept-encoding": encoding });
      assert.equal(a.headers["content-encoding"], "gzip", encoding);
    }
  });

  it("keeps a gzipped list streamed: pages are read as the client takes them", async () => {
    spy.reads.length = 0;
    const res = await open(t.url, NOISY, { "accept-encoding": "gzip" });
    assert.equal(res.headers["content-encoding"], "gzip");
    // The client reads nothing: once the socket is full the server must stop pulling pages.
    await until("the first page read", () => spy.reads.length > 0);
    let seen = -1;
    for (let settled = 0; settled < 10; settled = spy.reads.length === seen ? settled + 1 : 0) {
      seen = spy.reads.length;
      await new Promise((r) => setTimeout(r, 30));
    }
    const pages = Math.ceil(NOISY_COUNT / 500);
    assert.ok(spy.reads.length < pages, `the server read ${spy.reads.length} of ${pages} pages before the client read anything`);
    res.resume();
    const chunks: Buffer[] = [];
    for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
    const list = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString("utf8")) as { items: Array<{ metadata: { name: string } }> };
    assert.equal(list.items.length, NOISY_COUNT);
    list.items.forEach((item, i) => assert.equal(item.metadata.name, `item-${String(i).padStart(6, "0")}`));
  });

  it("stops reading pages when the client goes away mid-list", async () => {
    spy.reads.length = 0;
    const res = await open(t.url, NOISY, { "accept-encoding": "gzip" });
    assert.equal(res.headers["content-encoding"], "gzip");
    await until("the first page", () => spy.reads.length > 0);
    res.destroy();
    // The count holds still for 300 ms (however long a loaded machine takes the server to see the client go).
    let n = -1;
    for (const deadline = Date.now() + DEADLINE_MS; n !== spy.reads.length; ) {
      assert.ok(Date.now() < deadline, `the reads never stopped (${spy.reads.length})`);
      n = spy.reads.length;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(n < NOISY_COUNT / 500, `the server read ${n} pages after the client left`);
    const again = await get(t.url, ITEMS, { "accept-encoding": "gzip" });
    assert.equal((JSON.parse(gzipped(again).toString("utf8")) as { items: unknown[] }).items.length, COUNT);
  });

  it("cuts the connection on an error once a gzipped list has begun: the gzip stream never ends whole", async () => {
    spy.reads.length = 0;
    spy.fail = { page: 3, error: new Error("disk on fire") };
    try {
      const res = await open(t.url, NOISY, { "accept-encoding": "gzip" });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-encoding"], "gzip");
      res.resume();
      const chunks: Buffer[] = [];
      const outcome = await new Promise<string>((resolve) => {
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(res.complete ? "complete" : "incomplete"));
        res.on("error", (err) => resolve(`error: ${err.message}`));
        res.on("close", () => resolve(res.complete ? "complete" : "incomplete"));
      });
      assert.notEqual(outcome, "complete", "the body must not end as a whole one");
      const body = Buffer.concat(chunks);
      assert.ok(body.length > 0, "part of the list came");
      assert.throws(() => gunzipSync(body), "the gzip stream is cut short");
    } finally {
      spy.fail = undefined;
    }
    const again = await get(t.url, ITEMS, { "accept-encoding": "gzip" });
    assert.equal(again.status, 200, "the server still serves");
  });

  it("never gzips a watch, over chunked HTTP or WebSocket", async () => {
    // A watch from revision 0 starts with every item (well over the threshold).
    const res = await open(t.url, `${ITEMS}?watch=true&resourceVersion=0`, { "accept-encoding": "gzip" });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(res.headers.vary, undefined);
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => (text += d));
    res.resume();
    await until("every item's ADDED event", () => text.split("\n").length > COUNT);
    res.destroy();
    const events = text
      .split("\n")
      .slice(0, COUNT)
      .map((l) => JSON.parse(l) as { type: string });
    assert.ok(events.every((e) => e.type === "ADDED"));

    const ws = new WebSocket(`${t.url.replace("http", "ws")}${ITEMS}?resourceVersion=0`, { headers: { "accept-encoding": "gzip" } });
    const messages: string[] = [];
    ws.on("message", (m) => messages.push(m.toString()));
    ws.on("error", () => {});
    await until("every item over the WebSocket", () => messages.length >= COUNT);
    ws.close();
    assert.equal((JSON.parse(messages[0]!) as { type: string }).type, "ADDED");
  });

  it("kubectl lists thousands of objects through it, in a fraction of their bytes", async () => {
    const proxy = await countingProxy(Number(new URL(t.url).port));
    const kubectl = kubectlFor(`http://127.0.0.1:${proxy.port}`, { namespace: "many" });
    try {
      // kubectl reads in pages of 500 (--chunk-size): each a gzipped answer of its own.
      const mark = proxy.received();
      // Whole objects (a JSONPath output), printed short: the name and spec.i of each.
      const output = ["-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.i}{'\\n'}{end}"];
      const zipped = await kubectl.run("get", "items.gz.example.com", ...output);
      assert.equal(zipped.code, 0, zipped.stderr);
      const zippedBytes = proxy.received() - mark;
      const lines = zipped.stdout.trim().split("\n");
      assert.equal(lines.length, COUNT);
      lines.forEach((line, i) => assert.equal(line, `item-${String(i).padStart(6, "0")} ${i}`));

      // The same list as it is (kubectl 1.32 sends gzip to an http:// server even with --disable-compression, so ask node:http).
      const bareBytes = plain(await get(t.url, ITEMS)).length;
      assert.ok(zippedBytes * 5 < bareBytes, `kubectl moved ${zippedBytes} bytes (discovery included) for a list of ${bareBytes}`);

      // kubectl get's Table, read whole (--chunk-size=0): one gzipped answer.
      const tableMark = proxy.received();
      const table = await kubectl.run("get", "items.gz.example.com", "--chunk-size=0");
      assert.equal(table.code, 0, table.stderr);
      assert.equal(table.stdout.trim().split("\n").length, COUNT + 1, "a header and a row per item");
      assert.ok(proxy.received() - tableMark < 100_000, `the Table took ${proxy.received() - tableMark} bytes`);
    } finally {
      kubectl.close();
      await proxy.close();
    }
  });

  it("the setpoint CLI asks for gzip too: get of thousands of objects in a fraction of their bytes", async () => {
    const proxy = await countingProxy(Number(new URL(t.url).port));
    try {
      const got = await runSetpointInProcess(["get", "items.gz.example.com", "-n", "many", "-o", "name", "--server", `http://127.0.0.1:${proxy.port}`]);
      assert.equal(got.code, 0, got.stderr);
      const names = got.stdout.trim().split("\n");
      assert.equal(names.length, COUNT);
      assert.equal(names[0], "item.gz.example.com/item-000000");
      const bareBytes = plain(await get(t.url, ITEMS)).length;
      assert.ok(proxy.received() * 5 < bareBytes, `setpoint get moved ${proxy.received()} bytes (discovery included) for a list of ${bareBytes}`);
    } finally {
      await proxy.close();
    }
  });
});

describe("--no-response-compression", () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ durable: false, responseCompression: false });
    await createType(api(t.url), { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
    await populate(t, "many", COUNT, () => "x".repeat(300));
  });

  after(async () => {
    await t?.stop();
  });

  it("sends even a large list as it is to a request that accepts gzip", async () => {
    const a = await get(t.url, ITEMS, { "accept-encoding": "gzip" });
    assert.equal(a.status, 200);
    const list = JSON.parse(plain(a).toString("utf8")) as { items: unknown[] };
    assert.equal(list.items.length, COUNT);
  });
});
