// `?pretty` as kube-apiserver reads it (API.md is silent): a true value
// (Go's strconv.ParseBool: 1, t, true, True, ...) indents the JSON answer two
// spaces a level, a false or unreadable one does not, and without it a
// User-Agent of curl, Wget or a browser gets the answer indented too. Gets,
// lists (also past the size they stream at), writes and errors alike; never
// a watch's events. The indenting keeps every token's text.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { indentJson, JsonIndenter } from "../../../src/server/pretty.ts";
import { c, created, freshNs, gadget, gadgets, useRestServer, widget, widgets } from "./fixture.ts";

useRestServer();

const indented = (text: string) => text === JSON.stringify(JSON.parse(text), null, 2);
const compact = (text: string) => text === JSON.stringify(JSON.parse(text));
const getWith = (path: string, headers: Record<string, string> = {}) => c.request("GET", path, { headers });

describe("?pretty", () => {
  it("indents a get as kube does for a true value, by Go's ParseBool, and only then", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("p", { size: 2, tags: [] }, { labels: { a: "b" } })));
    const path = `${widgets(ns)}/p`;
    for (const value of ["true", "1", "t", "T", "TRUE", "True"]) {
      const res = await getWith(`${path}?pretty=${value}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.ok(indented(res.text), `pretty=${value}:\n${res.text}`);
      assert.match(res.text, /^\{\n {2}"apiVersion": "ci\.example\.com\/v1",\n/);
      assert.match(res.text, /\n {4}"tags": \[\]\n/, "an empty array stays []");
    }
    for (const query of ["", "?pretty=false", "?pretty=0", "?pretty=yes", "?pretty=on"]) {
      const res = await getWith(`${path}${query}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(compact(res.text), `${query}:\n${res.text}`);
    }
  });

  it("indents for curl, Wget and browsers unless pretty says otherwise; not for other clients", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("u")));
    const path = `${widgets(ns)}/u`;
    const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
    for (const agent of ["curl/8.5.0", "Wget/1.21.3", browser]) {
      assert.ok(indented((await getWith(path, { "user-agent": agent })).text), agent);
      assert.ok(indented((await getWith(`${path}?pretty=`, { "user-agent": agent })).text), `${agent}, pretty empty`);
      assert.ok(compact((await getWith(`${path}?pretty=false`, { "user-agent": agent })).text), `${agent}, pretty=false`);
    }
    for (const agent of ["kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "OpenAPI-Generator/31.0.0/python", "node", "Go-http-client/1.1"])
      assert.ok(compact((await getWith(path, { "user-agent": agent })).text), agent);
  });

  it("indents lists (also one past the size a list streams at), writes and errors", async () => {
    const ns = freshNs();
    const made = await c.request("POST", `${gadgets(ns)}?pretty=true`, { body: gadget("g", {}, { x: [1, { y: "z" }] }) });
    assert.equal(made.status, 201, made.text);
    assert.ok(indented(made.text), made.text);
    assert.match(made.text, /\n {2}"spec": \{\n {4}"x": \[\n {6}1,\n {6}\{\n {8}"y": "z"\n {6}\}\n {4}\]\n {2}\}\n\}$/);
    const list = await getWith(`${gadgets(ns)}?pretty=true`);
    assert.equal(list.status, 200, list.text);
    assert.ok(indented(list.text), list.text);
    assert.match(list.text, /\n {2}"kind": "GadgetList",\n/);

    const filler = "z".repeat(4000);
    for (let i = 0; i < 30; i++) await created(c.post(widgets(ns), widget(`w${i}`, { size: 1, color: filler })));
    // As curl asks (no Accept-Encoding): fetch's gzip would hold a list this size back to judge it (compression.test.ts).
    const identity = { "accept-encoding": "identity" };
    const plain = await getWith(widgets(ns), identity);
    assert.ok(plain.text.length > 64 * 1024, "past the size a list streams at");
    const long = await getWith(`${widgets(ns)}?pretty=true`, identity);
    assert.equal(long.status, 200);
    assert.equal(long.text, JSON.stringify(JSON.parse(plain.text), null, 2));
    // Streamed as the compact list is (chunked, no Content-Length), not collected whole first.
    assert.equal(long.headers.get("content-length"), null, "a pretty list past the streaming size streams");
    assert.equal(plain.headers.get("content-length"), null);

    const missing = await getWith(`${widgets(ns)}/nope?pretty=true`);
    assert.equal(missing.status, 404);
    assert.ok(indented(missing.text), missing.text);
    assert.match(missing.text, /^\{\n {2}"kind": "Status",\n/);
    const patched = await c.request("PATCH", `${widgets(ns)}/w0?pretty=1`, { body: { spec: { size: 3 } }, contentType: "application/merge-patch+json" });
    assert.equal(patched.status, 200, patched.text);
    assert.ok(indented(patched.text));
  });

  it("leaves a watch's events one a line", async () => {
    const ns = freshNs();
    await created(c.post(widgets(ns), widget("a")));
    await created(c.post(widgets(ns), widget("b")));
    // From the start (initial ADDED events), ended by the server after a second.
    const res = await getWith(`${widgets(ns)}?watch=true&pretty=true&timeoutSeconds=1`, { "user-agent": "curl/8.5.0" });
    assert.equal(res.status, 200);
    const lines = res.text.split("\n").filter((l) => l !== "");
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).object.metadata.name),
      ["a", "b"],
      res.text,
    );
    for (const line of lines) assert.ok(compact(line), line);
  });
});

describe("indentJson", () => {
  it("is JSON.stringify's indent for what JSON.stringify wrote, strings with quotes, brackets and escapes included", () => {
    const values = [{}, [], { a: [] }, [[[]]], { s: 'a"b\\",:{[}]\\\\', n: [1, -2.5e-7, true, false, null], o: { p: { q: {} } } }, "x", 3];
    for (const v of values) assert.equal(indentJson(JSON.stringify(v)), JSON.stringify(v, null, 2), JSON.stringify(v));
    assert.equal(indentJson(' { "a" : [ 1 , 2 ] } '), '{\n  "a": [\n    1,\n    2\n  ]\n}');
    assert.equal(
      indentJson('{"big":[12345678901234567890,-1e400]}'),
      '{\n  "big": [\n    12345678901234567890,\n    -1e400\n  ]\n}',
      "numbers keep their text",
    );
  });

  it("gives the same text pushed in pieces (JsonIndenter, for a streamed list) as whole, wherever the pieces end", () => {
    const texts = [
      JSON.stringify({ kind: "List", items: [{ a: 'q"\\', b: [1, -2.5e-7, true, null, {}, []] }, { s: '\\\\"x\\' }], metadata: {} }),
      '{"big":[12345678901234567890,-1e400],"esc":"a\\\\\\"b\\\\","t":true}',
      ' [ { "k" : "v\\"" } , 10 ] ',
    ];
    for (const text of texts) {
      const whole = indentJson(text);
      for (let a = 0; a <= text.length; a++) {
        for (let b = a; b <= text.length; b += 3) {
          const indenter = new JsonIndenter();
          const pieces = [text.slice(0, a), text.slice(a, b), text.slice(b)].map((p) => indenter.push(p));
          assert.equal(pieces.join(""), whole, `${text} cut at ${a} and ${b}`);
        }
      }
    }
  });
});
