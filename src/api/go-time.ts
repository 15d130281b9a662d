// Go's time.Parse(time.RFC3339, text), which kube-apiserver runs on every
// metav1.Time it reads (metadata.creationTimestamp and deletionTimestamp in a
// request body, a `date` printer column's cell): the same texts accepted,
// the same instants, and for a text it refuses Go's own error message.
//
// Go first tries a strict RFC 3339 parser and, when that fails, its general
// layout parser with the layout "2006-01-02T15:04:05Z07:00"; the general one
// accepts everything the strict one does, so it alone decides here. It is
// lenient where the layout lets it be: a one-digit hour, `,` before a
// fraction of any length, an offset hour up to 24 and minute up to 60. It is
// strict elsewhere: four-digit year, two-digit month, day, minute and second,
// each in range (no day 31 in a 30-day month, no February 29 outside a leap
// year, no second 60), an upper-case `T` and `Z`, and nothing after the offset.

/** The layout Go's time.RFC3339 names. */
export const GO_RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00";

/** A time Go parsed: milliseconds since the epoch, and the nanoseconds within its second (Go keeps them all). */
export interface GoTime {
  ms: number;
  nanos: number;
}

/** Go's time.quote: between double quotes, `"` and `\` escaped, bytes of non-ASCII and control characters as `\xhh`. */
function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x80 || code < 0x20) {
      for (const byte of Buffer.from(ch)) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    } else {
      out += ch === '"' || ch === "\\" ? `\\${ch}` : ch;
    }
  }
  return `${out}"`;
}

const isDigit = (s: string, i: number): boolean => i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39;

/** Go's getnum: one or two leading digits (exactly two when `fixed`); undefined when there are none. */
function getnum(s: string, fixed: boolean): [number, string] | undefined {
  if (!isDigit(s, 0)) return undefined;
  if (!isDigit(s, 1)) return fixed ? undefined : [Number(s[0]), s.slice(1)];
  return [Number(s.slice(0, 2)), s.slice(2)];
}

/** Days in a month (1-12) of a proleptic Gregorian year, as Go's daysIn. */
function daysIn(year: number, month: number): number {
  const last = new Date(0);
  last.setUTCFullYear(year, month, 0); // day 0 of the next month
  return last.getUTCDate();
}

/**
 * `text` as Go's time.Parse(time.RFC3339, text) reads it: the instant, or
 * the error Go returns (`parsing time "2026-02-30T00:00:00Z": day out of
 * range`, `parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x"
 * as "2006"`).
 */
export function parseGoRfc3339(text: string): GoTime | { error: string } {
  const cannot = (valueElem: string, layoutElem: string) => ({
    error: `parsing time ${quote(text)} as ${quote(GO_RFC3339_LAYOUT)}: cannot parse ${quote(valueElem)} as ${quote(layoutElem)}`,
  });
  const outOfRange = (what: string) => ({ error: `parsing time ${quote(text)}: ${what} out of range` });
  let value = text;
  // Each layout element in turn: a literal to skip, then a number.
  const skip = (literal: string): boolean => {
    if (!value.startsWith(literal)) return false;
    value = value.slice(literal.length);
    return true;
  };
  // 2006
  if (value.length < 4 || !/^\d{4}/.test(value)) return cannot(value, "2006");
  const year = Number(value.slice(0, 4));
  value = value.slice(4);
  const fields: number[] = [];
  for (const [literal, elem, fixed, max, name] of [
    ["-", "01", true, 12, "month"],
    ["-", "02", true, 31, "day"],
    ["T", "15", false, 23, "hour"],
    [":", "04", true, 59, "minute"],
    [":", "05", true, 59, "second"],
  ] as const) {
    if (!skip(literal)) return cannot(value, literal);
    const got = getnum(value, fixed);
    if (got === undefined) return cannot(value, elem);
    const [n, rest] = got;
    if (n > max || (name === "month" && n === 0)) return outOfRange(name);
    fields.push(n);
    value = rest;
  }
  const [month, day, hour, minute, second] = fields as [number, number, number, number, number];
  // A fraction the layout does not name, after `.` or `,`: any number of digits, nanoseconds kept.
  let nanos = 0;
  if (value.length >= 2 && (value[0] === "." || value[0] === ",") && isDigit(value, 1)) {
    let n = 2;
    while (isDigit(value, n)) n++;
    nanos = Number(value.slice(1, Math.min(n, 10)).padEnd(9, "0"));
    value = value.slice(n);
  }
  // Z07:00
  let offsetMinutes = 0;
  if (value[0] === "Z") value = value.slice(1);
  else {
    if (value.length < 6 || value[3] !== ":") return cannot(value, "Z07:00");
    // In Go's order: the hour, then the minute, read; a range error before a bad digit or sign.
    const hh = getnum(value.slice(1, 3), true);
    const mm = hh && getnum(value.slice(4, 6), true);
    const hours = hh?.[0] ?? 0;
    const minutes = mm?.[0] ?? 0;
    if (hours > 24) return outOfRange("time zone offset hour");
    if (minutes > 60) return outOfRange("time zone offset minute");
    if (mm === undefined || (value[0] !== "+" && value[0] !== "-")) return cannot(value, "Z07:00");
    offsetMinutes = (value[0] === "-" ? -1 : 1) * (hours * 60 + minutes);
    value = value.slice(6);
  }
  if (value.length > 0) return { error: `parsing time ${quote(text)}: extra text: ${quote(value)}` };
  if (day < 1 || day > daysIn(year, month)) return outOfRange("day");
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day); // not Date.UTC: it reads years 0-99 as 1900-1999
  at.setUTCHours(hour, minute - offsetMinutes, second, Math.floor(nanos / 1e6));
  return { ms: at.getTime(), nanos };
}
