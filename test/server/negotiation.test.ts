// The Accept header read as kube-apiserver's handlers/negotiation reads it:
// ranges by quality, then specificity, then order; `as`/`g`/`v` ask for a
// meta.k8s.io form (Table, PartialObjectMetadata, PartialObjectMetadataList);
// a header with no range the server writes (every one a form it cannot make,
// text/html, protobuf) is 406.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ApiError } from "../../src/errors.ts";
import { checkShape, renderingOf, type Rendering } from "../../src/server/negotiation.ts";
import { wantsYaml } from "../../src/server/yaml-response.ts";

const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
// What client-go's metadata client (k8s.io/client-go/metadata) sends on a get, patch and watch, and on a list.
const METADATA_GET =
  "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const METADATA_LIST =
  "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

const json: Rendering = { yaml: false };
const yaml: Rendering = { yaml: true };
const form = (kind: string, v = "v1", asYaml = false): Rendering => ({ yaml: asYaml, as: { kind, apiVersion: `meta.k8s.io/${v}` } as Rendering["as"] });

function assertNotAcceptable(fn: () => unknown, message: RegExp, what: string): void {
  assert.throws(fn, (err: unknown) => err instanceof ApiError && err.reason === "NotAcceptable" && message.test(err.message), what);
}

describe("renderingOf", () => {
  it("reads the forms in any spelling kube-apiserver takes, and JSON or YAML otherwise", () => {
    const cases: Array<[string | undefined, Rendering]> = [
      [undefined, json],
      ["", json],
      ["application/json", json],
      ["application/json, */*", json],
      ["*/*", json],
      ["text/html, application/json;q=0.5", json],
      ["application/vnd.kubernetes.protobuf, application/json", json],
      ["application/vnd.kubernetes.protobuf, */*", json],
      ["application/yaml", yaml],
      ["application/json, application/yaml", json],
      ["*/*, application/yaml", yaml],
      [TABLE, form("Table")],
      ["application/json ; as = Table ; v = v1 ; g = meta.k8s.io", form("Table")],
      ["APPLICATION/JSON;as=Table;v=v1beta1;g=meta.k8s.io", form("Table", "v1beta1")],
      // Go's mime.ParseMediaType gives parameter names in lower case.
      ["application/json;As=Table;V=v1;G=meta.k8s.io", form("Table")],
      ['application/json;as="Table";v=v1;g=meta.k8s.io', form("Table")],
      ["application/json;charset=utf-8;as=Table;v=v1;g=meta.k8s.io", form("Table")],
      ["application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json", json],
      // By quality first, whatever the order.
      ["application/json;q=0.9, application/json;as=Table;v=v1;g=meta.k8s.io", form("Table")],
      ["application/json;as=Table;v=v1;g=meta.k8s.io;q=0, application/json", json],
      [METADATA_GET, form("PartialObjectMetadata")],
      [METADATA_LIST, form("PartialObjectMetadataList")],
      ["application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1", form("PartialObjectMetadata", "v1beta1")],
      ["application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io, */*;as=Table;g=meta.k8s.io;v=v1", form("PartialObjectMetadata")],
      ["*/*;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", form("PartialObjectMetadataList")],
      ["application/yaml;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", form("PartialObjectMetadata", "v1", true)],
      ["application/yaml;as=Table;g=meta.k8s.io;v=v1beta1", form("Table", "v1beta1", true)],
      // Ranges asking for a form the server cannot make are skipped.
      ["application/json;as=Widget;v=v9;g=x, application/json", json],
      ["application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2, application/yaml", yaml],
      ["application/json;as=Foo;g=meta.k8s.io;v=v1, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", form("PartialObjectMetadata")],
    ];
    for (const [accept, want] of cases) assert.deepEqual(renderingOf(accept, { tables: true }), want, String(accept));
  });

  it("an endpoint without Tables skips the Table ranges", () => {
    assert.deepEqual(renderingOf(TABLE, { tables: false }), json);
    assert.deepEqual(renderingOf(METADATA_GET, { tables: false }), form("PartialObjectMetadata"));
    assertNotAcceptable(() => renderingOf("application/json;as=Table;v=v1;g=meta.k8s.io", { tables: false }), /only the following media types/, "Table only");
  });

  it("406 when every range asks for a form the server cannot make, or a media type it does not write, as kube", () => {
    for (const accept of [
      "text/html",
      "text/plain",
      "application/vnd.kubernetes.protobuf",
      "application/cbor",
      "application/json;q=0",
      "text/html, application/yaml;q=0",
      "application/json;as=Foo;g=meta.k8s.io;v=v1",
      "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2",
      "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
      "application/json;v=v1",
      "application/vnd.kubernetes.protobuf, application/json;as=PartialObjectMetadata",
    ]) {
      assertNotAcceptable(
        () => renderingOf(accept, { tables: true }),
        /^only the following media types are accepted: application\/json, application\/yaml$/,
        accept,
      );
    }
  });
});

