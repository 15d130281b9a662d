// The client's writes over the REST API (src/agent/client.ts, through
// src/agent/http-unary.ts): with an HTTP URL, create, update, patch (merge,
// JSON patch, status) and delete go over HTTP, with the same results and the
// same errors (class, reason, field causes) as over gRPC, which
// `writeTransport: "grpc"` (or its old name `statusTransport`) keeps them on.
// Against a real server, behind a proxy that forwards a request and drops its
// answer: a create without a name is never sent twice (not on a new
// connection after a reused one was cut, not to the next replica), unless the
// connection was refused; a named create or a delete sent again after a lost
// answer says the lost one may have done it; deadlines and aborts end a write.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/clock.ts";
import { loadResourcesService } from "../../src/proto.ts";
import { Agent, ApiError, ConflictError, NotFoundError, SetpointClient, TransportError, type ApiObject, type ClientOptions } from "../../src/agent.ts";
import { TimeoutError } from "../../src/errors.ts";
import { startCuttingProxy, type CuttingProxy } from "../helpers/cutting-proxy.ts";
import { makePki } from "../helpers/pki.ts";
import { PREFIX, TYPE, startEnv, waitFor, type Env } from "./fixtures.ts";

/** A port nothing listens on. */
const DEAD = "127.0.0.1:1";
const ns = { ...TYPE, namespace: "default" };
const ref = (name: string) => ({ ...ns, name });
const widget = (name: string, spec: unknown = { size: 1 }) => ({ apiVersion: `${TYPE.group}/v1`, kind: "Widget", metadata: { name }, spec });
const unnamed = (prefix: string) => ({ apiVersion: `${TYPE.group}/v1`, kind: "Widget", metadata: { name: "", generateName: prefix }, spec: { size: 1 } });

/** What a rejected call came to, comparable across transports: class, reason, field causes. */
async function failure(call: Promise<unknown>): Promise<{ class: string; reason: string; causes: string[] }> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ApiError, `an API error, not ${String(err)}`);
    return { class: err.constructor.name, reason: err.reason, causes: err.causes.map((c) => `${c.field}: ${c.reason ?? ""}`) };
  }
  assert.fail("the call succeeded");
}

let env: Env;
before(async () => (env = await startEnv()));
after(() => env.stop());

/** Names of the stored widgets starting with `prefix`. */
async function stored(prefix: string): Promise<string[]> {
  const list = await env.http.get(`${PREFIX}/namespaces/default/widgets`);
  assert.equal(list.status, 200);
  return (list.body.items as ApiObject[]).map((o) => o.metadata.name!).filter((n) => n.startsWith(prefix));
}

