// Preloaded (--import) by scripts/test.mjs into the process node:test runs a
// test file in: on exit, writes the CPU seconds that process and every
// process it waited for (servers, etcd, CLIs) used, from /proc/self/stat, to
// SETPOINT_TEST_CPU_FILE. Linux only; elsewhere it does nothing.

import { readFileSync, writeFileSync } from "node:fs";

const target = process.env.SETPOINT_TEST_CPU_FILE;
if (target && process.env.NODE_TEST_CONTEXT !== undefined) {
  process.on("exit", () => {
    try {
      // After the command's closing parenthesis: utime, stime, cutime, cstime are fields 12–15 (0-based).
      const fields = readFileSync("/proc/self/stat", "utf8").split(")").at(-1).trim().split(" ");
      const ticks = fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0);
      writeFileSync(target, String(ticks / 100));
    } catch {}
  });
}
