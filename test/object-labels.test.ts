// labelsOf against JSON.parse on hand-picked and generated objects, and a
// label-selector list over large objects that never parses a whole object;
// withResourceVersion and sameLabels.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { labelsOf, sameLabels, withResourceVersion } from "../src/object-labels.ts";
import { api, createType, startTestServer } from "./helpers/server.ts";

const parsed = (json: string) => (JSON.parse(json) as { metadata?: { labels?: Record<string, string> } } | null)?.metadata?.labels;

describe("labelsOf", () => {
  const cases: Record<string, string> = {
    "server order": JSON.stringify({
      apiVersion: "a/v1",
      kind: "K",
      metadata: { name: "n", labels: { app: "web", "x.io/t": "1" } },
      spec: { big: "x".repeat(1000) },
    }),
    "no labels": JSON.stringify({ apiVersion: "a/v1", kind: "K", metadata: { name: "n" }, spec: {} }),
    "empty labels": JSON.stringify({ metadata: { labels: {} } }),
    "no metadata": JSON.stringify({ apiVersion: "a/v1", spec: { metadata: { labels: { wrong: "1" } } } }),
    "metadata last": JSON.stringify({ spec: { labels: { wrong: "1" }, s: '}"{[', n: [1, { a: "]" }] }, metadata: { labels: { right: "1" } } }),
    "annotations before labels": JSON.stringify({ metadata: { annotations: { k: '{"labels":{"no":"1"}}\\' }, labels: { yes: "1" } } }),
    "escapes in strings": JSON.stringify({ a: '\\\\"', metadata: { name: 'a\\"b', labels: { q: '"quoted"' } } }),
    whitespace: '{ "apiVersion" : "v1" ,\n "metadata" : { "labels" : { "a" : "b" } } }',
    scalars: '{"a":1,"b":true,"c":null,"d":-1.5e3,"metadata":{"x":false,"labels":{"k":"v"}}}',
    "labels null": '{"metadata":{"labels":null}}',
    "metadata not an object": '{"metadata":"x"}',
    "not an object": "[1,2]",
    null: "null",
  };
  for (const [name, json] of Object.entries(cases)) {
    it(`agrees with JSON.parse: ${name}`, () => assert.deepEqual(labelsOf(json), parsed(json) ?? undefined));
  }

  it("agrees with JSON.parse on generated objects", () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const str = () => Array.from({ length: Math.floor(rand() * 6) }, () => pick(["a", '"', "\\", "{", "}", "[", "]", ",", ":", " ", "é", "\n"])).join("");
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.3) return pick([str(), 1, -2.5, true, false, null]);
      if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [str(), value(depth + 1)]));
    };
    for (let i = 0; i < 2000; i++) {
      const metadata: Record<string, unknown> = { name: str(), extra: value(1) };
      if (rand() < 0.7) metadata.labels = Object.fromEntries(Array.from({ length: Math.floor(rand() * 3) }, () => [str(), str()]));
      const parts: Array<[string, unknown]> = [
        ["apiVersion", str()],
        ["spec", value(0)],
        ["metadata", metadata],
        ["status", value(0)],
      ];
      parts.sort(() => rand() - 0.5);
      const json = JSON.stringify(Object.fromEntries(parts), null, rand() < 0.2 ? 1 : undefined);
      assert.deepEqual(labelsOf(json), parsed(json), json);
    }
  });

  it("throws as JSON.parse does on text that is not JSON", () => {
    assert.throws(() => labelsOf('{"metadata": {"labels": {"a": }}}'), SyntaxError);
    assert.throws(() => labelsOf("not json"), SyntaxError);
  });
});

