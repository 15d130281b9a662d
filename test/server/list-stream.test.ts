// Lists stream (issue 12, item 3): a list without `limit` is read from the
// store a page at a time as the client takes it, so the server holds a page or
// two of it, never the whole list, as a Table (kubectl get) and metadata only
// (client-go's metadata informers) as well; every page is served at the
// revision of the first, so writes during a slow read do not show; small lists
// still go out whole with a Content-Length.

import assert from "node:assert/strict";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import { indentJson } from "../../src/server/pretty.ts";
import { listAsMetadata } from "../../src/server/partial-metadata.ts";
import { listAsTable } from "../../src/server/table.ts";
import { asYaml } from "../../src/server/yaml-response.ts";
import { ExpiredError } from "../../src/errors.ts";
import { ListPages } from "../helpers/list-pages.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const GROUP = "stream.example.com";
const TYPE = `items.${GROUP}`;
const PATH = `/apis/${GROUP}/v1/namespaces/big/items`;
const PAD = "p".repeat(2000);

let t: TestServer;
/** The store page reads of TYPE's lists (and a page to fail). */
let spy: ListPages;
let c: ApiClient;

/** Writes `count` items straight through the store (fast: one turn, one commit). */
async function populate(from: number, count: number): Promise<void> {
  const writes = [];
  for (let i = from; i < from + count; i++) {
    const name = `item-${String(i).padStart(6, "0")}`;
    writes.push(
      t.server.store.write({ type: TYPE, namespace: "big", name }, (_current, revision) => ({
        op: "put",
        object: JSON.stringify({
          apiVersion: `${GROUP}/v1`,
          kind: "Item",
          metadata: { name, namespace: "big", resourceVersion: String(revision) },
          spec: { i, pad: PAD },
        }),
      })),
    );
  }
  await Promise.all(writes);
}

