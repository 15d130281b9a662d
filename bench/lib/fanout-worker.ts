// A fan-out watcher process: opens many watches (one WebSocket, or one etcd
// connection, per watcher), timestamps every delivery, and checks that every
// watcher gets every change exactly once and in revision order. Driven over
// IPC by bench/fanout.ts:
//
//   parent → {cmd:"start", ...WorkerStart}   child → {type:"ready"} | {type:"error"}
//   child  → {type:"phase", index}           when every watcher here has every event of phase `index`
//   parent → {cmd:"report"}                  child → {type:"report", ...WorkerReport}
//   parent → {cmd:"exit"}                    child closes its watches and exits
//
// Latency of a delivery = receive time − `spec.sentAt` stamped by the writer
// (process.hrtime in µs: CLOCK_MONOTONIC, comparable across processes).
// The child exits if the bench's IPC channel goes away.

import type { Etcd3 } from "etcd3";
import { WebSocket } from "ws";
import { etcdClient, intAfter, pool } from "./clients.ts";
import { Histogram, nowUs, type HistogramData } from "./stats.ts";

export interface WorkerStart {
  cmd: "start";
  system: "setpoint" | "etcd" | "floor";
  /** ws(s):// watch URL (Setpoint, floor) or etcd client URL. */
  url: string;
  headers?: Record<string, string>;
  insecure?: boolean;
  /** etcd key prefix to watch. */
  prefix?: string;
  watchers: number;
  /** Changes are numbered 0..total-1 by `spec.seq`. */
  total: number;
  /** Phase i covers seq in [phases[i].from, phases[i].to). */
  phases: Array<{ from: number; to: number }>;
}

export interface PhaseReport {
  hist: HistogramData;
  received: number;
  firstUs: number;
  lastUs: number;
}

export interface WorkerReport {
  phases: PhaseReport[];
  /** Per change (by seq): when the writer stamped it, and the first and last receipt by this process's watchers (hrtime µs; 0 if none). */
  changes: { sentUs: number[]; firstUs: number[]; lastUs: number[] };
  duplicates: number;
  outOfOrder: number;
  missing: number;
  unparsed: number;
  closedEarly: number;
  errors: string[];
}

const SEQ = Buffer.from('"seq":');
const SENT = Buffer.from('"sentAt":');
const RV = Buffer.from('"resourceVersion":"');

function send(msg: object): void {
  process.send?.(msg);
}

let start: WorkerStart;
let seen: Uint8Array;
let lastRev: Float64Array;
let phaseOf: Uint8Array;
let hists: Histogram[];
let received: number[];
let firstUs: number[];
let lastUs: number[];
let changeSent: Float64Array;
let changeFirst: Float64Array;
let changeLast: Float64Array;
let duplicates = 0;
let outOfOrder = 0;
let unparsed = 0;
let closedEarly = 0;
let closing = false;
const errors: string[] = [];
const sockets: WebSocket[] = [];
const etcds: Etcd3[] = [];

function error(message: string): void {
  if (errors.length < 20) errors.push(message);
}

/** Records one delivery to watcher `w`: change `seq` at revision `rev`, stamped `sentAt` µs. */
function deliver(w: number, seq: number, rev: number, sentAt: number): void {
  const now = nowUs();
  if (seq < 0 || seq >= start.total || sentAt < 0) {
    unparsed++;
    return;
  }
  const k = w * start.total + seq;
  if (seen[k]) {
    duplicates++;
    return;
  }
  seen[k] = 1;
  if (rev <= lastRev[w]!) outOfOrder++;
  lastRev[w] = rev;
  const p = phaseOf[seq]!;
  hists[p]!.record((now - sentAt) / 1000);
  changeSent[seq] = sentAt;
  if (changeFirst[seq] === 0) changeFirst[seq] = now;
  changeLast[seq] = now;
  if (received[p] === 0) firstUs[p] = now;
  lastUs[p] = now;
  received[p]!++;
  const ph = start.phases[p]!;
  if (received[p] === start.watchers * (ph.to - ph.from)) send({ type: "phase", index: p });
}

