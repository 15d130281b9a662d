// The LMDB store's key format across releases: a data directory written by
// the releases before format 2 (test/fixtures/store-format1, made by
// scripts/make-store-format1-fixture.ts with that code) opens with every
// object, long keys included, in get, list, pages, a past revision and the
// log; the rewrite happens once, in one transaction; a directory this code
// cannot read is refused, not opened empty.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { open } from "lmdb";
import { openLmdbStore } from "../../src/store/lmdb.ts";
import { FORMAT, OBJECTS_DB } from "../../src/store/lmdb-format.ts";
import type { ObjectKey, Store } from "../../src/store/types.ts";

const FIXTURE = new URL("../fixtures/store-format1/", import.meta.url);

interface Stored {
  key: ObjectKey;
  revision: number;
  json: string;
}
const expected = JSON.parse(readFileSync(new URL("expected.json", FIXTURE), "utf8")) as {
  head: number;
  objects: Stored[];
  past: { revision: number; objects: Stored[] };
};

/** A copy of the fixture directory (opening migrates it in place). */
function fixtureCopy(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "setpoint-format1-")), "data");
  cpSync(new URL(".", FIXTURE), dir, { recursive: true });
  return dir;
}

function byKey(a: Stored, b: Stored): number {
  const x = [a.key.namespace, a.key.name];
  const y = [b.key.namespace, b.key.name];
  return x[0] !== y[0] ? (x[0]! < y[0]! ? -1 : 1) : x[1] === y[1] ? 0 : x[1]! < y[1]! ? -1 : 1;
}

/** Objects of `type` (and `namespace`) in list order. */
function expectedList(objects: Stored[], type: string, namespace?: string): string[] {
  return objects
    .filter((o) => o.key.type === type && (namespace === undefined || o.key.namespace === namespace))
    .sort(byKey)
    .map((o) => o.json);
}

/** Keys of database `db` ("objects" in format 1, OBJECTS_DB in format 2) as lmdb-js decodes them. */
function rawObjectKeys(dir: string, db: string): unknown[] {
  const root = open({ path: dir, maxDbs: 8 });
  try {
    return [...root.openDB({ name: db, encoding: "string" }).getKeys()];
  } finally {
    void root.close();
  }
}

function assertHoldsFixture(store: Store): void {
  assert.equal(store.head(), expected.head);
  for (const o of expected.objects) {
    assert.deepEqual(store.get(o.key), { json: o.json, revision: o.revision }, `get ${o.key.type} ${o.key.namespace}/${o.key.name}`);
  }
  const types = [...new Set(expected.past.objects.map((o) => o.key.type))];
  for (const type of types) {
    assert.deepEqual(store.list({ type }).items, expectedList(expected.objects, type), `list ${type}`);
    assert.deepEqual(
      store.list({ type, revision: expected.past.revision }).items,
      expectedList(expected.past.objects, type),
      `list ${type} at ${expected.past.revision}`,
    );
    for (const namespace of new Set(expected.objects.map((o) => o.key.namespace))) {
      assert.deepEqual(store.list({ type, namespace }).items, expectedList(expected.objects, type, namespace), `list ${type} in ${JSON.stringify(namespace)}`);
    }
    const paged: string[] = [];
    let after: { namespace: string; name: string } | undefined;
    for (let i = 0; i < 100; i++) {
      const page = store.list({ type, limit: 2, ...(after ? { after } : {}) });
      paged.push(...page.items);
      if (!page.next) break;
      after = page.next;
    }
    assert.deepEqual(paged, expectedList(expected.objects, type), `list ${type} in pages of 2`);
  }
  const log = store.changes(0, 1000);
  assert.deepEqual(
    log.map((c) => c.revision),
    Array.from({ length: expected.head }, (_, i) => i + 1),
  );
  for (const o of expected.objects) {
    const last = log.filter((c) => JSON.stringify(c.key) === JSON.stringify(o.key)).pop();
    assert.equal(last?.object, o.json, `the log's last change of ${o.key.name}`);
  }
}

