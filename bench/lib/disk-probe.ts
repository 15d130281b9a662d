// A probe of the disk's sync latency, for telling a late watch event caused
// by the disk from one caused by the server: every `everyMs` it overwrites 4
// KiB of a file in the temp directory (where the benches put the servers'
// data directories) and fdatasyncs it, one at a time, and remembers how long
// each sync took. A durable store waits for the same kind of sync before a
// change is committed (Setpoint's data file and log, etcd's WAL), so a change
// late by about as long as a probe's sync that overlapped it was waiting for
// the disk.

import { closeSync, fdatasync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir, removeTempDir } from "./procs.ts";
import { nowUs } from "./stats.ts";

export interface DiskSync {
  /** When the sync started and ended (hrtime µs). */
  startUs: number;
  endUs: number;
}

export class DiskProbe {
  readonly syncs: DiskSync[] = [];
  readonly #dir: string;
  readonly #fd: number;
  readonly #timer: NodeJS.Timeout;
  #running = false;
  #stopped = false;

  constructor(everyMs = 100) {
    this.#dir = tempDir("setpoint-bench-disk-probe-");
    this.#fd = openSync(join(this.#dir, "probe"), "w");
    const block = Buffer.alloc(4096, 1);
    writeSync(this.#fd, block, 0, block.length, 0);
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = true;
      writeSync(this.#fd, block, 0, block.length, 0);
      const startUs = nowUs();
      fdatasync(this.#fd, () => {
        this.#running = false;
        if (this.syncs.length < 100_000) this.syncs.push({ startUs, endUs: nowUs() });
        if (this.#stopped) this.#close();
      });
    }, everyMs);
  }

  /** The longest sync (ms) that overlapped [fromUs, toUs], 0 if none. */
  longestIn(fromUs: number, toUs: number): number {
    let ms = 0;
    for (const s of this.syncs) if (s.endUs >= fromUs && s.startUs <= toUs) ms = Math.max(ms, (s.endUs - s.startUs) / 1000);
    return ms;
  }

  /** Stops probing; the file goes once no sync is running. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    if (!this.#running) this.#close();
  }

  #close(): void {
    closeSync(this.#fd);
    removeTempDir(this.#dir);
  }
}
