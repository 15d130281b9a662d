// Entry-point glue: lets each bench file run on its own
// (`node --import tsx bench/fanout.ts [--full]`) as well as from bench/run.ts.

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchArgsOrExit, type BenchOptions } from "./options.ts";
import { useEtcdStore } from "./procs.ts";
import { printTable, type Result } from "./report.ts";

/** A bench: runs its workloads for `o`, printing each result line as it goes, and returns them. */
export type Bench = (o: BenchOptions) => Promise<Result[]>;

/** True when `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Runs `bench` with the process's argv, prints the table, exits 0 (1 on error, or when the bench set `process.exitCode`). */
export function runStandalone(moduleUrl: string, bench: Bench): void {
  if (!isMain(moduleUrl)) return;
  const o = benchArgsOrExit(process.argv.slice(2));
  (o.store === "etcd" ? useEtcdStore() : Promise.resolve())
    .then(() => bench(o))
    .then(
      (results) => {
        printTable(results, o);
        process.exit(process.exitCode ?? 0);
      },
      (err: unknown) => {
        process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
        process.exit(1);
      },
    );
}
