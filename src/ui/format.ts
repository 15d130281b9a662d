// Formatting of times, durations and object status for display.

import type { Condition } from "../wire.ts";
import type { Obj } from "./types.ts";

/** `3s`, `5m`, `2h`, `4d`: kubectl's age style. */
export function age(since: string | undefined, now: number): string {
  if (!since) return "";
  const t = Date.parse(since);
  if (Number.isNaN(t)) return "";
  const ms = Math.max(0, now - t);
  return ms < 1000 ? "0s" : duration(ms);
}

/** A duration in ms as `850ms`, `12s`, `3m4s`, `2h5m`, `4d3h`. */
export function duration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ""}`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? `${m % 60}m` : ""}`;
  return `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ""}`;
}

/** From `start` to `end` (or now while it runs), or "" without a start. */
export function span(start: string | undefined, end: string | undefined, now: number): string {
  if (!start) return "";
  const a = Date.parse(start);
  const b = end ? Date.parse(end) : now;
  if (Number.isNaN(a) || Number.isNaN(b)) return "";
  // While it runs, `now` ticks once a second: count whole seconds, not milliseconds.
  return end ? duration(Math.max(0, b - a)) : duration(Math.max(0, Math.floor((b - a) / 1000) * 1000));
}

/** The conditions of an object's status (empty when it has none). */
export function conditions(o: Obj): Condition[] {
  const c = o.status?.conditions;
  return Array.isArray(c) ? c.filter((x) => x && typeof x.type === "string") : [];
}

/** One word for an object's state: status.phase, else its conditions (`Ready`, `Ready=False`), else "". */
export function summary(o: Obj): { text: string; tone: string } {
  if (o.metadata.deletionTimestamp) return { text: "Terminating", tone: "Cancelled" };
  const phase = o.status?.phase;
  if (typeof phase === "string") return { text: phase, tone: phase };
  const cs = conditions(o);
  if (cs.length > 0) {
    const text = cs.map((c) => (c.status === "True" ? c.type : `${c.type}=${c.status}`)).join(", ");
    const tone = cs.every((c) => c.status === "True") ? "Succeeded" : cs.some((c) => c.status === "False") ? "Failed" : "Running";
    return { text, tone };
  }
  return { text: "", tone: "" };
}
