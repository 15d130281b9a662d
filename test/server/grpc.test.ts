// The gRPC edge (API.md §6) against the real server over a real grpc-js
// client: every RPC, the error table (codes, human-readable details, the
// Status in the `setpoint-status-bin` trailer), watch ordering from a
// revision, initial events, bookmarks, timeouts, expiry, the slow-watcher
// bound, pagination, shutdown, token auth, and the generated descriptor being
// current.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/clock.ts";
import {
  loadResourcesService,
  statusOfError,
  type Outgoing,
  type ResourceRef,
  type ResourcesClient,
  type UnaryMethod,
  type WatchEvent,
  type WatchRequest,
} from "../../src/proto.ts";
import type { ListOptions, ListResult } from "../../src/store.ts";
import type { Status } from "../../src/wire.ts";
import { api, startTestServer, TEST_REPLICAS, type TestServer } from "../helpers/server.ts";

const GROUP = "grpc.example.com";
const DEADLINE_MS = 10_000;
const { Client } = loadResourcesService();

const widgetSchema = {
  spec: { type: "object", required: ["size"], properties: { size: { type: "integer", minimum: 1 } } },
  status: { type: "object", properties: { phase: { type: "string" } } },
};

let nsCounter = 0;
/** A namespace no other test uses. */
const freshNs = () => `g-${++nsCounter}`;
const widgets = (namespace: string, name = ""): Outgoing<ResourceRef> => ({ group: GROUP, version: "v1", plural: "widgets", namespace, name });
const widget = (name: string, spec: Record<string, unknown> = { size: 1 }, metadata: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name, ...metadata }, spec }));
const parse = (b: Buffer): Record<string, any> => JSON.parse(b.toString("utf8"));
const rv = (o: Record<string, any>) => Number(o.metadata.resourceVersion);

function connect(server: TestServer): ResourcesClient {
  return new Client(`127.0.0.1:${server.server.grpcPort}`, grpc.credentials.createInsecure());
}

