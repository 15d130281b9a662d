// The security gate answers a failure of its own (an authorizer that throws
// something other than an ApiError) with a 500 Status, and logs the cause once:
// a 500 is a server bug, and its cause must not vanish.

import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Authenticator } from "../../../src/server/auth/authenticator.ts";
import { Limits } from "../../../src/server/limits.ts";
import { Security } from "../../../src/server/security.ts";

describe("security gate errors", () => {
  it("a gate failure that is no ApiError is answered 500 and logged with its cause", () => {
    const lines: Array<Record<string, any>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString("utf8")));
        done();
      },
    });
    const security = new Security({
      authenticator: new Authenticator({ token: "t" }),
      authorizer: {
        authorize() {
          throw new TypeError("the authorizer broke");
        },
      },
      limits: new Limits(),
      log: pino({ level: "error" }, sink),
    });
    const req = {
      method: "GET",
      url: "/apis/setpoint.dev/v1/namespaces/a/leases/x",
      headers: { authorization: "Bearer t" },
      socket: { remoteAddress: "127.0.0.1" },
    } as unknown as IncomingMessage;
    const answer: { code?: number; body?: string } = {};
    const res = {
      headersSent: false,
      writeHead(code: number) {
        answer.code = code;
      },
      end(body: string) {
        answer.body = body;
      },
      once() {},
    } as unknown as ServerResponse;
    assert.equal(security.gateHttp(req, res), false);
    assert.equal(answer.code, 500);
    assert.equal(JSON.parse(answer.body!).reason, "InternalError");
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]!.level, 50);
    assert.match(lines[0]!.err.message, /the authorizer broke/);
  });
});
