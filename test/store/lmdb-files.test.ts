// A data directory whose files LMDB cannot use (src/store/lmdb-files.ts), on
// the real server process: a data.mdb that is not LMDB's, of another LMDB data
// version, cut short or empty, a store file that is a directory, and (as a
// user other than root) one this user may not write. Each gets one `error:`
// line saying which file and what to do, exit 2, and every file is left byte
// for byte as it was. Before, lmdb-js ended the process with a segmentation
// fault (not LMDB's file, another version) or a bus error (cut short), with no
// word, and the empty data.mdb was silently taken for a new store.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openLmdbStore } from "../../src/store.ts";
import { startChildServer } from "../helpers/child-server.ts";
import { runSetpoint, type CliResult } from "../helpers/cli.ts";
import { nodeEntry } from "../helpers/node-entry.ts";

let dir: string;
/** A store holding 300 objects of 4 KiB, closed: copied for each case. */
let base: string;
/** The byte where the newest of data.mdb's two meta pages says its pages end. */
let pagesEnd: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "setpoint-lmdb-files-"));
  chmodSync(dir, 0o755);
  base = join(dir, "base");
  const store = openLmdbStore(base, { pollIntervalMs: 0 });
  try {
    const filler = "x".repeat(4096);
    for (let i = 0; i < 300; i++) {
      await store.write({ type: "things", namespace: "default", name: `t${i}` }, () => ({ op: "put", object: JSON.stringify({ filler }) }));
    }
  } finally {
    await store.close();
  }
  const data = readFileSync(join(base, "data.mdb"));
  const metas = [0, 4096].map((at) => ({ lastPage: data.readBigUInt64LE(at + 144), txnid: data.readBigUInt64LE(at + 152) }));
  const newest = metas[0]!.txnid > metas[1]!.txnid ? metas[0]! : metas[1]!;
  pagesEnd = (Number(newest.lastPage) + 1) * 4096;
  assert.ok(pagesEnd > 2.2 * 1024 * 1024, `the store's pages end at ${pagesEnd}: too few for a cut to half to pass the 1 MiB margin`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh copy of the base store, damaged by `damage`. */
function damaged(name: string, damage: (copy: string) => void): string {
  const copy = join(dir, name);
  cpSync(base, copy, { recursive: true });
  damage(copy);
  return copy;
}

/** Every file under `d` (recursively) with the hash of its bytes, or "dir". */
function snapshot(d: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(d, { recursive: true }) as string[]) {
    const path = join(d, entry);
    out[entry] = statSync(path).isDirectory() ? "dir" : createHash("sha256").update(readFileSync(path)).digest("hex");
  }
  return out;
}

