// Robustness of the gRPC and WebSocket edges, next to the REST fuzz
// (fuzz.test.ts): a few thousand malformed gRPC messages (raw HTTP/2: bad
// framing, lengths, compression flags, protobuf garbage, bad or missing
// credentials) and WebSocket handshakes and frames (bad subprotocols, bad
// keys, garbage frames, oversized and random messages), seeded so that a
// failure reproduces with SETPOINT_FUZZ_SEED=<seed>. Every gRPC call must end
// with a status, never hang; afterwards the server must still serve REST,
// watches and gRPC correctly, with authentication and RBAC on.

import assert from "node:assert/strict";
import { connect as http2Connect, constants as h2 } from "node:http2";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import WebSocket from "ws";
import { loadResourcesService, type ResourcesClient } from "../../src/proto.ts";
import { pool, Rng } from "../helpers/fuzz.ts";
import { api, createType, startTestServer, watchUntil, type TestServer } from "../helpers/server.ts";

const SEED = Number(process.env.SETPOINT_FUZZ_SEED ?? 0x9a7e5);
const GRPC_COUNT = Number(process.env.SETPOINT_FUZZ_GRPC_COUNT ?? 2000);
const WS_COUNT = Number(process.env.SETPOINT_FUZZ_WS_COUNT ?? 1000);
const PARALLEL = 16;
const CALL_TIMEOUT_MS = 10_000;
const G = "wirefuzz.example.com";
const TOKEN = "t-fuzz-admin";
const { Client } = loadResourcesService();

const METHODS = ["Get", "List", "Watch", "Create", "Update", "UpdateStatus", "Patch", "Delete", "Nope", ""];