/** GET `path`, returning the response with its body not yet read (paused). */
function open(path: string, accept?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(t.url + path, { headers: accept ? { accept } : {} }, (res) => {
      res.pause();
      resolve(res);
    });
    req.on("error", reject);
    req.end();
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.resume();
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const until = async (what: string, ok: () => boolean, deadlineMs = 20_000): Promise<void> => {
  const deadline = Date.now() + deadlineMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

before(async () => {
  t = await startTestServer({ durable: false });
  c = api(t.url);
  await createType(c, { group: GROUP, kind: "Item", plural: "items", schema: { spec: { type: "object" } } });
  spy = new ListPages(t.server.store, TYPE);
  for (let i = 0; i < 20_000; i += 5000) await populate(i, 5000);
});

after(async () => {
  await t?.stop();
});

describe("list streaming", () => {
  it("a big list comes in chunks, read from the store a page at a time while the client reads", async () => {
    spy.reads.length = 0;
    const res = await open(PATH);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-length"], undefined, "no Content-Length: the body is streamed");
    assert.equal(res.headers["transfer-encoding"], "chunked");
    // The client reads nothing: the server stops pulling pages once the socket is full.
    await new Promise((r) => setTimeout(r, 500));
    const pagesWhilePaused = spy.reads.length;
    for (const r of spy.reads) assert.ok(r.limit !== undefined && r.limit <= 1000, `each read is a bounded page (limit ${r.limit})`);
    assert.ok(pagesWhilePaused < 20_000 / 500, `the server read ${pagesWhilePaused} pages before the client read anything: it must wait for it`);
    const list = JSON.parse(await readAll(res)) as {
      kind: string;
      metadata: { resourceVersion: string; continue?: string };
      items: Array<{ metadata: { name: string } }>;
    };
    assert.equal(list.kind, "ItemList");
    assert.equal(list.metadata.continue, undefined);
    assert.equal(list.items.length, 20_000);
    list.items.forEach((item, i) => assert.equal(item.metadata.name, `item-${String(i).padStart(6, "0")}`));
    assert.equal(list.metadata.resourceVersion, String(t.server.store.head()));
    assert.ok(spy.reads.length > pagesWhilePaused, "more pages were read once the client read");
  });

  it("every page is served at the first page's revision: writes during a slow read do not show", async () => {
    const res = await open(PATH);
    await new Promise((r) => setTimeout(r, 200));
    const servedAt = t.server.store.head();
    // Change items the server has not read yet (the end of the list), delete one, add one.
    await t.server.store.write({ type: TYPE, namespace: "big", name: "item-019999" }, () => ({ op: "delete", object: "{}" }));
    await populate(20_000, 1);
    await t.server.store.write({ type: TYPE, namespace: "big", name: "item-019990" }, (current, revision) => {
      const o = JSON.parse(current!.json) as { metadata: { resourceVersion: string }; spec: Record<string, unknown> };
      o.metadata.resourceVersion = String(revision);
      o.spec.changed = true;
      return { op: "put", object: JSON.stringify(o) };
    });
    const list = JSON.parse(await readAll(res)) as {
      metadata: { resourceVersion: string };
      items: Array<{ metadata: { name: string; resourceVersion: string }; spec: Record<string, unknown> }>;
    };
    assert.equal(list.metadata.resourceVersion, String(servedAt));
    assert.equal(list.items.length, 20_000);
    assert.equal(list.items.at(-1)!.metadata.name, "item-019999", "the deleted item is still there at the list's revision");
    const changed = list.items.find((i) => i.metadata.name === "item-019990")!;
    assert.equal(changed.spec.changed, undefined, "the later change does not show");
    for (const item of list.items) assert.ok(Number(item.metadata.resourceVersion) <= servedAt);
    // The writes did happen: two small reads, not the 40 MB list again (under a
    // loaded full suite that read outlasted the client's 10 s timeout).
    assert.equal((await c.get(`${PATH}/item-019999`)).status, 404, "item-019999 deleted");
    assert.equal((await c.get(`${PATH}/item-020000`)).status, 200, "item-020000 added");
    assert.equal((await c.get(`${PATH}/item-019990`)).body.spec.changed, true, "item-019990 changed");
  });

  it("pages with limit and continue walk the same items; small lists have a Content-Length", async () => {
    const whole = (await c.get(PATH)).body as { items: Array<{ metadata: { name: string } }> };
    const walked: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await c.get(`${PATH}?limit=3000${token ? `&continue=${encodeURIComponent(token)}` : ""}`);
      assert.equal(res.status, 200, res.text.slice(0, 300));
      walked.push(...(res.body.items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name));
      token = res.body.metadata.continue;
      pages++;
    } while (token && pages < 20);
    assert.deepEqual(
      walked,
      whole.items.map((i) => i.metadata.name),
    );
    const small = await c.get(`${PATH}?fieldSelector=metadata.name%3Ditem-000007`);
    assert.equal(small.status, 200);
    assert.deepEqual(
      small.body.items.map((i: { metadata: { name: string } }) => i.metadata.name),
      ["item-000007"],
    );
    assert.notEqual(small.headers.get("content-length"), null);
  });

  it("the text comes in chunks of whole items under V8's large-object size; a bigger item is a chunk of its own", async () => {
    // 500 items of 2 KiB joined into one chunk were 1 MiB strings, each a V8
    // large object that a full GC alone frees once it outlives a scavenge.
    const most = 32 * 1024 + 1; // the items' characters and the comma before them
    const chunks = [...(await t.server.resources.listChunks({ group: GROUP, version: "v1", plural: "items", namespace: "big" }, {}))];
    const body = chunks.slice(1, -1);
    assert.ok(body.length > 20_000 / 500, `${body.length} chunks of items`);
    for (const chunk of body) assert.ok(chunk.length <= most, `a chunk of ${chunk.length} characters`);
    assert.equal((JSON.parse(chunks.join("")) as { items: unknown[] }).items.length, 20_000);

    const names = ["a-small", "b-big", "c-small"];
    for (const name of names) {
      await t.server.store.write({ type: TYPE, namespace: "huge", name }, (_current, revision) => ({
        op: "put",
        object: JSON.stringify({
          apiVersion: `${GROUP}/v1`,
          kind: "Item",
          metadata: { name, namespace: "huge", resourceVersion: String(revision) },
          spec: { pad: "q".repeat(name === "b-big" ? 40_000 : 10) },
        }),
      }));
    }
    const huge = [...(await t.server.resources.listChunks({ group: GROUP, version: "v1", plural: "items", namespace: "huge" }, {}))].slice(1, -1);
    assert.deepEqual(
      huge.map((chunk) => (JSON.parse(`[${chunk.replace(/^,/, "")}]`) as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name)),
      [["a-small"], ["b-big"], ["c-small"]],
    );
  });

  it("a big list as a Table or metadata only streams as well, the same text as the whole list converted", async () => {
    const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io";
    const METADATA = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";
    const type = t.server.resources.resolve({ group: GROUP, version: "v1", plural: "items", namespace: "big" }, false);
    // Items written straight through the store have no creationTimestamp: every Age is <unknown>, whenever converted.
    const asTable = (includeObject: "Metadata" | "Object") => (json: string) =>
      listAsTable(type, json, { apiVersion: "meta.k8s.io/v1", includeObject, now: 0 });
    const asMetadata = (json: string) => listAsMetadata(json, "meta.k8s.io/v1");
    // Rows with their whole objects are 40 MB, more than the sockets hold: the server must wait for the client.
    // Metadata alone (~5 MB) may all fit in the sockets' buffers.
    for (const [accept, query, convert, waits] of [
      [TABLE, "?includeObject=Object", asTable("Object"), true],
      [TABLE, "", asTable("Metadata"), false],
      [METADATA, "", asMetadata, false],
    ] as const) {
      const what = `${accept}${query}`;
      spy.reads.length = 0;
      const res = await open(PATH + query, accept);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-length"], undefined, `${what}: no Content-Length, the body is streamed`);
      assert.equal(res.headers["transfer-encoding"], "chunked");
      if (waits) {
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(spy.reads.length < 20_000 / 500, `${what}: the server read ${spy.reads.length} pages before the client read anything`);
      }
      const streamed = await readAll(res);
      // Nothing is written meanwhile: the plain list is at the same revision.
      assert.equal(streamed, convert((await c.get(PATH)).text), `${what}: the streamed text is the whole list's, converted`);
      // (Not with whole objects: 40 MB to indent twice.)
      for (const more of waits ? [] : ["limit=3000", "pretty=true"]) {
        const q = `${query ? `${query}&` : "?"}${more}`;
        const converted = (await c.request("GET", PATH + q, { headers: { accept } })).text;
        const whole = convert((await c.get(PATH + q.replace("pretty=true", "pretty=false"))).text);
        assert.equal(converted, more === "pretty=true" ? indentJson(whole) : whole, `${accept}${q}`);
      }
    }
  });

  it("a big list as YAML streams too, waiting for the client, the same text as the whole list as YAML", async () => {
    const YAML = "application/yaml";
    const TABLE_YAML = "application/yaml;as=Table;v=v1;g=meta.k8s.io";
    const type = t.server.resources.resolve({ group: GROUP, version: "v1", plural: "items", namespace: "big" }, false);
    const asTable = (json: string) => listAsTable(type, json, { apiVersion: "meta.k8s.io/v1", includeObject: "Metadata", now: 0 });
    for (const [accept, convert, waits] of [
      [YAML, (json: string) => json, true],
      [TABLE_YAML, asTable, false],
    ] as const) {
      spy.reads.length = 0;
      const res = await open(PATH, accept);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-type"], "application/yaml");
      assert.equal(res.headers["content-length"], undefined, `${accept}: no Content-Length, the body is streamed`);
      assert.equal(res.headers["transfer-encoding"], "chunked");
      if (waits) {
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(spy.reads.length < 20_000 / 500, `${accept}: the server read ${spy.reads.length} pages before the client read anything`);
      }
      const streamed = await readAll(res);
      assert.equal(streamed, asYaml(convert((await c.get(PATH)).text)), `${accept}: the streamed text is the whole list's, as YAML`);
    }
    // A small list goes whole, with a Content-Length; a page cut by limit carries its continue token.
    const page = await c.request("GET", `${PATH}?limit=2`, { headers: { accept: YAML } });
    assert.equal(page.headers.get("content-type"), "application/yaml");
    assert.ok(page.headers.get("content-length"));
    assert.equal(page.text, asYaml((await c.get(`${PATH}?limit=2`)).text));
    assert.match(page.text, /^ {2}continue: /m);
  });

  it("an error once the list's head is sent cuts the connection: the body ends without HTTP's last chunk, so no client takes it for a whole list", async () => {
    for (const [error, accept] of [
      [new ExpiredError("The resourceVersion for the provided list is too old."), undefined],
      [new Error("disk on fire"), "application/yaml"],
    ] as const) {
      spy.reads.length = 0;
      spy.fail = { page: 5, error };
      try {
        const res = await open(PATH, accept);
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers["transfer-encoding"], "chunked");
        res.resume();
        let bytes = 0;
        const outcome = await new Promise<string>((resolve) => {
          res.on("data", (chunk: Buffer) => (bytes += chunk.length));
          res.on("end", () => resolve(res.complete ? "complete" : "incomplete"));
          res.on("error", (err) => resolve(`error: ${err.message}`));
          res.on("close", () => resolve(res.complete ? "complete" : "incomplete"));
        });
        assert.notEqual(outcome, "complete", `${error.message}: the body must not end as a whole one`);
        assert.ok(bytes > 0 && bytes < 20_000 * 2000, `${error.message}: part of the list came (${bytes} bytes)`);
      } finally {
        spy.fail = undefined;
      }
    }
    const again = await c.get(`${PATH}?limit=1`);
    assert.equal(again.status, 200, "the server still serves");
  });

  it("a client that goes away mid-list stops the reads", async () => {
    spy.reads.length = 0;
    const res = await open(PATH);
    await until("the first page", () => spy.reads.length > 0);
    res.destroy();
    // The reads stop: the count holds still for 300 ms (however long a loaded
    // machine takes the server to see the client go), short of the whole list.
    let n = -1;
    for (const deadline = Date.now() + 10_000; n !== spy.reads.length; ) {
      assert.ok(Date.now() < deadline, `the reads never stopped (${spy.reads.length})`);
      n = spy.reads.length;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(n < 20_000 / 500, `the server read ${n} pages after the client left`);
    const again = await c.get(`${PATH}?limit=1`);
    assert.equal(again.status, 200, "the server still serves");
  });
});
