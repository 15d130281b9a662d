// The server's periodic jobs, each on the injected clock: history
// compaction, the shared store's health sync (/readyz), the space-alarm log
// and WebSocket keepalive pings. Each returns what stops it; a stop that
// returns a promise resolves once a running job has finished.

import type { Logger } from "pino";
import type { WebSocket, WebSocketServer } from "ws";
import type { Clock, Timer } from "../clock.ts";
import type { Store } from "../store.ts";

/** Pings every WebSocket each `intervalMs`; one that did not answer the previous ping is dropped. */
export function keepWebSocketsAlive(wss: WebSocketServer, clock: Clock, intervalMs: number): Timer {
  const alive = new WeakMap<WebSocket, boolean>();
  wss.on("connection", (ws) => {
    alive.set(ws, true);
    ws.on("pong", () => alive.set(ws, true));
  });
  return clock.every(intervalMs, () => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  });
}

/** Logs the store's space alarm when it is raised and when it clears, once each (failed commits are logged as they happen). */
export function logSpaceAlarm(store: Store, clock: Clock, log: Logger): Timer {
  let last: string | undefined;
  return clock.every(1000, () => {
    const alarm = store.space().alarm;
    if (alarm?.message === last) return;
    if (alarm) log.warn({ alarm }, "store space alarm raised: writes get 507 InsufficientStorage");
    else log.info("store space alarm cleared: writes accepted again");
    last = alarm?.message;
  });
}

/** How often the compactor runs: a tenth of the history window, between 1 s and 30 s. */
function compactionPeriodMs(windowMs: number): number {
  return Math.max(1000, Math.min(30_000, windowMs / 10));
}

export interface CompactorOptions {
  clock: Clock;
  /** Keep at least this many changes and this much time of history (ServerOptions.historyMinEvents, historyWindowMs). */
  minEvents: number;
  windowMs: number;
  log: Logger;
  /** Called after a compaction that dropped history. */
  onCompacted: () => void;
}

/**
 * Compacts the store's history every tenth of the history window (between 1 s
 * and 30 s), one compaction at a time. `stop()` cancels the timer and resolves
 * once a running compaction has finished.
 */
export function startCompactor(store: Store, o: CompactorOptions): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const period = compactionPeriodMs(o.windowMs);
  const timer = o.clock.every(period, () => {
    if (running) return;
    const before = store.compacted();
    // Under the space alarm history is kept for the window only, not for a
    // count of changes: old history is what compaction can free.
    const alarmed = store.space().alarm !== undefined;
    running = store
      // Replicas sharing a store compact about once per period between them, not once each.
      .compact({ minEvents: alarmed ? 0 : o.minEvents, windowMs: o.windowMs, skipIfCompactedWithinMs: alarmed ? 0 : period * 0.9 })
      .then((after) => {
        if (after > before) o.onCompacted();
      })
      .catch((err: unknown) => o.log.error({ err }, "compaction failed"))
      .finally(() => (running = undefined));
  });
  return {
    async stop() {
      timer.cancel();
      await running;
    },
  };
}

/**
 * For a store shared between replicas (one with sync()): syncs every second,
 * which advances a quiet replica's head (bookmarks), and reports whether the
 * last sync succeeded: a replica cut off from etcd's quorum fails /readyz.
 */
export function watchStoreHealth(store: Store, clock: Clock): { readonly ok: boolean; stop(): Promise<void> } {
  let ok = true;
  let running: Promise<void> | undefined;
  const timer = store.sync
    ? clock.every(1000, () => {
        if (running) return;
        running = store.sync!()
          .then(
            () => void (ok = true),
            () => void (ok = false),
          )
          .finally(() => (running = undefined));
      })
    : undefined;
  return {
    get ok() {
      return ok;
    },
    async stop() {
      timer?.cancel();
      await running;
    },
  };
}
