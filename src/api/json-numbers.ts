// Numbers in request bodies that Setpoint cannot store as written.
//
// Objects pass through JavaScript numbers (IEEE doubles) between the request
// and the store, so an integer literal past ±(2^53 - 1) would come back as
// another integer (9007199254740993 as 9007199254740992) and a number past the
// double range as `null` (JSON.stringify of Infinity). Such a body is refused
// with 400 naming the literal, rather than stored changed: a client never
// reads back something other than what it wrote. (kube-apiserver keeps int64
// integers exactly and refuses 1e400 when decoding.) Fractions and exponents
// are doubles as written, as in kube, and pass.

import { BadRequestError } from "../errors.ts";

/** A text worth scanning: some run of 16 digits (an unsafe integer has at least 16) or a 3-digit exponent. */
const SUSPECT = /\d{16}|[eE][+-]?\d{3}/;
const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/** Why `literal` (a JSON number token) cannot be stored as written, or undefined when it can. */
function problemOf(literal: string, exact: boolean): string | undefined {
  const value = Number(literal);
  if (!Number.isFinite(value)) return "is outside the range of a double";
  if (exact && !Number.isSafeInteger(value)) return `is an integer outside ±${Number.MAX_SAFE_INTEGER}, which would not be stored exactly`;
  return undefined;
}

function refuse(what: string, literal: string, problem: string): never {
  const shown = literal.length > 40 ? `${literal.slice(0, 37)}...` : literal;
  const message = `${what}: the number ${shown} ${problem}`;
  throw new BadRequestError(message, { causes: [{ field: what, message, reason: "FieldValueInvalid" }] });
}

/**
 * Throws BadRequest if JSON `text` (already known to parse) holds a number
 * literal that would not survive a round trip through a JavaScript number.
 * Costs one regular-expression test unless the text has a long digit run.
 */
export function checkJsonNumbers(text: string, what = "body"): void {
  if (!SUSPECT.test(text)) return;
  const n = text.length;
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, past escapes.
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) {
        i++;
        continue;
      }
      const problem = problemOf(m[0], m[1] === undefined && m[2] === undefined);
      if (problem) refuse(what, m[0], problem);
      i += m[0].length;
    } else i++;
  }
}

/**
 * The same check on a value parsed from YAML with integers as BigInt
 * (`intAsBigInt`): returns the value with each integer as a number, throwing
 * BadRequest for an integer or a float that a number cannot hold.
 */
export function exactYamlNumbers(value: unknown, what = "body"): unknown {
  if (typeof value === "bigint") {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) refuse(what, value.toString(), problemOf(value.toString(), true) ?? "");
    return n;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) refuse(what, String(value), "is not a finite number");
    return value;
  }
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = exactYamlNumbers(value[i], what);
    return value;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = exactYamlNumbers(o[k], what);
  return value;
}
