// Pretty-printed JSON answers, as kube-apiserver gives them (its content
// negotiation's isPrettyPrint): a `pretty` query parameter that Go's
// strconv.ParseBool reads as true indents the answer; one it reads as false,
// or cannot read, does not; without the parameter (or with it empty) the
// answer is indented for a User-Agent that starts with `curl`, `Wget` or
// `Mozilla/5.0` (command-line tools and browsers). Watch streams are never
// indented (kube's streaming serializer is not either).
//
// The indenting keeps the JSON text's tokens, as Go's json.Indent:
// two spaces a level, `"key": value`, `{}` and `[]` kept whole, no newline at
// the end, and every number and string exactly as it was (an integer past
// 2^53 keeps its digits).

import type { IncomingMessage } from "node:http";

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);

/** Whether the answer to `req` is to be indented (see the file header). */
export function wantsPretty(req: Pick<IncomingMessage, "url" | "headers"> | undefined): boolean {
  if (!req) return false;
  const url = req.url ?? "";
  const q = url.indexOf("?");
  // Most requests have no `pretty`: no query parsing for them.
  if (q >= 0 && url.includes("pretty", q)) {
    const value = new URLSearchParams(url.slice(q + 1)).get("pretty");
    if (value) return TRUE.has(value);
  }
  const agent = req.headers["user-agent"];
  return agent !== undefined && (agent.startsWith("curl") || agent.startsWith("Wget") || agent.startsWith("Mozilla/5.0"));
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `json` (one JSON value's text) indented two spaces a level, its tokens unchanged. */
export function indentJson(json: string): string {
  // The server's answers are JSON.stringify's text: for those, the native
  // indent gives the same tokens, about four times faster than the walk below.
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return json; // not JSON: left as it is
  }
  if (JSON.stringify(value) === json) return JSON.stringify(value, null, 2);
  return indentTokens(json);
}

/** indentJson by walking the text, for JSON that JSON.stringify would write otherwise (other spacing, numbers as `1.0` or past 2^53). */
function indentTokens(json: string): string {
  const out: string[] = [];
  let depth = 0;
  /** An opening bracket was written and its newline is due unless the next token closes it. */
  let opened = false;
  const newline = () => out.push(`\n${"  ".repeat(depth)}`);
  let i = 0;
  let start = 0; // the first character of the token run not yet copied
  const flush = (end: number) => {
    if (end > start) out.push(json.slice(start, end));
  };
  while (i < json.length) {
    const ch = json.charCodeAt(i);
    if (ch === QUOTE) {
      // A string: copied whole, up to its closing quote (one not escaped).
      let end = i + 1;
      for (;;) {
        const next = json.indexOf('"', end);
        if (next < 0) return json; // not JSON: left as it is
        let slashes = 0;
        for (let k = next - 1; json.charCodeAt(k) === BACKSLASH; k--) slashes++;
        end = next + 1;
        if (slashes % 2 === 0) break;
      }
      if (opened) {
        opened = false;
        newline();
      }
      out.push(json.slice(i, end));
      i = end;
      start = i;
      continue;
    }
    switch (ch) {
      case 0x7b: // {
      case 0x5b: // [
        flush(i);
        if (opened) newline();
        out.push(json[i]!);
        depth++;
        opened = true;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        flush(i);
        depth--;
        if (!opened) newline();
        opened = false;
        out.push(json[i]!);
        break;
      case 0x2c: // ,
        flush(i);
        out.push(",");
        newline();
        break;
      case 0x3a: // :
        flush(i);
        out.push(": ");
        break;
      case 0x20:
      case 0x09:
      case 0x0a:
      case 0x0d:
        flush(i); // whitespace between tokens is dropped
        break;
      default:
        // A number, true, false or null: copied as a run.
        if (opened) {
          opened = false;
          newline();
        }
        i++;
        continue;
    }
    i++;
    start = i;
  }
  flush(i);
  return out.join("");
}

/** `value` as the JSON answer to `req`: indented if it asks for it. */
export function jsonAnswer(req: Pick<IncomingMessage, "url" | "headers"> | undefined, value: unknown): string {
  return wantsPretty(req) ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}
