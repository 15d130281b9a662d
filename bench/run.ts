// `npm run bench [-- --full] [-- --only fanout,writes] [-- --target URL ...]`:
// runs every bench in one process, one after another (fan-out, writes,
// reconcile, resume, soak, stalled, scale, compaction), prints each result as a JSON line as it comes, and ends
// with one markdown table of all of them with Setpoint/etcd and
// Setpoint/floor ratios. --table-out FILE writes that table (with the date,
// the machine and the command) to FILE, for bench/RESULTS.md.

import { cpus, loadavg, totalmem } from "node:os";
import { fanout } from "./fanout.ts";
import type { Bench } from "./lib/main.ts";
import { benchArgsOrExit } from "./lib/options.ts";
import { useEtcdStore } from "./lib/procs.ts";
import { note, printTable, type Result } from "./lib/report.ts";
import { reconcile } from "./reconcile.ts";
import { resume } from "./resume.ts";
import { soak } from "./soak.ts";
import { stalled } from "./stalled.ts";
import { compaction } from "./compaction.ts";
import { scale } from "./scale.ts";
import { writes } from "./writes.ts";

const BENCHES: Record<string, Bench> = { fanout, writes, reconcile, resume, soak, stalled, scale, compaction };

const argv = process.argv.slice(2);
const o = benchArgsOrExit(argv);
const only = typeof o.values.only === "string" ? o.values.only.split(",") : Object.keys(BENCHES);
for (const name of only) {
  if (name in BENCHES) continue;
  process.stderr.write(`bench: unknown bench ${JSON.stringify(name)} in --only (known: ${Object.keys(BENCHES).join(", ")})\n`);
  process.exit(2);
}

if (o.store === "etcd") await useEtcdStore();
const started = Date.now();
const loadBefore = loadavg()[0]!;
const results: Result[] = [];
let failed = false;
for (const name of only) {
  const t0 = Date.now();
  try {
    results.push(...(await BENCHES[name]!(o)));
  } catch (err) {
    failed = true;
    note(`${name} failed: ${(err as Error)?.stack ?? err}`);
  }
  note(`${name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
const cpu = cpus();
const header = [
  `Run: ${new Date().toISOString()}, \`npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}\`, ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  `Machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform} ${process.arch}; ` +
    `1-minute load average before the run ${loadBefore.toFixed(1)} (other work on the machine; the bench itself keeps 3–4 processes busy).`,
  "",
  "",
].join("\n");
process.stdout.write("\n" + header);
printTable(results, o, header);
note(`all benches took ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
