// The gRPC edge against requests no real client sends (API.md §6): a frame
// announcing a message over the size bound is refused at once and its stream
// reset (not left open for bytes nobody will read); bytes that are not the
// method's protobuf get INVALID_ARGUMENT with a Status, not INTERNAL.
// Spoken over a raw HTTP/2 client, since a gRPC client would refuse to send
// either.

import assert from "node:assert/strict";
import { connect, type IncomingHttpHeaders } from "node:http2";
import { after, before, describe, it } from "node:test";
import { STATUS_TRAILER } from "../../src/proto.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const DEADLINE_MS = 10_000;

interface RawReply {
  /** grpc-status from the headers of a trailers-only answer, or the trailers. */
  status: number;
  message: string;
  statusTrailer: any;
}

/** Sends `body` (gRPC-framed by the caller) on a call to `method`; resolves when the stream closes, whether or not the request was ended. */
function rawCall(port: number, method: string, body: Buffer, endRequest: boolean): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`${method}: the stream was left open for ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    const req = session.request({ ":method": "POST", ":path": `/setpoint.v1.Resources/${method}`, "content-type": "application/grpc", te: "trailers" });
    let fields: IncomingHttpHeaders = {};
    req.on("response", (h) => (fields = { ...fields, ...h }));
    req.on("trailers", (t) => (fields = { ...fields, ...t }));
    req.on("data", () => {});
    req.on("error", () => {});
    req.on("close", () => {
      clearTimeout(timer);
      session.close();
      const trailer = fields[STATUS_TRAILER] as string | undefined;
      resolve({
        status: Number(fields["grpc-status"]),
        message: decodeURIComponent(String(fields["grpc-message"] ?? "")),
        statusTrailer: trailer === undefined ? undefined : JSON.parse(Buffer.from(trailer, "base64").toString("utf8")),
      });
    });
    req.write(body);
    if (endRequest) req.end();
  });
}

/** A gRPC message frame: uncompressed flag, 4-byte length (which may lie), payload. */
function frame(announced: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(announced, 1);
  return Buffer.concat([header, payload]);
}

describe("gRPC edge guards", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ grpcPort: 0 });
  });
  after(() => s.stop());

  it("refuses a frame announcing an oversized message at once, and resets the stream while the client still sends", async () => {
    const reply = await rawCall(s.server.grpcPort, "Create", frame(100 * 1024 * 1024, Buffer.from("partial")), false);
    assert.equal(reply.status, 8, `RESOURCE_EXHAUSTED, got ${JSON.stringify(reply)}`);
    assert.match(reply.message, /larger than max/);
  });

  for (const method of ["Create", "Get", "List", "Watch"]) {
    it(`answers a malformed protobuf ${method} with INVALID_ARGUMENT and a BadRequest Status`, async () => {
      const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
      const reply = await rawCall(s.server.grpcPort, method, frame(garbage.length, garbage), true);
      assert.equal(reply.status, 3, `INVALID_ARGUMENT, got ${JSON.stringify(reply)}`);
      assert.match(reply.message, /malformed .* request: not a setpoint\.v1 protobuf message/);
      assert.equal(reply.statusTrailer?.reason, "BadRequest");
      assert.equal(reply.statusTrailer?.code, 400);
    });
  }

  it("still serves a well-formed call on the same server", async () => {
    // An empty GetRequest decodes (proto3): it fails validation, not decoding.
    const reply = await rawCall(s.server.grpcPort, "Get", frame(0, Buffer.alloc(0)), true);
    assert.equal(reply.status, 3);
    assert.match(reply.message, /ref\.group, ref\.version and ref\.plural are required/);
  });
});
