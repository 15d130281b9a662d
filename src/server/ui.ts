// Serves the web console (API.md §10) under /ui/: index.html (revalidated on
// every load), and a script and stylesheet named by their content hash
// (cached for a year). No credentials are needed for these files; every piece
// of data the console shows comes from the API, which asks for them. The
// content security policy allows only this server: no inline script or style,
// no other origin, no framing.

import type { IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import { acceptsGzip } from "./compression.ts";
import { loadUiAssets, type UiFile } from "./ui-assets.ts";

/** Where the console lives. */
export const UI_PREFIX = "/ui/";

/** The console's content security policy: this server only ('self' covers its ws:// too). */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Files smaller than this go out as they are. */
const GZIP_MIN_BYTES = 1024;
/** Each file's gzip encoding, made on first demand. */
const gzipped = new WeakMap<UiFile, Buffer>();

/** True for `/ui` and everything under `/ui/`. */
export function isUiPath(pathname: string): boolean {
  return pathname === "/ui" || pathname.startsWith(UI_PREFIX);
}

/** Answers a request for a /ui path; resolves to the HTTP status sent. */
export async function serveUi(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<number> {
  const security = { "Content-Security-Policy": UI_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY" };
  const plain = (code: number, text: string, extra: Record<string, string> = {}) => {
    res.writeHead(code, {
      ...security,
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-store",
      ...extra,
    });
    res.end(req.method === "HEAD" ? undefined : text);
    return code;
  };
  if (req.method !== "GET" && req.method !== "HEAD") return plain(405, "the console is read with GET\n", { Allow: "GET, HEAD" });
  if (pathname === "/ui") return plain(301, "moved to /ui/\n", { Location: UI_PREFIX });
  let files: UiFile[];
  try {
    files = await loadUiAssets();
  } catch (err) {
    return plain(503, `the console could not be built: ${(err as Error).message.split("\n")[0]}\n(from source it needs the dev dependencies: npm ci)\n`);
  }
  const name = pathname === UI_PREFIX ? "index.html" : pathname.slice(UI_PREFIX.length);
  const file = files.find((f) => f.name === name);
  if (!file) return plain(404, `no such console file: ${name}\n`);
  const headers: Record<string, string> = {
    ...security,
    "Content-Type": file.contentType,
    "Cache-Control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
  };
  if (file.etag !== undefined) {
    headers.ETag = `"${file.etag}"`;
    if (req.headers["if-none-match"] === headers.ETag) {
      res.writeHead(304, headers);
      res.end();
      return 304;
    }
  }
  headers.Vary = "Accept-Encoding";
  let body: string | Buffer = file.body;
  if (Buffer.byteLength(file.body) >= GZIP_MIN_BYTES && acceptsGzip(req.headers["accept-encoding"])) {
    let zipped = gzipped.get(file);
    if (!zipped) gzipped.set(file, (zipped = gzipSync(file.body)));
    body = zipped;
    headers["Content-Encoding"] = "gzip";
  }
  headers["Content-Length"] = String(Buffer.byteLength(body));
  res.writeHead(200, headers);
  res.end(req.method === "HEAD" ? undefined : body);
  return 200;
}
