// The type registry reports a stored ResourceType it cannot load (one stored
// before a rule tightened) instead of dropping the error silently: once per
// stored revision, and the type is not served.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { TypeRegistry } from "../../src/api/registry.ts";
import { RESOURCE_TYPES } from "../../src/api/types.ts";
import { openLmdbStore } from "../../src/store.ts";

test("a stored ResourceType that does not load is logged once per revision and not served", async () => {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-registry-test-"));
  const store = openLmdbStore(dir, { durable: false });
  try {
    const name = "broken.example.com";
    const put = (spec: unknown) =>
      store.write({ type: RESOURCE_TYPES.name, namespace: "", name }, () => ({ op: "put", object: JSON.stringify({ metadata: { name }, spec }) }));
    await put("not an object");
    const warnings: Array<{ details: object; message: string }> = [];
    const registry = new TypeRegistry(store, { log: { warn: (details, message) => warnings.push({ details, message }) } });

    assert.equal(registry.byName(name), undefined);
    assert.equal(registry.byName(name), undefined);
    assert.equal(warnings.length, 1, "logged once, not on every lookup");
    assert.match(warnings[0]!.message, /ResourceType does not load/);
    assert.equal((warnings[0]!.details as { type: string }).type, name);
    assert.ok((warnings[0]!.details as { err?: unknown }).err instanceof Error, "carries the error");

    await put({ still: "bad" });
    assert.equal(registry.byName(name), undefined);
    assert.equal(warnings.length, 2, "a new revision that still fails is reported again");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a cached type follows its stored ResourceType: updated, deleted and created again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-registry-test-"));
  const store = openLmdbStore(dir, { durable: false });
  try {
    const name = "things.example.com";
    const key = { type: RESOURCE_TYPES.name, namespace: "", name };
    const put = (kind: string) =>
      store.write(key, () => ({
        op: "put",
        object: JSON.stringify({ metadata: { name }, spec: { group: "example.com", version: "v1", kind, plural: "things", scope: "Namespaced" } }),
      }));
    const registry = new TypeRegistry(store, { log: { warn: () => {} } });
    assert.equal(registry.byName(name), undefined);

    await put("Thing");
    const first = registry.byName(name);
    assert.equal(first?.kind, "Thing");
    assert.equal(registry.byName(name), first, "served from the cache while the stored revision is the same");

    await put("Widget");
    assert.equal(registry.byName(name)?.kind, "Widget", "a new stored revision is read again");
    assert.equal(registry.byName(name)?.revision, store.get(key)!.revision);

    await store.write(key, (current) => ({ op: "delete", object: current!.json }));
    assert.equal(registry.byName(name), undefined, "a deleted type is gone at once");

    await put("Gadget");
    assert.equal(registry.byName(name)?.kind, "Gadget");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a stored ResourceType whose printer columns no longer parse is served with the default columns, as kube falls back to default printing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-registry-test-"));
  const store = openLmdbStore(dir, { durable: false });
  try {
    const name = "olds.example.com";
    // Accepted before the JSONPath parser followed client-go, which refuses `["app"]` ("invalid array index").
    const columns = [
      { name: "App", type: "string", jsonPath: '.metadata.labels["app"]' },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
    ];
    await store.write({ type: RESOURCE_TYPES.name, namespace: "", name }, () => ({
      op: "put",
      object: JSON.stringify({
        metadata: { name },
        spec: { group: "example.com", version: "v1", kind: "Old", plural: "olds", scope: "Namespaced", additionalPrinterColumns: columns },
      }),
    }));
    const warnings: Array<{ details: object; message: string }> = [];
    const registry = new TypeRegistry(store, { log: { warn: (details, message) => warnings.push({ details, message }) } });

    const t = registry.byName(name);
    assert.equal(t?.kind, "Old", "the type is served");
    assert.equal(t?.printerColumns, undefined, "none of its columns: the default Name and Age");
    assert.equal(registry.byName(name), t);
    assert.equal(warnings.length, 1, "said once");
    assert.match(warnings[0]!.message, /printer columns/);
    assert.match(JSON.stringify(warnings[0]!.details), /additionalPrinterColumns\[0\]\.jsonPath/);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
