// RequestMetrics must expose exactly what prom-client's own Counter and
// Histogram expose for the same requests: the text format scrapers read, and
// the JSON form.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Counter, Histogram, Registry } from "prom-client";
import { RequestMetrics } from "../../src/server/request-metrics.ts";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const NAMES = {
  countName: "setpoint_requests_total",
  countHelp: "API requests by verb, resource and HTTP code.",
  latencyName: "setpoint_request_duration_seconds",
  latencyHelp: "API request latency by verb and resource (watch: time to set up the stream).",
};

/** prom-client's own metrics, fed as metrics.ts used to feed them. */
function reference() {
  const registry = new Registry();
  const count = new Counter({ name: NAMES.countName, help: NAMES.countHelp, labelNames: ["verb", "resource", "code"], registers: [registry] });
  const latency = new Histogram({
    name: NAMES.latencyName,
    help: NAMES.latencyHelp,
    labelNames: ["verb", "resource"],
    buckets: BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    record(verb: string, resource: string, code: number, seconds: number) {
      count.labels(verb, resource, String(code)).inc();
      latency.labels(verb, resource).observe(seconds);
    },
  };
}

function ours() {
  const registry = new Registry();
  const metrics = new RequestMetrics({ registry, ...NAMES, buckets: BUCKETS });
  return { registry, record: (verb: string, resource: string, code: number, seconds: number) => metrics.record(verb, resource, code, seconds) };
}

/** Requests over several verbs, resources (one needing escapes) and codes, with latencies on, between and past every bound. */
function feed(m: { record(verb: string, resource: string, code: number, seconds: number): void }) {
  const verbs = ["create", "get", "list", "watch"];
  const resources = ["items.bench.setpoint.dev", "unknown", 'we"ird\\name\n'];
  const codes = [200, 201, 404, 409];
  const latencies = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.05, 0.3, 1, 4.9, 5, 7, 120];
  let n = 0;
  for (const verb of verbs)
    for (const resource of resources)
      for (const code of codes) {
        if ((n++ * 7) % 5 === 0) continue; // not every combination: series appear in first-use order
        for (const s of latencies.slice(n % 4)) m.record(verb, resource, code, s * (1 + (n % 3) / 10));
      }
}

describe("RequestMetrics", () => {
  it("exposes the text prom-client's Counter and Histogram expose for the same requests", async () => {
    const want = reference();
    const got = ours();
    assert.equal(await got.registry.metrics(), await want.registry.metrics(), "before any request");
    feed(want);
    feed(got);
    const text = await got.registry.metrics();
    assert.match(text, /^setpoint_request_duration_seconds_bucket\{le="0.0005",verb="create",resource="items.bench.setpoint.dev"\} \d+$/m);
    assert.equal(text, await want.registry.metrics());
    assert.deepEqual(await got.registry.getMetricsAsJSON(), await want.registry.getMetricsAsJSON());
  });

  it("resets as prom-client's metrics do", async () => {
    const want = reference();
    const got = ours();
    feed(want);
    feed(got);
    want.registry.resetMetrics();
    got.registry.resetMetrics();
    assert.equal(await got.registry.metrics(), await want.registry.metrics());
    want.record("get", "items.bench.setpoint.dev", 200, 0.002);
    got.record("get", "items.bench.setpoint.dev", 200, 0.002);
    assert.equal(await got.registry.metrics(), await want.registry.metrics());
  });
});