describe("writes over HTTP or gRPC", () => {
  // Each client reaches the server over one protocol only, so a write that succeeds went over that one.
  const cases: Array<{ how: string; options: () => ClientOptions; http: boolean }> = [
    { how: "http (the default with an HTTP URL)", http: true, options: () => ({ grpcAddress: DEAD, httpUrl: env.server.url }) },
    { how: "http (writeTransport: http)", http: true, options: () => ({ grpcAddress: DEAD, httpUrl: env.server.url, writeTransport: "http" }) },
    { how: "grpc (writeTransport: grpc)", http: false, options: () => ({ grpcAddress: env.grpcAddress, httpUrl: `http://${DEAD}`, writeTransport: "grpc" }) },
    {
      how: "grpc (statusTransport: grpc, the old name)",
      http: false,
      options: () => ({ grpcAddress: env.grpcAddress, httpUrl: `http://${DEAD}`, statusTransport: "grpc" }),
    },
    { how: "grpc (no HTTP URL)", http: false, options: () => ({ grpcAddress: env.grpcAddress }) },
  ];
  /** Each case's errors, to compare the transports'. */
  const errorsOf: Array<Record<string, unknown>> = [];

  for (const [i, c] of cases.entries()) {
    test(`over ${c.how}: create, update, merge/JSON/status patch and delete, with their preconditions and errors`, async () => {
      const client = new SetpointClient(c.options());
      const errors: Record<string, unknown> = {};
      try {
        const name = `w-${i}`;
        const created = await client.create(ns, widget(name, { size: 1, tags: ["a"] }));
        assert.equal(created.metadata.name, name);
        assert.equal(created.metadata.namespace, "default");
        errors.alreadyExists = await failure(client.create(ns, widget(name)));
        errors.invalidName = await failure(client.create(ns, widget("Not_A_Name")));
        const generated = await client.create(ns, unnamed(`gen-${i}-`));
        assert.match(generated.metadata.name!, new RegExp(`^gen-${i}-`));

        const updated = await client.update(ref(name), { ...created, spec: { size: 2, tags: ["a"] } });
        assert.equal((updated.spec as { size: number }).size, 2);
        assert.equal(updated.metadata.generation, 2);
        // `created` carries the old resourceVersion: a precondition that no longer holds.
        errors.staleUpdate = await failure(client.update(ref(name), { ...created, spec: { size: 3 } }));
        errors.updateMissing = await failure(client.update(ref(`none-${i}`), widget(`none-${i}`)));

        const merged = await client.patch(ref(name), { spec: { size: 4 } });
        assert.deepEqual(merged.spec, { size: 4, tags: ["a"] });
        const jsonPatched = await client.patch(ref(name), [{ op: "add", path: "/spec/tags/-", value: "b" }], { type: "json" });
        assert.deepEqual(jsonPatched.spec, { size: 4, tags: ["a", "b"] });
        errors.failedTest = await failure(client.patch(ref(name), [{ op: "test", path: "/spec/size", value: 99 }], { type: "json" }));
        const statusPatched = await client.patch(ref(name), { status: { ready: true }, spec: { size: 100 } }, { status: true });
        assert.deepEqual(statusPatched.status, { ready: true });
        assert.equal((statusPatched.spec as { size: number }).size, 4, "a status patch leaves spec alone");
        const status = await client.updateStatus(ref(name), { ...statusPatched, status: { ready: false } });
        assert.deepEqual(status.status, { ready: false });

        errors.wrongUid = await failure(client.delete(ref(name), { uid: "not-its-uid" }));
        errors.staleVersion = await failure(client.delete(ref(name), { resourceVersion: created.metadata.resourceVersion }));
        const deleted = await client.delete(ref(name), { uid: created.metadata.uid, resourceVersion: status.metadata.resourceVersion });
        assert.equal(deleted.metadata.name, name);
        assert.deepEqual(await stored(name), []);
        errors.deleteMissing = await failure(client.delete(ref(name)));
        await client.delete(ref(generated.metadata.name!), { resourceVersion: "", uid: "" });

        assert.equal(errors.staleUpdate && (errors.staleUpdate as { class: string }).class, ConflictError.name);
        assert.equal((errors.deleteMissing as { class: string }).class, NotFoundError.name);
        assert.deepEqual(
          { ...client.calls },
          { create: 4, update: 3, patch: 4, updateStatus: 1, delete: 5 },
          "every call counted once: none retried, none sent elsewhere",
        );
        errorsOf[i] = errors;
      } finally {
        client.close();
      }
    });
  }

  test("every transport refuses the same writes with the same errors: class, reason and field causes", () => {
    assert.equal(errorsOf.length, cases.length, "every case ran");
    for (let i = 1; i < cases.length; i++) assert.deepEqual(errorsOf[i], errorsOf[0], `${cases[i]!.how} as ${cases[0]!.how}`);
    assert.deepEqual(errorsOf[0], {
      alreadyExists: { class: "ApiError", reason: "AlreadyExists", causes: [] },
      invalidName: errorsOf[0]!.invalidName,
      staleUpdate: { class: "ConflictError", reason: "Conflict", causes: [] },
      updateMissing: { class: "NotFoundError", reason: "NotFound", causes: [] },
      failedTest: errorsOf[0]!.failedTest,
      wrongUid: { class: "ConflictError", reason: "Conflict", causes: [] },
      staleVersion: { class: "ConflictError", reason: "Conflict", causes: [] },
      deleteMissing: { class: "NotFoundError", reason: "NotFound", causes: [] },
    });
    const invalid = errorsOf[0]!.invalidName as { reason: string; causes: string[] };
    assert.equal(invalid.reason, "Invalid");
    assert.ok(
      invalid.causes.some((c) => c.startsWith("metadata.name:")),
      JSON.stringify(invalid),
    );
    assert.equal((errorsOf[0]!.failedTest as { reason: string }).reason, "Invalid");
  });

  test("an empty part of a ref is refused with BadRequest over HTTP too, naming the field, and nothing is sent", async () => {
    const client = new SetpointClient({ grpcAddress: DEAD, httpUrl: `http://${DEAD}` });
    try {
      for (const call of [
        () => client.update(ref(""), widget("x")),
        () => client.delete({ ...ns, name: "" }),
        () => client.patch({ ...ref("x"), plural: "" }, {}),
        () => client.create({ ...ns, version: "" }, widget("x")),
      ])
        await assert.rejects(call(), (err: unknown) => err instanceof ApiError && err.reason === "BadRequest" && err.causes[0]!.field.startsWith("ref"));
    } finally {
      client.close();
    }
  });

  test("writeTransport and statusTransport that disagree are refused at construction, as is http without an HTTP URL", () => {
    assert.throws(() => new SetpointClient({ grpcAddress: DEAD, httpUrl: env.server.url, writeTransport: "http", statusTransport: "grpc" }), TypeError);
    assert.throws(() => new SetpointClient({ grpcAddress: DEAD, writeTransport: "http" }), /writeTransport "http" needs httpUrl/);
  });

  test("an Agent passes writeTransport to its client: over gRPC its lease and status writes need no HTTP URL that answers", async () => {
    await env.http.post(`${PREFIX}/namespaces/default/widgets`, widget("agent-grpc", { size: 5 }));
    const errors: unknown[] = [];
    const stop = new AbortController();
    const agent = new Agent<ApiObject<{ size: number }>>({
      name: "writes-grpc",
      grpcAddress: env.grpcAddress,
      httpUrl: `http://${DEAD}`,
      transport: "grpc",
      writeTransport: "grpc",
      type: ns,
      onError: (err) => errors.push(err),
      async reconcile(key, ctx) {
        if (key === "default/agent-grpc" && ctx.object && !ctx.object.status) await ctx.updateStatus({ size: ctx.object.spec!.size });
      },
    });
    const running = agent.run(stop.signal);
    try {
      const status = await waitFor("the agent's status write", async () => (await env.http.get(`${PREFIX}/namespaces/default/widgets/agent-grpc`)).body.status);
      assert.equal(status.size, 5);
      assert.deepEqual(errors, []);
      assert.ok((agent.client.calls.create ?? 0) + (agent.client.calls.update ?? 0) >= 1, "its lease was written");
    } finally {
      stop.abort();
      await running;
    }
  });
});

