// The HTTP/1.1 response parser of the client's REST calls
// (src/agent/http-response-parser.ts): every framing the server or a proxy
// may use, split at every byte, gives the same response; keep-alive is read
// as RFC 9112 says; anything else is an HttpProtocolError.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HttpProtocolError, MAX_HEAD_BYTES, ResponseParser, type HttpResponse } from "../../src/agent/http-response-parser.ts";

/** Parses `text` fed in pieces of `step` bytes; `end` when the connection closes after it. */
function parse(text: string | Buffer, step = Number.POSITIVE_INFINITY, end = false): HttpResponse | undefined {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  const p = new ResponseParser();
  let res: HttpResponse | undefined;
  for (let at = 0; at < bytes.length; at += step) {
    // A fresh Buffer per piece, as a socket hands them over; bytes after a complete response throw.
    res = p.push(Buffer.from(bytes.subarray(at, Math.min(bytes.length, at + step)))) ?? res;
  }
  if (end) {
    assert.equal(res, undefined);
    res = p.end();
  }
  return res;
}

const body = JSON.stringify({ kind: "Widget", metadata: { name: "a" }, status: { note: "naïve ✓" } });
const bodyBytes = Buffer.from(body);

/** `body` in chunks of 7 bytes, with a chunk extension and a trailer. */
function chunked(): Buffer {
  const parts: Buffer[] = [Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")];
  for (let at = 0; at < bodyBytes.length; at += 7) {
    const piece = bodyBytes.subarray(at, at + 7);
    parts.push(Buffer.from(`${piece.length.toString(16)}${at === 0 ? ";ext=1" : ""}\r\n`), piece, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\nX-Trailer: yes\r\n\r\n"));
  return Buffer.concat(parts);
}

describe("ResponseParser", () => {
  const framings: Array<{ name: string; bytes: Buffer; end: boolean; keepAlive: boolean }> = [
    {
      name: "Content-Length",
      bytes: Buffer.concat([Buffer.from(`HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes.length}\r\n\r\n`), bodyBytes]),
      end: false,
      keepAlive: true,
    },
    { name: "chunked, with an extension and a trailer", bytes: chunked(), end: false, keepAlive: true },
    {
      name: "delimited by the close",
      bytes: Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"), bodyBytes]),
      end: true,
      keepAlive: false,
    },
    {
      name: "after an interim 100 Continue",
      bytes: Buffer.concat([Buffer.from(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${bodyBytes.length}\r\n\r\n`), bodyBytes]),
      end: false,
      keepAlive: true,
    },
  ];
  for (const f of framings) {
    test(`${f.name}: the same response whole and split at every byte`, () => {
      for (const step of [Number.POSITIVE_INFINITY, 1, 2, 3, 5, 64]) {
        const res = parse(f.bytes, step, f.end);
        assert.ok(res, `complete with pieces of ${step}`);
        assert.equal(res.status, f.name.startsWith("Content") ? 201 : 200);
        assert.equal(res.body.toString("utf8"), body, `body with pieces of ${step}`);
        assert.equal(res.keepAlive, f.keepAlive);
      }
    });
  }

  test("no body for 204 and 304, nor for Content-Length: 0", () => {
    for (const head of [
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ]) {
      const res = parse(head);
      assert.ok(res, head);
      assert.equal(res.body.length, 0);
      assert.equal(res.keepAlive, true);
    }
  });

  test("keep-alive: HTTP/1.1 unless Connection: close, HTTP/1.0 only with keep-alive; the server's timeout hint is passed on", () => {
    const cases: Array<[string, boolean, number | undefined]> = [
      ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, undefined],
      ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false, undefined],
      ["HTTP/1.1 200 OK\r\nconnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n", false, undefined],
      ["HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", true, 5000],
      ["HTTP/1.1 200 OK\r\nKeep-Alive: max=100, timeout=65\r\nContent-Length: 0\r\n\r\n", true, 65000],
      ["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, undefined],
      ["HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true, undefined],
    ];
    for (const [head, keepAlive, ms] of cases) {
      const res = parse(head);
      assert.equal(res?.keepAlive, keepAlive, head);
      assert.equal(res?.keepAliveMs, ms, head);
    }
  });

  test("anything that is not a response throws HttpProtocolError", () => {
    const bad: Array<[string, string | Buffer]> = [
      ["a bad status line", "HTTP/2 200 OK\r\n\r\n"],
      ["not HTTP at all", "SSH-2.0-OpenSSH\r\n\r\n"],
      ["a header line without a colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n"],
      ["two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"],
      ["a Content-Length that is not a number", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"],
      ["an encoding other than chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"],
      ["a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
      ["a chunk without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY"],
      ["bytes after the response", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab"],
      ["a second response (this client never pipelines)", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"],
      ["101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n"],
      ["a head past the bound", `HTTP/1.1 200 OK\r\nX: ${"y".repeat(MAX_HEAD_BYTES)}`],
    ];
    for (const [what, bytes] of bad) {
      for (const step of [Number.POSITIVE_INFINITY, 1]) {
        if (step === 1 && typeof bytes === "string" && bytes.length > 1000) continue; // byte by byte: only the short ones
        assert.throws(
          () => parse(bytes, step),
          (e) => e instanceof HttpProtocolError && !e.truncated,
          `${what} (pieces of ${step})`,
        );
      }
    }
  });

  test("the connection closing before the response is complete throws HttpProtocolError, truncated", () => {
    for (const partial of [
      "",
      "HTTP/1.1 200 OK\r\nContent-Len",
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ]) {
      const p = new ResponseParser();
      if (partial !== "") assert.equal(p.push(Buffer.from(partial)), undefined);
      assert.throws(
        () => p.end(),
        (e) => e instanceof HttpProtocolError && e.truncated,
        JSON.stringify(partial),
      );
    }
  });
});
