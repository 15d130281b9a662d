import { test } from "node:test";
import assert from "node:assert/strict";
import { compileSchema, validateAnnotations, validateFinalizers, validateLabels, validateName, validateNamespace } from "../../src/api/validation.ts";

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start " +
  "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

test("validateName accepts DNS-1123 subdomains up to 253 characters", () => {
  for (const name of ["a", "build-42", "a.b.c", "0abc", "x".repeat(253), `${"a".repeat(63)}.${"b".repeat(63)}`]) {
    assert.deepEqual(validateName(name, "metadata.name"), [], name);
  }
});

test("validateName rejects with kube's message", () => {
  assert.deepEqual(validateName("Build_1", "metadata.name"), [
    { field: "metadata.name", message: `Invalid value: "Build_1": ${SUBDOMAIN_MSG}`, reason: "FieldValueInvalid" },
  ]);
  for (const name of ["-a", "a-", "a..b", ".a", "a b", "é"]) {
    assert.equal(validateName(name, "metadata.name").length, 1, name);
  }
  const tooLong = validateName("x".repeat(254), "metadata.name");
  assert.deepEqual(
    tooLong.map((c) => c.message),
    [`Invalid value: "${"x".repeat(254)}": must be no more than 253 bytes`],
  );
  assert.deepEqual(validateName("", "metadata.name"), [{ field: "metadata.name", message: "Required value", reason: "FieldValueRequired" }]);
  assert.equal(validateName(undefined, "metadata.name")[0]?.reason, "FieldValueRequired");
  assert.deepEqual(validateName(7, "metadata.name"), [
    { field: "metadata.name", message: "Invalid value: 7: must be a string", reason: "FieldValueTypeInvalid" },
  ]);
});

test("validateNamespace wants a DNS-1123 label of at most 63 characters", () => {
  assert.deepEqual(validateNamespace("default", "metadata.namespace"), []);
  assert.deepEqual(validateNamespace("a".repeat(63), "metadata.namespace"), []);
  assert.deepEqual(
    validateNamespace("a".repeat(64), "metadata.namespace").map((c) => c.message),
    [`Invalid value: "${"a".repeat(64)}": must be no more than 63 bytes`],
  );
  assert.deepEqual(
    validateNamespace("a.b", "metadata.namespace").map((c) => c.message),
    ['Invalid value: "a.b": must not contain dots'],
  );
  const [upper] = validateNamespace("Default", "metadata.namespace");
  assert.match(
    upper?.message ?? "",
    /a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'.*\(e\.g\. 'my-name', {2}or '123-abc', regex/,
  );
  assert.equal(validateNamespace("", "metadata.namespace")[0]?.reason, "FieldValueRequired");
});

test("validateLabels checks keys and values by kube's rules", () => {
  const n63 = "a".repeat(63);
  assert.deepEqual(validateLabels(undefined, "metadata.labels"), []);
  assert.deepEqual(validateLabels({}, "metadata.labels"), []);
  assert.deepEqual(validateLabels({ app: "web", [`example.com/${n63}`]: n63, "A_b.c": "", "x.io/Y": "Z_1" }, "metadata.labels"), []);
  const causes = validateLabels({ "-bad": "ok", good: "-bad", long: "v".repeat(64) }, "metadata.labels");
  assert.deepEqual(
    causes.map((c) => c.field),
    ["metadata.labels", "metadata.labels", "metadata.labels"],
  );
  assert.match(causes[0]!.message, /^Invalid value: "-bad": name part must consist of alphanumeric characters/);
  assert.match(causes[1]!.message, /^Invalid value: "-bad": a valid label must be an empty string or consist of/);
  assert.equal(causes[2]!.message, `Invalid value: "${"v".repeat(64)}": must be no more than 63 bytes`);
  assert.match(validateLabels({ [`${n63}b`]: "x" }, "l")[0]!.message, /name part must be no more than 63 bytes/);
  assert.match(validateLabels({ "Bad.com/x": "x" }, "l")[0]!.message, /prefix part a lowercase RFC 1123 subdomain/);
  assert.match(validateLabels({ "a/b/c": "x" }, "l")[0]!.message, /optional DNS subdomain prefix and '\/'/);
});

