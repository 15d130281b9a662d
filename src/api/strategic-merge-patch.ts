// Strategic merge patch (`application/strategic-merge-patch+json`) for the
// built-in RBAC types (API.md §8), as kube-apiserver applies it to a built-in
// type: kubectl sends it for `apply` of an existing Role or binding, `patch`
// (its default type), `edit` and `set subject`. Custom types do not take it
// (415, as kube answers for a custom resource).
//
// The RBAC structs declare no patch strategy on their lists (rules, subjects,
// clusterRoleSelectors), so a list in the patch replaces the stored one, as in
// a JSON merge patch; maps merge; null removes. ObjectMeta's lists are the
// exceptions: `finalizers` merge as a set and `ownerReferences` by `uid`.
// The directives kubectl writes are honoured: `$patch` (`replace`, `delete`,
// `merge`), `$retainKeys`, `$deleteFromPrimitiveList/<list>`; the
// `$setElementOrder/<list>` hints are dropped. The result is new; neither
// input is changed. Nesting is bounded by the caller (checkDepth).

export const STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json";

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Sets a member so that a key named `__proto__` stays a plain member. */
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A patch object without its directives. */
function withoutDirectives(patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) if (!k.startsWith("$")) put(out, k, isObject(v) ? withoutDirectives(v) : v);
  return out;
}

/** `finalizers`: the stored values, then the patch's new ones (a set, in order). */
function mergeSet(target: unknown, patch: unknown[]): unknown[] {
  const out = Array.isArray(target) ? [...target] : [];
  for (const v of patch) if (!out.includes(v)) out.push(v);
  return out;
}

/** `ownerReferences`: merged by `uid`; an item with `$patch: delete` removes its uid. */
function mergeByKey(target: unknown, patch: unknown[], key: string, path: string): unknown[] {
  const out = Array.isArray(target) ? [...target] : [];
  for (const item of patch) {
    if (!isObject(item)) {
      out.push(item);
      continue;
    }
    const at = out.findIndex((x) => isObject(x) && x[key] === item[key]);
    if (item.$patch === "delete") {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = merge(out[at], item, path);
    else out.push(withoutDirectives(item));
  }
  return out;
}

/** How ObjectMeta's lists merge (kube's patchStrategy tags); every other list is replaced. */
function listStrategy(path: string): { set: true } | { key: string } | undefined {
  if (path === "metadata.finalizers") return { set: true };
  if (path === "metadata.ownerReferences") return { key: "uid" };
  return undefined;
}

function merge(target: unknown, patch: unknown, path: string): unknown {
  if (!isObject(patch)) return patch;
  const directive = patch.$patch;
  if (directive === "replace") return withoutDirectives(patch);
  if (directive === "delete") return undefined;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (name.startsWith("$deleteFromPrimitiveList/") && Array.isArray(value)) {
      const list = name.slice("$deleteFromPrimitiveList/".length);
      if (Array.isArray(out[list]))
        put(
          out,
          list,
          (out[list] as unknown[]).filter((v) => !value.includes(v)),
        );
      continue;
    }
    if (name.startsWith("$")) continue;
    const at = path === "" ? name : `${path}.${name}`;
    if (value === null) {
      delete out[name];
      continue;
    }
    const current = Object.hasOwn(out, name) ? out[name] : undefined;
    const strategy = Array.isArray(value) ? listStrategy(at) : undefined;
    let merged: unknown;
    if (strategy && "set" in strategy) merged = mergeSet(current, value as unknown[]);
    else if (strategy) merged = mergeByKey(current, value as unknown[], strategy.key, at);
    else merged = merge(current, value, at);
    if (merged === undefined) delete out[name];
    else put(out, name, merged);
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  return out;
}

/** `patch` applied to `target` as a strategic merge patch of an RBAC object (see above). */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  return merge(target, patch, "");
}
