// SIGSTOP for a test that needs a process to stop answering without dying (an
// etcd member, a server replica). kill(SIGSTOP) returns before a
// multi-threaded process is stopped: the kernel stops it once one of its
// threads next runs and takes the signal, and until then the others go on
// serving. On a busy machine an etcd member answered a range sent a
// millisecond after the signal. pauseProcess() returns only once every thread
// is stopped.

import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** The state letter (R, S, D, T, …: proc(5)) of every thread of process `pid`; a thread that ended meanwhile is left out. */
export function threadStates(pid: number): string[] {
  const states: string[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
    } catch {
      continue;
    }
    // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows its last ")".
    states.push(stat.charAt(stat.lastIndexOf(")") + 2));
  }
  return states;
}

/** SIGSTOPs `child` and resolves once every thread of it is stopped (state T); rejects when it is not running, or not stopped within `ms`. */
export async function pauseProcess(child: ChildProcess, what: string, ms = 10_000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error(`${what}: not running, cannot pause it`);
  child.kill("SIGSTOP");
  const deadline = Date.now() + ms;
  for (;;) {
    const states = threadStates(pid);
    if (states.length > 0 && states.every((s) => s === "T")) return;
    if (Date.now() > deadline) throw new Error(`${what} (pid ${pid}) not stopped ${ms} ms after SIGSTOP: thread states ${states.join("")}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
