// Cutting off thousands of stalled watchers must not stall the server
// (API.md §5, "A watcher that does not read fast enough is cut off"). The real
// server runs as a child process; 2,000 WebSocket watchers stop reading while
// 2,000 creates of 10 KiB go in, so every one of them passes its bound and is
// cut off. A separate prober process asks /healthz every 50 ms all along: no
// answer may take more than 1 s, not counting the time the server or the
// prober waited for a CPU on a loaded machine. Afterwards every watcher's
// connection is closed, the cut-offs are counted and logged, and a cut-off
// client that still reads gets close code 4008.
// scripts/test.mjs: run alone (it keeps both cores busy; its /healthz bound is wall-clock less run-queue waits)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { WebSocket } from "ws";
import { startChildServer } from "../helpers/child-server.ts";
import { api, createType } from "../helpers/server.ts";

const DEADLINE_MS = 120_000;
const WATCHERS = 2000;
const CREATES = 2000;

/**
 * A process of its own that GETs `url` every 50 ms; stop() resolves to the
 * slowest answer in ms and the count. Each answer's time also comes without
 * the time the server's main thread (process `serverPid`) or the prober sat
 * runnable but not running on a loaded machine, read from Linux's
 * /proc/<tid>/schedstat: the larger of the two is taken off, since both may
 * have waited at once. Off Linux `worstLoadFreeMs` is `worstMs`.
 */