function onWsMessage(w: number, data: Buffer): void {
  const seq = intAfter(data, SEQ);
  const sentAt = intAfter(data, SENT);
  const rev = intAfter(data, RV);
  deliver(w, seq, rev, sentAt);
}

async function openWebSockets(): Promise<void> {
  const ids = Array.from({ length: start.watchers }, (_, i) => i);
  await pool(
    ids,
    64,
    (w) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(start.url, { headers: start.headers, rejectUnauthorized: !start.insecure, perMessageDeflate: false });
        sockets[w] = ws;
        ws.once("open", () => resolve());
        ws.once("unexpected-response", (_req, res) => reject(new Error(`watch ${start.url}: HTTP ${res.statusCode}`)));
        ws.on("error", (err) => {
          error(`watcher ${w}: ${err.message}`);
          reject(err);
        });
        ws.on("message", (data: Buffer) => onWsMessage(w, data));
        ws.on("close", (code, reason) => {
          if (!closing) {
            closedEarly++;
            error(`watcher ${w} closed: ${code} ${reason.toString()}`);
          }
        });
      }),
  );
}

async function openEtcdWatches(): Promise<void> {
  const ids = Array.from({ length: start.watchers }, (_, i) => i);
  await pool(ids, 32, async (w) => {
    const client = etcdClient(start.url);
    etcds[w] = client;
    const watcher = await client
      .watch()
      .prefix(start.prefix ?? "")
      .create();
    watcher.on("put", (kv) => {
      const value = kv.value as Buffer;
      deliver(w, intAfter(value, SEQ), Number(kv.mod_revision), intAfter(value, SENT));
    });
    watcher.on("error", (err: Error) => error(`etcd watcher ${w}: ${err.message}`));
    watcher.on("disconnected", () => {
      if (!closing) {
        closedEarly++;
        error(`etcd watcher ${w} disconnected`);
      }
    });
  });
}

function report(): WorkerReport {
  let missing = 0;
  for (let i = 0; i < seen.length; i++) if (!seen[i]) missing++;
  return {
    phases: start.phases.map((_, p) => ({ hist: hists[p]!.toJSON(), received: received[p]!, firstUs: firstUs[p]!, lastUs: lastUs[p]! })),
    changes: { sentUs: Array.from(changeSent), firstUs: Array.from(changeFirst), lastUs: Array.from(changeLast) },
    duplicates,
    outOfOrder,
    missing,
    unparsed,
    closedEarly,
    errors,
  };
}

async function shutdown(): Promise<void> {
  closing = true;
  for (const ws of sockets) ws?.terminate();
  await Promise.allSettled(etcds.map((c) => c?.close()));
  process.exit(0);
}

process.on("disconnect", () => void shutdown());
process.on("message", (msg: { cmd: string } & Partial<WorkerStart>) => {
  if (msg.cmd === "start") {
    start = msg as WorkerStart;
    seen = new Uint8Array(start.watchers * start.total);
    lastRev = new Float64Array(start.watchers);
    changeSent = new Float64Array(start.total);
    changeFirst = new Float64Array(start.total);
    changeLast = new Float64Array(start.total);
    phaseOf = new Uint8Array(start.total);
    start.phases.forEach((ph, p) => phaseOf.fill(p, ph.from, ph.to));
    hists = start.phases.map(() => new Histogram());
    received = start.phases.map(() => 0);
    firstUs = start.phases.map(() => 0);
    lastUs = start.phases.map(() => 0);
    const t0 = Date.now();
    (start.system === "etcd" ? openEtcdWatches() : openWebSockets()).then(
      () => send({ type: "ready", ms: Date.now() - t0 }),
      (err: Error) => send({ type: "error", message: `${start.system} watchers: ${err.message}` }),
    );
  } else if (msg.cmd === "report") {
    send({ type: "report", ...report() });
  } else if (msg.cmd === "exit") {
    void shutdown();
  }
});
