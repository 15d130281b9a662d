// asYaml: every JSON string reads back as the same string, in YAML 1.1 (the
// output's version), YAML 1.2, and as Go's YAML (kubectl) resolves plain scalars,
// except where go-yaml v2, whose text this is (kube-apiserver's and kubectl's),
// does otherwise: a key `<<` plain, NEL folded, LS and PS raw.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { KIND_LIST, type ListForm } from "../../src/api/resources.ts";
import type { TypeInfo } from "../../src/api/type-info.ts";
import { listAsMetadata, metadataListForm } from "../../src/server/partial-metadata.ts";
import { listAsTable, tableListForm } from "../../src/server/table.ts";
import { asYaml, wantsYaml, yamlListForm } from "../../src/server/yaml-response.ts";

const TRICKY = [
  "0o17",
  "-0o17",
  "+0o17",
  "0O17",
  "0X1F",
  "0B11",
  "0o1_7",
  "1e3_0",
  "\ufeffx",
  "x\n<<\n",
  "1.2.3",
  "10m",
  "yes",
  "2024-01-01",
  "",
  "line1\nline2\n",
];

describe("asYaml", () => {
  it("strings that YAML 1.1, YAML 1.2 or Go would read as something else stay strings, as values and as keys", () => {
    const doc: Record<string, unknown> = { values: TRICKY, keys: Object.fromEntries(TRICKY.map((s, i) => [s, i])) };
    const text = asYaml(JSON.stringify(doc));
    assert.deepEqual(parse(text, { version: "1.1" }), doc, text);
    assert.deepEqual(parse(text, { version: "1.2" }), doc, text);
    // Go's yaml.v2 takes 0O17, 0X1F, 0B11 and 1e3_0 (underscores dropped) as numbers when plain.
    for (const s of ["0O17", "0X1F", "0B11", "0o1_7", "1e3_0", "-0o17"]) assert.ok(text.includes(`- "${s}"\n`), `${s} quoted:\n${text}`);
    assert.doesNotMatch(text, /\ufeff/);
    // Strings no reader takes for anything else stay plain, as kube writes them.
    assert.ok(text.includes("- 1.2.3\n") && text.includes("- 10m\n"), text);
  });

  it("what go-yaml v2 does that a reader does not undo, as kubectl prints it: `<<` plain, a NEL folded as go-yaml reads JSON, LS and PS raw", () => {
    assert.equal(asYaml(JSON.stringify({ "<<": "<<" })), "<<: <<\n");
    assert.equal(asYaml(JSON.stringify({ a: "a\u0085b", b: "a \u0085\u0085 b" })), "a: a b\nb: |-\n  a\n  b\n");
    assert.equal(asYaml(JSON.stringify({ ls: "a\u2028b" })), "ls: 'a\u2028  b'\n");
  });
});

describe("asYaml numbers", () => {
  it("floats as Go's YAML writes them (sigs.k8s.io/yaml: strconv's shortest 'g'), integers as digits, as kubectl -o yaml", () => {
    const text = asYaml('{"a":1000000.5,"b":1e-7,"c":1e20,"d":0.0001,"e":0.00001,"f":-2.5,"g":1000000,"h":12345678901234567890,"i":"1e-07"}');
    assert.equal(text, 'a: 1.0000005e+06\nb: 1e-07\nc: 1e+20\nd: 0.0001\ne: 1e-05\nf: -2.5\ng: 1000000\nh: 12345678901234567890\ni: "1e-07"\n');
  });

  it("integers past 2^53 keep their digits, as in the JSON answer; other numbers are unchanged", () => {
    const json = '{"big":12345678901234567890,"list":[9007199254740993,-9007199254740993,1.5,0,-3],"s":"\\ud83d\\ude00 \\/"}';
    const text = asYaml(json);
    assert.match(text, /^big: 12345678901234567890$/m);
    assert.match(text, /^- 9007199254740993$/m);
    assert.match(text, /^- -9007199254740993$/m);
    assert.deepEqual(parse(text, { intAsBigInt: true }), {
      big: 12345678901234567890n,
      list: [9007199254740993n, -9007199254740993n, 1.5, 0n, -3n],
      s: "😀 /",
    });
  });
});

