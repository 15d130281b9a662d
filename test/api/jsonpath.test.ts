// kubectl's JSONPath templates (src/api/jsonpath.ts): what kubectl prints for
// the same template and object (client-go's util/jsonpath with missing keys
// allowed), and the templates it refuses.

import assert from "node:assert/strict";
import { test } from "node:test";
import { JsonPathError, parseJsonPath } from "../../src/api/jsonpath.ts";

const list = {
  kind: "PipelineRunList",
  metadata: { resourceVersion: "12" },
  items: [
    { metadata: { name: "alpha", labels: { app: "web", "app.kubernetes.io/name": "ci" } }, status: { phase: "Running", attempts: 2, done: false } },
    { metadata: { name: "beta" }, spec: { tasks: [{ name: "a" }, { name: "b" }] } },
  ],
};
const print = (template: string, value: unknown = list) => parseJsonPath(template).print(value);

test("jsonpath: field paths print scalars bare; text outside braces as is", () => {
  assert.equal(print("{.kind}"), "PipelineRunList");
  assert.equal(print("rv={.metadata.resourceVersion}!"), "rv=12!");
  assert.equal(print("{.items[0].metadata.name}"), "alpha");
  assert.equal(print("{.items[-1].metadata.name}"), "beta");
  assert.equal(print("{.items[0].status.attempts} {.items[0].status.done}"), "2 false");
  assert.equal(print("{$.kind}{@.kind}"), "PipelineRunListPipelineRunList");
  assert.equal(print("{.items[0].metadata.labels['app\\.kubernetes\\.io/name']}"), "ci");
  assert.equal(print("{.items[0].metadata.labels.app\\.kubernetes\\.io/name}"), "ci");
  assert.equal(print("{.items[0].metadata.labels['app']}"), "web");
});

test("jsonpath: [*] and .. give every value, joined by a space; maps and lists print as JSON with sorted keys", () => {
  assert.equal(print("{.items[*].metadata.name}"), "alpha beta");
  assert.equal(print("{.items[*].status.phase}"), "Running");
  assert.equal(print("{..name}"), "alpha beta a b");
  assert.equal(print("{.items[0].metadata.labels}"), '{"app":"web","app.kubernetes.io/name":"ci"}');
  assert.equal(print("{.items[1].spec.tasks}"), '[{"name":"a"},{"name":"b"}]');
  assert.equal(print("{.items[0].metadata.labels.*}"), "web ci");
});

test("jsonpath: range … end repeats its body for each value, with paths relative to it; string literals", () => {
  assert.equal(print('{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}'), "alpha\tRunning\nbeta\t\n");
  assert.equal(print("{range .items[*]}[{.metadata.name}:{range .spec.tasks[*]}{.name},{end}]{end}"), "[alpha:][beta:a,b,]");
  // `$` is the current value, as `@`, in client-go: in a range, the item.
  assert.equal(print("{range .items[*]}{$.metadata.name}/{@.metadata.name} {end}"), "alpha/alpha beta/beta ");
  assert.equal(print('{"{}"}'), "{}");
});

test("jsonpath: a missing key prints nothing (kubectl's --allow-missing-template-keys), an index out of bounds is an error", () => {
  assert.equal(print("{.spec.nothing}"), "");
  assert.equal(print("<{.items[*].spec.tasks[0].name}>"), "<a>");
  assert.throws(
    () => print("{.items[5]}"),
    (err: unknown) => err instanceof JsonPathError && err.message === "array index out of bounds: index 5, length 2",
  );
});

test("jsonpath: filters keep the array items whose comparison holds, or that have the path, as client-go's", () => {
  const conditions = {
    status: { conditions: [{ type: "Ready", status: "True", n: 1 }, { type: "Synced", status: "False", n: 3, extra: { on: true } }, { type: "Odd" }] },
  };
  const at = (template: string) => print(template, conditions);
  assert.equal(at('{.status.conditions[?(@.type=="Ready")].status}'), "True");
  assert.equal(at("{.status.conditions[?(@.type=='Synced')].status}"), "False");
  assert.equal(at('{.status.conditions[?(@.type!="Ready")].type}'), "Synced Odd");
  assert.equal(at("{.status.conditions[?(@.n>=2)].type}"), "Synced");
  assert.equal(at("{.status.conditions[?(@.n < 2)].type}"), "Ready");
  assert.equal(at("{.status.conditions[?(@.status)].type}"), "Ready Synced");
  assert.equal(at("{.status.conditions[?(@.extra.on==true)].type}"), "Synced");
  assert.equal(at('{.status.conditions[?(@.type=="a]b")].type}'), "");
  assert.equal(at("{range .status.conditions[?(@.status)]}{.type}={.status};{end}"), "Ready=True;Synced=False;");
  assert.deepEqual(parseJsonPath('{.status.conditions[?(@.type=="Ready")].n}x{.nothing}').find(conditions), [[1], ["x"], []]);
});