describe("a label-selector list over large objects", () => {
  it("never parses a whole object", async () => {
    const s = await startTestServer();
    const realParse = JSON.parse;
    try {
      const c = api(s.url);
      const prefix = await createType(c, { group: "labels.example.com", kind: "Big", plural: "bigs" });
      const list = `${prefix}/namespaces/default/bigs`;
      for (let i = 0; i < 40; i++) {
        const res = await c.post(list, { metadata: { name: `b-${i}`, labels: { tier: i % 4 === 0 ? "db" : "web" } }, spec: { payload: "x".repeat(50_000) } });
        assert.equal(res.status, 201);
      }
      let largest = 0;
      JSON.parse = ((text: string, reviver?: Parameters<typeof realParse>[1]) => {
        largest = Math.max(largest, text.length);
        return realParse(text, reviver);
      }) as typeof JSON.parse;
      const res = await fetch(`${s.url}${list}?labelSelector=tier%3Ddb`, { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      JSON.parse = realParse; // before reading the answer: only the server's parsing counts
      assert.equal(res.status, 200);
      assert.deepEqual(
        JSON.parse(text)
          .items.map((o: any) => o.metadata.name)
          .sort(),
        ["b-0", "b-12", "b-16", "b-20", "b-24", "b-28", "b-32", "b-36", "b-4", "b-8"],
      );
      assert.ok(largest < 50_000, `the list parsed ${largest} characters at once`);
    } finally {
      JSON.parse = realParse;
      await s.stop();
    }
  });
});

describe("withResourceVersion", () => {
  it("replaces metadata.resourceVersion and leaves every other byte as it was", () => {
    const json =
      '{"apiVersion":"a/v1","kind":"K","metadata":{"name":"n","resourceVersion":"7","labels":{"resourceVersion":"x"}},"spec":{"big":123456789012345678901234567890,"resourceVersion":"9"}}';
    assert.equal(withResourceVersion(json, 12), json.replace('"resourceVersion":"7"', '"resourceVersion":"12"'));
  });

  it("adds it when metadata has none, to an empty metadata too, and parses odd text whole", () => {
    assert.deepEqual(JSON.parse(withResourceVersion('{"metadata":{"name":"n"},"spec":{}}', 3)), { metadata: { resourceVersion: "3", name: "n" }, spec: {} });
    assert.deepEqual(JSON.parse(withResourceVersion('{"metadata":{ }}', 4)), { metadata: { resourceVersion: "4" } });
    assert.deepEqual(JSON.parse(withResourceVersion('{"spec":{}}', 5)), { spec: {}, metadata: { resourceVersion: "5" } });
    assert.deepEqual(JSON.parse(withResourceVersion('{"metadata":{"name":"a\\"b","resourceVersion":"1"}}', 6)), {
      metadata: { name: 'a"b', resourceVersion: "6" },
    });
  });

  it("at the contract's limits: a 253-character name, a 63-character namespace, an object near 1.5 MiB of multi-byte text", () => {
    const name = `${"a".repeat(250)}-zz`;
    const namespace = "n".repeat(63);
    const o = {
      apiVersion: "a/v1",
      kind: "K",
      metadata: { name, namespace, resourceVersion: "41", labels: { app: "web" } },
      spec: { text: "é€😀".repeat(190_000) },
    };
    const json = JSON.stringify(o);
    assert.ok(Buffer.byteLength(json) > 1.4 * 1024 * 1024, `${Buffer.byteLength(json)} bytes`);
    const out = withResourceVersion(json, 1_000_000_007);
    assert.equal(out.length, json.length + 8);
    assert.deepEqual(JSON.parse(out), { ...o, metadata: { ...o.metadata, resourceVersion: "1000000007" } });
  });
});

describe("sameLabels", () => {
  it("compares label sets, none and empty alike", () => {
    assert.equal(sameLabels({ a: "1", b: "2" }, { b: "2", a: "1" }), true);
    assert.equal(sameLabels(undefined, {}), true);
    assert.equal(sameLabels({ a: "1" }, { a: "2" }), false);
    assert.equal(sameLabels({ a: "1" }, { a: "1", b: "2" }), false);
    assert.equal(sameLabels({ a: "1" }, undefined), false);
  });
});
