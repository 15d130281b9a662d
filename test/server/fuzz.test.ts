// Robustness of the HTTP edge: a few hundred randomized bad requests (seeded,
// so a failure reproduces with SETPOINT_FUZZ_SEED=<seed>) must each get a
// well-formed Kubernetes Status with a 4xx code, never a 500 and never a hang.
// Afterwards the server must still serve: nothing was written, the data
// written before is intact, and create/get/list/watch work.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseFieldSelector, parseLabelSelector } from "../../src/api/selector.ts";
import { Rng } from "../helpers/fuzz.ts";
import { api, assertStatus, createType, startTestServer, watchUntil, type ApiClient, type Reply, type TestServer } from "../helpers/server.ts";

const SEED = Number(process.env.SETPOINT_FUZZ_SEED ?? 0x5e7901);
const COUNT = Number(process.env.SETPOINT_FUZZ_COUNT ?? 400);
const PARALLEL = 8;
const REQUEST_TIMEOUT_MS = 8000;

const GROUP = "fuzz.example.com";
const GV = `/apis/${GROUP}/v1`;
const NS = "keep";
const coll = (ns = NS) => `${GV}/namespaces/${encodeURIComponent(ns)}/specimens`;
const SEEDED = ["s0", "s1", "s2", "s3", "s4"];

interface FuzzCase {
  label: string;
  method: string;
  path: string;
  body?: string | Buffer;
  contentType?: string;
  /** The codes this bad request may get; every one is 4xx. */
  allowed: number[];
}

const LOWER = "abcdefghijklmnopqrstuvwxyz0123456789";
const UNICODE = "üñïçødé名前テスト🙂🚀\u200b\u202e\u0301Ωж₿ﬁ";
const NOISE = `${LOWER}ABCXYZ !"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~\t${UNICODE}`;
const ANY_4XX = [400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429];

function validObject(r: Rng, name = `f-${r.string(8, LOWER)}`): Record<string, any> {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: "Specimen",
    metadata: { name, labels: { app: r.pick(["web", "db"]) } },
    spec: { size: r.int(1, 100), tags: ["a"] },
  };
}
const existing = (r: Rng) => `${coll()}/${r.pick(SEEDED)}`;
const objectPath = (r: Rng) => (r.chance(0.7) ? existing(r) : `${coll()}/missing-${r.string(5, LOWER)}`);
const statusPath = (r: Rng) => `${objectPath(r)}/status`;

/** A JSON text that does not parse: a proper prefix of an object, or noise. */
function brokenJson(r: Rng): string {
  for (let i = 0; i < 20; i++) {
    let text: string;
    if (r.chance(0.6)) {
      const full = JSON.stringify(validObject(r));
      text = full.slice(0, r.int(1, full.length - 1));
    } else {
      text =
        r.pick([
          "{",
          "[",
          '{"metadata": ',
          "{'a': 1}",
          '{"a": 1,}',
          "{a: 1}",
          "nul",
          "tru",
          '"unterminated',
          "01",
          "{}}",
          "[1,]",
          "\u0000",
          "NaN",
          "Infinity",
        ]) + (r.chance(0.5) ? r.string(r.int(1, 40), NOISE) : "");
    }
    try {
      JSON.parse(text);
    } catch {
      return text;
    }
  }
  return "{";
}

/** A label selector the server's parser rejects. */
function badLabelSelector(r: Rng): string {
  const tokens = [
    "a",
    "app",
    "web",
    "in",
    "notin",
    "(",
    ")",
    ",",
    "=",
    "==",
    "!=",
    "!",
    "<",
    ">",
    " ",
    "x/y",
    "-bad-",
    "ü",
    "%",
    "{",
    "$",
    "a b",
    "k".repeat(70),
    "gt",
    "1.5",
  ];
  for (let i = 0; i < 50; i++) {
    const text = Array.from({ length: r.int(1, 8) }, () => r.pick(tokens)).join(r.pick(["", " ", ","]));
    try {
      parseLabelSelector(text);
    } catch {
      return text;
    }
  }
  return "a in (";
}

