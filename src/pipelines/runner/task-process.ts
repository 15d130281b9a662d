// One attempt of one task as an operating-system process: started in a
// process group of its own, its stdout and stderr kept as a bounded tail,
// stopped by signal on timeout or on request.
//
// Contract:
// - The task runs under a small /bin/sh supervisor that `exec`s it, so the
//   process the agent waits for is the task itself (its exit code and signal
//   are the task's). The supervisor leaves one watchdog in the group that
//   reads the agent's end of a pipe: when the agent dies (even by SIGKILL) the
//   pipe closes and the watchdog kills the whole group. A task never outlives
//   the agent that started it, so a replacement agent may rerun it safely.
// - When the task exits, whatever it left running in its group is killed
//   (like the processes of a container whose main process ended).
// - stop(): SIGTERM to the group, then SIGKILL after the grace period (at
//   once with a grace of 0). A timeout is a stop with reason TimedOut.
// - `done` always resolves (never rejects), once the process has exited and
//   its output is read (or a short while after, if something holds the pipes).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { systemClock, type Clock, type Timer } from "../../clock.ts";

/**
 * The supervisor: keeps the agent's pipe on fd 3 for a watchdog that kills the
 * process group once the pipe closes (the agent is gone), then becomes the
 * task. `$0` is a label; the task's argv follows.
 */
const SUPERVISOR = ["exec 3<&0 </dev/null", "{ while read -r _ <&3; do :; done; kill -KILL 0; } >/dev/null 2>&1 &", 'exec "$@" 3<&-'].join("\n");

/** How long to wait for the output pipes to close after the task exited before giving up on them. */
const PIPE_CLOSE_WAIT_MS = 2000;

/** Why an attempt ended. `Completed`: it exited on its own (any exit code). */
export type TaskEndReason = "Completed" | "TimedOut" | "StartError" | (string & {});

export interface TaskExit {
  /** Exit code when the process exited; undefined when a signal ended it. */
  exitCode?: number;
  /** The signal that ended it, e.g. `SIGTERM`. */
  signal?: string;
  /** `Completed`, `TimedOut`, `StartError`, or the reason given to stop(). */
  reason: TaskEndReason;
  /** One line for humans. */
  message: string;
  /** The tail of stdout and stderr, interleaved as they arrived. */
  output: string;
  /** Characters written before `output` and not kept: 0 when `output` is all of it. */
  outputDropped: number;
  /** Milliseconds since the epoch. */
  endedAt: number;
}

export interface TaskProcessOptions {
  /** Working directory; must exist. */
  cwd: string;
  /** The whole environment of the process. */
  env: Record<string, string>;
  /** Stop the attempt (reason TimedOut) after this long. Default: never. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping. Default 5000 ms. */
  killGraceMs?: number;
  /** Characters of output kept. Default 8192. */
  outputMax?: number;
  /** Called (synchronously) whenever output arrives. */
  onOutput?: () => void;
  /** Time source and timers (timeout, kill grace, waiting for the pipes). Default: the system clock. */
  clock?: Clock;
}

/**
 * Starts `argv` (program, then its arguments; the program is looked up in
 * PATH) under the supervisor, in a process group of its own.
 * @example
 * const attempt = startTaskProcess(["/bin/sh", "-c", "make test"], { cwd: "/work", env: {} });
 * const exit = await attempt.done;
 */
