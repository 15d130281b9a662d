// YAML answers for clients that ask for them (`Accept: application/yaml`), as
// kube-apiserver serves custom resources: the JSON document with its keys
// sorted (kube converts its JSON with sigs.k8s.io/yaml, which sorts them).
// Objects, lists, write answers and errors; watches stay JSON lines. A list
// streams item by item (yamlListForm), in the same text as the whole list.

import { Document, parseDocument, visit, type Scalar } from "yaml";
import { goText } from "../api/jsonpath.ts";
import type { ListForm } from "../api/resources.ts";

export const YAML_TYPE = "application/yaml";

/**
 * Whether an Accept header prefers YAML, as kube-apiserver negotiates: the
 * ranges by quality (q=0: not acceptable), the more specific first among
 * equals, then the first listed; a range JSON also satisfies (`*\/*`,
 * `application/*`) answers JSON. Costs one substring search for every other header.
 */
export function wantsYaml(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes("yaml")) return false;
  let best: { q: number; specific: number; yaml: boolean } | undefined;
  for (const range of accept.split(",")) {
    const [type, ...params] = range.split(";");
    const media = type!.trim().toLowerCase();
    const yaml = media === YAML_TYPE;
    const specific = yaml || media === "application/json" ? 2 : media === "application/*" ? 1 : media === "*/*" ? 0 : -1;
    if (specific < 0) continue;
    let q = 1;
    for (const p of params) {
      const eq = p.indexOf("=");
      if (eq > 0 && p.slice(0, eq).trim().toLowerCase() === "q") q = Number(p.slice(eq + 1).trim());
    }
    if (!(q > 0)) continue;
    if (!best || q > best.q || (q === best.q && specific > best.specific)) best = { q, specific, yaml };
  }
  return best?.yaml ?? false;
}

/**
 * Strings the yaml library's YAML 1.1 output leaves plain but other readers
 * take for something else: numbers as Go's YAML (kubectl, client-go: its
 * ParseInt drops `_` and takes 0o, 0O, 0X, 0B prefixes) or YAML 1.2 (`0o17`)
 * read them, and `<<`, a merge key to YAML 1.1 readers.
 */
const NUMBER_LIKE = /^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9_]+(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9_]+)?)$/;
/** Characters YAML 1.1 readers take as line breaks (NEL, LS, PS) or a byte order mark: escaped, never written raw. */
const BREAKS = /[\u0085\u2028\u2029\ufeff]/g;
const needsQuotes = (s: string): boolean => s === "<<" || NUMBER_LIKE.test(s) || s.search(BREAKS) >= 0;

/**
 * A number as Go's YAML writes what it read from JSON (sigs.k8s.io/yaml's
 * JSONToYAML: go-yaml takes an integer that fits int64 or uint64 as one, any
 * other number as a float64, which it writes with strconv's shortest 'g'):
 * 1000000.5 is 1.0000005e+06, 1e-7 is 1e-07, 1e20 is 1e+20.
 */
function goYamlNumber(node: { value: unknown }): string {
  const v = node.value;
  if (typeof v === "bigint") return v >= -(2n ** 63n) && v < 2n ** 64n ? String(v) : goText(Number(v));
  return goText(v as number);
}

/**
 * The YAML 1.1 tags but the merge key (a key `<<` is a string like any
 * other), with numbers written as Go writes them (goYamlNumber).
 */
const noMerge = (tags: unknown[]) =>
  tags
    .filter((t) => (typeof t === "string" ? t !== "merge" : (t as { tag?: string }).tag !== "tag:yaml.org,2002:merge"))
    .map((t) => {
      const tag = typeof t === "object" && t !== null ? (t as { tag?: string }).tag : undefined;
      return tag === "tag:yaml.org,2002:int" || tag === "tag:yaml.org,2002:float" ? { ...(t as object), stringify: goYamlNumber } : t;
    });

/** `value` as YAML, and whether it held an integer a double cannot hold exactly. */
function render(value: unknown): { text: string; inexact: boolean } {
  const doc = new Document(value, { version: "1.1", sortMapEntries: true, customTags: noMerge as never });
  let inexact = false;
  visit(doc, {
    Scalar(_key, node: Scalar) {
      if (typeof node.value === "string" && needsQuotes(node.value)) node.type = "QUOTE_DOUBLE";
      else if (typeof node.value === "number" && Number.isInteger(node.value) && !Number.isSafeInteger(node.value)) inexact = true;
    },
  });
  // Every string holding one of BREAKS is double-quoted (above), where an escape is valid.
  const text = doc.toString({ lineWidth: 0, indentSeq: false }).replace(BREAKS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return { text, inexact };
}

/**
 * A JSON document as kube's YAML. Integers past 2^53 keep their digits (as
 * the JSON answer does): such a document is read again
 * with integers as BigInts (rare, and slower).
 */
export function asYaml(json: string): string {
  const first = render(JSON.parse(json));
  if (!first.inexact) return first.text;
  const exact = parseDocument(json, { intAsBigInt: true, schema: "json" });
  return exact.errors.length > 0 ? first.text : render(exact.toJS()).text;
}

/** Stands for the items' array while a list's head and tail are rendered: a plain scalar no list holds at the top level. */
const ITEMS_MARK = "SETPOINT_LIST_ITEMS_MARK";

/**
 * A list form writing what `json` writes (a `<Kind>List`, a Table, metadata
 * only) as YAML, item by item, in the text asYaml makes of the whole list:
 * keys sorted, so the items' key (`items`, a Table's `rows`) sits between the
 * head's and the tail's other keys, at the top level, its sequence not
 * indented (indentSeq false). An item renders alone as a one-item sequence,
 * as it would inside the list; an empty list is `items: []`. Costs a render
 * of the head, plus one per item.
 */
export function yamlListForm(json: ListForm): ListForm {
  let key = "";
  let after = "";
  let empty = true;
  return {
    head(t, meta) {
      const head = json.head(t, meta);
      // The head ends by opening the items' array: the last key of head + tail.
      const skeleton = JSON.parse(head + json.tail()) as Record<string, unknown>;
      key = Object.keys(skeleton).at(-1)!;
      const line = `${key}: ${ITEMS_MARK}\n`;
      const text = asYaml(JSON.stringify({ ...skeleton, [key]: ITEMS_MARK }));
      const at = `\n${text}`.indexOf(`\n${line}`); // at a line's start
      if (at < 0 || !Array.isArray(skeleton[key])) throw new Error(`yaml: list head ${JSON.stringify(head)} does not end by opening an array`);
      after = text.slice(at + line.length);
      return text.slice(0, at);
    },
    item(objectJson) {
      const text = asYaml(`[${json.item ? json.item(objectJson) : objectJson}]`);
      if (!empty) return text;
      empty = false;
      return `${key}:\n${text}`;
    },
    separator: "",
    tail: () => (empty ? `${key}: []\n` : "") + after,
  };
}
