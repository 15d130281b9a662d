// Status writes over the REST API (src/agent/http-unary.ts): the client sends
// `updateStatus` as a PUT of the status subresource when it has an HTTP URL
// (over gRPC when told to, or without one), with the same results and errors
// either way; a replica that does not answer passes the write to the next;
// the bearer token is sent; answers map to error classes; a call that gets
// no answer ends at its deadline on the injected clock. The client's own
// HTTP/1.1 connections: kept alive and reused, one per call at once, every
// framing of an answer, keep-alive hints, a late answer never misread, TLS.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { ManualClock } from "../../src/clock.ts";
import { Agent, ApiError, ConflictError, NotFoundError, SetpointClient, TransportError, type ApiObject } from "../../src/agent.ts";
import { HttpUnary } from "../../src/agent/http-unary.ts";
import type { Target } from "../../src/endpoints.ts";
import { TimeoutError } from "../../src/errors.ts";
import { makePki, type Pki } from "../helpers/pki.ts";
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

  test("a path such as the client builds goes out as it is; any other as the URL parser makes it", async () => {
    const http = new HttpUnary();
    // A path on the target's URL is ignored, as `new URL(path, target)` ignores it for an absolute path.
    const target = { url: `${url}/prefix/`, label: url };
    try {
      answer = [200, "{}"];
      const sent: Array<[string, string]> = [
        ["/apis/g.example.com/v1/namespaces/default/widgets/a.b-c_d~e/status", "/apis/g.example.com/v1/namespaces/default/widgets/a.b-c_d~e/status"],
        ["/a/.x/..y/z.", "/a/.x/..y/z."],
        ["/a/../b?x=1&y=%20", "/b?x=1&y=%20"],
        ["/a/./b/", "/a/b/"],
        ["/a/%2e%2e/b", "/b"],
        ["/a/b c", "/a/b%20c"],
        ["/a/\u00e9", "/a/%C3%A9"],
        ["/a//b", "/a//b"],
      ];
      for (const [path, expected] of sent) {
        await http.call(target, { method: "PUT", path, body: "{}", timeoutMs: 5000 });
        assert.equal(seen.at(-1)?.url, expected, path);
        assert.equal(expected, new URL(path, target.url).pathname + new URL(path, target.url).search, "as the URL parser makes it");
      }
    } finally {
      http.close();
    }
  });

  test("an abort while a call waits for its answer rejects with the signal's reason and closes the call's connection", async () => {
    const http = new HttpUnary();
    const target = { url, label: url };
    const closed: Socket[] = [];
    const onConnection = (socket: Socket) => socket.on("close", () => closed.push(socket));
    server.on("connection", onConnection);
    try {
      answer = "never";
      const before = seen.length;
      const stop = new AbortController();
      const call = http.call(target, { method: "PUT", path: "/hangs", body: "{}", signal: stop.signal, timeoutMs: 60_000 });
      await waitFor("the request at the server", () => seen.length > before || undefined);
      stop.abort(new Error("stopped mid-call"));
      await assert.rejects(call, /stopped mid-call/);
      await waitFor("the call's connection closed", () => closed.length > 0 || undefined);
      answer = [200, '{"after":true}'];
      assert.deepEqual(await http.call(target, { method: "PUT", path: "/after", body: "{}", timeoutMs: 5000 }), { after: true });
    } finally {
      server.off("connection", onConnection);
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

/**
 * A raw TCP server that reads one request at a time per connection (head and
 * Content-Length body) and answers with whatever `reply` returns, as bytes
 * written in the pieces given (each piece its own write).
 */
async function rawServer(reply: (req: { head: string; body: string; n: number; socket: Socket }) => Buffer[] | "never" | Promise<Buffer[] | "never">) {
  const sockets = new Set<Socket>();
  let connections = 0;
  let requests = 0;
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf = Buffer.alloc(0);
    let n = 0;
    socket.on("data", async (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.toString("latin1", 0, end);
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.toString("utf8", end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        requests++;
        const pieces = await reply({ head, body, n: ++n, socket });
        if (pieces === "never") continue;
        for (const piece of pieces) if (!socket.destroyed) socket.write(piece);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    target: { url, label: url },
    counts: () => ({ connections, requests, open: sockets.size }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A 200 answer with `body` and a Content-Length, plus `headers`. */
function ok(body: string, headers = ""): Buffer {
  return Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

describe("HttpUnary connections", () => {
  const call = (http: HttpUnary, target: { url: string; label: string }, path: string, timeoutMs = 5000) =>
    http.call<{ path: string }>(target, { method: "PUT", path, body: JSON.stringify({ path }), timeoutMs });

  test("one connection carries calls one after another; calls at once get one each and every answer reaches its own call", async () => {
    // Answers echo the request path, the later requests answered first, each split into byte-sized writes.
    const server = await rawServer(async ({ head, n }) => {
      const path = head.split(" ")[1]!;
      if (path.startsWith("/at-once/")) await new Promise((r) => setTimeout(r, 40 - Number(path.split("/")[2])));
      return n === 1 && path === "/seq/0" ? [ok(JSON.stringify({ path }))] : [...ok(JSON.stringify({ path }))].map((b) => Buffer.from([b]));
    });
    const http = new HttpUnary();
    try {
      for (let i = 0; i < 5; i++) assert.deepEqual(await call(http, server.target, `/seq/${i}`), { path: `/seq/${i}` });
      assert.equal(server.counts().connections, 1, "five calls in turn, one connection");
      const paths = Array.from({ length: 8 }, (_, i) => `/at-once/${i}`);
      assert.deepEqual(
        (await Promise.all(paths.map((p) => call(http, server.target, p)))).map((r) => r.path),
        paths,
      );
      assert.equal(server.counts().connections, 8, "eight calls at once: the idle one and seven more");
      for (let i = 0; i < 5; i++) assert.deepEqual(await call(http, server.target, `/again/${i}`), { path: `/again/${i}` });
      assert.equal(server.counts().connections, 8, "later calls reuse the pooled connections");
    } finally {
      http.close();
      await server.close();
    }
  });

  test("a chunked answer, and an answer delimited by the close, are read whole; Connection: close is honoured", async () => {
    const server = await rawServer(({ head, socket }) => {
      const path = head.split(" ")[1]!;
      const body = JSON.stringify({ path });
      if (path === "/chunked")
        return [
          Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n${body.slice(0, 5)}\r\n`),
          Buffer.from(`${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`),
        ];
      if (path === "/until-close") {
        setImmediate(() => socket.end());
        return [Buffer.from(`HTTP/1.1 200 OK\r\n\r\n${body}`)];
      }
      return [ok(body, "Connection: close\r\n")];
    });
    const http = new HttpUnary();
    try {
      assert.deepEqual(await call(http, server.target, "/chunked"), { path: "/chunked" });
      assert.deepEqual(await call(http, server.target, "/until-close"), { path: "/until-close" });
      assert.equal(server.counts().connections, 1);
      assert.deepEqual(await call(http, server.target, "/close"), { path: "/close" });
      assert.equal(server.counts().connections, 2, "a new connection after the close-delimited answer");
      assert.deepEqual(await call(http, server.target, "/next"), { path: "/next" });
      assert.equal(server.counts().connections, 3, "and after Connection: close");
    } finally {
      http.close();
      await server.close();
    }
  });

  test("an idle connection is closed before the server's Keep-Alive timeout; close() closes the rest", async () => {
    const server = await rawServer(({ head }) => {
      const path = head.split(" ")[1]!;
      return [ok(JSON.stringify({ path }), path === "/hint" ? "Keep-Alive: timeout=1\r\n" : "")];
    });
    const http = new HttpUnary();
    try {
      await call(http, server.target, "/hint");
      await waitFor("the client to close the idle connection", () => server.counts().open === 0);
      await call(http, server.target, "/no-hint");
      assert.equal(server.counts().connections, 2);
      assert.equal(server.counts().open, 1);
      http.close();
      await waitFor("close() to close the pooled connection", () => server.counts().open === 0);
    } finally {
      http.close();
      await server.close();
    }
  });

  test("an answer that comes after its call timed out is never read as the next call's", async () => {
    const clock = new ManualClock(0);
    const late: Array<() => void> = [];
    const server = await rawServer(({ head, socket }) => {
      const path = head.split(" ")[1]!;
      if (path === "/slow") {
        late.push(() => socket.write(ok(JSON.stringify({ path: "/slow" }))));
        return "never";
      }
      return [ok(JSON.stringify({ path }))];
    });
    const http = new HttpUnary({ clock });
    try {
      assert.deepEqual(await call(http, server.target, "/warm"), { path: "/warm" });
      const slow = call(http, server.target, "/slow", 1000);
      await waitFor("the slow request at the server", () => late.length === 1);
      clock.advance(1000);
      await assert.rejects(slow, TimeoutError);
      for (const answerLate of late) answerLate();
      assert.deepEqual(await call(http, server.target, "/next"), { path: "/next" });
      assert.equal(server.counts().connections, 2, "the timed-out call's connection was closed, not reused");
    } finally {
      http.close();
      await server.close();
    }
  });

  test("garbage instead of an answer is a TransportError without an HTTP code, and the connection is not reused", async () => {
    const server = await rawServer(({ head }) => (head.split(" ")[1] === "/garbage" ? [Buffer.from("SSH-2.0-OpenSSH_9.6\r\n\r\n")] : [ok('{"path":"/fine"}')]));
    const http = new HttpUnary();
    try {
      await assert.rejects(
        call(http, server.target, "/garbage"),
        (err: unknown) => err instanceof TransportError && err.code === undefined && /status line/.test(err.message),
      );
      assert.deepEqual(await call(http, server.target, "/fine"), { path: "/fine" });
      assert.equal(server.counts().connections, 2);
    } finally {
      http.close();
      await server.close();
    }
  });

  test("close() fails a call in flight with TransportError and opens no new connection for it", async () => {
    const server = await rawServer(({ head }) => (head.split(" ")[1] === "/hang" ? "never" : [ok('{"path":"/first"}')]));
    const http = new HttpUnary();
    try {
      await call(http, server.target, "/first");
      const hanging = call(http, server.target, "/hang");
      await waitFor("the request at the server", () => server.counts().requests === 2);
      http.close();
      await assert.rejects(hanging, TransportError);
      await waitFor("the connection closed", () => server.counts().open === 0);
      assert.equal(server.counts().connections, 1, "the call was not sent again on a new connection");
    } finally {
      http.close();
      await server.close();
    }
  });

  test("a token that cannot be a header value is refused at construction", () => {
    assert.throws(() => new HttpUnary({ token: "abc\r\nX-Injected: 1" }), TypeError);
  });
});

describe("HttpUnary over TLS", () => {
  let pki: Pki;
  let server: HttpsServer;
  let port: number;
  let dir: string;
  const peers: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "http-unary-tls-"));
    pki = makePki(dir);
    const serving = pki.server("serving");
    server = createHttpsServer(
      { cert: pki.read(serving.cert), key: pki.read(serving.key), ca: pki.read(pki.caCert), requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        peers.push(String(socket.getPeerCertificate()?.subject?.CN ?? ""));
        res.writeHead(200, { "content-type": "application/json", ...(req.url === "/close" ? { connection: "close" } : {}) });
        res.end(JSON.stringify({ path: req.url, resumed: socket.isSessionReused() }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test("verifies the server against the CA by IP and by name, presents the client certificate, resumes sessions, and refuses an unknown CA", async () => {
    const client = pki.client("agent-1", ["agents"]);
    const http = new HttpUnary({ tls: { ca: pki.read(pki.caCert), cert: pki.read(client.cert), key: pki.read(client.key) } });
    try {
      for (const host of ["127.0.0.1", "localhost"]) {
        const url = `https://${host}:${port}`;
        const lookup =
          host === "localhost"
            ? { lookup: ((_h, o, cb) => (o.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4))) as Target["lookup"] }
            : {};
        const got = await http.call<{ path: string }>({ url, label: url, ...lookup }, { method: "PUT", path: `/tls/${host}`, body: "{}", timeoutMs: 5000 });
        assert.equal(got.path, `/tls/${host}`);
      }
      assert.deepEqual(peers, ["agent-1", "agent-1"]);
    } finally {
      http.close();
    }
    const resuming = new HttpUnary({ tls: { ca: pki.read(pki.caCert) } });
    try {
      const url = `https://127.0.0.1:${port}`;
      // One target, one pool: its connections share the session.
      const target = { url, label: url };
      const put = (path: string) => resuming.call<{ resumed: boolean }>(target, { method: "PUT", path, body: "{}", timeoutMs: 5000 });
      assert.equal((await put("/close")).resumed, false, "the first connection is a full handshake");
      assert.equal((await put("/again")).resumed, true, "the next connection resumes its session");
    } finally {
      resuming.close();
    }
    const stranger = new HttpUnary({ tls: {} });
    try {
      const url = `https://127.0.0.1:${port}`;
      await assert.rejects(stranger.call({ url, label: url }, { method: "PUT", path: "/x", body: "{}", timeoutMs: 5000 }), TransportError);
    } finally {
      stranger.close();
    }
  });
});