test("validateLabels rejects non-maps and non-string values", () => {
  assert.equal(validateLabels("app=web", "metadata.labels")[0]?.reason, "FieldValueTypeInvalid");
  assert.equal(validateLabels(["a"], "metadata.labels")[0]?.message, 'Invalid value: "array": must be a map of string keys to string values');
  assert.deepEqual(validateLabels({ app: 3 }, "metadata.labels"), [
    { field: "metadata.labels[app]", message: "Invalid value: 3: must be a string", reason: "FieldValueTypeInvalid" },
  ]);
});

test("validateAnnotations: case-insensitive keys, string values, 256 KiB total", () => {
  assert.deepEqual(validateAnnotations({ "Example.com/Note": "any text at all: ✓", "kubectl.kubernetes.io/x": "" }, "metadata.annotations"), []);
  assert.match(validateAnnotations({ "a b": "x" }, "metadata.annotations")[0]!.message, /^Invalid value: "a b": name part/);
  assert.equal(validateAnnotations({ a: 1 }, "metadata.annotations")[0]?.field, "metadata.annotations[a]");
  assert.deepEqual(validateAnnotations({ a: "x".repeat(256 * 1024 - 1) }, "metadata.annotations"), []);
  assert.deepEqual(validateAnnotations({ a: "x".repeat(256 * 1024) }, "metadata.annotations"), [
    { field: "metadata.annotations", message: "Too long: must have at most 262144 bytes", reason: "FieldValueTooLong" },
  ]);
  // Size is in UTF-8 bytes, as in kube.
  assert.equal(validateAnnotations({ a: "é".repeat(131072) }, "metadata.annotations")[0]?.reason, "FieldValueTooLong");
});

test("validateFinalizers: qualified names, no duplicates", () => {
  assert.deepEqual(validateFinalizers(undefined, "metadata.finalizers"), []);
  assert.deepEqual(validateFinalizers(["ci.example.com/cleanup", "orphan"], "metadata.finalizers"), []);
  assert.deepEqual(validateFinalizers(["a/b", "x", "a/b"], "metadata.finalizers"), [
    { field: "metadata.finalizers[2]", message: 'Duplicate value: "a/b"', reason: "FieldValueDuplicate" },
  ]);
  const bad = validateFinalizers(["bad value", 3], "metadata.finalizers");
  assert.equal(bad[0]?.field, "metadata.finalizers");
  assert.match(bad[0]!.message, /^Invalid value: "bad value": name part must consist/);
  assert.deepEqual(bad[1], { field: "metadata.finalizers[1]", message: "Invalid value: 3: must be a string", reason: "FieldValueTypeInvalid" });
  assert.equal(validateFinalizers("x", "metadata.finalizers")[0]?.reason, "FieldValueTypeInvalid");
});

const taskSchema = {
  type: "object",
  required: ["tasks"],
  properties: {
    tasks: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "image"],
        additionalProperties: false,
        properties: { name: { type: "string", minLength: 1 }, image: { type: "string" }, retries: { type: "integer", minimum: 0 } },
      },
    },
    labels: { type: "object", additionalProperties: { type: "string" } },
  },
};

