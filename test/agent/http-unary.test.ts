// Status writes over the REST API (src/agent/http-unary.ts): the client sends
// `updateStatus` as a PUT of the status subresource when it has an HTTP URL
// (over gRPC when told to, or without one), with the same results and errors
// either way; a replica that does not answer passes the write to the next;
// the bearer token is sent; answers map to error classes; a call that gets
// no answer ends at its deadline on the injected clock.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import { Agent, ApiError, ConflictError, NotFoundError, SetpointClient, TransportError, type ApiObject } from "../../src/agent.ts";
import { HttpUnary } from "../../src/agent/http-unary.ts";
import { TimeoutError } from "../../src/errors.ts";
import { TYPE, createWidget, startEnv, waitFor, type Env } from "./fixtures.ts";

/** A port nothing listens on. */
const DEAD = "127.0.0.1:1";

describe("status writes: HTTP or gRPC", () => {
  let env: Env;
  before(async () => (env = await startEnv()));
  after(() => env.stop());

  const ref = (name: string) => ({ ...TYPE, namespace: "default", name });

  // Each client can reach the server over one protocol only, so a write that succeeds went over that one.
  const cases = [
    { how: "http (the default with an HTTP URL)", client: () => new SetpointClient({ grpcAddress: DEAD, httpUrl: env.server.url }) },
    {
      how: "grpc (statusTransport: grpc)",
      client: () => new SetpointClient({ grpcAddress: env.grpcAddress, httpUrl: `http://${DEAD}`, statusTransport: "grpc" }),
    },
    { how: "grpc (no HTTP URL)", client: () => new SetpointClient({ grpcAddress: env.grpcAddress }) },
  ];
  for (const [i, c] of cases.entries()) {
    test(`over ${c.how}: writes status, refuses a stale write with ConflictError and a missing object with NotFoundError`, async () => {
      const client = c.client();
      try {
        const created = await createWidget(env.http, `st-${i}`, { size: 3 });
        const stored = await client.updateStatus(ref(`st-${i}`), { ...created, status: { ready: true, observedGeneration: 1 } });
        assert.deepEqual(stored.status, { ready: true, observedGeneration: 1 });
        assert.notEqual(stored.metadata.resourceVersion, created.metadata.resourceVersion);
        assert.deepEqual((await env.http.get(`/apis/${TYPE.group}/${TYPE.version}/namespaces/default/widgets/st-${i}`)).body.status, {
          ready: true,
          observedGeneration: 1,
        });
        // `created` carries the old resourceVersion: a precondition that no longer holds.
        await assert.rejects(client.updateStatus(ref(`st-${i}`), { ...created, status: { ready: false } }), ConflictError);
        await assert.rejects(
          client.updateStatus(ref(`gone-${i}`), { ...created, metadata: { ...created.metadata, name: `gone-${i}`, resourceVersion: undefined } }),
          NotFoundError,
        );
        assert.equal(client.calls.updateStatus, 3);
      } finally {
        client.close();
      }
    });
  }

  test("over http, at the limits: a 253-character name, a status that brings the object near 1.5 MiB, and one past it (413, nothing written)", async () => {
    const client = new SetpointClient({ grpcAddress: DEAD, httpUrl: env.server.url });
    try {
      const name = `l-${"n".repeat(251)}`;
      assert.equal(name.length, 253);
      const created = await createWidget(env.http, name, { size: 3 });
      const big = "x".repeat(1.4 * 1024 * 1024);
      const stored = await client.updateStatus(ref(name), { ...created, status: { ready: true, log: big } });
      assert.equal(stored.metadata.name, name);
      assert.equal((stored.status as { log: string }).log.length, big.length);
      const tooBig = { ...stored, status: { ready: false, log: "y".repeat(1.6 * 1024 * 1024) } };
      await assert.rejects(client.updateStatus(ref(name), tooBig), (err: unknown) => err instanceof ApiError && err.reason === "RequestEntityTooLarge");
      const now = (await env.http.get(`/apis/${TYPE.group}/${TYPE.version}/namespaces/default/widgets/${name}`)).body;
      assert.equal(now.metadata.resourceVersion, stored.metadata.resourceVersion);
      assert.equal(now.status.ready, true);
    } finally {
      client.close();
    }
  });

  test("over http: a replica that does not answer passes the status write to the next, which the client then stays on", async () => {
    const client = new SetpointClient({ grpcAddress: `${DEAD},${env.grpcAddress}`, httpUrl: `http://${DEAD},${env.server.url}` });
    try {
      const created = await createWidget(env.http, "st-failover", { size: 1 });
      const stored = await client.updateStatus(ref("st-failover"), { ...created, status: { n: 1 } });
      assert.deepEqual(stored.status, { n: 1 });
      assert.equal(client.calls.failover, 1);
      assert.equal(client.replica.httpUrl, env.server.url);
      await client.updateStatus(ref("st-failover"), { ...stored, status: { n: 2 } });
      assert.equal(client.calls.failover, 1, "the second write goes straight to the replica that answered");
    } finally {
      client.close();
    }
  });

  test("over http: an aborted signal rejects with its reason and writes nothing", async () => {
    const client = new SetpointClient({ grpcAddress: DEAD, httpUrl: env.server.url });
    try {
      const created = await createWidget(env.http, "st-abort", { size: 1 });
      const stop = new AbortController();
      stop.abort(new Error("stopped"));
      await assert.rejects(client.updateStatus(ref("st-abort"), { ...created, status: { n: 1 } }, { signal: stop.signal }), /stopped/);
      assert.equal((await env.http.get(`/apis/${TYPE.group}/${TYPE.version}/namespaces/default/widgets/st-abort`)).body.status, undefined);
    } finally {
      client.close();
    }
  });

  test("an Agent passes statusTransport to its client: over gRPC its status writes need no HTTP URL that answers", async () => {
    const created = await createWidget(env.http, "st-agent", { size: 5 });
    const errors: unknown[] = [];
    const stop = new AbortController();
    const agent = new Agent<ApiObject<{ size: number }>>({
      name: "st-agent",
      grpcAddress: env.grpcAddress,
      httpUrl: `http://${DEAD}`,
      transport: "grpc",
      statusTransport: "grpc",
      claims: false,
      type: { ...TYPE, namespace: "default" },
      onError: (err) => errors.push(err),
      async reconcile(key, ctx) {
        if (key === "default/st-agent" && ctx.object && !ctx.object.status) await ctx.updateStatus({ size: ctx.object.spec!.size });
      },
    });
    const running = agent.run(stop.signal);
    try {
      const path = `/apis/${TYPE.group}/${TYPE.version}/namespaces/default/widgets/st-agent`;
      const status = await waitFor("the agent's status write", async () => (await env.http.get(path)).body.status);
      assert.deepEqual(status, { size: 5, observedGeneration: created.metadata.generation });
      assert.deepEqual(errors, []);
    } finally {
      stop.abort();
      await running;
    }
  });

  test('statusTransport "http" without an HTTP URL is refused at construction', () => {
    assert.throws(() => new SetpointClient({ grpcAddress: env.grpcAddress, statusTransport: "http" }), TypeError);
  });
});

