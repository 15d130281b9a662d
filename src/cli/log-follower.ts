// What `setpoint logs -f` prints as a PipelineRun's status changes: for each
// task attempt, the output recorded since the last version seen, whole lines
// at a time (a line still being written waits for its end, or for its attempt
// to end), under tail's `==> task attempt N (phase) <==` header whenever the
// output printed switches to another attempt. An attempt last shown running
// whose end printed nothing new has its end told in the next attempt's header
// (`after attempt 1: Failed, exit 2`).
// The status keeps only a tail of each attempt's output (OUTPUT_TAIL_MAX
// characters, PREVIOUS_OUTPUT_MAX once the attempt is over), with how many
// characters before it were not kept (outputDropped): so each version's tail
// has its place in all the attempt wrote, and what the newer one holds past
// the older one's end is new. When it starts past that end, more was written
// between two versions than the tail keeps: what was in between is lost, and
// the caller is told so. A status written before outputDropped existed is
// matched by text instead: the longest end of the old that begins the new is
// what both hold, the rest is new; text that repeats exactly across the whole
// overlap can then make a little new output look old.

import { OUTPUT_TAIL_MAX } from "../pipelines/resource-type.ts";
import type { LooseObject } from "../wire.ts";
import { attemptHeader, attemptOutcome, orderedTasks, taskAttempts, type AttemptLog } from "./pipelinerun-view.ts";

/** The least overlap taken as proof that two tails are the same text, not a coincidence (a newline, a common word). */
export const MIN_OVERLAP = 16;

/**
 * What `next` (a newer tail of some output) adds to `prev` (an older tail of
 * it): `added`, and whether output between the two may be missing (`gap`).
 */
export function newText(prev: string, next: string): { added: string; gap: boolean } {
  if (next.startsWith(prev)) return { added: next.slice(prev.length), gap: false };
  const k = overlap(prev, next);
  return k > 0 ? { added: next.slice(k), gap: false } : { added: next, gap: true };
}

/** The longest k (at least MIN_OVERLAP, or all of a shorter `next`) such that `prev` ends with next's first k characters; 0 if none. */
function overlap(prev: string, next: string): number {
  const probeLength = Math.min(MIN_OVERLAP, next.length);
  if (probeLength === 0) return 0;
  const probe = next.slice(0, probeLength);
  // The leftmost start in prev gives the longest overlap; the overlap cannot be longer than next.
  for (let at = prev.indexOf(probe, Math.max(0, prev.length - next.length)); at >= 0; at = prev.indexOf(probe, at + 1)) {
    if (next.startsWith(prev.slice(at))) return prev.length - at;
  }
  return 0;
}

/**
 * newText for two tails whose places in all the output are known (`start`,
 * where each begins): exact, whatever the text repeats.
 */
export function newTextAt(prev: string, prevStart: number, next: string, nextStart: number): { added: string; gap: boolean } {
  const prevEnd = prevStart + prev.length;
  return nextStart > prevEnd ? { added: next, gap: true } : { added: next.slice(prevEnd - nextStart), gap: false };
}

interface Seen {
  /** The attempt's output as the last version recorded it. */
  output: string;
  /** Where it starts in all the attempt wrote, when the status said (AttemptLog.start). */
  start?: number;
  /** Its text after the last newline printed, held until the line ends or the attempt does. */
  partial: string;
}

/** Prints the new output of a PipelineRun's attempts, version after version. */
export class LogFollower {
  readonly #task: string | undefined;
  readonly #out: (text: string) => void;
  readonly #notice: (text: string) => void;
  readonly #seen = new Map<string, Seen>();
  /** Attempts whose last header printed said Running (or Pending): their end is not shown yet. */
  readonly #shownRunning = new Set<string>();
  /** The attempt whose header was printed last (`task#attempt`). */
  #current: string | undefined;
  #printed = false;

  /**
   * `task`: only this task's attempts (default every task, in graph order).
   * `out` prints a line of output; `notice` a line about it (skipped text).
   */
  constructor(options: { task?: string; out(text: string): void; notice(text: string): void }) {
    this.#task = options.task;
    this.#out = options.out;
    this.#notice = options.notice;
  }

  /** Prints what `run` (a newer version than the last one given) adds. */
  update(run: LooseObject): void {
    const tasks = this.#task === undefined ? orderedTasks(run).map((t) => t.name) : [this.#task];
    for (const task of tasks) {
      const attempts = taskAttempts(run, task);
      attempts.forEach((a, i) => this.#attempt(task, a, attempts[i - 1]));
    }
  }

  /** `before`: the task's attempt before `a`, if status still has it. */
  #attempt(task: string, a: AttemptLog, before: AttemptLog | undefined): void {
    const key = `${task}#${a.attempt}`;
    const output = a.output ?? "";
    const seen = this.#seen.get(key);
    const { added, gap } =
      seen === undefined
        ? { added: output, gap: false }
        : seen.start !== undefined && a.start !== undefined
          ? newTextAt(seen.output, seen.start, output, a.start)
          : newText(seen.output, output);
    const ended = a.phase !== "Running" && a.phase !== "Pending";
    let text = (seen?.partial ?? "") + added;
    this.#seen.set(key, { output, partial: "", ...(a.start !== undefined && { start: a.start }) });
    if (!ended) {
      const cut = text.lastIndexOf("\n") + 1;
      this.#seen.get(key)!.partial = text.slice(cut);
      text = text.slice(0, cut);
    }
    if (text === "" && !gap) return;
    if (this.#current !== key) {
      if (this.#printed) this.#out("");
      // Printed from the start of what status holds: say if that is not the start of the output (later, a gap says so).
      const showTruncated = (seen?.output ?? "") === "";
      // The attempt before, last shown running, ended unseen (its end printed no new line): say how.
      const beforeKey = before === undefined ? undefined : `${task}#${before.attempt}`;
      const unseenEnd = before !== undefined && this.#shownRunning.has(beforeKey!) && before.phase !== "Running" && before.phase !== "Pending";
      this.#out(attemptHeader(task, a, { showTruncated, ...(unseenEnd && { note: `after attempt ${before.attempt}: ${attemptOutcome(before)}` }) }));
      if (unseenEnd) this.#shownRunning.delete(beforeKey!);
      if (ended) this.#shownRunning.delete(key);
      else this.#shownRunning.add(key);
      this.#current = key;
      this.#printed = true;
    }
    if (gap) {
      this.#notice(
        `logs: ${task} attempt ${a.attempt}: some output was skipped: more was written between two updates of the run's status than it keeps (the last ${OUTPUT_TAIL_MAX} characters)`,
      );
    }
    if (text !== "") this.#out(text.replace(/\n$/, ""));
  }
}
