// The LMDB store: the shared Store contract on a fresh temp directory per
// test, plus what only this backend has: relaxed durability, polling off,
// and a second OS process writing to the same directory.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ManualClock } from "../../src/clock.ts";
import { openLmdbStore, type LmdbStoreOptions, type ObjectKey, type Store } from "../../src/store.ts";
import { runStoreContract, waitForCommit, type MakeStoreOptions, type StoreFixture } from "./contract.ts";
import { nodeModule } from "../helpers/node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const LMDB_MODULE = nodeModule(fileURLToPath(new URL("../../src/store/lmdb.ts", import.meta.url)));
const DEADLINE_MS = 15_000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "setpoint-lmdb-test-"));
}

/** A store on a fresh directory; reopen and peers use the same directory, cleanup removes it. */
async function makeLmdbStore(options: MakeStoreOptions, extra: LmdbStoreOptions = {}): Promise<StoreFixture> {
  const dir = tempDir();
  const open = () => openLmdbStore(dir, { now: options.now, pollIntervalMs: 5, ...extra });
  const openStores = new Set<Store>();
  let main = open();
  openStores.add(main);
  return {
    store: main,
    async reopen() {
      openStores.delete(main);
      await main.close();
      main = open();
      openStores.add(main);
      return main;
    },
    async openPeer() {
      const peer = open();
      openStores.add(peer);
      return peer;
    },
    async cleanup() {
      for (const s of openStores) await s.close();
      openStores.clear();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

runStoreContract("lmdb", (options) => makeLmdbStore(options));
runStoreContract("lmdb (durable: false)", (options) => makeLmdbStore(options, { durable: false }));

const counter: ObjectKey = { type: "counters.example.com", namespace: "default", name: "c" };

/** Read-increment-write of the shared counter, recording who wrote. */
function increment(store: Store, by: string) {
  return store.write(counter, (current, revision) => {
    const n = current ? (JSON.parse(current.json) as { n: number }).n : 0;
    return { op: "put", object: JSON.stringify({ metadata: { resourceVersion: String(revision) }, n: n + 1, by }) };
  });
}

/**
 * A second process with its own store on `dir`. It reads commands from stdin:
 * `inc N` does N sequential increments and answers `done`; `exit` closes and exits.
 */
function startChild(dir: string) {
  const script = `
    const [dir] = process.argv.slice(1);
    import(${JSON.stringify(LMDB_MODULE.url)}).then(async ({ openLmdbStore }) => {
      const store = openLmdbStore(dir, { pollIntervalMs: 0 });
      const key = ${JSON.stringify(counter)};
      const lines = require("node:readline").createInterface({ input: process.stdin });
      process.stdout.write("ready\\n");
      for await (const line of lines) {
        const [cmd, n] = line.split(" ");
        if (cmd === "exit") break;
        for (let i = 0; i < Number(n); i++) {
          await store.write(key, (current, revision) => {
            const count = current ? JSON.parse(current.json).n : 0;
            return { op: "put", object: JSON.stringify({ metadata: { resourceVersion: String(revision) }, n: count + 1, by: "child" }) };
          });
        }
        process.stdout.write("done\\n");
      }
      await store.close();
      process.exit(0);
    }).catch((err) => { console.error(err); process.exit(1); });
  `;
  const child = spawn(process.execPath, [...LMDB_MODULE.execArgv, "-e", script, dir], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const pending: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else pending.push(line);
  });
  return {
    send(line: string) {
      child.stdin.write(line + "\n");
    },
    /** The child's next stdout line, within the deadline. */
    nextLine(what: string): Promise<string> {
      const ready = pending.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child: timed out waiting for ${what}; stderr: ${stderr}`)), DEADLINE_MS);
        waiters.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    },
    async exit(): Promise<number | null> {
      child.stdin.write("exit\n");
      const timer = setTimeout(() => child.kill(), DEADLINE_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill() {
      if (child.exitCode === null) child.kill();
    },
    stderr: () => stderr,
  };
}

describe("lmdb: specifics", () => {
  it("a store written with durable: false is readable after reopening", async () => {
    const dir = tempDir();
    try {
      const relaxed = openLmdbStore(dir, { durable: false, pollIntervalMs: 0 });
      await Promise.all(Array.from({ length: 20 }, () => increment(relaxed, "relaxed")));
      assert.equal(relaxed.head(), 20);
      await relaxed.close();
      const strict = openLmdbStore(dir, { pollIntervalMs: 0 });
      try {
        assert.equal(strict.head(), 20);
        assert.equal((JSON.parse(strict.get(counter)!.json) as { n: number }).n, 20);
        assert.equal(strict.changes(0, 100).length, 20);
      } finally {
        await strict.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a data directory whose name has a dot is a directory, not a file", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "setpoint-lmdb-")), "data.v1");
    const key: ObjectKey = { type: "things.example.com", namespace: "", name: "a" };
    try {
      const store = openLmdbStore(dir);
      await store.write(key, (_current, revision) => ({ op: "put", object: `{"n":${revision}}` }));
      await store.close();
      assert.ok(statSync(dir).isDirectory());
      const again = openLmdbStore(dir);
      assert.equal(again.get(key)?.json, '{"n":1}');
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("with polling off, own commits still notify", async () => {
    const dir = tempDir();
    const store = openLmdbStore(dir, { pollIntervalMs: 0 });
    try {
      let calls = 0;
      store.onCommit(() => calls++);
      await increment(store, "me");
      await waitForCommit(store, { what: "a notification", until: () => calls > 0 });
      assert.equal(store.head(), 1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("looks for other writers' commits on its clock's timer", async () => {
    const dir = tempDir();
    const clock = new ManualClock(1_700_000_000_000);
    const watcher = openLmdbStore(dir, { pollIntervalMs: 50, clock });
    const writer = openLmdbStore(dir, { pollIntervalMs: 0 });
    try {
      let woke = 0;
      watcher.onCommit(() => woke++);
      await increment(writer, "other");
      // Give a stray real timer every chance to fire: only the manual clock may poll.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(woke, 0, "no poll before the clock moves");
      clock.advance(50);
      await waitForCommit(watcher, { what: "the poll's notification", until: () => woke > 0 });
      assert.equal(watcher.head(), 1);
      assert.equal(watcher.changes(0, 10)[0]!.key.name, counter.name);
    } finally {
      await writer.close();
      await watcher.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("another process writing the same directory: gap-free revisions, and this store notices its commits", async (t) => {
    const dir = tempDir();
    const store = openLmdbStore(dir, { pollIntervalMs: 5 });
    const child = startChild(dir);
    try {
      assert.equal(await child.nextLine("ready"), "ready");
      const N = 200;
      child.send(`inc ${N}`);
      for (let i = 0; i < N; i++) await increment(store, "parent");
      assert.equal(await child.nextLine("done"), "done");
      await waitForCommit(store, { what: `head ${2 * N}`, until: () => store.head() === 2 * N });

      const log = store.changes(0, 10 * N);
      assert.deepEqual(
        log.map((c) => c.revision),
        Array.from({ length: 2 * N }, (_, i) => i + 1),
      );
      const writers = { parent: 0, child: 0 };
      let switches = 0;
      for (const [i, c] of log.entries()) {
        const obj = JSON.parse(c.object) as { n: number; by: "parent" | "child" };
        assert.equal(obj.n, c.revision, "each increment saw the previous one, whichever process wrote it");
        writers[obj.by]++;
        if (i > 0 && (JSON.parse(log[i - 1]!.object) as { by: string }).by !== obj.by) switches++;
      }
      assert.deepEqual(writers, { parent: N, child: N });
      assert.equal((JSON.parse(store.get(counter)!.json) as { n: number }).n, 2 * N);
      // Interleaving depends on scheduling; print it, do not assert it.
      t.diagnostic(`${switches} writer switches in ${2 * N} writes`);

      // A commit from the other process alone wakes this store's listeners.
      let woke = 0;
      const off = store.onCommit(() => woke++);
      child.send("inc 1");
      assert.equal(await child.nextLine("done"), "done");
      await waitForCommit(store, { what: "a notification of the child's last commit", until: () => woke > 0 && store.head() === 2 * N + 1 });
      off();
      const [last] = store.changes(2 * N, 10);
      assert.equal((JSON.parse(last!.object) as { by: string }).by, "child");
      assert.equal(await child.exit(), 0, child.stderr());
    } finally {
      child.kill();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
