// YAML text as kube writes it: sigs.k8s.io/yaml's JSONToYAML, which reads a
// JSON document with go-yaml v2 and writes it back with go-yaml v2's encoder
// and emitter. That is the text of kube-apiserver's `Accept:
// application/yaml` answers and of `kubectl get -o yaml`. This module
// writes a JSON value (objects, arrays, strings, numbers, BigInts for
// integers past 2^53, booleans, null) the same way, byte for byte:
//
// - keys in go-yaml's order (its keyList: runs of digits compare as
//   numbers, other characters before letters, then by code point);
// - block style, two spaces, a sequence under a key not indented, `{}` and
//   `[]` for empty ones, a key that is multi-line or over 128 bytes written
//   as `? key` / `: value`;
// - each string in the style go-yaml picks: plain where a reader gets the
//   string back, else double-quoted when a plain reader would take it for
//   something else (a number, bool, null, timestamp, base-60 float, as
//   go-yaml v2 resolves them), single-quoted when it starts with or holds an
//   indicator (`- `, `: `, ` #`, `'`…) or has spaces at an end, literal
//   (`|`, `|-`, `|+`, `|2-`) when it holds a newline, double-quoted with
//   escapes (`\t`, `\x01`, `\U0001F600`) when it holds a character go-yaml
//   does not print;
// - plain, single- and double-quoted strings folded at a space past column
//   80 (keys never);
// - a raw NEL (U+0085) in a string reads as a line break when go-yaml reads
//   the JSON, which folds it to a space (two to a newline): the same here.
//
// Numbers are written by the caller's `number` function (Go's float and
// integer text).

/** The emitter's state, as go-yaml's: the text, the column, and whether the last thing written was whitespace or indentation. */
class Emitter {
  out = "";
  column = 0;
  whitespace = true;
  indention = true;

  put(ch: string): void {
    this.out += ch;
    this.column++;
  }

  putBreak(): void {
    this.out += "\n";
    this.column = 0;
  }

  /** go-yaml's write_break: a line break of the text as it is ("\n" as a newline, other breaks raw); the next line starts indented. */
  writeBreak(c: string): void {
    if (c === "\n") this.putBreak();
    else {
      this.out += c;
      this.column = 0;
    }
    this.indention = true;
  }

  /** go-yaml's yaml_emitter_write_indent. */
  writeIndent(indent: number): void {
    const at = Math.max(indent, 0);
    if (!this.indention || this.column > at || (this.column === at && !this.whitespace)) this.putBreak();
    while (this.column < at) this.put(" ");
    this.whitespace = true;
    this.indention = true;
  }

  /** go-yaml's yaml_emitter_write_indicator. */
  writeIndicator(indicator: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(" ");
    for (const ch of indicator) this.put(ch);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }
}

const BEST_WIDTH = 80;

const isBreak = (c: string | undefined): boolean => c === "\r" || c === "\n" || c === "\u0085" || c === "\u2028" || c === "\u2029";
const isBlank = (c: string | undefined): boolean => c === " " || c === "\t";
const isBlankz = (c: string | undefined): boolean => c === undefined || isBlank(c) || isBreak(c) || c === "\0";

/** go-yaml v2's is_printable, by code point. */
function isPrintable(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff);
}

interface Analysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

/** go-yaml v2's yaml_emitter_analyze_scalar (block context: flow styles are never chosen here). */
function analyze(chars: readonly string[]): Analysis {
  if (chars.length === 0) return { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: false };
  let blockIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  const head = chars.slice(0, 3).join("");
  if (head === "---" || head === "...") blockIndicators = true;
  let precededByWhitespace = true;
  const last = chars.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = chars[i]!;
    const followedByWhitespace = i === last || isBlank(chars[i + 1]);
    if (i === 0) {
      if ("#,[]{}&*!|>'\"%@`".includes(c)) blockIndicators = true;
      else if ((c === "?" || c === ":" || c === "-") && followedByWhitespace) blockIndicators = true;
    } else if ((c === ":" && followedByWhitespace) || (c === "#" && precededByWhitespace)) blockIndicators = true;
    if (!isPrintable(c)) special = true;
    if (c === " ") {
      if (i === 0) leadingSpace = true;
      if (i === last) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === last) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlankz(c);
  }
  let blockPlainAllowed = true;
  let singleQuotedAllowed = true;
  let blockAllowed = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlainAllowed = false;
  if (trailingSpace) blockAllowed = false;
  if (breakSpace) {
    blockPlainAllowed = false;
    singleQuotedAllowed = false;
  }
  if (spaceBreak || special) {
    blockPlainAllowed = false;
    singleQuotedAllowed = false;
    blockAllowed = false;
  }
  if (lineBreaks || blockIndicators) blockPlainAllowed = false;
  return { multiline: lineBreaks, blockPlainAllowed, singleQuotedAllowed, blockAllowed };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Whether Go's strconv.ParseInt(s, 0, 64) or ParseUint(s, 0, 64) reads `s` (underscores already removed). */
