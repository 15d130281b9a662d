// Warm-restart state of an informer: its cache and last revision in one JSON
// file of a local state directory, so a restarted agent resumes its watch
// from that revision instead of relisting.
//
// - Atomic: each save writes a temp file in the same directory, fsyncs it and
//   renames it over the old one, so a crash leaves the old or the new state,
//   never a torn one. Cache and revision come from one synchronous snapshot,
//   so they always agree.
// - Throttled: `markDirty()` schedules a save at most once per `intervalMs`;
//   `flush()` saves at once (call it on shutdown).
// - A file that is missing, unreadable, of another format or of another
//   informer loads as undefined: the informer then lists.

import { mkdirSync, readFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { boundedName, MAX_PATH_COMPONENT_BYTES } from "./bounded-name.ts";
import type { ApiObject } from "./client.ts";

const FORMAT = "setpoint.dev/agent-state/v1";
/** What a save adds to the file name: ".json", and ".PID.XXXXXXXX.tmp" for its temp file (PIDs up to 7 digits). */
const SUFFIX_BYTES = ".json".length + ".1234567.12345678.tmp".length;

/** What is saved: the revision the cache reflects and every object in it. */
export interface InformerState {
  revision: number;
  objects: ApiObject[];
}

export interface StateFileOptions {
  /** Returns the state to save; called synchronously at each save. */
  snapshot: () => InformerState;
  /** Identifies the informer (type, namespace, selector); a file saved under another identity is ignored. */
  identity: string;
  /** Least time between two saves. Default 5000 ms. */
  intervalMs?: number;
  clock?: Clock;
  /** Told of failed saves (the next save retries). Default: ignore. */
  onError?: (err: unknown) => void;
}

/** The state file of one informer in `dir` (created if missing). */
export class StateFile {
  readonly path: string;
  readonly #dir: string;
  readonly #snapshot: () => InformerState;
  readonly #identity: string;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #onError: (err: unknown) => void;
  #dirty = false;
  #lastSave = -Infinity;
  #timer: Timer | undefined;
  /** The save in progress, if any; saves never overlap. */
  #saving: Promise<void> | undefined;

  constructor(dir: string, options: StateFileOptions) {
    this.#dir = dir;
    this.#snapshot = options.snapshot;
    this.#identity = options.identity;
    this.#intervalMs = options.intervalMs ?? 5000;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? (() => {});
    // A long identity (253-character type, 63-character namespace, selectors) is hash-shortened to fit one path component.
    this.path = join(dir, `${boundedName(options.identity.replace(/[^a-zA-Z0-9.-]+/g, "_"), MAX_PATH_COMPONENT_BYTES - SUFFIX_BYTES)}.json`);
  }

  /** The saved state, or undefined when there is none usable. */
  load(): InformerState | undefined {
    let data: any;
    try {
      data = JSON.parse(readFileSync(this.path, "utf8"));
    } catch {
      return undefined;
    }
    if (data?.format !== FORMAT || data.identity !== this.#identity) return undefined;
    if (!Number.isSafeInteger(data.revision) || data.revision < 1 || !Array.isArray(data.objects)) return undefined;
    if (!data.objects.every((o: any) => typeof o?.metadata?.name === "string")) return undefined;
    return { revision: data.revision, objects: data.objects };
  }

  /** Notes that the state changed; a save follows within `intervalMs`. */
  markDirty(): void {
    this.#dirty = true;
    if (this.#timer || this.#saving) return;
    const wait = Math.max(0, this.#lastSave + this.#intervalMs - this.#clock.now());
    this.#timer = this.#clock.after(wait, () => {
      this.#timer = undefined;
      void this.#save();
    });
  }

  /** Saves now if anything changed since the last save; resolves when it is on disk. */
  async flush(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    while (this.#saving) await this.#saving;
    if (this.#dirty) await this.#save();
  }

  /** Stops scheduled saves (without saving). */
  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #save(): Promise<void> {
    this.#dirty = false;
    this.#lastSave = this.#clock.now();
    const state = this.#snapshot();
    const text = JSON.stringify({ format: FORMAT, identity: this.#identity, revision: state.revision, objects: state.objects });
    this.#saving = writeAtomically(this.#dir, this.path, text)
      .catch((err: unknown) => {
        this.#dirty = true;
        this.#onError(err);
      })
      .finally(() => {
        this.#saving = undefined;
        if (this.#dirty) this.markDirty();
      });
    return this.#saving;
  }
}

/** Writes `text` to `path` via a fsync'd temp file and a rename. */
async function writeAtomically(dir: string, path: string, text: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await open(tmp, "w", 0o600);
    try {
      await file.writeFile(text, "utf8");
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, "r").catch(() => undefined);
  await d?.sync().catch(() => {});
  await d?.close();
}
