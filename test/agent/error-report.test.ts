// The agent's error report: a connection problem is told once with the
// server's address and a hint, then summarized once per interval on the
// injected clock while it lasts; other errors pass through each time. And an
// Agent whose server is down (a closed port) reports so through it.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import {
  Agent,
  ApiError,
  ConflictError,
  NotFoundError,
  ConnectionProblemError,
  ErrorReport,
  SetpointClient,
  TimeoutError,
  TransportError,
  TypeNotServedError,
  classifyConnectionProblem,
} from "../../src/agent.ts";
import { errorOfStatus } from "../../src/agent/client.ts";
import { freePort } from "../helpers/ports.ts";
import { api, startTestServer } from "../helpers/server.ts";
import { waitFor } from "./fixtures.ts";

const refused = () => new TransportError("client: watch connection failed: connect ECONNREFUSED 127.0.0.1:8080");

function harness(intervalMs?: number) {
  const clock = new ManualClock(0);
  const seen: Array<{ err: unknown; key: string | undefined }> = [];
  const report = new ErrorReport({
    clock,
    intervalMs,
    where: () => "gRPC 127.0.0.1:9090, HTTP http://127.0.0.1:8080",
    onError: (err, key) => seen.push({ err, key }),
  });
  const messages = () => seen.map(({ err }) => (err as Error).message);
  return { clock, seen, report, messages };
}