function goParsesInt(s: string): boolean {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (m === null) return false;
  const body = m[2]!;
  const digits = /^0[oO]/.test(body) ? `0o${body.slice(2)}` : /^0[0-7]+$/.test(body) ? `0o${body.slice(1)}` : body;
  const magnitude = BigInt(digits);
  const value = m[1] === "-" ? -magnitude : magnitude;
  return (value >= INT64_MIN && value <= INT64_MAX) || (m[1] === "" && value >= 0n && value <= UINT64_MAX);
}

/** Days in a month (1-12) of a proleptic Gregorian year. */
function daysIn(year: number, month: number): number {
  const last = new Date(0);
  last.setUTCFullYear(year, month, 0);
  return last.getUTCDate();
}

/** Whether go-yaml v2's parseTimestamp reads `s` (time.Parse with its four layouts). */
function isTimestamp(s: string): boolean {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:([Tt ])(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,]\d+)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(s);
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  if (m[4] === undefined) return true;
  if (Number(m[5]) > 23 || Number(m[6]) > 59 || Number(m[7]) > 59) return false;
  // "T"/"t" layouts end with a zone (Z07:00); the space one has none.
  if ((m[4] === " ") !== (m[8] === undefined)) return false;
  if (m[8] !== undefined && m[8] !== "Z" && (Number(m[8].slice(1, 3)) > 24 || Number(m[8].slice(4)) > 60)) return false;
  return true;
}

/** Texts go-yaml v2 resolves from its table: bools, nulls, infinities and NaNs (and "", null too). */
const RESOLVED = new Set(
  [
    "y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF",
    "~ null Null NULL",
    ".nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF",
  ]
    .join(" ")
    .split(" "),
);

/** Whether go-yaml v2 reads `s`, written plain, as a string (its resolve): not a bool, null, number or timestamp. */
function resolvesToString(s: string): boolean {
  if (s === "" || RESOLVED.has(s)) return false;
  const c = s[0]!;
  if (c === ".") return !(/^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/.test(s) && Number.isFinite(Number(s)));
  if (c !== "+" && c !== "-" && !(c >= "0" && c <= "9")) return true;
  if (isTimestamp(s)) return false;
  const plain = s.replaceAll("_", "");
  if (goParsesInt(plain)) return false;
  // A float as go-yaml's yamlStyleFloat, that Go's ParseFloat takes without a range error.
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(plain) && Number.isFinite(Number(plain))) return false;
  return true;
}

/** go-yaml v2's isBase60Float: `1:30`, `190:20:30.15`, which YAML 1.1 readers take for numbers. */
const BASE_60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;

type Style = "plain" | "single" | "double" | "literal";

/** The style go-yaml v2's encoder (stringv) and emitter (select_scalar_style) give a string. */
function styleOf(s: string, a: Analysis, simpleKey: boolean): Style {
  let style: Style = s.includes("\n") ? "literal" : resolvesToString(s) && !BASE_60_FLOAT.test(s) ? "plain" : "double";
  if (simpleKey && a.multiline) style = "double";
  if (style === "plain" && (!a.blockPlainAllowed || (s === "" && simpleKey))) style = "single";
  if (style === "single" && !a.singleQuotedAllowed) style = "double";
  if (style === "literal" && (!a.blockAllowed || simpleKey)) style = "double";
  return style;
}

/** go-yaml's short escapes in double quotes, by code point. */
const ESCAPES = new Map<number, string>([
  [0x00, "0"],
  [0x07, "a"],
  [0x08, "b"],
  [0x09, "t"],
  [0x0a, "n"],
  [0x0b, "v"],
  [0x0c, "f"],
  [0x0d, "r"],
  [0x1b, "e"],
  [0x22, '"'],
  [0x5c, "\\"],
  [0x85, "N"],
  [0xa0, "_"],
  [0x2028, "L"],
  [0x2029, "P"],
]);

function writePlain(e: Emitter, chars: readonly string[], indent: number, allowBreaks: boolean): void {
  if (!e.whitespace) e.put(" ");
  if (!allowBreaks || !chars.includes(" ")) {
    // Nothing to fold: the text at once (a long one costs a copy, not a step per character).
    e.out += chars.join("");
    e.column += chars.length;
    e.whitespace = false;
    e.indention = false;
    return;
  }
  let spaces = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === " ") {
      if (allowBreaks && !spaces && e.column > BEST_WIDTH && chars[i + 1] !== " ") e.writeIndent(indent);
      else e.put(c);
      spaces = true;
    } else {
      e.put(c);
      e.indention = false;
      spaces = false;
    }
  }
  e.whitespace = false;
  e.indention = false;
}

