// JSONPath templates as client-go's util/jsonpath reads them, the one
// evaluator for `get -o jsonpath=…`, `wait --for=jsonpath=…` and a CRD's
// additionalPrinterColumns (kube-apiserver evaluates those with client-go's
// too). The part people use: text outside braces is printed as is; inside
// braces, a path (`.metadata.name`, `['app.kubernetes.io/name']`,
// `.labels.app\.kubernetes\.io/name`, `[0]`, `[-1]`, `[*]`, `..name`, `$`,
// `@`, filters `[?(@.type=="Ready")]`, `[?(@.n>=2)]`, `[?(@.x)]`), a string
// literal (`{"\n"}`), or `{range PATH}…{end}`, which prints its body once for
// each value PATH finds, with paths in the body relative to that value. As
// kubectl: several values are joined by a space; strings, numbers and
// booleans print bare, maps and lists as compact JSON with sorted keys; a key
// that is not there prints nothing (kubectl's default
// --allow-missing-template-keys). Unions and slices are not supported: they
// are refused when the template is parsed.

/** A template that does not parse, in kubectl's words where it has them. */
export class JsonPathError extends Error {
  override name = "JsonPathError";
}

type Step =
  | { kind: "field"; name: string }
  | { kind: "index"; index: number }
  | { kind: "all" }
  | { kind: "descend"; name: string | undefined }
  | { kind: "filter"; left: Operand; op?: Operator; right?: Operand };
/** A side of a filter: a path from the item (`@…`) or the root (`$…`), or a literal. */
type Operand = { kind: "path"; path: Path } | { kind: "literal"; value: string | number | boolean };
const OPERATORS = ["==", "!=", "<=", ">=", "<", ">"] as const;
type Operator = (typeof OPERATORS)[number];
/** A path: from the root (`$`) or from the current value (`.…`, `@…`). */
interface Path {
  fromRoot: boolean;
  steps: Step[];
}
type Node = { kind: "text"; text: string } | { kind: "path"; path: Path } | { kind: "range"; path: Path; body: Node[] };

