// Builds the web console (src/ui/main.tsx and what it imports, Preact and the
// watch client included) into a few static files, in memory: index.html,
// one script and one stylesheet whose names carry a hash of their content
// (so they can be cached for good). Used by the server when it runs from
// source (src/server/ui-assets.ts, on the first request for /ui/) and by
// esbuild.config.mjs, which puts the files inside dist/server.mjs.
//
// Plain JavaScript so that esbuild.config.mjs (run by plain Node) can import
// it; build.d.mts declares its types.

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

const TYPES = { ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8" };

/**
 * The tab's icon, inline (CSP img-src allows data:): without one the browser
 * asks the server for /favicon.ico on every load and logs its 404.
 */
const ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="#0b5cad"/></svg>')}`;

/** The HTML shell: no inline script or style, so the CSP can forbid both. */
function indexHtml(script, style) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Setpoint console</title>
<link rel="icon" href="${ICON}">
<link rel="stylesheet" href="${style}">
<script type="module" src="${script}"></script>
</head>
<body>
<div id="app"><noscript>The Setpoint console needs JavaScript.</noscript></div>
</body>
</html>
`;
}

/**
 * Builds the console with `esbuild` (the module, passed in so callers choose
 * how to load it). Resolves to the files by name, e.g. `index.html`,
 * `app-3F2A….js`, `app-….css`.
 * @param {typeof import("esbuild")} esbuild
 * @returns {Promise<Array<{ name: string, contentType: string, body: string, immutable: boolean }>>}
 */
export async function buildUi(esbuild) {
  const result = await esbuild.build({
    absWorkingDir: join(here, "../.."),
    entryPoints: { app: join(here, "main.tsx") },
    outdir: "/ui",
    entryNames: "[name]-[hash]",
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox115", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  const files = result.outputFiles.map((f) => {
    const name = f.path.slice(f.path.lastIndexOf("/") + 1);
    const ext = name.slice(name.lastIndexOf("."));
    return { name, contentType: TYPES[ext] ?? "application/octet-stream", body: f.text, immutable: true };
  });
  const script = files.find((f) => f.name.endsWith(".js"));
  const style = files.find((f) => f.name.endsWith(".css"));
  if (!script || !style) throw new Error(`ui build: expected a script and a stylesheet, got ${files.map((f) => f.name).join(", ")}`);
  const html = indexHtml(script.name, style.name);
  const etag = createHash("sha256").update(html).digest("base64url").slice(0, 16);
  return [{ name: "index.html", contentType: TYPES[".html"], body: html, immutable: false, etag }, ...files];
}
