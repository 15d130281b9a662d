// JSON merge patch, RFC 7386 §2, in a few lines: an object patch merges into
// an object target member by member (null removes a member), anything else
// replaces the target. The result is new; neither input is changed. Nesting
// is bounded by the caller (checkDepth), so the recursion is too.

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * `patch` merged into `target` (RFC 7386 MergePatch).
 * @example
 * mergePatch({ a: "b", c: { d: "e" } }, { a: null, c: { f: 1 } }) // { c: { d: "e", f: 1 } }
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete out[name];
    // defineProperty: a member named "__proto__" stays a plain member.
    else
      Object.defineProperty(out, name, {
        value: mergePatch(Object.hasOwn(out, name) ? out[name] : undefined, value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return out;
}
