// Bundles Setpoint's entry points into single ESM files for Node 20 in dist/.
//
// Each bundle is self-contained except for lmdb's native addon, which cannot
// live inside a JS file: the build copies it next to the bundles as
// dist/lmdb.node (the binary node-gyp-build-optional-packages picks for the
// Node that runs the build, e.g. @lmdb/lmdb-linux-x64/node.abi115.glibc.node
// on Node 20) plus dist/lmdb.napi.node (the N-API build, a fallback for other
// Node versions), and the lmdbAddon plugin below makes lmdb load it from the
// bundle's own folder. A deploy is dist/ alone: no node_modules needed.
//
// msgpackr-extract (optional native speed-up of msgpackr) stays external and
// is not shipped: msgpackr's require of it fails inside a try and it falls
// back to pure JS.
//
// ordered-binary (lmdb's key encoding) is bundled from its CommonJS build: its
// ESM build reads strings with a direct `eval` of code naming the module's
// `position` and `readString`, which esbuild's scope hoisting renames, so in
// an ESM bundle every range read (store.list) loops forever. The CJS build is
// wrapped in its own function scope, where the names stay as they are.
//
// The web console (src/ui) is built at the same time and put inside
// dist/server.mjs: the uiAssets plugin replaces src/server/ui-assets.ts (which
// builds the console in memory when running from source) with a module that
// returns the files built here. dist/watch-client.mjs is the console's watch
// client for others (package.json `exports`: "setpoint/watch-client"), an ES
// module for browsers and Node alike. dist/agent.mjs is the agent SDK
// (src/agent.ts) for agents in projects of their own ("setpoint/agent"): for
// Node, with its dependencies (grpc-js, ws, yaml) inside; no lmdb.
//
// Usage: node esbuild.config.mjs [--outdir DIR]   (default: dist)

import { build } from "esbuild";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";
import { buildUi } from "./src/ui/build.mjs";

const root = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** Bundles to build: add entries here (e.g. the `setpoint` CLI as dist/setpoint.mjs). */
export const entries = [
  { in: "src/main.ts", out: "server" },
  { in: "src/cli/setpoint.ts", out: "setpoint" },
];

// V8's young generation at 2 x 8 MiB, as everywhere the server runs (bench/lib/procs.ts SERVER_NODE_FLAGS,
// docs/request-path.md "Memory after 100,000 creates"); env -S splits the line into node's arguments.
const BANNER = [
  "#!/usr/bin/env -S node --max-semi-space-size=8",
  'import { createRequire as __setpointCreateRequire } from "node:module";',
  "const require = __setpointCreateRequire(import.meta.url);",
  "const __setpointBundleUrl = import.meta.url;",
].join("\n");

/** The lmdb addon file for this machine's Node, as lmdb itself would pick it. */
function findLmdbAddon() {
  let lmdbDir = dirname(createRequire(join(root, "package.json")).resolve("lmdb"));
  while (!existsSync(join(lmdbDir, "package.json"))) lmdbDir = dirname(lmdbDir);
  const load = createRequire(join(lmdbDir, "package.json"))("node-gyp-build-optional-packages");
  const picked = load.resolve(lmdbDir);
  const libc = /\.(glibc|musl)\.node$/.exec(picked)?.[0] ?? ".node";
  const napi = readdirSync(dirname(picked)).find((f) => f.startsWith("node.napi.") && f.endsWith(libc));
  return { lmdbDir, picked, napi: napi === undefined ? undefined : join(dirname(picked), napi) };
}

// The module that replaces node-gyp-build-optional-packages inside lmdb: it
// ignores lmdb's package directory and loads the addon from the folder of the
// bundle that is running (import.meta.url is the bundle's own URL).
const ADDON_LOADER = `
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
export default function loadLmdbAddon() {
  const require = createRequire(import.meta.url);
  const here = (name) => fileURLToPath(new URL("./" + name, import.meta.url));
  const main = here("lmdb.node");
  const fallback = here("lmdb.napi.node");
  try {
    return require(main);
  } catch (error) {
    if (existsSync(fallback)) return require(fallback);
    throw new Error("setpoint: cannot load lmdb's native addon " + main +
      " (it must sit next to the bundle, copied there by the build): " + error.message, { cause: error });
  }
}
`;

/** The span of the first `callee(...)` call in source whose arguments contain `needle`. */
function findCall(source, callee, needle) {
  for (let start = source.indexOf(callee); start !== -1; start = source.indexOf(callee, start + 1)) {
    let depth = 0;
    for (let i = start + callee.length - 1; i < source.length; i++) {
      if (source[i] === "(") depth++;
      else if (source[i] === ")" && --depth === 0) {
        if (source.slice(start, i).includes(needle)) return { start, end: i + 1 };
        break;
      }
    }
  }
  return undefined;
}

