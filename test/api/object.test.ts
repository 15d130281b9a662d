// serialize: the stored and served form of an object. Kubernetes' metadata
// field order, only known metadata fields, absent where kube-apiserver omits
// them (null, empty label and annotation maps, an empty finalizer list).

import assert from "node:assert/strict";
import { test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { sameContent, serialize, timestamp } from "../../src/api/object.ts";
import type { LooseObject } from "../../src/wire.ts";
import type { TypeInfo } from "../../src/api/type-info.ts";

const THING: TypeInfo = {
  name: "things.example.com",
  group: "example.com",
  version: "v1",
  kind: "Thing",
  plural: "things",
  singular: "thing",
  namespaced: true,
  revision: 0,
};

test("serialize writes metadata in Kubernetes' order, drops unknown and empty fields, keeps extra top-level fields last", () => {
  const o = {
    extra: { x: 1 },
    status: { ok: true },
    spec: { a: 1 },
    kind: "Ignored",
    apiVersion: "ignored/v0",
    metadata: {
      managedFields: [{ manager: "m" }],
      finalizers: ["f"],
      ownerReferences: [{ name: "o" }],
      annotations: { a: "b" },
      labels: { l: "v" },
      deletionGracePeriodSeconds: 30,
      deletionTimestamp: "2026-01-01T00:00:01Z",
      creationTimestamp: "2026-01-01T00:00:00Z",
      generation: 2,
      resourceVersion: "7",
      uid: "u",
      namespace: "default",
      generateName: "t-",
      name: "t-1",
      unknownField: "dropped",
    },
  } as unknown as LooseObject;
  assert.equal(
    serialize(o, THING),
    JSON.stringify({
      apiVersion: "example.com/v1",
      kind: "Thing",
      metadata: {
        name: "t-1",
        generateName: "t-",
        namespace: "default",
        uid: "u",
        resourceVersion: "7",
        generation: 2,
        creationTimestamp: "2026-01-01T00:00:00Z",
        deletionTimestamp: "2026-01-01T00:00:01Z",
        deletionGracePeriodSeconds: 30,
        labels: { l: "v" },
        annotations: { a: "b" },
        ownerReferences: [{ name: "o" }],
        finalizers: ["f"],
        managedFields: [{ manager: "m" }],
      },
      spec: { a: 1 },
      status: { ok: true },
      extra: { x: 1 },
    }),
  );
});

test("serialize omits null fields, empty label and annotation maps and an empty finalizer list", () => {
  const o = {
    metadata: { name: "t", namespace: null, uid: undefined, labels: {}, annotations: {}, finalizers: [], ownerReferences: [], generation: 0 },
    spec: {},
  } as unknown as LooseObject;
  assert.equal(serialize(o, THING), '{"apiVersion":"example.com/v1","kind":"Thing","metadata":{"name":"t","generation":0,"ownerReferences":[]},"spec":{}}');
});

test("timestamp is RFC 3339 with second precision", () => {
  assert.equal(timestamp(Date.UTC(2026, 10, 26, 21, 5, 56, 999)), "2026-11-26T21:05:56Z");
  assert.equal(timestamp(0), "1970-01-01T00:00:00Z");
  // The last second is kept: the next one, or an earlier one, is formatted anew.
  const t = Date.UTC(2026, 10, 26, 21, 5, 56);
  assert.equal(timestamp(t), "2026-11-26T21:05:56Z");
  assert.equal(timestamp(t + 999), "2026-11-26T21:05:56Z");
  assert.equal(timestamp(t + 1000), "2026-11-26T21:05:57Z");
  assert.equal(timestamp(t - 1), "2026-11-26T21:05:55Z");
  assert.equal(timestamp(-1), "1969-12-31T23:59:59Z");
});

/** What sameContent means: the objects' JSON, resourceVersion left out, is the same up to member order. */
function sameByRoundTrip(a: LooseObject, b: LooseObject): boolean {
  const strip = (o: LooseObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return isDeepStrictEqual(JSON.parse(JSON.stringify(strip(a))), JSON.parse(JSON.stringify(strip(b))));
}

test("sameContent compares what JSON would write: member order, absent members, nulls, toJSON, resourceVersion", () => {
  const o = (rest: Record<string, unknown>, metadata: Record<string, unknown> = { name: "a" }) => ({ metadata, ...rest }) as unknown as LooseObject;
  const cases: Array<[LooseObject, LooseObject, boolean]> = [
    [o({ spec: { a: 1, b: [1, { c: "x" }] } }), o({ spec: { b: [1, { c: "x" }], a: 1 } }), true],
    [o({ spec: { a: 1 } }, { name: "a", resourceVersion: "1" }), o({ spec: { a: 1 } }, { name: "a", resourceVersion: "2" }), true],
    [o({ spec: { a: 1 }, status: undefined }), o({ spec: { a: 1 } }), true],
    [o({ spec: { a: undefined, f: () => 1, s: Symbol("s") } }), o({ spec: {} }), true],
    [o({ spec: { a: null } }), o({ spec: {} }), false],
    [o({ spec: { a: [undefined, () => 1, Number.NaN, Number.POSITIVE_INFINITY] } }), o({ spec: { a: [null, null, null, null] } }), true],
    [o({ spec: { a: Number.NaN } }), o({ spec: { a: null } }), true],
    [o({ spec: { a: -0 } }), o({ spec: { a: 0 } }), true],
    [o({ spec: { a: new Date(Date.UTC(2026, 0, 1)) } }), o({ spec: { a: "2026-01-01T00:00:00.000Z" } }), true],
    [o({ spec: { a: [1] } }), o({ spec: { a: { 0: 1 } } }), false],
    [o({ spec: { a: [1, 2] } }), o({ spec: { a: [2, 1] } }), false],
    [o({ spec: { a: 1 } }), o({ spec: { a: "1" } }), false],
    [o({ spec: { a: {} } }), o({ spec: { a: [] } }), false],
    [o({ spec: { a: 1, b: 2 } }), o({ spec: { a: 1 } }), false],
    [o({ spec: { a: 1 } }), o({ spec: { a: 1, b: 2 } }), false],
    [o({ spec: { a: 1 } }), o({ spec: { a: 1 }, status: { ok: true } }), false],
    [o({ spec: { a: 1 } }, { name: "a", generation: 1 }), o({ spec: { a: 1 } }, { name: "a", generation: 2 }), false],
    [o({ spec: { a: 1 } }, { name: "a", labels: { x: "1" } }), o({ spec: { a: 1 } }, { name: "a", labels: { x: "1" } }), true],
  ];
  for (const [a, b, same] of cases) {
    assert.equal(sameByRoundTrip(a, b), same, `the reference, for ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    assert.equal(sameContent(a, b), same, `${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    assert.equal(sameContent(b, a), same, `${JSON.stringify(b)} and ${JSON.stringify(a)}`);
  }
});

test("sameContent agrees with comparing the JSON round trips on generated pairs of objects", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const leaves: unknown[] = [0, -0, 1, 1.5, "", "a", "1", true, false, null, undefined, Number.NaN, [], {}];
  const value = (depth: number): unknown => {
    const pick = rand(depth > 2 ? 2 : 4);
    if (pick < 2) return leaves[rand(leaves.length)];
    if (pick === 2) return Array.from({ length: rand(3) }, () => value(depth + 1));
    const obj: Record<string, unknown> = {};
    for (let i = rand(4); i > 0; i--) obj["abc"[rand(3)]!] = value(depth + 1);
    return obj;
  };
  /** A copy of `v` with a few changes, some of which JSON cannot see (member order, undefined members). */
  const vary = (v: unknown): unknown => {
    if (Array.isArray(v)) return rand(6) === 0 ? [...v, value(3)] : v.map(vary);
    if (typeof v === "object" && v !== null) {
      const keys = Object.keys(v).reverse();
      const out: Record<string, unknown> = {};
      for (const k of keys) if (rand(8) !== 0) out[k] = vary((v as Record<string, unknown>)[k]);
      if (rand(4) === 0) out[`u${rand(2)}`] = undefined;
      return out;
    }
    return rand(8) === 0 ? leaves[rand(leaves.length)] : v;
  };
  let same = 0;
  for (let i = 0; i < 3000; i++) {
    const a = { metadata: { name: "a", resourceVersion: String(rand(3)) }, spec: value(0) } as unknown as LooseObject;
    const b = { metadata: { name: "a", resourceVersion: String(rand(3)) }, spec: vary(a.spec) } as unknown as LooseObject;
    const want = sameByRoundTrip(a, b);
    if (want) same++;
    assert.equal(sameContent(a, b), want, `${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  }
  // Both answers come up often enough for the comparison to mean something.
  assert.ok(same > 300 && same < 2700, `${same} of 3000 pairs the same`);
});
