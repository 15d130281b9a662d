// A second OS process with its own LMDB store on a test's directory, for
// tests of several processes sharing one store (test/store/lmdb.test.ts,
// wal.test.ts). It takes one command a line on stdin and answers each with
// one line on stdout; `exit` closes its store and exits 0.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { nodeModule } from "./node-entry.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const LMDB_MODULE = nodeModule(fileURLToPath(new URL("../../src/store/lmdb.ts", import.meta.url)));

export interface StoreChildOptions {
  /** `openLmdbStore`'s options in the child (JSON). */
  store: Record<string, unknown>;
  /** Source of an expression for more options, functions included (evaluated in the child after `globalThis.commits = { main: 0, write: 0 }`). */
  storeSource?: string;
  /**
   * Source of an async function `(store, words) => string` that the child runs
   * for each command line but `exit` (`words`: the line split at spaces); it
   * prints what it returns as one line.
   */
  handler: string;
  /** How long `nextLine` and `exit` wait. */
  deadlineMs: number;
}

export interface StoreChild {
  send(line: string): void;
  /** The child's next stdout line ("ready" first, once its store is open), within the deadline. */
  nextLine(what: string): Promise<string>;
  /** Sends `exit`; resolves with the exit code (killed past the deadline). */
  exit(): Promise<number | null>;
  /** Kills the child; resolves once it has exited. */
  kill(): Promise<unknown>;
  stderr(): string;
}

/** Starts the child on `dir`. */
export function startStoreChild(dir: string, options: StoreChildOptions): StoreChild {
  const script = `
    const [dir] = process.argv.slice(1);
    import(${JSON.stringify(LMDB_MODULE.url)}).then(async ({ openLmdbStore }) => {
      globalThis.commits = { main: 0, write: 0 };
      const store = openLmdbStore(dir, { ...${JSON.stringify(options.store)}, ...(${options.storeSource ?? "{}"}) });
      const handle = ${options.handler};
      const lines = require("node:readline").createInterface({ input: process.stdin });
      process.stdout.write("ready\\n");
      for await (const line of lines) {
        const words = line.split(" ");
        if (words[0] === "exit") break;
        process.stdout.write((await handle(store, words)) + "\\n");
      }
      await store.close();
      process.exit(0);
    }).catch((err) => { console.error(err); process.exit(1); });
  `;
  const child = spawn(process.execPath, [...LMDB_MODULE.execArgv, "-e", script, dir], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const pending: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else pending.push(line);
  });
  return {
    send(line) {
      child.stdin.write(line + "\n");
    },
    nextLine(what) {
      const ready = pending.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`store child: timed out waiting for ${what}; stderr: ${stderr}`)), options.deadlineMs);
        waiters.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`store child exited with ${code} while waiting for ${what}; stderr: ${stderr}`));
        });
      });
    },
    async exit() {
      child.stdin.write("exit\n");
      const timer = setTimeout(() => child.kill(), options.deadlineMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill() {
      if (child.exitCode === null) child.kill();
      return exited;
    },
    stderr: () => stderr,
  };
}
