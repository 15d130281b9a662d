// Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
// on get, list and watch answers a meta.k8s.io Table built from the type's
// printer columns (Name, then the declared columns, or Age when none are
// declared), as kube-apiserver does for CRDs.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { api, assertStatus, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

let s: TestServer;
let c: ApiClient;
let gv: string;

before(async () => {
  s = await startTestServer();
  c = api(s.url);
  gv = await createType(c, { group: "demo.example.com", kind: "Widget", plural: "widgets" });
  const rt = await c.get("/apis/setpoint.dev/v1/resourcetypes/widgets.demo.example.com");
  const spec = {
    ...rt.body.spec,
    shortNames: ["wd"],
    additionalPrinterColumns: [
      { name: "Color", type: "string", jsonPath: ".spec.color" },
      { name: "Size", type: "integer", jsonPath: ".spec.size", priority: 1 },
      { name: "Seen", type: "date", jsonPath: ".status.seen" },
    ],
  };
  assert.equal((await c.put("/apis/setpoint.dev/v1/resourcetypes/widgets.demo.example.com", { ...rt.body, spec })).status, 200);
  for (const [name, color] of [
    ["a", "red"],
    ["b", undefined],
  ] as const) {
    const r = await c.post(`${gv}/namespaces/default/widgets`, { metadata: { name }, spec: { ...(color && { color }), size: 3 } });
    assert.equal(r.status, 201, r.text);
  }
});
after(() => s.stop());

const table = (path: string) => c.request("GET", path, { headers: { accept: TABLE } });