test("error report: a server that stays unreachable is one report with the address and a hint, then one summary per interval", () => {
  const { clock, seen, report, messages } = harness();
  for (let i = 0; i < 50; i++) {
    report.report(refused());
    clock.advance(100);
  }
  assert.equal(seen.length, 1, messages().join("\n"));
  const first = seen[0]!.err;
  assert.ok(first instanceof ConnectionProblemError);
  assert.ok(first.cause instanceof TransportError, "the failure itself is the cause");
  assert.match(first.message, /^agent: cannot reach the server \(gRPC 127\.0\.0\.1:9090, HTTP http:\/\/127\.0\.0\.1:8080\): .*ECONNREFUSED/);
  assert.match(first.message, /Is it running \(setpoint up/);
  assert.match(first.message, /reported once every 30 s\.$/);

  clock.advance(30_000 - 5000);
  report.report(refused()); // 30 s after the first report
  assert.equal(seen.length, 2);
  assert.match(messages()[1]!, /^agent: still failing for 30 s: cannot reach the server .*; 50 failures since the last report, the last: .*ECONNREFUSED/);
  assert.equal((seen[1]!.err as ConnectionProblemError).failures, 50);
});

test("error report: each kind of problem is its own; other errors pass through every time; once connected, the next problem is told at once", () => {
  const { clock, seen, report, messages } = harness();
  report.report(refused());
  report.report(new ApiError("ServiceUnavailable", "server: etcd is unavailable"));
  report.report(new ApiError("ServiceUnavailable", "server: etcd is unavailable"));
  report.report(new ApiError("Unauthorized", "server: Unauthorized"));
  const boom = new Error("reconcile: boom");
  report.report(boom, "default/a");
  report.report(boom, "default/a");
  report.report(new ConflictError("server: conflict"), "default/b"); // not a connection problem: passed on as it is
  assert.deepEqual(
    seen.map(({ err, key }) => [err instanceof ConnectionProblemError ? "problem" : (err as Error).message, key]),
    [
      ["problem", undefined],
      ["problem", undefined],
      ["problem", undefined],
      ["reconcile: boom", "default/a"],
      ["reconcile: boom", "default/a"],
      ["server: conflict", "default/b"],
    ],
  );
  assert.match(messages()[1]!, /store is unavailable .*Is its store \(etcd/);
  assert.match(messages()[2]!, /credentials \(401\).*bearer token/);

  clock.advance(1000);
  report.report(refused());
  assert.equal(seen.length, 6, "still within the interval");
  report.connected();
  report.report(refused());
  assert.equal(seen.length, 7);
  assert.match(messages()[6]!, /^agent: cannot reach the server/, "a new outage, not a summary");
});

test("error report: every hint is a sentence of its own, and a 403 names the grants an agent needs", () => {
  const { report, messages } = harness();
  report.report(new ApiError("Forbidden", 'server: counters.mine.example.com is forbidden: User "counter-agent" cannot list resource "counters"'));
  report.report(new ApiError("Unauthorized", "server: Unauthorized"));
  report.report(new ApiError("InternalError", "server: boom"));
  report.report(refused());
  assert.equal(messages().length, 4);
  for (const m of messages()) assert.match(m, /[.?] Retrying with backoff;/, `the hint ends its sentence: ${m}`);
  assert.match(
    messages()[0]!,
    /get, list and watch of its type in every namespace, update of its status, .*leases;.*the setpoint-pipeline-agent ClusterRole \(docs\/security\.md/,
  );
});

test("error report: a gRPC failure other than UNAVAILABLE is not called unreachable", () => {
  const { seen, report, messages } = harness();
  report.report(new TransportError("client: gRPC call failed: 13 INTERNAL: boom", { code: 13, kind: "grpc" })); // as the client makes it (errorOfGrpc)
  report.report(new TransportError("client: gRPC call failed: 14 UNAVAILABLE: No connection established", { code: 14 }));
  assert.equal(seen.length, 2);
  assert.match(messages()[0]!, /^agent: the server fails gRPC calls with code 13 .*See the server's log/);
  assert.match(messages()[1]!, /^agent: cannot reach the server/);
});

test("error report: problems are told apart by error class, kind and code, never by message text", () => {
  const kindOf = (err: unknown) => classifyConnectionProblem(err)?.kind;
  // Messages that name another kind's words do not move an error to it.
  const misleading = "client: Protocol error, not JSON, HTTP/1 status line, received nothing for 5 ms, answered HTTP 502";
  assert.equal(kindOf(new TransportError(misleading)), "unreachable");
  assert.equal(kindOf(new TransportError("client: connect ECONNREFUSED", { kind: "protocol" })), "protocol");
  assert.equal(kindOf(new TransportError("client: anything", { kind: "silent" })), "silent");
  assert.equal(kindOf(new TransportError(misleading, { kind: "http", code: 502 })), "http-502");
  assert.equal(kindOf(new TransportError(misleading, { kind: "grpc", code: 13 })), "grpc-13");
  assert.equal(kindOf(new TransportError("client: gRPC call failed: 14 UNAVAILABLE", { code: 14 })), "unreachable");
  // A server's Status: by reason, whatever it says.
  assert.equal(kindOf(errorOfStatus({ reason: "ServiceUnavailable", message: "Too large resource version" })), "503");
  assert.equal(kindOf(errorOfStatus({ reason: "InternalError", message: "etcd is unavailable" })), "500");
  assert.equal(kindOf(errorOfStatus({ reason: "Conflict", message: "the server is unavailable" })), undefined);
  // A Timeout is a slow server, unless its cause says the watch asked for a revision not reached yet (the informer relists).
  assert.equal(kindOf(new TimeoutError("server: Timeout: Too large resource version: 9, current: 3")), "timeout");
  const tooLarge = errorOfStatus({
    reason: "Timeout",
    message: "reworded by a newer server",
    details: { causes: [{ field: "", message: "Too large resource version", reason: "ResourceVersionTooLarge" }] },
  });
  assert.ok(tooLarge instanceof TimeoutError);
  assert.equal(kindOf(tooLarge), undefined);
});

test("error report: a peer that answers, but not in Setpoint's protocol, is a protocol problem on every transport", async (t) => {
  // Not a Setpoint server: a line that is neither HTTP nor HTTP/2 framing, then the end of the head.
  const peer = createServer((socket) => {
    socket.on("error", () => {});
    socket.end("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  });
  await new Promise<void>((resolve) => peer.listen(0, "127.0.0.1", resolve));
  t.after(() => peer.close());
  const port = (peer.address() as { port: number }).port;
  const client = new SetpointClient({ grpcAddress: `127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${port}`, timeoutMs: 10_000 });
  t.after(() => client.close());
  const ref = { group: "x.example.com", version: "v1", plural: "things", namespace: "default" };
  const failures = {
    "gRPC get": await client.get({ ...ref, name: "a" }).then(
      () => assert.fail("answered"),
      (err: unknown) => err,
    ),
    "REST status update": await client.updateStatus({ ...ref, name: "a" }, { apiVersion: "x.example.com/v1", kind: "Thing", metadata: { name: "a" } }).then(
      () => assert.fail("answered"),
      (err: unknown) => err,
    ),
    "WebSocket watch": await client
      .watch(ref, {}, () => {})
      .done.then(
        () => assert.fail("watched"),
        (err: unknown) => err,
      ),
  };
  for (const [what, err] of Object.entries(failures)) {
    assert.ok(err instanceof TransportError, `${what}: ${err}`);
    assert.equal(err.kind, "protocol", `${what}: ${err.message}`);
    assert.equal(classifyConnectionProblem(err)?.kind, "protocol", what);
  }
});

test("error report: interval 0 reports every failure; a handler that throws does not escape", () => {
  const { seen, report } = harness(0);
  for (let i = 0; i < 3; i++) report.report(refused());
  assert.equal(seen.length, 3);
  const throwing = new ErrorReport({ clock: new ManualClock(0), where: () => "", onError: () => assert.fail("handler fails") });
  throwing.report(refused());
  assert.throws(() => new ErrorReport({ clock: new ManualClock(0), where: () => "", intervalMs: -1 }), RangeError);
});

const INTERVAL_MS = 300_000;

test("an agent whose server is down says so once, with the address and a hint, however often it retries; then once per interval", async () => {
  const port = await freePort(); // nothing listens there: connections are refused
  const clock = new ManualClock(0);
  const errors: unknown[] = [];
  const stop = new AbortController();
  const agent = new Agent({
    name: "down",
    grpcAddress: `127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    type: { group: "x.example.com", version: "v1", plural: "things" },
    clock,
    // Far longer than the retries below take on the clock, however many polls (each moves it) pass while a call is in flight.
    errorReportIntervalMs: INTERVAL_MS,
    reconcile: async () => assert.fail("nothing to reconcile"),
    onError: (err) => errors.push(err),
  });
  const running = agent.run(stop.signal);
  try {
    const lists = () => agent.client.calls.list ?? 0;
    // Both informers (things and leases) retry every few seconds at most: move the clock in steps below the interval.
    for (let step = 1; step <= 5; step++) {
      const before = lists();
      await waitFor(`retries at step ${step}`, () => {
        clock.advance(250);
        return lists() >= before + 2;
      });
    }
    assert.ok(lists() >= 10);
    assert.ok(clock.now() < INTERVAL_MS, `still within the interval (${clock.now()} ms)`);
    assert.equal(errors.length, 1, (errors as Error[]).map((e) => e.message).join("\n"));
    const first = errors[0] as Error;
    assert.ok(first instanceof ConnectionProblemError);
    assert.ok(first.message.includes(`(gRPC 127.0.0.1:${port}, HTTP http://127.0.0.1:${port})`), first.message);
    assert.match(first.message, /ECONNREFUSED.*Is it running/);

    // Past the interval: one summary of the retries meanwhile (the backoff is at most 15 s: many retries).
    await waitFor("a report past the interval", () => {
      clock.advance(5000);
      return errors.length >= 2;
    });
    assert.ok(clock.now() >= INTERVAL_MS, `${clock.now()} ms`);
    assert.equal(errors.length, 2, (errors as Error[]).map((e) => e.message).join("\n"));
    assert.match((errors[1] as Error).message, /^agent: still failing for \d+ s: cannot reach the server .*; \d+ failures since the last report/);
  } finally {
    stop.abort();
    await running;
  }
});

test("an agent whose type the server does not serve says so once, naming the type and what to do; once declared, it reconciles", async () => {
  const t = await startTestServer({ grpcPort: 0 });
  const clock = new ManualClock(0);
  const errors: unknown[] = [];
  const reconciled: string[] = [];
  const stop = new AbortController();
  const agent = new Agent({
    name: "typeless",
    grpcAddress: `127.0.0.1:${t.server.grpcPort}`,
    httpUrl: t.url,
    type: { group: "gadget.example.com", version: "v1", plural: "gadgets" },
    clock,
    errorReportIntervalMs: INTERVAL_MS,
    reconcile: async (key) => void reconciled.push(key),
    onError: (err) => errors.push(err),
  });
  const running = agent.run(stop.signal);
  try {
    const lists = () => agent.client.calls.list ?? 0;
    for (let step = 1; step <= 3; step++) {
      const before = lists();
      await waitFor(`list retry ${step}`, () => {
        clock.advance(250);
        return lists() > before;
      });
    }
    assert.equal(errors.length, 1, (errors as Error[]).map((e) => `${e.name}: ${e.message} / ${(e.cause as Error)?.name}`).join("\n"));
    const first = errors[0] as ConnectionProblemError;
    assert.ok(first instanceof ConnectionProblemError, String(first));
    assert.ok(first.cause instanceof TypeNotServedError && first.cause instanceof NotFoundError, "a NotFoundError still, of its own class");
    assert.match(
      first.message,
      /^agent: the server does not serve the agent's type \(gRPC 127\.0\.0\.1:\d+, HTTP http:\/\/127\.0\.0\.1:\d+\): informer: the server has no type gadgets\.gadget\.example\.com\/v1 /,
    );
    assert.match(first.message, /Declare it with a ResourceType .*setpoint get resourcetypes/);

    const a = api(t.url);
    const type = {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: "gadgets.gadget.example.com" },
      spec: { group: "gadget.example.com", version: "v1", kind: "Gadget", plural: "gadgets", scope: "Namespaced" },
    };
    assert.equal((await a.post("/apis/setpoint.dev/v1/resourcetypes", type)).status, 201);
    const gadget = { apiVersion: "gadget.example.com/v1", kind: "Gadget", metadata: { name: "g1" } };
    assert.equal((await a.post("/apis/gadget.example.com/v1/namespaces/default/gadgets", gadget)).status, 201);
    await waitFor("the gadget reconciled", () => {
      clock.advance(1000);
      return reconciled.includes("default/g1");
    });
  } finally {
    stop.abort();
    await running;
    await t.stop();
  }
});