/** Calls a unary method with a deadline. */
function call<Req, Res>(client: ResourcesClient, method: UnaryMethod<Req, Res>, request: Req, metadata = new grpc.Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

/** Asserts that `p` fails with `code`, a human-readable message, and the Status trailer with `reason`. */
async function fails(p: Promise<unknown>, code: grpc.status, reason: string): Promise<Status> {
  const err = await p.then(
    () => assert.fail(`expected ${grpc.status[code]}`),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, code, `${err.message}`);
  const status = statusOfError(err);
  assert.ok(status, `no status trailer on ${err.message}`);
  assert.equal(status.kind, "Status");
  assert.equal(status.reason, reason, err.message);
  assert.equal(err.details, status.message);
  assert.ok(err.details.length > 0 && !err.details.startsWith("{"), `details should be a message: ${err.details}`);
  return status;
}

/** A watch whose events are collected; wait on them with deadlines. */
function watch(client: ResourcesClient, request: Outgoing<WatchRequest>, metadata = new grpc.Metadata()) {
  const stream = client.watch(request, metadata);
  const events: WatchEvent[] = [];
  let wake = () => {};
  stream.on("data", (ev: WatchEvent) => {
    events.push(ev);
    wake();
  });
  stream.on("error", () => {}); // reported through `ended`
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
  return {
    stream,
    events,
    ended,
    /** Resolves once `count` events arrived; fails after the deadline. */
    async until(count: number, ms = DEADLINE_MS): Promise<WatchEvent[]> {
      const deadline = Date.now() + ms;
      while (events.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) assert.fail(`got ${events.length} of ${count} events: ${JSON.stringify(events.map((e) => e.type))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return events.slice(0, count);
    },
    /** Resolves with the stream's final status; fails after the deadline. */
    async end(ms = DEADLINE_MS): Promise<grpc.StatusObject> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("watch did not end")), ms)));
      try {
        return await Promise.race([ended, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function createWidgetType(client: ResourcesClient): Promise<void> {
  const type = {
    apiVersion: "setpoint.dev/v1",
    kind: "ResourceType",
    metadata: { name: `widgets.${GROUP}` },
    spec: { group: GROUP, version: "v1", kind: "Widget", plural: "widgets", scope: "Namespaced", schema: widgetSchema },
  };
  const ref = { group: "setpoint.dev", version: "v1", plural: "resourcetypes" };
  const res = await call(client, client.create, { ref, object: Buffer.from(JSON.stringify(type)) });
  assert.equal(parse(res.object).metadata.name, `widgets.${GROUP}`);
}

describe("gRPC Resources", () => {
  let t: TestServer;
  let c: ResourcesClient;

  before(async () => {
    t = await startTestServer({ grpcPort: 0, durable: false, bookmarkIntervalMs: 100 });
    assert.ok(t.server.grpcPort > 0, `grpcPort ${t.server.grpcPort}`);
    c = connect(t);
    await createWidgetType(c);
  });
  after(async () => {
    c?.close();
    await t?.stop();
  });

  it("a status write on an object stored with labels of the wrong JSON type succeeds and drops them, as kube reads such an object", async () => {
    const ns = freshNs();
    for (const [name, write] of [
      ["by-update", (o: object) => call(c, c.updateStatus, { ref: widgets(ns, "by-update"), object: Buffer.from(JSON.stringify(o)) })],
      [
        "by-patch",
        () =>
          call(c, c.patch, {
            ref: widgets(ns, "by-patch"),
            patchType: "application/merge-patch+json",
            patch: Buffer.from('{"status":{"phase":"Done"}}'),
            status: true,
          }),
      ],
    ] as const) {
      const made = parse((await call(c, c.create, { ref: widgets(ns), object: widget(name, { size: 1 }) })).object);
      await t.server.store.write({ type: `widgets.${GROUP}`, namespace: ns, name }, (current, revision) => {
        const o = JSON.parse(current!.json);
        o.metadata.labels = { a: 1 }; // as an older release could store it
        o.metadata.resourceVersion = String(revision);
        return { op: "put", object: JSON.stringify(o) };
      });
      const { labels: _l, resourceVersion: _rv, ...metadata } = made.metadata; // no precondition: the store write moved it on
      const written = parse((await write({ ...made, metadata, status: { phase: "Done" } })).object);
      assert.equal(written.status.phase, "Done", name);
      assert.equal(written.metadata.labels, undefined, name);
    }
  });

  it("creates, gets, updates, writes status, patches and deletes", async () => {
    const ns = freshNs();
    const made = parse((await call(c, c.create, { ref: widgets(ns), object: widget("a", { size: 1 }) })).object);
    assert.equal(made.metadata.namespace, ns);
    assert.equal(made.metadata.generation, 1);
    assert.ok(made.metadata.uid);

    const got = parse((await call(c, c.get, { ref: widgets(ns, "a") })).object);
    assert.deepEqual(got, made);

    const updated = parse(
      (await call(c, c.update, { ref: widgets(ns, "a"), object: widget("a", { size: 2 }, { resourceVersion: made.metadata.resourceVersion }) })).object,
    );
    assert.equal(updated.spec.size, 2);
    assert.equal(updated.metadata.generation, 2);
    assert.ok(rv(updated) > rv(made));

    const withStatus = { ...updated, status: { phase: "Running" }, spec: { size: 99 } };
    const st = parse((await call(c, c.updateStatus, { ref: widgets(ns, "a"), object: Buffer.from(JSON.stringify(withStatus)) })).object);
    assert.deepEqual(st.status, { phase: "Running" });
    assert.equal(st.spec.size, 2, "UpdateStatus ignores spec");
    assert.equal(st.metadata.generation, 2);

    const merged = parse(
      (await call(c, c.patch, { ref: widgets(ns, "a"), patchType: "application/merge-patch+json", patch: Buffer.from('{"spec":{"size":3}}') })).object,
    );
    assert.equal(merged.spec.size, 3);
    const jsonPatched = parse(
      (
        await call(c, c.patch, {
          ref: widgets(ns, "a"),
          patchType: "application/json-patch+json",
          patch: Buffer.from('[{"op":"test","path":"/spec/size","value":3},{"op":"replace","path":"/spec/size","value":4}]'),
        })
      ).object,
    );
    assert.equal(jsonPatched.spec.size, 4);
    const statusPatched = parse(
      (
        await call(c, c.patch, {
          ref: widgets(ns, "a"),
          patchType: "application/merge-patch+json",
          patch: Buffer.from('{"status":{"phase":"Done"},"spec":{"size":50}}'),
          status: true,
        })
      ).object,
    );
    assert.equal(statusPatched.status.phase, "Done");
    assert.equal(statusPatched.spec.size, 4, "a status patch leaves spec alone");

    const deleted = parse(
      (await call(c, c.delete, { ref: widgets(ns, "a"), resourceVersion: statusPatched.metadata.resourceVersion, uid: made.metadata.uid })).object,
    );
    assert.equal(deleted.metadata.name, "a");
    assert.ok(rv(deleted) > rv(statusPatched));
    await fails(call(c, c.get, { ref: widgets(ns, "a") }), grpc.status.NOT_FOUND, "NotFound");
  });

  it("lists in pages, every page at the first page's revision", async () => {
    const ns = freshNs();
    for (const name of ["e", "b", "d", "a", "c"]) await call(c, c.create, { ref: widgets(ns), object: widget(name) });
    const first = await call(c, c.list, { ref: widgets(ns), limit: 2 });
    assert.equal(first.items.length, 2);
    assert.ok(first.continue !== "");
    // A write after the first page does not show in later pages.
    await call(c, c.create, { ref: widgets(ns), object: widget("bb") });
    const names = first.items.map((b) => parse(b).metadata.name as string);
    let page = first;
    while (page.continue !== "") {
      page = await call(c, c.list, { ref: widgets(ns), limit: 2, continue: page.continue });
      assert.equal(page.revision, first.revision);
      names.push(...page.items.map((b) => parse(b).metadata.name as string));
    }
    assert.deepEqual(names, ["a", "b", "c", "d", "e"]);

    const all = await call(c, c.list, { ref: widgets(ns) });
    assert.equal(all.continue, "");
    assert.deepEqual(
      all.items.map((b) => parse(b).metadata.name),
      ["a", "b", "bb", "c", "d", "e"],
    );
    assert.ok(all.revision > first.revision);
    const selected = await call(c, c.list, { ref: widgets(ns), fieldSelector: "metadata.name=c" });
    assert.deepEqual(
      selected.items.map((b) => parse(b).metadata.name),
      ["c"],
    );
  });

  it("a list without a limit is the whole list in one answer, read from the store a page at a time at the first page's revision", async () => {
    const ns = freshNs();
    const count = 1234;
    // 50 writes in flight at most: 1,234 at once outran etcd's write deadline on a loaded machine.
    for (let from = 0; from < count; from += 50) {
      const writes = [];
      for (let i = from; i < Math.min(from + 50, count); i++) {
        const name = `w-${String(i).padStart(5, "0")}`;
        const object = JSON.stringify({
          apiVersion: `${GROUP}/v1`,
          kind: "Widget",
          metadata: { name, namespace: ns, resourceVersion: "0" },
          spec: { size: 1, i },
        });
        writes.push(t.server.store.write({ type: `widgets.${GROUP}`, namespace: ns, name }, () => ({ op: "put", object })));
      }
      await Promise.all(writes);
    }
    const store = t.server.store;
    const list = store.list.bind(store);
    const reads: ListOptions[] = [];
    store.list = (o: ListOptions): ListResult => {
      if (o.namespace === ns) reads.push(o);
      return list(o);
    };
    try {
      const all = await call(c, c.list, { ref: widgets(ns) });
      assert.equal(all.continue, "");
      assert.equal(all.revision, store.head());
      assert.deepEqual(
        all.items.map((b) => parse(b).metadata.name),
        Array.from({ length: count }, (_, i) => `w-${String(i).padStart(5, "0")}`),
      );
      assert.deepEqual(parse(all.items[7]!).spec, { size: 1, i: 7 });
      // Behind the replicated suite's front end, the replica that answers may not be the one whose store is wrapped here.
      if (TEST_REPLICAS === 1) assert.ok(reads.length >= 3, `${reads.length} store reads`);
      for (const r of reads) assert.ok(r.limit !== undefined && r.limit <= 1000, `each store read is a bounded page (limit ${r.limit})`);
      assert.ok(
        reads.slice(1).every((r) => r.revision === all.revision),
        "the pages after the first are read at its revision",
      );
      // With a limit, as before: one page and a token.
      const page = await call(c, c.list, { ref: widgets(ns), limit: 1000 });
      assert.equal(page.items.length, 1000);
      assert.notEqual(page.continue, "");
      assert.equal((await call(c, c.list, { ref: widgets(ns), limit: 1000, continue: page.continue })).items.length, count - 1000);
    } finally {
      store.list = list;
    }
  });

  it("a page with a limit fits the 4 MiB a gRPC client receives by default, even of objects near the 1.5 MiB bound", async () => {
    const ns = freshNs();
    const blob = "x".repeat(1400 * 1024);
    const names = ["a", "b", "c", "d", "e"];
    for (const name of names) await call(c, c.create, { ref: widgets(ns), object: widget(name, { size: 1, blob }) });
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      // connect() is a client with grpc-js's default receive bound (4 MiB): a bigger answer fails with RESOURCE_EXHAUSTED.
      const page = await call(c, c.list, { ref: widgets(ns), limit: 500, continue: token });
      assert.ok(page.items.length >= 1, "every page holds an item");
      seen.push(...page.items.map((i) => parse(i).metadata.name as string));
      token = page.continue;
      pages++;
    } while (token !== "" && pages < 10);
    assert.deepEqual(seen, names);
    assert.ok(pages >= 2, `${pages} pages`);
  });

  it("maps errors to gRPC codes with the Status in a trailer", async () => {
    const ns = freshNs();
    const nf = await fails(call(c, c.get, { ref: widgets(ns, "nope") }), grpc.status.NOT_FOUND, "NotFound");
    assert.equal(nf.code, 404);
    assert.equal(nf.details?.name, "nope");

    const made = parse((await call(c, c.create, { ref: widgets(ns), object: widget("x") })).object);
    await fails(call(c, c.create, { ref: widgets(ns), object: widget("x") }), grpc.status.ALREADY_EXISTS, "AlreadyExists");

    await call(c, c.patch, { ref: widgets(ns, "x"), patchType: "application/merge-patch+json", patch: Buffer.from('{"spec":{"size":5}}') });
    const stale = widget("x", { size: 6 }, { resourceVersion: made.metadata.resourceVersion });
    const conflict = await fails(call(c, c.update, { ref: widgets(ns, "x"), object: stale }), grpc.status.ABORTED, "Conflict");
    assert.equal(conflict.code, 409);
    await fails(call(c, c.delete, { ref: widgets(ns, "x"), resourceVersion: made.metadata.resourceVersion }), grpc.status.ABORTED, "Conflict");

    const invalid = await fails(call(c, c.create, { ref: widgets(ns), object: widget("y", { size: 0 }) }), grpc.status.INVALID_ARGUMENT, "Invalid");
    assert.equal(invalid.code, 422);
    assert.ok(
      invalid.details?.causes?.some((cause) => cause.field.includes("spec.size")),
      JSON.stringify(invalid),
    );
    await fails(call(c, c.create, { ref: widgets(ns), object: widget("Bad_Name") }), grpc.status.INVALID_ARGUMENT, "Invalid");
    await fails(call(c, c.create, { ref: widgets(ns), object: Buffer.from("{not json") }), grpc.status.INVALID_ARGUMENT, "BadRequest");
    // A number a JavaScript number cannot hold as written is refused, not stored changed (as over REST).
    const unsafe = '{"metadata":{"name":"big"},"spec":{"size":1,"n":9007199254740993}}';
    for (const [method, request] of [
      [c.create, { ref: widgets(ns), object: Buffer.from(unsafe) }],
      [c.update, { ref: widgets(ns, "x"), object: Buffer.from(unsafe.replace('"big"', '"x"')) }],
      [c.updateStatus, { ref: widgets(ns, "x"), object: Buffer.from('{"metadata":{"name":"x"},"status":{"n":1e400}}') }],
      [c.patch, { ref: widgets(ns, "x"), patchType: "application/merge-patch+json", patch: Buffer.from('{"spec":{"n":-9007199254740993}}') }],
    ] as const) {
      const status = await fails(call(c, method as UnaryMethod<unknown, unknown>, request), grpc.status.INVALID_ARGUMENT, "BadRequest");
      assert.match(status.message, /the number (-?9007199254740993|1e400) /, status.message);
    }
    // Metadata of the wrong JSON type is kube's decode error on every write, status writes too (it was stored dropped on an update).
    for (const [method, request] of [
      [c.create, { ref: widgets(ns), object: widget("gen", { size: 1 }, { generateName: 5 }) }],
      [c.update, { ref: widgets(ns, "x"), object: widget("x", { size: 1 }, { generateName: 5 }) }],
      [c.updateStatus, { ref: widgets(ns, "x"), object: widget("x", { size: 1 }, { generateName: 5 }) }],
    ] as const) {
      const status = await fails(call(c, method as UnaryMethod<unknown, unknown>, request), grpc.status.INVALID_ARGUMENT, "BadRequest");
      assert.deepEqual(
        status.details?.causes?.map((cause) => cause.field),
        ["metadata.generateName"],
      );
    }
    await fails(
      call(c, c.patch, { ref: widgets(ns, "x"), patchType: "text/plain" as "application/merge-patch+json", patch: Buffer.from("{}") }),
      grpc.status.INVALID_ARGUMENT,
      "UnsupportedMediaType",
    );
    await fails(call(c, c.get, { ref: widgets(ns) }), grpc.status.INVALID_ARGUMENT, "BadRequest");
    // An empty part of the ref is named, as the field of its cause: not "ref.group, ref.version and ref.plural are required" for any of them.
    const noVersion = await fails(call(c, c.list, { ref: { ...widgets(ns), version: "" } }), grpc.status.INVALID_ARGUMENT, "BadRequest");
    assert.equal(noVersion.message, "ref.version is required");
    assert.deepEqual(noVersion.details?.causes, [{ field: "ref.version", message: "Required value", reason: "FieldValueRequired" }]);
    const noType = await fails(call(c, c.list, { ref: { ...widgets(ns), group: "", plural: "" } }), grpc.status.INVALID_ARGUMENT, "BadRequest");
    assert.equal(noType.message, "ref.group and ref.plural are required");
    assert.deepEqual(
      noType.details?.causes?.map((cause) => cause.field),
      ["ref.group", "ref.plural"],
    );

    const unknown = { group: GROUP, version: "v1", plural: "nothings", namespace: ns };
    await fails(call(c, c.list, { ref: unknown }), grpc.status.NOT_FOUND, "NotFound");
    await fails(call(c, c.get, { ref: { ...unknown, name: "a" } }), grpc.status.NOT_FOUND, "NotFound");
    const w = watch(c, { ref: unknown });
    const end = await w.end();
    assert.equal(end.code, grpc.status.NOT_FOUND);
    assert.equal(w.events.length, 0);
  });

  it("watches from a revision: every later change once, in order, then live changes", async () => {
    const ns = freshNs();
    const start = parse((await call(c, c.create, { ref: widgets(ns), object: widget("a") })).object);
    const writes: Array<[string, number]> = [];
    const b = parse((await call(c, c.create, { ref: widgets(ns), object: widget("b") })).object);
    writes.push(["ADDED", rv(b)]);
    const a2 = parse(
      (await call(c, c.patch, { ref: widgets(ns, "a"), patchType: "application/merge-patch+json", patch: Buffer.from('{"spec":{"size":2}}') })).object,
    );
    writes.push(["MODIFIED", rv(a2)]);
    const bGone = parse((await call(c, c.delete, { ref: widgets(ns, "b") })).object);
    writes.push(["DELETED", rv(bGone)]);
    // A change in another namespace is not this watch's.
    await call(c, c.create, { ref: widgets(freshNs()), object: widget("other") });

    const w = watch(c, { ref: widgets(ns), resourceVersion: String(rv(start)) });
    const replayed = await w.until(3);
    assert.deepEqual(
      replayed.map((e) => [e.type, e.revision]),
      writes,
    );
    for (const e of replayed) assert.equal(rv(parse(e.object)), e.revision);
    assert.equal(parse(replayed[2]!.object).metadata.name, "b");

    const c1 = parse((await call(c, c.create, { ref: widgets(ns), object: widget("c") })).object);
    const live = await w.until(4);
    assert.deepEqual([live[3]!.type, live[3]!.revision], ["ADDED", rv(c1)]);
    assert.deepEqual(parse(live[3]!.object), c1);
    w.stream.cancel();
    assert.equal((await w.end()).code, grpc.status.CANCELLED);
    assert.equal(w.events.length, 4, "nothing repeats");
  });

  it("starts with the current state as ADDED events, then an initial-events-end bookmark", async () => {
    const ns = freshNs();
    for (const name of ["p", "q"]) await call(c, c.create, { ref: widgets(ns), object: widget(name) });
    const plain = watch(c, { ref: widgets(ns) });
    const initial = await plain.until(2);
    assert.deepEqual(
      initial.map((e) => [e.type, parse(e.object).metadata.name]),
      [
        ["ADDED", "p"],
        ["ADDED", "q"],
      ],
    );
    plain.stream.cancel();

    const w = watch(c, { ref: widgets(ns), sendInitialEvents: true, allowBookmarks: true });
    const got = await w.until(3);
    assert.deepEqual(
      got.slice(0, 2).map((e) => e.type),
      ["ADDED", "ADDED"],
    );
    const end = got[2]!;
    assert.equal(end.type, "BOOKMARK");
    const bookmark = parse(end.object);
    assert.equal(bookmark.metadata.annotations["k8s.io/initial-events-end"], "true");
    assert.equal(bookmark.metadata.resourceVersion, String(end.revision));
    assert.ok(end.revision >= got[0]!.revision);
    w.stream.cancel();
  });

  it("sends periodic bookmarks, and a last one when the watch times out", async () => {
    const ns = freshNs();
    const made = parse((await call(c, c.create, { ref: widgets(ns), object: widget("m") })).object);
    const w = watch(c, { ref: widgets(ns), resourceVersion: String(rv(made)), allowBookmarks: true, timeoutSeconds: 1 });
    const [first] = await w.until(1);
    assert.equal(first!.type, "BOOKMARK");
    assert.ok(first!.revision >= rv(made));
    const bookmark = parse(first!.object);
    assert.equal(bookmark.kind, "Widget");
    assert.equal(bookmark.apiVersion, `${GROUP}/v1`);
    assert.equal(bookmark.metadata.resourceVersion, String(first!.revision));
    const end = await w.end();
    assert.equal(end.code, grpc.status.OK);
    assert.equal(w.events.at(-1)!.type, "BOOKMARK");
    assert.ok(w.events.every((e) => e.type === "BOOKMARK"));
  });

  it("sends no bookmarks to a watch that did not ask for them", async () => {
    const ns = freshNs();
    const made = parse((await call(c, c.create, { ref: widgets(ns), object: widget("n") })).object);
    const w = watch(c, { ref: widgets(ns), resourceVersion: String(rv(made)), timeoutSeconds: 1 });
    assert.equal((await w.end()).code, grpc.status.OK);
    assert.deepEqual(w.events, []);
  });

  it("a create whose ref names the object creates that object: another name in the body is INVALID_ARGUMENT", async () => {
    const ns = freshNs();
    const status = await fails(call(c, c.create, { ref: widgets(ns, "x"), object: widget("y") }), grpc.status.INVALID_ARGUMENT, "BadRequest");
    assert.equal(status.details?.causes?.[0]?.field, "metadata.name");
    await fails(call(c, c.get, { ref: widgets(ns, "y") }), grpc.status.NOT_FOUND, "NotFound");
    const unnamed = Buffer.from(JSON.stringify({ metadata: { generateName: "gen-" }, spec: { size: 1 } }));
    assert.equal(parse((await call(c, c.create, { ref: widgets(ns, "x"), object: unnamed })).object).metadata.name, "x");
    assert.equal(parse((await call(c, c.create, { ref: widgets(ns, "z"), object: widget("z") })).object).metadata.name, "z");
  });

  it("a list or watch whose ref names an object is one of that object alone, as kube reads a name on a list", async () => {
    const ns = freshNs();
    const a = parse((await call(c, c.create, { ref: widgets(ns), object: widget("a") })).object);
    await call(c, c.create, { ref: widgets(ns), object: widget("b") });
    const listed = await call(c, c.list, { ref: widgets(ns, "a") });
    assert.deepEqual(
      listed.items.map((i) => parse(i).metadata.name),
      ["a"],
    );
    // Its own field selector must select that name, as kube's (400 otherwise).
    assert.equal((await call(c, c.list, { ref: widgets(ns, "a"), fieldSelector: "metadata.name=a" })).items.length, 1);
    await fails(call(c, c.list, { ref: widgets(ns, "a"), fieldSelector: "metadata.name=b" }), grpc.status.INVALID_ARGUMENT, "BadRequest");
    await fails(call(c, c.list, { ref: widgets(ns, "a,metadata.name!=a") }), grpc.status.INVALID_ARGUMENT, "BadRequest");

    const w = watch(c, { ref: widgets(ns, "a"), resourceVersion: String(rv(a)) });
    await call(c, c.patch, { ref: widgets(ns, "b"), patchType: "application/merge-patch+json", patch: Buffer.from('{"spec":{"size":2}}') });
    const a2 = parse(
      (await call(c, c.patch, { ref: widgets(ns, "a"), patchType: "application/merge-patch+json", patch: Buffer.from('{"spec":{"size":3}}') })).object,
    );
    const [first] = await w.until(1);
    assert.deepEqual([first!.type, first!.revision, parse(first!.object).metadata.name], ["MODIFIED", rv(a2), "a"]);
    const initial = watch(c, { ref: widgets(ns, "b"), sendInitialEvents: true, timeoutSeconds: 1 });
    assert.equal((await initial.end()).code, grpc.status.OK);
    assert.deepEqual(
      initial.events.map((e) => [e.type, parse(e.object).metadata.name]),
      [["ADDED", "b"]],
    );
    w.stream.cancel();
    assert.equal(w.events.length, 1, "nothing of b");
  });

  it("ships a generated descriptor that matches the .proto", () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const r = spawnSync(process.execPath, ["scripts/gen-proto.mjs", "--check"], { cwd: root, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  });
});

describe("gRPC watch of a deleted type", () => {
  it("deleting its ResourceType ends the watch with a last bookmark and status OK; a new watch is NOT_FOUND", async () => {
    const t = await startTestServer({ grpcPort: 0, durable: false, bookmarkIntervalMs: 60_000 });
    const c = connect(t);
    try {
      await createWidgetType(c);
      const ns = freshNs();
      const made = parse((await call(c, c.create, { ref: widgets(ns), object: widget("a") })).object);
      const w = watch(c, { ref: widgets(ns), resourceVersion: String(rv(made)), allowBookmarks: true });
      const quiet = watch(c, { ref: widgets(ns), resourceVersion: String(rv(made)) });
      const b = parse((await call(c, c.create, { ref: widgets(ns), object: widget("b") })).object);
      for (const s of [w, quiet]) assert.equal((await s.until(1))[0]!.revision, rv(b));
      await call(c, c.delete, { ref: { group: "setpoint.dev", version: "v1", plural: "resourcetypes", name: `widgets.${GROUP}` } });
      for (const s of [w, quiet]) assert.equal((await s.end()).code, grpc.status.OK);
      assert.deepEqual(
        w.events.map((e) => e.type),
        ["ADDED", "BOOKMARK"],
      );
      assert.deepEqual(
        quiet.events.map((e) => e.type),
        ["ADDED"],
      );
      const again = watch(c, { ref: widgets(ns) });
      assert.equal((await again.end()).code, grpc.status.NOT_FOUND);
    } finally {
      c.close();
      await t.stop();
    }
  });
});

describe("gRPC watch expiry and the slow-watcher bound", () => {
  it("answers a watch from a compacted revision with an ERROR event, then OUT_OF_RANGE", async () => {
    const t = await startTestServer({ grpcPort: 0, durable: false });
    const c = connect(t);
    try {
      await createWidgetType(c);
      for (const name of ["a", "b", "c"]) await call(c, c.create, { ref: widgets("ns"), object: widget(name) });
      t.skipTime(1000); // every change so far is older than the window
      await t.server.store.compact({ minEvents: 0, windowMs: 0 });
      assert.ok(t.server.store.compacted() > 1);
      const w = watch(c, { ref: widgets("ns"), resourceVersion: "1" });
      const end = await w.end();
      assert.equal(end.code, grpc.status.OUT_OF_RANGE, end.details);
      assert.equal(w.events.length, 1);
      assert.equal(w.events[0]!.type, "ERROR");
      const status = parse(w.events[0]!.object);
      assert.equal(status.code, 410);
      assert.equal(status.reason, "Expired");
      assert.match(status.message, /too old resource version: 1/);
      assert.equal(statusOfError({ metadata: end.metadata })?.reason, "Expired");
    } finally {
      c.close();
      await t.stop();
    }
  });

  it("holds events for a watcher that pauses under the bound and delivers them all, in order", async () => {
    const t = await startTestServer({ grpcPort: 0, durable: false });
    const c = connect(t);
    try {
      await createWidgetType(c);
      const ns = freshNs();
      const start = parse((await call(c, c.create, { ref: widgets(ns), object: widget("start") })).object);
      const w = watch(c, { ref: widgets(ns), resourceVersion: String(rv(start)) });
      w.stream.pause();
      const pad = "y".repeat(1024);
      const revisions: number[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const made = await Promise.all(
          Array.from({ length: 100 }, (_, i) => call(c, c.create, { ref: widgets(ns), object: widget(`p${batch}-${i}`, { size: 1, pad }) })),
        );
        revisions.push(...made.map((r) => rv(parse(r.object))));
      }
      revisions.sort((a, b) => a - b);
      w.stream.resume();
      const got = await w.until(revisions.length);
      assert.deepEqual(
        got.map((e) => e.revision),
        revisions,
      );
      assert.equal(t.server.hub.stats().cutOff, 0);
      w.stream.cancel();
    } finally {
      c.close();
      await t.stop();
    }
  });

  it("cuts off a watcher that stops reading with RESOURCE_EXHAUSTED, after a prefix of its events in order", async () => {
    const t = await startTestServer({ grpcPort: 0, durable: false, watchBufferBytes: 256 * 1024 });
    const c = connect(t);
    try {
      await createWidgetType(c);
      const ns = freshNs();
      const start = parse((await call(c, c.create, { ref: widgets(ns), object: widget("start") })).object);
      const w = watch(c, { ref: widgets(ns), resourceVersion: String(rv(start)) });
      w.stream.pause();
      const pad = "x".repeat(32 * 1024);
      const revisions: number[] = [];
      for (let i = 0; t.server.hub.stats().cutOff === 0; i++) {
        assert.ok(i < 2000, "the slow watcher was never cut off");
        const o = parse((await call(c, c.create, { ref: widgets(ns), object: widget(`w${i}`, { size: 1, pad }) })).object);
        revisions.push(rv(o));
      }
      // Changes after the cut never reach it.
      for (const name of ["late1", "late2"]) await call(c, c.create, { ref: widgets(ns), object: widget(name) });
      w.stream.resume();
      const end = await w.end();
      assert.equal(end.code, grpc.status.RESOURCE_EXHAUSTED, end.details);
      assert.match(end.details, /reconnect from your last resourceVersion/);
      assert.ok(w.events.length <= revisions.length, `${w.events.length} events for ${revisions.length} writes before the cut`);
      assert.deepEqual(
        w.events.map((e) => e.revision),
        revisions.slice(0, w.events.length),
      );
    } finally {
      c.close();
      await t.stop();
    }
  });
});

describe("gRPC shutdown", () => {
  it("ends open watches with a last bookmark and status OK, then stops serving", async () => {
    // The server's clock moves only when the test moves it: its shutdown grace
    // (after which open calls are cut) cannot pass, so a close that finishes
    // at all finished because the watch was ended, however slow the machine.
    const clock = new ManualClock(Date.now());
    const t = await startTestServer({ grpcPort: 0, durable: false, bookmarkIntervalMs: 100 }, { clock });
    const c = connect(t);
    try {
      await createWidgetType(c);
      const made = parse((await call(c, c.create, { ref: widgets("ns"), object: widget("a") })).object);
      const w = watch(c, { ref: widgets("ns"), resourceVersion: String(rv(made)), allowBookmarks: true });
      // A periodic bookmark: the watch is live.
      for (const deadline = Date.now() + DEADLINE_MS; w.events.length === 0; ) {
        assert.ok(Date.now() < deadline, "no periodic bookmark: the watch never went live");
        clock.advance(100);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<"stuck">((resolve) => (timer = setTimeout(() => resolve("stuck"), DEADLINE_MS)));
      const closed = await Promise.race([t.stop().then(() => "closed" as const), stuck]).finally(() => clearTimeout(timer));
      assert.equal(closed, "closed", "close waits for its grace (which never passes here): the watch was not ended");
      const end = await w.end();
      assert.equal(end.code, grpc.status.OK, end.details);
      assert.equal(w.events.at(-1)?.type, "BOOKMARK");
      assert.equal(w.events.at(-1)?.revision, rv(made));
      await assert.rejects(call(c, c.get, { ref: widgets("ns", "a") }), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      c.close();
      clock.advance(60_000); // past the grace, should the close above have failed
      await t.stop();
    }
  });
});

describe("gRPC token auth", () => {
  let t: TestServer;
  let c: ResourcesClient;
  const bearer = (token: string) => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    return md;
  };
  const ref = { group: "setpoint.dev", version: "v1", plural: "resourcetypes" };

  before(async () => {
    t = await startTestServer({ grpcPort: 0, durable: false, token: "s3cret" });
    c = connect(t);
  });
  after(async () => {
    c?.close();
    await t?.stop();
  });

  it("rejects calls without the bearer token with UNAUTHENTICATED", async () => {
    const status = await fails(call(c, c.list, { ref }), grpc.status.UNAUTHENTICATED, "Unauthorized");
    assert.equal(status.code, 401);
    await fails(call(c, c.list, { ref }, bearer("wrong")), grpc.status.UNAUTHENTICATED, "Unauthorized");
    await fails(call(c, c.get, { ref: { ...ref, name: `leases.setpoint.dev` } }), grpc.status.UNAUTHENTICATED, "Unauthorized");
    const w = watch(c, { ref });
    assert.equal((await w.end()).code, grpc.status.UNAUTHENTICATED);
  });

  it("serves calls that carry it", async () => {
    const list = await call(c, c.list, { ref }, bearer("s3cret"));
    assert.ok(list.revision >= 0);
    // No ResourceType objects are stored yet: the first event is the initial-events-end bookmark.
    const w = watch(c, { ref, allowBookmarks: true, sendInitialEvents: true }, bearer("s3cret"));
    const [first] = await w.until(1);
    assert.equal(first!.type, "BOOKMARK");
    assert.equal(parse(first!.object).metadata.annotations["k8s.io/initial-events-end"], "true");
    w.stream.cancel();
  });
});

describe("gRPC under RBAC resourceNames", () => {
  let t: TestServer;
  let c: ResourcesClient;
  let dir: string;
  const bearer = (token: string) => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    return md;
  };
  const ns = "rn";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-grpc-rbac-"));
    writeFileSync(join(dir, "tokens.csv"), "t-admin,admin,1,system:masters\nt-bob,bob,2\n");
    t = await startTestServer({ grpcPort: 0, durable: false, tokenAuthFile: join(dir, "tokens.csv"), authorizationMode: "RBAC" });
    c = connect(t);
    const admin = api(t.url, { token: "t-admin" });
    const rbac = "/apis/rbac.authorization.k8s.io/v1";
    const posted = async (path: string, body: unknown) => assert.equal((await admin.post(path, body)).status, 201, path);
    await posted("/apis/setpoint.dev/v1/resourcetypes", {
      metadata: { name: `widgets.${GROUP}` },
      spec: { group: GROUP, version: "v1", kind: "Widget", plural: "widgets", scope: "Namespaced" },
    });
    await posted(`${rbac}/namespaces/${ns}/roles`, {
      metadata: { name: "a-only" },
      rules: [{ apiGroups: [GROUP], resources: ["widgets"], verbs: ["get", "list", "watch"], resourceNames: ["a"] }],
    });
    await posted(`${rbac}/namespaces/${ns}/rolebindings`, {
      metadata: { name: "bob-a" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "a-only" },
      subjects: [{ kind: "User", name: "bob" }],
    });
    for (const name of ["a", "b"]) await posted(`/apis/${GROUP}/v1/namespaces/${ns}/widgets`, { metadata: { name }, spec: {} });
  });
  after(async () => {
    c?.close();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a list or watch granted for one name (ref.name or a fieldSelector pinning it) sees that object only", async () => {
    const bob = bearer("t-bob");
    await fails(call(c, c.list, { ref: widgets(ns) }, bob), grpc.status.PERMISSION_DENIED, "Forbidden");
    for (const request of [{ ref: widgets(ns, "a") }, { ref: widgets(ns), fieldSelector: "metadata.name=a" }]) {
      const listed = await call(c, c.list, request, bob);
      assert.deepEqual(
        listed.items.map((i) => parse(i).metadata.name),
        ["a"],
        JSON.stringify(request),
      );
      const w = watch(c, { ...request, sendInitialEvents: true, timeoutSeconds: 1 }, bob);
      assert.equal((await w.end()).code, grpc.status.OK, JSON.stringify(request));
      assert.deepEqual(
        w.events.map((e) => parse(e.object).metadata.name),
        ["a"],
        JSON.stringify(request),
      );
    }
    await fails(call(c, c.list, { ref: widgets(ns), fieldSelector: "metadata.name=b" }, bob), grpc.status.PERMISSION_DENIED, "Forbidden");
  });
});