/** esbuild plugin: makes lmdb load its native addon from next to the bundle. */
export function lmdbAddon({ outdir }) {
  /**
   * Copies `from` to `to` through a new file renamed over it: a server
   * running from dist keeps the addon it mapped (its old inode), where
   * copying in place would rewrite that mapping under it (SIGSEGV).
   */
  const replaceFile = (from, to) => {
    const tmp = `${to}.${process.pid}.tmp`;
    copyFileSync(from, tmp);
    renameSync(tmp, to);
  };
  return {
    name: "lmdb-addon",
    setup(b) {
      const addon = findLmdbAddon();
      const inLmdb = (importer) => importer.startsWith(addon.lmdbDir + "/");

      b.onStart(() => {
        mkdirSync(outdir, { recursive: true });
        replaceFile(addon.picked, join(outdir, "lmdb.node"));
        if (addon.napi !== undefined && addon.napi !== addon.picked) {
          replaceFile(addon.napi, join(outdir, "lmdb.napi.node"));
        }
      });

      b.onResolve({ filter: /^node-gyp-build-optional-packages$/ }, (args) =>
        inLmdb(args.importer) ? { path: "lmdb-addon-loader", namespace: "lmdb-addon" } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "lmdb-addon" }, () => ({ contents: ADDON_LOADER, loader: "js" }));

      // lmdb reads its compression dictionary from ./dict/dict.txt next to its
      // own module, which is not there in a bundle: inline it instead.
      b.onLoad({ filter: /[\\/]lmdb[\\/]open\.js$/ }, (args) => {
        if (!inLmdb(args.path)) return undefined;
        const source = readFileSync(args.path, "utf8");
        const call = findCall(source, "fs.readFileSync(", "./dict/dict.txt");
        if (call === undefined) {
          throw new Error(`lmdb-addon plugin: dictionary load not found in ${args.path}; update the plugin for this lmdb version`);
        }
        const dict = readFileSync(join(addon.lmdbDir, "dict", "dict.txt")).toString("base64");
        const inlined = `Buffer.from(${JSON.stringify(dict)}, "base64")`;
        return { contents: source.slice(0, call.start) + inlined + source.slice(call.end), loader: "js" };
      });
    },
  };
}

/**
 * esbuild plugin: etcd3 loads its gRPC service from proto/rpc.proto next to
 * its own module at startup of its connection pool; the build copies those
 * .proto files to etcd3-proto/ next to the bundle and points the load there.
 */
export function etcd3Protos({ outdir }) {
  return {
    name: "etcd3-protos",
    setup(b) {
      const protoDir = join(dirname(createRequire(join(root, "package.json")).resolve("etcd3")), "..", "proto");
      b.onStart(() => {
        mkdirSync(join(outdir, "etcd3-proto"), { recursive: true });
        for (const f of readdirSync(protoDir)) if (f.endsWith(".proto")) copyFileSync(join(protoDir, f), join(outdir, "etcd3-proto", f));
      });
      b.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the template literal as etcd3's source spells it, searched for verbatim
        const needle = "`${__dirname}/../proto/rpc.proto`";
        if (!source.includes(needle)) throw new Error(`etcd3-protos plugin: proto load not found in ${args.path}; update the plugin for this etcd3 version`);
        const here = 'require("node:url").fileURLToPath(new URL("./etcd3-proto/rpc.proto", __setpointBundleUrl))';
        return { contents: source.replace(needle, here), loader: "js" };
      });
    },
  };
}

/** esbuild plugin: bundles ordered-binary's CJS build (see the file comment). */
export function orderedBinaryCjs() {
  return {
    name: "ordered-binary-cjs",
    setup(b) {
      b.onResolve({ filter: /^ordered-binary$/ }, (args) => ({ path: createRequire(args.importer).resolve("ordered-binary") }));
    },
  };
}

/** esbuild plugin: serves the console built now from inside the bundle (see the file comment). */
export function uiAssets() {
  return {
    name: "ui-assets",
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]server[\\/]ui-assets\.ts$/ }, async () => {
        const files = await buildUi(esbuild);
        return { contents: `export async function loadUiAssets() { return ${JSON.stringify(files)}; }`, loader: "js" };
      });
    },
  };
}

/** Builds every entry into outdir; `plugins` run before the lmdb one. */
export async function buildAll({ outdir = join(root, "dist"), plugins = [] } = {}) {
  outdir = resolve(outdir);
  const result = await build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    banner: { js: BANNER },
    define: { __SETPOINT_VERSION__: JSON.stringify(pkg.version) },
    external: ["msgpackr-extract"],
    plugins: [...plugins, uiAssets(), orderedBinaryCjs(), etcd3Protos({ outdir }), lmdbAddon({ outdir })],
    sourcemap: "linked",
    legalComments: "none",
    logLevel: "warning",
    metafile: true,
  });
  for (const entry of entries) chmodSync(join(outdir, `${entry.out}.mjs`), 0o755);
  await build({
    absWorkingDir: root,
    entryPoints: { "watch-client": "src/client/watch-client.ts" },
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "neutral",
    target: ["node20", "chrome110", "firefox115", "safari16"],
    format: "esm",
    sourcemap: "linked",
    logLevel: "warning",
  });
  await build({
    absWorkingDir: root,
    entryPoints: { agent: "src/agent.ts" },
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    // The CommonJS dependencies (grpc-js) require Node's modules: give the ES module a require.
    banner: { js: BANNER.split("\n").slice(1, 3).join("\n") },
    sourcemap: "linked",
    legalComments: "none",
    logLevel: "warning",
  });
  return result;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: "string" } } });
  const outdir = values.outdir ?? join(root, "dist");
  await buildAll({ outdir });
  const files = entries.map((e) => `${e.out}.mjs`).concat("watch-client.mjs", "agent.mjs", "lmdb.node");
  if (existsSync(join(resolve(outdir), "lmdb.napi.node"))) files.push("lmdb.napi.node");
  console.log(`built ${files.join(", ")} in ${resolve(outdir)}`);
}
