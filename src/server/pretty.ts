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
  const indenter = new JsonIndenter();
  const out = indenter.push(json);
  return indenter.inString ? json : out; // a string that never ends: not JSON, left as it is
}

/**
 * Where the string that starts (its first character after the quote) at
 * `from` in `text` ends (past its closing quote), or -1 if it goes on past
 * the text; `escaped`: the character at `from` is escaped (a backslash ended
 * the text before).
 */
function stringEnd(text: string, from: number, escaped: boolean): number {
  for (let at = from; ; ) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return -1;
    let slashes = 0;
    for (let k = quote - 1; k >= from && text.charCodeAt(k) === BACKSLASH; k--) slashes++;
    if (slashes === quote - from && escaped) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** Whether the text after a string's `from` (all of it inside the string) leaves the next character escaped. */
function endsEscaped(text: string, from: number, escaped: boolean): boolean {
  let slashes = 0;
  for (let k = text.length - 1; k >= from && text.charCodeAt(k) === BACKSLASH; k--) slashes++;
  if (slashes === text.length - from && escaped) slashes++;
  return slashes % 2 === 1;
}

/**
 * Indents JSON text that comes in pieces (a list streamed to the socket), as
 * Go's json.Indent: `push` each piece in order, and the outputs joined are
 * the whole text indented, every token as it was. A piece may end anywhere,
 * inside a string or a number included.
 */
export class JsonIndenter {
  #depth = 0;
  /** An opening bracket was written and its newline is due unless the next token closes it. */
  #opened = false;
  /** The last piece ended inside a string ... */
  #inString = false;
  /** ... right after a backslash that escapes the next character. */
  #escaped = false;

  /** Whether the text so far ends inside a string. */
  get inString(): boolean {
    return this.#inString;
  }

  /** The indented form of `piece`, the next piece of the text. */
  push(piece: string): string {
    const out: string[] = [];
    let i = 0;
    if (this.#inString) {
      const end = stringEnd(piece, 0, this.#escaped);
      if (end < 0) {
        this.#escaped = endsEscaped(piece, 0, this.#escaped);
        return piece;
      }
      out.push(piece.slice(0, end));
      this.#inString = false;
      i = end;
    }
    let start = i; // the first character of the token run not yet copied
    const flush = (end: number) => {
      if (end > start) out.push(piece.slice(start, end));
    };
    const newline = () => out.push(`\n${"  ".repeat(this.#depth)}`);
    while (i < piece.length) {
      const ch = piece.charCodeAt(i);
      if (ch === QUOTE) {
        // A string: copied whole, up to its closing quote (one not escaped).
        flush(i);
        if (this.#opened) {
          this.#opened = false;
          newline();
        }
        const end = stringEnd(piece, i + 1, false);
        if (end < 0) {
          out.push(piece.slice(i));
          this.#inString = true;
          this.#escaped = endsEscaped(piece, i + 1, false);
          return out.join("");
        }
        out.push(piece.slice(i, end));
        i = end;
        start = i;
        continue;
      }
      switch (ch) {
        case 0x7b: // {
        case 0x5b: // [
          flush(i);
          if (this.#opened) newline();
          out.push(piece[i]!);
          this.#depth++;
          this.#opened = true;
          break;
        case 0x7d: // }
        case 0x5d: // ]
          flush(i);
          this.#depth--;
          if (!this.#opened) newline();
          this.#opened = false;
          out.push(piece[i]!);
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
          // A number, true, false or null: copied as a run (which may go on in the next piece).
          if (this.#opened) {
            this.#opened = false;
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
}

/** `value` as the JSON answer to `req`: indented if it asks for it. */
export function jsonAnswer(req: Pick<IncomingMessage, "url" | "headers"> | undefined, value: unknown): string {
  return wantsPretty(req) ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}