test("jsonpath: templates kubectl refuses, and what this one does not support, are refused when parsed", () => {
  for (const [template, re] of [
    ["{.metadata.name", /unclosed action/],
    ["{.metadata.name}{end}", /not in range/],
    ["{metadata.name}", /unrecognized identifier/],
    ["{.items[?(@.metadata.name)x]}", /invalid filter/],
    ["{.items[?(@.a == b)]}", /invalid filter operand "b"/],
    ['{.items["a"]}', /^invalid array index "a"$/],
    ["{.items[ 0 ]}", /^invalid array index {2}0 $/],
    ["{..*}", /invalid path/],
    ['{.items[?(@.a=~"x")]}', /unrecognized filter operator =~/],
    ["{.items[x]}", /invalid array index/],
    ['{"\\q"}', /invalid string literal/],
  ] as const) {
    assert.throws(
      () => parseJsonPath(template),
      (err: unknown) => err instanceof JsonPathError && re.test(err.message),
      template,
    );
  }
});

test("numbers print as kubectl 1.32 prints them (Go's %v): floats with an exponent from 1e6 up and under 1e-4, integers as digits", () => {
  // What `kubectl label --local -f x.json a=b -o jsonpath=…` printed for each value.
  const o = { n: [1234567.5, -1234567.5, 999999.5, 123456.5, 0.00001, 0.0001, 1000000, 1e20, 3, 0.5] };
  assert.equal(parseJsonPath("{.n[*]}").print(o), "1.2345675e+06 -1.2345675e+06 999999.5 123456.5 1e-05 0.0001 1000000 1e+20 3 0.5");
});

// Each expected string below is what kubectl 1.32.4 printed for the same
// object and template (`kubectl label --local -f obj.json zz- -o
// jsonpath=TEMPLATE`, checked by hand), and each error its "Error executing
// template: …" message (client-go's words).
const object = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "x", labels: { app: "web", "app.kubernetes.io/name": "ci", "team/owner": "ops" } },
  spec: {
    items: [
      { name: "a", x: 1, f: 1.5, n: null },
      { name: "b", x: 2, s: "1" },
      { name: "c", x: 3, f: 2.5 },
      { name: "d", x: "1" },
    ],
    nul: null,
  },
};

/** Runs each [template, what kubectl printed or {error}] against `object`. */
function checkAgainstKubectl(cases: readonly (readonly [string, string | { error: string }])[]): void {
  for (const [template, expected] of cases) {
    const run = () => parseJsonPath(template).print(object);
    if (typeof expected === "string") assert.equal(run(), expected, template);
    else assert.throws(run, (err: unknown) => err instanceof JsonPathError && err.message === expected.error, template);
  }
}

test("jsonpath as kubectl: ['key'] is read as .key, so a dot in it splits the key; an escaped dot or a slash does not", () => {
  checkAgainstKubectl([
    ["{.metadata.labels['app.kubernetes.io/name']}", ""],
    ["{.metadata.labels['app\\.kubernetes\\.io/name']}", "ci"],
    ["{.metadata.labels.app\\.kubernetes\\.io/name}", "ci"],
    ["{.metadata.labels['team/owner']}", "ops"],
    ["{.metadata['labels']['app']}", "web"],
  ]);
  assert.throws(() => parseJsonPath('{.metadata.labels["app"]}'), /^JsonPathError: invalid array index "app"$/);
});

test("jsonpath as kubectl: slices [start:end:step] and unions [a,b], with client-go's bounds errors", () => {
  checkAgainstKubectl([
    ["{.spec.items[0:2].name}", "a b"],
    ["{.spec.items[-1:].name}", "d"],
    ["{.spec.items[::2].name}", "a c"],
    ["{.spec.items[1::2].name}", "b d"],
    ["{.spec.items[:-1].name}", "a b c"],
    ["{.spec.items[1:1].name}", ""],
    ["{.spec.items[0,2].name}", "a c"],
    ["{.spec.items[0, -1].name}", "a d"],
    ["{.metadata.labels['app','team/owner']}", "web ops"],
    ["{.spec.items[*,0].name}", "a b c d a"],
    ["{.spec.items[0:10].name}", { error: "array index out of bounds: index 9, length 4" }],
    ["{.spec.items[3:1].name}", { error: "starting index 3 is greater than ending index 1" }],
    ["{.spec.items[::0].name}", { error: "step must be > 0" }],
    ["{.spec.items[-5].name}", { error: "array index out of bounds: index -1, length 4" }],
    ["{.metadata[0]}", { error: "map[string]interface {} is not array or slice" }],
    ["{.metadata.labels[*]}", { error: "map[string]interface {} is not array or slice" }],
    ["{.spec.items[0].x[0]}", { error: "int64 is not array or slice" }],
    ["{.spec.nul[0]}", ""],
  ]);
});

