import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFieldSelector, parseLabelSelector } from "../../src/api/selector.ts";
import { BadRequestError } from "../../src/errors.ts";

/** Asserts that parsing throws a BadRequestError naming `field`, whose message matches `re`. */
function rejects(fn: () => unknown, field: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BadRequestError, `expected BadRequestError, got ${String(err)}`);
    assert.equal(err.reason, "BadRequest");
    assert.match(err.message, re);
    assert.equal(err.causes[0]?.field, field);
    assert.equal(err.causes[0]?.message, err.message);
    return true;
  });
}

const web = { app: "web", tier: "front" };

test("label selector: empty and whitespace-only match everything", () => {
  for (const text of ["", "   ", "\t\n"]) {
    const s = parseLabelSelector(text);
    assert.equal(s.empty, true);
    assert.equal(s.matches(undefined), true);
    assert.equal(s.matches(web), true);
    assert.equal(s.toString(), "");
  }
});

test("label selector: = and == require the key with that value", () => {
  for (const text of ["app=web", "app==web", " app = web "]) {
    const s = parseLabelSelector(text);
    assert.equal(s.empty, false);
    assert.equal(s.matches(web), true);
    assert.equal(s.matches({ app: "db" }), false);
    assert.equal(s.matches({}), false);
    assert.equal(s.matches(undefined), false);
  }
});

test("label selector: != matches a different value or a missing key", () => {
  const s = parseLabelSelector("app!=web");
  assert.equal(s.matches(web), false);
  assert.equal(s.matches({ app: "db" }), true);
  assert.equal(s.matches({}), true);
  assert.equal(s.matches(undefined), true);
});

test("label selector: in and notin", () => {
  const inSel = parseLabelSelector("tier in (front, back)");
  assert.equal(inSel.matches(web), true);
  assert.equal(inSel.matches({ tier: "back" }), true);
  assert.equal(inSel.matches({ tier: "mid" }), false);
  assert.equal(inSel.matches({}), false);
  const single = parseLabelSelector("tier in (front)");
  assert.equal(single.matches(web), true);
  assert.equal(single.matches({}), false);
  const notIn = parseLabelSelector("tier notin (front,back)");
  assert.equal(notIn.matches(web), false);
  assert.equal(notIn.matches({ tier: "mid" }), true);
  assert.equal(notIn.matches({}), true);
});

test("label selector: exists and does-not-exist", () => {
  const has = parseLabelSelector("app");
  assert.equal(has.matches(web), true);
  assert.equal(has.matches({ app: "" }), true);
  assert.equal(has.matches({}), false);
  const hasNot = parseLabelSelector("!app");
  assert.equal(hasNot.matches(web), false);
  assert.equal(hasNot.matches({ other: "x" }), true);
  assert.equal(hasNot.matches(undefined), true);
  assert.equal(parseLabelSelector("! app").matches({}), true);
});

test("label selector: keys that name Object.prototype members are plain labels", () => {
  assert.equal(parseLabelSelector("constructor").matches({}), false);
  assert.equal(parseLabelSelector("!toString").matches({}), true);
  assert.equal(parseLabelSelector("constructor!=x").matches({}), true);
  assert.equal(parseLabelSelector("constructor in (a,b)").matches({}), false);
  assert.equal(parseLabelSelector("constructor=x").matches({ constructor: "x" }), true);
});

test("label selector: requirements are ANDed, sorted by key, values deduplicated", () => {
  const s = parseLabelSelector("tier notin (db,db), app=web,!legacy, env");
  assert.equal(s.matches({ ...web, env: "prod" }), true);
  assert.equal(s.matches(web), false); // env missing
  assert.equal(s.matches({ ...web, env: "prod", legacy: "1" }), false);
  assert.deepEqual(
    s.requirements.map((r) => r.key),
    ["app", "env", "legacy", "tier"],
  );
  assert.deepEqual(s.requirements[3], { key: "tier", operator: "notin", values: ["db"] });
  assert.equal(s.toString(), "app=web,env,!legacy,tier notin (db)");
});

test("label selector: empty values follow kube (a=, in (), (,x))", () => {
  const eqEmpty = parseLabelSelector("a=");
  assert.equal(eqEmpty.matches({ a: "" }), true);
  assert.equal(eqEmpty.matches({ a: "x" }), false);
  assert.equal(eqEmpty.matches({}), false);
  assert.equal(parseLabelSelector("a=,b").matches({ a: "", b: "1" }), true);
  assert.deepEqual(parseLabelSelector("a in ()").requirements[0]?.values, [""]);
  assert.deepEqual(parseLabelSelector("a in (,x)").requirements[0]?.values, ["", "x"]);
  assert.deepEqual(parseLabelSelector("a in (x,)").requirements[0]?.values, ["", "x"]);
  assert.deepEqual(parseLabelSelector("a in (x,,y)").requirements[0]?.values, ["", "x", "y"]);
});

