// The soak bench's CI smoke run: 40 seconds of the mix (writes, watchers that
// keep up, watchers that stall and resume, lists, agents) against a real
// server. It must finish, sample RSS and the data directory's size over time
// as JSON lines, and see no failed write or list. 40 s holds every part of the
// mix: history is kept at 1,000 changes (the floor of the bench's count), so
// it is compacted within the run, and stalls of 10–40 s start from the first
// second, so some resume.
// Whether RSS and the data directory level off is reported (by the criterion
// bench/lib/levelling.ts states), not asserted: a short run on a shared machine
// cannot show it; the 30-minute run (`--full`) is the measure.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../helpers/node-entry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("soak: a 40-second run samples RSS and data-dir size and sees no errors", { timeout: 600_000 }, async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...nodeEntry("bench/soak.ts"), "--duration", "40s", "--sample-every", "1s"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    const timer = setTimeout(() => child.kill("SIGINT"), 540_000);
    child.on("exit", (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: out, stderr: err });
    });
  });
  assert.equal(code, 0, stderr.slice(-3000));
  const lines = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
  const samples = lines.filter((r) => r.workload === "soak-sample");
  // Samples over the whole run: the first at the start, the last at the end, some between. How
  // many depends on the machine: a sample asks the busy server for /metrics, which took 21 s
  // under load 28, so the count is not asserted beyond that.
  const at = samples.map((s) => s.t_s).join(", ");
  assert.ok(samples.length >= 3 && samples[0]!.t_s < 5, `${samples.length} samples, at ${at} s`);
  for (const s of samples) {
    assert.ok(s.rss_mb > 0 && s.data_dir_bytes > 0 && s.revision > 0, JSON.stringify(s));
    assert.ok(s.rss_anon_mb > 0 && s.heap_used_mb > 0 && s.window_events >= 0 && s.retained_events > 0, JSON.stringify(s));
  }
  assert.ok(samples.at(-1)!.t_s >= 38, `ran for the whole 40 seconds: samples at ${at} s`);
  const soak = lines.find((r) => r.workload === "soak");
  assert.ok(soak, "no soak line");
  assert.equal(soak.write_errors, 0, JSON.stringify(soak));
  assert.equal(soak.list_errors, 0, JSON.stringify(soak));
  assert.ok(soak.writes > 0 && soak.watch_events > 0 && soak.lists > 0, JSON.stringify(soak));
  assert.equal(soak.curve.length, samples.length);
  for (const field of ["criterion", "rss_levelled_off", "rss_anon_levelled_off", "data_dir_levelled_off", "levelled_off", "server_peak_rss_mb", "p99_ms"])
    assert.ok(field in soak, field);
  // Each curve's verdict with its figures (a third with no sample has NaN figures and is not levelled off).
  for (const curve of [soak.rss_mb, soak.rss_anon_mb, soak.data_dir_bytes]) {
    assert.ok(
      typeof curve.levelled_off === "boolean" && "middle_median" in curve && "last_max" in curve && typeof curve.slope_per_min === "number",
      JSON.stringify(curve),
    );
  }
  process.stderr.write(
    `soak smoke: levelled off: RSS ${soak.rss_levelled_off}, data dir ${soak.data_dir_levelled_off}; peak RSS ${soak.server_peak_rss_mb} MiB\n`,
  );
});