/** A field selector the server's parser rejects. */
function badFieldSelector(r: Rng): string {
  const fields = ["metadata.name", "metadata.namespace", "spec.size", "status.phase", "metadata.labels", "", "x", r.string(5, NOISE)];
  for (let i = 0; i < 50; i++) {
    const text = Array.from({ length: r.int(1, 3) }, () => `${r.pick(fields)}${r.pick(["=", "==", "!=", "", "=!=", "<"])}${r.string(r.int(0, 5), NOISE)}`).join(
      ",",
    );
    try {
      parseFieldSelector(text);
    } catch {
      return text;
    }
  }
  return "spec.size=1";
}

const BAD_REVISIONS = ["abc", "-1", "1.5", "1e3", " 1", "0x10", "12345678901234567", "١٢", "1 ", "+1", "NaN", "∞", "1,2", "9".repeat(40), "0.0"];
// Not integers, or past int64 (kube takes any int64: a list's limit of -1 is no limit).
const BAD_COUNTS = ["abc", "1.5", "9223372036854775808", "-9223372036854775809", "1e2", "∞", "0x1"];

const q = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;

const generators: Array<(r: Rng) => FuzzCase> = [
  // truncated or garbled JSON bodies on every verb that reads one
  (r) => {
    const body = brokenJson(r);
    const verb = r.pick(["POST", "PUT", "PUTS", "PATCH", "PATCHS", "DELETE"]);
    if (verb === "POST") return { label: "broken JSON create", method: "POST", path: coll(), body, allowed: [400] };
    if (verb === "PUT") return { label: "broken JSON update", method: "PUT", path: objectPath(r), body, allowed: [400] };
    if (verb === "PUTS") return { label: "broken JSON status update", method: "PUT", path: statusPath(r), body, allowed: [400] };
    if (verb === "DELETE") return { label: "broken JSON delete options", method: "DELETE", path: objectPath(r), body, allowed: [400] };
    const contentType = r.pick(["application/merge-patch+json", "application/json-patch+json"]);
    return { label: "broken JSON patch", method: "PATCH", path: verb === "PATCH" ? objectPath(r) : statusPath(r), body, contentType, allowed: [400] };
  },
  // invalid UTF-8 and binary bodies
  (r) => {
    const bytes = Buffer.from(Array.from({ length: r.int(1, 200) }, () => r.int(0, 255)));
    bytes[0] = r.pick([0xff, 0xfe, 0xc3, 0x80, 0x00]);
    const create = r.chance(0.5);
    return { label: "binary body", method: create ? "POST" : "PUT", path: create ? coll() : existing(r), body: bytes, allowed: [400] };
  },
  // valid JSON that is not an object
  (r) => {
    const body = r.pick(["[]", "[1,2]", "1", "-0.5", '"a string"', "true", "false", "null", '["metadata"]']);
    const where = r.int(0, 3);
    if (where === 0) return { label: "non-object create", method: "POST", path: coll(), body, allowed: [400] };
    if (where === 1) return { label: "non-object update", method: "PUT", path: r.chance(0.5) ? objectPath(r) : statusPath(r), body, allowed: [400] };
    if (where === 2)
      return {
        label: "non-object merge patch",
        method: "PATCH",
        path: objectPath(r),
        body: body === "[]" || body === "[1,2]" ? '"x"' : body,
        contentType: "application/merge-patch+json",
        allowed: [400],
      };
    return {
      label: "non-array JSON patch",
      method: "PATCH",
      path: statusPath(r),
      body: body.startsWith("[") ? "{}" : body,
      contentType: "application/json-patch+json",
      allowed: [400],
    };
  },
  // an object with one field of the wrong type or value
  (r) => {
    const create = r.chance(0.5);
    const target = create ? undefined : r.pick(SEEDED);
    const o = validObject(r, target);
    const wrong = (...v: unknown[]) => r.pick(v);
    const mutation = r.int(0, 10);
    let what: string;
    switch (mutation) {
      case 0:
        o.metadata = wrong(5, "x", [], true);
        what = "metadata";
        break;
      case 1:
        o.metadata.name = wrong(5, {}, [], true, 1.5);
        what = "metadata.name";
        break;
      case 2:
        o.metadata.labels = wrong([], "app=web", 5, { k: 5 }, { k: {} }, { "bad key": "v" }, { k: "bad value!" }, { "": "v" });
        what = "labels";
        break;
      case 3:
        o.metadata.annotations = wrong([], "x", 7, { k: 5 }, { "bad key!": "v" }, { k: null });
        what = "annotations";
        break;
      case 4:
        o.metadata.finalizers = wrong("x", 5, [1], ["Bad Finalizer"], ["a/b/c"], ["x", "x"], {});
        what = "finalizers";
        break;
      case 5:
        o.spec = wrong("x", 5, [], null, true);
        what = "spec";
        break;
      case 6:
        o.spec.size = wrong("x", -1, 0, 101, 1.5, null, [], {}, "1");
        what = "spec.size";
        break;
      case 7:
        o.spec.tags = wrong("x", [1], [null], ["a", "b", "c", "d", "e", "f"], { a: 1 });
        what = "spec.tags";
        break;
      case 8:
        o.apiVersion = wrong("v1", 5, `${GROUP}/v2`, "other.example.com/v1", "x/y/z");
        what = "apiVersion";
        break;
      case 9:
        o.kind = wrong("Other", 5, "specimen", []);
        what = "kind";
        break;
      default:
        o.metadata.namespace = wrong("other", 5, "Bad_NS");
        what = "metadata.namespace";
        break;
    }
    return {
      label: `wrong ${what} on ${create ? "create" : "update"}`,
      method: create ? "POST" : "PUT",
      path: create ? coll() : `${coll()}/${target}`,
      body: JSON.stringify(o),
      allowed: [400, 422],
    };
  },
  // a status of the wrong shape on /status
  (r) => {
    // (in a merge patch `phase: null` removes the field, which is fine)
    const status = r.pick<unknown>([{ phase: "Exploded" }, { phase: 5 }, { phase: true }, "x", 5, [], { observedGeneration: "one" }, { phase: ["Done"] }]);
    if (r.chance(0.5))
      return { label: "bad status put", method: "PUT", path: statusPath(r), body: JSON.stringify({ metadata: {}, status }), allowed: [404, 422] };
    return {
      label: "bad status patch",
      method: "PATCH",
      path: statusPath(r),
      body: JSON.stringify({ status }),
      contentType: "application/merge-patch+json",
      allowed: [404, 422],
    };
  },
  // huge strings where they are bounded
  (r) => {
    const o = validObject(r);
    const kind = r.int(0, 5);
    if (kind === 0)
      return {
        label: "long name",
        method: "POST",
        path: coll(),
        body: JSON.stringify({ ...o, metadata: { name: r.string(r.int(254, 20_000), "abc") } }),
        allowed: [422],
      };
    if (kind === 1) return { label: "long namespace", method: "POST", path: coll(r.string(r.int(64, 2000), "abc")), body: JSON.stringify(o), allowed: [422] };
    if (kind === 2)
      return {
        label: "long label value",
        method: "POST",
        path: coll(),
        body: JSON.stringify({ ...o, metadata: { ...o.metadata, labels: { k: r.string(r.int(64, 50_000), "abc") } } }),
        allowed: [422],
      };
    if (kind === 3)
      return {
        label: "long label key",
        method: "POST",
        path: coll(),
        body: JSON.stringify({ ...o, metadata: { ...o.metadata, labels: { [r.string(r.int(64, 5000), "abc")]: "v" } } }),
        allowed: [422],
      };
    if (kind === 4)
      return {
        label: "annotations over 256 KiB",
        method: "POST",
        path: coll(),
        body: JSON.stringify({ ...o, metadata: { ...o.metadata, annotations: { big: r.string(300_000, "ab") } } }),
        allowed: [422],
      };
    return {
      label: "long note",
      method: "POST",
      path: coll(),
      body: JSON.stringify({ ...o, spec: { ...o.spec, note: r.string(r.int(101, 10_000), NOISE) } }),
      allowed: [422],
    };
  },
  // bodies over the size bounds (rarely: they are big)
  (r) => {
    if (r.chance(0.7)) return generators[0]!(r);
    const o = validObject(r);
    if (r.chance(0.5))
      return {
        label: "object over 1.5 MiB",
        method: "POST",
        path: coll(),
        body: JSON.stringify({ ...o, spec: { ...o.spec, data: "x".repeat(1_600_000) } }),
        allowed: [413],
      };
    return {
      label: "body over 3 MiB",
      method: r.pick(["POST", "PUT"]),
      path: r.chance(0.5) ? coll() : existing(r),
      body: `{"a":"${"x".repeat(3_200_000)}"}`,
      allowed: [405, 413],
    };
  },
  // JSON nested deeper than the server handles
  (r) => {
    const depth = r.int(600, 200_000);
    const deep = r.chance(0.5) ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
    const o = JSON.stringify(validObject(r));
    const where = r.int(0, 3);
    const inSpec = o.replace('"tags":["a"]', `"tags":["a"],"deep":${deep}`);
    if (where === 0) return { label: "deep create", method: "POST", path: coll(), body: inSpec, allowed: [400, 413] };
    if (where === 1)
      return { label: "deep update", method: "PUT", path: `${coll()}/s2`, body: inSpec.replace(/"name":"[^"]*"/, '"name":"s2"'), allowed: [400, 413] };
    if (where === 2)
      return {
        label: "deep merge patch",
        method: "PATCH",
        path: r.chance(0.5) ? existing(r) : `${existing(r)}/status`,
        body: `{"status":{"phase":${deep}},"spec":{"deep":${deep}}}`,
        contentType: "application/merge-patch+json",
        allowed: [400, 413],
      };
    return {
      label: "deep JSON patch",
      method: "PATCH",
      path: existing(r),
      body: `[{"op":"add","path":"/spec/deep","value":${deep}}]`,
      contentType: "application/json-patch+json",
      allowed: [400, 413],
    };
  },
  // bad label and field selectors on list, watch and deletecollection
  (r) => {
    const params: Record<string, string> = r.chance(0.6) ? { labelSelector: badLabelSelector(r) } : { fieldSelector: badFieldSelector(r) };
    const mode = r.int(0, 3);
    const path = r.chance(0.5) ? coll() : `${GV}/specimens`;
    if (mode === 0) return { label: "bad selector list", method: "GET", path: path + q(params), allowed: [400] };
    if (mode === 1) return { label: "bad selector watch", method: "GET", path: path + q({ ...params, watch: "true" }), allowed: [400] };
    if (mode === 2) return { label: "bad selector deletecollection", method: "DELETE", path: coll() + q(params), allowed: [400] };
    return {
      label: "bad selector watch with rv",
      method: "GET",
      path: path + q({ ...params, watch: "1", resourceVersion: "0", allowWatchBookmarks: "true" }),
      allowed: [400],
    };
  },
  // bad list and watch parameters
  (r) => {
    const watch = r.chance(0.5);
    const path = r.chance(0.5) ? coll() : `${GV}/specimens`;
    if (!watch) {
      const p = r.pick(["resourceVersion", "limit", "continue"]);
      const value =
        p === "resourceVersion"
          ? r.pick(BAD_REVISIONS)
          : p === "limit"
            ? r.pick(BAD_COUNTS)
            : r.pick([
                "garbage",
                r.string(r.int(1, 60), NOISE),
                Buffer.from('{"v":2,"rv":1,"ns":"","n":""}').toString("base64url"),
                Buffer.from('{"v":1,"rv":"x","ns":"","n":""}').toString("base64url"),
              ]);
      return { label: `bad list ${p}`, method: "GET", path: path + q({ [p]: value, limit: p === "limit" ? value : "5" }), allowed: [400] };
    }
    // No boolean here: as kube, any value of allowWatchBookmarks or sendInitialEvents is true or false, none is bad.
    const p = r.pick(["resourceVersion", "timeoutSeconds"]);
    const value = p === "resourceVersion" ? r.pick(BAD_REVISIONS) : r.pick([...BAD_COUNTS, "-1"]);
    return { label: `bad watch ${p}`, method: "GET", path: path + q({ watch: "true", [p]: value }), allowed: [400] };
  },
  // bad resourceVersions and preconditions in bodies
  (r) => {
    const kind = r.int(0, 4);
    const bad = r.pick(BAD_REVISIONS);
    if (kind === 0)
      return {
        label: "bad body resourceVersion",
        method: "PUT",
        path: existing(r),
        body: JSON.stringify({ ...validObject(r, "s0"), metadata: { name: "s0", resourceVersion: bad } }),
        allowed: [400],
      };
    if (kind === 1)
      return {
        label: "stale body resourceVersion",
        method: "PUT",
        path: `${coll()}/s1`,
        body: JSON.stringify({ ...validObject(r, "s1"), metadata: { name: "s1", resourceVersion: String(r.int(1_000_000, 2_000_000)) } }),
        allowed: [409],
      };
    if (kind === 2)
      return {
        label: "bad precondition resourceVersion",
        method: "DELETE",
        path: existing(r),
        body: JSON.stringify({ preconditions: { resourceVersion: bad } }),
        allowed: [400],
      };
    if (kind === 3)
      return {
        label: "stale precondition",
        method: "DELETE",
        path: existing(r),
        body: JSON.stringify({ preconditions: r.chance(0.5) ? { resourceVersion: String(r.int(1_000_000, 2_000_000)) } : { uid: r.string(36, LOWER) } }),
        allowed: [409],
      };
    return {
      label: "bad delete options",
      method: "DELETE",
      path: existing(r),
      body: r.pick(["[]", "5", '"x"', '{"preconditions": 5}', '{"preconditions": []}', '{"preconditions": "rv"}']),
      allowed: [400],
    };
  },
  // unknown paths, with any method
  (r) => {
    const seg = () =>
      r.pick([
        () => r.string(r.int(1, 20), LOWER),
        () => encodeURIComponent(r.string(r.int(1, 10), UNICODE)),
        () => r.pick(["%zz", "%E0%A4%A", "%", "%00", "%2F", "a%20b", "%FF"]),
        () => r.string(r.int(200, 2000), "abc"),
        () => "~" + r.string(3, LOWER),
      ])();
    const method = r.pick(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE", "PROPFIND"]);
    const kind = r.int(0, 4);
    let path: string;
    if (kind === 0) path = `/apis/${seg()}.nope/${seg()}`;
    else if (kind === 1) path = `/apis/${seg()}.nope/v1/namespaces/${seg()}/${seg()}/${seg()}`;
    else if (kind === 2) path = `${GV}/namespaces/${NS}/${seg()}s`;
    else if (kind === 3) path = `/${seg()}/${seg()}`;
    else path = `${coll()}/s0/${seg()}`;
    const body = method === "GET" || method === "OPTIONS" || method === "PURGE" || method === "PROPFIND" ? undefined : JSON.stringify(validObject(r));
    return {
      label: "unknown path",
      method,
      path,
      body,
      contentType: method === "PATCH" ? "application/merge-patch+json" : undefined,
      allowed: [400, 404, 405],
    };
  },
  // methods a path does not allow
  (r) => {
    const cases: Array<[string, string]> = [
      ["PUT", coll()],
      ["PATCH", coll()],
      ["PUT", `${GV}/specimens`],
      ["POST", existing(r)],
      ["POST", `${existing(r)}/status`],
      ["DELETE", `${existing(r)}/status`],
      ["OPTIONS", existing(r)],
      ["PURGE", coll()],
      ["REPORT", `${existing(r)}/status`],
      ["PROPFIND", existing(r)],
      ["POST", "/apis"],
      ["DELETE", "/api"],
      ["PUT", "/version"],
      ["POST", "/metrics"],
      ["PATCH", GV],
      ["DELETE", `/apis/${GROUP}`],
    ];
    const [method, path] = r.pick(cases);
    return {
      label: "wrong method",
      method,
      path,
      body: r.chance(0.5) ? JSON.stringify(validObject(r)) : undefined,
      contentType: method === "PATCH" ? "application/merge-patch+json" : undefined,
      allowed: [405],
    };
  },
  // patches that cannot apply, or have the wrong content type
  (r) => {
    const path = r.chance(0.7) ? existing(r) : `${existing(r)}/status`;
    const kind = r.int(0, 5);
    if (kind === 0) {
      const contentType = r.pick([
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/json",
        "text/plain",
        "application/merge-patch+jsonx",
        "application/xml",
        r.string(8, LOWER),
      ]);
      return { label: "patch content type", method: "PATCH", path, body: JSON.stringify({ spec: { size: 2 } }), contentType, allowed: [415] };
    }
    if (kind === 1) {
      const op = r.pick<unknown>([
        { op: "test", path: "/spec/size", value: "never-this" },
        { op: "remove", path: "/spec/nothing" },
        { op: "replace", path: "/spec/missing/deeper", value: 1 },
        { op: "move", from: "/spec/nothing", path: "/spec/x" },
        { op: "copy", from: "/nope", path: "/spec/x" },
        { op: "test", path: "/metadata/name", value: "other" },
      ]);
      return {
        label: "JSON patch that cannot apply",
        method: "PATCH",
        path,
        body: JSON.stringify([op, { op: "replace", path: "/spec/size", value: 99 }]),
        contentType: "application/json-patch+json",
        allowed: [422],
      };
    }
    if (kind === 2) {
      const op = r.pick<unknown>([
        { op: "frobnicate", path: "/spec" },
        { op: "add", value: 1 },
        { op: "add", path: "spec", value: 1 },
        5,
        null,
        "x",
        { path: "/spec" },
        [],
      ]);
      return { label: "malformed JSON patch", method: "PATCH", path, body: JSON.stringify([op]), contentType: "application/json-patch+json", allowed: [400] };
    }
    if (kind === 3) {
      const patch = r.pick<unknown>([
        { metadata: { name: "renamed" } },
        { metadata: { namespace: "elsewhere" } },
        { apiVersion: "v1" },
        { kind: "Other" },
        { metadata: { resourceVersion: r.pick(BAD_REVISIONS) } },
        { metadata: { resourceVersion: "1" } },
      ]);
      return {
        label: "merge patch of identity",
        method: "PATCH",
        path,
        body: JSON.stringify(patch),
        contentType: "application/merge-patch+json",
        allowed: [400, 409],
      };
    }
    if (kind === 4) {
      const spec = r.pick<unknown>([{ size: "x" }, { size: 0 }, { size: null }, { tags: [1] }, "spec", 5]);
      return {
        label: "merge patch against the schema",
        method: "PATCH",
        path: existing(r),
        body: JSON.stringify({ spec }),
        contentType: "application/merge-patch+json",
        allowed: [422],
      };
    }
    return {
      label: "patch of a missing object",
      method: "PATCH",
      path: `${coll()}/missing-${r.string(6, LOWER)}${r.chance(0.5) ? "/status" : ""}`,
      body: "{}",
      contentType: "application/merge-patch+json",
      allowed: [404],
    };
  },
  // unicode and control characters in names and namespaces
  (r) => {
    const name = r.pick([r.string(r.int(1, 10), UNICODE), `a${r.string(3, UNICODE)}`, "a\u0000b", "a\nb", "A", "a_b", "-a", "a-", "a..b", ".a", "a b", "ǅ"]);
    const kind = r.int(0, 3);
    if (kind === 0) return { label: "unicode name create", method: "POST", path: coll(), body: JSON.stringify(validObject(r, name)), allowed: [422] };
    if (kind === 1) return { label: "unicode namespace create", method: "POST", path: coll(name), body: JSON.stringify(validObject(r)), allowed: [422] };
    if (kind === 2) return { label: "unicode name get", method: "GET", path: `${coll()}/${encodeURIComponent(name)}`, allowed: [404] };
    return {
      label: "unicode name update",
      method: "PUT",
      path: `${coll()}/${encodeURIComponent(name)}`,
      body: JSON.stringify(validObject(r, name)),
      allowed: [400, 404, 422],
    };
  },
  // request bodies in media types the server does not read
  (r) => {
    const contentType = r.pick([
      "application/xml",
      "text/html",
      "application/octet-stream",
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "image/png",
    ]);
    const create = r.chance(0.5);
    return {
      label: "unsupported media type",
      method: create ? "POST" : "PUT",
      path: create ? coll() : `${coll()}/s2`,
      body: JSON.stringify(validObject(r, "s2")),
      contentType,
      allowed: [415],
    };
  },
  // invalid YAML, or YAML that is not a valid object
  (r) => {
    const laughs = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      ...Array.from({ length: 8 }, (_, i) => `${"bcdefghi"[i]}: &${"bcdefghi"[i]} [${Array(9).fill(`*${"abcdefgh"[i]}`).join(", ")}]`),
    ].join("\n");
    const body = r.pick([
      "a: [",
      "{ unclosed",
      "- a\n- b",
      "just a string",
      "42",
      "metadata: 5",
      "? ? ?",
      "key: 'unterminated",
      "\t- x",
      "metadata:\n  name: UPPER\nspec:\n  size: 1",
      "&a [*a]",
      "&a {x: *a}",
      "metadata: &m {name: m, labels: *m}",
      laughs,
    ]);
    return {
      label: "bad YAML",
      method: "POST",
      path: coll(),
      body,
      contentType: r.pick(["application/yaml", "application/x-yaml", "text/yaml"]),
      allowed: [400, 422],
    };
  },
];

async function send(url: string, fc: FuzzCase): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (fc.contentType !== undefined) headers["content-type"] = fc.contentType;
  else if (fc.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + fc.path, { method: fc.method, headers, body: fc.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // checked below
  }
  return { status: res.status, body, text, headers: res.headers };
}

function describeCase(i: number, fc: FuzzCase): string {
  const body =
    fc.body === undefined ? "" : ` body=${JSON.stringify(String(fc.body).slice(0, 160))}${String(fc.body).length > 160 ? `…(${String(fc.body).length})` : ""}`;
  const path = fc.path.length > 200 ? `${fc.path.slice(0, 200)}…(${fc.path.length})` : fc.path;
  return `seed=${SEED} #${i} [${fc.label}] ${fc.method} ${path}${fc.contentType ? ` (${fc.contentType})` : ""}${body}`;
}

describe("fuzzing the REST edge with bad requests", () => {
  let t: TestServer;
  let c: ApiClient;
  const seeded = new Map<string, Record<string, any>>();

  before(async () => {
    t = await startTestServer();
    c = api(t.url);
    await createType(c, {
      group: GROUP,
      kind: "Specimen",
      plural: "specimens",
      schema: {
        spec: {
          type: "object",
          required: ["size"],
          properties: {
            size: { type: "integer", minimum: 1, maximum: 100 },
            tags: { type: "array", maxItems: 5, items: { type: "string" } },
            note: { type: "string", maxLength: 100 },
          },
        },
        status: { type: "object", properties: { phase: { type: "string", enum: ["Pending", "Done"] }, observedGeneration: { type: "integer" } } },
      },
    });
    for (const [i, name] of SEEDED.entries()) {
      const res = await c.post(coll(), {
        metadata: { name, labels: { app: i % 2 ? "web" : "db" }, finalizers: i === 4 ? ["example.com/hold"] : undefined },
        spec: { size: i + 1, tags: ["seed"] },
      });
      assert.equal(res.status, 201, res.text);
      const st = await c.patch(`${coll()}/${name}/status`, { status: { phase: "Done", observedGeneration: 1 } });
      assert.equal(st.status, 200, st.text);
      seeded.set(name, st.body);
    }
  });
  after(async () => {
    await t.stop();
  });

  it(`answers ${COUNT} randomized bad requests with 4xx Status objects, never a 500 or a hang`, async () => {
    const rng = new Rng(SEED);
    const cases = Array.from({ length: COUNT }, () => rng.pick(generators)(rng));
    const headBefore = t.server.store.head();
    const failures: string[] = [];
    const counts = new Map<string, number>();
    for (let start = 0; start < cases.length; start += PARALLEL) {
      const batch = cases.slice(start, start + PARALLEL);
      await Promise.all(
        batch.map(async (fc, j) => {
          const i = start + j;
          counts.set(fc.label, (counts.get(fc.label) ?? 0) + 1);
          let res: Reply;
          try {
            res = await send(t.url, fc);
          } catch (err) {
            failures.push(`${describeCase(i, fc)} → no answer: ${String(err)}`);
            return;
          }
          try {
            assert.ok(fc.allowed.every((code) => ANY_4XX.includes(code)));
            assert.ok(res.status >= 400 && res.status < 500, "must be 4xx");
            assertStatus(res, res.status);
            assert.ok(fc.allowed.includes(res.status), `expected one of ${fc.allowed.join(", ")}`);
            if (res.body.details !== undefined) {
              assert.equal(typeof res.body.details, "object");
              for (const cause of res.body.details.causes ?? []) {
                assert.equal(typeof cause.field, "string");
                assert.equal(typeof cause.message, "string");
              }
            }
          } catch (err) {
            failures.push(`${describeCase(i, fc)} → ${res.status} ${res.text.slice(0, 300)}: ${(err as Error).message.split("\n")[0]}`);
          }
        }),
      );
    }
    assert.ok(counts.size >= 15, `the generators must all have run: ${[...counts.keys()].join(", ")}`);
    assert.equal(
      failures.length,
      0,
      `${failures.length} of ${COUNT} bad requests were answered wrongly (reproduce with SETPOINT_FUZZ_SEED=${SEED}):\n${failures.slice(0, 15).join("\n")}`,
    );
    // every request was bad: none of them may have written anything
    assert.equal(t.server.store.head(), headBefore, "a bad request wrote to the store");
  });

  it("keeps the metrics bounded: unknown paths and methods add no series", async () => {
    const res = await c.get("/metrics");
    assert.equal(res.status, 200);
    const lines = res.text.split("\n").filter((l) => l.startsWith("setpoint_requests_total{"));
    assert.ok(lines.length > 0);
    assert.ok(!lines.some((l) => /code="5\d\d"/.test(l)), `no request may have failed with 5xx:\n${lines.filter((l) => /code="5/.test(l)).join("\n")}`);
    const resources = new Set(lines.map((l) => /resource="([^"]*)"/.exec(l)?.[1]));
    const verbs = new Set(lines.map((l) => /verb="([^"]*)"/.exec(l)?.[1]));
    assert.ok(!resources.has(undefined) && !verbs.has(undefined));
    assert.ok(resources.size <= 16, `resource label values: ${[...resources].join(", ")}`);
    assert.ok(verbs.size <= 12, `verb label values: ${[...verbs].join(", ")}`);
    for (const r of resources) assert.ok(!r!.includes(".nope"), `unknown group in metrics: ${r}`);
  });

  it("still serves correctly afterwards, with the data written before intact", async () => {
    assert.equal((await c.get("/healthz")).status, 200);
    assert.equal((await c.get("/readyz")).status, 200);
    for (const [name, before] of seeded) {
      const res = await c.get(`${coll()}/${name}`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, before, `${name} changed`);
    }
    const list = await c.get(coll());
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      list.body.items.map((i: Record<string, any>) => i.metadata.name),
      SEEDED,
    );
    const listed = await c.get(`${coll()}?labelSelector=app%3Dweb&limit=1`);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.items.map((i: Record<string, any>) => i.metadata.name),
      ["s1"],
    );
    const page2 = await c.get(`${coll()}?labelSelector=app%3Dweb&limit=1&continue=${encodeURIComponent(listed.body.metadata.continue)}`);
    assert.deepEqual(
      page2.body.items.map((i: Record<string, any>) => i.metadata.name),
      ["s3"],
    );

    // writes work, and a watch from before them sees them in order
    const from = list.body.metadata.resourceVersion;
    const created = await c.post(coll(), { metadata: { name: "after-fuzz" }, spec: { size: 7 } });
    assert.equal(created.status, 201, created.text);
    assert.equal(Number(created.body.metadata.resourceVersion), Number(from) + 1);
    const patched = await c.patch(`${coll()}/after-fuzz`, { spec: { size: 8 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.metadata.generation, 2);
    const got = await c.get(`${coll()}/after-fuzz`);
    assert.deepEqual(got.body, patched.body);
    const seen: Array<[string, string]> = [];
    await watchUntil(`${t.url}${coll()}?watch=true&resourceVersion=${from}`, (event) => {
      seen.push([event.type, event.object?.metadata?.resourceVersion]);
      return event.object?.metadata?.resourceVersion === patched.body.metadata.resourceVersion;
    });
    assert.deepEqual(seen, [
      ["ADDED", created.body.metadata.resourceVersion],
      ["MODIFIED", patched.body.metadata.resourceVersion],
    ]);
    const initial = await watchUntil(`${t.url}${coll()}?watch=true&fieldSelector=metadata.name%3Ds4`, () => true);
    assert.equal(initial.type, "ADDED");
    assert.deepEqual(initial.object, seeded.get("s4"));
    const deleted = await c.del(`${coll()}/after-fuzz`);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal((await c.get(`${coll()}/after-fuzz`)).status, 404);
  });
});
