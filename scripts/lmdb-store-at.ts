// Loads `openLmdbStore` from src/store/lmdb.ts as it was at a git revision,
// so a script can write a data directory the way an older release did (the
// format-1 fixture) or time the old code next to the new (bench/store-keys.ts).
// Needs the repository's git history.

import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { LmdbStoreOptions } from "../src/store/lmdb.ts";
import type { Store } from "../src/store/types.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));

/** The last commit whose src/store/lmdb.ts wrote format-1 keys ("type\0namespace\0name" strings). */
export const FORMAT1_COMMIT = "379489a";

/** `openLmdbStore` of src/store/lmdb.ts at `rev` (its imports of lmdb and src/errors.ts point at today's). */
export async function lmdbStoreAt(rev: string): Promise<(path: string, options?: LmdbStoreOptions) => Store> {
  const source = execFileSync("git", ["show", `${rev}:src/store/lmdb.ts`], { cwd: REPO, encoding: "utf8" });
  const lmdbUrl = import.meta.resolve("lmdb");
  const errorsUrl = pathToFileURL(join(REPO, "src/errors.ts")).href;
  const patched = source.replace(/from "lmdb";/, `from ${JSON.stringify(lmdbUrl)};`).replace(/from "\.\.\/errors\.ts";/, `from ${JSON.stringify(errorsUrl)};`);
  const file = join(mkdtempSync(join(tmpdir(), "setpoint-lmdb-at-")), `lmdb-${rev}.ts`);
  writeFileSync(file, patched);
  const mod = (await import(pathToFileURL(file).href)) as { openLmdbStore: (path: string, options?: LmdbStoreOptions) => Store };
  return mod.openLmdbStore;
}
