// Label and field selectors with kube-apiserver's syntax, semantics and error
// messages. Parsing happens once per request or watch; `matches` runs for
// every object and every change, so it is precompiled into plain comparisons
// that allocate nothing. Requirements are ANDed; an empty selector matches all.
// The grammar is the API's (query parameters, src/api/query.ts); the watch hub
// sees a parsed selector only through its `matches()` (LabelMatcher, FieldMatcher).

import { BadRequestError } from "../errors.ts";
import { isQualifiedName, isValidLabelValue } from "./validation.ts";

/** Kube's `selection.Operator` values. */
export type LabelOperator = "=" | "==" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";

/** One parsed label requirement; `values` are sorted and distinct. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

/** A compiled label selector. */
export interface LabelSelector {
  /** True when the selector has no requirements and so matches everything. */
  readonly empty: boolean;
  /** Requirements sorted by key, as kube does. */
  readonly requirements: readonly LabelRequirement[];
  /** Whether an object with these labels (`undefined`: none) is selected. */
  matches(labels: Record<string, string> | undefined): boolean;
  /** Canonical text, e.g. `app=web,tier in (a,b)`. */
  toString(): string;
}

type Labels = Record<string, string>;
type Test = (labels: Labels) => boolean;
const NO_LABELS: Labels = Object.freeze(Object.create(null) as Labels);

// Kube's lexer: whitespace separates; `=!(),<>` are symbols (longest match);
// anything else runs to the next symbol or space. A token is its symbol,
// "in"/"notin" (keywords only in operator position), "id" or "end".
type Item = { tok: string; lit: string };
const TOKEN = /[ \t\r\n]*(?:(!=|==|[=!(),<>])|([^ \t\r\n=!(),<>]+))/y;
const OPERATORS: Record<string, LabelOperator> = { in: "in", notin: "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt" };

function lex(text: string): Item[] {
  const out: Item[] = [];
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
    const lit = m[1] ?? m[2]!;
    out.push({ tok: m[1] ?? (lit === "in" || lit === "notin" ? lit : "id"), lit });
  }
  out.push({ tok: "end", lit: "" });
  return out;
}

/** Kube's recursive-descent parser; throws plain `Error` with kube's messages. */
function parseRequirements(text: string): LabelRequirement[] {
  const items = lex(text);
  let pos = 0;
  // Outside operator position `in`/`notin` are identifiers (`in in (in)`).
  const at = (i: number): Item => {
    const it = items[i]!;
    return it.tok === "in" || it.tok === "notin" ? { tok: "id", lit: it.lit } : it;
  };
  const peek = (): Item => at(pos);
  const next = (): Item => at(pos++);
  const fail = (msg: string): never => {
    throw new Error(msg);
  };

  const values = (): string[] => {
    const open = next();
    if (open.tok !== "(") fail(`found '${open.lit}' expected: '('`);
    const first = peek();
    if (first.tok === ")") {
      pos++;
      return [""];
    }
    if (first.tok !== "id" && first.tok !== ",") fail(`found '${first.lit}', expected: ',', ')' or identifier`);
    const vals: string[] = [];
    for (;;) {
      const it = next();
      if (it.tok === "id") {
        vals.push(it.lit);
        const after = peek();
        if (after.tok === ")") break;
        if (after.tok !== ",") fail(`found '${after.lit}', expected: ',' or ')'`);
      } else if (it.tok === ",") {
        if (vals.length === 0) vals.push(""); // "(,"
        const after = peek().tok;
        if (after === ")") {
          vals.push("");
          break;
        } // ",)"
        if (after === ",") {
          pos++;
          vals.push("");
        } // ",,"
      } else {
        fail(`found '${it.lit}', expected: ',', or identifier`);
      }
    }
    pos++; // ")"
    return vals;
  };

  const requirement = (): LabelRequirement => {
    let it = next();
    const negated = it.tok === "!";
    if (negated) it = next();
    if (it.tok !== "id") fail(`found '${it.lit}', expected: identifier`);
    const key = it.lit;
    const keyErrs = isQualifiedName(key);
    if (keyErrs.length > 0) fail(`invalid label key "${key}": ${keyErrs.join("; ")}`);
    const after = peek().tok;
    if (negated || after === "end" || after === ",") return { key, operator: negated ? "!" : "exists", values: [] };
    const op = items[pos++]!; // operator position: `in`/`notin` are keywords here
    const operator = Object.hasOwn(OPERATORS, op.tok) ? OPERATORS[op.tok]! : fail(`found '${op.lit}', expected: in, notin, =, ==, !=, gt, lt`);
    let vals: string[];
    if (operator === "in" || operator === "notin") {
      vals = values();
    } else {
      const v = peek();
      if (v.tok === "end" || v.tok === ",") vals = [""];
      else if (v.tok === "id") {
        pos++;
        vals = [v.lit];
      } else return fail(`found '${v.lit}', expected: identifier`);
    }
    const sorted = [...new Set(vals)].sort();
    for (const v of sorted) {
      const errs = isValidLabelValue(v);
      if (errs.length > 0) fail(`invalid label value: "${v}": at key: "${key}": ${errs.join("; ")}`);
      if ((operator === "gt" || operator === "lt") && parseInt64(v) === undefined) {
        fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
      }
    }
    return { key, operator, values: sorted };
  };

  const reqs: LabelRequirement[] = [];
  for (;;) {
    const it = peek();
    if (it.tok === "end") return reqs;
    if (it.tok !== "id" && it.tok !== "!") fail(`found '${it.lit}', expected: !, identifier, or 'end of string'`);
    try {
      reqs.push(requirement());
    } catch (err) {
      throw new Error(`unable to parse requirement: ${(err as Error).message}`);
    }
    const sep = next();
    if (sep.tok === "end") return reqs;
    if (sep.tok !== ",") fail(`found '${sep.lit}', expected: ',' or 'end of string'`);
    const following = peek();
    if (following.tok !== "id" && following.tok !== "!") fail(`found '${following.lit}', expected: identifier after ','`);
  }
}

