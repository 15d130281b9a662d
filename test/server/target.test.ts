// The hand-split request target must read exactly as WHATWG URL parsing reads
// it: same path, same query parameters, same route.

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
    for (const raw of targets) assert.deepEqual(viaTarget(raw), viaUrl(raw), raw);
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
      assert.deepEqual(viaTarget(raw), viaUrl(raw), JSON.stringify(raw));
    }
  });
});
