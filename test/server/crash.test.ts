// The crash test: the real server as a child process, concurrent creates,
// SIGKILL mid-way, restart on the same directory. Afterwards every create that
// was acknowledged (201) is there with the same resourceVersion and uid, no
// revision repeats, nothing a watcher saw before the crash is lost, and a
// watcher resuming from its last revision gets every later change exactly
// once, in revision order. With --workers 2, a worker and then the primary
// are killed during concurrent creates, patches and deletes: every
// acknowledged outcome is there after a restart, and nothing never written.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startChildServer } from "../helpers/child-server.ts";

const DEADLINE_MS = 60_000; // generous: the machine may be busy with other test runs
const GROUP = "crash.example.com";
const PLURAL = "things";
const LIST = `/apis/${GROUP}/v1/namespaces/default/${PLURAL}`;

interface Obj {
  metadata: { name: string; namespace?: string; uid: string; resourceVersion: string };
}

interface WireEvent {
  type: string;
  object: Obj;
}

const rvOf = (o: Obj): number => Number(o.metadata.resourceVersion);

async function request(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(DEADLINE_MS),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** An HTTP watch recording its events; `lastRevision` is the newest revision seen in any event or bookmark. */
/** Declares the Thing type the crash tests write; returns its answer (asserted 201). */
async function declareThings(url: string): Promise<{ status: number; body: any }> {
  const rt = await request(url, "POST", "/apis/setpoint.dev/v1/resourcetypes", {
    apiVersion: "setpoint.dev/v1",
    kind: "ResourceType",
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: { group: GROUP, version: "v1", kind: "Thing", plural: PLURAL, scope: "Namespaced" },
  });
  assert.equal(rt.status, 201, JSON.stringify(rt.body));
  return rt;
}

function watch(url: string, from: number) {
  const events: WireEvent[] = [];
  let lastRevision = from;
  let ended = false;
  const waiters = new Set<() => void>();
  const ac = new AbortController();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const done = (async () => {
    try {
      const res = await fetch(`${url}${LIST}?watch=true&allowWatchBookmarks=true&resourceVersion=${from}`, { signal: ac.signal });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const e = JSON.parse(buf.slice(0, nl)) as WireEvent;
          buf = buf.slice(nl + 1);
          assert.notEqual(e.type, "ERROR", JSON.stringify(e));
          events.push(e);
          lastRevision = Math.max(lastRevision, rvOf(e.object));
          wake();
        }
      }
    } catch {
      // the server died or we aborted
    } finally {
      ended = true;
      wake();
    }
  })();
  return {
    events,
    get lastRevision() {
      return lastRevision;
    },
    get ended() {
      return ended;
    },
    done,
    stop: () => ac.abort(),
    until(condition: () => boolean, what: string): Promise<void> {
      if (condition()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`watch: timed out waiting for ${what}; ${events.length} events, last revision ${lastRevision}`));
        }, DEADLINE_MS);
        waiters.add(check);
      });
    },
  };
}

