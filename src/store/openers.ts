// Which other processes have an LMDB data directory open, learnt without
// polling, so that a store alone in its directory need not look for other
// processes' commits 20 times a second (each look wakes the event loop:
// docs/request-path.md, "The poll for other processes' commits").
//
// Every store that opens the directory puts a file of its own in
// `<dir>/openers/` (named host-pid-random) and removes it when it closes. A
// store watches that folder (inotify, through fs.watch) and, at each event,
// lists it again: `onChange(true)` while any file but its own is there,
// `onChange(false)` once none is. Files left by a process that died without
// closing are removed at open when they name this host and a pid that is not
// running here; any other file is taken for a live opener (the safe side:
// the store then polls as often as before).
//
// When the folder cannot be made, written or watched, or the watch fails,
// the store is told `true` for good: it polls as often as before.

import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, unlinkSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/** The folder of the data directory that holds one file per process with it open. */
export const OPENERS_DIR = "openers";

export interface Openers {
  /** Removes this process's file and stops watching. */
  close(): void;
}

/** The host part of an opener's file name: dashes would split it wrongly. */
function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9_.]/g, "_") || "host";
}

/** Whether `pid` names a process running here (EPERM: running, as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Announces this process as an opener of `dir` and tells `onChange` whether
 * any other opener is there: once at once (synchronously), then at each
 * change. `onChange` is called only when the answer changes.
 */
export function watchOpeners(dir: string, onChange: (others: boolean) => void): Openers {
  const folder = join(dir, OPENERS_DIR);
  const host = hostTag();
  const own = `${host}-${process.pid}-${randomBytes(4).toString("hex")}`;
  let watcher: FSWatcher | undefined;
  let closed = false;
  let last: boolean | undefined;
  const tell = (others: boolean) => {
    if (closed || others === last) return;
    last = others;
    onChange(others);
  };
  /** Gives up on knowing: others are taken to be there for good. */
  const giveUp = () => {
    watcher?.close();
    watcher = undefined;
    tell(true);
  };
  const look = () => {
    if (closed || watcher === undefined) return;
    try {
      tell(readdirSync(folder).some((name) => name !== own));
    } catch {
      giveUp();
    }
  };
  try {
    mkdirSync(folder, { recursive: true });
    // Stale files of this host's dead processes go first.
    const prefix = `${host}-`;
    for (const name of readdirSync(folder)) {
      if (!name.startsWith(prefix)) continue;
      const pid = Number(name.slice(prefix.length).split("-")[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !running(pid)) {
        try {
          unlinkSync(join(folder, name));
        } catch {
          // another process removed it first
        }
      }
    }
    // Watch first, then announce and list: an opener that comes after the
    // listing is seen by the watch.
    watcher = watch(folder, { persistent: false }, look);
    watcher.on("error", giveUp);
    writeFileSync(join(folder, own), `${process.pid}\n`);
  } catch {
    giveUp();
    return { close: () => void (closed = true) };
  }
  look();
  return {
    close() {
      if (closed) return;
      closed = true;
      watcher?.close();
      watcher = undefined;
      try {
        unlinkSync(join(folder, own));
      } catch {
        // the directory may be gone
      }
    },
  };
}
