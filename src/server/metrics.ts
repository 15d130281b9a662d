// Prometheus metrics (API.md §4 `/metrics`), via prom-client: requests by
// verb/resource/code with latency, watchers, events and bookmarks sent,
// watchers cut off, revision, compactions, store size, and process metrics.
// Watch and store figures are read from their owners at scrape time.

import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Store } from "../store.ts";
import type { WatchHub } from "../watch.ts";
import type { Limits } from "./limits.ts";
import { RequestMetrics } from "./request-metrics.ts";

export interface Metrics {
  registry: Registry;
  /** Records one finished request. */
  request(verb: string, resource: string, code: number, seconds: number): void;
  compaction(): void;
  /** Records one failed store commit. */
  commitFailure(): void;
}

/**
 * The security edge's request limits (src/server/limits.ts) at scrape time:
 * requests in flight by kind, as kube-apiserver's
 * apiserver_current_inflight_requests (those still receiving their body
 * included), and the bodies being received with their bytes.
 */
export function addLimitMetrics(registry: Registry, limits: Pick<Limits, "stats" | "receivingStats">): void {
  new Gauge({
    name: "setpoint_current_inflight_requests",
    help: "Requests holding an in-flight slot (--max-requests-inflight, --max-mutating-requests-inflight), by kind.",
    labelNames: ["request_kind"],
    registers: [registry],
    collect() {
      const s = limits.stats();
      this.set({ request_kind: "mutating" }, s.write);
      this.set({ request_kind: "readOnly" }, s.read);
    },
  });
  new Gauge({
    name: "setpoint_request_bodies_receiving",
    help: "Admitted requests still receiving their body (not counted against the in-flight limits).",
    registers: [registry],
    collect() {
      this.set(limits.receivingStats().requests);
    },
  });
  new Gauge({
    name: "setpoint_request_body_bytes_receiving",
    help: "Bytes received so far of the bodies still arriving (bounded: 1 MiB per --max-mutating-requests-inflight).",
    registers: [registry],
    collect() {
      this.set(limits.receivingStats().bytes);
    },
  });
}

export function createMetrics(store: Store, hub: WatchHub): Metrics {
  const registry = new Registry();
  // The event-loop lag histogram samples with a timer: prom-client's default
  // (10 ms) wakes an idle server 100 times a second, about 0.5% of a core on
  // a virtual machine. Every 100 ms still catches any block of 100 ms or more.
  collectDefaultMetrics({ register: registry, prefix: "setpoint_", eventLoopMonitoringPrecision: 100 });
  const requests = new RequestMetrics({
    registry,
    countName: "setpoint_requests_total",
    countHelp: "API requests by verb, resource and HTTP code.",
    latencyName: "setpoint_request_duration_seconds",
    latencyHelp: "API request latency by verb and resource (watch: time to set up the stream).",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });
  const compactions = new Counter({ name: "setpoint_compactions_total", help: "Change-log compactions run.", registers: [registry] });
  const stats = () => hub.stats();
  new Gauge({
    name: "setpoint_watchers",
    help: "Open watches.",
    registers: [registry],
    collect() {
      this.set(stats().watchers);
    },
  });
  // Cumulative figures owned by the hub, exposed as counters at scrape time.
  const fromHub = (name: string, help: string, pick: (s: ReturnType<WatchHub["stats"]>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(stats()));
      },
    });
  fromHub("setpoint_watch_events_sent_total", "Watch events sent (all watchers).", (s) => s.eventsSent);
  fromHub("setpoint_watch_bookmarks_sent_total", "Bookmarks sent.", (s) => s.bookmarksSent);
  fromHub(
    "setpoint_watchers_cut_off_total",
    "Watchers cut off for not reading fast enough (their send-buffer bound, or the memory budget of all watchers).",
    (s) => s.cutOff,
  );
  fromHub(
    "setpoint_watchers_cut_off_budget_total",
    "Watchers cut off, furthest behind first, because all watchers' unsent bytes passed --watch-memory-budget.",
    (s) => s.cutOffBudget,
  );
  new Gauge({
    name: "setpoint_watch_queued_bytes",
    help: "Unsent bytes of all watchers, as last summed for the memory budget.",
    registers: [registry],
    collect() {
      this.set(stats().queuedBytes);
    },
  });
  new Gauge({
    name: "setpoint_watch_window_events",
    help: "Events kept in memory for watchers to resume from.",
    registers: [registry],
    collect() {
      this.set(stats().windowEvents);
    },
  });
  new Gauge({
    name: "setpoint_watch_window_bytes",
    help: "Bytes those events hold (objects, previous objects, each transport's encoding).",
    registers: [registry],
    collect() {
      this.set(stats().windowBytes);
    },
  });
  new Gauge({
    name: "setpoint_nodejs_array_buffers_bytes",
    help: "Bytes of ArrayBuffers and Buffers (part of external memory).",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().arrayBuffers);
    },
  });
  new Gauge({
    name: "setpoint_revision",
    help: "Newest committed revision.",
    registers: [registry],
    collect() {
      this.set(store.head());
    },
  });
  new Gauge({
    name: "setpoint_compacted_revision",
    help: "Oldest revision still listable and watchable.",
    registers: [registry],
    collect() {
      this.set(store.compacted());
    },
  });
  new Gauge({
    name: "setpoint_store_size_bytes",
    help: "Bytes the store's files take on disk.",
    registers: [registry],
    collect() {
      this.set(store.size());
    },
  });
  new Gauge({
    name: "setpoint_store_used_bytes",
    help: "Bytes of live data and retained history in the store (counted against the quota).",
    registers: [registry],
    collect() {
      this.set(store.space().usedBytes);
    },
  });
  new Gauge({
    name: "setpoint_store_quota_bytes",
    help: "The store's space quota (0: none).",
    registers: [registry],
    collect() {
      this.set(store.space().quotaBytes);
    },
  });
  new Gauge({
    name: "setpoint_store_alarm",
    help: "1 while the store's space alarm is raised (writes get 507), by kind: quota or disk-full.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const alarm = store.space().alarm;
      for (const kind of ["quota", "disk-full"]) this.set({ kind }, alarm?.kind === kind ? 1 : 0);
    },
  });
  const commitFailures = new Counter({
    name: "setpoint_store_commit_failures_total",
    help: "Store commits that failed (disk full, I/O errors); each was answered to its writers.",
    registers: [registry],
  });
  return {
    registry,
    request(verb, resource, code, seconds) {
      requests.record(verb, resource, code, seconds);
    },
    compaction() {
      compactions.inc();
    },
    commitFailure() {
      commitFailures.inc();
    },
  };
}
