// JSONPath templates as client-go's util/jsonpath (kubectl 1.32) reads and
// evaluates them, the one evaluator for `get -o jsonpath=…`,
// `wait --for=jsonpath=…` and a CRD's additionalPrinterColumns (kube-apiserver
// evaluates those with client-go's too).
//
// Text outside braces is printed as is; inside braces, a path, a string
// literal (`{"\n"}`, `{'\t'}`), a number or boolean (printed as Go prints
// it), or `{range PATH}…{end}`, which prints its body once for each value
// PATH finds, with paths in the body relative to that value (a range without
// its `{end}` runs to the end of the template, then as client-go's). A
// path is made of `.name` (`\.` keeps a dot in a name:
// `.labels.app\.kubernetes\.io/name`), `.*` (every value of a map or list),
// `..` (every map and list below, the value itself first, depth first, as
// client-go), `[i]`, slices `[start:end:step]` (`[-1:]`, `[::2]`), unions
// `[0,2]`, `['a','b']`, `['key']` and filters `[?(@.type=="Ready")]`,
// `[?(@.n>=2)]`, `[?(@.x)]`. `$` and `@` both mean the current value (the
// object, or the item of a range), as in client-go.
//
// Quirks kept because kubectl has them: `['key']` is read as `.key`, so a
// key with a dot in it (`['app.kubernetes.io/name']`) finds nothing; write
// `['app\.kubernetes\.io/name']` or `.app\.kubernetes\.io/name`. `["key"]`
// is refused. A filter comparing values of different types (a number with a
// string, an integer with a float such as `1.0`) is an error, not a
// non-match; so is `<` on booleans or any comparison with null, a map or a
// list.
//
// Printing, as kubectl: several values are joined by a space; strings,
// numbers and booleans print bare (numbers as Go's %v, goText), null as
// `null`, maps and lists as compact JSON with sorted keys; a key that is not
// there prints nothing (kubectl's default --allow-missing-template-keys).
// An index past the end, `[0]` on a map, or a bad comparison throws
// JsonPathError with client-go's message.

/** A template that does not parse or cannot be applied, in client-go's words. */
export class JsonPathError extends Error {
  override name = "JsonPathError";
}

/** A slice bound as client-go's parser keeps it: given or not; `derived` for the end of a single index (`[3]` is `[3:4]`). */
interface Bound {
  known: boolean;
  value: number;
  derived?: boolean;
}
type Step =
  | { kind: "field"; name: string }
  | { kind: "wildcard" }
  | { kind: "recursive" }
  | { kind: "slice"; bounds: [Bound, Bound, Bound] }
  | { kind: "union"; alternatives: Step[][] }
  | { kind: "filter"; left: Operand; op?: Operator; right?: Operand };
/** A side of a filter: a path from the item (`@…`), or a literal; a number literal is an integer unless written with a `.`. */
type Operand = { kind: "path"; steps: Step[] } | { kind: "literal"; value: string | number | boolean; float?: boolean };
const OPERATORS = ["==", "!=", "<=", ">=", "<", ">"] as const;
type Operator = (typeof OPERATORS)[number];
type Node = { kind: "text"; text: string } | { kind: "path"; steps: Step[] } | { kind: "range"; steps: Step[]; body: Node[] };

/** A parsed template; `print(value)` renders it. */
export interface JsonPathTemplate {
  readonly source: string;
  /** The template's text for `value`; throws JsonPathError as kubectl fails ("array index out of bounds: …"). */
  print(value: unknown): string;
  /** kubectl's `-o jsonpath-as-json`: each `{path}`'s values (each text, each pass of a range) as an indented JSON list, one after another. */
  printJson(value: unknown): string;
  /**
   * The values each part of the template finds in `value`, as client-go's
   * FindResults: one list per `{path}` (empty when nothing is there), the text
   * itself for text. A `{range}` is refused (JsonPathError).
   */
  find(value: unknown): unknown[][];
}

/**
 * Parses a kubectl JSONPath template; throws JsonPathError naming what is wrong.
 * @example
 * parseJsonPath("{range .items[*]}{.metadata.name}{\"\\n\"}{end}").print(list)
 */
