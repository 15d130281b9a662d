// Pure pieces of the CLI: kubectl-style ages, borderless tables, manifest
// parsing (multi-document YAML, JSON, Lists) and error formatting.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServerError } from "../../src/cli/errors.ts";
import { parseManifests } from "../../src/cli/manifests.ts";
import { formatError } from "../../src/cli/printers.ts";
import { age, humanDuration, LineTable, renderTable } from "../../src/cli/table.ts";

describe("humanDuration", () => {
  it("follows kubectl's short format", () => {
    const s = 1000,
      m = 60 * s,
      h = 60 * m,
      d = 24 * h;
    const cases: Array<[number, string]> = [
      // apimachinery's HumanDuration: under 2s ahead is clock skew (0s), 2s or more ahead is <invalid>.
      [-5 * s, "<invalid>"],
      [-2 * s, "<invalid>"],
      [-1999, "0s"],
      [-1 * s, "0s"],
      [0, "0s"],
      [59 * s, "59s"],
      [119 * s, "119s"],
      [2 * m, "2m"],
      [5 * m + 30 * s, "5m30s"],
      [10 * m, "10m"],
      [179 * m, "179m"],
      [3 * h, "3h"],
      [3 * h + 20 * m, "3h20m"],
      [8 * h, "8h"],
      [47 * h, "47h"],
      [2 * d, "2d"],
      [3 * d + 4 * h, "3d4h"],
      [8 * d, "8d"],
      [400 * d, "400d"],
      [730 * d, "2y"],
      [800 * d, "2y70d"],
      [3000 * d, "8y"],
    ];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, `${ms} ms`);
  });

  it("the CLI's ages read a server timestamp ahead of this machine's clock as 0s, not <invalid>", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(age("2026-01-01T00:00:05Z", now), "0s");
    assert.equal(age("2025-12-31T23:59:00Z", now), "60s");
    assert.equal(age(undefined, now), "<unknown>");
  });
});

describe("tables", () => {
  it("renders a borderless table with three spaces between columns and no trailing blanks", () => {
    assert.equal(
      renderTable(
        ["NAME", "AGE"],
        [
          ["a-long-name", "5s"],
          ["b", "12m"],
        ],
      ),
      "NAME          AGE\na-long-name   5s\nb             12m",
    );
  });

  it("keeps a row-at-a-time table aligned, widening a column when a cell needs it", () => {
    const table = new LineTable(["EVENT", "NAME"], [["MODIFIED", "x"]]);
    assert.equal(table.header(), "EVENT      NAME");
    assert.equal(table.line(["ADDED", "x"]), "ADDED      x");
    assert.equal(table.line(["DELETED", "y"]), "DELETED    y");
  });

  it("sizes columns to the longest cell seen so far, the header printed once, as kubectl get -w", () => {
    const table = new LineTable(["NAME", "PHASE", "AGE"], [["short", "Running", "1s"]]);
    assert.equal(table.header(), "NAME    PHASE     AGE");
    assert.equal(table.line(["short", "Running", "1s"]), "short   Running   1s");
    assert.equal(table.line(["a-much-longer-name", "Running", "1s"]), "a-much-longer-name   Running   1s");
    assert.equal(table.line(["short", "Succeeded", "2s"]), "short                Succeeded   2s");
    assert.equal(table.line(["short", "Failed", "a long last cell"]), "short                Failed      a long last cell");
  });
});

describe("parseManifests", () => {
  it("reads several YAML documents, skips empty ones and expands Lists", () => {
    const text = `apiVersion: v1
kind: A
metadata: {name: a}
---
---
{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "g/v1", "kind": "B", "metadata": {"name": "b"}}, {"apiVersion": "g/v1", "kind": "C"}]}
`;
    const out = parseManifests(text, "f.yaml");
    assert.deepEqual(
      out.map((m) => [m.object.kind, m.object.metadata.name, m.source]),
      [
        ["A", "a", "f.yaml#1"],
        ["B", "b", "f.yaml#3"],
        ["C", undefined, "f.yaml#3"],
      ],
    );
  });

  it("names the source and document of a bad one", () => {
    assert.throws(() => parseManifests("kind: X\n", "one.yaml"), /one\.yaml: apiVersion is missing/);
    assert.throws(() => parseManifests("apiVersion: v1\nkind: X\n---\n- 1\n", "two.yaml"), /two\.yaml#2: a document must be an object/);
    assert.throws(() => parseManifests("a: [\n", "bad.yaml"), /bad\.yaml: invalid YAML/);
    assert.throws(() => parseManifests("apiVersion: v1\nkind: X\n---\nb: 1\nb: 2\n", "dup.yaml"), {
      message: "dup.yaml#2: invalid YAML at line 5, column 1: Map keys must be unique",
    });
  });
});

describe("formatError", () => {
  it("prints a server Status's reason and message, then one line per field cause", () => {
    const error = new ServerError({
      code: 422,
      reason: "Invalid",
      message: 'PipelineRun.ci.setpoint.dev "x" is invalid: spec.tasks[0].name: Required value',
      details: { causes: [{ field: "spec.tasks[0].name", message: "Required value" }] },
    });
    assert.equal(
      formatError(error, "error when applying x"),
      'Error from server (Invalid): error when applying x: PipelineRun.ci.setpoint.dev "x" is invalid:\n  spec.tasks[0].name: Required value',
    );
    // Several causes: kube's one-line bracketed list is printed once, a cause a line.
    const several = new ServerError({
      code: 422,
      reason: "Invalid",
      message: 'Widget.example.com "w" is invalid: [metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain, spec.n: Required value]',
      details: {
        causes: [
          { field: "metadata.name", message: 'Invalid value: "Bad": a lowercase RFC 1123 subdomain' },
          { field: "spec.n", message: "Required value" },
        ],
      },
    });
    assert.equal(
      formatError(several),
      'Error from server (Invalid): Widget.example.com "w" is invalid:\n  metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain\n  spec.n: Required value',
    );
    // Other reasons keep their whole message before their causes.
    const bad = new ServerError({
      code: 400,
      reason: "BadRequest",
      message: "the namespace of the provided object does not match the namespace sent on the request",
      details: { causes: [{ field: "metadata.namespace", message: "must be a" }] },
    });
    assert.equal(
      formatError(bad),
      "Error from server (BadRequest): the namespace of the provided object does not match the namespace sent on the request\n  metadata.namespace: must be a",
    );
    assert.equal(formatError(new Error("boom")), "error: boom");
  });
});
