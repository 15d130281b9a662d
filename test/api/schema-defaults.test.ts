import assert from "node:assert/strict";
import { test } from "node:test";
import { applyDefaults } from "../../src/api/schema-defaults.ts";

test("applyDefaults: missing or non-nullable null properties take a copy of their default, then defaults apply inside", () => {
  const schema = {
    type: "object",
    properties: {
      a: { type: "object", default: { x: 1 }, properties: { y: { type: "string", default: "y" } } },
      b: { type: "integer", default: 2 },
      n: { type: ["integer", "null"], default: 3 },
      o: { type: "integer", nullable: true, default: 4 },
    },
    additionalProperties: { type: "object", properties: { z: { type: "boolean", default: true } } },
  };
  const value: Record<string, unknown> = { b: null, n: null, o: null, extra: {}, other: { z: false } };
  const out = applyDefaults(schema, value) as Record<string, unknown>;
  assert.equal(out, value, "changed in place");
  assert.deepEqual(out, { a: { x: 1, y: "y" }, b: 2, n: null, o: null, extra: { z: true }, other: { z: false } });
  // the default is copied, never shared
  (out.a as Record<string, unknown>).x = 9;
  assert.deepEqual(schema.properties.a.default, { x: 1 });
});

test("applyDefaults: a root default stands in for a missing value; no schema or no default changes nothing", () => {
  assert.deepEqual(applyDefaults({ type: "object", default: {}, properties: { k: { default: "v" } } }, undefined), { k: "v" });
  assert.equal(applyDefaults({ type: "object", properties: { k: { default: "v" } } }, undefined), undefined);
  assert.equal(applyDefaults(undefined, 5), 5);
  assert.deepEqual(applyDefaults({ type: "array", items: { type: "object", properties: { k: { default: 1 } } } }, [{}, { k: 2 }, 3]), [{ k: 1 }, { k: 2 }, 3]);
  // combinators are not followed (kube allows no defaults under them)
  assert.deepEqual(applyDefaults({ anyOf: [{ properties: { k: { default: 1 } } }] }, {}), {});
});