function writeSingleQuoted(e: Emitter, chars: readonly string[], indent: number, allowBreaks: boolean): void {
  e.writeIndicator("'", true, false, false);
  let spaces = false;
  let breaks = false;
  const last = chars.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = chars[i]!;
    if (c === " ") {
      if (allowBreaks && !spaces && e.column > BEST_WIDTH && i !== 0 && i !== last && chars[i + 1] !== " ") e.writeIndent(indent);
      else e.put(c);
      spaces = true;
    } else if (isBreak(c)) {
      if (!breaks && c === "\n") e.putBreak();
      e.writeBreak(c);
      breaks = true;
    } else {
      if (breaks) e.writeIndent(indent);
      if (c === "'") e.put("'");
      e.put(c);
      e.indention = false;
      spaces = false;
      breaks = false;
    }
  }
  e.writeIndicator("'", false, false, false);
}

function writeDoubleQuoted(e: Emitter, chars: readonly string[], indent: number, allowBreaks: boolean): void {
  e.writeIndicator('"', true, false, false);
  let spaces = false;
  const last = chars.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = chars[i]!;
    const cp = c.codePointAt(0)!;
    if (!isPrintable(c) || cp === 0xfeff || isBreak(c) || c === '"' || c === "\\") {
      e.put("\\");
      const short = ESCAPES.get(cp);
      if (short !== undefined) e.put(short);
      else {
        const [mark, width] = cp <= 0xff ? ["x", 2] : cp <= 0xffff ? ["u", 4] : ["U", 8];
        e.put(mark);
        for (const d of cp.toString(16).toUpperCase().padStart(width, "0")) e.put(d);
      }
      spaces = false;
    } else if (c === " ") {
      if (allowBreaks && !spaces && e.column > BEST_WIDTH && i !== 0 && i !== last) {
        e.writeIndent(indent);
        if (chars[i + 1] === " ") e.put("\\");
      } else e.put(c);
      spaces = true;
    } else {
      e.put(c);
      spaces = false;
    }
  }
  e.writeIndicator('"', false, false, false);
}

function writeLiteral(e: Emitter, chars: readonly string[], indent: number): void {
  e.writeIndicator("|", true, false, false);
  // go-yaml's write_block_scalar_hints: an indentation indicator when the text starts with a space or a break; chomping.
  if (chars[0] === " " || isBreak(chars[0])) e.writeIndicator("2", false, false, false);
  const last = chars.length - 1;
  const chomp = !isBreak(chars[last]) ? "-" : last === 0 || isBreak(chars[last - 1]) ? "+" : "";
  if (chomp !== "") e.writeIndicator(chomp, false, false, false);
  e.putBreak();
  e.indention = true;
  e.whitespace = true;
  let breaks = true;
  for (const c of chars) {
    if (isBreak(c)) {
      e.writeBreak(c);
      breaks = true;
    } else {
      if (breaks) e.writeIndent(indent);
      e.put(c);
      e.indention = false;
      breaks = false;
    }
  }
}

/**
 * A string as go-yaml reads it from JSON: a raw NEL is a line break inside a
 * double-quoted scalar, folded with the spaces around it to one space, or to
 * n-1 newlines for n breaks in a row.
 */
function asGoYamlReadsIt(s: string): string {
  if (!s.includes("\u0085")) return s;
  return s.replace(/ *\u0085[ \u0085]*/g, (run) => {
    const breaks = run.split("\u0085").length - 1;
    return breaks === 1 ? " " : "\n".repeat(breaks - 1);
  });
}

/** Whether a key is written as a simple key (`key: value`), as go-yaml's check_simple_key: one line, at most 128 bytes. */
function isSimpleKey(key: string, a: Analysis): boolean {
  return !a.multiline && (key.length <= 42 || Buffer.byteLength(key) <= 128);
}

/** Strings with nothing for analyze to find (no space, break, indicator or unprinted character, no `-` first): most names, uids, times. */
const QUIET = /^[A-Za-z0-9_./=+~][A-Za-z0-9_./=+~-]*$/;
const QUIET_ANALYSIS: Analysis = { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: true };

/** analyze's answer for `s`, without a step per character for a quiet string. */
const analysisOf = (s: string): Analysis => (QUIET.test(s) && !s.startsWith("...") ? QUIET_ANALYSIS : analyze([...s]));

