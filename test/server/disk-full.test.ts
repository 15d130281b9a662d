// Running out of space (API.md §4 `InsufficientStorage`), the way etcd's
// NOSPACE alarm works: fill the store until writes get 507, check that reads,
// watches, deletes and compaction keep working, that the alarm shows in
// /readyz and /metrics and clears by itself once there is room, and that a
// restart loses nothing acknowledged.
//
// Two ways to run out: the quota (--quota-backend-bytes; any machine, in
// process, on the manual clock), and a real full disk: a small tmpfs the test
// mounts (needs root and `mount`; skipped with the reason otherwise) under the
// real server process, which must survive every failed commit.

import assert from "node:assert/strict";
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.ts";
import { startChildServer } from "../helpers/child-server.ts";
import { api, assertStatus, createType, startTestServer, watchUntil, type ApiClient } from "../helpers/server.ts";

const DEADLINE_MS = 60_000;
const GROUP = "space.example.com";
const MiB = 1024 * 1024;

const thing = (name: string, bytes: number) => ({
  apiVersion: `${GROUP}/v1`,
  kind: "Thing",
  metadata: { name },
  spec: { payload: "x".repeat(bytes) },
});

/** Creates things until one gets 507 (at most `max`); returns the acknowledged ones (name → resourceVersion) and the 507. */
async function fill(c: ApiClient, list: string, bytes: number, max: number, concurrency = 1) {
  const acknowledged = new Map<string, string>();
  let refused: Awaited<ReturnType<ApiClient["post"]>> | undefined;
  let next = 0;
  const worker = async () => {
    while (!refused && next < max) {
      const name = `t-${next++}`;
      const res = await c.post(list, thing(name, bytes));
      if (res.status === 201) acknowledged.set(name, res.body.metadata.resourceVersion);
      else if (res.status === 507) refused ??= res;
      else assert.fail(`create ${name}: ${res.status} ${res.text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { acknowledged, refused };
}

async function metric(c: ApiClient, line: RegExp): Promise<number> {
  const text = (await c.get("/metrics")).text;
  const m = line.exec(text);
  assert.ok(m, `no ${line} in /metrics`);
  return Number(m[1]);
}

/** After a restart: every acknowledged object is there at its acknowledged revision, and nothing deleted came back. */
async function assertKept(c: ApiClient, list: string, kept: Map<string, string>, deleted: Set<string>) {
  const res = await c.get(list);
  assert.equal(res.status, 200);
  const found = new Map<string, string>((res.body.items as any[]).map((o) => [o.metadata.name, o.metadata.resourceVersion]));
  for (const [name, rv] of kept) assert.equal(found.get(name), rv, `acknowledged ${name}@${rv} after restart`);
  for (const name of deleted) assert.equal(found.has(name), false, `deleted ${name} came back`);
}

describe("a store past its quota", () => {
  it("refuses writes with 507 while reads, watches, deletes and compaction go on; the alarm clears by itself; a restart loses nothing", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-quota-"));
    const clock = new ManualClock(Date.now());
    const options = { dataDir, quotaBackendBytes: 2 * MiB, historyWindowMs: 10_000, historyMinEvents: 100_000 };
    let s = await startTestServer(options, { clock });
    try {
      const c = api(s.url);
      const prefix = await createType(c, { group: GROUP, kind: "Thing", plural: "things" });
      const list = `${prefix}/namespaces/default/things`;
      const { acknowledged, refused } = await fill(c, list, 20_000, 500);
      assert.ok(refused, "the quota was never reached");
      assert.ok(acknowledged.size > 10, `only ${acknowledged.size} creates fitted`);
      assertStatus(refused, 507, "InsufficientStorage");
      assert.match(refused.body.message, /past its quota.*reads, watches and deletes still work/);

      // Every write that adds data is refused, on any verb.
      assertStatus(await c.post(list, thing("late", 10)), 507, "InsufficientStorage");
      assertStatus(await c.patch(`${list}/t-0`, { spec: { more: 1 } }), 507, "InsufficientStorage");
      // Reads and watches work.
      assert.equal((await c.get(`${list}/t-0`)).status, 200);
      assert.equal((await c.get(list)).body.items.length, acknowledged.size);
      const seen = await watchUntil(`${s.url}${list}?watch=true&fieldSelector=metadata.name%3Dt-1`, (e) => e.type === "ADDED");
      assert.equal(seen.object.metadata.name, "t-1");
      // The alarm shows in /readyz (still ready: reads and deletes are served) and /metrics.
      const ready = await c.get("/readyz");
      assert.equal(ready.status, 200);
      assert.match(ready.text, /store space alarm \(quota\)/);
      assert.equal(await metric(c, /^setpoint_store_alarm\{kind="quota"\} (\d+)$/m), 1);
      assert.ok((await metric(c, /^setpoint_store_used_bytes (\d+)$/m)) > 2 * MiB);

      // Deletes go through; the history they leave is compacted once it is older than the window.
      const deleted = new Set<string>();
      for (const name of [...acknowledged.keys()].slice(0, Math.ceil(acknowledged.size / 2))) {
        const res = await c.del(`${list}/${name}`);
        assert.equal(res.status, 200, `delete ${name} under the alarm: ${res.text.slice(0, 200)}`);
        acknowledged.delete(name);
        deleted.add(name);
      }
      const compactedBefore = s.server.store.compacted();
      clock.advance(10_000);
      const deadline = Date.now() + DEADLINE_MS;
      while (s.server.store.compacted() === compactedBefore) {
        assert.ok(Date.now() < deadline, "compaction never ran");
        clock.advance(1000); // the next compaction pass, once the last one is done
        await new Promise((r) => setTimeout(r, 20));
      }
      // Room again: the alarm has cleared by itself and writes are accepted.
      const again = await c.post(list, thing("again", 20_000));
      assert.equal(again.status, 201, again.text.slice(0, 300));
      acknowledged.set("again", again.body.metadata.resourceVersion);
      assert.equal((await c.get("/readyz")).text, "ok");
      assert.equal(await metric(c, /^setpoint_store_alarm\{kind="quota"\} (\d+)$/m), 0);

      await s.stop();
      s = await startTestServer(options, { clock });
      await assertKept(api(s.url), list, acknowledged, deleted);
    } finally {
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Mounts a tmpfs of `bytes` at a fresh directory; the reason, where that is not possible. */
function mountTmpfs(bytes: number): { dir: string; unmount: () => void } | string {
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  const dir = mkdtempSync(join(tmpdir(), "setpoint-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here: ${(err as Error).message.split("\n")[0]}`;
  }
  return {
    dir,
    unmount() {
      execFileSync("umount", [dir], { stdio: "pipe" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function stopChild(p: { child: ChildProcess; exited: Promise<number | null> }): Promise<number | null> {
  p.child.kill("SIGTERM");
  return p.exited;
}

/** Retries `attempt` until it answers other than 507 (deadline-polling: space comes back when compaction runs). */
async function untilRoom(what: string, attempt: () => Promise<{ status: number; text: string }>) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const res = await attempt();
    if (res.status !== 507) return res;
    assert.ok(Date.now() < deadline, `${what}: still 507 after ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("a full disk", () => {
  it("is answered with 507, never ends the process, and recovers by itself once deletes and compaction make room", async (t) => {
    const mounted = mountTmpfs(24 * MiB);
    if (typeof mounted === "string") return t.skip(mounted);
    const dataDir = join(mounted.dir, "data");
    mkdirSync(dataDir);
    // A long history window first: nothing is compacted, so the disk stays full until the test says.
    let p = await startChildServer(dataDir, ["--history-window", "1h", "--workers", "1"]);
    try {
      const c = api(p.url);
      const prefix = await createType(c, { group: GROUP, kind: "Thing", plural: "things" });
      const list = `${prefix}/namespaces/default/things`;
      // Four writers at once, so whole group commits may fail together.
      const { acknowledged, refused } = await fill(c, list, 50_000, 2000, 4);
      assert.ok(refused, "the disk never filled");
      assertStatus(refused, 507, "InsufficientStorage");
      assert.match(refused.body.message, /disk holding the data directory is full/);
      // Writes were refused once they reached the reserve, not well into it:
      // at most one group commit (four 50 kB creates, ~0.6 MiB with their log
      // records) got past the look that raised the alarm. (When a commit's
      // estimate missed the write-ahead log's growth and the monitor looked
      // only every 100 ms, 2.7–3.5 MiB were left, once 0.1 MiB.)
      const left = Number(/full \(([\d.]+) MiB left, 4\.0 MiB kept/.exec(refused.body.message)?.[1]);
      assert.ok(left >= 3.2, refused.body.message);
      // Still alive and serving; the alarm shows.
      assert.equal((await c.get("/healthz")).status, 200);
      assert.equal((await c.get(list)).body.items.length, acknowledged.size);
      assert.match((await c.get("/readyz")).text, /store space alarm \(disk-full\)/);
      assert.equal(await metric(c, /^setpoint_store_alarm\{kind="disk-full"\} (\d+)$/m), 1);

      // Something else takes the reserve: now even a delete's commit fails. It is answered, logged once and counted.
      const filler = join(mounted.dir, "filler");
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=64k"], { stdio: "pipe" });
      } catch {
        // dd stops with "No space left on device": that is the point
      }
      const victim = [...acknowledged.keys()][0]!;
      const failed = await c.del(`${list}/${victim}`);
      assertStatus(failed, 507, "InsufficientStorage");
      // It says how much room there is now, not what there was when the alarm was raised.
      assert.match(failed.body.message, /full \(0\.\d MiB left/);
      assert.equal((await c.get("/healthz")).status, 200);
      const failures = await metric(c, /^setpoint_store_commit_failures_total (\d+)$/m);
      assert.ok(failures >= 1, "the delete's commit did not fail");
      // The log line travels through a pipe: wait for it, then check there is exactly one per failed commit.
      const logged = () =>
        p
          .output()
          .split("\n")
          .filter((l) => l.includes("store commit failed")).length;
      const deadline = Date.now() + DEADLINE_MS;
      while (logged() < failures && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(logged(), failures);
      // lmdb-js's own print of the failure (error and stack) is held back and dropped: that log line is the one report.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!/^\s+at .*lmdb[\\/]write\.js/m.test(p.output()), p.output());
      rmSync(filler);

      // With the reserve back, deletes go through one after the other (creates
      // are still refused): as many as a user cleaning up one object at a time
      // needs. A delete's history record holds one copy of the object (its
      // last state is rebuilt from the one before), which fits in the pages
      // the object itself left free one commit earlier: measured, the first
      // two of these 50 kB deletes take 52 KiB each and the rest none. With
      // both copies a delete took 100 KiB, so the 3.2-3.9 MiB left held at
      // most 39 of these 60.
      const deleted = new Set<string>();
      for (const name of [...acknowledged.keys()].slice(0, 60)) {
        const res = await c.del(`${list}/${name}`);
        assert.equal(res.status, 200, `delete ${name}: ${res.text.slice(0, 200)}`);
        acknowledged.delete(name);
        deleted.add(name);
      }
      assertStatus(await c.post(list, thing("refused", 10)), 507, "InsufficientStorage");

      // Restart with a short history window: nothing acknowledged is lost, and
      // compaction frees the old history, so the alarm clears by itself.
      assert.equal(await stopChild(p), 0, p.output());
      assert.ok(!/unhandled|uncaught/i.test(p.output()), p.output());
      p = await startChildServer(dataDir, ["--history-window", "1s", "--workers", "1"]);
      const c2 = api(p.url);
      await assertKept(c2, list, acknowledged, deleted);
      const again = await untilRoom("create after deletes", () => c2.post(list, thing("again", 50_000)));
      assert.equal(again.status, 201, again.text.slice(0, 300));
      acknowledged.set("again", JSON.parse(again.text).metadata.resourceVersion);
      assert.equal(await metric(c2, /^setpoint_store_alarm\{kind="disk-full"\} (\d+)$/m), 0);
      assert.equal((await c2.get("/readyz")).text, "ok");
      await assertKept(c2, list, acknowledged, deleted);
    } finally {
      await stopChild(p);
      mounted.unmount();
    }
  });
});
