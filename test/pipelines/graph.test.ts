// The PipelineRun task graph (src/pipelines/graph.ts) and the whole-object
// check built on it (validatePipelineRun): precise fields for duplicate
// names, unknown runAfter names and cycles; the helpers a runner uses.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { blockedTasks, readyTasks, topologicalOrder, validateTaskGraph, type GraphTask } from "../../src/pipelines/graph.ts";
import { validatePipelineRun } from "../../src/pipelines/resource-type.ts";

const fields = (causes: Array<{ field: string }>) => causes.map((c) => c.field);

describe("validateTaskGraph", () => {
  it("accepts a diamond, a chain and independent tasks", () => {
    const diamond = [{ name: "a" }, { name: "b", runAfter: ["a"] }, { name: "c", runAfter: ["a"] }, { name: "d", runAfter: ["b", "c"] }];
    assert.deepEqual(validateTaskGraph(diamond, "spec.tasks"), []);
    assert.deepEqual(validateTaskGraph([{ name: "x" }, { name: "y" }], "spec.tasks"), []);
    // Order in the list does not matter: a task may run after one listed later.
    assert.deepEqual(validateTaskGraph([{ name: "late", runAfter: ["early"] }, { name: "early" }], "spec.tasks"), []);
  });

  it("reports a duplicate name at the later task's name", () => {
    const causes = validateTaskGraph([{ name: "a" }, { name: "b" }, { name: "a" }], "spec.tasks");
    assert.deepEqual(fields(causes), ["spec.tasks[2].name"]);
    assert.equal(causes[0]!.reason, "FieldValueDuplicate");
    assert.match(causes[0]!.message, /Duplicate value: "a"/);
  });

  it("reports an unknown runAfter name at its index", () => {
    const causes = validateTaskGraph([{ name: "a" }, { name: "b", runAfter: ["a", "nope"] }], "spec.tasks");
    assert.deepEqual(fields(causes), ["spec.tasks[1].runAfter[1]"]);
    assert.equal(causes[0]!.reason, "FieldValueNotFound");
    assert.match(causes[0]!.message, /"nope"/);
  });

  it("reports a task that runs after itself", () => {
    const causes = validateTaskGraph([{ name: "a", runAfter: ["a"] }], "spec.tasks");
    assert.deepEqual(fields(causes), ["spec.tasks[0].runAfter[0]"]);
    assert.match(causes[0]!.message, /itself/);
  });

  it("reports a cycle at the runAfter entry that closes it, with the path", () => {
    const tasks = [{ name: "a", runAfter: ["c"] }, { name: "b", runAfter: ["a"] }, { name: "c", runAfter: ["b"] }, { name: "d" }];
    const causes = validateTaskGraph(tasks, "spec.tasks");
    assert.equal(causes.length, 1, JSON.stringify(causes));
    assert.equal(causes[0]!.field, "spec.tasks[1].runAfter[0]");
    assert.match(causes[0]!.message, /cycle: a → c → b → a/);
  });

  it("reports each of two separate cycles", () => {
    const tasks = [
      { name: "a", runAfter: ["b"] },
      { name: "b", runAfter: ["a"] },
      { name: "x", runAfter: ["y"] },
      { name: "y", runAfter: ["x"] },
    ];
    assert.deepEqual(fields(validateTaskGraph(tasks, "spec.tasks")), ["spec.tasks[1].runAfter[0]", "spec.tasks[3].runAfter[0]"]);
  });

  it("uses the field prefix it is given", () => {
    assert.deepEqual(fields(validateTaskGraph([{ name: "a", runAfter: ["z"] }], "tasks")), ["tasks[0].runAfter[0]"]);
  });

  it("skips what the schema reports (non-objects, non-string names and entries)", () => {
    const tasks = [null, 7, { name: 3 }, { name: "a", runAfter: "b" }, { name: "b", runAfter: [1, "a"] }];
    assert.deepEqual(validateTaskGraph(tasks, "spec.tasks"), []);
  });
});

describe("validatePipelineRun", () => {
  it("accepts run, and command with args", () => {
    assert.deepEqual(
      validatePipelineRun({
        spec: {
          tasks: [
            { name: "a", run: "true" },
            { name: "b", command: ["ls"], args: ["-l"] },
          ],
        },
      }),
      [],
    );
  });

  it("requires exactly one of run and command, and args only with command", () => {
    const causes = validatePipelineRun({
      spec: { tasks: [{ name: "a" }, { name: "b", run: "x", command: ["y"] }, { name: "c", run: "x", args: ["-v"] }] },
    });
    assert.deepEqual(fields(causes), ["spec.tasks[0].run", "spec.tasks[1].command", "spec.tasks[2].args"]);
  });

  it("includes the graph's causes", () => {
    assert.deepEqual(fields(validatePipelineRun({ spec: { tasks: [{ name: "a", run: "x", runAfter: ["q"] }] } })), ["spec.tasks[0].runAfter[0]"]);
  });

  it("leaves a malformed spec to the schema", () => {
    for (const spec of [undefined, null, "x", [], {}, { tasks: "no" }]) assert.deepEqual(validatePipelineRun({ spec }), []);
  });
});

const diamond: GraphTask[] = [
  { name: "checkout" },
  { name: "test", runAfter: ["checkout"] },
  { name: "lint", runAfter: ["checkout"] },
  { name: "package", runAfter: ["test", "lint"] },
];

describe("readyTasks", () => {
  it("starts with the tasks that wait for nothing", () => {
    assert.deepEqual(readyTasks(diamond, new Set()), ["checkout"]);
  });

  it("releases the parallel tasks together once their dependency succeeded", () => {
    assert.deepEqual(readyTasks(diamond, new Set(["checkout"])), ["test", "lint"]);
  });

  it("leaves out started tasks and waits for every dependency", () => {
    assert.deepEqual(readyTasks(diamond, new Set(["checkout", "test"]), { started: new Set(["lint"]) }), []);
    assert.deepEqual(readyTasks(diamond, new Set(["checkout", "test", "lint"])), ["package"]);
    assert.deepEqual(readyTasks(diamond, new Set(["checkout", "test", "lint", "package"])), []);
  });
});

describe("blockedTasks", () => {
  it("finds every task downstream of a failure, transitively", () => {
    assert.deepEqual(blockedTasks(diamond, new Set(["checkout"])), ["test", "lint", "package"]);
    assert.deepEqual(blockedTasks(diamond, new Set(["lint"])), ["package"]);
    assert.deepEqual(blockedTasks(diamond, new Set()), []);
  });
});

describe("topologicalOrder", () => {
  it("puts each task after the ones it runs after, spec order among equals", () => {
    assert.deepEqual(topologicalOrder(diamond), ["checkout", "test", "lint", "package"]);
    assert.deepEqual(topologicalOrder([{ name: "z", runAfter: ["y"] }, { name: "y" }]), ["y", "z"]);
  });

  it("throws RangeError on a cycle or an unknown name", () => {
    assert.throws(
      () =>
        topologicalOrder([
          { name: "a", runAfter: ["b"] },
          { name: "b", runAfter: ["a"] },
        ]),
      RangeError,
    );
    assert.throws(() => topologicalOrder([{ name: "a", runAfter: ["nope"] }]), RangeError);
  });
});
