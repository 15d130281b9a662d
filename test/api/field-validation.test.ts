// The pure parts of fieldValidation: unknown fields of an object against its
// type, and duplicate keys in a JSON text, at their edges.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { duplicateFields, parseFieldValidation, unknownFields } from "../../src/api/field-validation.ts";
import type { TypeInfo } from "../../src/api/type-info.ts";
import { InvalidError } from "../../src/errors.ts";

const type = (specSchema?: unknown, extra: Partial<TypeInfo> = {}): TypeInfo => ({
  name: "widgets.demo.example.com",
  group: "demo.example.com",
  version: "v1",
  kind: "Widget",
  plural: "widgets",
  singular: "widget",
  namespaced: true,
  revision: 1,
  specSchema,
  ...extra,
});

describe("duplicateFields", () => {
  it("finds keys repeated within one object, with their paths, and nothing else", () => {
    assert.deepEqual(duplicateFields('{"a":1,"b":{"c":1,"c":2},"a":3}'), ["b.c", "a"]);
    assert.deepEqual(duplicateFields('{"s":[{"n":1,"n":2},{"n":1}],"t":[[{"x":1,"x":2}]]}'), ["s[0].n", "t[0][0].x"]);
    // Same key in sibling objects, keys inside string values, escaped quotes and braces in strings.
    assert.deepEqual(duplicateFields('{"a":{"k":1},"b":{"k":1},"c":"{\\"k\\":1,\\"k\\":2}","d":["a","a"]}'), []);
    // Escaped keys compare by their value: "\u0061" is "a".
    assert.deepEqual(duplicateFields('{"a":1,"\\u0061":2}'), ["a"]);
    assert.deepEqual(duplicateFields(' { "m" : { } , "m" : [ ] } '), ["m"]);
    assert.deepEqual(duplicateFields('["x",{"y":1}]'), []);
  });

  it("stops at 100 reports", () => {
    const text = `{${Array.from({ length: 300 }, () => '"k":1').join(",")}}`;
    assert.equal(duplicateFields(text).length, 100);
  });
});

describe("unknownFields", () => {
  const schema = {
    type: "object",
    properties: {
      size: { type: "integer" },
      tasks: { type: "array", items: { type: "object", properties: { name: { type: "string" } } } },
      labels: { type: "object", additionalProperties: { type: "string" } },
      free: { type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: { a: {} } },
      either: { anyOf: [{ properties: { p: {} } }, { properties: { q: {} } }], properties: {} },
    },
  };
  it("names top-level, metadata and undeclared spec fields, sorted; open parts of the schema are not unknown", () => {
    const o = {
      apiVersion: "demo.example.com/v1",
      kind: "Widget",
      extra: 1,
      metadata: { name: "w", selfLink: "", bogus: 1 },
      spec: { size: 1, colour: "red", tasks: [{ name: "a" }, { name: "b", nmae: "c" }], labels: { any: "x" }, free: { b: 1 }, either: { q: 1 } },
      status: { anything: 1 },
    };
    assert.deepEqual(unknownFields(o, type(schema)), ["extra", "metadata.bogus", "spec.colour", "spec.tasks[1].nmae"]);
  });

  it("a type without a schema, or a specless one, has only metadata unknowns", () => {
    const o = { metadata: { name: "w", bogus: 1 }, spec: { x: 1 }, rules: [] };
    assert.deepEqual(unknownFields(o, type(undefined, { specless: true })), ["metadata.bogus"]);
    assert.deepEqual(unknownFields({ metadata: { name: "w" }, spec: { x: { y: 1 } } }, type(undefined)), []);
  });

  it("parseFieldValidation: absent and empty are Warn; anything unsupported is 422", () => {
    assert.equal(parseFieldValidation(null), "Warn");
    assert.equal(parseFieldValidation(""), "Warn");
    assert.equal(parseFieldValidation("Strict"), "Strict");
    assert.throws(() => parseFieldValidation("strict"), InvalidError);
  });
});