describe("HttpUnary against a scripted server", () => {
  let server: Server;
  let url: string;
  const seen: Array<{ method?: string; url?: string; authorization?: string; body: string }> = [];
  /** How the server answers the next request: [code, body], or "never". */
  let answer: [number, string] | "never" = [200, "{}"];
  /** Cut the connection, unanswered, at its second request (as a server closing an idle kept-alive connection would). */
  let cutSecondOnConnection = false;
  const requestsOn = new WeakMap<object, number>();

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c));
      req.on("end", () => {
        seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body });
        const n = (requestsOn.get(req.socket) ?? 0) + 1;
        requestsOn.set(req.socket, n);
        if (cutSecondOnConnection && n === 2) {
          req.socket.destroy();
          return;
        }
        if (answer === "never") return;
        res.writeHead(answer[0], { "content-type": "application/json" });
        res.end(answer[1]);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("sends the method, path, body and bearer token; maps each kind of answer", async () => {
    const http = new HttpUnary({ token: "t0ken" });
    const target = { url, label: url };
    try {
      answer = [200, '{"kind":"Widget","metadata":{"name":"a"}}'];
      const got = await http.call<{ kind: string }>(target, { method: "PUT", path: "/apis/g/v1/widgets/a/status", body: '{"x":1}', timeoutMs: 5000 });
      assert.equal(got.kind, "Widget");
      assert.deepEqual(seen.at(-1), { method: "PUT", url: "/apis/g/v1/widgets/a/status", authorization: "Bearer t0ken", body: '{"x":1}' });

      answer = [409, JSON.stringify({ kind: "Status", status: "Failure", reason: "Conflict", message: "changed", code: 409 })];
      await assert.rejects(http.call(target, { method: "PUT", path: "/p", body: "{}", timeoutMs: 5000 }), ConflictError);
      answer = [403, JSON.stringify({ kind: "Status", status: "Failure", reason: "Forbidden", message: "no", code: 403 })];
      await assert.rejects(http.call(target, { method: "PUT", path: "/p", body: "{}", timeoutMs: 5000 }), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.reason === "Forbidden");
        return true;
      });
      answer = [502, "<html>bad gateway</html>"];
      await assert.rejects(http.call(target, { method: "PUT", path: "/p", body: "{}", timeoutMs: 5000 }), (err: unknown) => {
        assert.ok(err instanceof TransportError && err.code === 502, String(err));
        return true;
      });
      answer = [200, "[1,2]"];
      await assert.rejects(http.call(target, { method: "PUT", path: "/p", body: "{}", timeoutMs: 5000 }), TransportError);
    } finally {
      http.close();
    }
  });

  test("a request cut off unanswered on a reused kept-alive connection is sent again on a new one", async () => {
    const http = new HttpUnary();
    const target = { url, label: url };
    try {
      cutSecondOnConnection = true;
      answer = [200, '{"n":1}'];
      assert.deepEqual(await http.call(target, { method: "PUT", path: "/first", body: "{}", timeoutMs: 5000 }), { n: 1 });
      const before = seen.length;
      answer = [200, '{"n":2}'];
      assert.deepEqual(await http.call(target, { method: "PUT", path: "/second", body: "{}", timeoutMs: 5000 }), { n: 2 });
      assert.deepEqual(
        seen.slice(before).map((s) => s.url),
        ["/second", "/second"],
        "cut once on the old connection, answered on a new one",
      );
    } finally {
      cutSecondOnConnection = false;
      answer = [200, "{}"];
      http.close();
    }
  });

  test("a call that gets no answer rejects with TimeoutError when its deadline passes on the injected clock", async () => {
    const clock = new ManualClock(0);
    const http = new HttpUnary({ clock });
    try {
      answer = "never";
      const before = seen.length;
      const call = http.call({ url, label: url }, { method: "PUT", path: "/slow", body: "{}", timeoutMs: 1000 });
      let settled = false;
      call.then(
        () => (settled = true),
        () => (settled = true),
      );
      await waitFor("the request at the server", () => seen.length > before || undefined);
      clock.advance(999);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, "not before the deadline");
      clock.advance(1);
      await assert.rejects(call, TimeoutError);
    } finally {
      answer = [200, "{}"];
      http.close();
    }
  });
});
