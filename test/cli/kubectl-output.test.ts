// `setpoint get -o json` and `-o yaml` print the same text as kubectl 1.32 for
// the same objects: both run here against one test server and their outputs
// are compared byte for byte (kubectl's JSON is Go's json.MarshalIndent of the
// decoded object, its YAML sigs.k8s.io/yaml's, which kube-apiserver answers
// `Accept: application/yaml` with too: the server's YAML is checked here).
// The YAML is go-yaml v2's (src/server/go-yaml.ts): a table of strings that
// go-yaml quotes, folds or escapes each its own way, and keys it sorts its
// own way, is printed byte for byte as kubectl prints it, by `get -o yaml`,
// by `get -w -o yaml` and by the server.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { exited, runSetpointInProcess, spawnSetpoint } from "../helpers/cli.ts";
import { eventually } from "../helpers/history.ts";
import { kubectlFor, type Kubectl } from "../helpers/kubectl.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
let k: Kubectl;

const words = (n: number, w = "word") => Array.from({ length: n }, (_, i) => `${w}${i}`).join(" ");
/**
 * Strings each YAML writer treats its own way. Left out: a DEL or a BOM in a
 * string and a NEL in a key, which kubectl cannot print (go-yaml refuses to
 * read the JSON back: "control characters are not allowed").
 */
const TRICKY: Record<string, unknown> = {
  // Read as something else when plain: go-yaml v2 double-quotes them.
  ...Object.fromEntries(
    [
      ..."123 1.5 1e3 0x1F -1 .5 1_000 0o17 +1 1:30 190:20:30 .inf -.Inf .NaN 08 0_1 0b101 -0b1 +.5 +1e5 1. 1.e5 0. -.inf".split(" "),
      ..."true True yes no on off y n Y NO On ~ null Null NULL".split(" "),
      ..."2024-01-01 2024-1-1 2024-01-01T00:00:00Z 2024-01-01t10:00:00Z 2024-01-01T10:00:00.5+01:00 12:34:56 -1:30".split(" "),
      "",
      "2024-01-01 10:00:00",
      "9223372036854775807",
      "18446744073709551616",
    ].map((v, i) => [`n${i}`, v]),
  ),
  // Not read as anything else: plain.
  ...Object.fromEntries(
    "0x 0o 1e400 .5e999 0xFFFFFFFFFFFFFFFFFF 2024-02-30 2024-01-01T10:00:00 2024-01-01T25:00:00Z 1:60 Inf NaN .Nan oN ~a << = . + :a a#b key# a:b -k http://x:80/y héllo"
      .split(" ")
      .map((v, i) => [`p${i}`, v]),
  ),
  // Indicators, spaces at an end, quotes: single-quoted (double when they cannot be).
  ...Object.fromEntries(
    [
      "a: b",
      "a:",
      "a: ",
      "#a",
      "a #b",
      "- a",
      "-",
      "---",
      "...",
      "?",
      "? a",
      "&a",
      "*a",
      "!a",
      "%a",
      "@a",
      "`a",
      "|",
      ">",
      "{a}",
      "[a]",
      " x",
      "x ",
      " ",
      "'a'",
      '"a"',
      "a,b",
    ].map((v, i) => [`q${i}`, v]),
  ),
  // Characters go-yaml does not print: double-quoted with escapes.
  tab: "a\tb",
  tabs: "\tx",
  ctrl: "a\u0001b",
  cr: "a\rb",
  emoji: "😀",
  nbsp: "a\u00a0b",
  ls: "a\u2028b",
  ps: "a\u2029b",
  // A NEL reads as a line break when go-yaml reads the JSON: folded to a space, two to a newline.
  nel: "a\u0085b",
  nel2: "a \u0085\u0085 b",
  // Newlines: literal blocks with their chomping and indentation hints, or double quotes.
  ml: ["line1\nline2", "line1\nline2\n", "line1\n\nline3\n\n", "  indented\nx", "trail \nx", "\nlead"],
  // Folded past column 80, in each style.
  long: [
    words(30),
    ` ${words(30)}`,
    `${words(30)} `,
    words(15, "w  x"),
    "x".repeat(120),
    `${words(30)}\ttab`,
    words(20, "it's"),
    `- ${words(30)}`,
    words(12, "a  b"),
  ],
  [words(30)]: "a long key",
  ["x".repeat(129)]: "a key over 128 bytes",
  "key\nnl": "a multi-line key",
  "key with space": 1,
  "1": "a number-like key",
  true: "a bool-like key",
  "": "an empty key",
  "#k": 1,
  "~": 1,
  nested: [[1, [2, []]], [{ a: "multi\nline", b: [{}] }], { "": [] }, "x\n", [words(30)]],
  order: Object.fromEntries(
    ["a1", "a10", "a2", "a01", "a001", "A", "_a", "é", "日本", "007", "7", "a0", "a00", "0", "00", "b-1", "b.1", "B", "ß", " ", "-", "~", "#"].map((key) => [
      key,
      1,
    ]),
  ),
  numbers: { f: 0.1, e: 1.5e300, tiny: 5e-324, z: 0, i: 42 },
  // A `|+` string last: kubectl prints its blank line at the very end.
  zzz: "end\n\n",
};