describe("crash", () => {
  it("SIGKILL during concurrent creates: acknowledged writes survive, revisions are unique, a resumed watch misses nothing", { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-crash-test-"));
    const children: ChildProcess[] = [];
    try {
      // 1. Start, create the type, start watching.
      let server = await startChildServer(dataDir, ["--log-level", "info"], { healthz: true });
      children.push(server.child);
      const rt = await declareThings(server.url);
      const typeRevision = rvOf(rt.body as Obj);
      const before = watch(server.url, typeRevision);

      // 2. Concurrent creates: 16 in flight, at most 2000, SIGKILL once 600 are acknowledged.
      const TOTAL = 2000;
      const KILL_AFTER = 600;
      const acked = new Map<string, { uid: string; rv: number }>();
      let next = 0;
      let killed = false;
      const stopAt = Date.now() + 60_000;
      const worker = async () => {
        while (next < TOTAL && Date.now() < stopAt) {
          const name = `t${next++}`;
          let res;
          try {
            res = await request(server.url, "POST", LIST, { apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec: { i: name } });
          } catch {
            return; // the server is gone: this create's outcome is unknown
          }
          assert.equal(res.status, 201, JSON.stringify(res.body));
          const o = res.body as Obj;
          acked.set(name, { uid: o.metadata.uid, rv: rvOf(o) });
          if (acked.size >= KILL_AFTER && !killed) {
            killed = true;
            server.child.kill("SIGKILL");
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      assert.ok(killed, `the server was killed (acknowledged ${acked.size})`);
      assert.equal(await server.exited, null, "killed by a signal");
      await before.done;
      assert.ok(acked.size >= KILL_AFTER && acked.size < TOTAL, `acknowledged ${acked.size}`);
      const lastSeen = before.lastRevision;
      const seenBefore = before.events.filter((e) => e.type !== "BOOKMARK");
      assert.ok(seenBefore.length > 0, "the watcher saw changes before the crash");

      // 3. Restart on the same directory.
      server = await startChildServer(dataDir, ["--log-level", "info"], { healthz: true });
      children.push(server.child);
      const list = await request(server.url, "GET", LIST);
      assert.equal(list.status, 200);
      const items = (list.body as { items: Obj[] }).items;
      const listRevision = Number((list.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
      const byName = new Map(items.map((o) => [o.metadata.name, o]));

      // Every acknowledged create is there, unchanged.
      for (const [name, want] of acked) {
        const o = byName.get(name);
        assert.ok(o, `acknowledged ${name} (rv ${want.rv}) is missing after the crash`);
        assert.equal(rvOf(o), want.rv, `${name}: resourceVersion`);
        assert.equal(o.metadata.uid, want.uid, `${name}: uid`);
      }
      // Nothing a watcher saw is lost (SIGKILL keeps every commit: they are in the page cache).
      for (const e of seenBefore) {
        const o = byName.get(e.object.metadata.name);
        assert.ok(o, `${e.object.metadata.name} was watched at ${rvOf(e.object)} but is gone`);
        assert.equal(rvOf(o), rvOf(e.object));
      }
      assert.ok(lastSeen <= listRevision, `watched up to ${lastSeen}, but the head after restart is ${listRevision}`);
      // Revisions are unique, and the objects' revisions are exactly the log's.
      const revisions = items.map(rvOf);
      assert.equal(new Set(revisions).size, revisions.length, "revisions are unique");
      assert.ok(revisions.every((r) => r > typeRevision && r <= listRevision));
      assert.equal(listRevision, typeRevision + items.length, "one revision per create, no gaps");

      // 4. Resume from the last revision seen: every later change once, in order.
      const resumed = watch(server.url, lastSeen);
      const barrier = await request(server.url, "POST", LIST, { apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name: "barrier" }, spec: {} });
      assert.equal(barrier.status, 201);
      const barrierRevision = rvOf(barrier.body as Obj);
      await resumed.until(() => resumed.events.some((e) => e.object.metadata.name === "barrier"), "the barrier object");
      const expected = items
        .filter((o) => rvOf(o) > lastSeen)
        .sort((a, b) => rvOf(a) - rvOf(b))
        .map((o) => `ADDED ${o.metadata.name} ${o.metadata.resourceVersion}`);
      expected.push(`ADDED barrier ${barrierRevision}`);
      const gotEvents = resumed.events
        .filter((e) => e.type !== "BOOKMARK")
        .map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
      assert.deepEqual(gotEvents, expected);
      // And a watch from the type's creation replays the whole history, gap-free.
      const full = watch(server.url, typeRevision);
      await full.until(() => full.events.some((e) => e.object.metadata.name === "barrier"), "the full replay");
      const fullRevisions = full.events.filter((e) => e.type !== "BOOKMARK").map((e) => rvOf(e.object));
      assert.deepEqual(
        fullRevisions,
        Array.from({ length: barrierRevision - typeRevision }, (_, i) => typeRevision + 1 + i),
      );
      resumed.stop();
      full.stop();

      // 5. A graceful stop exits 0.
      server.child.kill("SIGTERM");
      const exitTimer = setTimeout(() => server.child.kill("SIGKILL"), DEADLINE_MS);
      const code = await server.exited;
      clearTimeout(exitTimer);
      assert.equal(code, 0, server.output());
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
  it("--workers 2: SIGKILL of a worker, then of the primary, during concurrent creates, patches and deletes: every acknowledged outcome is there, nothing else", {
    timeout: 240_000,
  }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-crash-workers-"));
    const children: ChildProcess[] = [];
    const childPids = (pid: number): number[] => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    try {
      let server = await startChildServer(dataDir, ["--workers", "2"], { healthz: true });
      children.push(server.child);
      await declareThings(server.url);
      const deadline = Date.now() + DEADLINE_MS;
      const workers = () => childPids(server.child.pid!);
      while (workers().length < 2) {
        assert.ok(Date.now() < deadline, "two workers");
        await new Promise((r) => setTimeout(r, 20));
      }

      // What each name must be after the crash: `want` once its last write was
      // acknowledged; `either` when a write was in flight at a kill (its outcome unknown).
      type State = { present: false } | { present: true; v: number; rv: number };
      const want = new Map<string, State>();
      const either = new Map<string, [State, State]>();
      let acked = 0;
      const phase = { killedPrimary: false };
      const stopAt = Date.now() + 90_000;
      /** One write; its answer, or undefined if the connection failed (the server or a worker died). */
      const write = async (method: string, path: string, body: unknown, patch = false) => {
        try {
          const res = await fetch(server.url + path, {
            method,
            headers: { "content-type": patch ? "application/merge-patch+json" : "application/json" },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(DEADLINE_MS),
          });
          const text = await res.text();
          return { status: res.status, body: text ? JSON.parse(text) : undefined };
        } catch {
          return undefined;
        }
      };
      const loop = async (id: number) => {
        for (let n = 0; !phase.killedPrimary && Date.now() < stopAt; n++) {
          const name = `w${id}-${n}`;
          let current: State = { present: false };
          const steps: Array<{ method: string; path: string; body: unknown; patch?: boolean; v?: number }> = [
            { method: "POST", path: LIST, body: { apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec: { v: 0 } }, v: 0 },
            { method: "PATCH", path: `${LIST}/${name}`, body: { spec: { v: 1 } }, patch: true, v: 1 },
            { method: "PATCH", path: `${LIST}/${name}`, body: { spec: { v: 2 } }, patch: true, v: 2 },
          ];
          if (n % 2 === 0) steps.push({ method: "DELETE", path: `${LIST}/${name}`, body: {} });
          for (const step of steps) {
            if (phase.killedPrimary) break;
            const res = await write(step.method, step.path, step.body, step.patch);
            if (res === undefined) {
              // In flight at a kill: applied or not, either is right.
              const intended: State = step.v === undefined ? { present: false } : { present: true, v: step.v, rv: 0 };
              either.set(name, [current, intended]);
              want.delete(name);
              break;
            }
            assert.ok(res.status === 200 || res.status === 201, `${step.method} ${name}: ${res.status} ${JSON.stringify(res.body)}`);
            current = step.v === undefined ? { present: false } : { present: true, v: step.v, rv: rvOf(res.body as Obj) };
            want.set(name, current);
            acked++;
          }
        }
      };
      const loops = Array.from({ length: 12 }, (_, i) => loop(i));

      // Kill one worker once 300 writes are acknowledged, the primary once 300 more are.
      const waitAcked = async (n: number) => {
        while (acked < n) {
          // The primary dying on its own (as when a notice it relayed to the killed worker threw at it) ends the service whole.
          assert.ok(server.child.exitCode === null && server.child.signalCode === null, `the primary exited on its own: ${server.output().slice(-2000)}`);
          assert.ok(Date.now() < stopAt, `only ${acked} writes acknowledged`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      await waitAcked(300);
      const [victim] = workers();
      process.kill(victim!, "SIGKILL");
      await waitAcked(acked + 300);
      const last = workers();
      phase.killedPrimary = true; // no write starts after this; those in flight finish either way
      server.child.kill("SIGKILL");
      await server.exited;
      // Its workers exit on their own once the primary is gone; until then they may still acknowledge writes.
      while (last.some((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "))) {
        assert.ok(Date.now() < stopAt + DEADLINE_MS, "the workers exit after the primary");
        await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(loops);
      assert.ok(acked >= 600, `acknowledged ${acked}`);

      // Restart: every acknowledged outcome is there, and nothing that was never written.
      server = await startChildServer(dataDir, ["--workers", "1"], { healthz: true });
      children.push(server.child);
      const list = await request(server.url, "GET", LIST);
      assert.equal(list.status, 200);
      const items = (list.body as { items: Array<Obj & { spec: { v: number } }> }).items;
      const byName = new Map(items.map((o) => [o.metadata.name, o]));
      const matches = (o: (Obj & { spec: { v: number } }) | undefined, s: State, exactRv: boolean) =>
        s.present ? o !== undefined && o.spec.v === s.v && (!exactRv || rvOf(o) === s.rv) : o === undefined;
      for (const [name, s] of want)
        assert.ok(matches(byName.get(name), s, true), `${name}: want ${JSON.stringify(s)}, got ${JSON.stringify(byName.get(name))}`);
      for (const [name, [before, intended]] of either) {
        const o = byName.get(name);
        assert.ok(
          matches(o, before, true) || matches(o, intended, false),
          `${name}: want ${JSON.stringify(before)} or ${JSON.stringify(intended)}, got ${JSON.stringify(o)}`,
        );
      }
      for (const name of byName.keys()) assert.ok(want.has(name) || either.has(name), `${name} is there but was never written`);
      const revisions = items.map(rvOf);
      assert.equal(new Set(revisions).size, revisions.length, "revisions are unique");
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.output());
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
