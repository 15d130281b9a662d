// Reproduces the lmdb-js heap overflow that lets a commit run on the main
// thread only with room written ahead in data.mdb (docs/durability.md,
// "Commit on the main thread"; test/store/main-thread-commit.test.ts shows
// the guarded path never meets it on a full disk).
//
// When LMDB's write of a page fails outright (pwrite returns -1: a full disk,
// an I/O error), lmdb-js's LMDB (3.0.4 to at least 3.5.6,
// dependencies/lmdb/libraries/liblmdb/mdb.c, mdb_page_flush) formats
//   "Attempting to write page at position %u, size %u, blocks %u, buffer sizes %i %i %i"
// into malloc(100). With a large position and size, and iov[1], iov[2] read
// uninitialised, the text is up to 126 bytes: past the 104 usable bytes of the
// chunk, it overwrites the next chunk's size, and glibc aborts later
// ("free(): invalid pointer", "corrupted size vs. prev_size"). On the main
// thread the uninitialised slots hold V8's stack leftovers (9-10 digits), so
// nearly every failed commit overflows; on the write thread they held 0 here.
//
// Needs root (it mounts a 24 MiB tmpfs per run). Runs each way `--runs` times
// in child processes and prints how each ended:
//
//   node scripts/lmdb-flush-overflow.mjs [--runs 3]

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const CHILD = process.env.LMDB_OVERFLOW_CHILD;

if (CHILD) {
  // One run: fill the disk, then commit once more, on the main thread ("sync") or the write thread ("async").
  const { open } = await import("lmdb");
  const dir = process.argv[2];
  const root = open({ path: join(dir, "db"), noMetaSync: true, overlappingSync: false, eventTurnBatching: false, mapSize: 2 ** 30 });
  const db = root.openDB({ name: "objects", encoding: "string" });
  const value = "x".repeat(100_000);
  let i = 0;
  // About 13 MB of data first, so that the failing write's position has 8 digits.
  for (; i < 130; i++) root.transactionSync(() => db.putSync(`k${i}`, value));
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${join(dir, "filler")}`, "bs=4k"], { stdio: "ignore" });
  } catch {
    // "No space left on device": the disk is full, as wanted
  }
  let error;
  try {
    if (CHILD === "sync") root.transactionSync(() => db.putSync(`k${i}`, value));
    else await root.childTransaction(() => db.putSync(`k${i}`, value));
  } catch (err) {
    error = err.commitError
      ? await err.commitError.then(
          () => err,
          (e) => e,
        )
      : err;
  }
  const text = /: (Attempting to write page.*)$/.exec(error?.message ?? "")?.[1];
  process.stdout.write(`${text ? `malloc(100) got ${text.length + 1} bytes` : `no page-write message: ${error?.message}`}\n`);
  // Churn the heap so that glibc walks past the overwritten chunk.
  for (let r = 0; r < 200; r++) {
    const keep = [];
    for (let j = 0; j < 2000; j++) keep.push(Buffer.alloc(64 + (j % 200)));
    globalThis.gc?.();
  }
  process.stdout.write("survived\n");
} else {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
  if (process.getuid?.() !== 0) throw new Error("needs root, to mount a tmpfs");
  for (const mode of ["sync", "async"]) {
    for (let run = 0; run < Number(values.runs); run++) {
      const dir = mkdtempSync(join(tmpdir(), "lmdb-overflow-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dir]);
      try {
        const r = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), dir], {
          env: { ...process.env, LMDB_OVERFLOW_CHILD: mode },
          encoding: "utf8",
        });
        const said = `${r.stdout}${r.stderr}`
          .replace(/Write error:[^\n]*?size \d+/g, "")
          .trim()
          .replace(/\s+/g, " ");
        const commit = mode === "sync" ? "main thread (transactionSync)" : "write thread (childTransaction)";
        process.stdout.write(`${commit}: ${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}: ${said}\n`);
      } finally {
        execFileSync("umount", [dir]);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}