test("jsonpath as kubectl: null prints as null, alone, in a list or in a map", () => {
  // Maps print as Go's json.Marshal: <, >, & and U+2028 escaped (kubectl printed this for data {a: "<b>&\u2028é\u0001"}).
  const html = { data: { a: "<b>&\u2028é\u0001", z: "1" } };
  assert.equal(parseJsonPath("{.data}|{.data.a}").print(html), '{"a":"\\u003cb\\u003e\\u0026\\u2028é\\u0001","z":"1"}|<b>&\u2028é\u0001');
  checkAgainstKubectl([
    ["{.spec.nul}", "null"],
    ["{.spec.items[*].n}", "null"],
    ["{.spec.items[0]}", '{"f":1.5,"n":null,"name":"a","x":1}'],
    ["{.spec.items[*].f}", "1.5 2.5"],
  ]);
});

test("jsonpath as kubectl: a filter comparing different types is an error, not a non-match; an integer is not a float", () => {
  checkAgainstKubectl([
    ['{.spec.items[?(@.x=="1")].name}', { error: "incompatible types for comparison" }],
    ["{.spec.items[?(@.x==1)].name}", { error: "incompatible types for comparison" }],
    ["{.spec.items[?(@.x!=2)].name}", { error: "incompatible types for comparison" }],
    ["{.spec.items[?(@.x<true)].name}", { error: "incompatible types for comparison" }],
    ["{.spec.items[?(@.f>1)].name}", { error: "incompatible types for comparison" }],
    ["{.spec.items[?(@.n==1)].name}", { error: "invalid type for comparison" }],
    ['{.spec.items[?(@.s=="1")].name}', "b"],
    ["{.spec.items[?(@.f>1.0)].name}", "a c"],
    ["{.spec.items[?(@.n)].name}", "a"],
    ["{.spec.items[?(@.x)].name}", "a b c d"],
    ['{.spec.items[?(@.name>"b")].name}', "c d"],
    ['{.spec.items[?(@.name<="b")].name}', "a b"],
    ["{.spec.items[?(@.name[5])].name}", "a b c d"],
    ["{.metadata.name[?(@.x)]}", { error: "x is not array or slice and cannot be filtered" }],
    ["{.spec.nul[?(@.x)]}", { error: "<nil> is not array or slice and cannot be filtered" }],
    ["{.metadata[?(@.x)]}", { error: "map[labels:map[app:web app.kubernetes.io/name:ci team/owner:ops] name:x] is not array or slice and cannot be filtered" }],
  ]);
});

test('jsonpath as kubectl: $ is the current value; {.} looks up the key ""; .. goes depth first', () => {
  checkAgainstKubectl([
    ["{range .spec.items[*]}{$.name}{end}", "abcd"],
    ["{.}", ""],
    ["{..f}", "1.5 2.5"],
  ]);
});

test("jsonpath as kubectl: literals in single quotes, numbers and booleans print themselves; a {range} without {end} runs to the end", () => {
  checkAgainstKubectl([
    ["{'x'}", "x"],
    ["{'a\\tb'}", "a\tb"],
    ["{'it\\'s'}", "it's"],
    ["{'say \"hi\"'}", 'say "hi"'],
    ['{"\\u00e9\\x41\\101"}', "éAA"],
    ["{1}", "1"],
    ["{-2}", "-2"],
    ["{1.0}", "1"],
    ["{1.5}", "1.5"],
    ["{true}", "true"],
    ["{range .spec.items[*]}{.name}", "abcd"],
    ["{.kind}{range .spec.items[*]}[{.name}]", "ConfigMap[a][b][c][d][]"],
    ["{range .spec.items[*]}{range .f}{@}{end}:", "1.5::2.5:::"],
    ["{range .spec.items[*]}{.name}{range .spec.items[*]}{.x}{end}", "abcd"],
  ]);
  for (const template of ['{"\\q"}', "{1.2.3}", "{'a}"]) assert.throws(() => parseJsonPath(template), JsonPathError, template);
});

test("jsonpath-as-json as kubectl: each path's values (each text, each pass of a range) as an indented JSON list", () => {
  // kubectl label --local -f obj.json zz- -o jsonpath-as-json=TEMPLATE printed these.
  assert.equal(
    parseJsonPath("{.spec.items[*].name}x{.spec.nul}{.spec.items[0]}").printJson(object),
    '[\n    "a",\n    "b",\n    "c",\n    "d"\n]\n[\n    "x"\n]\n[\n    null\n]\n[\n    {\n        "f": 1.5,\n        "n": null,\n        "name": "a",\n        "x": 1\n    }\n]\n',
  );
  assert.equal(
    parseJsonPath("{range .spec.items[*]}{.name}{end}{.spec.nothing}").printJson(object),
    '[\n    "a"\n]\n[\n    "b"\n]\n[\n    "c"\n]\n[\n    "d"\n]\n[]\n',
  );
});