function writeString(e: Emitter, s: string, parentIndent: number, simpleKey: boolean, a: Analysis = analysisOf(s)): void {
  const indent = parentIndent < 0 ? 2 : parentIndent + 2;
  const style = styleOf(s, a, simpleKey);
  if (a === QUIET_ANALYSIS && style === "plain") {
    if (!e.whitespace) e.put(" ");
    e.out += s;
    e.column += s.length; // QUIET is ASCII: one column a character
    e.whitespace = false;
    e.indention = false;
    return;
  }
  const chars = [...s];
  if (style === "plain") writePlain(e, chars, indent, !simpleKey);
  else if (style === "single") writeSingleQuoted(e, chars, indent, !simpleKey);
  else if (style === "double") writeDoubleQuoted(e, chars, indent, !simpleKey);
  else writeLiteral(e, chars, indent);
}

/** go-yaml's keyList.Less for two string keys. */
export function goKeyLess(a: string, b: string): boolean {
  const ar = [...a];
  const br = [...b];
  const letter = (c: string) => /\p{L}/u.test(c);
  const digit = (c: string | undefined) => c !== undefined && /\p{Nd}/u.test(c);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue;
    const al = letter(ar[i]!);
    const bl = letter(br[i]!);
    if (al && bl) return ar[i]!.codePointAt(0)! < br[i]!.codePointAt(0)!;
    if (al || bl) return bl;
    let an = 0n;
    let bn = 0n;
    if (ar[i] === "0" || br[i] === "0") {
      for (let j = i - 1; j >= 0 && digit(ar[j]); j--) {
        if (ar[j] !== "0") {
          an = 1n;
          bn = 1n;
          break;
        }
      }
    }
    let ai = i;
    for (; ai < ar.length && digit(ar[ai]); ai++) an = BigInt.asIntN(64, an * 10n + BigInt(ar[ai]!.codePointAt(0)! - 48));
    let bi = i;
    for (; bi < br.length && digit(br[bi]); bi++) bn = BigInt.asIntN(64, bn * 10n + BigInt(br[bi]!.codePointAt(0)! - 48));
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return ar[i]!.codePointAt(0)! < br[i]!.codePointAt(0)!;
  }
  return ar.length < br.length;
}

/** Keys, as go-yaml reads them, in go-yaml's order: [as read, as in `o`]. */
function sortedKeys(o: Record<string, unknown>): Array<[string, string]> {
  return Object.keys(o)
    .map((key): [string, string] => [asGoYamlReadsIt(key), key])
    .sort(([a], [b]) => (a === b ? 0 : goKeyLess(a, b) ? -1 : 1));
}

type Context = "root" | "value" | "complex-value" | "item";

function emitNode(e: Emitter, v: unknown, indent: number, context: Context, number: (n: number | bigint) => string): void {
  if (Array.isArray(v)) {
    if (v.length === 0) {
      e.writeIndicator("[]", true, false, false);
      return;
    }
    // A sequence that is a mapping's value is not indented (go-yaml: mapping context, not after indentation).
    const indentless = (context === "value" || context === "complex-value") && !e.indention;
    const at = indent < 0 ? 0 : indentless ? indent : indent + 2;
    for (const item of v) {
      e.writeIndent(at);
      e.writeIndicator("-", true, false, true);
      emitNode(e, item, at, "item", number);
    }
    return;
  }
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = sortedKeys(o);
    if (keys.length === 0) {
      e.writeIndicator("{}", true, false, false);
      return;
    }
    const at = indent < 0 ? 0 : indent + 2;
    for (const [k, key] of keys) {
      const a = analysisOf(k);
      e.writeIndent(at);
      if (isSimpleKey(k, a)) {
        writeString(e, k, at, true, a);
        e.writeIndicator(":", false, false, false);
        emitNode(e, o[key], at, "value", number);
      } else {
        e.writeIndicator("?", true, false, true);
        writeString(e, k, at, false, a);
        e.writeIndent(at);
        e.writeIndicator(":", true, false, true);
        emitNode(e, o[key], at, "complex-value", number);
      }
    }
    return;
  }
  if (typeof v === "string") {
    writeString(e, asGoYamlReadsIt(v), indent, false);
    return;
  }
  const text = v === null || v === undefined ? "null" : typeof v === "boolean" ? String(v) : number(v as number | bigint);
  writePlain(e, [...text], indent < 0 ? 2 : indent + 2, true);
}

/**
 * `value` (a JSON document's value) as sigs.k8s.io/yaml writes it, ending in
 * a newline; `number` writes a number as Go does.
 * @example
 * goYaml({ b: "1", a: "x: y" }, String) // "a: 'x: y'\nb: \"1\"\n"
 */
export function goYaml(value: unknown, number: (n: number | bigint) => string): string {
  const e = new Emitter();
  emitNode(e, value, -1, "root", number);
  e.writeIndent(-1);
  return e.out;
}