export function parseJsonPath(source: string): JsonPathTemplate {
  const stack: Node[][] = [[]];
  const opened: Step[][] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf("{", i);
    if (open === -1) {
      stack.at(-1)!.push({ kind: "text", text: source.slice(i) });
      break;
    }
    if (open > i) stack.at(-1)!.push({ kind: "text", text: source.slice(i, open) });
    const close = actionEnd(source, open + 1);
    if (close === -1) throw new JsonPathError(`unclosed action in ${JSON.stringify(source)}`);
    const action = source.slice(open + 1, close).trim();
    i = close + 1;
    if (action === "end") {
      const body = stack.pop();
      const steps = opened.pop();
      if (body === undefined || steps === undefined || stack.length === 0) throw new JsonPathError(`not in range, nothing to end in ${JSON.stringify(source)}`);
      stack.at(-1)!.push({ kind: "range", steps, body });
    } else if (/^range\s/.test(action)) {
      opened.push(parsePath(action.slice("range".length).trim()));
      stack.push([]);
    } else if (action.startsWith('"') || action.startsWith("'")) {
      stack.at(-1)!.push({ kind: "text", text: stringLiteral(action) });
    } else if (action === "true" || action === "false" || /^(?:[+-][\d.]*|\d[\d.]*)$/.test(action)) {
      // A number or boolean alone prints itself, as Go prints the value client-go parsed (`{1.0}` is 1).
      const value = action === "true" || action === "false" ? action === "true" : Number(action);
      if (Number.isNaN(value) || action === "+" || action === "-") throw new JsonPathError(`cannot parse number ${action}`);
      stack.at(-1)!.push({ kind: "text", text: goText(value) });
    } else {
      stack.at(-1)!.push({ kind: "path", steps: parsePath(action) });
    }
  }
  // A {range} left open runs to the end of the template, as client-go's; which then resumes after the
  // last {end} it met (a nested range's), or else right after the {range}: the rest of the body runs
  // once more, against the value the range started from.
  while (stack.length > 1) {
    const body = stack.pop()!;
    let resume = body.length;
    while (resume > 0 && body[resume - 1]!.kind !== "range") resume--;
    stack.at(-1)!.push({ kind: "range", steps: opened.pop()!, body }, ...body.slice(resume));
  }
  const nodes = stack[0]!;
  return {
    source,
    print: (value) =>
      results(nodes, value)
        .map((found) => found.map(text).join(" "))
        .join(""),
    printJson: (value) =>
      results(nodes, value)
        .map((found) => `${goJson(found, 4)}\n`)
        .join(""),
    find: (value) =>
      nodes.map((node) => {
        if (node.kind === "text") return [node.text];
        if (node.kind === "path") return evaluate(node.steps, [value]);
        throw new JsonPathError(`range is not supported here: ${JSON.stringify(source)}`);
      }),
  };
}

/** The index of the `}` that ends an action starting at `from`, skipping quoted text; -1 if none. */
function actionEnd(source: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < source.length; i++) {
    const c = source[i]!;
    if (quote !== undefined) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "}") return i;
  }
  return -1;
}

/** A Go string literal in double or single quotes (`"\n"`, `'a\tb'`, `"a\"b"`, `"\u00e9"`), as client-go's UnquoteExtend reads it. */
function stringLiteral(text: string): string {
  const quote = text[0]!;
  const bad = () => new JsonPathError(`invalid string literal ${text}`);
  if (text.length < 2 || text.at(-1) !== quote) throw bad();
  const body = text.slice(1, -1);
  const simple: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", [quote]: quote };
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === quote || c === "\n") throw bad();
    if (c !== "\\") out += c;
    else if (simple[body[i + 1] ?? ""] !== undefined) out += simple[body[++i]!];
    else {
      // \xHH, \uHHHH, \UHHHHHHHH, \OOO (octal)
      const m = /^(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-3][0-7]{2}))/.exec(body.slice(i + 1));
      const point = m === null ? NaN : m[4] !== undefined ? Number.parseInt(m[4], 8) : Number.parseInt(m[1] ?? m[2] ?? m[3]!, 16);
      if (!(point <= 0x10ffff)) throw bad();
      out += String.fromCodePoint(point);
      i += m![0].length;
    }
  }
  return out;
}