test("label selector: in/notin are keywords only in operator position", () => {
  const s = parseLabelSelector("in in (in, notin)");
  assert.equal(s.matches({ in: "notin" }), true);
  assert.equal(s.matches({ in: "x" }), false);
  assert.equal(parseLabelSelector("notin=in").matches({ notin: "in" }), true);
});

test("label selector: gt and lt compare integers like kube", () => {
  const gt = parseLabelSelector("n>5");
  assert.equal(gt.matches({ n: "6" }), true);
  assert.equal(gt.matches({ n: "5" }), false);
  assert.equal(gt.matches({ n: "abc" }), false);
  assert.equal(gt.matches({}), false);
  const lt = parseLabelSelector("n<10");
  assert.equal(lt.matches({ n: "9" }), true);
  assert.equal(lt.matches({ n: "10" }), false);
  assert.equal(lt.matches({ n: "-3" }), true);
  const big = parseLabelSelector("n>9007199254740993");
  assert.equal(big.matches({ n: "9007199254740994" }), true);
  assert.equal(big.matches({ n: "9007199254740993" }), false);
  assert.equal(big.matches({ n: "99999999999999999999" }), false); // overflows int64
  assert.equal(big.matches({ n: "12" }), false);
  assert.equal(parseLabelSelector("n<9007199254740993").matches({ n: "12" }), true);
  assert.equal(gt.toString(), "n>5");
  rejects(() => parseLabelSelector("n>x"), "labelSelector", /the value must be an integer/);
  rejects(() => parseLabelSelector("n>99999999999999999999"), "labelSelector", /must be an integer/);
});

test("label selector: prefixed keys and the 63-character limits", () => {
  const name63 = "a".repeat(63);
  assert.equal(parseLabelSelector(`example.com/${name63}=${name63}`).matches({ [`example.com/${name63}`]: name63 }), true);
  assert.equal(parseLabelSelector("app.kubernetes.io/name in (Web_1.x)").matches({ "app.kubernetes.io/name": "Web_1.x" }), true);
  rejects(
    () => parseLabelSelector(`${"a".repeat(64)}=x`),
    "labelSelector",
    /^unable to parse requirement: invalid label key "a{64}": name part must be no more than 63 bytes/,
  );
  rejects(
    () => parseLabelSelector(`a=${"b".repeat(64)}`),
    "labelSelector",
    /^unable to parse requirement: invalid label value: "b{64}": at key: "a": must be no more than 63 bytes/,
  );
  rejects(() => parseLabelSelector("Example.com/a=x"), "labelSelector", /prefix part a lowercase RFC 1123 subdomain/);
  rejects(() => parseLabelSelector("/a"), "labelSelector", /prefix part must be non-empty/);
  rejects(() => parseLabelSelector("a/b/c"), "labelSelector", /with an optional DNS subdomain prefix/);
  rejects(() => parseLabelSelector("a/"), "labelSelector", /name part must be non-empty/);
  rejects(() => parseLabelSelector("-a"), "labelSelector", /invalid label key "-a": name part must consist of alphanumeric/);
  rejects(() => parseLabelSelector("a=-x"), "labelSelector", /invalid label value: "-x": at key: "a": a valid label must be an empty string/);
  rejects(() => parseLabelSelector("a in (ok, bad_)"), "labelSelector", /invalid label value: "bad_"/);
});

test("label selector: bad syntax names the offending token", () => {
  const cases: [string, RegExp][] = [
    ["a=b c", /^found 'c', expected: ',' or 'end of string'$/],
    ["a,", /^found '', expected: identifier after ','$/],
    [",a", /^found ',', expected: !, identifier, or 'end of string'$/],
    ["a,,b", /^found ',', expected: identifier after ','$/],
    ["a in b", /^unable to parse requirement: found 'b' expected: '\('$/],
    ["a in (b", /^unable to parse requirement: found '', expected: ',' or '\)'$/],
    ["a in (b c)", /^unable to parse requirement: found 'c', expected: ',' or '\)'$/],
    ["a in (=)", /^unable to parse requirement: found '=', expected: ',', '\)' or identifier$/],
    ["a in (b,=)", /^unable to parse requirement: found '=', expected: ',', or identifier$/],
    ["a b", /^unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt$/],
    ["a=(", /^unable to parse requirement: found '\(', expected: identifier$/],
    ["a==!b", /^unable to parse requirement: found '!', expected: identifier$/],
    ["!", /^unable to parse requirement: found '', expected: identifier$/],
    ["!a=b", /^found '=', expected: ',' or 'end of string'$/],
    ["=b", /^found '=', expected: !, identifier, or 'end of string'$/],
  ];
  for (const [text, re] of cases) rejects(() => parseLabelSelector(text), "labelSelector", re);
});

