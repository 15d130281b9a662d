// `metadata.labels` read out of an object's JSON text without parsing the
// whole object: a label-selector list or watch over large objects then costs
// about what an unfiltered one does. It scans the top-level members for
// `metadata` (the server writes it third, after apiVersion and kind), then
// metadata's members for `labels`, skipping other values without building
// them, and parses only the labels. Text that is not a JSON object is parsed
// whole, so a bad object fails here as it would with JSON.parse.

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