describe("writes over HTTP whose answer is lost", () => {
  let proxy: CuttingProxy;
  before(async () => (proxy = await startCuttingProxy(env.server.port)));
  after(() => proxy.close());
  const viaProxy = () => `http://127.0.0.1:${proxy.port}`;

  test("a create without a name cut on a fresh connection is not sent to the next replica; the error says it may have been applied", async () => {
    const client = new SetpointClient({ grpcAddress: `${DEAD},${DEAD}`, httpUrl: `${viaProxy()},${env.server.url}` });
    try {
      proxy.arm("lost-fresh-");
      const cuts = proxy.cuts();
      await assert.rejects(client.create(ns, unnamed("lost-fresh-")), (err: unknown) => {
        assert.ok(err instanceof TransportError, String(err));
        assert.equal(err.kind, "unreachable");
        assert.match(
          err.message,
          /^client: create sent to http:\/\/127\.0\.0\.1:\d+ lost its answer \(.*\): it may have been applied, so it is not sent again/,
        );
        return true;
      });
      assert.equal(proxy.cuts(), cuts + 1);
      assert.equal((await stored("lost-fresh-")).length, 1, "applied once, by the first replica");
      assert.equal(client.replica.httpUrl, env.server.url, "the client moved on: the next call goes to the next replica");
      await client.create(ns, unnamed("next-fresh-"));
      assert.equal((await stored("next-fresh-")).length, 1);
    } finally {
      client.close();
    }
  });

  test("a create without a name, or a JSON patch, cut on a reused kept-alive connection is not sent again on a new one; other writes are, and say so", async () => {
    const client = new SetpointClient({ grpcAddress: DEAD, httpUrl: viaProxy() });
    try {
      await client.create(ns, widget("reused-first")); // the connection to reuse
      proxy.arm("lost-reused-");
      await assert.rejects(client.create(ns, unnamed("lost-reused-")), /lost its answer .*: it may have been applied, so it is not sent again/);
      assert.equal((await stored("lost-reused-")).length, 1, "applied once: not sent again on a new connection");

      await client.create(ns, widget("reused-patch", { tags: [] }));
      proxy.arm("reused-tag");
      await assert.rejects(client.patch(ref("reused-patch"), [{ op: "add", path: "/spec/tags/-", value: "reused-tag" }], { type: "json" }), TransportError);
      const tags = (await env.http.get(`${PREFIX}/namespaces/default/widgets/reused-patch`)).body.spec.tags;
      assert.deepEqual(tags, ["reused-tag"], "the JSON patch was applied once");

      // A merge patch applied twice is applied once: cut on the reused connection, it is sent again on a new one.
      await client.patch(ref("reused-patch"), { spec: { note: "" } }); // a connection to reuse again
      proxy.arm("reused-merge");
      const cuts = proxy.cuts();
      const merged = await client.patch(ref("reused-patch"), { spec: { note: "reused-merge" } });
      assert.equal((merged.spec as { note: string }).note, "reused-merge");
      assert.equal(proxy.cuts(), cuts + 1, "cut once, then answered");

      // A named create and a delete are sent again on a new connection too; if the cut one had landed, the error says so.
      proxy.arm("reused-named");
      await assert.rejects(client.create(ns, widget("reused-named")), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.reason === "AlreadyExists", String(err));
        assert.match(err.message, /\(the same create sent to http:\/\/127\.0\.0\.1:\d+ lost its answer: it may have created it\)$/);
        return true;
      });
      await client.patch(ref("reused-patch"), { spec: { note: "" } }); // a connection to reuse again
      proxy.arm("/widgets/reused-named");
      await assert.rejects(client.delete(ref("reused-named")), (err: unknown) => {
        assert.ok(err instanceof NotFoundError, String(err));
        assert.match(err.message, /lost its answer: it may have deleted it\)$/);
        return true;
      });
      assert.deepEqual(await stored("reused-named"), []);
    } finally {
      client.close();
    }
  });

  test("a create refused by the first replica (nothing listens) goes to the next, once", async () => {
    const client = new SetpointClient({ grpcAddress: `${DEAD},${DEAD}`, httpUrl: `http://${DEAD},${env.server.url}` });
    try {
      const created = await client.create(ns, unnamed("refused-"));
      assert.match(created.metadata.name!, /^refused-/);
      assert.equal((await stored("refused-")).length, 1);
      assert.equal(client.calls.failover, 1);
    } finally {
      client.close();
    }
  });

  test("a create whose TLS handshake fails at the first replica (a certificate the client does not trust) never left: it goes to the next", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rest-writes-tls-"));
    const pki = makePki(dir);
    const serving = pki.server("serving");
    let requests = 0;
    const untrusted = createHttpsServer({ cert: pki.read(serving.cert), key: pki.read(serving.key) }, (_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => untrusted.listen(0, "127.0.0.1", resolve));
    const client = new SetpointClient({
      grpcAddress: `${DEAD},${DEAD}`,
      httpUrl: `https://127.0.0.1:${(untrusted.address() as AddressInfo).port},${env.server.url}`,
    });
    try {
      const created = await client.create(ns, unnamed("tls-refused-"));
      assert.match(created.metadata.name!, /^tls-refused-/);
      assert.equal((await stored("tls-refused-")).length, 1);
      assert.equal(requests, 0);
      assert.equal(client.calls.failover, 1);
    } finally {
      client.close();
      untrusted.closeAllConnections();
      await new Promise((resolve) => untrusted.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a named create, or a delete, sent again after a lost answer: AlreadyExists and NotFound say the lost attempt may have done it", async () => {
    const client = new SetpointClient({ grpcAddress: `${DEAD},${DEAD}`, httpUrl: `${viaProxy()},${env.server.url}` });
    try {
      proxy.arm("named-lost");
      await assert.rejects(client.create(ns, widget("named-lost")), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.reason === "AlreadyExists", String(err));
        assert.match(err.message, /\(the same create sent to http:\/\/127\.0\.0\.1:\d+ lost its answer: it may have created it\)$/);
        return true;
      });
      assert.deepEqual(await stored("named-lost"), ["named-lost"]);
    } finally {
      client.close();
    }
    const deleting = new SetpointClient({ grpcAddress: `${DEAD},${DEAD}`, httpUrl: `${viaProxy()},${env.server.url}` });
    try {
      proxy.arm("/widgets/named-lost");
      await assert.rejects(deleting.delete(ref("named-lost")), (err: unknown) => {
        assert.ok(err instanceof NotFoundError, String(err));
        assert.match(err.message, /\(the same delete sent to http:\/\/127\.0\.0\.1:\d+ lost its answer: it may have deleted it\)$/);
        return true;
      });
      assert.deepEqual(await stored("named-lost"), []);
    } finally {
      deleting.close();
    }
  });
});

