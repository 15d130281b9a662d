// Follows a collection live (API.md §5): list it, then watch it over a
// WebSocket from the list's revision, keeping the newest revision seen from
// events and bookmarks. A dropped connection (server restart, network,
// slow-watcher cut-off 4008) is resumed from that revision after a backoff,
// so nothing is missed or repeated; a revision that has left the server's
// history (410 Expired) is answered by a relist whose differences from what
// was already reported become ADDED, MODIFIED and DELETED events.
// Delivery: every change at most once and in revision order, as the server
// sends it; the relist after a 410 reports the net change of the gap.
// A replica that stops answering without closing (hung, paused, a network
// black hole) is noticed by pings: a watch that hears nothing (no event,
// bookmark or pong) for `idleTimeoutMs` is dropped and resumed like any other
// dropped connection (on the next replica, when there are several).

import WebSocket from "ws";
import type { ApiClient } from "./client.ts";
import type { LooseObject } from "../wire.ts";
import { asStatus, ServerError, type ErrorStatus } from "./errors.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchEvent {
  type: EventType;
  object: LooseObject;
}

export interface FollowOptions {
  /** A collection path, e.g. `/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns`. */
  path: string;
  labelSelector?: string;
  /** E.g. `metadata.name=build-1`. */
  fieldSelector?: string;
  /** Stops following, cancelling a list in flight; followCollection then resolves. */
  signal: AbortSignal;
  /** The events of the first list (all ADDED), at once, so a table can size its columns. */
  onInitial(events: WatchEvent[]): void;
  /** Each later change. */
  onEvent(event: WatchEvent): void;
  /** Reconnects and relists, for the user to see on stderr. */
  onNotice?(message: string): void;
  /** Backoff between reconnects: first and largest delay. Default 250 ms and 2000 ms. */
  backoff?: { initialMs: number; maxMs: number };
  /** Drop a watch that hears nothing (no message, no pong to its pings) for this long. Default 30000 ms. */
  idleTimeoutMs?: number;
}

type StreamEnd = { kind: "closed"; reason: string } | { kind: "expired" } | { kind: "fatal"; status: ErrorStatus };

const keyOf = (o: LooseObject): string => `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;

/**
 * Lists then watches `path` until `signal` aborts. Throws ServerError when
 * the server refuses the watch for good (unknown type, unauthorized); other
 * failures are retried forever.
 */
export async function followCollection(client: ApiClient, options: FollowOptions): Promise<void> {
  const { signal } = options;
  const known = new Map<string, LooseObject>();
  let revision = "0";
  const initialMs = options.backoff?.initialMs ?? 250;
  const maxMs = options.backoff?.maxMs ?? 2000;
  let delay = initialMs;
  let lastProblem: string | undefined; // the last disconnect reported, so a retry loop reports it once

  const relist = async (first: boolean): Promise<void> => {
    const list = await client.listAll(options.path, { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector }, { signal });
    revision = list.metadata.resourceVersion;
    const events: WatchEvent[] = [];
    const seen = new Set<string>();
    for (const item of list.items) {
      const key = keyOf(item);
      seen.add(key);
      const before = known.get(key);
      if (before === undefined) events.push({ type: "ADDED", object: item });
      else if (before.metadata.resourceVersion !== item.metadata.resourceVersion) events.push({ type: "MODIFIED", object: item });
      known.set(key, item);
    }
    for (const [key, before] of known) {
      if (!seen.has(key)) {
        known.delete(key);
        events.push({ type: "DELETED", object: before });
      }
    }
    if (first) options.onInitial(events);
    else for (const e of events) options.onEvent(e);
  };

  // A plain (ref'd) timer on purpose: while it waits to relist, it is what keeps the CLI alive.
  // Its abort listener goes when the timer fires: one kept per retry would pile up on the signal.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal.addEventListener("abort", wake, { once: true });
    });

  for (let first = true; !signal.aborted; ) {
    try {
      await relist(first);
      first = false;
    } catch (error) {
      if (signal.aborted) return; // the list was cancelled with the follow
      if (error instanceof ServerError && error.code < 500 && error.code !== 429) throw error;
      // Reported once, as a disconnect is: a server down for minutes must not print a line per retry.
      const problem = `list failed (${(error as Error).message})`;
      if (problem !== lastProblem) options.onNotice?.(`watch: ${problem}; retrying`);
      lastProblem = problem;
      await sleep(delay);
      delay = Math.min(maxMs, delay * 2);
      continue;
    }
    // Watch from the newest revision until the history no longer has it.
    while (!signal.aborted) {
      await client.resolveServers(); // looked up again after every replica failed
      if (signal.aborted) return; // stopped meanwhile: a watch opened now would never hear the abort
      const streamServer = client.replica;
      const end = await streamOnce(client, options, revision, {
        onOpen() {
          if (lastProblem !== undefined) options.onNotice?.(`watch: reconnected; resuming from revision ${revision}`);
          lastProblem = undefined;
        },
        onEvent(type, object) {
          delay = initialMs; // the connection works: the next drop starts the backoff over
          revision = object.metadata.resourceVersion ?? revision;
          const key = keyOf(object);
          if (type === "DELETED") known.delete(key);
          else known.set(key, object);
          options.onEvent({ type, object });
        },
        onBookmark(rv) {
          revision = rv;
        },
      });
      if (signal.aborted) return;
      if (end.kind === "fatal") throw new ServerError(end.status);
      if (end.kind === "expired") {
        options.onNotice?.(`watch: revision ${revision} is no longer in the server's history; relisting`);
        break;
      }
      // With several replicas, resume on the next one (and after the last, look their names up again).
      client.failover(streamServer);
      if (end.reason !== lastProblem)
        options.onNotice?.(
          `watch: disconnected (${end.reason}); retrying from revision ${revision}${client.replicas.length > 1 ? ` on ${client.replica}` : ""}`,
        );
      lastProblem = end.reason;
      await sleep(delay);
      delay = Math.min(maxMs, delay * 2);
    }
  }
}

