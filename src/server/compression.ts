// Response compression as kube-apiserver's APIResponseCompression feature
// (on by default): a REST answer larger than GZIP_THRESHOLD_BYTES goes out
// gzipped, at level 1, with `Content-Encoding: gzip` and
// `Vary: Accept-Encoding`, when the request accepts gzip and the server
// allows it; anything smaller goes out as it is. A streamed list is judged on
// its first GZIP_THRESHOLD_BYTES (kube's deferredResponseWriter). Watches are
// never compressed. What the answer says is the same either way; only the
// bytes on the wire change.

import type { ServerResponse } from "node:http";
import { createGzip, gzip, type Gzip } from "node:zlib";

/**
 * An answer is gzipped only when it is larger than this (kube's
 * defaultGzipThresholdBytes, compared the same way: strictly larger).
 */
export const GZIP_THRESHOLD_BYTES = 128 * 1024;

/**
 * zlib level 1, as kube-apiserver (gzipContentEncodingLevel): the least CPU,
 * for sizes within 1.1-1.3x of the default level's.
 */
export const GZIP_LEVEL = 1;

/** Answers the server may gzip: requests that accept gzip on a server that allows it (allowGzip). */
const gzipAllowed = new WeakSet<ServerResponse>();

/**
 * Whether an `Accept-Encoding` header accepts gzip, as RFC 9110 §12.5.3 reads
 * it: codings compare without case, `x-gzip` is gzip, a weight of 0 refuses,
 * and `*` stands for any coding the header does not name. An element whose
 * weight does not parse counts as refused.
 * @example acceptsGzip("deflate, GZIP;q=0.5") // true
 * @example acceptsGzip("gzip;q=0, *") // false
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined || header === "") return false;
  let star: boolean | undefined;
  for (const element of header.split(",")) {
    const [coding = "", ...params] = element.split(";");
    const name = coding.trim().toLowerCase();
    if (name !== "gzip" && name !== "x-gzip" && name !== "*") continue;
    const accepted = weightOf(params) > 0;
    if (name !== "*") return accepted;
    star ??= accepted;
  }
  return star ?? false;
}

/** The weight (`q`) among a coding's parameters: 1 when absent, 0 when it is not a valid qvalue. */
function weightOf(params: string[]): number {
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== "q") continue;
    const value = p.slice(eq + 1).trim();
    return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value) ? Number(value) : 0;
  }
  return 1;
}

/** Lets `res`'s answer be gzipped if it is large enough (the request accepts gzip, the server allows it). */
export function allowGzip(res: ServerResponse): void {
  gzipAllowed.add(res);
}

/** Whether an answer of `bytes` bytes on `res` goes out gzipped. */
export function gzipsAnswer(res: ServerResponse, bytes: number): boolean {
  return bytes > GZIP_THRESHOLD_BYTES && gzipAllowed.has(res);
}

/** Whether a streamed answer on `res` is judged for gzip (and so held back until GZIP_THRESHOLD_BYTES). */
export function mayGzip(res: ServerResponse): boolean {
  return gzipAllowed.has(res);
}

/** The headers that say an answer is gzipped. */
function gzipHeaders(contentType: string): Record<string, string> {
  return { "Content-Type": contentType, "Content-Encoding": "gzip", Vary: "Accept-Encoding" };
}

/**
 * Sends a whole answer gzipped, with the Content-Length of the gzipped bytes.
 * The compression runs on libuv's thread pool, not on the event loop.
 */
export function sendGzipped(res: ServerResponse, code: number, body: string | Buffer, contentType: string): void {
  gzip(body, { level: GZIP_LEVEL }, (err, gzipped) => {
    if (err) {
      // zlib fails only without memory: cut the connection rather than send a wrong body.
      res.destroy(err);
      return;
    }
    res.writeHead(code, { ...gzipHeaders(contentType), "Content-Length": gzipped.length });
    res.end(gzipped);
  });
}

/**
 * Starts a gzipped streamed answer: writes the head and returns the stream to
 * write the body into (end it to end the answer). It passes the socket's
 * back-pressure on: its `write` returns false while the client is behind.
 * If the client goes away, the stream is destroyed with the response.
 */
export function startGzipStream(res: ServerResponse, code: number, contentType: string): Gzip {
  res.writeHead(code, gzipHeaders(contentType));
  const gz = createGzip({ level: GZIP_LEVEL });
  gz.pipe(res);
  gz.on("error", () => res.destroy());
  res.once("close", () => gz.destroy());
  return gz;
}
