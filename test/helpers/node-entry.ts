// How a test starts one of this repository's TypeScript entry points (the
// server, the CLI, a test's own child script) as a Node process. Under
// `npm test` the runner has compiled the tree to JavaScript once
// (scripts/build-tests.mjs) and says where in SETPOINT_TEST_BUILD: the child
// runs the compiled file with plain `node`, which starts in a fraction of the
// CPU time of loading every module through tsx. Run any other way (e.g.
// `node --import tsx --test test/x.test.ts`), the child runs through tsx.

import { existsSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The `node` arguments that run `sources` (.ts files, absolute or relative to
 * the repository root; several for `node --test`): the compiled .js files
 * under `npm test`, else `["--import", <tsx>, ...sources]`. Arguments for the
 * program follow.
 */
export function nodeEntry(...sources: string[]): string[] {
  const paths = sources.map((source) => (isAbsolute(source) ? source : resolve(REPO, source)));
  const build = process.env.SETPOINT_TEST_BUILD;
  if (build) {
    const compiled = paths.map((path) =>
      join(build, relative(REPO, path))
        .replace(/\.mts$/, ".mjs")
        .replace(/\.tsx?$/, ".js"),
    );
    // One program: its process.argv[1] is set back to the source file, as its import.meta.url is.
    if (compiled.every((file) => existsSync(file))) return compiled.length === 1 ? ["--import", join(build, "source-argv.mjs"), ...compiled] : compiled;
  }
  // Resolved here: the child's working directory may have no node_modules.
  return ["--import", import.meta.resolve("tsx"), ...paths];
}

/**
 * A module of this repository for a child's `node -e` script to import: its
 * URL (the compiled file under `npm test`) and the `node` options the child
 * needs for it (tsx when it is TypeScript).
 */
export function nodeModule(source: string): { url: string; execArgv: string[] } {
  const entry = nodeEntry(source);
  const file = entry.at(-1)!;
  return { url: pathToFileURL(file).href, execArgv: entry.slice(0, -1) };
}
