// JSON merge patch against RFC 7386's own examples (Appendix A), plus what
// the RFC implies: inputs are left unchanged, and a member named __proto__ is
// a plain member.

import assert from "node:assert/strict";
import { test } from "node:test";
import { mergePatch } from "../../src/api/merge-patch.ts";

/** [original, patch, result], as in RFC 7386 Appendix A. */
const RFC_7386_EXAMPLES: Array<[unknown, unknown, unknown]> = [
  [{ a: "b" }, { a: "c" }, { a: "c" }],
  [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
  [{ a: "b" }, { a: null }, {}],
  [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
  [{ a: ["b"] }, { a: "c" }, { a: "c" }],
  [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
  [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
  [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
  [
    ["a", "b"],
    ["c", "d"],
    ["c", "d"],
  ],
  [{ a: "b" }, ["c"], ["c"]],
  [{ a: "foo" }, null, null],
  [{ a: "foo" }, "bar", "bar"],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: "b", c: null }, { a: "b" }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

test("RFC 7386 Appendix A: every example", () => {
  for (const [original, patch, result] of RFC_7386_EXAMPLES) {
    assert.deepEqual(mergePatch(original, patch), result, `${JSON.stringify(original)} + ${JSON.stringify(patch)}`);
  }
});

test("neither the target nor the patch is changed", () => {
  const target = { a: { b: 1, c: [1, 2] }, d: "x" };
  const patch = { a: { b: null, e: { f: 1 } }, d: null };
  const before = structuredClone(target);
  const patchBefore = structuredClone(patch);
  assert.deepEqual(mergePatch(target, patch), { a: { c: [1, 2], e: { f: 1 } } });
  assert.deepEqual(target, before);
  assert.deepEqual(patch, patchBefore);
});

test("a member named __proto__ is a plain member, not the prototype", () => {
  const patch = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
  const out = mergePatch({}, patch) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(JSON.parse(JSON.stringify(out)), { ["__proto__"]: { polluted: true }, a: 1 });
  assert.deepEqual(JSON.parse(JSON.stringify(mergePatch(out, JSON.parse('{"__proto__": null}')))), { a: 1 });
});
