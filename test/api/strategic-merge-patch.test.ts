// Strategic merge patch of the RBAC types, as kube-apiserver applies one to a
// built-in type: lists without a patch strategy (rules, subjects) replace;
// ObjectMeta's finalizers merge as a set and ownerReferences by uid; the
// directives kubectl writes ($patch, $retainKeys, $deleteFromPrimitiveList,
// $setElementOrder) do what they say; inputs are left unchanged.

import assert from "node:assert/strict";
import { test } from "node:test";
import { strategicMergePatch } from "../../src/api/strategic-merge-patch.ts";

const role = () => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "Role",
  metadata: {
    name: "r",
    labels: { a: "1", b: "2" },
    finalizers: ["x.io/a"],
    ownerReferences: [
      { apiVersion: "v1", kind: "K", name: "o1", uid: "u1" },
      { apiVersion: "v1", kind: "K", name: "o2", uid: "u2" },
    ],
  },
  rules: [{ apiGroups: [""], resources: ["leases"], verbs: ["get"] }],
});

test("rules and subjects are replaced; maps merge; null removes", () => {
  const before = role();
  const after = strategicMergePatch(before, {
    metadata: { labels: { a: null, c: "3" } },
    rules: [{ apiGroups: ["x"], resources: ["y"], verbs: ["list"] }],
    $setElementOrder: { rules: [] },
    "$setElementOrder/rules": [{ apiGroups: ["x"] }],
  }) as ReturnType<typeof role>;
  assert.deepEqual(after.metadata.labels, { b: "2", c: "3" });
  assert.deepEqual(after.rules, [{ apiGroups: ["x"], resources: ["y"], verbs: ["list"] }]);
  assert.equal((after as Record<string, unknown>).$setElementOrder, undefined);
  assert.equal((after as Record<string, unknown>)["$setElementOrder/rules"], undefined);
  assert.deepEqual(before, role(), "the target is left unchanged");
});

test("finalizers merge as a set; $deleteFromPrimitiveList removes", () => {
  const added = strategicMergePatch(role(), { metadata: { finalizers: ["x.io/a", "x.io/b"] } }) as ReturnType<typeof role>;
  assert.deepEqual(added.metadata.finalizers, ["x.io/a", "x.io/b"]);
  const removed = strategicMergePatch(added, { metadata: { "$deleteFromPrimitiveList/finalizers": ["x.io/a"] } }) as ReturnType<typeof role>;
  assert.deepEqual(removed.metadata.finalizers, ["x.io/b"]);
});

test("ownerReferences merge by uid; $patch: delete removes one", () => {
  const after = strategicMergePatch(role(), {
    metadata: {
      ownerReferences: [
        { uid: "u1", name: "renamed" },
        { uid: "u2", $patch: "delete" },
        { apiVersion: "v1", kind: "K", name: "o3", uid: "u3" },
      ],
    },
  }) as ReturnType<typeof role>;
  assert.deepEqual(
    after.metadata.ownerReferences.map((o) => `${o.uid}:${o.name}`),
    ["u1:renamed", "u3:o3"],
  );
});

test("$patch: replace and delete on a map; $retainKeys keeps only the keys listed", () => {
  const replaced = strategicMergePatch(role(), { metadata: { labels: { $patch: "replace", z: "9" } } }) as ReturnType<typeof role>;
  assert.deepEqual(replaced.metadata.labels, { z: "9" });
  const deleted = strategicMergePatch(role(), { metadata: { labels: { $patch: "delete" } } }) as ReturnType<typeof role>;
  assert.equal(deleted.metadata.labels, undefined);
  const retained = strategicMergePatch(role(), { $retainKeys: ["apiVersion", "kind", "metadata"], metadata: { name: "r" } }) as Record<string, unknown>;
  assert.deepEqual(Object.keys(retained).sort(), ["apiVersion", "kind", "metadata"]);
});

test("a member named __proto__ is a plain member", () => {
  const after = strategicMergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
  assert.ok(Object.hasOwn(after, "__proto__"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
