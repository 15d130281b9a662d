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
  assert.equal(print("{.items[0].metadata.labels['app.kubernetes.io/name']}"), "ci");
  assert.equal(print("{.items[0].metadata.labels.app\\.kubernetes\\.io/name}"), "ci");
  assert.equal(print('{.items[0].metadata.labels["app"]}'), "web");
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
  assert.equal(print("{range .items[*]}{$.kind}/{@.metadata.name} {end}"), "PipelineRunList/alpha PipelineRunList/beta ");
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
    ["{range .items[*]}{.metadata.name}", /unclosed range/],
    ["{.metadata.name}{end}", /not in range/],
    ["{metadata.name}", /unrecognized identifier/],
    ["{.items[?(@.metadata.name)x]}", /invalid filter/],
    ["{.items[?(@.a == b)]}", /invalid filter operand "b"/],
    ["{.items[0:1]}", /slices .* are not supported/],
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