/** A name after `.`: up to the next unescaped `.`, `[`, `]`, `,`, `$`, `@`, brace or space (client-go's terminators). */
const NAME = /^(?:\\.|[^.[\]\\\s,$@{}])+/;

/** Parses `.a.b[0]['c'][*]..e` (a leading `$` or `@` is the current value, as in client-go). */
function parsePath(text: string): Step[] {
  let rest = text;
  if (rest.startsWith("$") || rest.startsWith("@")) rest = rest.slice(1);
  else if (!rest.startsWith(".") && !rest.startsWith("[")) throw new JsonPathError(`unrecognized identifier ${text}: a path starts with '.', '[', '$' or '@'`);
  const steps: Step[] = [];
  while (rest.length > 0) {
    if (rest.startsWith("..")) {
      if (steps.at(-1)?.kind === "recursive") throw new JsonPathError(`invalid multiple recursive descent in ${text}`);
      steps.push({ kind: "recursive" });
      rest = rest.slice(2);
      // As client-go: a name right after `..` only when it starts with a letter, digit or `_` (`..*` is refused below).
      const m = /^[\p{L}\p{N}_]/u.test(rest) ? NAME.exec(rest) : null;
      if (m !== null) {
        steps.push({ kind: "field", name: unescapeName(m[0]) });
        rest = rest.slice(m[0].length);
      }
    } else if (rest.startsWith(".")) {
      // A name up to the next terminator, possibly empty (`{.}` and `.[0]` look up the key "", as client-go: nothing).
      rest = rest.slice(1);
      const name = NAME.exec(rest)?.[0] ?? "";
      steps.push(name === "*" ? { kind: "wildcard" } : { kind: "field", name: unescapeName(name) });
      rest = rest.slice(name.length);
    } else if (rest.startsWith("[?(")) {
      const close = bracketEnd(rest);
      if (close === -1) throw new JsonPathError(`unterminated filter in ${text}`);
      steps.push(filterStep(rest.slice(1, close), text));
      rest = rest.slice(close + 1);
    } else if (rest.startsWith("[")) {
      // As client-go: the index ends at the first `]`, quotes or not.
      const close = rest.indexOf("]");
      if (close === -1) throw new JsonPathError(`unterminated array in ${text}`);
      steps.push(...bracketSteps(rest.slice(1, close)));
      rest = rest.slice(close + 1);
    } else {
      throw new JsonPathError(`invalid path ${text}`);
    }
  }
  return steps;
}

/** The index of the `]` that closes the `[` at 0, skipping quoted text and nested brackets (a filter's paths); -1 if none. */
function bracketEnd(text: string): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== undefined) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[") depth++;
    else if (c === "]" && depth-- === 0) return i;
  }
  return -1;
}

const SLICE = /^(-?\d*)(:-?\d*)?(:-?\d*)?$/;

/** What `[inside]` means, as client-go's parseArray: a union (`0,2`), a key (`'a'`, read as the path `.a`), or a slice or index. */
function bracketSteps(inside: string): Step[] {
  const text = inside === "*" ? ":" : inside;
  const parts = text.split(",");
  if (parts.length > 1) return [{ kind: "union", alternatives: parts.map((p) => bracketSteps(p.trim())) }];
  const key = /^'([^']*)'$/.exec(text);
  if (key !== null) return parsePath(`.${key[1]!}`);
  const m = SLICE.exec(text);
  if (m === null) throw new JsonPathError(`invalid array index ${text}`);
  const bounds: [Bound, Bound, Bound] = [
    { known: false, value: 0 },
    { known: false, value: 0 },
    { known: false, value: 0 },
  ];
  for (let i = 0; i < 3; i++) {
    const given = m[i + 1] ?? "";
    const digits = i > 0 ? given.slice(1) : given;
    if (given !== "" && digits !== "") {
      const n = Number(digits);
      if (digits === "-" || !Number.isSafeInteger(n)) throw new JsonPathError(`array index ${digits} is not a number`);
      bounds[i] = { known: true, value: n };
    } else if (given === "" && i === 1) bounds[1] = { known: true, value: bounds[0].value + 1, derived: true };
  }
  return [{ kind: "slice", bounds }];
}

