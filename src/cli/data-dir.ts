// Checks, before the store opens it, that the LMDB data directory can be used:
// created if missing, a directory, readable and writable. What `setpoint
// server`, `setpoint up` and `setpoint-server` print (one line naming the
// flag) and exit 2 on, instead of LMDB's own error and a stack trace. LMDB
// and Node's recursive mkdir both hang on some paths that cannot be created
// (under /proc): this check creates one level at a time and fails first.
// The pipeline agent's --work-dir gets the same check (its runner's recursive
// mkdir spun a core at 100% for /proc/x, and printed Node's raw EEXIST for a file).

import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Why these error codes stop the directory being used, in a reader's words. */
const REASONS: Record<string, string> = {
  ENOTDIR: "a part of its path is a file, not a directory",
  EEXIST: "it is a file, not a directory",
  EACCES: "this user may not create or write files there",
  EPERM: "this user may not create or write files there",
  EROFS: "it is on a read-only file system",
  ENOENT: "it cannot be created there",
  ENOSPC: "the disk is full",
};

/**
 * Creates `dir` if missing and returns undefined if the server can use it, or
 * one line saying why not and which flag to change.
 * @example dataDirProblem("README.md/data") // "the data directory README.md/data cannot be used: a part of its path is a file, …"
 */
export function dataDirProblem(dir: string): string | undefined {
  return directoryProblem(dir, { what: "the data directory", flag: "--data-dir", env: "SETPOINT_DATA_DIR" });
}

/** As dataDirProblem, for the pipeline agent's workspaces (`--work-dir`). */
export function workDirProblem(dir: string): string | undefined {
  return directoryProblem(dir, { what: "the workspace directory", flag: "--work-dir", env: "SETPOINT_WORK_DIR" });
}

function directoryProblem(dir: string, names: { what: string; flag: string; env: string }): string | undefined {
  let why: string | undefined;
  try {
    makeDirs(dir);
    if (!statSync(dir).isDirectory()) why = "it is a file, not a directory";
    else accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    why = REASONS[code] ?? `${code || (error as Error).message}`;
  }
  if (why === undefined) return undefined;
  return `${names.what} ${dir} cannot be used: ${why}: choose another with ${names.flag} (or ${names.env})`;
}

/** mkdir -p, one level at a time (a recursive mkdirSync never returns for a path under /proc). */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) mkdirSync(p);
}
