// The openers of a data directory (src/store/openers.ts): each announces
// itself with a file, learns of the others through the folder's watch, and
// removes its file on close; files of this host's dead processes are removed
// at open.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { OPENERS_DIR, watchOpeners } from "../../src/store/openers.ts";

const DEADLINE_MS = 10_000;

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "setpoint-openers-test-"));
}

/** A pid that ran here and has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  assert.ok(r.pid > 0);
  return r.pid;
}

describe("openers of a data directory", () => {
  it("alone, then another opener, then alone again when it closes; each file goes with its opener", async () => {
    const dir = tempDir();
    try {
      const seen: boolean[] = [];
      const first = watchOpeners(dir, (others) => seen.push(others));
      assert.deepEqual(seen, [false], "told at once: alone");
      assert.equal(readdirSync(join(dir, OPENERS_DIR)).length, 1);

      const seenBySecond: boolean[] = [];
      const second = watchOpeners(dir, (others) => seenBySecond.push(others));
      assert.deepEqual(seenBySecond, [true], "the newcomer finds the first at once");
      await until("the first to learn of the second", () => seen.at(-1) === true);

      second.close();
      await until("the first to be alone again", () => seen.at(-1) === false);
      assert.deepEqual(seen, [false, true, false], "told only of changes");
      first.close();
      assert.deepEqual(readdirSync(join(dir, OPENERS_DIR)), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("removes the file of a dead process of this host at open; keeps another host's", () => {
    const dir = tempDir();
    try {
      const folder = join(dir, OPENERS_DIR);
      mkdirSync(folder);
      const host = hostname().replace(/[^A-Za-z0-9_.]/g, "_") || "host";
      const stale = `${host}-${deadPid()}-0000abcd`;
      writeFileSync(join(folder, stale), "");
      const seen: boolean[] = [];
      const alone = watchOpeners(dir, (others) => seen.push(others));
      assert.deepEqual(seen, [false]);
      assert.equal(existsSync(join(folder, stale)), false, "the dead process's file is gone");
      alone.close();

      const elsewhere = "another-host.example-1-0000abcd";
      writeFileSync(join(folder, elsewhere), "");
      const seen2: boolean[] = [];
      const withOther = watchOpeners(dir, (others) => seen2.push(others));
      assert.deepEqual(seen2, [true], "another host's opener is taken to be alive");
      assert.equal(existsSync(join(folder, elsewhere)), true);
      withOther.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes others to be there for good when the folder cannot be made", () => {
    const dir = tempDir();
    try {
      const file = join(dir, "not-a-dir");
      writeFileSync(file, "");
      const seen: boolean[] = [];
      const openers = watchOpeners(file, (others) => seen.push(others));
      assert.deepEqual(seen, [true]);
      openers.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