const INT = /^[+-]?\d+$/;
const SAFE_INT = /^[+-]?\d{1,15}$/;

/** Parses a label value as a 64-bit integer like Go's `strconv.ParseInt`; `undefined` if it is not one. */
function parseInt64(text: string): bigint | undefined {
  if (!INT.test(text)) return undefined;
  const n = BigInt(text);
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

function compileRequirement({ key, operator, values }: LabelRequirement): Test {
  const one = values[0]!;
  const set = new Set(values);
  switch (operator) {
    case "exists":
      return (l) => typeof l[key] === "string";
    case "!":
      return (l) => typeof l[key] !== "string";
    case "=":
    case "==":
      return (l) => l[key] === one;
    case "!=":
      return (l) => l[key] !== one;
    case "in":
      return values.length === 1
        ? (l) => l[key] === one
        : (l) => {
            const v = l[key];
            return typeof v === "string" && set.has(v);
          };
    case "notin":
      return (l) => {
        const v = l[key];
        return typeof v !== "string" || !set.has(v);
      };
    case "gt":
    case "lt": {
      const limit = parseInt64(one)!; // checked by the parser
      const [limitNum, sign] = [Number(limit), operator === "gt" ? 1 : -1];
      return (l) => {
        const v = l[key];
        if (typeof v !== "string") return false;
        // ≤15 digits compare exactly as doubles (|v| < 1e15 also orders right
        // against any longer limit); only longer values pay for a BigInt.
        if (SAFE_INT.test(v)) return sign * (Number(v) - limitNum) > 0;
        const n = parseInt64(v);
        return n !== undefined && (sign > 0 ? n > limit : n < limit);
      };
    }
  }
}

function requirementText({ key, operator, values }: LabelRequirement): string {
  if (operator === "exists" || operator === "!") return operator === "!" ? `!${key}` : key;
  if (operator === "in" || operator === "notin") return `${key} ${operator} (${values.join(",")})`;
  return `${key}${operator === "gt" ? ">" : operator === "lt" ? "<" : operator}${values[0]}`;
}

/**
 * Parses a label selector (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`,
 * `a`, `!a`, `a>1`, `a<1`, comma-separated). Throws `BadRequestError` (cause
 * field `labelSelector`) with kube's message on bad syntax, keys or values.
 * @example
 * parseLabelSelector("app=web, tier notin (db)").matches({ app: "web" }) // true
 */
export function parseLabelSelector(text: string): LabelSelector {
  let requirements: LabelRequirement[];
  try {
    requirements = parseRequirements(text);
  } catch (err) {
    const message = (err as Error).message;
    throw new BadRequestError(message, { causes: [{ field: "labelSelector", message, reason: "FieldValueInvalid" }] });
  }
  requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const tests = requirements.map(compileRequirement);
  const n = tests.length;
  const canonical = requirements.map(requirementText).join(",");
  return {
    empty: n === 0,
    requirements,
    matches(labels) {
      const l = labels ?? NO_LABELS;
      for (let i = 0; i < n; i++) if (!tests[i]!(l)) return false;
      return true;
    },
    toString: () => canonical,
  };
}

/** One parsed field requirement. */
export interface FieldRequirement {
  readonly field: "metadata.name" | "metadata.namespace";
  readonly operator: "=" | "==" | "!=";
  readonly value: string;
}

/** A compiled field selector over `metadata.name` and `metadata.namespace`. */
export interface FieldSelector {
  /** True when the selector has no requirements and so matches everything. */
  readonly empty: boolean;
  readonly requirements: readonly FieldRequirement[];
  /** The namespace every match must have, when the selector pins one (lets callers narrow a scan). */
  readonly namespace?: string;
  /** The name every match must have, when the selector pins one. */
  readonly name?: string;
  /** Whether an object with this namespace (`""` when cluster-scoped) and name is selected. */
  matches(namespace: string, name: string): boolean;
  toString(): string;
}

// Kube's order: `!=` and `==` before `=`, so `a==b` does not leave `=b` as the value.
const FIELD_OPERATORS = ["!=", "==", "="] as const;

function fieldError(message: string): BadRequestError {
  return new BadRequestError(message, { causes: [{ field: "fieldSelector", message, reason: "FieldValueInvalid" }] });
}

/** Kube's `splitTerms`: splits on commas that no backslash escapes; terms keep their escapes. */
function splitFieldTerms(text: string): string[] {
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === ",") {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

/** Kube's `UnescapeValue`: `\\`, `\,` and `\=` stand for themselves; any other escape, or a bare `,` or `=`, is an error. */
function unescapeFieldValue(raw: string): string {
  if (!/[\\,=]/.test(raw)) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === "\\") {
      const next = raw[++i];
      if (next === undefined) throw fieldError("invalid field selector: invalid escape sequence: \\");
      if (next !== "\\" && next !== "," && next !== "=") throw fieldError(`invalid field selector: invalid escape sequence: \\${next}`);
      out += next;
    } else if (c === "," || c === "=") {
      // Go prints the rune as its code point (`%v` of an int32): 44 for `,`, 61 for `=`.
      throw fieldError(`invalid field selector: unescaped character in value: ${c.charCodeAt(0)}`);
    } else out += c;
  }
  return out;
}