/** A protobuf-ish payload: valid field tags with random values, or plain garbage. */
function payload(r: Rng): Buffer {
  switch (r.int(0, 5)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return r.bytes(r.int(1, 64));
    case 2: {
      // A ref message (field 1) with random strings, some absurdly long or invalid UTF-8.
      const str = (f: number, s: Buffer) => Buffer.concat([Buffer.from([(f << 3) | 2]), varint(s.length), s]);
      const ref = Buffer.concat([
        str(1, Buffer.from(r.pick([G, "", "setpoint.dev", "x".repeat(300)]))),
        str(2, Buffer.from(r.pick(["v1", "", "v9"]))),
        str(3, Buffer.from(r.pick(["gadgets", "leases", ""]))),
        str(4, r.bytes(r.int(0, 8))),
        str(5, r.chance(0.5) ? Buffer.from("g1") : r.bytes(r.int(0, 300))),
      ]);
      const obj = r.chance(0.5) ? str(2, r.chance(0.5) ? Buffer.from('{"metadata":{"name":"g1"},"spec":{}}') : r.bytes(r.int(0, 100))) : Buffer.alloc(0);
      return Buffer.concat([str(1, ref), obj]);
    }
    case 3:
      // A length-delimited field claiming more bytes than follow.
      return Buffer.concat([Buffer.from([0x0a]), varint(r.int(100, 100000)), r.bytes(r.int(0, 20))]);
    case 4:
      // A varint that never ends.
      return Buffer.concat([Buffer.from([0x08]), Buffer.alloc(r.int(11, 40), 0xff)]);
    default:
      // Deep nesting of field 1.
      return Buffer.concat(Array.from({ length: r.int(10, 200) }, () => Buffer.from([0x0a, 0x7f])));
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** gRPC's length-prefixed message framing, sometimes wrong on purpose. */
function frame(r: Rng, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = r.chance(0.1) ? r.int(1, 255) : 0; // compressed flag without grpc-encoding
  const len = r.chance(0.15) ? r.pick([0, body.length + r.int(1, 1000), 0xffffffff, 8 * 1024 * 1024]) : body.length;
  header.writeUInt32BE(len >>> 0, 1);
  const whole = Buffer.concat([header, body]);
  return r.chance(0.1) ? whole.subarray(0, r.int(0, whole.length)) : whole;
}

describe("fuzz: malformed gRPC messages and WebSocket frames", () => {
  let t: TestServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-wirefuzz-"));
    writeFileSync(join(dir, "tokens.csv"), `${TOKEN},admin,1,system:masters\nt-nobody,nobody,2\n`);
    t = await startTestServer({ grpcPort: 0, durable: false, tokenAuthFile: join(dir, "tokens.csv"), authorizationMode: "RBAC" });
    const admin = api(t.url, { token: TOKEN });
    await createType(admin, { group: G, kind: "Gadget", plural: "gadgets" });
    for (const name of ["g1", "g2"])
      assert.equal((await admin.post(`/apis/${G}/v1/namespaces/keep/gadgets`, { metadata: { name }, spec: { n: 1 } })).status, 201);
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${GRPC_COUNT} malformed gRPC calls each end with a status (seed ${SEED})`, async () => {
    const r = new Rng(SEED);
    const cases = Array.from({ length: GRPC_COUNT }, () => {
      const headers: Record<string, string> = {
        [h2.HTTP2_HEADER_METHOD]: r.chance(0.95) ? "POST" : r.pick(["GET", "PUT"]),
        [h2.HTTP2_HEADER_PATH]: `/${r.chance(0.9) ? "setpoint.v1.Resources" : r.pick(["x.y", "", "setpoint.v1.Resource"])}/${r.pick(METHODS)}`,
        [h2.HTTP2_HEADER_CONTENT_TYPE]: r.chance(0.9) ? "application/grpc" : r.pick(["application/json", "text/plain", "application/grpc+proto"]),
        te: "trailers",
      };
      const auth = r.int(0, 4);
      if (auth === 0) headers.authorization = `Bearer ${TOKEN}`;
      else if (auth === 1) headers.authorization = "Bearer t-nobody";
      else if (auth === 2) headers.authorization = `Bearer ${r.bytes(r.int(1, 40)).toString("base64")}`;
      else if (auth === 3) headers.authorization = r.pick(["Basic abc", "Bearer", "bearer  ", "x".repeat(2000)]);
      if (r.chance(0.1)) headers["grpc-encoding"] = r.pick(["gzip", "deflate", "snappy"]);
      if (r.chance(0.1)) headers["grpc-timeout"] = r.pick(["1m", "0n", "99999999H", "abc"]);
      const messages = Array.from({ length: r.chance(0.9) ? 1 : r.int(0, 3) }, () => frame(r, payload(r)));
      return { headers, messages, endEarly: r.chance(0.05) };
    });
    // The client keeps clear of a Node 20 HTTP/2 client bug (compare
    // nodejs/node#52952): a stream that Node destroys while nghttp2 still has
    // its END_STREAM to send (say closed by us, its RST_STREAM held back while
    // the socket is busy, then destroyed once the answer ended) leaves nghttp2
    // asking Node for that stream's data; Node answers "0 bytes, not the end"
    // for a stream it no longer knows, and nghttp2 writes empty DATA frames
    // until memory runs out (std::bad_alloc, seen only on a loaded machine).
    // So each stream sends its body with one end(), is reset only once its
    // END_STREAM is out (the frames the server sees are the ones it saw
    // before: body, END_STREAM, RST_STREAM), is never closed once answered (it
    // closes itself), and the session ends after every stream has closed.
    const session = http2Connect(`http://127.0.0.1:${t.server.grpcPort}`);
    session.on("error", () => {});
    let statuses = 0;
    const hung: number[] = [];
    await pool(cases.length, PARALLEL, async (i) => {
      const c = cases[i]!;
      await new Promise<void>((resolve) => {
        const stream = session.request(c.headers);
        /** RST_STREAM(code) as soon as our END_STREAM is out, unless the stream closed first. */
        let resetting = false;
        const reset = (code: number) => {
          if (resetting) return;
          resetting = true;
          const attempt = (tries: number) => {
            if (stream.closed || stream.destroyed) return;
            if (stream.state.localClose) stream.close(code);
            else if (tries < 100) setImmediate(attempt, tries + 1);
            else setTimeout(attempt, 5, tries);
          };
          attempt(0);
        };
        const timer = setTimeout(() => {
          hung.push(i);
          finish();
        }, CALL_TIMEOUT_MS);
        let ended = false;
        function finish() {
          if (ended) return;
          ended = true;
          clearTimeout(timer);
          resolve();
        }
        stream.on("response", (h) => {
          if (h["grpc-status"] !== undefined) statuses++;
        });
        stream.on("trailers", (h) => {
          if (h["grpc-status"] !== undefined) statuses++;
        });
        stream.on("data", () => {
          // A watch that was accepted streams until cancelled: stop it once it answered.
          if (c.headers[h2.HTTP2_HEADER_PATH]!.endsWith("/Watch")) reset(h2.NGHTTP2_NO_ERROR);
        });
        stream.on("close", finish);
        stream.on("error", finish);
        if (c.messages.length > 0) stream.end(Buffer.concat(c.messages));
        else stream.end();
        if (c.endEarly) reset(h2.NGHTTP2_CANCEL);
      });
    });
    // A stream that never ended is still open: only then is the session cut rather than closed.
    if (hung.length > 0) session.destroy();
    else await new Promise<void>((resolve) => session.close(resolve));
    assert.deepEqual(hung, [], `calls that never ended: ${hung.slice(0, 10).join(", ")}`);
    assert.ok(statuses > GRPC_COUNT / 2, `most calls got a grpc-status (${statuses})`);
  });

  it(`${WS_COUNT} malformed WebSocket handshakes and frames are refused or ignored (seed ${SEED})`, async () => {
    const r = new Rng(SEED ^ 0xabcdef);
    const port = Number(new URL(t.url).port);
    const path = `/apis/${G}/v1/namespaces/keep/gadgets`;
    await pool(WS_COUNT, PARALLEL, async () => {
      const kind = r.int(0, 2);
      if (kind === 0) {
        // A handshake with odd subprotocols and credentials: answered (101 or a refusal), never hung.
        const protocols = [
          r.pick(["watch.setpoint.dev", "", "x"]),
          `base64url.bearer.authorization.k8s.io.${r.pick([Buffer.from(TOKEN).toString("base64url"), "!!", "", r.bytes(r.int(1, 30)).toString("base64url")])}`,
        ].filter((p) => p !== "");
        const code = await new Promise<number>((resolve) => {
          let ws: WebSocket;
          try {
            ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, { handshakeTimeout: CALL_TIMEOUT_MS });
          } catch {
            return resolve(-1); // the client refused to send it
          }
          ws.once("open", () => {
            // The watch subprotocol when offered, else the one other non-bearer protocol (as kube); never the token.
            const others = protocols.filter((p) => !p.startsWith("base64url.bearer."));
            assert.equal(ws.protocol, others.includes("watch.setpoint.dev") ? "watch.setpoint.dev" : others[0], "the subprotocol selected");
            ws.close();
            resolve(101);
          });
          ws.once("unexpected-response", (_q, res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          ws.once("error", () => resolve(-2));
        });
        assert.ok([101, 400, 401, -1, -2].includes(code), `handshake answered ${code}`);
        return;
      }
      // A raw socket: a handshake (sometimes malformed), then garbage frames.
      const headers = [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${r.chance(0.8) ? r.bytes(16).toString("base64") : r.bytes(r.int(0, 30)).toString("hex")}`,
        `Sec-WebSocket-Version: ${r.chance(0.9) ? 13 : r.int(0, 20)}`,
        `Authorization: Bearer ${r.chance(0.8) ? TOKEN : "nope"}`,
      ];
      if (r.chance(0.3))
        headers.push(
          `Sec-WebSocket-Protocol: ${r
            .bytes(r.int(1, 20))
            .toString("latin1")
            .replace(/[\r\n]/g, "")}`,
        );
      await new Promise<void>((resolve) => {
        const s = netConnect(port, "127.0.0.1");
        // The server may keep an upgraded socket open: stop waiting soon after our half-close.
        const timer = setTimeout(() => {
          s.destroy();
          resolve();
        }, 300);
        s.on("error", () => {});
        s.on("close", () => {
          clearTimeout(timer);
          resolve();
        });
        s.write(headers.join("\r\n") + "\r\n\r\n");
        for (let f = r.int(1, 4); f > 0; f--) {
          const frameKind = r.int(0, 3);
          if (frameKind === 0) s.write(r.bytes(r.int(1, 200)));
          else {
            // A masked frame with a random opcode and a length that may lie.
            const body = r.bytes(r.int(0, 300));
            const op = frameKind === 1 ? r.int(0, 15) : r.pick([1, 2, 8, 9, 10]);
            const len = r.chance(0.2) ? r.int(126, 127) : Math.min(body.length, 125);
            const head = Buffer.from([(r.chance(0.8) ? 0x80 : 0) | op, 0x80 | len, ...r.bytes(4)]);
            s.write(Buffer.concat([head, body.subarray(0, Math.min(body.length, 125))]));
          }
        }
        setTimeout(() => s.end(), r.int(0, 50));
      });
    });
  });

  it("afterwards the server serves REST, both watch transports and gRPC correctly", async () => {
    const admin = api(t.url, { token: TOKEN });
    assert.equal((await admin.get("/healthz")).status, 200);
    const list = await admin.get(`/apis/${G}/v1/namespaces/keep/gadgets`);
    assert.equal(list.status, 200);
    const names = (list.body.items as Array<{ metadata: { name: string } }>).map((o) => o.metadata.name);
    assert.ok(names.includes("g1") && names.includes("g2"), `the data is intact: ${names.join(", ")}`);
    assert.equal((await api(t.url, { token: "t-nobody" }).get(`/apis/${G}/v1/namespaces/keep/gadgets/g1`)).status, 403, "RBAC still applies");
    assert.equal((await api(t.url).get(`/apis/${G}/v1/namespaces/keep/gadgets/g1`)).status, 401, "authentication still applies");
    const created = await admin.post(`/apis/${G}/v1/namespaces/after/gadgets`, { metadata: { name: "a1" }, spec: {} });
    assert.equal(created.status, 201);
    const event = await watchUntil(`${t.url}/apis/${G}/v1/namespaces/after/gadgets?watch=true`, (e) => e.object?.metadata?.name === "a1", 10_000, {
      authorization: `Bearer ${TOKEN}`,
    });
    assert.equal(event.type, "ADDED");
    const ws = new WebSocket(`${t.url.replace("http", "ws")}/apis/${G}/v1/namespaces/after/gadgets`, [
      "watch.setpoint.dev",
      `base64url.bearer.authorization.k8s.io.${Buffer.from(TOKEN).toString("base64url")}`,
    ]);
    const first = await new Promise<string>((resolve, reject) => {
      ws.once("message", (m) => resolve(String(m)));
      ws.once("error", reject);
    });
    ws.close();
    assert.equal(JSON.parse(first).object.metadata.name, "a1");
    const rpc: ResourcesClient = new Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    const got = await new Promise<{ object: Buffer }>((resolve, reject) =>
      rpc.get({ ref: { group: G, version: "v1", plural: "gadgets", namespace: "after", name: "a1" } }, md, { deadline: Date.now() + 10_000 }, (err, res) =>
        err ? reject(err) : resolve(res!),
      ),
    );
    rpc.close();
    assert.equal(JSON.parse(got.object.toString()).metadata.name, "a1");
  });
});
