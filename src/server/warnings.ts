// Kubernetes `Warning` response headers (RFC 7234 warn-code 299, as
// kube-apiserver sends them and kubectl prints them as `Warning: …`), within
// kube's bounds: each text at most 256 characters, all of them at most 4 KiB,
// so that a write with many or long warnings never makes a header block a
// client refuses to read.

/** kube-apiserver's bound on one warning's text (truncateItemRunes). */
const MAX_ITEM = 256;
/** kube-apiserver's bound on all warnings of a response (truncateAtTotalRunes). */
const MAX_TOTAL = 4 * 1024;

/**
 * One value, quoted as kube-apiserver quotes it (makeQuotedString): `"` and
 * `\\` escaped by a backslash, everything else as is, in UTF-8. kubectl reads
 * a backslash as quoting the next character (RFC 9110's quoted-pair), so a
 * `\\u00e9` escape would show as `u00e9`. A header carries bytes: the UTF-8
 * bytes go as latin1 characters; control characters (which Node refuses in a
 * header, and Go's writer turns to spaces) become spaces.
 */
function headerValue(text: string): string {
  const quoted = text.replace(/[^\t -~\u0080-\uffff]/g, " ").replace(/["\\]/g, "\\$&");
  return `299 - "${Buffer.from(quoted, "utf8").toString("latin1")}"`;
}

/** The `Warning` header values for `texts`, truncated and dropped past kube's bounds. */
export function warningHeaders(texts: readonly string[]): string[] {
  const out: string[] = [];
  let total = 0;
  for (const text of texts) {
    const runes = text.length > MAX_ITEM ? Array.from(text) : undefined;
    const item = runes && runes.length > MAX_ITEM ? `${runes.slice(0, MAX_ITEM).join("")}...` : text;
    total += item.length;
    if (total > MAX_TOTAL) break;
    out.push(headerValue(item));
  }
  return out;
}