test("compileSchema rejects schemas that break the meta-schema, one cause at the field of each bad keyword", () => {
  const cases: Array<[unknown, string]> = [
    [{ type: 12 }, "spec.schema.spec.type"],
    [{ type: "bogus" }, "spec.schema.spec.type"],
    [{ required: "tasks" }, "spec.schema.spec.required"],
    [{ properties: { a: { minLength: -1 } } }, "spec.schema.spec.properties.a.minLength"],
    [{ type: "object", properties: { a: { type: "strin" } } }, "spec.schema.spec.properties.a.type"],
    [{ items: [{ type: "x" }] }, "spec.schema.spec.items"],
    [null, "spec.schema.spec"],
    [5, "spec.schema.spec"],
    ["object", "spec.schema.spec"],
  ];
  for (const [schema, field] of cases) {
    const { causes, check } = compileSchema(schema, "spec.schema.spec");
    assert.equal(check, undefined, JSON.stringify(schema));
    assert.deepEqual(
      causes.map((c) => c.field),
      [field],
      JSON.stringify(causes),
    );
    for (const c of causes) {
      assert.equal(c.reason, "FieldValueInvalid");
      assert.match(c.message, /invalid JSON Schema at '/);
    }
  }
  const typo = compileSchema({ properties: { a: { type: "strin" } } }, "f").causes;
  assert.match(typo[0]!.message, /^Invalid value: "strin": invalid JSON Schema at '\/properties\/a\/type'/);
  const unsupported = compileSchema({ $schema: "http://example.com/my-schema", type: "object" }, "f");
  assert.equal(unsupported.causes[0]?.reason, "FieldValueNotSupported");
});

test("compileSchema accepts valid schemas of any supported draft; undefined means no schema", () => {
  assert.deepEqual(compileSchema(undefined, "f"), { causes: [] });
  for (const schema of [taskSchema, true, {}, { $schema: "http://json-schema.org/draft-07/schema#", type: "string" }]) {
    const { causes, check } = compileSchema(schema, "f");
    assert.deepEqual(causes, []);
    assert.equal(typeof check, "function");
  }
  const { check } = compileSchema({ $schema: "http://json-schema.org/draft-04/schema#", type: "integer" }, "f");
  assert.deepEqual(check!(3, "spec"), []);
  assert.equal(check!("3", "spec").length, 1);
});

test("check maps TypeBox errors to kube field paths", () => {
  const { check } = compileSchema(taskSchema, "spec.schema.spec");
  assert.ok(check);
  assert.deepEqual(check({ tasks: [{ name: "build", image: "node:20" }] }, "spec"), []);
  assert.deepEqual(check({}, "spec"), [{ field: "spec.tasks", message: "Required value", reason: "FieldValueRequired" }]);
  assert.deepEqual(check({ tasks: [{ name: "a", image: "i" }, {}] }, "spec"), [
    { field: "spec.tasks[1].name", message: "Required value", reason: "FieldValueRequired" },
    { field: "spec.tasks[1].image", message: "Required value", reason: "FieldValueRequired" },
  ]);
  assert.deepEqual(check({ tasks: [{ name: 5, image: "i", retries: -1 }] }, "spec"), [
    {
      field: "spec.tasks[0].name",
      message: 'Invalid value: "integer": spec.tasks[0].name in body must be of type string: "integer"',
      reason: "FieldValueTypeInvalid",
    },
    {
      field: "spec.tasks[0].retries",
      message: "Invalid value: -1: spec.tasks[0].retries in body should be greater than or equal to 0",
      reason: "FieldValueInvalid",
    },
  ]);
  assert.deepEqual(check({ tasks: [{ name: "a", image: "i", cpu: 2, mem: "x" }] }, "spec"), [
    {
      field: "spec.tasks[0].cpu",
      message: 'Invalid value: 2: unknown field "cpu": the known fields here are image, name, retries',
      reason: "FieldValueInvalid",
    },
    {
      field: "spec.tasks[0].mem",
      message: 'Invalid value: "x": unknown field "mem": the known fields here are image, name, retries',
      reason: "FieldValueInvalid",
    },
  ]);
  // No spec at all is a missing value, not a null of the wrong type; an explicit null still is one.
  assert.deepEqual(check(undefined, "spec"), [{ field: "spec", message: "Required value", reason: "FieldValueRequired" }]);
  assert.equal(check(null, "spec")[0]?.reason, "FieldValueTypeInvalid");
  // A `false` schema that is not an object's additionalProperties keeps the general words.
  const never = compileSchema({ type: "object", properties: { old: false } }, "f").check!;
  assert.deepEqual(never({ old: 1 }, "spec"), [
    { field: "spec.old", message: "Invalid value: 1: field is not allowed by the schema", reason: "FieldValueInvalid" },
  ]);
  assert.deepEqual(
    check({ tasks: "x" }, "spec").map((c) => [c.field, c.message]),
    [["spec.tasks", 'Invalid value: "string": spec.tasks in body must be of type array: "string"']],
  );
  assert.deepEqual(
    check(7, "spec").map((c) => c.field),
    ["spec"],
  );
  // Object keys that look like indexes, or hold '/', '~' or '.', stay properties.
  assert.deepEqual(
    check({ tasks: [], labels: { "0": 1, "a/b~c": 2 } }, "spec").map((c) => c.field),
    ["spec.labels.0", "spec.labels.a/b~c"],
  );
  assert.deepEqual(
    check({}, "").map((c) => c.field),
    ["tasks"],
  );
});

test("a compiled check keeps no state between calls: the same valid value passes every time", () => {
  const { check } = compileSchema(taskSchema, "f");
  const value = { tasks: [{ name: "build", image: "node:20", retries: 2 }], labels: { a: "b" } };
  // Its speed is not asserted here (a test on a shared machine cannot time it fairly).
  let ok = 0;
  for (let i = 0; i < 10_000; i++) if (check!(value, "spec").length === 0) ok++;
  assert.equal(ok, 10_000);
});

test("check words errors as kube-apiserver words a custom resource's (go-openapi's messages, kube's reasons)", () => {
  const schema = {
    type: "object",
    properties: {
      lo: { minimum: 2 },
      hi: { exclusiveMaximum: 3 },
      short: { minLength: 2 },
      long: { maxLength: 1 },
      pat: { pattern: "^a$" },
      many: { maxItems: 1 },
      uniq: { uniqueItems: true },
      odd: { multipleOf: 2 },
      when: { type: "string", format: "date-time" },
    },
  };
  const { check } = compileSchema(schema, "f");
  const bad = { lo: 1, hi: 3, short: "x", long: "xy", pat: "b", many: [1, 2], uniq: [1, 1], odd: 3, when: "soon" };
  const got = Object.fromEntries(
    Object.keys(bad).flatMap((k) => check!({ [k]: bad[k as keyof typeof bad] }, "spec").map((c) => [c.field, `${c.reason} ${c.message}`])),
  );
  assert.deepEqual(got, {
    "spec.lo": "FieldValueInvalid Invalid value: 1: spec.lo in body should be greater than or equal to 2",
    "spec.hi": "FieldValueInvalid Invalid value: 3: spec.hi in body should be less than 3",
    "spec.short": 'FieldValueInvalid Invalid value: "x": spec.short in body should be at least 2 chars long',
    "spec.long": "FieldValueTooLong Too long: may not be longer than 1",
    "spec.pat": "FieldValueInvalid Invalid value: \"b\": spec.pat in body should match '^a$'",
    "spec.many": "FieldValueTooMany Too many: 2: must have at most 1 items",
    "spec.uniq": 'FieldValueInvalid Invalid value: "array": spec.uniq in body shouldn\'t contain duplicates',
    "spec.odd": "FieldValueInvalid Invalid value: 3: spec.odd in body should be a multiple of 2",
    "spec.when": 'FieldValueTypeInvalid Invalid value: "soon": spec.when in body must be of type date-time: "soon"',
  });
});

test("check reports every bad field (TypeBox alone stops at 8), and the ratchet never passes an error it could not see", () => {
  const properties = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${i}`, { type: "integer" }]));
  const { check } = compileSchema({ type: "object", properties }, "f");
  const bad = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${i}`, "x"]));
  assert.equal(check!(bad, "spec").length, 12);
  // 11 misfits left as they were, the 12th changed: only that one is reported
  assert.deepEqual(
    check!({ ...bad, p11: "y" }, "spec", { value: bad }).map((c) => c.field),
    ["spec.p11"],
  );
});
