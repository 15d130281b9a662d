// Metadata-only answers, as kube-apiserver serves client-go's metadata client
// (k8s.io/client-go/metadata, the metadata informers): the exact Accept
// headers it sends on a get, patch and watch (`as=PartialObjectMetadata`) and
// on a list (`as=PartialObjectMetadataList`), against a real server on
// 127.0.0.1 with a real LMDB directory, over HTTP and the WebSocket watch.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { WebSocket } from "ws";
import { api, assertStatus, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

// Verbatim from k8s.io/client-go/metadata/metadata.go (Get, Patch, Watch; List).
const METADATA =
  "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const METADATA_LIST =
  "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const DEADLINE_MS = 10_000;

let s: TestServer;
let c: ApiClient;
let gv: string;
let namespaces = 0;

before(async () => {
  s = await startTestServer();
  c = api(s.url);
  gv = await createType(c, { group: "meta.example.com", kind: "Gadget", plural: "gadgets" });
});
after(() => s.stop());

const gadgets = (ns: string) => `${gv}/namespaces/${ns}/gadgets`;
const freshNs = () => `ns${++namespaces}`;
const as = (method: string, path: string, accept: string, body?: unknown) =>
  c.request(method, path, { headers: { accept }, ...(body !== undefined && { body }) });

async function create(ns: string, name: string, labels: Record<string, string> = { app: "web" }): Promise<any> {
  const r = await c.post(gadgets(ns), {
    metadata: { name, labels, annotations: { note: "kept" }, finalizers: ["example.com/keep"] },
    spec: { size: 3, secret: "not in metadata" },
  });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

/** Asserts `o` is the PartialObjectMetadata of `full` (the whole object as a plain get answers it). */
function assertPartialOf(o: any, full: any, apiVersion = "meta.k8s.io/v1"): void {
  assert.deepEqual(Object.keys(o).sort(), ["apiVersion", "kind", "metadata"], JSON.stringify(o));
  assert.equal(o.kind, "PartialObjectMetadata");
  assert.equal(o.apiVersion, apiVersion);
  assert.deepEqual(o.metadata, full.metadata);
}

describe("PartialObjectMetadata on gets and writes", () => {
  it("a get with client-go's metadata Accept header answers the whole metadata and nothing else", async () => {
    const ns = freshNs();
    const made = await create(ns, "a");
    const full = (await c.get(`${gadgets(ns)}/a`)).body;
    const r = await as("GET", `${gadgets(ns)}/a`, METADATA);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("content-type"), "application/json");
    assertPartialOf(r.body, full);
    assert.equal(r.body.metadata.uid, made.metadata.uid);
    assert.deepEqual(r.body.metadata.labels, { app: "web" });
    assert.deepEqual(r.body.metadata.finalizers, ["example.com/keep"]);
    assert.ok(!r.text.includes("not in metadata"));

    const beta = await as("GET", `${gadgets(ns)}/a`, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1");
    assertPartialOf(beta.body, full, "meta.k8s.io/v1beta1");
    // The status subresource converts too (it makes no Tables, but metadata it does).
    assertPartialOf((await as("GET", `${gadgets(ns)}/a/status`, METADATA)).body, full);
  });

  it("create, update, patch and delete answer PartialObjectMetadata when asked", async () => {
    const ns = freshNs();
    const created = await as("POST", gadgets(ns), METADATA, { metadata: { name: "w", labels: { x: "1" } }, spec: { size: 1 } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.kind, "PartialObjectMetadata");
    assert.equal(created.body.metadata.name, "w");
    assert.ok(Number(created.body.metadata.resourceVersion) > 0);
    const stored = (await c.get(`${gadgets(ns)}/w`)).body;
    assertPartialOf(created.body, stored);

    const patched = await c.request("PATCH", `${gadgets(ns)}/w`, {
      headers: { accept: METADATA },
      body: { metadata: { labels: { x: "2" } } },
      contentType: "application/merge-patch+json",
    });
    assert.equal(patched.status, 200, patched.text);
    assertPartialOf(patched.body, (await c.get(`${gadgets(ns)}/w`)).body);
    assert.equal(patched.body.metadata.labels.x, "2");

    const current = (await c.get(`${gadgets(ns)}/w`)).body;
    const updated = await as("PUT", `${gadgets(ns)}/w`, METADATA, { ...current, spec: { size: 2 } });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.body.kind, "PartialObjectMetadata");
    assert.ok(Number(updated.body.metadata.resourceVersion) > Number(current.metadata.resourceVersion));

    const deleted = await as("DELETE", `${gadgets(ns)}/w`, METADATA);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.body.kind, "PartialObjectMetadata");
    assert.equal(deleted.body.metadata.name, "w");
    assert.equal((await c.get(`${gadgets(ns)}/w`)).status, 404);
  });

  it("a deletecollection answers a PartialObjectMetadataList when asked", async () => {
    const ns = freshNs();
    for (const n of ["d1", "d2"]) await c.post(gadgets(ns), { metadata: { name: n }, spec: {} });
    const r = await as("DELETE", gadgets(ns), METADATA_LIST);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, "PartialObjectMetadataList");
    assert.deepEqual(
      r.body.items.map((i: any) => [i.kind, i.metadata.name]),
      [
        ["PartialObjectMetadata", "d1"],
        ["PartialObjectMetadata", "d2"],
      ],
    );
  });

  it("in YAML when the range that wins asks for YAML", async () => {
    const ns = freshNs();
    const full = await create(ns, "y");
    const r = await as("GET", `${gadgets(ns)}/y`, "application/yaml;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("content-type"), "application/yaml");
    assertPartialOf(parseYaml(r.text), full);
    const list = await as("GET", gadgets(ns), "application/yaml;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
    assert.equal(list.headers.get("content-type"), "application/yaml");
    assert.equal(parseYaml(list.text).kind, "PartialObjectMetadataList");
  });
});

describe("PartialObjectMetadataList on lists", () => {
  it("every item's metadata, the list's resourceVersion; pages follow limit and continue", async () => {
    const ns = freshNs();
    const names = ["p1", "p2", "p3", "p4", "p5"];
    for (const n of names) await create(ns, n);
    const plain = (await c.get(gadgets(ns))).body;
    const r = await as("GET", gadgets(ns), METADATA_LIST);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.deepEqual(Object.keys(r.body).sort(), ["apiVersion", "items", "kind", "metadata"]);
    assert.equal(r.body.kind, "PartialObjectMetadataList");
    assert.equal(r.body.apiVersion, "meta.k8s.io/v1");
    assert.ok(Number(r.body.metadata.resourceVersion) >= Number(plain.metadata.resourceVersion));
    // A whole list: no continue token, no remainingItemCount.
    assert.deepEqual(Object.keys(r.body.metadata), ["resourceVersion"]);
    assert.equal(r.body.items.length, names.length);
    r.body.items.forEach((item: any, i: number) => assertPartialOf(item, plain.items[i]));

    const seen: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = await as("GET", `${gadgets(ns)}?limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`, METADATA_LIST);
      assert.equal(page.status, 200, page.text);
      assert.equal(page.body.kind, "PartialObjectMetadataList");
      assert.ok(page.body.items.length <= 2);
      for (const item of page.body.items) {
        assert.equal(item.kind, "PartialObjectMetadata");
        assert.equal(item.spec, undefined);
        seen.push(item.metadata.name);
      }
      cont = page.body.metadata.continue;
      assert.ok(cont === undefined || (typeof cont === "string" && cont.length > 0), "continue is a token or absent");
      // The metadata form keeps the list's remainingItemCount, as kube's conversion does.
      assert.equal(page.body.metadata.remainingItemCount, cont ? names.length - seen.length : undefined);
      assert.ok(++pages <= names.length, "the pages end");
    } while (cont);
    assert.deepEqual(seen, names);
    assert.equal(pages, 3);
  });

  it("v1beta1, label selectors, and an empty list with an empty items array", async () => {
    const ns = freshNs();
    await create(ns, "l1", { app: "web" });
    await create(ns, "l2", { app: "db" });
    const beta = await as("GET", `${gadgets(ns)}?labelSelector=app%3Ddb`, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1");
    assert.equal(beta.body.apiVersion, "meta.k8s.io/v1beta1");
    assert.deepEqual(
      beta.body.items.map((i: any) => [i.apiVersion, i.metadata.name]),
      [["meta.k8s.io/v1beta1", "l2"]],
    );
    const empty = await as("GET", gadgets(freshNs()), METADATA_LIST);
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.body.items, []);
  });
});

describe("negotiation: 406 and fallback", () => {
  it("a List form on a get, or the object form on a list, is 406 NotAcceptable, even with a fallback listed (as kube)", async () => {
    const ns = freshNs();
    await create(ns, "n");
    const cases: Array<[string, string, RegExp]> = [
      [`${gadgets(ns)}/n`, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", /not a list/],
      [`${gadgets(ns)}/n`, METADATA_LIST, /not a list/],
      [gadgets(ns), "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", /is a list/],
      [gadgets(ns), METADATA, /is a list/],
    ];
    for (const [path, accept, message] of cases) {
      const r = await as("GET", path, accept);
      assertStatus(r, 406, "NotAcceptable");
      assert.match(r.body.message, message, accept);
    }
  });

  it("a form the server does not know, with nothing else acceptable, is 406 naming the media types", async () => {
    const ns = freshNs();
    await create(ns, "u");
    for (const accept of [
      "application/json;as=Foo;g=meta.k8s.io;v=v1",
      "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2",
      "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json;as=Widget;g=example.com;v=v1",
    ]) {
      for (const path of [`${gadgets(ns)}/u`, gadgets(ns)]) {
        const r = await as("GET", path, accept);
        assertStatus(r, 406, "NotAcceptable");
        assert.equal(r.body.message, "only the following media types are accepted: application/json, application/yaml", accept);
      }
    }
  });

  it("a write asking for a form that cannot fit is refused before it writes", async () => {
    const ns = freshNs();
    assertStatus(await as("POST", gadgets(ns), METADATA_LIST, { metadata: { name: "never" }, spec: {} }), 406, "NotAcceptable");
    assert.equal((await c.get(`${gadgets(ns)}/never`)).status, 404);
    await create(ns, "kept");
    assertStatus(await as("DELETE", `${gadgets(ns)}/kept`, METADATA_LIST), 406, "NotAcceptable");
    assertStatus(await as("DELETE", gadgets(ns), METADATA), 406, "NotAcceptable");
    assert.equal((await c.get(`${gadgets(ns)}/kept`)).status, 200);
  });

  it("falls back past ranges it cannot serve (protobuf, unknown forms) to the next acceptable one", async () => {
    const ns = freshNs();
    const full = await create(ns, "f");
    const partial = await as(
      "GET",
      `${gadgets(ns)}/f`,
      "application/json;as=Foo;g=meta.k8s.io;v=v1, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    );
    assertPartialOf(partial.body, full);
    const whole = await as("GET", `${gadgets(ns)}/f`, "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json");
    assert.equal(whole.status, 200, whole.text);
    assert.equal(whole.body.kind, "Gadget");
    assert.equal(whole.body.spec.size, 3);
    // By quality: the plain range preferred over the metadata one.
    const preferred = await as("GET", `${gadgets(ns)}/f`, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1;q=0.5, application/json");
    assert.equal(preferred.body.kind, "Gadget");
    // Plain clients are unchanged.
    assert.equal((await c.get(`${gadgets(ns)}/f`)).body.kind, "Gadget");
  });
});

// ---------------------------------------------------------------------------
// Watches.

interface WireEvent {
  type: string;
  object: any;
}

/** A watch stream's events, as they arrive, over chunked HTTP or a WebSocket. */
interface Watch {
  events: WireEvent[];
  until(n: number, what: string): Promise<void>;
  stop(): void;
}

function collector(stop: () => void): Watch & { push(e: WireEvent): void } {
  const events: WireEvent[] = [];
  const waiters = new Set<() => void>();
  return {
    events,
    stop,
    push(e) {
      // A periodic bookmark may come at any moment (the hub's interval, a
      // replica's sync): only the initial-events-end one is part of what the
      // tests expect, in its place.
      if (e.type === "BOOKMARK" && e.object?.metadata?.annotations?.["k8s.io/initial-events-end"] !== "true") return;
      events.push(e);
      for (const w of [...waiters]) w();
    },
    until(n, what) {
      if (events.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (events.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}: ${events.length} events: ${events.map((e) => e.type).join(" ")}`));
        }, DEADLINE_MS);
        waiters.add(check);
      });
    },
  };
}

type Opened = { status: 200; watch: Watch } | { status: number; body: any };

async function openWatch(transport: "http" | "ws", path: string, query: string, accept: string): Promise<Opened> {
  if (transport === "http") {
    const ac = new AbortController();
    const res = await fetch(`${s.url}${path}?watch=true&${query}`, { headers: { accept }, signal: AbortSignal.any([ac.signal, AbortSignal.timeout(60_000)]) });
    if (res.status !== 200) return { status: res.status, body: JSON.parse(await res.text()) };
    assert.equal(res.headers.get("content-type"), "application/json");
    const w = collector(() => ac.abort());
    void (async () => {
      const decoder = new TextDecoder();
      let buf = "";
      try {
        for await (const chunk of res.body!) {
          buf += decoder.decode(chunk, { stream: true });
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            w.push(JSON.parse(buf.slice(0, nl)));
            buf = buf.slice(nl + 1);
          }
        }
      } catch {
        // aborted
      }
    })();
    return { status: 200, watch: w };
  }
  const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}${path}?${query}`, { headers: { accept } });
  return new Promise<Opened>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WebSocket ${path}: no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    const w = collector(() => ws.close(1000));
    ws.on("message", (data) => w.push(JSON.parse(data.toString())));
    ws.on("error", () => {});
    ws.on("open", () => {
      clearTimeout(timer);
      resolve({ status: 200, watch: w });
    });
    ws.on("unexpected-response", (_req, res: IncomingMessage) => {
      clearTimeout(timer);
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        ws.terminate();
      });
    });
  });
}

for (const transport of ["http", "ws"] as const) {
  describe(`PartialObjectMetadata watch over ${transport === "http" ? "chunked HTTP" : "WebSocket"}`, () => {
    it("ADDED, BOOKMARK, MODIFIED and DELETED each carry their object's metadata only", async () => {
      const ns = freshNs();
      const first = await create(ns, "w1");
      const opened = await openWatch(transport, gadgets(ns), "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan", METADATA);
      assert.equal(opened.status, 200, JSON.stringify((opened as { body?: unknown }).body));
      const w = (opened as { watch: Watch }).watch;
      try {
        await w.until(2, "the initial ADDED and the initial-events-end BOOKMARK");
        const patched = (await c.patch(`${gadgets(ns)}/w1`, { metadata: { labels: { app: "api" } } })).body;
        const second = await create(ns, "w2");
        const gone = (await c.del(`${gadgets(ns)}/w2`)).body;
        await w.until(5, "MODIFIED, ADDED and DELETED");
        const [added, bookmark, modified, added2, deleted] = w.events;
        // The delete of an object with finalizers is a MODIFIED that sets deletionTimestamp.
        assert.deepEqual(
          w.events.map((e) => e.type),
          ["ADDED", "BOOKMARK", "MODIFIED", "ADDED", "MODIFIED"],
        );
        assertPartialOf(added!.object, first);
        assert.equal(bookmark!.object.kind, "PartialObjectMetadata");
        assert.equal(bookmark!.object.apiVersion, "meta.k8s.io/v1");
        assert.equal(bookmark!.object.metadata.annotations["k8s.io/initial-events-end"], "true");
        assert.ok(Number(bookmark!.object.metadata.resourceVersion) >= Number(first.metadata.resourceVersion));
        assertPartialOf(modified!.object, patched);
        assertPartialOf(added2!.object, second);
        assertPartialOf(deleted!.object, gone);
        assert.ok(deleted!.object.metadata.deletionTimestamp);
        for (const e of w.events) assert.equal(e.object.spec, undefined, e.type);
      } finally {
        w.stop();
      }
    });

    it("DELETED carries the last metadata; v1beta1 when asked", async () => {
      const ns = freshNs();
      const made = await c.post(gadgets(ns), { metadata: { name: "d" }, spec: { size: 1 } });
      assert.equal(made.status, 201, made.text);
      const opened = await openWatch(
        transport,
        gadgets(ns),
        `resourceVersion=${made.body.metadata.resourceVersion}`,
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1",
      );
      assert.equal(opened.status, 200);
      const w = (opened as { watch: Watch }).watch;
      try {
        const gone = (await c.del(`${gadgets(ns)}/d`)).body;
        await w.until(1, "DELETED");
        assert.equal(w.events[0]!.type, "DELETED");
        assertPartialOf(w.events[0]!.object, gone, "meta.k8s.io/v1beta1");
      } finally {
        w.stop();
      }
    });

    it("at the contract's limits: a 253-character name in a 63-character namespace, an object near 1.5 MiB", async () => {
      const ns = `${transport}${"n".repeat(63 - transport.length)}`;
      const name = ["a", "b", "c"].map((ch) => ch.repeat(63)).join(".") + `.${"d".repeat(61)}`;
      assert.equal(name.length, 253);
      const big = "é".repeat(700 * 1024); // 1.37 MiB of UTF-8
      const opened = await openWatch(transport, gadgets(ns), "", METADATA);
      assert.equal(opened.status, 200);
      const w = (opened as { watch: Watch }).watch;
      try {
        const made = await c.post(gadgets(ns), { metadata: { name, labels: { app: "big" } }, spec: { size: 1, secret: big } });
        assert.equal(made.status, 201, made.text.slice(0, 300));
        const one = await as("GET", `${gadgets(ns)}/${name}`, METADATA);
        assert.equal(one.status, 200);
        assertPartialOf(one.body, made.body);
        assert.ok(one.text.length < 2048, `metadata only: ${one.text.length} bytes`);
        const list = await as("GET", gadgets(ns), METADATA_LIST);
        assert.equal(list.body.kind, "PartialObjectMetadataList");
        assert.deepEqual(
          list.body.items.map((o: any) => o.metadata.name),
          [name],
        );
        assert.ok(list.text.length < 2048, `metadata only: ${list.text.length} bytes`);
        await w.until(1, "the ADDED of the big object");
        assert.equal(w.events[0]!.type, "ADDED");
        assertPartialOf(w.events[0]!.object, made.body);
      } finally {
        w.stop();
      }
    });

    it("the List form, or a form the server does not know, is 406 before the stream starts", async () => {
      const ns = freshNs();
      for (const accept of [METADATA_LIST, "application/json;as=Foo;g=meta.k8s.io;v=v1"]) {
        const opened = await openWatch(transport, gadgets(ns), "", accept);
        assert.equal(opened.status, 406, accept);
        assert.equal((opened as { body: any }).body.reason, "NotAcceptable");
      }
    });
  });
}
