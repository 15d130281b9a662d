// parseRoute reads a path by index; it must route every path exactly as the
// straightforward reading (split, destructure, splice) below does.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResourceRef } from "../../src/api/resources.ts";
import { parseRoute, type Route } from "../../src/server/routes.ts";

/** The API-path part of parseRoute as it was first written (paths under /apis/). */
function reference(trimmed: string): Route | undefined {
  let segs = trimmed.slice("/apis/".length).split("/");
  if (trimmed.includes("%")) {
    try {
      segs = segs.map(decodeURIComponent);
    } catch {
      return undefined;
    }
  }
  if (segs.some((s) => s === "")) return undefined;
  const [group, version, ...rest] = segs;
  if (group === undefined) return undefined;
  if (version === undefined) return { kind: "group", group };
  if (rest.length === 0) return { kind: "group-version", group, version };
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest.splice(0, 2);
  }
  const [plural, name, sub, ...extra] = rest;
  if (plural === undefined || extra.length > 0) return undefined;
  const ref: ResourceRef = { group, version, plural, namespace, name };
  if (name === undefined) return { kind: "collection", ref };
  if (sub === undefined) return { kind: "object", ref };
  if (sub === "status") return { kind: "status", ref };
  return { kind: "subresource", ref, subresource: sub };
}

/** What parseRoute must answer for `path`: the reference's route, or "fixed" for paths it routes before the API ones (unchanged). */
function expected(path: string): Route | undefined | "fixed" {
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed.startsWith("/apis/") ? reference(trimmed) : "fixed";
}

describe("parseRoute", () => {
  it("routes API paths as the plain reading does, segment count by segment count", () => {
    const words = ["namespaces", "status", "default", "items", "x", "%41", "%zz", ""];
    const paths: string[] = [];
    // Every path of up to 7 segments over these words (8^7 is too many: vary the tail, fix realistic heads).
    const heads = ["/apis/g", "/apis/g/v1", "/apis/g/v1/namespaces", "/apis/g/v1/namespaces/ns", "/apis/g/v1/items", "/apis", "/apis/"];
    for (const head of heads) {
      paths.push(head, head + "/");
      for (const a of words) {
        paths.push(`${head}/${a}`, `${head}/${a}/`);
        for (const b of words) {
          paths.push(`${head}/${a}/${b}`);
          for (const c of words) paths.push(`${head}/${a}/${b}/${c}`, `${head}/${a}/${b}/${c}/`);
        }
      }
    }
    let routed = 0;
    for (const p of paths) {
      const want = expected(p);
      if (want === "fixed") continue;
      if (want) routed++;
      assert.deepEqual(parseRoute(p), want, p);
    }
    assert.ok(routed > 1000, `only ${routed} of ${paths.length} paths routed: the sample misses the routes`);
  });

  it("routes the paths clients send", () => {
    const ref = (namespace: string | undefined, name: string | undefined): ResourceRef => ({ group: "g.dev", version: "v1", plural: "items", namespace, name });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces/default/items"), { kind: "collection", ref: ref("default", undefined) });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces/default/items/a"), { kind: "object", ref: ref("default", "a") });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces/default/items/a/status"), { kind: "status", ref: ref("default", "a") });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/items/a/"), { kind: "object", ref: ref(undefined, "a") });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces"), { kind: "collection", ref: { ...ref(undefined, undefined), plural: "namespaces" } });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces/a"), { kind: "object", ref: { ...ref(undefined, "a"), plural: "namespaces" } });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces/default/items/a/scale"), { kind: "subresource", ref: ref("default", "a"), subresource: "scale" });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/items/a/bogus"), { kind: "subresource", ref: ref(undefined, "a"), subresource: "bogus" });
    assert.deepEqual(parseRoute("/apis/g.dev/v1/namespaces/default/items/a/status/x"), undefined);
    assert.deepEqual(parseRoute("/apis/g.dev//items"), undefined);
    assert.deepEqual(parseRoute("/apis/g.dev/v1"), { kind: "group-version", group: "g.dev", version: "v1" });
    assert.deepEqual(parseRoute("/apis/g.dev"), { kind: "group", group: "g.dev" });
    assert.deepEqual(parseRoute("/apis/g%2Edev/v1/items/a%20b"), { kind: "object", ref: { ...ref(undefined, "a b") } });
    assert.equal(parseRoute("/apis/g/v1/items/%zz"), undefined);
  });

  it("routes random paths as the plain reading does", () => {
    // Separators, bad and good escapes (%00, %2F, %2e%2e, UTF-8), dot segments, unicode and a long segment.
    const alphabet = [
      "/",
      "/",
      "/",
      "//",
      "a",
      "namespaces",
      "status",
      "%",
      "%2",
      "%zz",
      "%2F",
      "%00",
      "%2e%2e",
      "..",
      ".",
      "é",
      "%C3%A9",
      "%E2%80",
      "\u2028",
      "v1",
      "x".repeat(300),
    ];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      let p = "/apis/";
      const len = rand(16);
      for (let j = 0; j < len; j++) p += alphabet[rand(alphabet.length)];
      const want = expected(p);
      if (want !== "fixed") assert.deepEqual(parseRoute(p), want, p);
    }
  });
});
