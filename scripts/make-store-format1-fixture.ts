// Writes test/fixtures/store-format1/: an LMDB data directory as the releases
// before key format 2 wrote it ("type\0namespace\0name" string keys, no
// "format" in meta), made by that code itself (src/store/lmdb.ts at
// FORMAT1_COMMIT, loaded from git), plus expected.json: what a store must find
// in it: ResourceTypes and objects as that release's server stored them,
// names of 1 to 253 characters, namespaces of up to 63, a type named with
// 253 characters and a cluster-scoped type; some objects are updated or
// deleted, so the change log and a past revision matter.
//
//   node --import tsx scripts/make-store-format1-fixture.ts

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ObjectKey } from "../src/store/types.ts";
import { FORMAT1_COMMIT, lmdbStoreAt } from "./lmdb-store-at.ts";

const OUT = fileURLToPath(new URL("../test/fixtures/store-format1/", import.meta.url));
const TYPES = "resourcetypes.setpoint.dev";
/** The example: a namespaced type whose name is 36 characters. */
const GADGETS = { group: "g1a2b3c4d.accept.example.com", plural: "gadgets", kind: "Gadget", scope: "Namespaced" };
/** A namespaced type whose name is 253 characters: a 61-character plural in a 191-character group. */
const LONG = {
  group: `${"g".repeat(63)}.${"h".repeat(63)}.${"example".padEnd(63, "e")}`,
  plural: "widget".padEnd(60, "x") + "s",
  kind: "Widget",
  scope: "Namespaced",
};
/** A cluster-scoped type. */
const REALMS = { group: "example.com", plural: "realms", kind: "Realm", scope: "Cluster" };
const NS63 = "team-".padEnd(63, "z");
const name = (n: number, stem = "run") => `${stem}-`.padEnd(n - 1, "a") + "z";
const typeName = (t: typeof GADGETS) => `${t.plural}.${t.group}`;
const CREATED = "2026-01-02T03:04:05Z";

/** Every object the fixture holds when the script ends, by "type/namespace/name". */
const live = new Map<string, { key: ObjectKey; revision: number; json: string }>();
let past: { revision: number; objects: Array<{ key: ObjectKey; revision: number; json: string }> } | undefined;

const open = await lmdbStoreAt(FORMAT1_COMMIT);
const dir = mkdtempSync(join(tmpdir(), "setpoint-format1-"));
const store = open(dir, { pollIntervalMs: 0, now: () => 1_790_000_000_000 });

/** The JSON the server of that release stored for an object. */
function objectJson(key: ObjectKey, revision: number, apiVersion: string, kind: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion,
    kind,
    metadata: {
      name: key.name,
      ...(key.namespace ? { namespace: key.namespace } : {}),
      uid: `00000000-0000-4000-8000-${String(revision).padStart(12, "0")}`,
      resourceVersion: String(revision),
      generation: 1,
      creationTimestamp: CREATED,
    },
    spec,
  });
}

async function put(key: ObjectKey, apiVersion: string, kind: string, spec: Record<string, unknown>): Promise<void> {
  const r = await store.write(key, (_current, revision) => ({ op: "put", object: objectJson(key, revision, apiVersion, kind, spec) }));
  live.set(`${key.type}/${key.namespace}/${key.name}`, { key, revision: r.revision, json: r.object! });
}

async function putType(t: typeof GADGETS): Promise<void> {
  await put({ type: TYPES, namespace: "", name: typeName(t) }, "setpoint.dev/v1", "ResourceType", {
    group: t.group,
    kind: t.kind,
    plural: t.plural,
    version: "v1",
    scope: t.scope,
  });
}

async function putObject(t: typeof GADGETS, namespace: string, objectName: string, spec: Record<string, unknown>): Promise<void> {
  await put({ type: typeName(t), namespace, name: objectName }, `${t.group}/v1`, t.kind, spec);
}

async function del(t: typeof GADGETS, namespace: string, objectName: string): Promise<void> {
  const key = { type: typeName(t), namespace, name: objectName };
  await store.write(key, (current, revision) => ({
    op: "delete",
    object: current!.json.replace(/"resourceVersion":"\d+"/, `"resourceVersion":"${revision}"`),
  }));
  live.delete(`${key.type}/${key.namespace}/${key.name}`);
}

try {
  for (const t of [GADGETS, LONG, REALMS]) await putType(t);
  for (const n of [1, 2, 26, 27, 40, 63, 64, 100, 252, 253]) await putObject(GADGETS, "default", name(n), { n });
  for (const n of [1, 63, 64, 253]) await putObject(GADGETS, NS63, name(n), { n });
  for (const n of [1, 64, 253]) await putObject(LONG, "default", name(n, "widget"), { n });
  for (const n of [5, 253]) await putObject(LONG, NS63, name(n, "widget"), { n });
  for (const n of [1, 30, 253]) await putObject(REALMS, "", name(n, "realm"), { n });
  past = { revision: store.head(), objects: [...live.values()] };
  await putObject(GADGETS, "default", name(253), { n: 253, updated: true });
  await putObject(GADGETS, NS63, name(63), { n: 63, updated: true });
  await del(GADGETS, "default", name(27));
  await del(GADGETS, "default", name(2));
  await del(LONG, "default", name(64, "widget"));
  await putObject(LONG, NS63, name(200, "widget"), { n: 200 });
  await del(REALMS, "", name(30, "realm"));
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
