// Printer columns, short names and categories on ResourceType: the JSONPath
// grammar, and the validation causes for bad declarations.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AGE_COLUMN, columnTemplate, parsePrinterColumns, validateNameList } from "../../src/api/printer-columns.ts";
import { typeFromResourceType } from "../../src/api/types.ts";
import { InvalidError } from "../../src/errors.ts";

describe("printer columns", () => {
  it("evaluates a column's JSONPath as kube does (client-go's): keys, indices, quoted keys, filters; nothing when absent", () => {
    const o = {
      status: { phase: "Running", tasks: [{ name: "a" }], conditions: [{ type: "Ready", status: "True" }] },
      metadata: { labels: { "app.kubernetes.io/name": "x" } },
    };
    const at = (path: string) => columnTemplate(path)!.find(o)[0];
    assert.deepEqual(at(".status.phase"), ["Running"]);
    assert.deepEqual(at(".status.tasks[0].name"), ["a"]);
    assert.deepEqual(at(".status.tasks[-1].name"), ["a"]);
    // As client-go (kube-apiserver's table convertor): ['k'] is read as .k, so a dot in k must be escaped.
    assert.deepEqual(at(".metadata.labels['app\\.kubernetes\\.io/name']"), ["x"]);
    assert.deepEqual(at(".metadata.labels['app.kubernetes.io/name']"), []);
    assert.deepEqual(at('.status.conditions[?(@.type=="Ready")].status'), ["True"]);
    assert.deepEqual(at(".status.phase.deeper"), []);
    assert.throws(() => at(".status[0]"), /map\[string\]interface \{\} is not array or slice/);
    // As kube's CRD validation: a path starts with '.'; and it must be one path, as kube's table convertor parses it.
    for (const bad of ["status.phase", '.a["b"]', "{.a}", ".a}{.b", ".a}{range .b}", ".a[", ".a[?(@.x ==)]"]) assert.equal(columnTemplate(bad), undefined, bad);
  });

  it("names every bad field of a column declaration", () => {
    const { columns, causes } = parsePrinterColumns(
      [
        { name: "Phase", type: "string", jsonPath: ".status.phase" },
        { name: "Phase", type: "text", jsonPath: "status" },
        { type: "string", jsonPath: ".a", priority: -1 },
        { name: "name", type: "string", jsonPath: ".metadata.name" },
        "nope",
      ],
      "spec.additionalPrinterColumns",
    );
    assert.deepEqual(columns, []);
    assert.deepEqual(
      causes.map((c) => c.field),
      [
        "spec.additionalPrinterColumns[1].name",
        "spec.additionalPrinterColumns[1].type",
        "spec.additionalPrinterColumns[1].jsonPath",
        "spec.additionalPrinterColumns[2].name",
        "spec.additionalPrinterColumns[2].priority",
        "spec.additionalPrinterColumns[3].name",
        "spec.additionalPrinterColumns[4]",
      ],
    );
    const good = parsePrinterColumns([{ name: "Phase", type: "string", jsonPath: ".status.phase", priority: 1, description: "d" }], "f");
    // Age is not always shown (only to a type that declares no columns, as kube-apiserver): a type may declare it.
    assert.deepEqual(parsePrinterColumns([AGE_COLUMN], "f"), { columns: [AGE_COLUMN], causes: [] });
    assert.deepEqual(good, { columns: [{ name: "Phase", type: "string", jsonPath: ".status.phase", priority: 1, description: "d" }], causes: [] });
  });

  it("short names and categories are unique lowercase labels", () => {
    assert.deepEqual(validateNameList(["pr", "runs"], "spec.shortNames"), []);
    assert.deepEqual(
      validateNameList(["pr", "PR", "pr"], "spec.shortNames").map((c) => [c.field, c.reason]),
      [
        ["spec.shortNames[1]", "FieldValueInvalid"],
        ["spec.shortNames[2]", "FieldValueDuplicate"],
      ],
    );
    assert.equal(validateNameList("pr", "spec.categories")[0]?.reason, "FieldValueTypeInvalid");
  });

  it("a ResourceType carries them into the live type, or is refused with the field at fault", () => {
    const rt = (extra: Record<string, unknown>) => ({
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: "widgets.demo.example.com" },
      spec: { group: "demo.example.com", version: "v1", kind: "Widget", plural: "widgets", ...extra },
    });
    const t = typeFromResourceType(
      rt({
        shortNames: ["wd"],
        categories: ["demo"],
        description: "A widget.",
        additionalPrinterColumns: [{ name: "Size", type: "integer", jsonPath: ".spec.size" }],
      }),
      7,
    );
    assert.deepEqual(t.shortNames, ["wd"]);
    assert.deepEqual(t.categories, ["demo"]);
    assert.equal(t.description, "A widget.");
    assert.deepEqual(t.printerColumns, [{ name: "Size", type: "integer", jsonPath: ".spec.size" }]);
    assert.throws(
      () => typeFromResourceType(rt({ shortNames: ["Bad"], additionalPrinterColumns: [{ name: "X", type: "string", jsonPath: "nope" }] }), 7),
      (err: unknown) =>
        err instanceof InvalidError && /spec\.shortNames\[0\]/.test(err.message) && /spec\.additionalPrinterColumns\[0\]\.jsonPath/.test(err.message),
    );
  });
});
