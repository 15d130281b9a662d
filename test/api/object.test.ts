// serialize: the stored and served form of an object. Kubernetes' metadata
// field order, only known metadata fields, absent where kube-apiserver omits
// them (null, empty label and annotation maps, an empty finalizer list).

import assert from "node:assert/strict";
import { test } from "node:test";
import { serialize, timestamp } from "../../src/api/object.ts";
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