describe("lmdb: key format", () => {
  it("the fixture holds what the bug hid: keys of 64+ characters, 253-character names and types, 63-character namespaces", () => {
    const lengths = expected.objects.map((o) => `${o.key.type}\0${o.key.namespace}\0${o.key.name}`.length);
    assert.ok(lengths.some((n) => n < 64) && lengths.filter((n) => n >= 64).length >= 8, `key lengths ${lengths.join(",")}`);
    assert.ok(expected.objects.some((o) => o.key.name.length === 253 && o.key.namespace.length === 63));
    assert.ok(
      expected.objects.some((o) => o.key.type.length === 253 && o.key.namespace.length === 63),
      "objects of a 253-character type",
    );
    assert.ok(
      expected.objects.some((o) => o.key.name.length === 253 && o.key.namespace === ""),
      "a ResourceType named with 253 characters",
    );
    const keys = rawObjectKeys(fixtureCopyForReading, "objects");
    assert.ok(
      keys.some((k) => typeof k === "string"),
      "short keys are format-1 strings",
    );
    assert.ok(
      keys.some((k) => Array.isArray(k)),
      "long keys read back as arrays",
    );
  });

  it("a directory written before format 2 opens with every object, and is rewritten once", async () => {
    const dir = fixtureCopy();
    try {
      const store = openLmdbStore(dir, { pollIntervalMs: 0 });
      try {
        assertHoldsFixture(store);
        // It keeps working: a write lands at head + 1 and is listed.
        const k: ObjectKey = { type: "pipelineruns.ci.setpoint.dev", namespace: "default", name: "n".repeat(253) };
        const w = await store.write(k, (_c, revision) => ({ op: "put", object: `{"rv":${revision}}` }));
        assert.equal(w.revision, expected.head + 1);
        assert.ok(store.list({ type: k.type, namespace: "default" }).items.includes(`{"rv":${w.revision}}`));
      } finally {
        await store.close();
      }
      assert.deepEqual(rawObjectKeys(dir, "objects"), [], "the format-1 database is emptied");
      const keys = rawObjectKeys(dir, OBJECTS_DB);
      assert.equal(keys.length, expected.objects.length + 1);
      assert.ok(
        keys.every((key) => Array.isArray(key) && key.length === 3 && key.every((p) => typeof p === "string")),
        "every key is [type, namespace, name]",
      );
      const again = openLmdbStore(dir, { pollIntervalMs: 0 });
      try {
        assert.equal(again.head(), expected.head + 1);
        for (const o of expected.objects) assert.deepEqual(again.get(o.key), { json: o.json, revision: o.revision });
      } finally {
        await again.close();
      }
    } finally {
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });

  it("a fresh directory records the format; one from a newer release is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-format-"));
    try {
      const store = openLmdbStore(dir, { pollIntervalMs: 0 });
      await store.close();
      const root = open({ path: dir, maxDbs: 8 });
      const meta = root.openDB({ name: "meta", encoding: "msgpack" });
      assert.equal(meta.get("format"), FORMAT);
      await meta.put("format", FORMAT + 1);
      await root.close();
      assert.throws(
        () => openLmdbStore(dir, { pollIntervalMs: 0 }),
        (err: unknown) => {
          assert.ok(err instanceof RangeError);
          assert.match(err.message, new RegExp(`${dir.replace(/[/.]/g, "\\$&")} has key format ${FORMAT + 1}; this release reads format ${FORMAT}`));
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a format-2 directory opens as it is and is marked the current format (its history records are whole)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-format-"));
    try {
      const key = { type: "things", namespace: "default", name: "a" };
      let store = openLmdbStore(dir, { pollIntervalMs: 0 });
      const created = await store.write(key, (_c, revision) => ({ op: "put", object: `{"metadata":{"resourceVersion":"${revision}"}}` }));
      await store.close();
      let root = open({ path: dir, maxDbs: 8 });
      await root.openDB({ name: "meta", encoding: "msgpack" }).put("format", 2);
      await root.close();
      store = openLmdbStore(dir, { pollIntervalMs: 0 });
      assert.deepEqual(store.get(key), { json: `{"metadata":{"resourceVersion":"${created.revision}"}}`, revision: created.revision });
      await store.close();
      root = open({ path: dir, maxDbs: 8, readOnly: true });
      assert.equal(root.openDB({ name: "meta", encoding: "msgpack" }).get("format"), FORMAT);
      await root.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a key the rewrite cannot read aborts it whole: the directory is refused and left as it was", async () => {
    const dir = fixtureCopy();
    try {
      const root = open({ path: dir, maxDbs: 8 });
      await root.openDB({ name: "objects", encoding: "string", useVersions: true }).put("no-separators", "{}", 1);
      await root.close();
      const before = rawObjectKeys(dir, "objects");
      assert.equal(before.length, expected.objects.length + 1);
      assert.throws(() => openLmdbStore(dir, { pollIntervalMs: 0 }), /cannot read the format-1 object key "no-separators"/);
      assert.deepEqual(rawObjectKeys(dir, "objects"), before, "no key was moved");
      assert.deepEqual(rawObjectKeys(dir, OBJECTS_DB), [], "nothing was written");
    } finally {
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });
});

/** The checked-in fixture itself, read only by rawObjectKeys (a copy, so the checkout stays clean of lock files). */
const fixtureCopyForReading = fixtureCopy();
process.on("exit", () => rmSync(join(fixtureCopyForReading, ".."), { recursive: true, force: true }));