describe("Table responses", () => {
  it("a list as Table: Name and the declared columns, no Age unless declared; rows carry PartialObjectMetadata", async () => {
    const r = await table(`${gv}/namespaces/default/widgets`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, "Table");
    assert.equal(r.body.apiVersion, "meta.k8s.io/v1");
    assert.ok(Number(r.body.metadata.resourceVersion) > 0);
    assert.deepEqual(
      r.body.columnDefinitions.map((d: any) => [d.name, d.type, d.priority]),
      [
        ["Name", "string", 0],
        ["Color", "string", 0],
        ["Size", "integer", 1],
        ["Seen", "date", 0],
      ],
      "kube-apiserver adds Age only to a CRD that declares no columns (serveDefaultColumnsIfEmpty)",
    );
    assert.equal(r.body.columnDefinitions[0].format, "name");
    // kube-apiserver 1.32's descriptions: ObjectMeta's swagger docs for Name and Age, and for a column declared
    // without one, apiextensions-apiserver's tableconvertor.go default.
    assert.match(
      r.body.columnDefinitions[0].description,
      /^Name must be unique within a namespace\. Is required when creating resources, .* More info: https:\/\/kubernetes\.io\/docs\/concepts\/overview\/working-with-objects\/names#names$/,
    );
    assert.equal(r.body.columnDefinitions[1].description, "Custom resource definition column (in JSONPath format): .spec.color");
    assert.equal(r.body.rows.length, 2);
    const [a, b] = r.body.rows;
    assert.deepEqual(a.cells, ["a", "red", 3, null]);
    assert.deepEqual(b.cells.slice(0, 2), ["b", null]);
    assert.equal(a.object.kind, "PartialObjectMetadata");
    assert.equal(a.object.apiVersion, "meta.k8s.io/v1");
    assert.equal(a.object.metadata.name, "a");
    assert.equal(a.object.spec, undefined);
  });

  it("a type that declares no columns gets Age, kube's default column; one that declares Age gets it where it says", async () => {
    const plain = await createType(c, { group: "plain.example.com", kind: "Plain", plural: "plains" });
    assert.equal((await c.post(`${plain}/namespaces/default/plains`, { metadata: { name: "p" }, spec: {} })).status, 201);
    const r = await table(`${plain}/namespaces/default/plains`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.body.columnDefinitions.map((d: any) => [d.name, d.type, d.format, d.priority]),
      [
        ["Name", "string", "name", 0],
        ["Age", "date", "", 0],
      ],
    );
    assert.match(
      r.body.columnDefinitions[1].description,
      /^CreationTimestamp is a timestamp representing the server time when this object was created\. .*\n\nPopulated by the system\. Read-only\. Null for lists\./s,
    );
    assert.equal(r.body.rows[0].cells[0], "p");
    assert.match(r.body.rows[0].cells[1], /^\d+s$/);

    const rt = await c.get("/apis/setpoint.dev/v1/resourcetypes/plains.plain.example.com");
    const columns = [
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      { name: "Kind", type: "string", jsonPath: ".kind" },
    ];
    const put = await c.put("/apis/setpoint.dev/v1/resourcetypes/plains.plain.example.com", {
      ...rt.body,
      spec: { ...rt.body.spec, additionalPrinterColumns: columns },
    });
    assert.equal(put.status, 200, put.text);
    const declared = await table(`${plain}/namespaces/default/plains/p`);
    assert.equal(declared.status, 200, declared.text);
    assert.deepEqual(
      declared.body.columnDefinitions.map((d: any) => [d.name, d.description]),
      [
        ["Name", declared.body.columnDefinitions[0].description],
        ["Age", "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp"],
        ["Kind", "Custom resource definition column (in JSONPath format): .kind"],
      ],
    );
    assert.match(declared.body.rows[0].cells[1], /^\d+s$/);
    assert.equal(declared.body.rows[0].cells[2], "Plain");
  });

  it("the RBAC types print kube's own columns: Created At for roles; Role, Age and (priority 1) Users, Groups, ServiceAccounts for bindings", async () => {
    const RBAC = "/apis/rbac.authorization.k8s.io/v1";
    assert.equal((await c.post(`${RBAC}/namespaces/default/roles`, { metadata: { name: "r" }, rules: [] })).status, 201);
    const binding = {
      metadata: { name: "b" },
      roleRef: { kind: "ClusterRole", name: "view" },
      subjects: [
        { kind: "User", name: "ann" },
        { kind: "User", name: "bo" },
        { kind: "Group", name: "devs" },
        { kind: "ServiceAccount", name: "sa", namespace: "ci" },
      ],
    };
    assert.equal((await c.post(`${RBAC}/namespaces/default/rolebindings`, binding)).status, 201);
    const roles = await table(`${RBAC}/namespaces/default/roles`);
    assert.equal(roles.status, 200, roles.text);
    assert.deepEqual(
      roles.body.columnDefinitions.map((d: any) => [d.name, d.type, d.priority]),
      [
        ["Name", "string", 0],
        ["Created At", "date", 0],
      ],
    );
    const [name, createdAt] = roles.body.rows[0].cells;
    assert.equal(name, "r");
    assert.match(createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const bindings = await table(`${RBAC}/namespaces/default/rolebindings/b`);
    assert.equal(bindings.status, 200, bindings.text);
    assert.deepEqual(
      bindings.body.columnDefinitions.map((d: any) => [d.name, d.type, d.priority]),
      [
        ["Name", "string", 0],
        ["Role", "string", 0],
        ["Age", "string", 0],
        ["Users", "string", 1],
        ["Groups", "string", 1],
        ["ServiceAccounts", "string", 1],
      ],
    );
    const cells = bindings.body.rows[0].cells;
    assert.deepEqual([cells[0], cells[1], cells[3], cells[4], cells[5]], ["b", "ClusterRole/view", "ann, bo", "devs", "ci/sa"]);
    assert.match(cells[2], /^\d+s$/);
  });

  it("a column's jsonPath may filter, as a CRD's may (kube evaluates it with client-go's JSONPath)", async () => {
    const gears = await createType(c, { group: "gears.example.com", kind: "Gear", plural: "gears", schema: { spec: { type: "object" } } });
    const rt = await c.get("/apis/setpoint.dev/v1/resourcetypes/gears.gears.example.com");
    const columns = [
      { name: "Wheels", type: "integer", jsonPath: '.spec.parts[?(@.kind=="wheel")].count' },
      { name: "Last", type: "string", jsonPath: ".spec.parts[-1].kind" },
      { name: "Tenth", type: "string", jsonPath: ".spec.parts[9].kind" },
    ];
    const put = await c.put("/apis/setpoint.dev/v1/resourcetypes/gears.gears.example.com", {
      ...rt.body,
      spec: { ...rt.body.spec, additionalPrinterColumns: columns },
    });
    assert.equal(put.status, 200, put.text);
    const parts = [
      { kind: "axle", count: 1 },
      { kind: "wheel", count: 4 },
      { kind: "seat", count: 2 },
    ];
    assert.equal((await c.post(`${gears}/namespaces/default/gears`, { metadata: { name: "cart" }, spec: { parts } })).status, 201);
    const r = await table(`${gears}/namespaces/default/gears`);
    assert.equal(r.status, 200, r.text);
    // An index past the end is an error to client-go: an empty cell, as kube's table convertor leaves it.
    assert.deepEqual(r.body.rows[0].cells.slice(0, 4), ["cart", 4, "seat", null]);
  });

  it("cells as kube's table convertor makes them: a string column prints as client-go does (Go's %v, JSON with sorted keys), an integer column cuts a float", async () => {
    const gauges = await createType(c, { group: "gauges.example.com", kind: "Gauge", plural: "gauges", schema: { spec: { type: "object" } } });
    const rt = await c.get("/apis/setpoint.dev/v1/resourcetypes/gauges.gauges.example.com");
    const columns = [
      { name: "Reading", type: "string", jsonPath: ".spec.reading" },
      { name: "Small", type: "string", jsonPath: ".spec.small" },
      { name: "Limits", type: "string", jsonPath: ".spec.limits" },
      { name: "Whole", type: "integer", jsonPath: ".spec.reading" },
      { name: "Exact", type: "number", jsonPath: ".spec.reading" },
    ];
    const put = await c.put("/apis/setpoint.dev/v1/resourcetypes/gauges.gauges.example.com", {
      ...rt.body,
      spec: { ...rt.body.spec, additionalPrinterColumns: columns },
    });
    assert.equal(put.status, 200, put.text);
    const spec = { reading: 1234567.5, small: 0.00001, limits: { z: 1, a: [2, 1], "<": "&" } };
    assert.equal((await c.post(`${gauges}/namespaces/default/gauges`, { metadata: { name: "g" }, spec })).status, 201);
    const r = await table(`${gauges}/namespaces/default/gauges`);
    assert.equal(r.status, 200, r.text);
    // kube-apiserver 1.32: fmt's %v of a float64, json.Marshal of a map (HTML-safe: \u003c for <), int64(float64) for an integer column.
    assert.deepEqual(r.body.rows[0].cells.slice(0, 6), ["g", "1.2345675e+06", "1e-05", '{"\\u003c":"\\u0026","a":[2,1],"z":1}', 1234567, 1234567.5]);
  });

  it("date and null cells as kube-apiserver 1.32's CRD table convertor makes them: Go's RFC 3339 parse, <invalid>, <unknown>, <no value>", async () => {
    const clocks = await createType(c, { group: "clocks.example.com", kind: "Clock", plural: "clocks", schema: { spec: { type: "object" } } });
    const rt = await c.get("/apis/setpoint.dev/v1/resourcetypes/clocks.clocks.example.com");
    const put = await c.put("/apis/setpoint.dev/v1/resourcetypes/clocks.clocks.example.com", {
      ...rt.body,
      spec: {
        ...rt.body.spec,
        additionalPrinterColumns: [
          { name: "At", type: "date", jsonPath: ".spec.at" },
          { name: "Text", type: "string", jsonPath: ".spec.at" },
        ],
      },
    });
    assert.equal(put.status, 200, put.text);
    // What apiextensions-apiserver's cellForJSONValue does with each (k8s.io/apiextensions-apiserver 0.32,
    // tableconvertor.go): a string goes through metav1.Time's UnmarshalQueryParameter ("" and "null" are
    // the zero time; else time.Parse(time.RFC3339): an error is <invalid>), then
    // ConvertToHumanReadableDateType (zero: <unknown>; else HumanDuration, <invalid> from 2s ahead);
    // anything but a string is an empty cell. A string column given null prints client-go's "<no value>".
    const cases: [string, unknown, RegExp | string | null][] = [
      ["date-only", "2020-01-01", "<invalid>"],
      ["words", "yesterday", "<invalid>"],
      ["lowercase", "2020-01-01t00:00:00z", "<invalid>"],
      ["no-offset", "2020-01-01T00:00:00", "<invalid>"],
      ["feb-30", "2024-02-30T00:00:00Z", "<invalid>"],
      ["hour-24", "2020-01-01T24:00:00Z", "<invalid>"],
      ["ahead", "2999-01-01T00:00:00Z", "<invalid>"],
      ["empty", "", "<unknown>"],
      ["null-text", "null", "<unknown>"],
      ["go-zero", "0001-01-01T00:00:00Z", "<unknown>"],
      ["one-digit-hour", "2020-01-01T1:00:00Z", /^\d+y\d+d$/],
      ["comma", "2020-01-01T00:00:00,5Z", /^\d+y\d+d$/],
      ["offset", "2020-01-01T00:00:00+05:30", /^\d+y\d+d$/],
      ["number", 5, null],
    ];
    for (const [name, at] of cases) {
      const r = await c.post(`${clocks}/namespaces/default/clocks`, { metadata: { name }, spec: { at } });
      assert.equal(r.status, 201, r.text);
    }
    assert.equal((await c.post(`${clocks}/namespaces/default/clocks`, { metadata: { name: "nothing" }, spec: { at: null } })).status, 201);
    const r = await table(`${clocks}/namespaces/default/clocks`);
    assert.equal(r.status, 200, r.text);
    const rows = new Map<string, unknown[]>(r.body.rows.map((row: { cells: unknown[] }) => [row.cells[0], row.cells]));
    for (const [name, , expected] of cases) {
      const got = rows.get(name)?.[1];
      if (expected instanceof RegExp) assert.match(String(got), expected, name);
      else assert.equal(got, expected, name);
    }
    assert.deepEqual(rows.get("nothing")?.slice(1, 3), [null, "<no value>"]);
  });

  it("includeObject=Object carries the whole object; None none; anything else is 400", async () => {
    const full = await table(`${gv}/namespaces/default/widgets?includeObject=Object`);
    assert.equal(full.body.rows[0].object.kind, "Widget");
    assert.equal(full.body.rows[0].object.spec.color, "red");
    const none = await table(`${gv}/namespaces/default/widgets?includeObject=None`);
    assert.equal(none.body.rows[0].object, undefined);
    assertStatus(await table(`${gv}/namespaces/default/widgets?includeObject=All`), 400, "BadRequest");
  });

  it("paged lists keep their continue token; a single get is a Table of one row; v1beta1 when asked first", async () => {
    const page = await table(`${gv}/namespaces/default/widgets?limit=1`);
    assert.equal(page.body.rows.length, 1);
    assert.equal(typeof page.body.metadata.continue, "string");
    const one = await table(`${gv}/namespaces/default/widgets/a`);
    assert.equal(one.body.kind, "Table");
    assert.deepEqual(
      one.body.rows.map((row: any) => row.cells[0]),
      ["a"],
    );
    const beta = await c.request("GET", `${gv}/namespaces/default/widgets/a`, { headers: { accept: "application/json;as=Table;v=v1beta1;g=meta.k8s.io" } });
    assert.equal(beta.body.apiVersion, "meta.k8s.io/v1beta1");
  });

  it("without as=Table (or with an as= the server cannot make) the answer is the object", async () => {
    assert.equal((await c.get(`${gv}/namespaces/default/widgets/a`)).body.kind, "Widget");
    const other = await c.request("GET", `${gv}/namespaces/default/widgets/a`, {
      headers: { accept: "application/json;as=Widget;v=v9;g=x, application/json" },
    });
    assert.equal(other.body.kind, "Widget");
    const status = await c.request("GET", `${gv}/namespaces/default/widgets/a/status`, { headers: { accept: TABLE } });
    assert.equal(status.body.kind, "Widget");
  });

  it("a watch as Table sends each event's object as a one-row Table", async () => {
    const list = await table(`${gv}/namespaces/default/widgets`);
    const res = await fetch(`${s.url}${gv}/namespaces/default/widgets?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`, {
      headers: { accept: TABLE },
      signal: AbortSignal.timeout(10_000),
    });
    const reader = res.body!.getReader();
    assert.equal((await c.patch(`${gv}/namespaces/default/widgets/a`, { spec: { color: "blue" } })).status, 200);
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
    await reader.cancel();
    const event = JSON.parse(text.split("\n")[0]!);
    assert.equal(event.type, "MODIFIED");
    assert.equal(event.object.kind, "Table");
    assert.equal(event.object.columnDefinitions.length, 4);
    assert.deepEqual(event.object.rows[0].cells.slice(0, 2), ["a", "blue"]);
    assert.equal(event.object.rows[0].object.kind, "PartialObjectMetadata");
  });

  it("the same negotiation serves Tables on write answers, in YAML, and on WebSocket watches", async () => {
    const made = await c.request("POST", `${gv}/namespaces/default/widgets`, {
      headers: { accept: TABLE },
      body: { metadata: { name: "t-write" }, spec: { color: "green" } },
    });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.kind, "Table");
    assert.deepEqual(made.body.rows[0].cells.slice(0, 2), ["t-write", "green"]);
    const yaml = await c.request("GET", `${gv}/namespaces/default/widgets/t-write`, { headers: { accept: "application/yaml;as=Table;v=v1;g=meta.k8s.io" } });
    assert.equal(yaml.headers.get("content-type"), "application/yaml");
    assert.match(yaml.text, /^kind: Table$/m);

    const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}${gv}/namespaces/default/widgets?resourceVersion=${made.body.metadata.resourceVersion}`, {
      headers: { accept: TABLE },
    });
    try {
      const first = new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no WebSocket event within 10 s")), 10_000);
        ws.once("message", (data) => {
          clearTimeout(timer);
          resolve(JSON.parse(data.toString()));
        });
        ws.once("error", reject);
      });
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("unexpected-response", () => reject(new Error("WebSocket watch refused")));
      });
      assert.equal((await c.patch(`${gv}/namespaces/default/widgets/t-write`, { spec: { color: "teal" } })).status, 200);
      const event = await first;
      assert.equal(event.type, "MODIFIED");
      assert.equal(event.object.kind, "Table");
      assert.deepEqual(event.object.rows[0].cells.slice(0, 2), ["t-write", "teal"]);
    } finally {
      ws.close();
    }
    assert.equal((await c.del(`${gv}/namespaces/default/widgets/t-write`)).status, 200);
  });

  it("discovery lists short names; an unknown short name is not a type", async () => {
    const rl = await c.get(gv);
    assert.deepEqual(rl.body.resources.find((r: any) => r.name === "widgets").shortNames, ["wd"]);
    const sys = await c.get("/apis/setpoint.dev/v1");
    assert.deepEqual(sys.body.resources.find((r: any) => r.name === "resourcetypes").shortNames, ["rt"]);
    assert.deepEqual((await c.get("/api")).body.versions, []);
  });
});
