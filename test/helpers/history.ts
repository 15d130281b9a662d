// Watchers that resume across replicas, writers that retry until acknowledged,
// and the check that every watcher saw a gap-free, duplicate-free prefix of
// the one true history (API.md §5, §9), for fault and robustness tests.

import assert from "node:assert/strict";
import { WebSocket } from "ws";

export interface Seen {
  type: string;
  name: string;
  rv: number;
}

/**
 * A WebSocket watch of `path` that starts after revision `from` and, whenever
 * its connection ends or cannot open, moves to the next replica and resumes
 * from the last revision it saw (events and bookmarks).
 */
export class ResumingWatcher {
  readonly events: Seen[] = [];
  /** Connections that ended (each followed by a resume). */
  disconnects = 0;
  errors: string[] = [];
  last: number;
  #replicas: () => string[];
  #path: string;
  #next = 0;
  #ws: WebSocket | undefined;
  #stopped = false;

  constructor(replicas: () => string[], path: string, from: number, start = 0) {
    this.#replicas = replicas;
    this.#path = path;
    this.last = from;
    this.#next = start;
    this.#connect();
  }

  #connect(): void {
    if (this.#stopped) return;
    const urls = this.#replicas();
    const url = urls[this.#next++ % urls.length]!;
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}${this.#path}?watch=true&allowWatchBookmarks=true&resourceVersion=${this.last}`);
    this.#ws = ws;
    let retried = false;
    const retry = () => {
      if (retried || this.#stopped) return;
      retried = true;
      this.disconnects++;
      setTimeout(() => this.#connect(), 100);
    };
    ws.on("message", (data) => {
      const e = JSON.parse(data.toString()) as {
        type: string;
        object: { code?: number; message?: string; metadata: { name?: string; resourceVersion: string } };
      };
      if (e.type === "ERROR") {
        this.errors.push(`${e.object.code} ${e.object.message}`);
        return;
      }
      const rv = Number(e.object.metadata.resourceVersion);
      if (e.type !== "BOOKMARK") this.events.push({ type: e.type, name: e.object.metadata.name ?? "", rv });
      if (rv > this.last) this.last = rv;
    });
    ws.on("close", retry);
    ws.on("error", retry);
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      retry();
      ws.terminate();
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}

/** Resolves once `until()` holds; fails naming `what` after `ms`. */
export async function eventually(until: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!until()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Ack {
  name: string;
  rv: number;
}

/**
 * Creates `name` through one of `replicas()` (rotating), retrying on 5xx and
 * network errors until acknowledged; a 409 after a retry means an earlier try
 * committed, and the object's revision is read back. Resolves to the ack.
 */
export async function createAcked(
  replicas: () => string[],
  collection: string,
  body: Record<string, unknown>,
  o: { start?: number; deadlineMs?: number } = {},
): Promise<Ack> {
  const name = (body.metadata as { name: string }).name;
  const deadline = Date.now() + (o.deadlineMs ?? 60_000);
  let i = o.start ?? 0;
  let tried = false;
  for (;;) {
    const urls = replicas();
    const url = urls[i++ % urls.length]!;
    try {
      const res = await fetch(url + collection, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (res.status === 201) return { name, rv: Number((JSON.parse(text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion) };
      if (res.status === 409 && tried) {
        const got = await fetch(`${url}${collection}/${name}`, { signal: AbortSignal.timeout(15_000) });
        if (got.status === 200) return { name, rv: Number(((await got.json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion) };
      }
      if (res.status < 500 && res.status !== 409) throw new Error(`create ${name}: ${res.status} ${text}`);
    } catch (err) {
      if ((err as Error).message.startsWith(`create ${name}:`)) throw err;
    }
    tried = true;
    if (Date.now() > deadline) throw new Error(`create ${name} was not acknowledged within the deadline`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Asserts the fault contract: `truth` is strictly increasing; each watcher's
 * events are exactly the part of `truth` after its start (a prefix of it, or
 * all of it with `complete`); every acknowledged write is in `truth`.
 */
export function checkHistories(
  truth: Seen[],
  watchers: Array<{ from: number; w: ResumingWatcher; label: string }>,
  acks: Ack[],
  o: { complete?: boolean } = {},
): void {
  for (let i = 1; i < truth.length; i++) assert.ok(truth[i]!.rv > truth[i - 1]!.rv, `the true history is ordered at ${i}`);
  const byRv = new Map(truth.map((e) => [e.rv, e]));
  for (const ack of acks) assert.equal(byRv.get(ack.rv)?.name, ack.name, `acknowledged write ${ack.name}@${ack.rv} is in the history`);
  for (const { from, w, label } of watchers) {
    assert.deepEqual(w.errors, [], `${label}: no ERROR events`);
    const expected = truth.filter((e) => e.rv > from);
    const got = w.events;
    assert.deepEqual(got, expected.slice(0, got.length), `${label}: a gap-free, duplicate-free prefix of the history (${got.length} of ${expected.length})`);
    if (o.complete) assert.equal(got.length, expected.length, `${label}: the whole history`);
  }
}
