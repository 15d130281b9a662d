// The server at a glance, from /metrics every 2 s: newest revision, open
// watches, watch events and writes per second, and mean write latency over
// the last interval, with a minute of history as sparklines.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiRequestError, request, type ApiFailure } from "../api.ts";
import { Failure } from "../components.tsx";

const EVERY_MS = 2000;
const KEEP = 30;
const WRITES = new Set(["create", "update", "patch", "delete", "deletecollection"]);

interface Sample {
  at: number;
  revision: number;
  watchers: number;
  events: number;
  writes: number;
  writeSeconds: number;
  compacted: number;
  storeBytes: number;
}

/** The samples of a Prometheus text exposition: name, labels, value. */
export function parseMetrics(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

function sampleOf(text: string): Sample {
  const s: Sample = { at: Date.now(), revision: 0, watchers: 0, events: 0, writes: 0, writeSeconds: 0, compacted: 0, storeBytes: 0 };
  for (const m of parseMetrics(text)) {
    if (m.name === "setpoint_revision") s.revision = m.value;
    else if (m.name === "setpoint_watchers") s.watchers = m.value;
    else if (m.name === "setpoint_compacted_revision") s.compacted = m.value;
    else if (m.name === "setpoint_store_size_bytes") s.storeBytes = m.value;
    else if (m.name === "setpoint_watch_events_sent_total") s.events = m.value;
    else if (m.name === "setpoint_request_duration_seconds_count" && WRITES.has(m.labels.verb ?? "")) s.writes += m.value;
    else if (m.name === "setpoint_request_duration_seconds_sum" && WRITES.has(m.labels.verb ?? "")) s.writeSeconds += m.value;
  }
  return s;
}

function Spark({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return null;
  const max = Math.max(...values, 1e-9);
  const pts = values.map((v, i) => `${((i / (KEEP - 1)) * 100).toFixed(1)},${(28 - (v / max) * 26).toFixed(1)}`).join(" ");
  return (
    <svg class="spark" viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label={label}>
      <polyline points={pts} />
    </svg>
  );
}

export function ServerView({ epoch }: { epoch: number }) {
  const samples = useRef<Sample[]>([]);
  const [, setTick] = useState(0);
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined);
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const text = String(await request("GET", "/metrics"));
        if (stopped) return;
        samples.current = [...samples.current, sampleOf(text)].slice(-KEEP - 1);
        setFailure(undefined);
      } catch (err) {
        if (!stopped) setFailure(err instanceof ApiRequestError ? err.failure : { code: 0, reason: "Error", message: String(err) });
      }
      if (!stopped) setTick((t) => t + 1);
    };
    void poll();
    // The browser's timers (src/ui is a page, tested in a real browser), as throughout the console.
    const t = setInterval(poll, EVERY_MS);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [epoch]);

  const s = samples.current;
  const rates = s.slice(1).map((b, i) => {
    const a = s[i]!;
    const dt = Math.max(0.001, (b.at - a.at) / 1000);
    const writes = b.writes - a.writes;
    return {
      events: Math.max(0, (b.events - a.events) / dt),
      writes: Math.max(0, writes / dt),
      latency: writes > 0 ? ((b.writeSeconds - a.writeSeconds) / writes) * 1000 : undefined,
    };
  });
  const now = s[s.length - 1];
  const rate = rates[rates.length - 1];
  const overall = now && now.writes > 0 ? (now.writeSeconds / now.writes) * 1000 : undefined;
  const card = (label: string, value: string, id: string, spark?: number[]) => (
    <div class="card" data-metric={id}>
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
      {spark ? <Spark values={spark} label={`${label}, last minute`} /> : null}
    </div>
  );
  return (
    <section aria-labelledby="server-title">
      <header class="view-head">
        <h1 id="server-title">Server</h1>
        <span class="muted">from /metrics every {EVERY_MS / 1000} s</span>
      </header>
      <Failure failure={failure} />
      <div class="cards">
        {card("Newest revision", now ? String(now.revision) : "…", "revision")}
        {card(
          "Open watches",
          now ? String(now.watchers) : "…",
          "watchers",
          s.map((x) => x.watchers),
        )}
        {card(
          "Watch events / s",
          rate ? rate.events.toFixed(1) : "…",
          "events",
          rates.map((r) => r.events),
        )}
        {card(
          "Writes / s",
          rate ? rate.writes.toFixed(1) : "…",
          "writes",
          rates.map((r) => r.writes),
        )}
        {card(
          "Write latency (last 2 s)",
          rate?.latency !== undefined ? `${rate.latency.toFixed(2)} ms` : "no writes",
          "latency",
          rates.map((r) => r.latency ?? 0),
        )}
        {card("Write latency (since start)", overall !== undefined ? `${overall.toFixed(2)} ms` : "no writes", "latency-all")}
        {card("Oldest watchable revision", now ? String(now.compacted) : "…", "compacted")}
        {card("Store on disk", now ? `${(now.storeBytes / 1048576).toFixed(1)} MiB` : "…", "store")}
      </div>
    </section>
  );
}
