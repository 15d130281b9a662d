// The LMDB store's key encoding on its hot reads: gets by key, a list of one
// whole type (range scan), lists of one namespace, and paginated lists, on a
// store held in a temp directory (durable: false, so only reads are timed).
// A list at a past revision (1,000 changes back) is timed too. Prints one
// JSON line per measurement on stdout.
//
//   node --import tsx bench/store-keys.ts [--objects 20000] [--name-length 9] [--rounds 5]
//        [--at GIT-REV]
//
// --at times src/store/lmdb.ts as it was at a git revision instead (e.g.
// 379489a, the last with "type\0namespace\0name" string keys), for a
// before/after comparison on the same machine.
//
// --name-length sets how long each object's name is (padded with "x"); with
// long names the old "type\0namespace\0name" string keys lost objects from
// lists, so every line also says how many objects the lists found.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lmdbStoreAt } from "../scripts/lmdb-store-at.ts";
import { openLmdbStore } from "../src/store/lmdb.ts";
import type { ObjectKey, Store } from "../src/store/types.ts";
import { standaloneArgs } from "./lib/options.ts";

const values = standaloneArgs(
  "usage: node --import tsx bench/store-keys.ts [--objects 20000] [--name-length 9] [--rounds 5] [--at GIT-REV]\n\nThe LMDB store's hot reads (gets, lists, pages, a past revision); --at times the store as it was at a git revision. One JSON line per measurement.",
  { objects: "20000", "name-length": "9", rounds: "5", at: undefined },
  ["objects", "name-length", "rounds"],
);
const OBJECTS = Number(values.objects);
const NAME_LENGTH = Number(values["name-length"]);
const ROUNDS = Number(values.rounds);
const TYPE = "pipelineruns.ci.setpoint.dev";
const NAMESPACES = ["default", "team-a", "team-b", "team-c"];
const PAGE = 500;

function keyOf(i: number): ObjectKey {
  const base = `run-${String(i).padStart(5, "0")}`;
  return { type: TYPE, namespace: NAMESPACES[i % NAMESPACES.length]!, name: base.padEnd(NAME_LENGTH, "x") };
}

function emit(workload: string, ops: number, seconds: number, extra: Record<string, unknown>): void {
  const line = {
    bench: "store-keys",
    code: values.at ?? "worktree",
    workload,
    objects: OBJECTS,
    name_length: NAME_LENGTH,
    ops,
    seconds: Number(seconds.toFixed(4)),
    per_second: seconds > 0 ? Math.round(ops / seconds) : null,
    ...extra,
  };
  process.stdout.write(JSON.stringify(line) + "\n");
}

/** Runs `fn` `ROUNDS` times and returns the fastest round's seconds (less noise on a shared machine). */
function best(fn: () => void): number {
  let fastest = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return fastest;
}

async function populate(store: Store): Promise<void> {
  const BATCH = 1000;
  for (let i = 0; i < OBJECTS; i += BATCH) {
    const writes: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(OBJECTS, i + BATCH); j++) {
      const k = keyOf(j);
      writes.push(
        store.write(k, (_c, revision) => ({ op: "put", object: JSON.stringify({ metadata: { ...k, resourceVersion: String(revision) }, spec: { i: j } }) })),
      );
    }
    await Promise.all(writes);
  }
}

const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-keys-"));
const open = values.at ? await lmdbStoreAt(values.at) : openLmdbStore;
const store = open(dir, { durable: false, pollIntervalMs: 0 });
try {
  await populate(store);
  const keys = Array.from({ length: OBJECTS }, (_, i) => keyOf((i * 7919) % OBJECTS));

  let found = 0;
  const getSeconds = best(() => {
    found = 0;
    for (const k of keys) if (store.get(k)) found++;
  });
  emit("get", OBJECTS, getSeconds, { found });

  let listed = 0;
  const listSeconds = best(() => {
    listed = store.list({ type: TYPE }).items.length;
  });
  emit("list-type", listed, listSeconds, { found: listed });

  let inNamespaces = 0;
  const nsSeconds = best(() => {
    inNamespaces = 0;
    for (const namespace of NAMESPACES) inNamespaces += store.list({ type: TYPE, namespace }).items.length;
  });
  emit("list-namespace", inNamespaces, nsSeconds, { found: inNamespaces });

  let paged = 0;
  let pages = 0;
  const pageSeconds = best(() => {
    paged = 0;
    pages = 0;
    let after: { namespace: string; name: string } | undefined;
    for (;;) {
      const page = store.list({ type: TYPE, limit: PAGE, ...(after ? { after } : {}) });
      paged += page.items.length;
      pages++;
      if (!page.next || pages > OBJECTS) break;
      after = page.next;
    }
  });
  emit("list-paginated", paged, pageSeconds, { found: paged, pages, page: PAGE });

  // A list at a past revision merges the change log since then into the scan.
  const before = store.head();
  const CHANGED = Math.min(1000, OBJECTS);
  await Promise.all(
    Array.from({ length: CHANGED }, (_, i) =>
      store.write(keyOf(i), (c, revision) => ({ op: "put", object: (c?.json ?? "{}").replace(/}$/, `,"r":${revision}}`) })),
    ),
  );
  let atPast = 0;
  const pastSeconds = best(() => {
    atPast = store.list({ type: TYPE, revision: before }).items.length;
  });
  emit("list-past-revision", atPast, pastSeconds, { found: atPast, changed_since: CHANGED });
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
