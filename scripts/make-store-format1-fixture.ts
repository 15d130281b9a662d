// Writes test/fixtures/store-format1/: an LMDB data directory as the releases
// before key format 2 wrote it ("type\0namespace\0name" string keys, no
// "format" in meta), made by that code itself (src/store/lmdb.ts at
// FORMAT1_COMMIT, loaded from git), plus expected.json: what a store must find
// in it. Objects have short and long names (up to 253), namespaces up to 63
// characters, a 253-character type name and a cluster-scoped long type;
// some are updated or deleted, so the change log and a past revision matter.
//
//   node --import tsx scripts/make-store-format1-fixture.ts

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ObjectKey } from "../src/store/types.ts";
import { FORMAT1_COMMIT, lmdbStoreAt } from "./lmdb-store-at.ts";

const OUT = fileURLToPath(new URL("../test/fixtures/store-format1/", import.meta.url));
const RUNS = "pipelineruns.ci.setpoint.dev";
const LONG_TYPE = `${"gadgets".padEnd(61, "x")}.${"g".repeat(63)}.${"h".repeat(63)}.${"example".padEnd(63, "e")}`;
const TYPES = "resourcetypes.setpoint.dev";
const NS63 = "team-".padEnd(63, "z");
const name = (n: number, stem = "run") => `${stem}-`.padEnd(n - 1, "a") + "z";

/** Every object the fixture holds when the script ends, by "type/namespace/name". */
const live = new Map<string, { key: ObjectKey; revision: number; json: string }>();
let past: { revision: number; objects: Array<{ key: ObjectKey; revision: number; json: string }> } | undefined;

const open = await lmdbStoreAt(FORMAT1_COMMIT);
const dir = mkdtempSync(join(tmpdir(), "setpoint-format1-"));
const store = open(dir, { pollIntervalMs: 0, now: () => 1_790_000_000_000 });

function objectJson(key: ObjectKey, revision: number, spec: Record<string, unknown>): string {
  const [plural, ...group] = key.type.split(".");
  return JSON.stringify({
    apiVersion: `${group.join(".")}/v1`,
    kind: plural,
    metadata: { ...(key.namespace ? { namespace: key.namespace } : {}), name: key.name, resourceVersion: String(revision), uid: `uid-${revision}` },
    spec,
  });
}

async function put(key: ObjectKey, spec: Record<string, unknown> = {}): Promise<void> {
  const r = await store.write(key, (_current, revision) => ({ op: "put", object: objectJson(key, revision, spec) }));
  live.set(`${key.type}/${key.namespace}/${key.name}`, { key, revision: r.revision, json: r.object! });
}

async function del(key: ObjectKey): Promise<void> {
  await store.write(key, (current, revision) => ({ op: "delete", object: current!.json.replace(/"resourceVersion":"\d+"/, `"resourceVersion":"${revision}"`) }));
  live.delete(`${key.type}/${key.namespace}/${key.name}`);
}

try {
  await put({ type: TYPES, namespace: "", name: RUNS }, { plural: "pipelineruns" });
  await put({ type: TYPES, namespace: "", name: "gadgets.g1a2b3c4d.accept.example.com" }, { plural: "gadgets" });
  await put({ type: TYPES, namespace: "", name: LONG_TYPE }, { plural: LONG_TYPE.split(".")[0] });
  for (const n of [1, 2, 26, 27, 40, 63, 64, 100, 252, 253]) await put({ type: RUNS, namespace: "default", name: name(n) }, { n });
  for (const n of [1, 63, 64, 253]) await put({ type: RUNS, namespace: NS63, name: name(n) }, { n });
  for (const n of [1, 64, 253]) await put({ type: LONG_TYPE, namespace: "", name: name(n, "gadget") }, { n });
  for (const n of [5, 253]) await put({ type: LONG_TYPE, namespace: NS63, name: name(n, "gadget") }, { n });
  past = { revision: store.head(), objects: [...live.values()] };
  await put({ type: RUNS, namespace: "default", name: name(253) }, { n: 253, updated: true });
  await put({ type: RUNS, namespace: NS63, name: name(63) }, { n: 63, updated: true });
  await del({ type: RUNS, namespace: "default", name: name(27) });
  await del({ type: RUNS, namespace: "default", name: name(2) });
  await del({ type: LONG_TYPE, namespace: "", name: name(64, "gadget") });
  await put({ type: LONG_TYPE, namespace: NS63, name: name(200, "gadget") }, { n: 200 });
  const head = store.head();
  await store.close();

  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  copyFileSync(join(dir, "data.mdb"), join(OUT, "data.mdb"));
  writeFileSync(
    join(OUT, "expected.json"),
    JSON.stringify({ madeBy: `src/store/lmdb.ts at ${FORMAT1_COMMIT}`, head, objects: [...live.values()], past }, null, 1) + "\n",
  );
  console.log(`wrote ${OUT}: ${live.size} objects, head ${head}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
