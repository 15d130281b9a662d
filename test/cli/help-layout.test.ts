// How `setpoint [command] --help` reads in a terminal: commander wraps the
// description at the help width (100), so a description that breaks its own
// lines must keep each within it (a hard break after a wrapped line leaves a
// word on a line of its own: "…or until" / "--timeout" / "passes."), and the text
// added after the options, which commander prints as it is, must fit in 100
// columns.

import assert from "node:assert/strict";
import type { Command } from "commander";
import { it } from "node:test";
import { createProgram } from "../../src/cli/program.ts";

function commands(root: Command): Command[] {
  return [root, ...root.commands.flatMap(commands)];
}

const program = createProgram({
  out: () => {},
  err: () => {},
  readStdin: async () => "",
  env: {},
  now: () => Date.now(),
  version: "0.0.0-test",
  interrupted: () => new AbortController().signal,
});

it("a description that breaks its own lines keeps each within 100 columns (commander would wrap it, then break it again)", () => {
  const over: string[] = [];
  for (const command of commands(program)) {
    const lines = command.description().split("\n");
    if (lines.length === 1) continue; // wrapped by commander alone
    for (const line of lines) if (line.length > 100) over.push(`setpoint ${command.name()}, ${line.length} columns: ${line}`);
  }
  assert.deepEqual(over, []);
});

it("every line of every --help fits in 100 columns", () => {
  const over: string[] = [];
  for (const command of commands(program)) {
    let text = "";
    command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    command.outputHelp();
    for (const line of text.split("\n")) if (line.length > 100) over.push(`setpoint ${command.name()} --help, ${line.length} columns: ${line}`);
  }
  assert.deepEqual(over, []);
});