describe("writes over HTTP: deadlines and aborts", () => {
  /** Requests seen by `silent` (which never answers) and `unavailable` (which answers 503 when `answer503` is called). */
  let silent: { url: string; requests: () => number; close(): Promise<void> };
  let unavailable: { url: string; requests: () => number; close(): Promise<void> };
  const waiting503: Socket[] = [];
  const answer503 = () => {
    const body = JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "ServiceUnavailable", message: "store unavailable", code: 503 });
    for (const s of waiting503.splice(0))
      s.write(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  };
  before(async () => {
    silent = await scripted(() => {});
    unavailable = await scripted((socket) => waiting503.push(socket));
  });
  after(async () => {
    await silent.close();
    await unavailable.close();
  });

  test("a write that gets no answer rejects with TimeoutError at its deadline on the injected clock, one deadline over every replica tried", async () => {
    const clock = new ManualClock(0);
    // The first replica answers 503 after 600 ms, the second never: the write has 400 ms left there.
    const client = new SetpointClient({ grpcAddress: `${DEAD},${DEAD}`, httpUrl: `${unavailable.url},${silent.url}`, clock, timeoutMs: 1000 });
    try {
      const call = client.create(ns, widget("slow"));
      let settled = false;
      call.then(
        () => (settled = true),
        () => (settled = true),
      );
      await waitFor("the create at the first replica", () => unavailable.requests() === 1);
      clock.advance(600);
      answer503();
      await waitFor("the create at the second replica", () => silent.requests() === 1);
      clock.advance(399);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, "not before the deadline");
      clock.advance(1);
      await waitFor("the call to end at its deadline", () => settled || undefined, 5000);
      await assert.rejects(call, TimeoutError);
      assert.equal(client.calls.failover, 2, "503 moved it on, and so did the timeout");
    } finally {
      client.close();
    }
  });

  test("a create with a generated name that gets no answer in time: TimeoutError saying it may have been applied (REST and gRPC); a named one's does not", async () => {
    // gRPC: a server that takes the create and never answers it.
    const grpcServer = new grpc.Server();
    grpcServer.addService(loadResourcesService().definition, { create: () => {} });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const clients = [
      new SetpointClient({ grpcAddress: DEAD, httpUrl: silent.url, timeoutMs: 300 }),
      new SetpointClient({ grpcAddress: `127.0.0.1:${port}`, timeoutMs: 300 }),
    ];
    try {
      for (const client of clients) {
        await assert.rejects(client.create(ns, unnamed("slow-")), (err: unknown) => {
          assert.ok(err instanceof TimeoutError, String(err));
          assert.match(
            err.message,
            /: the server may still be processing the request, so the create may have been applied; it is not sent again \(its name is generated: sent again, it would make a second object\): read back before retrying$/,
          );
          return true;
        });
        await assert.rejects(client.create(ns, widget("slow-named")), (err: unknown) => {
          assert.ok(err instanceof TimeoutError, String(err));
          assert.doesNotMatch(err.message, /may have been applied/);
          return true;
        });
      }
    } finally {
      for (const client of clients) client.close();
      grpcServer.forceShutdown();
    }
  });

  test("an abort while a write waits for its answer rejects with the signal's reason; an aborted signal sends nothing", async () => {
    const client = new SetpointClient({ grpcAddress: DEAD, httpUrl: silent.url });
    try {
      const stop = new AbortController();
      const before = silent.requests();
      const call = client.delete(ref("hangs"), { signal: stop.signal });
      await waitFor("the delete at the silent server", () => silent.requests() > before || undefined);
      stop.abort(new Error("stopped mid-delete"));
      await assert.rejects(call, /stopped mid-delete/);
      await assert.rejects(client.patch(ref("x"), {}, { signal: stop.signal }), /stopped mid-delete/);
      assert.equal(silent.requests(), before + 1);
    } finally {
      client.close();
    }
  });
});

/** A TCP server that counts the requests it reads (one per data event that starts one) and hands each one's socket to `onRequest`. */
async function scripted(onRequest: (socket: Socket) => void) {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      if (/^(POST|PUT|PATCH|DELETE) /.test(d.toString("latin1"))) {
        requests++;
        onRequest(socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
