// Compiles the TypeScript of src/, test/, bench/, scripts/ and examples/ to
// plain JavaScript once per `npm test` run (scripts/test.mjs), so that test
// files and the servers, CLIs and agents they spawn start with plain `node`
// instead of loading every module through tsx (about 1.8 s of CPU per process
// on this machine; the same process from JS starts in about 0.3 s).
//
// One output file per source file, same layout, in OUTDIR (by default
// node_modules/.cache/setpoint-test-build/): test/x.test.ts becomes
// OUTDIR/test/x.test.js. What keeps the compiled tree behaving as the source:
// - relative imports of .ts/.tsx/.mts files point at the compiled .js/.mjs;
//   relative imports of anything else (.mjs scripts, JSON) point at the
//   original file, which Node loads as it is;
// - `import.meta.url` is the URL of the SOURCE file, so paths a file builds
//   from it (the repository root, fixtures, package.json, src/ui, a child's
//   entry point) are the same as when it runs through tsx;
// - OUTDIR/package.json says "type": "module";
// - a child started on a compiled file with OUTDIR/source-argv.mjs preloaded
//   sees the source file in process.argv[1].
// Bare imports (node_modules packages) resolve from the repository's
// node_modules, which is above OUTDIR, except typebox's, which come from one
// bundle of it in OUTDIR/vendor/ (VENDORED below).
//
// A child process started by a test runs compiled code when the runner set
// SETPOINT_TEST_BUILD (test/helpers/node-entry.ts); otherwise through tsx.
//
// Usage: node scripts/build-tests.mjs [OUTDIR]   (prints OUTDIR)

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const defaultOutdir = join(root, "node_modules", ".cache", "setpoint-test-build");
const SOURCE_DIRS = ["src", "test", "bench", "scripts", "examples"];
const TS = /\.(ts|tsx|mts)$/;

/** The compiled name of a TypeScript file: x.ts → x.js, x.mts → x.mjs. */
export function compiledName(file) {
  return file.replace(/\.mts$/, ".mjs").replace(/\.tsx?$/, ".js");
}

function sources() {
  const files = [];
  for (const dir of SOURCE_DIRS) {
    if (!existsSync(join(root, dir))) continue;
    for (const name of readdirSync(join(root, dir), { recursive: true }).map(String)) {
      if (TS.test(name) && !name.endsWith(".d.ts") && !name.split(sep).includes("node_modules")) files.push(join(dir, name));
    }
  }
  return files.sort();
}

/**
 * Packages bundled once into OUTDIR/vendor/ (one ESM bundle per entry used,
 * chunks shared) and imported from there: typebox is about 700 small ES
 * modules, and loading them one by one took about 0.35 s of CPU in every
 * process that validates (most test files, every server and CLI); bundled,
 * 0.03 s. ES module packages only (a CommonJS package bundled to ESM loses
 * its named exports).
 */
const VENDORED = ["typebox"];
const vendoredSpecifier = (specifier) => VENDORED.some((name) => specifier === name || specifier.startsWith(`${name}/`));

/** Every import specifier of a vendored package that `files` use (`from "x"`, `import("x")`). */
function vendoredImports(files) {
  const found = new Set();
  for (const file of files) {
    for (const m of readFileSync(join(root, file), "utf8").matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)"([^"]+)"/g)) {
      if (vendoredSpecifier(m[1])) found.add(m[1]);
    }
  }
  return [...found].sort();
}

/** Keeps every import external: TypeScript files as their compiled name, other relative files as their original absolute path, vendored packages as their bundle. */
const importsPlugin = (outdir, vendored) => ({
  name: "imports",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) =>
      vendored.includes(args.path) ? { path: pathToFileURL(join(outdir, "vendor", `${args.path}.js`)).href, external: true } : undefined,
    );
    build.onResolve({ filter: /^\.\.?(\/|$)/ }, (args) => {
      const target = resolve(args.resolveDir, args.path);
      if (TS.test(target)) return { path: compiledName(args.path), external: true };
      // A ".js" specifier naming a .ts file (TypeScript's own convention).
      if (target.endsWith(".js") && !existsSync(target) && existsSync(target.replace(/\.js$/, ".ts"))) return { path: args.path, external: true };
      return { path: pathToFileURL(target).href, external: true };
    });
    build.onResolve({ filter: /.*/ }, (args) => (args.kind === "entry-point" ? undefined : { path: args.path, external: true }));
  },
});

/**
 * OUTDIR/source-argv.mjs, preloaded (--import) into a child that runs a
 * compiled file (test/helpers/node-entry.ts): sets process.argv[1] back to the
 * TypeScript file, as `import.meta.url` is, so that "am I the main module?"
 * checks (bench/lib/main.ts) see what they see when the source runs through
 * tsx; cluster workers (--workers) still run the compiled file.
 */
function sourceArgv(outdir) {
  return `import cluster from "node:cluster";
import { existsSync } from "node:fs";
const build = ${JSON.stringify(outdir + sep)};
const root = ${JSON.stringify(root + sep)};
const script = process.argv[1];
if (script?.startsWith(build)) {
  const base = root + script.slice(build.length);
  const source = [base.replace(/\\.js$/, ".ts"), base.replace(/\\.js$/, ".tsx"), base.replace(/\\.mjs$/, ".mts")].find((f) => f !== base && existsSync(f));
  if (source) {
    process.argv[1] = source;
    // cluster.fork() runs process.argv[1] unless told otherwise: the workers run the compiled file too.
    if (cluster.isPrimary) cluster.setupPrimary({ exec: script });
  }
}
`;
}

/** Compiles every TypeScript file under SOURCE_DIRS into `outdir`; returns `outdir`. */
export async function buildTests(outdir = defaultOutdir) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, "package.json"), '{ "type": "module", "private": true }\n');
  writeFileSync(join(outdir, "source-argv.mjs"), sourceArgv(outdir));
  const files = sources();
  const vendored = vendoredImports(files);
  // One build per file: each has its own `import.meta.url` (define is per build).
  await Promise.all([
    esbuild.build({
      entryPoints: Object.fromEntries(vendored.map((specifier) => [specifier, specifier])),
      outdir: join(outdir, "vendor"),
      absWorkingDir: root,
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node20",
      logLevel: "error",
    }),
    ...files.map((file) =>
      esbuild.build({
        entryPoints: [join(root, file)],
        outfile: join(outdir, compiledName(file)),
        absWorkingDir: root,
        bundle: true,
        format: "esm",
        platform: "node",
        target: "node20",
        sourcemap: "linked",
        sourcesContent: false,
        logLevel: "error",
        define: { "import.meta.url": JSON.stringify(pathToFileURL(join(root, file)).href) },
        plugins: [importsPlugin(outdir, vendored)],
      }),
    ),
  ]);
  return outdir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = resolve(process.argv[2] ?? defaultOutdir);
  await buildTests(outdir);
  console.log(relative(process.cwd(), outdir) || ".");
}