/** `?(@.a == "x")`, `?(@.n < 3)`, `?(@.a)` (the item has `.a`). */
function filterStep(inside: string, text: string): Step {
  const m = /^\?\((.*)\)$/s.exec(inside);
  if (m === null) throw new JsonPathError(`invalid filter [${inside}] in ${text}: give [?(@.field == "value")]`);
  const expression = m[1]!.trim();
  // The first operator outside quotes splits the two sides.
  let quote: string | undefined;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i]!;
    if (quote !== undefined) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    const run = /^[!<>=~]+/.exec(expression.slice(i));
    if (run === null) continue;
    const op = OPERATORS.find((o) => o === run[0]);
    if (op === undefined) throw new JsonPathError(`unrecognized filter operator ${run[0]} in ${text}`);
    const left = operand(expression.slice(0, i).trim(), text);
    const right = operand(expression.slice(i + op.length).trim(), text);
    return { kind: "filter", left, op, right };
  }
  const left = operand(expression, text);
  if (left.kind !== "path") throw new JsonPathError(`invalid filter [${inside}] in ${text}: give [?(@.field == "value")]`);
  return { kind: "filter", left };
}

function operand(part: string, text: string): Operand {
  if (part.startsWith("@") || part.startsWith("$") || part.startsWith(".")) return { kind: "path", steps: parsePath(part) };
  const quoted = /^(['"])(.*)\1$/s.exec(part);
  if (quoted !== null) return { kind: "literal", value: quoted[2]! };
  if (part === "true" || part === "false") return { kind: "literal", value: part === "true" };
  if (/^[+-]?\d+$/.test(part) && Number.isSafeInteger(Number(part))) return { kind: "literal", value: Number(part) };
  if (/^[+-]?[\d.]+$/.test(part) && Number.isFinite(Number(part))) return { kind: "literal", value: Number(part), float: true };
  throw new JsonPathError(`invalid filter operand ${JSON.stringify(part)} in ${text}: a path (@.a), a quoted string, a number or a boolean`);
}

/** `app\.kubernetes\.io/name` → `app.kubernetes.io/name` (client-go drops every backslash). */
const unescapeName = (name: string): string => name.replace(/\\/g, "");

/** What each node finds, as client-go's FindResults: a list per `{path}`, the text for text, a range's body's lists once per value it finds. */
function results(nodes: readonly Node[], current: unknown): unknown[][] {
  const out: unknown[][] = [];
  for (const node of nodes) {
    if (node.kind === "text") out.push([node.text]);
    else if (node.kind === "path") out.push(evaluate(node.steps, [current]));
    else for (const item of evaluate(node.steps, [current])) out.push(...results(node.body, item));
  }
  return out;
}

/** Every value the steps find from `values`, in order. */
function evaluate(steps: readonly Step[], values: unknown[]): unknown[] {
  let current = values;
  for (const step of steps) current = apply(step, current);
  return current;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The values inside `v` as client-go's wildcard and `..` see them: a map's (keys sorted: Go's order is random), a list's, a string's bytes. */
function children(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (isMap(v))
    return Object.keys(v)
      .sort()
      .map((k) => v[k]);
  if (typeof v === "string") return [...Buffer.from(v)];
  return [];
}

function apply(step: Step, values: unknown[]): unknown[] {
  const out: unknown[] = [];
  switch (step.kind) {
    case "field":
      for (const v of values) if (isMap(v) && Object.hasOwn(v, step.name)) out.push(v[step.name]);
      return out;
    case "wildcard":
      for (const v of values) out.push(...children(v));
      return out;
    case "recursive": {
      // Each map, list or string that has something in it, then what is below it, depth first (client-go's evalRecursive).
      const visit = (v: unknown) => {
        const inside = children(v);
        if (inside.length === 0) return;
        out.push(v);
        for (const c of inside) visit(c);
      };
      for (const v of values) visit(v);
      return out;
    }
    case "union":
      for (const alternative of step.alternatives) out.push(...evaluate(alternative, values));
      return out;
    case "slice":
      for (const v of values) out.push(...slice(step.bounds, v));
      return out;
    case "filter":
      for (const v of values) {
        if (!Array.isArray(v)) throw new JsonPathError(`${goValue(v)} is not array or slice and cannot be filtered`);
        for (const item of v) if (passes(step, item)) out.push(item);
      }
      return out;
  }
}

/** client-go's evalArray: `[i]`, `[start:end:step]`, with its bounds checks and messages. */
function slice(bounds: readonly [Bound, Bound, Bound], v: unknown): unknown[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new JsonPathError(`${goType(v)} is not array or slice`);
  const length = v.length;
  let start = bounds[0].known ? bounds[0].value : 0;
  if (start < 0) start += length;
  let end = bounds[1].known ? bounds[1].value : length;
  if (end < 0 || (end === 0 && bounds[1].derived === true)) end += length;
  if (end === start) return [];
  if (start >= length || start < 0) throw new JsonPathError(`array index out of bounds: index ${start}, length ${length}`);
  if (end > length || end < 0) throw new JsonPathError(`array index out of bounds: index ${end - 1}, length ${length}`);
  if (start > end) throw new JsonPathError(`starting index ${start} is greater than ending index ${end}`);
  let step = 1;
  if (bounds[2].known) {
    if (bounds[2].value <= 0) throw new JsonPathError("step must be > 0");
    step = bounds[2].value;
  }
  const out: unknown[] = [];
  for (let i = start; i < end; i += step) out.push(v[i]);
  return out;
}

/** Whether an array item passes a filter: the path finds something there (null too), or the comparison holds (client-go's evalFilter). */
function passes(step: Extract<Step, { kind: "filter" }>, item: unknown): boolean {
  if (step.op === undefined || step.right === undefined) {
    // client-go keeps an item whose path fails too (`[?(@.name[5])]` on a string name): its evalList then hands back what it was given.
    try {
      return side(step.left, item).length > 0;
    } catch (error) {
      if (error instanceof JsonPathError) return true;
      throw error;
    }
  }
  const lefts = side(step.left, item);
  if (lefts.length === 0) return false;
  if (lefts.length > 1) throw new JsonPathError("can only compare one element at a time");
  const rights = side(step.right, item);
  if (rights.length === 0) return false;
  if (rights.length > 1) throw new JsonPathError("can only compare one element at a time");
  const [a, b] = [lefts[0], rights[0]];
  return compare(step.op, a, kindOf(a, step.left), b, kindOf(b, step.right));
}

/** What a filter's side finds for one item. */
function side(o: Operand, item: unknown): unknown[] {
  return o.kind === "literal" ? [o.value] : evaluate(o.steps, [item]);
}

type Kind = "bool" | "int" | "float" | "string" | "invalid";

/** Whether Go's JSON decoding (Kubernetes' unstructured) would have this number as an int64. */
const isGoInt = (v: number): boolean => Number.isInteger(v) && Math.abs(v) < 2 ** 63;

/**
 * The kind Go's text/template compares a value as: a decoded JSON integer
 * that fits int64 is an int64, any other number a float64; a number literal
 * is a float when written with a `.`.
 */
function kindOf(v: unknown, from: Operand): Kind {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return (from.kind === "literal" ? from.float !== true : isGoInt(v)) ? "int" : "float";
  return "invalid";
}

/** client-go's forked text/template eq, ne, lt, le, gt, ge, with their errors. */
function compare(op: Operator, a: unknown, ka: Kind, b: unknown, kb: Kind): boolean {
  if (ka === "invalid" || kb === "invalid") throw new JsonPathError("invalid type for comparison");
  if (ka !== kb) throw new JsonPathError("incompatible types for comparison");
  if (op === "==") return a === b;
  if (op === "!=") return a !== b;
  if (ka === "bool") throw new JsonPathError("invalid type for comparison");
  // Go compares strings byte by byte (UTF-8), not by UTF-16 unit.
  const less = ka === "string" ? Buffer.compare(Buffer.from(a as string), Buffer.from(b as string)) < 0 : (a as number) < (b as number);
  if (op === "<") return less;
  if (op === ">=") return !less;
  return op === "<=" ? less || a === b : !(less || a === b);
}

/** One value as kubectl prints it: scalars bare (numbers as Go prints them, goText), null as `null`, maps and lists as compact JSON with sorted keys (Go's json.Marshal). */
function text(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "null";
  if (typeof v !== "object") return goText(v as number | boolean);
  return goJson(v);
}

/** The Go type of a decoded JSON value, as client-go names it in errors. */
function goType(v: unknown): string {
  if (Array.isArray(v)) return "[]interface {}";
  if (isMap(v)) return "map[string]interface {}";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return isGoInt(v) ? "int64" : "float64";
  return "<nil>";
}

/** A decoded JSON value as Go's %v prints it: `map[a:1 b:[x y]]`, `<nil>`. */
function goValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goValue).join(" ")}]`;
  if (isMap(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goValue(v[k])}`)
      .join(" ")}]`;
  return goText(v as string | number | boolean | null);
}

/**
 * A map or list as Go's json.Marshal writes it (kubectl, kube's table
 * convertor): compact, keys sorted, and `<`, `>`, `&`, U+2028 and U+2029
 * escaped as \u003c… (Go's HTML-safe strings; they only occur in strings).
 * With `indent`, as json.MarshalIndent with that many spaces.
 */
export function goJson(v: object, indent?: number): string {
  return sortedJson(v, indent === undefined ? "" : " ".repeat(indent), "").replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Go's order of map keys: their UTF-8 bytes, which is code point order (UTF-16 units put U+E000-U+FFFF after astral characters). */
function goKeyOrder(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const [x, y] = [a.codePointAt(i)!, b.codePointAt(i)!];
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * JSON.stringify's text with every map's keys in Go's order. Not JSON.stringify
 * of a sorted copy: an object lists integer-like keys ("0", "7") first whatever
 * their insertion order, where Go puts "" and "#" before "1".
 */
function sortedJson(v: unknown, indent: string, at: string): string {
  const inner = at + indent;
  const open = indent === "" ? "" : `\n${inner}`;
  const close = indent === "" ? "" : `\n${at}`;
  const sep = indent === "" ? "," : `,\n${inner}`;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[${open}${v.map((x) => (x === undefined || typeof x === "function" ? "null" : sortedJson(x, indent, inner))).join(sep)}${close}]`;
  }
  if (!isMap(v)) return JSON.stringify(v) ?? "null";
  const keys = Object.keys(v)
    .filter((k) => v[k] !== undefined && typeof v[k] !== "function")
    .sort(goKeyOrder);
  if (keys.length === 0) return "{}";
  const colon = indent === "" ? ":" : ": ";
  return `{${open}${keys.map((k) => `${JSON.stringify(k)}${colon}${sortedJson(v[k], indent, inner)}`).join(sep)}${close}}`;
}

/**
 * A scalar as Go's fmt prints it (%v), as kubectl prints a value it found and
 * compares it in `wait --for=jsonpath`. kubectl reads a JSON integer as an
 * int64 (its digits) and any other number, an integer past int64 included, as
 * a float64, which %v writes as strconv's shortest 'g': with an exponent from
 * 1e6 up and under 1e-4 (1234567.5 is 1.2345675e+06, 1e20 is 1e+20).
 */
export function goText(v: string | number | boolean | null): string {
  if (v === null) return "<nil>";
  if (typeof v !== "number" || !Number.isFinite(v) || (Number.isInteger(v) && Math.abs(v) < 2 ** 63)) return String(v);
  const [mantissa, exp] = v.toExponential().split("e") as [string, string];
  const e = Number(exp);
  if (e >= -4 && e < 6) return String(v);
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}
