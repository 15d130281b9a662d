// The module graph of src/ (STYLE.md "Dependencies point one way"): no import
// cycles, type-only imports included, and the layers depend downwards only —
// the store knows nothing of the watch hub, the hub nothing of the API grammar
// or the transports, the agent SDK nothing of the server, and nothing but the
// CLI and the entry point uses the server, which knows no agent (the pipeline
// runner's checks are wired in where the CLI assembles the server).

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src", import.meta.url));

/** src-relative path → src-relative paths it imports (static `import`/`export … from`, relative specifiers only). */
function importGraph(): Map<string, string[]> {
  const files = readdirSync(SRC, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".ts"));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(SRC, file), "utf8");
    const deps: string[] = [];
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
      deps.push(relative(SRC, resolve(dirname(join(SRC, file)), m[1]!)));
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test("the cycle finder finds a cycle (it can fail)", () => {
  const g = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", ["a.ts"]],
  ]);
  assert.deepEqual(cycles(g), [["a.ts", "b.ts", "c.ts"]]);
});

test("src/ has no import cycles", () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `read the module graph (${graph.size} files)`);
  assert.deepEqual(cycles(graph), []);
});

test("layers depend downwards only", () => {
  const graph = importGraph();
  /** Which top-level area a src-relative path belongs to: `store`, `watch`, `api`, … (a file `x.ts` counts as area `x`). */
  const area = (path: string) => path.split("/")[0]!.replace(/\.ts$/, "");
  const forbidden: Record<string, string[]> = {
    store: ["watch", "api", "server", "agent", "cli", "pipelines"],
    watch: ["api", "server", "agent", "cli", "pipelines"],
    api: ["server", "agent", "cli", "pipelines"],
    agent: ["server", "api", "watch", "store", "cli", "pipelines"],
    server: ["cli", "agent", "pipelines"],
  };
  const violations: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      if (forbidden[area(file)]?.includes(area(dep))) violations.push(`${file} imports ${dep}`);
      if (area(dep) === "server" && !["server", "cli", "main"].includes(area(file))) violations.push(`${file} uses the server (${dep})`);
    }
  }
  assert.deepEqual(violations, []);
});

test("each wire type is declared once (src/wire.ts; proto messages generated from proto/)", () => {
  const declared = new Map<string, string[]>();
  for (const file of importGraph().keys()) {
    const text = readFileSync(join(SRC, file), "utf8");
    for (const m of text.matchAll(/^export (?:interface|type) (\w+)\b/gm)) {
      const list = declared.get(m[1]!) ?? [];
      list.push(file);
      declared.set(m[1]!, list);
    }
  }
  for (const name of ["ApiObject", "ObjectMeta", "LooseObject", "ObjectList", "Status", "Condition", "ListResponse", "ObjectResponse", "PatchRequest"]) {
    assert.equal(declared.get(name)?.length, 1, `${name} is declared in ${JSON.stringify(declared.get(name) ?? [])}`);
  }
});
