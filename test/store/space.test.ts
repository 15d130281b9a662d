// The space monitor on its own, with a fake measure: when the alarm is raised
// and cleared, how commit failures are told apart, and that it measures
// while alarmed so it clears as soon as there is room.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InsufficientStorageError } from "../../src/errors.ts";
import { SpaceMonitor, type SpaceMeasure } from "../../src/store/space.ts";

const MiB = 1024 * 1024;

function monitor(quotaBytes: number, initial: Omit<SpaceMeasure, "diskBytes">, reserveBytes = 0) {
  const state = { ...initial, measures: 0 };
  const m = new SpaceMonitor({
    quotaBytes,
    reserveBytes,
    now: () => 1000,
    refreshMs: 60_000, // never stale by time in these tests: only forced measures count
    measure: () => {
      state.measures++;
      return { usedBytes: state.usedBytes, fileBytes: state.fileBytes, diskFreeBytes: state.diskFreeBytes, diskBytes: Infinity };
    },
  });
  return { m, state };
}

describe("SpaceMonitor", () => {
  it("raises the quota alarm when commits carry the used bytes past the quota, and clears it once they are back under", () => {
    const { m, state } = monitor(10 * MiB, { usedBytes: 9 * MiB, fileBytes: 9 * MiB, diskFreeBytes: 1000 * MiB });
    assert.equal(m.refusal(), undefined);
    assert.equal(m.space().usedBytes, 9 * MiB);
    // Estimated growth between measures is enough to notice the quota.
    state.usedBytes = 11 * MiB;
    m.committed(2 * MiB);
    const refusal = m.refusal();
    assert.ok(refusal instanceof InsufficientStorageError);
    assert.equal(refusal.reason, "InsufficientStorage");
    assert.match(refusal.message, /past its quota.*11\.0 MiB used of 10\.0 MiB.*reads, watches and deletes still work/);
    assert.equal(m.space().alarm?.kind, "quota");
    assert.equal(m.space().alarm?.since, 1000);
    // Deletes and compaction free space: the next look measures and clears.
    state.usedBytes = 8 * MiB;
    assert.equal(m.refusal(), undefined);
    assert.equal(m.space().alarm, undefined);
  });

  it("a quota of 0 never raises the alarm", () => {
    const { m, state } = monitor(0, { usedBytes: 0, fileBytes: 0, diskFreeBytes: 1000 * MiB });
    state.usedBytes = 100 * 1024 * MiB;
    m.committed(100 * 1024 * MiB);
    m.freed();
    assert.equal(m.refusal(), undefined);
  });

  it("takes ENOSPC, and EIO on a nearly full disk, for a full disk; clears after the headroom is regained", () => {
    const { m, state } = monitor(0, { usedBytes: 30 * MiB, fileBytes: 30 * MiB, diskFreeBytes: 0 });
    const err = m.commitFailed(Object.assign(new Error("Input/output error"), { code: 5 }));
    assert.ok(err instanceof InsufficientStorageError);
    assert.match(err.message, /disk holding the data directory is full/);
    assert.equal(m.space().alarm?.kind, "disk-full");
    // A little room is not enough: the same write would fail again.
    state.usedBytes = 29.5 * MiB;
    assert.ok(m.refusal() instanceof InsufficientStorageError);
    // Compaction freed pages inside the file: room to write again.
    state.usedBytes = 25 * MiB;
    assert.equal(m.refusal(), undefined);
    assert.ok(m.commitFailed(Object.assign(new Error("No space left on device"), { code: "ENOSPC" })) instanceof InsufficientStorageError);
  });

  it("raises the disk-full alarm before the disk is full, keeping a reserve for deletes and compaction", () => {
    const { m, state } = monitor(0, { usedBytes: 10 * MiB, fileBytes: 10 * MiB, diskFreeBytes: 20 * MiB }, 8 * MiB);
    assert.equal(m.refusal(), undefined);
    state.diskFreeBytes = 7 * MiB;
    state.usedBytes = 23 * MiB;
    m.committed(13 * MiB);
    const refusal = m.refusal();
    assert.ok(refusal instanceof InsufficientStorageError);
    assert.match(refusal.message, /full \(7\.0 MiB left, 8\.0 MiB kept for deletes and compaction\)/);
    // Back just above the reserve is not enough (no flapping); reserve plus headroom is.
    state.diskFreeBytes = 8.5 * MiB;
    assert.ok(m.refusal());
    state.diskFreeBytes = 9.5 * MiB;
    assert.equal(m.refusal(), undefined);
  });

  it("counts what a commit took on the disk, and measures every commit once the room is under twice the reserve", () => {
    const { m, state } = monitor(0, { usedBytes: 10 * MiB, fileBytes: 10 * MiB, diskFreeBytes: 12 * MiB }, 4 * MiB);
    assert.equal(m.refusal(), undefined);
    assert.equal(state.measures, 1);
    // Far from the reserve the estimate alone is kept.
    state.diskFreeBytes -= 1.1 * MiB;
    m.committed(0.1 * MiB, 1.1 * MiB);
    assert.equal(state.measures, 1);
    // A commit that took little data but much disk (the write-ahead log grew) brings it near the reserve: measured.
    state.diskFreeBytes -= 3 * MiB;
    m.committed(0.1 * MiB, 3 * MiB);
    assert.equal(state.measures, 2);
    assert.equal(m.refusal(), undefined);
    // From here every commit measures, however small its estimate: the first one under the reserve raises the alarm.
    state.diskFreeBytes = 4.5 * MiB;
    m.committed(1000, 1000);
    assert.equal(state.measures, 3);
    assert.equal(m.refusal(), undefined);
    state.diskFreeBytes = 3.9 * MiB;
    m.committed(1000, 1000);
    assert.equal(state.measures, 4);
    assert.match(m.refusal()?.message ?? "", /full \(3\.9 MiB left, 4\.0 MiB kept for deletes and compaction\)/);
  });

  it("does not take other commit failures for a full disk", () => {
    const { m } = monitor(0, { usedBytes: 1 * MiB, fileBytes: 1 * MiB, diskFreeBytes: 500 * MiB });
    assert.equal(m.commitFailed(Object.assign(new Error("Input/output error"), { code: 5 })), undefined);
    assert.equal(m.commitFailed(new Error("something else")), undefined);
    assert.equal(m.space().alarm, undefined);
  });

  it("measures at most once per refresh period while no alarm is raised", () => {
    const { m, state } = monitor(10 * MiB, { usedBytes: 1 * MiB, fileBytes: 1 * MiB, diskFreeBytes: 1000 * MiB });
    for (let i = 0; i < 100; i++) m.refusal();
    assert.equal(state.measures, 1);
  });

  it("refuses a negative quota", () => {
    assert.throws(() => monitor(-1, { usedBytes: 0, fileBytes: 0, diskFreeBytes: 0 }), RangeError);
  });
});
