// Kubernetes `Warning` response headers (RFC 7234 warn-code 299, as
// kube-apiserver sends them and kubectl prints them as `Warning: …`), within
// kube's bounds: each text at most 256 characters, all of them at most 4 KiB,
// so that a write with many or long warnings never makes a header block a
// client refuses to read.

/** kube-apiserver's bound on one warning's text (truncateItemRunes). */
const MAX_ITEM = 256;
/** kube-apiserver's bound on all warnings of a response (truncateAtTotalRunes). */
const MAX_TOTAL = 4 * 1024;

/** One value: the text quoted, and anything but printable ASCII escaped (a header cannot carry it). */
function headerValue(text: string): string {
  return `299 - ${JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}`;
}

/** The `Warning` header values for `texts`, truncated and dropped past kube's bounds. */
export function warningHeaders(texts: readonly string[]): string[] {
  const out: string[] = [];
  let total = 0;
  for (const text of texts) {
    const item = text.length > MAX_ITEM ? `${text.slice(0, MAX_ITEM)}...` : text;
    total += item.length;
    if (total > MAX_TOTAL) break;
    out.push(headerValue(item));
  }
  return out;
}
