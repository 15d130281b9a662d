// The agent's error report: a connection problem is told once with the
// server's address and a hint, then summarized once per interval on the
// injected clock while it lasts; other errors pass through each time. And an
// Agent whose server is down (a closed port) reports so through it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import { Agent, ApiError, ConflictError, ConnectionProblemError, ErrorReport, TransportError } from "../../src/agent.ts";
import { freePort } from "../helpers/ports.ts";
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

test("error report: a gRPC failure other than UNAVAILABLE is not called unreachable", () => {
  const { seen, report, messages } = harness();
  report.report(new TransportError("client: gRPC call failed: 13 INTERNAL: boom", { code: 13 }));
  report.report(new TransportError("client: gRPC call failed: 14 UNAVAILABLE: No connection established", { code: 14 }));
  assert.equal(seen.length, 2);
  assert.match(messages()[0]!, /^agent: the server fails gRPC calls with code 13 .*See the server's log/);
  assert.match(messages()[1]!, /^agent: cannot reach the server/);
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
