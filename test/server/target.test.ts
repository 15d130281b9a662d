// The hand-split request target must read exactly as WHATWG URL parsing reads
// it: same path, same query parameters, same route; except that a path with a
// "." or ".." segment, which URL parsing would drop, is refused (undefined).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRoute } from "../../src/server/routes.ts";
import { parseTarget } from "../../src/server/target.ts";

function viaUrl(raw: string) {
  let url: URL;
  try {
    url = new URL(raw, "http://setpoint");
  } catch {
    return undefined;
  }
  return { pathname: url.pathname, params: [...url.searchParams], route: parseRoute(url.pathname) };
}

/** Whether URL parsing would drop a "." or ".." segment of `raw`'s path (enumerated here, apart from target.ts's rule). */
function dotted(raw: string): boolean {
  const path = (raw.split(/[?#]/)[0] ?? "").replace(/[\t\n\r]/g, "");
  return path.split(/[/\\]/).some((s) => [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."].includes(s.toLowerCase()));
}

/** What parseTarget must give: URL parsing's reading, or undefined (400) for a path with a dot segment. */
function expected(raw: string) {
  return dotted(raw) ? undefined : viaUrl(raw);
}

function viaTarget(raw: string) {
  const t = parseTarget(raw);
  return t && { pathname: t.pathname, params: [...t.searchParams], route: t.route };
}

describe("request targets", () => {
  it("read as URL parsing reads them, for targets the API sees", () => {
    const targets = [
      "/",
      "/healthz",
      "/apis/bench.setpoint.dev/v1/namespaces/default/items",
      "/apis/bench.setpoint.dev/v1/namespaces/default/items/",
      "/apis/bench.setpoint.dev/v1/namespaces/default/items/a-b.c/status?x=1",
      "/apis/g/v1/items?watch=true&resourceVersion=12&labelSelector=app%3Dweb%2Cenv!%3Dprod",
      "/apis/g/v1/items?labelSelector=a+in+(x,y)&fieldSelector=metadata.name=n&limit=5&continue=eyJyIjox",
      '/apis/g/v1/items?q=a b&r="x"&s=<>&t=\'',
      "/apis/g/v1/items?a=1#frag",
      "/apis/g/v1/../v2/items",
      "/apis/g/./v1/items",
      "/apis/g/v1/items/..",
      "/apis/g/v1/items/.",
      "/apis/g/v1/items/%2e%2e",
      "//evil/apis/g/v1/items",
      "/apis//v1/items",
      "/apis/g%2Fh/v1/items",
      "/apis/g/v1/items/caf\u00e9",
      "/apis/g/v1/items?x=caf\u00e9",
      "/apis/g/v1/items?x=%zz&y=%",
      "/apis/g/v1/items\\..\\x",
      "http://other/apis/g/v1/items?watch=1",
      "/openapi/v3/apis/g/v1",
      "/apis/g/v1/items?",
      "/apis/g/v1/items?&&=&a",
      "/apis/g/v1/it\tems",
    ];
    for (const raw of targets) assert.deepEqual(viaTarget(raw), expected(raw), raw);
    // Dot segments, in every spelling URL parsing reads as one, are refused rather than dropped.
    for (const raw of [
      "/apis/g/v1/items/.",
      "/apis/g/v1/items/%2E",
      "/apis/g/v1/items/a/%2e.",
      "/apis/g/v1/items\\..\\x",
      "/apis/g/.\t./v1",
      "/apis/./g?x=1",
    ]) {
      assert.equal(viaTarget(raw), undefined, raw);
    }
    for (const raw of ["/apis/g/v1/items/a.", "/apis/g/v1/items/...", "/apis/g/v1/items/a?x=/..", "/apis/g/v1/items/x#/.."]) {
      assert.notEqual(viaTarget(raw), undefined, raw);
    }
  });

  it("read as URL parsing reads them, for random targets", () => {
    const alphabet = [
      "/",
      "/",
      "/",
      ".",
      "..",
      "?",
      "&",
      "=",
      "a",
      "v1",
      "apis",
      "-",
      "~",
      "_",
      "+",
      "%",
      "%2e",
      "%2F",
      "#",
      " ",
      '"',
      "\u00e9",
      "\\",
      ":",
      "@",
    ];
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < 20_000; i++) {
      let raw = "/";
      const n = Math.floor(random() * 12);
      for (let j = 0; j < n; j++) raw += alphabet[Math.floor(random() * alphabet.length)];
      assert.deepEqual(viaTarget(raw), expected(raw), JSON.stringify(raw));
    }
  });
});
