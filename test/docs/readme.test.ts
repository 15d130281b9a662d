// README doctest: every command block in README.md runs against a real server,
// so the README cannot drift from the software.
//
// How it runs. The test starts `npm start -- --http-port 0 --grpc-port 0
// --data-dir TMP --write-kubeconfig setpoint.kubeconfig` in a scratch
// directory that links to the clone's package.json (under `npm test`, a copy
// that runs the compiled CLI: compiledPackageJson below), node_modules, src,
// examples and scripts, then runs every ```sh (or ```bash) block of README.md
// in order, each with `bash -eo pipefail` in that directory, and checks that
// it exits 0. In the blocks, `127.0.0.1:8080` and `127.0.0.1:9090` are
// rewritten to the test server's HTTP and gRPC ports, and SETPOINT_URL and
// SETPOINT_GRPC (the hello agent's) point at it too; SETPOINT_SERVER is not
// set, and HOME has no kubeconfig, so a `setpoint` command that names no
// server fails instead of passing by accident. A line of its own that sets
// a variable (`S=http://…`) or an alias carries over to the later blocks, as
// in one terminal.
//
// Markers. An HTML comment right before a block (blank lines between are
// fine) changes what happens to it; a README reader never sees it:
//
//   <!-- doctest: skip REASON -->       not run; REASON is required (e.g. "needs
//                                       the agent's pid", "CI runs npm test")
//   <!-- doctest: stop-after 8s -->     a command that runs until stopped
//                                       (watch, an agent): it gets SIGINT once
//                                       its output block's lines have all
//                                       appeared (waiting up to 90 s, so a slow
//                                       machine does not fail it), or after 8 s
//                                       when it has no output block; its exit
//                                       code is not checked
//   <!-- doctest: exit 1 -->            must exit with this code instead of 0
//   <!-- doctest: output -->            on a ```text block right after a command
//                                       block: the key lines that block must
//                                       print (stdout and stderr), in order; runs
//                                       of spaces match any spacing, and `...`
//                                       matches anything within a line
//   <!-- doctest: same-as PATH -->      the block equals the file PATH (without
//                                       the file's leading // comment lines)
//
// A block for which the test cannot provide what it needs (another machine,
// an etcd cluster, a browser) gets `skip` with the reason and, where one
// exists, the test that covers it. Blocks in other languages (yaml, ts, text)
// are not run unless a marker says so.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { nodeEntry } from "../helpers/node-entry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const README = join(root, "README.md");

export interface Block {
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  marker?: { kind: string; arg: string };
}

const MARKER = /^<!--\s*doctest:\s*([a-z-]+)\s*(.*?)\s*-->$/;
const KINDS = new Set(["skip", "stop-after", "exit", "output", "same-as"]);

/** The fenced code blocks of a Markdown text, each with the doctest marker before it, if any. */
export function parseBlocks(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let pending: Block["marker"];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const m = MARKER.exec(l.trim());
    if (m) {
      pending = { kind: m[1]!, arg: m[2]! };
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(l);
    if (fence) {
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
      blocks.push({ lang: fence[1]!, body: body.join("\n"), line: start + 1, ...(pending && { marker: pending }) });
      pending = undefined;
      continue;
    }
    if (l.trim() !== "") pending = undefined; // a marker applies only to the block right after it
  }
  return blocks;
}

const isShell = (b: Block) => b.lang === "sh" || b.lang === "bash" || b.lang === "shell";

/** Milliseconds of a `stop-after` argument such as `8s`. */
function seconds(arg: string): number {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(arg);
  if (!m) throw new Error(`doctest: stop-after needs a time like 8s, not ${JSON.stringify(arg)}`);
  return Number(m[1]) * 1000;
}

const squash = (s: string) => s.replace(/\s+/g, " ").trim();