/** Asserts one `error:` line naming the directory and matching `why`, exit 2, no stack trace. */
function refused(r: CliResult, data: string, why: RegExp): void {
  const context = `exit ${r.code} signal ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 2, context);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, context);
  assert.doesNotMatch(r.stderr, /^\s+at /m, context);
  assert.ok(r.stderr.startsWith(`error: the data directory ${data} cannot be used: `), context);
  assert.match(r.stderr, why, context);
}

const cases: Array<{ name: string; damage: (d: string) => void; why: RegExp }> = [
  {
    name: "garbage",
    damage: (d) => writeFileSync(join(d, "data.mdb"), Buffer.alloc(100_000, 0x5a)),
    why: /its data\.mdb is not an LMDB data file this release can read \(no LMDB header at byte 0\): restore the data directory from a backup/,
  },
  {
    name: "a few bytes",
    damage: (d) => writeFileSync(join(d, "data.mdb"), "not lmdb\n"),
    why: /its data\.mdb is not an LMDB data file this release can read \(a partial header page at byte 0\)/,
  },
  {
    name: "another LMDB data version",
    damage: (d) => {
      const path = join(d, "data.mdb");
      const bytes = readFileSync(path);
      bytes.writeUInt32LE(1, 28);
      bytes.writeUInt32LE(1, 4096 + 28);
      writeFileSync(path, bytes);
    },
    why: /\(LMDB data version 1, where this release reads version 2\)/,
  },
  {
    name: "cut to half its pages",
    damage: (d) => truncateSync(join(d, "data.mdb"), Math.floor(pagesEnd / 2)),
    why: /its data\.mdb is cut short: \d+ bytes, but LMDB's header says its pages run to \d+ bytes/,
  },
  {
    name: "cut after its header pages",
    damage: (d) => truncateSync(join(d, "data.mdb"), 3 * 4096),
    why: /its data\.mdb is cut short: 12288 bytes/,
  },
  {
    name: "empty",
    damage: (d) => truncateSync(join(d, "data.mdb"), 0),
    why: /its data\.mdb is empty \(0 bytes\).*if the store never held anything, delete data\.mdb$/m,
  },
  {
    name: "a write-ahead log segment that is a directory",
    damage: (d) => {
      rmSync(join(d, "wal-1"));
      mkdirSync(join(d, "wal-1"));
    },
    why: /its wal-1 is not a regular file: move it away/,
  },
];

describe("a data directory whose files LMDB cannot use", () => {
  it("one line saying which file and what to do, exit 2, every file unchanged (one worker and two)", async () => {
    const runs = cases.flatMap((c, i) =>
      (i === 0 || i === 3 ? ["1", "2"] : ["1"]).map((workers) => {
        const data = damaged(`${i}-${workers}`, c.damage);
        return { c, data, workers, files: snapshot(data) };
      }),
    );
    const results = await Promise.all(
      runs.map(({ data, workers }) => runSetpoint(["server", "--workers", workers, "--http-port", "0", "--grpc-port", "-1", "--data-dir", data])),
    );
    results.forEach((r, i) => {
      const { c, data, workers, files } = runs[i]!;
      refused(r, data, c.why);
      assert.deepEqual(snapshot(data), files, `${c.name} (--workers ${workers}): the files changed`);
    });
  });

  it("setpoint up says the same", async () => {
    const data = damaged("up", cases[0]!.damage);
    const r = await runSetpoint(["up", "--http-port", "0", "--grpc-port", "0", "--data-dir", data]);
    refused(r, data, cases[0]!.why);
  });

  it("a sound copy of the same store opens, with every object (the checks pass it)", async () => {
    const data = damaged("sound", () => {});
    const store = openLmdbStore(data, { pollIntervalMs: 0 });
    try {
      assert.equal(store.head(), 300);
      for (const name of ["t0", "t150", "t299"]) assert.ok(store.get({ type: "things", namespace: "default", name }), name);
    } finally {
      await store.close();
    }
  });

  it("a data.mdb this user may not write (a user other than root): names the file, its owner and mode", {
    skip: process.getuid?.() !== 0 && "needs root to run as another user",
  }, async () => {
    const data = damaged("perm", (d) => {
      chmodSync(d, 0o777);
      chmodSync(join(d, "lock.mdb"), 0o666);
      chmodSync(join(d, "data.mdb"), 0o600);
    });
    const files = snapshot(data);
    const child = spawn(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        ...nodeEntry("src/main.ts"),
        "--workers",
        "1",
        "--http-port",
        "0",
        "--grpc-port",
        "-1",
        "--data-dir",
        data,
      ],
      { cwd: join(import.meta.dirname, "../.."), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
    clearTimeout(timer);
    refused(
      { code, signal, stdout, stderr },
      data,
      /this user \(uid 65534\) may not read and write its data\.mdb \(owner uid 0, mode 0600\): run the server as the owner/,
    );
    assert.deepEqual(snapshot(data), files);
  });

  it("an empty data.mdb left by a first start killed before LMDB wrote its header pages opens as a new store", async () => {
    // What a first start killed right after LMDB created data.mdb leaves (seen
    // by killing a real server with strace at its first write to data.mdb):
    // data.mdb of 0 bytes and lock.mdb, no write-ahead log, no openers folder.
    // Nothing was ever acknowledged. LMDB re-initialises a lock file no live
    // process holds, so its bytes do not matter here. Before, this was refused
    // as "every object it held is gone", and the server never started again.
    const data = join(dir, "killed-first-start");
    mkdirSync(data);
    writeFileSync(join(data, "data.mdb"), "");
    writeFileSync(join(data, "lock.mdb"), Buffer.alloc(8272));
    const type = {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: "things.first.example" },
      spec: { group: "first.example", version: "v1", kind: "Thing", plural: "things", scope: "Namespaced" },
    };
    const first = await startChildServer(data, ["--workers", "1"]);
    try {
      const res = await fetch(`${first.url}/apis/setpoint.dev/v1/resourcetypes`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(type),
      });
      assert.equal(res.status, 201, await res.text());
    } finally {
      first.child.kill("SIGTERM");
      await first.exited;
    }
    assert.ok(statSync(join(data, "data.mdb")).size > 0);
    const second = await startChildServer(data, ["--workers", "1"]);
    try {
      const res = await fetch(`${second.url}/apis/setpoint.dev/v1/resourcetypes/things.first.example`);
      assert.equal(res.status, 200, await res.text());
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }
  });
});