function startProber(url: string, serverPid: number): { stop(): Promise<{ worstMs: number; worstLoadFreeMs: number; probes: number; failures: number }> } {
  const script = `
    const fs = require("node:fs");
    let worst = 0, worstLoadFree = 0, probes = 0, failures = 0, stopping = false;
    const agent = new (require("node:http").Agent)({ keepAlive: true, maxSockets: 1 });
    // The server's main thread (with --workers 1 it serves in its own process).
    const server = "/proc/${serverPid}/task/${serverPid}/schedstat";
    const mine = "/proc/" + process.pid + "/task/" + process.pid + "/schedstat";
    /** Nanoseconds this thread has waited on a run queue (0 if unknown). */
    const queued = (path) => { try { return Number(fs.readFileSync(path, "utf8").split(" ")[1]) || 0; } catch { return 0; } };
    const once = () => new Promise((resolve) => {
      const q0 = [queued(server), queued(mine)];
      const t0 = performance.now();
      const done = (ok) => {
        const ms = performance.now() - t0;
        const off = Math.max(queued(server) - q0[0], queued(mine) - q0[1]) / 1e6;
        worst = Math.max(worst, ms);
        worstLoadFree = Math.max(worstLoadFree, ms - off);
        if (!ok) failures++;
        resolve();
      };
      const req = require("node:http").get(${JSON.stringify(url)}, { agent, timeout: 30000 }, (res) => {
        res.resume();
        res.on("end", () => { probes++; done(res.statusCode === 200); });
      });
      req.on("error", () => done(false));
      req.on("timeout", () => req.destroy(new Error("timeout")));
    });
    process.stdin.on("end", () => (stopping = true));
    process.stdin.resume();
    (async () => {
      while (!stopping) { await once(); await new Promise((r) => setTimeout(r, 50)); }
      process.stdout.write(JSON.stringify({ worstMs: worst, worstLoadFreeMs: worstLoadFree, probes, failures }) + "\\n");
    })();
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    async stop() {
      child.stdin!.end();
      await exited;
      return JSON.parse(out) as { worstMs: number; worstLoadFreeMs: number; probes: number; failures: number };
    },
  };
}

interface Stalled {
  ws: WebSocket;
  closed: Promise<number>;
  resume(): void;
}

/** Opens a WebSocket watch and stops reading it as soon as it is open. */
function openStalled(url: string): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.on("error", () => {});
    ws.once("unexpected-response", (_req, res) => reject(new Error(`watch refused: ${res.statusCode}`)));
    ws.once("open", () => {
      const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      resolve({ ws, closed, resume: () => socket.resume() });
    });
  });
}

function withDeadline<T>(p: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `no ${name} in /metrics`);
  return Number(m[1]);
}

describe("cutting off thousands of stalled watchers", () => {
  it(`cuts off ${WATCHERS} stalled WebSocket watchers under ${CREATES} creates of 10 KiB while /healthz always answers within 1 s`, {
    timeout: 600_000,
  }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-cutoff-"));
    const server = await startChildServer(dataDir, ["--watch-buffer-bytes", "256Ki", "--max-watches-per-user", "0", "--workers", "1", "--no-fsync"]);
    const stalled: Stalled[] = [];
    try {
      const c = api(server.url);
      const prefix = await createType(c, { group: "cutoff.example.com", kind: "Thing", plural: "things" });
      const list = `${prefix}/namespaces/default/things`;
      const wsUrl = `${server.url.replace("http", "ws")}${list}`;
      for (let i = 0; i < WATCHERS; i += 100) {
        stalled.push(...(await Promise.all(Array.from({ length: Math.min(100, WATCHERS - i) }, () => openStalled(wsUrl)))));
      }
      assert.equal(await metric(server.url, "setpoint_watchers"), WATCHERS);

      const prober = startProber(`${server.url}/healthz`, server.child.pid!);
      const payload = "x".repeat(10 * 1024);
      let next = 0;
      const writer = async () => {
        while (next < CREATES) {
          const i = next++;
          const res = await c.post(list, { metadata: { name: `t-${i}` }, spec: { payload } });
          assert.equal(res.status, 201, res.text.slice(0, 200));
        }
      };
      await Promise.all(Array.from({ length: 8 }, writer));
      // Every watcher has passed its bound by now; wait until the server has let them all go.
      const deadline = Date.now() + DEADLINE_MS;
      while ((await metric(server.url, "setpoint_watchers")) > 0) {
        assert.ok(Date.now() < deadline, "watchers still open");
        await new Promise((r) => setTimeout(r, 100));
      }
      const probes = await prober.stop();
      process.stderr.write(
        `cut-off test: worst /healthz ${probes.worstMs.toFixed(1)} ms (${probes.worstLoadFreeMs.toFixed(1)} ms without run-queue waits) over ${probes.probes} probes while cutting ${WATCHERS} watchers\n`,
      );
      assert.equal(probes.failures, 0);
      assert.ok(probes.probes > 10, `only ${probes.probes} probes`);
      assert.ok(
        probes.worstLoadFreeMs < 1000,
        `a /healthz probe waited ${probes.worstLoadFreeMs.toFixed(0)} ms (${probes.worstMs.toFixed(0)} ms with run-queue waits)`,
      );

      assert.ok((await metric(server.url, "setpoint_watchers_cut_off_total")) >= WATCHERS);
      // The clients read again: every connection ends (4008 for those still within the close grace, 1006 after it).
      for (const s of stalled) s.resume();
      const codes = await withDeadline(Promise.all(stalled.map((s) => s.closed)), "every cut-off connection closes");
      assert.ok(
        codes.every((code) => code === 4008 || code === 1006),
        `close codes: ${[...new Set(codes)].join(", ")}`,
      );
      assert.match(server.output(), /watchers cut off for not reading fast enough/);

      // One more stalled watcher, cut off while it can still read (within the
      // 2 s close grace): it gets 4008. Large objects fill its buffers fast.
      // (From the newest revision: a watcher still taking the initial state is paced, not cut.)
      const one = await openStalled(`${wsUrl}?resourceVersion=${await metric(server.url, "setpoint_revision")}`);
      const before = await metric(server.url, "setpoint_watchers_cut_off_total");
      const big = "x".repeat(512 * 1024);
      for (let i = 0; i < 200 && (await metric(server.url, "setpoint_watchers_cut_off_total")) === before; i++) {
        const res = await c.post(list, { metadata: { name: `late-${i}` }, spec: { payload: big } });
        assert.equal(res.status, 201);
      }
      one.resume();
      assert.equal(await withDeadline(one.closed, "the last watcher is closed"), 4008);
      assert.equal((await c.get("/healthz")).status, 200);
    } finally {
      for (const s of stalled) s.ws.terminate();
      server.child.kill("SIGTERM");
      await new Promise((r) => server.child.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