/** Checks that every expected line appears in `actual`, in order (see the header for the rules). */
export function missingLines(expected: string, actual: string): string[] {
  const got = actual.split("\n").map(squash);
  let at = 0;
  const missing: string[] = [];
  for (const want of expected
    .split("\n")
    .map(squash)
    .filter((l) => l !== "")) {
    const parts = want.split("...").map((p) => p.trim());
    const re = new RegExp(parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*"));
    const found = got.findIndex((l, i) => i >= at && re.test(l));
    if (found === -1) missing.push(want);
    else at = found + 1;
  }
  return missing;
}

interface Run {
  code: number | null;
  output: string;
}

let scratch: string;
let env: NodeJS.ProcessEnv;
let up: ChildProcess | undefined;
let ports: { http: number; grpc: number };
const carried: string[] = [];

/** The block's text as run here: the test server's ports instead of the defaults. */
function rewrite(body: string): string {
  return body
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${ports.http}`)
    .replaceAll("localhost:8080", `127.0.0.1:${ports.http}`)
    .replaceAll("127.0.0.1:9090", `127.0.0.1:${ports.grpc}`);
}

/** Runs a block; a long-running one gets SIGINT once `done(output)` holds, or after `stopAfterMs`. */
function runBlock(body: string, stopAfterMs?: number, done?: (output: string) => boolean): Promise<Run> {
  const script = ["shopt -s expand_aliases", ...carried, rewrite(body)].join("\n");
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-eo", "pipefail", "-c", script], { cwd: scratch, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let stopped = false;
    const collect = (d: Buffer) => {
      output += d.toString("utf8");
      if (stopAfterMs !== undefined && done && !stopped && done(output)) {
        stopped = true;
        group("SIGINT");
      }
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    const stopTimer = stopAfterMs === undefined ? undefined : setTimeout(() => group("SIGINT"), stopAfterMs);
    const deadline = setTimeout(
      () => {
        group("SIGKILL");
        reject(new Error(`block did not finish within 120 s; output so far:\n${output}`));
      },
      (stopAfterMs ?? 0) + 120_000,
    );
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(stopTimer);
      clearTimeout(deadline);
      group("SIGKILL"); // anything the block left running in the background
      resolve({ code, output });
    });
  });
}

const blocks = parseBlocks(readFileSync(README, "utf8"));

describe("README.md", () => {
  it("has well-formed doctest markers: known kinds, a reason for every skip, output blocks after command blocks", () => {
    assert.ok(blocks.filter(isShell).length >= 5, "the README has command blocks");
    blocks.forEach((b, i) => {
      const where = `README.md:${b.line}`;
      if (!b.marker) return;
      assert.ok(KINDS.has(b.marker.kind), `${where}: unknown doctest marker ${JSON.stringify(b.marker.kind)}`);
      if (b.marker.kind === "skip") assert.ok(b.marker.arg.length >= 10, `${where}: a skip needs its reason`);
      if (b.marker.kind === "stop-after") seconds(b.marker.arg);
      if (b.marker.kind === "exit") assert.match(b.marker.arg, /^\d+$/, `${where}: exit needs a code`);
      if (b.marker.kind === "output") {
        const prev = blocks[i - 1];
        assert.ok(prev && isShell(prev) && prev.marker?.kind !== "skip", `${where}: an output block must follow a command block that runs`);
      }
    });
  });

  for (const b of blocks.filter((x) => x.marker?.kind === "same-as")) {
    it(`README.md:${b.line} shows ${b.marker!.arg} as it is`, () => {
      const file = readFileSync(join(root, b.marker!.arg), "utf8");
      const lines = file.split("\n");
      while (lines[0]?.startsWith("//")) lines.shift();
      assert.equal(b.body.trim(), lines.join("\n").trim(), `README.md:${b.line} differs from ${b.marker!.arg}`);
    });
  }
});

/**
 * Under `npm test`, which compiled the tree to JavaScript (test/helpers/node-entry.ts):
 * the clone's package.json with `npm start` and `npm run setpoint` running
 * the compiled CLI instead of loading src/cli/setpoint.ts through tsx, the
 * same program without tsx's ~1.5 s of CPU per command. Each script must be
 * `node`, node's own flags, then `--import tsx src/cli/setpoint.ts` and its
 * arguments, so that only how the CLI is loaded changes (node's flags are kept). Otherwise undefined: the scratch
 * directory links the clone's package.json.
 */
function compiledPackageJson(): string | undefined {
  const entry = nodeEntry("src/cli/setpoint.ts");
  if (!entry.at(-1)!.endsWith(".js")) return undefined;
  const SOURCE = /^node((?: --[a-z-]+(?:=\S+)?)*) --import tsx src\/cli\/setpoint\.ts( .*)?$/;
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  for (const name of ["start", "setpoint"]) {
    const script = pkg.scripts[name] ?? "";
    const m = SOURCE.exec(script);
    assert.ok(m !== null, `package.json script ${name}: ${JSON.stringify(script)}`);
    pkg.scripts[name] = `node${m[1]} ${entry.map((arg) => JSON.stringify(arg)).join(" ")}${m[2] ?? ""}`;
  }
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

describe("README.md command blocks, run in order against a real server", () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "setpoint-readme-"));
    for (const f of ["node_modules", "src", "examples", "scripts", "proto", "tsconfig.json"]) symlinkSync(join(root, f), join(scratch, f));
    const packageJson = compiledPackageJson();
    if (packageJson === undefined) symlinkSync(join(root, "package.json"), join(scratch, "package.json"));
    else writeFileSync(join(scratch, "package.json"), packageJson);
    mkdirSync(join(scratch, "home"));
    env = { PATH: process.env.PATH, HOME: join(scratch, "home"), TERM: "dumb", CI: "true", npm_config_update_notifier: "false" };
    up = spawn(
      "npm",
      ["start", "--", "--http-port", "0", "--grpc-port", "0", "--data-dir", join(scratch, "data"), "--write-kubeconfig", "setpoint.kubeconfig"],
      {
        cwd: scratch,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let banner = "";
    up.stderr!.on("data", (d: Buffer) => (banner += d.toString("utf8")));
    ports = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start printed no banner within 60 s:\n${banner}`)), 60_000);
      up!.stdout!.on("data", (d: Buffer) => {
        banner += d.toString("utf8");
        const m = /API\s+http:\/\/127\.0\.0\.1:(\d+)\s+gRPC 127\.0\.0\.1:(\d+)/.exec(banner);
        if (m) {
          clearTimeout(timer);
          resolve({ http: Number(m[1]), grpc: Number(m[2]) });
        }
      });
      up!.once("exit", (code) => reject(new Error(`npm start exited (${code}):\n${banner}`)));
    });
    const url = `http://127.0.0.1:${ports.http}`;
    env = { ...env, SETPOINT_URL: url, SETPOINT_GRPC: `127.0.0.1:${ports.grpc}` };
  });

  after(async () => {
    if (up?.pid !== undefined && up.exitCode === null) {
      const exited = new Promise((resolve) => up!.once("exit", resolve));
      process.kill(-up.pid, "SIGINT");
      const kill = setTimeout(() => process.kill(-up!.pid!, "SIGKILL"), 30_000);
      await exited;
      clearTimeout(kill);
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  blocks.forEach((b, i) => {
    if (!isShell(b)) return;
    const title = `README.md:${b.line}: ${
      b.body
        .split("\n")
        .find((l) => l.trim() !== "" && !l.startsWith("#"))
        ?.slice(0, 70) ?? ""
    }`;
    if (b.marker?.kind === "skip") {
      it(`${title} (not run: ${b.marker.arg})`, () => {});
      return;
    }
    const expected = blocks[i + 1]?.marker?.kind === "output" ? blocks[i + 1]!.body : undefined;
    it(title, async () => {
      const given = b.marker?.kind === "stop-after" ? seconds(b.marker.arg) : undefined;
      const stopAfter = given !== undefined && expected !== undefined ? 90_000 : given;
      const r = await runBlock(b.body, stopAfter, expected === undefined ? undefined : (out) => missingLines(expected, out).length === 0);
      for (const line of b.body.split("\n")) {
        if (/^alias \w+=/.test(line) || /^[A-Z_][A-Z0-9_]*=\S*$/.test(line)) carried.push(rewrite(line));
      }
      if (stopAfter === undefined) {
        const code = b.marker?.kind === "exit" ? Number(b.marker.arg) : 0;
        assert.equal(r.code, code, `README.md:${b.line} exited ${r.code}, not ${code}; output:\n${r.output}`);
      }
      if (expected !== undefined) {
        const missing = missingLines(expected, r.output);
        assert.deepEqual(missing, [], `README.md:${b.line}: lines missing from the output:\n${missing.join("\n")}\n--- output:\n${r.output}`);
      }
    });
  });
});

describe("the doctest's own rules", () => {
  it("reads markers only right before a block, and matches key lines in order with ... and any spacing", () => {
    const parsed = parseBlocks("<!-- doctest: skip needs a browser -->\n\n```sh\na\n```\n\ntext\n<!-- doctest: exit 1 -->\nprose\n```sh\nb\n```\n");
    assert.deepEqual(
      parsed.map((b) => [b.body, b.marker?.kind]),
      [
        ["a", "skip"],
        ["b", undefined],
      ],
    );
    assert.deepEqual(missingLines("NAME   PHASE\ndiamond ... 4/4", "x\nNAME      PHASE\ndiamond   Succeeded   4/4\n"), []);
    assert.deepEqual(missingLines("b\na", "a\nb\n"), ["a"]);
  });
});