export function startTaskProcess(argv: readonly string[], options: TaskProcessOptions): TaskProcess {
  if (argv.length === 0) throw new RangeError("task-process: argv must name a program");
  try {
    const child = spawn("/bin/sh", ["-c", SUPERVISOR, "setpoint-task", ...argv], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new TaskProcess(child, options);
  } catch (err) {
    return new TaskProcess(err as Error, options);
  }
}

/** Keeps the last `max` characters of what is appended, and counts those it let go. */
export class OutputTail {
  readonly max: number;
  #text = "";
  /** Characters appended, in all. */
  #total = 0;
  #version = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`task-process: outputMax must be a positive integer, got ${max}`);
    this.max = max;
  }

  append(text: string): void {
    if (text === "") return;
    this.#text += text;
    this.#total += text.length;
    if (this.#text.length > 2 * this.max) this.#text = this.#text.slice(-this.max);
    this.#version++;
  }

  /** Grows by one with every append that added text. */
  get version(): number {
    return this.#version;
  }

  /** The tail, at most `max` characters, never starting inside a surrogate pair. */
  text(): string {
    let t = this.#text.length > this.max ? this.#text.slice(-this.max) : this.#text;
    const first = t.charCodeAt(0);
    if (first >= 0xdc00 && first <= 0xdfff) t = t.slice(1);
    return t;
  }

  /** The tail (text()) and how many characters were appended before it and not kept. */
  snapshot(): { output: string; outputDropped: number } {
    const output = this.text();
    return { output, outputDropped: this.#total - output.length };
  }
}

/** How an attempt ended, from what its supervisor process reported. */
function taskExit(how: {
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  startError: Error | undefined;
  stopReason: string | undefined;
  cwd: string;
  timeoutMs: number | undefined;
  output: string;
  outputDropped: number;
  endedAt: number;
}): TaskExit {
  const { output, outputDropped, endedAt } = how;
  if (how.startError !== undefined) {
    const why = existsSync(how.cwd) ? how.startError.message : `working directory ${how.cwd} does not exist`;
    return { reason: "StartError", message: `cannot start: ${why}`, output, outputDropped, endedAt };
  }
  const code = how.exit?.code ?? undefined;
  const signal = how.exit?.signal ?? undefined;
  const reason = how.stopReason ?? "Completed";
  const ended = signal !== undefined ? `killed by ${signal}` : `exit code ${code}`;
  const message =
    reason === "TimedOut" ? `timed out after ${(how.timeoutMs ?? 0) / 1000} s (${ended})` : reason === "Completed" ? ended : `stopped (${reason}): ${ended}`;
  return { ...(code !== undefined && { exitCode: code }), ...(signal !== undefined && { signal }), reason, message, output, outputDropped, endedAt };
}

/** A running (or finished) attempt; made by startTaskProcess. */
export class TaskProcess {
  readonly pid: number | undefined;
  /** Resolves once the attempt is over. */
  readonly done: Promise<TaskExit>;
  readonly #child: ChildProcess | undefined;
  readonly #tail: OutputTail;
  readonly #graceMs: number;
  #exited = false;
  #stopReason: string | undefined;
  readonly #clock: Clock;
  #killTimer: Timer | undefined;
  #killAt = Infinity;

  /** Follows a spawned supervisor `child` (or records that spawning it threw `child`). */
  constructor(child: ChildProcess | Error, options: TaskProcessOptions) {
    const clock = (this.#clock = options.clock ?? systemClock);
    const now = () => clock.now();
    this.#tail = new OutputTail(options.outputMax ?? 8192);
    this.#graceMs = options.killGraceMs ?? 5000;
    if (child instanceof Error) {
      this.pid = undefined;
      this.#child = undefined;
      this.done = Promise.resolve({ reason: "StartError", message: `cannot start: ${child.message}`, output: "", outputDropped: 0, endedAt: now() });
      return;
    }
    this.#child = child;
    this.pid = child.pid;
    const decoders = [new StringDecoder("utf8"), new StringDecoder("utf8")];
    const take = (i: number) => (chunk: Buffer) => {
      this.#tail.append(decoders[i]!.write(chunk));
      options.onOutput?.();
    };
    child.stdout!.on("data", take(0));
    child.stderr!.on("data", take(1));
    // The agent never writes to the task; an EPIPE once the group is gone is expected.
    child.stdin!.on("error", () => {});

    const timeout = options.timeoutMs === undefined ? undefined : clock.after(options.timeoutMs, () => this.stop("TimedOut"));

    this.done = new Promise<TaskExit>((resolve) => {
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let startError: Error | undefined;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        timeout?.cancel();
        this.#killTimer?.cancel();
        for (const d of decoders) this.#tail.append(d.end());
        child.stdin?.destroy();
        resolve(
          taskExit({
            exit,
            startError,
            stopReason: this.#stopReason,
            cwd: options.cwd,
            timeoutMs: options.timeoutMs,
            ...this.#tail.snapshot(),
            endedAt: now(),
          }),
        );
      };
      child.once("error", (err) => {
        // spawn failed (bad cwd, no /bin/sh): no exit event follows.
        if (child.pid === undefined || !this.#exited) {
          startError = err;
          this.#exited = true;
          finish();
        }
      });
      child.once("exit", (code, signal) => {
        this.#exited = true;
        exit = { code, signal };
        // Kill what the task left behind (and the watchdog) unless a graceful stop is under way.
        if (this.#stopReason === undefined || this.#graceMs === 0) this.#signalGroup("SIGKILL");
        const wait = clock.after(PIPE_CLOSE_WAIT_MS + (this.#stopReason !== undefined ? this.#graceMs : 0), () => {
          this.#signalGroup("SIGKILL");
          finish();
        });
        child.once("close", () => {
          wait.cancel();
          finish();
        });
      });
    });
  }

  /** The output tail so far. */
  output(): string {
    return this.#tail.text();
  }

  /** The output tail so far, and how many characters were written before it and not kept. */
  outputTail(): { output: string; outputDropped: number } {
    return this.#tail.snapshot();
  }

  /** Grows whenever output arrives. */
  get outputVersion(): number {
    return this.#tail.version;
  }

  /** Whether stop() was called before the task exited, and why. */
  get stopReason(): string | undefined {
    return this.#stopReason;
  }

  /**
   * Stops the attempt: SIGTERM to its process group, then SIGKILL after
   * `graceMs` (default: the killGraceMs option; 0 kills at once). No effect
   * once the task has exited; a second call can only shorten the grace.
   */
  stop(reason: string, graceMs = this.#graceMs): void {
    if (this.#exited || this.#child === undefined) return;
    if (this.#stopReason === undefined) this.#stopReason = reason;
    if (graceMs <= 0) {
      this.#signalGroup("SIGKILL");
      return;
    }
    if (this.#killTimer === undefined) this.#signalGroup("SIGTERM");
    const at = this.#clock.now() + graceMs;
    if (at >= this.#killAt) return;
    this.#killAt = at;
    this.#killTimer?.cancel();
    this.#killTimer = this.#clock.after(graceMs, () => this.#signalGroup("SIGKILL"));
  }

  #signalGroup(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is gone already.
    }
  }
}