/** A parsed template; `print(value)` renders it. */
export interface JsonPathTemplate {
  readonly source: string;
  print(value: unknown): string;
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
  const opened: Path[] = [];
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
      const path = opened.pop();
      if (body === undefined || path === undefined || stack.length === 0) throw new JsonPathError(`not in range, nothing to end in ${JSON.stringify(source)}`);
      stack.at(-1)!.push({ kind: "range", path, body });
    } else if (/^range\s/.test(action)) {
      opened.push(parsePath(action.slice("range".length).trim()));
      stack.push([]);
    } else if (action.startsWith('"')) {
      stack.at(-1)!.push({ kind: "text", text: stringLiteral(action) });
    } else {
      stack.at(-1)!.push({ kind: "path", path: parsePath(action) });
    }
  }
  if (stack.length !== 1) throw new JsonPathError(`unclosed range in ${JSON.stringify(source)}: a {range …} needs an {end}`);
  const nodes = stack[0]!;
  return {
    source,
    print: (value) => render(nodes, value, value),
    find: (value) =>
      nodes.map((node) => {
        if (node.kind === "text") return [node.text];
        if (node.kind === "path") return evaluate(node.path, value, value);
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

/** A Go string literal (`"\n"`, `"\t"`, `"a\"b"`). */
function stringLiteral(text: string): string {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "string") return value;
  } catch {
    // fall through
  }
  throw new JsonPathError(`invalid string literal ${text}`);
}

const NAME = /^(?:\\.|[^.[\]\\\s])+/;

/** Parses `.a.b[0]['c.d'][*]..e`, `$…` or `@…`. */
function parsePath(text: string): Path {
  let rest = text;
  let fromRoot = false;
  if (rest.startsWith("$")) {
    fromRoot = true;
    rest = rest.slice(1);
  } else if (rest.startsWith("@")) rest = rest.slice(1);
  else if (!rest.startsWith(".") && !rest.startsWith("[")) throw new JsonPathError(`unrecognized identifier ${text}: a path starts with '.', '[', '$' or '@'`);
  const steps: Step[] = [];
  while (rest.length > 0) {
    if (rest.startsWith("..")) {
      rest = rest.slice(2);
      const m = NAME.exec(rest);
      if (m !== null && m[0] !== "*") {
        steps.push({ kind: "descend", name: unescapeName(m[0]) });
        rest = rest.slice(m[0].length);
      } else {
        if (m !== null) rest = rest.slice(1);
        steps.push({ kind: "descend", name: undefined });
      }
    } else if (rest.startsWith(".")) {
      rest = rest.slice(1);
      if (rest === "" || rest.startsWith("[")) continue; // `.` alone, or `.[0]`
      const m = NAME.exec(rest);
      if (m === null) throw new JsonPathError(`invalid path ${text}`);
      steps.push(m[0] === "*" ? { kind: "all" } : { kind: "field", name: unescapeName(m[0]) });
      rest = rest.slice(m[0].length);
    } else if (rest.startsWith("[")) {
      const close = bracketEnd(rest);
      if (close === -1) throw new JsonPathError(`unterminated array in ${text}`);
      steps.push(bracketStep(rest.slice(1, close).trim(), text));
      rest = rest.slice(close + 1);
    } else {
      throw new JsonPathError(`invalid path ${text}`);
    }
  }
  return { fromRoot, steps };
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

function bracketStep(inside: string, text: string): Step {
  if (inside === "*") return { kind: "all" };
  if (/^-?\d+$/.test(inside)) return { kind: "index", index: Number(inside) };
  const quoted = /^(['"])(.*)\1$/s.exec(inside);
  if (quoted !== null && !quoted[2]!.includes(quoted[1]!)) return { kind: "field", name: quoted[2]! };
  if (inside.startsWith("?")) return filterStep(inside, text);
  if (inside.includes(":")) throw new JsonPathError(`slices ([${inside}]) are not supported in ${text}`);
  if (inside.includes(",")) throw new JsonPathError(`unions ([${inside}]) are not supported in ${text}`);
  throw new JsonPathError(`invalid array index [${inside}] in ${text}`);
}

/** `?(@.a == "x")`, `?(@.n < 3)`, `?(@.a)` (the item has `.a`). */
function filterStep(inside: string, text: string): Step {
  const m = /^\?\s*\((.*)\)$/s.exec(inside);
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
    const op = OPERATORS.find((o) => expression.startsWith(o, i));
    if (op === undefined) continue;
    const left = operand(expression.slice(0, i).trim(), text);
    const right = operand(expression.slice(i + op.length).trim(), text);
    return { kind: "filter", left, op, right };
  }
  const left = operand(expression, text);
  if (left.kind !== "path") throw new JsonPathError(`invalid filter [${inside}] in ${text}: give [?(@.field == "value")]`);
  return { kind: "filter", left };
}

function operand(part: string, text: string): Operand {
  if (part.startsWith("@") || part.startsWith("$")) return { kind: "path", path: parsePath(part) };
  const quoted = /^(['"])(.*)\1$/s.exec(part);
  if (quoted !== null) return { kind: "literal", value: quoted[2]! };
  if (part === "true" || part === "false") return { kind: "literal", value: part === "true" };
  if (part !== "" && Number.isFinite(Number(part))) return { kind: "literal", value: Number(part) };
  throw new JsonPathError(`invalid filter operand ${JSON.stringify(part)} in ${text}: a path (@.a, $.a), a quoted string, a number or a boolean`);
}

/** `app\.kubernetes\.io/name` → `app.kubernetes.io/name`. */
const unescapeName = (name: string): string => name.replace(/\\(.)/g, "$1");

function render(nodes: readonly Node[], root: unknown, current: unknown): string {
  let out = "";
  for (const node of nodes) {
    if (node.kind === "text") out += node.text;
    else if (node.kind === "path") out += evaluate(node.path, root, current).map(text).join(" ");
    else for (const item of evaluate(node.path, root, current)) out += render(node.body, root, item);
  }
  return out;
}

/** Every value the path finds, in order. */
function evaluate(path: Path, root: unknown, current: unknown): unknown[] {
  let values = [path.fromRoot ? root : current];
  for (const step of path.steps) {
    const next: unknown[] = [];
    for (const v of values) apply(step, v, next, root);
    values = next;
  }
  return values;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function apply(step: Step, v: unknown, out: unknown[], root: unknown): void {
  switch (step.kind) {
    case "field":
      if (isMap(v) && Object.hasOwn(v, step.name)) out.push(v[step.name]);
      return;
    case "index":
      if (Array.isArray(v)) {
        const i = step.index < 0 ? step.index + v.length : step.index;
        if (i < 0 || i >= v.length) throw new JsonPathError(`array index out of bounds: index ${i}, length ${v.length}`);
        out.push(v[i]);
      }
      return;
    case "all":
      if (Array.isArray(v)) out.push(...v);
      else if (isMap(v)) for (const k of Object.keys(v).sort()) out.push(v[k]);
      return;
    case "filter":
      if (Array.isArray(v)) for (const item of v) if (passes(step, root, item)) out.push(item);
      return;
    case "descend": {
      // Breadth-first from v itself, as client-go's recursive descent.
      let level: unknown[] = [v];
      while (level.length > 0) {
        const deeper: unknown[] = [];
        for (const node of level) {
          if (Array.isArray(node)) deeper.push(...node);
          else if (isMap(node)) {
            for (const k of Object.keys(node).sort()) {
              if (step.name === undefined || k === step.name) out.push(node[k]);
              deeper.push(node[k]);
            }
          }
        }
        level = deeper;
      }
      return;
    }
  }
}

/** Whether an array item passes a filter: `.a` there (and not null), or its value compares true. */
function passes(step: Extract<Step, { kind: "filter" }>, root: unknown, item: unknown): boolean {
  const side = (o: Operand): unknown[] => (o.kind === "literal" ? [o.value] : evaluate(o.path, root, item));
  const left = side(step.left);
  if (step.op === undefined || step.right === undefined) return left.length > 0 && left[0] !== null;
  const right = side(step.right);
  if (left.length === 0 || right.length === 0) return false;
  const [a, b] = [left[0], right[0]];
  switch (step.op) {
    case "==":
      return a === b;
    case "!=":
      return a !== b;
    default: {
      if (!((typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string"))) return false;
      return step.op === "<" ? a < b : step.op === ">" ? a > b : step.op === "<=" ? a <= b : a >= b;
    }
  }
}

/** One value as kubectl prints it: scalars bare (numbers as Go prints them, goText), maps and lists as compact JSON with sorted keys (Go's json.Marshal). */
function text(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return goText(v as number | boolean);
  return JSON.stringify(sortKeys(v));
}

/** A map or list as Go's json.Marshal writes it (kubectl, kube's table convertor): compact, keys sorted. */
export function goJson(v: object): string {
  return JSON.stringify(sortKeys(v));
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

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isMap(v)) return v;
  const out = Object.create(null) as Record<string, unknown>; // a key `__proto__` is a key
  for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
  return out;
}
