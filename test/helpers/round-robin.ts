// Round-robin front ends on 127.0.0.1 for tests that run one test server as
// several replicas: HTTP requests (and WebSocket upgrades) go, one request at a
// time, to the next replica, so a write and the read or watch after it cross
// replicas even on one keep-alive connection; a TCP front end (gRPC) sends each
// new connection to the next replica.

import { Agent, createServer as createHttpServer, request, type IncomingHttpHeaders, type Server as HttpServer } from "node:http";
import { connect, createServer as createTcpServer, type Server, type Socket } from "node:net";

export interface FrontEnd {
  port: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer"]);

function forwardable(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k) && k !== "upgrade") out[k] = v;
  return out;
}

/** Listens on an ephemeral port of 127.0.0.1; `close` destroys the tracked sockets (and agents), then closes the server. */
async function serve(server: Server | HttpServer, sockets: Set<Socket>, agents: Agent[] = []): Promise<FrontEnd> {
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        for (const a of agents) a.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Joins a client's socket to its replica's, each way through `pipe` (so a
 * reader that stops reading stops the other side's reads: backpressure, no
 * buffering here beyond the sockets' own). An end is passed on; the replica's
 * close ends the client's side after what is queued; the client's close, or an
 * error on either, destroys the other.
 */
function splice(client: Socket, upstream: Socket): void {
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => client.end());
}

/** An HTTP front end on 127.0.0.1 that sends each request (and each WebSocket upgrade) to the next of `ports`. */
export async function roundRobinHttp(ports: number[]): Promise<FrontEnd> {
  let next = 0;
  const agents = ports.map(() => new Agent({ keepAlive: true }));
  const sockets = new Set<Socket>();
  // Idle keep-alive connections are kept as long as the server keeps them (65 s), not node's 5 s:
  // at load 40+ a client's idle timer (fetch: the server's hint less a second) fired after the
  // front end had closed the socket, and the next POST on it failed ("fetch failed").
  const server = createHttpServer({ requestTimeout: 0, keepAliveTimeout: 65_000 });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  server.on("request", (req, res) => {
    const i = next++ % ports.length;
    const up = request(
      { host: "127.0.0.1", port: ports[i], method: req.method, path: req.url, headers: forwardable(req.headers), agent: agents[i] },
      (upRes) => {
        const headers = forwardable(upRes.headers);
        // A replica that closes its connection after this answer: so does the front end (the body may be unread).
        if (/\bclose\b/i.test(String(upRes.headers.connection ?? ""))) headers.connection = "close";
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
        // Sent now (a watch's answer streams), before an empty Buffer: Node writes a header block ahead of a
        // string (flushHeaders' '') as UTF-8, which encodes twice the latin1 bytes of a UTF-8 Warning header.
        res.write(Buffer.alloc(0));
        upRes.on("data", (d: Buffer) => {
          if (!res.write(d)) {
            upRes.pause();
            res.once("drain", () => upRes.resume());
          }
        });
        upRes.on("end", () => {
          if (req.complete) return res.end();
          // Answered before the whole body came (413): read and drop the rest,
          // then end, so the client reads the answer rather than a reset.
          req.unpipe(up);
          req.resume();
          req.once("end", () => res.end());
          req.once("close", () => res.end());
        });
        upRes.on("error", () => res.destroy());
      },
    );
    up.on("error", (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain", connection: "close" });
        res.end(`round-robin front end: replica unreachable: ${err.message}`);
      } else res.destroy();
    });
    // The client went away (an aborted watch): so does the request to the replica.
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  server.on("upgrade", (req, socket: Socket, head: Buffer) => {
    const i = next++ % ports.length;
    const upstream = connect(ports[i]!, "127.0.0.1");
    sockets.add(upstream);
    upstream.once("close", () => sockets.delete(upstream));
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let j = 0; j < req.rawHeaders.length; j += 2) lines.push(`${req.rawHeaders[j]}: ${req.rawHeaders[j + 1]}`);
    upstream.write(lines.join("\r\n") + "\r\n\r\n");
    if (head.length > 0) upstream.write(head);
    splice(socket, upstream);
  });
  return serve(server, sockets, agents);
}

/** A TCP front end on 127.0.0.1 that sends each new connection to the next of `ports`. */
export async function roundRobinTcp(ports: number[]): Promise<FrontEnd> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(ports[next++ % ports.length]!, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
    }
    splice(client, upstream);
  });
  return serve(server, sockets);
}