before(async () => {
  s = await startTestServer();
  k = kubectlFor(s.url, { namespace: "default" });
  const c = api(s.url);
  const gv = await createType(c, { group: "out.example.com", kind: "Gadget", plural: "gadgets", schema: { spec: { type: "object" } } });
  // Keys out of order at every level, strings a YAML reader would take for something else, HTML characters.
  const objects = [
    {
      metadata: { name: "b-gadget", labels: { zone: "a", app: "web" }, annotations: { note: "<b>&</b>", "example.com/when": "2024-01-01" } },
      spec: {
        zeta: 1,
        alpha: [3, { y: true, x: null }],
        octal: "0123",
        flag: "true",
        empty: {},
        none: [],
        text: "two\nlines",
        // Floats as Go's YAML writes them (1.0000005e+06, 1e-07), as JSON writes them (1000000.5, 1e-7).
        floats: { big: 1000000.5, small: 1e-7, half: 0.5 },
      },
    },
    { metadata: { name: "a-gadget" }, spec: { size: 2 } },
    {
      metadata: {
        name: "c-tricky",
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": `${JSON.stringify({ apiVersion: "out.example.com/v1", kind: "Gadget", metadata: { name: "c-tricky" }, spec: { text: words(20) } })}\n`,
        },
      },
      spec: TRICKY,
    },
  ];
  for (const o of objects) {
    const r = await c.post(`${gv}/namespaces/default/gadgets`, o);
    assert.equal(r.status, 201, r.text);
  }
});
after(async () => {
  await s?.stop();
  k?.close();
});

async function both(...args: string[]): Promise<[string, string]> {
  const [theirs, ours] = await Promise.all([k.run(...args), runSetpointInProcess([...args, "-n", "default", "--server", s.url])]);
  assert.equal(theirs.code, 0, theirs.stderr);
  assert.equal(ours.code, 0, ours.stderr);
  return [theirs.stdout, ours.stdout];
}