describe("checkShape", () => {
  it("the List form fits lists only, the object form objects only; Tables and plain answers fit both", () => {
    for (const list of [true, false]) {
      checkShape(json, list);
      checkShape(form("Table"), list);
    }
    checkShape(form("PartialObjectMetadata"), false);
    checkShape(form("PartialObjectMetadataList"), true);
    assertNotAcceptable(
      () => checkShape(form("PartialObjectMetadataList"), false),
      /^you requested PartialObjectMetadataList, but the requested object is not a list/,
      "List form on an object",
    );
    assertNotAcceptable(
      () => checkShape(form("PartialObjectMetadata", "v1beta1"), true),
      /^you requested PartialObjectMetadata, but the requested object is a list/,
      "object form on a list",
    );
  });
});

describe("renderingOf on random headers", () => {
  const media = fc.constantFrom("application/json", "application/yaml", "application/*", "*/*", "text/html", "application/vnd.kubernetes.protobuf");
  const form = fc.record(
    {
      as: fc.constantFrom("Table", "PartialObjectMetadata", "PartialObjectMetadataList", "Foo"),
      g: fc.constantFrom("meta.k8s.io", "example.com"),
      v: fc.constantFrom("v1", "v1beta1", "v2"),
    },
    { requiredKeys: [] },
  );
  const range = fc.record({ media, form: fc.option(form, { nil: undefined }), q: fc.option(fc.constantFrom("0", "0.5", "1"), { nil: undefined }) });
  const header = (ranges: Array<{ media: string; form?: Record<string, string>; q?: string }>) =>
    ranges.map((r) => [r.media, ...Object.entries(r.form ?? {}).map(([k, v]) => `${k}=${v}`), ...(r.q === undefined ? [] : [`q=${r.q}`])].join(";")).join(", ");

  it("answers or throws 406; without forms it picks YAML exactly when wantsYaml does; a form it picks was asked for", () => {
    fc.assert(
      fc.property(fc.array(range, { maxLength: 5 }), fc.boolean(), (ranges, tables) => {
        const accept = header(ranges);
        let r: Rendering;
        try {
          r = renderingOf(accept, { tables });
        } catch (err) {
          assert.ok(err instanceof ApiError && err.reason === "NotAcceptable", String(err));
          // Only when no acceptable range asks for JSON or YAML without a form.
          const written = ["application/json", "application/yaml", "application/*", "*/*"];
          assert.ok(
            !ranges.some((x) => x.q !== "0" && written.includes(x.media) && (x.form === undefined || Object.keys(x.form).length === 0)),
            `${accept}: 406`,
          );
          return;
        }
        const formless = ranges.every((x) => x.form === undefined || Object.keys(x.form).length === 0);
        if (formless) {
          assert.equal(r.as, undefined, accept);
          assert.equal(r.yaml, wantsYaml(accept), accept);
        }
        if (r.as) {
          const [, v] = r.as.apiVersion.split("/");
          assert.ok(
            ranges.some((x) => x.q !== "0" && x.form?.as === r.as!.kind && x.form.g === "meta.k8s.io" && x.form.v === v),
            `${accept} -> ${JSON.stringify(r)}`,
          );
          if (r.as.kind === "Table") assert.ok(tables, accept);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