test("label selector: a parsed selector keeps no state between matches", () => {
  const s = parseLabelSelector("app=web,tier in (front,back,mid,edge),!legacy,env notin (dev)");
  const labels = { app: "web", tier: "edge", env: "prod" };
  // Its speed is not asserted here (a test on a shared machine cannot time it fairly).
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (s.matches(labels)) hits++;
  assert.equal(hits, 10_000);
  assert.equal(s.matches({ ...labels, legacy: "" }), false);
});

test("field selector: empty matches everything", () => {
  for (const text of ["", ",", " , "]) {
    const s = parseFieldSelector(text);
    assert.equal(s.empty, true);
    assert.equal(s.matches("ns", "x"), true);
    assert.equal(s.name, undefined);
    assert.equal(s.namespace, undefined);
  }
});

test("field selector: = and == pin exact values", () => {
  for (const op of ["=", "=="]) {
    const s = parseFieldSelector(`metadata.name${op}build-1,metadata.namespace${op}default`);
    assert.equal(s.empty, false);
    assert.equal(s.name, "build-1");
    assert.equal(s.namespace, "default");
    assert.equal(s.matches("default", "build-1"), true);
    assert.equal(s.matches("other", "build-1"), false);
    assert.equal(s.matches("default", "build-2"), false);
  }
  assert.equal(parseFieldSelector(" metadata.name = a ").name, "a");
});

test("field selector: != excludes and pins nothing", () => {
  const s = parseFieldSelector("metadata.namespace!=kube-system,metadata.name!=a");
  assert.equal(s.namespace, undefined);
  assert.equal(s.name, undefined);
  assert.equal(s.matches("default", "b"), true);
  assert.equal(s.matches("kube-system", "b"), false);
  assert.equal(s.matches("default", "a"), false);
  assert.equal(s.toString(), "metadata.name!=a,metadata.namespace!=kube-system");
});

test("field selector: contradictory and cluster-scoped selectors", () => {
  const s = parseFieldSelector("metadata.name=a,metadata.name=b");
  assert.equal(s.matches("", "a"), false);
  assert.equal(s.matches("", "b"), false);
  const same = parseFieldSelector("metadata.name=a,metadata.name==a");
  assert.equal(same.matches("", "a"), true);
  const clusterScoped = parseFieldSelector("metadata.namespace=");
  assert.equal(clusterScoped.namespace, "");
  assert.equal(clusterScoped.matches("", "x"), true);
  assert.equal(clusterScoped.matches("default", "x"), false);
});

test("field selector: unsupported fields and bad terms are rejected", () => {
  rejects(() => parseFieldSelector("spec.foo=bar"), "fieldSelector", /^field label not supported: spec\.foo$/);
  rejects(() => parseFieldSelector("metadata.name=a,status.phase=x"), "fieldSelector", /not supported: status\.phase/);
  rejects(() => parseFieldSelector("metadata.name"), "fieldSelector", /^invalid selector: 'metadata\.name'; can't understand 'metadata\.name'$/);
  rejects(() => parseFieldSelector("metadata.name=a=b"), "fieldSelector", /^invalid field selector: unescaped character in value: 61$/);
  rejects(() => parseFieldSelector("metadata.name===a"), "fieldSelector", /^invalid field selector: unescaped character in value: 61$/);
});

test("field selector: values take kube's escapes \\, \\= and \\\\", () => {
  const s = parseFieldSelector("metadata.name=a\\,b\\=c\\\\d,metadata.namespace!=x\\,y");
  assert.deepEqual(s.requirements, [
    { field: "metadata.name", operator: "=", value: "a,b=c\\d" },
    { field: "metadata.namespace", operator: "!=", value: "x,y" },
  ]);
  assert.equal(s.name, "a,b=c\\d");
  assert.equal(s.matches("default", "a,b=c\\d"), true);
  assert.equal(s.matches("x,y", "a,b=c\\d"), false);
  assert.equal(s.toString(), "metadata.name=a\\,b\\=c\\\\d,metadata.namespace!=x\\,y");
  assert.equal(parseFieldSelector(s.toString()).toString(), s.toString());
  // The term splits at its first operator, `==` here, and `\=` stays in the value.
  assert.equal(parseFieldSelector("metadata.name==a\\=").name, "a=");
});

test("field selector: bad escapes and bare , or = in a value are rejected with kube's messages", () => {
  rejects(() => parseFieldSelector("metadata.name=a\\b"), "fieldSelector", /^invalid field selector: invalid escape sequence: \\b$/);
  rejects(() => parseFieldSelector("metadata.name=a\\"), "fieldSelector", /^invalid field selector: invalid escape sequence: \\$/);
  rejects(() => parseFieldSelector("metadata.name=a\\,b=c"), "fieldSelector", /^invalid field selector: unescaped character in value: 61$/);
  // Values are checked while parsing, before the fields are: kube's order.
  rejects(() => parseFieldSelector("spec.x=a\\q"), "fieldSelector", /invalid escape sequence/);
});