describe("get -o json and -o yaml print kubectl's text", () => {
  it("one object by name", async () => {
    for (const format of ["json", "yaml"]) {
      const [theirs, ours] = await both("get", "gadgets", "b-gadget", "-o", format);
      assert.equal(ours, theirs, format);
    }
  });

  it("the server's YAML answer is kubectl's -o yaml of the object (both are sigs.k8s.io/yaml's of the JSON)", async () => {
    const [theirs] = await both("get", "gadgets", "b-gadget", "-o", "yaml");
    const r = await fetch(`${s.url}/apis/out.example.com/v1/namespaces/default/gadgets/b-gadget`, { headers: { accept: "application/yaml" } });
    assert.equal(await r.text(), theirs);
  });

  it("a whole type, as a v1 List", async () => {
    for (const format of ["json", "yaml"]) {
      const [theirs, ours] = await both("get", "gadgets", "-o", format);
      assert.equal(ours, theirs, format);
    }
  });

  it("strings go-yaml quotes, folds or escapes its own way, and keys it sorts its own way: get -o yaml, the server's YAML", async () => {
    const [theirs, ours] = await both("get", "gadgets", "c-tricky", "-o", "yaml");
    assert.equal(ours, theirs);
    const r = await fetch(`${s.url}/apis/out.example.com/v1/namespaces/default/gadgets/c-tricky`, { headers: { accept: "application/yaml" } });
    assert.equal(await r.text(), theirs);
  });

  it("get -w -o yaml: the same documents, `---` between them (not before the first)", async () => {
    const names = ["a-gadget", "b-gadget", "c-tricky"];
    const docs = await Promise.all(names.map(async (name) => (await k.run("get", "gadgets", name, "-o", "yaml")).stdout));
    const expected = docs.join("---\n");
    const theirs = k.spawn("get", "gadgets", "-w", "-o", "yaml");
    const ours = spawnSetpoint(["get", "gadgets", "-w", "-o", "yaml", "-n", "default", "--server", s.url]);
    const texts = ["", ""];
    theirs.stdout.setEncoding("utf8").on("data", (d: string) => (texts[0] += d));
    ours.stdout!.setEncoding("utf8").on("data", (d: string) => (texts[1] += d));
    try {
      await eventually(() => texts.every((t) => t.length >= expected.length), "both watches to print every object");
      assert.equal(texts[0]!.slice(0, expected.length), expected, "kubectl prints each object's get -o yaml, --- between");
      assert.equal(texts[1]!.slice(0, expected.length), expected);
    } finally {
      theirs.kill();
      ours.kill("SIGINT");
      await exited(ours);
    }
  });
});

describe("get's table has kubectl's columns", () => {
  /** A table's rows, cells split at the three-space gap, ages (5s, 2m) as AGE: the two commands run a moment apart. */
  const cells = (text: string) =>
    text
      .trimEnd()
      .split("\n")
      .map((line) => line.split(/ {2,}/).map((c) => (/^\d+[smhd]$/.test(c) ? "AGE" : c)));

  before(async () => {
    const c = api(s.url);
    for (const [plural, kind, columns] of [
      [
        "dials",
        "Dial",
        [
          { name: "Color", type: "string", jsonPath: ".spec.color" },
          { name: "Size", type: "integer", jsonPath: ".spec.size", priority: 1 },
        ],
      ],
      [
        "knobs",
        "Knob",
        [
          { name: "Turns", type: "number", jsonPath: ".spec.turns" },
          { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          { name: "On", type: "boolean", jsonPath: ".spec.on" },
        ],
      ],
      ["plains", "Plain", []],
    ] as const) {
      const gv = await createType(c, { group: "cols.example.com", kind, plural, schema: { spec: { type: "object" } } });
      const rt = await c.get(`/apis/setpoint.dev/v1/resourcetypes/${plural}.cols.example.com`);
      const put = await c.put(`/apis/setpoint.dev/v1/resourcetypes/${plural}.cols.example.com`, {
        ...rt.body,
        spec: { ...rt.body.spec, additionalPrinterColumns: columns },
      });
      assert.equal(put.status, 200, put.text);
      for (const [name, spec] of [
        ["one", { color: "red", size: 3, turns: 1.5, on: true }],
        ["two", {}],
      ] as const) {
        const r = await c.post(`${gv}/namespaces/default/${plural}`, { metadata: { name }, spec });
        assert.equal(r.status, 201, r.text);
      }
    }
  });

  it("declared columns and no AGE unless declared; AGE alone for a type that declares none; -o wide adds the priority ones", async () => {
    for (const args of [["dials"], ["dials", "-o", "wide"], ["knobs"], ["knobs", "one"], ["plains"]]) {
      const [theirs, ours] = await both("get", ...args);
      assert.deepEqual(cells(ours), cells(theirs), `get ${args.join(" ")}:\n${theirs}`);
    }
    const [dials] = await both("get", "dials");
    assert.deepEqual(cells(dials)[0], ["NAME", "COLOR"]);
  });
});
