// YAML answers for clients that ask for them (`Accept: application/yaml`), as
// kube-apiserver serves custom resources: the JSON document with its keys
// sorted, strings quoted and folded as go-yaml v2 writes them (kube converts
// its JSON with sigs.k8s.io/yaml; the text is go-yaml.ts's).
// Objects, lists, write answers and errors; watches stay JSON lines. A list
// streams item by item (yamlListForm), in the same text as the whole list.

import { parseDocument } from "yaml";
import { goText } from "../api/jsonpath.ts";
import type { ListForm } from "../api/resources.ts";
import { goYaml } from "./go-yaml.ts";

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
 * A number as Go's YAML writes what it read from JSON (sigs.k8s.io/yaml's
 * JSONToYAML: go-yaml takes an integer that fits int64 or uint64 as one, any
 * other number as a float64, which it writes with strconv's shortest 'g'):
 * 1000000.5 is 1.0000005e+06, 1e-7 is 1e-07, 1e20 is 1e+20.
 */
function goYamlNumber(v: number | bigint): string {
  if (typeof v === "bigint") return v >= -(2n ** 63n) && v < 2n ** 64n ? String(v) : goText(Number(v));
  return goText(v);
}

/** Whether a value holds an integer a double cannot hold exactly (read from JSON text, it lost digits). */
function inexact(v: unknown): boolean {
  if (typeof v === "number") return Number.isInteger(v) && !Number.isSafeInteger(v);
  if (Array.isArray(v)) return v.some(inexact);
  if (v !== null && typeof v === "object") return Object.values(v).some(inexact);
  return false;
}

/**
 * A JSON document as kube's YAML. Integers past 2^53 keep their digits (as
 * the JSON answer does): such a document is read again
 * with integers as BigInts (rare, and slower).
 */
export function asYaml(json: string): string {
  const value: unknown = JSON.parse(json);
  if (!inexact(value)) return goYaml(value, goYamlNumber);
  const exact = parseDocument(json, { intAsBigInt: true, schema: "json" });
  return goYaml(exact.errors.length > 0 ? value : exact.toJS(), goYamlNumber);
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