describe("yamlListForm", () => {
  const type = {
    name: "widgets.y.example.com",
    group: "y.example.com",
    version: "v1",
    kind: "Widget",
    plural: "widgets",
    singular: "widget",
    namespaced: true,
  } as TypeInfo;
  const object = (name: string, spec: unknown) =>
    JSON.stringify({
      apiVersion: "y.example.com/v1",
      kind: "Widget",
      metadata: { name, namespace: "ns", resourceVersion: "7", creationTimestamp: "2026-01-01T00:00:00Z" },
      spec,
    });
  const items = [
    object("plain", { replicas: 3, on: true, none: null, list: [], map: {}, nested: [[1, 2], { a: [] }] }),
    object("multi-line", { script: "#!/bin/sh\necho hi\n\n  indented\n", trailing: "a\nb", lead: "  lead\nx", blanks: "\n\n\nx\n\n" }),
    object("special-keys", {
      "<<": { a: 1 },
      "": "empty",
      "a: b": "c",
      "- x": 1,
      "#c": 2,
      "0o17": "0o17",
      yes: "no",
      "~": "~",
      "line\nkey": 1,
      "\u2028": "\u0085",
    }),
    object("tricky", { values: TRICKY, keys: Object.fromEntries(TRICKY.map((s, i) => [s, i])) }),
    `{"apiVersion":"y.example.com/v1","kind":"Widget","metadata":{"name":"big-int","namespace":"ns"},"spec":{"n":12345678901234567890,"m":[9007199254740993,1.5]}}`,
    object("unicode", { s: "😀 é \t tab", q: "'single' \"double\"", long: "word ".repeat(200) }),
  ];
  /** The list `form` writes as YAML, as it streams: head, items with the separator, tail. */
  const streamed = (form: ListForm, list: string[], meta: { resourceVersion: string; continue?: string }) => {
    const yaml = yamlListForm(form);
    return yaml.head(type, meta) + list.map((item) => yaml.item!(item)).join(yaml.separator) + yaml.tail();
  };
  const whole = (list: string[], meta: { resourceVersion: string; continue?: string }) => KIND_LIST.head(type, meta) + list.join(",") + KIND_LIST.tail();

  it("writes a list item by item in the text asYaml makes of the whole list: multi-line strings, special keys, big integers, no items", () => {
    for (const list of [items, items.slice(0, 1), items.slice(2, 3), []]) {
      for (const meta of [{ resourceVersion: "42" }, { resourceVersion: "42", continue: "abc" }]) {
        const json = whole(list, meta);
        assert.equal(streamed(KIND_LIST, list, meta), asYaml(json), `${list.length} items`);
      }
    }
    assert.match(streamed(KIND_LIST, [], { resourceVersion: "1" }), /^items: \[\]$/m);
  });

  it("writes a Table (rows) and a metadata-only list in the text asYaml makes of the whole converted list", () => {
    const meta = { resourceVersion: "42" };
    const json = whole(items, meta);
    for (const includeObject of ["None", "Metadata", "Object"] as const) {
      const opts = { apiVersion: "meta.k8s.io/v1", includeObject, now: Date.parse("2026-01-02T00:00:00Z") };
      assert.equal(streamed(tableListForm(opts), items, meta), asYaml(listAsTable(type, json, opts)), `Table, includeObject=${includeObject}`);
      assert.equal(streamed(tableListForm(opts), [], meta), asYaml(listAsTable(type, whole([], meta), opts)), `empty Table`);
    }
    assert.equal(streamed(metadataListForm("meta.k8s.io/v1"), items, meta), asYaml(listAsMetadata(json, "meta.k8s.io/v1")));
  });
});

describe("wantsYaml", () => {
  it("negotiates as kube-apiserver: by quality, then the more specific range, then the first listed", () => {
    const cases: [string | undefined, boolean][] = [
      [undefined, false],
      ["application/yaml", true],
      ["application/yaml; charset=utf-8", true],
      ["application/json, application/yaml", false],
      ["application/yaml, application/json", true],
      ["application/yaml;q=0.9, application/json;q=0.8", true],
      ["application/json;q=0.5, application/yaml", true],
      ["*/*, application/yaml", true],
      ["application/*, application/yaml;q=0.5", false],
      ["application/yaml;q=0", false],
      ["application/yaml;q=0, */*", false],
      ["text/yaml, application/json", false],
    ];
    for (const [accept, yaml] of cases) assert.equal(wantsYaml(accept), yaml, String(accept));
  });
});