interface StreamHandlers {
  onOpen(): void;
  onEvent(type: EventType, object: LooseObject): void;
  onBookmark(revision: string): void;
}

/** One WebSocket watch from `revision`; resolves when it ends, saying how. */
function streamOnce(client: ApiClient, options: FollowOptions, revision: string, handlers: StreamHandlers): Promise<StreamEnd> {
  const url = client
    .url(options.path, {
      resourceVersion: revision,
      allowWatchBookmarks: "true",
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    })
    .replace(/^http/, "ws");
  return new Promise<StreamEnd>((resolve) => {
    let end: StreamEnd | undefined;
    const finish = (e: StreamEnd) => {
      end ??= e;
    };
    const ws = new WebSocket(url, { headers: client.headers(), handshakeTimeout: 10_000, ...client.connectOptions() });
    const onAbort = () => ws.close(1000, "client done");
    options.signal.addEventListener("abort", onAbort, { once: true });
    // A peer that never closes but stops answering: ping it, and drop the watch once nothing came back for idleMs.
    const idleMs = options.idleTimeoutMs ?? 30_000;
    let heard = Date.now();
    const hear = () => (heard = Date.now());
    const idle = setInterval(
      () => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (Date.now() - heard > idleMs) {
          finish({ kind: "closed", reason: `no answer for ${idleMs / 1000} s` });
          ws.terminate();
        } else ws.ping();
      },
      Math.max(10, idleMs / 3),
    );
    idle.unref();

    ws.on("open", () => {
      hear();
      handlers.onOpen();
    });
    ws.on("pong", hear);
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const code = res.statusCode ?? 0;
        const status = asStatus(body, code, text);
        if (code === 410) finish({ kind: "expired" });
        else if (code >= 500 || code === 429) finish({ kind: "closed", reason: `HTTP ${code}: ${status.message}` });
        else finish({ kind: "fatal", status });
        ws.terminate();
      });
    });
    ws.on("message", (data) => {
      hear();
      let event: { type?: string; object?: LooseObject };
      try {
        event = JSON.parse(String(data)) as typeof event;
      } catch {
        return;
      }
      const object = event.object;
      if (!object || typeof object !== "object") return;
      if (event.type === "BOOKMARK") {
        const rv = object.metadata?.resourceVersion;
        if (typeof rv === "string" && rv !== "") handlers.onBookmark(rv);
      } else if (event.type === "ERROR") {
        const status = object as unknown as ErrorStatus;
        if (status.code === 410) finish({ kind: "expired" });
        else finish({ kind: "closed", reason: `server error: ${status.message ?? "unknown"}` });
        ws.close();
      } else if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
        handlers.onEvent(event.type, object);
      }
    });
    ws.on("error", (error) => finish({ kind: "closed", reason: (error as NodeJS.ErrnoException).code ?? error.message }));
    ws.on("close", (code, reason) => {
      clearInterval(idle);
      options.signal.removeEventListener("abort", onAbort);
      finish({ kind: "closed", reason: `connection closed (${code}${reason.length > 0 ? ` ${String(reason)}` : ""})` });
      resolve(end!);
    });
  });
}