/** Kube's `EscapeValue`, for the canonical text. */
const escapeFieldValue = (value: string): string => value.replace(/[\\,=]/g, (c) => `\\${c}`);

/**
 * Parses a field selector: comma-separated `metadata.name` / `metadata.namespace`
 * terms with `=`, `==` or `!=`, as kube's `fields.ParseSelector` does: a term
 * splits at its first operator, and in a value `\,`, `\=` and `\\` stand for
 * `,`, `=` and `\`. Any other field, a term without an operator, or a bad
 * escape throws `BadRequestError` (cause field `fieldSelector`) with kube's message.
 * @example
 * parseFieldSelector("metadata.namespace=default").namespace // "default"
 */
export function parseFieldSelector(text: string): FieldSelector {
  const terms: { field: string; operator: FieldRequirement["operator"]; value: string }[] = [];
  for (const part of splitFieldTerms(text).sort()) {
    if (part.trim() === "") continue;
    let split: { at: number; operator: FieldRequirement["operator"] } | undefined;
    for (let i = 0; i < part.length && split === undefined; i++) {
      const operator = FIELD_OPERATORS.find((op) => part.startsWith(op, i));
      if (operator !== undefined) split = { at: i, operator };
    }
    if (split === undefined) throw fieldError(`invalid selector: '${text}'; can't understand '${part}'`);
    const value = unescapeFieldValue(part.slice(split.at + split.operator.length).trim());
    terms.push({ field: part.slice(0, split.at).trim(), operator: split.operator, value });
  }
  const requirements: FieldRequirement[] = [];
  for (const { field, operator, value } of terms) {
    if (field !== "metadata.name" && field !== "metadata.namespace") throw fieldError(`field label not supported: ${field}`);
    requirements.push({ field, operator, value });
  }
  requirements.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
  const values = (field: string, negated: boolean): string[] => [
    ...new Set(requirements.filter((r) => r.field === field && (r.operator === "!=") === negated).map((r) => r.value)),
  ];
  const [names, namespaces] = [values("metadata.name", false), values("metadata.namespace", false)];
  const [notNames, notNamespaces] = [values("metadata.name", true), values("metadata.namespace", true)];
  const contradictory = names.length > 1 || namespaces.length > 1; // e.g. name=a,name=b
  const [wantName, wantNamespace] = [names[0], namespaces[0]];
  const canonical = requirements.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(",");
  return {
    empty: requirements.length === 0,
    requirements,
    ...(wantNamespace === undefined ? {} : { namespace: wantNamespace }),
    ...(wantName === undefined ? {} : { name: wantName }),
    matches(namespace, name) {
      if (contradictory) return false;
      if (wantName !== undefined && name !== wantName) return false;
      if (wantNamespace !== undefined && namespace !== wantNamespace) return false;
      for (let i = 0; i < notNames.length; i++) if (name === notNames[i]) return false;
      for (let i = 0; i < notNamespaces.length; i++) if (namespace === notNamespaces[i]) return false;
      return true;
    },
    toString: () => canonical,
  };
}
