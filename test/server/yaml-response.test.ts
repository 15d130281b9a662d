// asYaml: every JSON string reads back as the same string, in YAML 1.1 (the
// output's version), YAML 1.2, and as Go's YAML (kubectl) resolves plain scalars.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { asYaml, wantsYaml } from "../../src/server/yaml-response.ts";

const TRICKY = [
  "0o17",
  "-0o17",
  "+0o17",
  "0O17",
  "0X1F",
  "0B11",
  "0o1_7",
  "1e3_0",
  "a\u2028b",
  "a\u0085b\nc\n",
  "a\u2029",
  "\ufeffx",
  "<<",
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
    const doc: Record<string, unknown> = { values: TRICKY, keys: Object.fromEntries(TRICKY.map((s, i) => [s, i])), merge: { "<<": { a: 1 } } };
    const text = asYaml(JSON.stringify(doc));
    assert.deepEqual(parse(text, { version: "1.1" }), doc, text);
    assert.deepEqual(parse(text, { version: "1.2" }), doc, text);
    // Go's yaml.v2 takes 0O17, 0X1F, 0B11 and 1e3_0 (underscores dropped) as numbers when plain.
    for (const s of ["0O17", "0X1F", "0B11", "0o1_7", "1e3_0", "-0o17"]) assert.ok(text.includes(`- "${s}"\n`), `${s} quoted:\n${text}`);
    // YAML 1.1 readers (libyaml, Go) break lines at NEL, LS and PS: never written raw.
    assert.doesNotMatch(text, /[\u0085\u2028\u2029\ufeff]/);
    // Strings no reader takes for anything else stay plain, as kube writes them.
    assert.ok(text.includes("- 1.2.3\n") && text.includes("- 10m\n"), text);
  });
});

describe("asYaml numbers", () => {
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
