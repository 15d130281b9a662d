// `metadata.labels` read out of an object's JSON text without parsing the
// whole object: a label-selector list or watch over large objects then costs
// about what an unfiltered one does. It scans the top-level members for
// `metadata` (the server writes it third, after apiVersion and kind), then
// metadata's members for `labels`, skipping other values without building
// them, and parses only the labels. Text that is not a JSON object is parsed
// whole, so a bad object fails here as it would with JSON.parse. The same
// scan sets `metadata.resourceVersion` in the text (`withResourceVersion`),
// leaving every other byte as it was (numbers past 2^53 included).

export type Labels = Record<string, string> | undefined;

/** The labels of an object given as JSON text (undefined when it has none). */
export function labelsOf(json: string): Labels {
  const meta = memberValue(json, skipSpace(json, 0), "metadata");
  if (meta === undefined) return fallback(json);
  if (meta < 0) return undefined;
  if (json[meta] !== "{") return undefined;
  const labels = memberValue(json, meta, "labels");
  if (labels === undefined) return fallback(json);
  if (labels < 0) return undefined;
  const end = skipValue(json, labels);
  if (end < 0) return fallback(json);
  const value: unknown = JSON.parse(json.slice(labels, end));
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, string>) : undefined;
}

/** Whether two label sets hold the same labels. */
export function sameLabels(a: Labels, b: Labels): boolean {
  if (a === b) return true;
  const ka = a ? Object.keys(a) : [];
  if (ka.length !== (b ? Object.keys(b).length : 0)) return false;
  for (const k of ka) if (a![k] !== b?.[k]) return false;
  return true;
}

/** The object's JSON text with `metadata.resourceVersion` set to `revision`; the rest of the text as it was. */
export function withResourceVersion(json: string, revision: number): string {
  const rv = `"${revision}"`;
  const meta = memberValue(json, skipSpace(json, 0), "metadata");
  if (meta !== undefined && meta >= 0 && json[meta] === "{") {
    const at = memberValue(json, meta, "resourceVersion");
    const end = at !== undefined && at >= 0 ? skipValue(json, at) : -1;
    if (end >= 0) return json.slice(0, at) + rv + json.slice(end);
    if (at === -1) {
      const empty = json[skipSpace(json, meta + 1)] === "}";
      return `${json.slice(0, meta + 1)}"resourceVersion":${rv}${empty ? "" : ","}${json.slice(meta + 1)}`;
    }
  }
  const o = JSON.parse(json) as { metadata?: Record<string, unknown> };
  o.metadata = { ...o.metadata, resourceVersion: String(revision) };
  return JSON.stringify(o);
}

function fallback(json: string): Labels {
  return (JSON.parse(json) as { metadata?: { labels?: Record<string, string> } } | null)?.metadata?.labels;
}

/**
 * Where the value of member `key` of the object starting at `at` begins;
 * -1 if the object has no such member; undefined if the text is not a
 * well-formed object (the caller then parses it whole).
 */
function memberValue(s: string, at: number, key: string): number | undefined {
  if (s[at] !== "{") return undefined;
  let i = skipSpace(s, at + 1);
  if (s[i] === "}") return -1;
  for (;;) {
    if (s[i] !== '"') return undefined;
    const keyEnd = skipString(s, i);
    if (keyEnd < 0) return undefined;
    // Keys the server writes have no escapes; compare the raw text.
    const name = s.slice(i + 1, keyEnd - 1);
    i = skipSpace(s, keyEnd);
    if (s[i] !== ":") return undefined;
    i = skipSpace(s, i + 1);
    if (name === key) return i;
    const end = skipValue(s, i);
    if (end < 0) return undefined;
    i = skipSpace(s, end);
    if (s[i] === "}") return -1;
    if (s[i] !== ",") return undefined;
    i = skipSpace(s, i + 1);
  }
}

function skipSpace(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** The index just past the string starting at `i` (a `"`), or -1. */
function skipString(s: string, i: number): number {
  let j = i;
  for (;;) {
    j = s.indexOf('"', j + 1);
    if (j < 0) return -1;
    let backslashes = 0;
    for (let k = j - 1; s.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return j + 1;
  }
}

const STRUCTURE = /["{}[\]]/g;
const SCALAR_END = /[,}\]\s]/g;

/** The index just past the value starting at `i`, or -1. */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c !== "{" && c !== "[") {
    SCALAR_END.lastIndex = i;
    const m = SCALAR_END.exec(s);
    return m ? m.index : s.length;
  }
  let depth = 0;
  STRUCTURE.lastIndex = i;
  for (;;) {
    const m = STRUCTURE.exec(s);
    if (!m) return -1;
    const ch = m[0];
    if (ch === '"') {
      const end = skipString(s, m.index);
      if (end < 0) return -1;
      STRUCTURE.lastIndex = end;
    } else if (ch === "{" || ch === "[") {
      depth++;
    } else if (--depth === 0) {
      return m.index + 1;
    }
  }
}
