// `setpoint get -o json` and `-o yaml` print the same text as kubectl 1.32 for
// the same objects: both run here against one test server and their outputs
// are compared byte for byte (kubectl's JSON is Go's json.MarshalIndent of the
// decoded object, its YAML sigs.k8s.io/yaml's, which kube-apiserver answers
// `Accept: application/yaml` with too: the server's YAML is checked here).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runSetpointInProcess } from "../helpers/cli.ts";
import { kubectlFor, type Kubectl } from "../helpers/kubectl.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
let k: Kubectl;

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
});
