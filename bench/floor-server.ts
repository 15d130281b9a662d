// The floor for WebSocket fan-out in Node: a bare `ws` broadcast server with
// no store, no durability, no selectors. Each published change is serialized
// once into one Buffer and sent as is to every subscriber (ws frames it per
// socket; nothing is coalesced). Setpoint's fan-out is compared against this.
//
//   node --import tsx bench/floor-server.ts [--port 0]   (the benches run it compiled to JS)
//   → prints {"url":"http://127.0.0.1:PORT"} once listening
//
// WebSocket paths: /watch subscribes (one JSON event per text message, the
// same shape as a Setpoint watch event); /publish takes one JSON object
// {"name","spec"} per message and broadcasts it as an ADDED event with the
// next revision. SIGTERM/SIGINT close it.

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { WebSocketServer, type WebSocket } from "ws";

// Compiled alone (no bundling): it imports nothing of the project's, so it parses its one flag itself.
if (process.argv.includes("--help")) {
  process.stdout.write(
    'usage: node --import tsx bench/floor-server.ts [--port 0]\n\nThe fan-out bench\'s floor: a bare ws broadcast server; prints {"url": ...} once listening.\n',
  );
  process.exit(0);
}
const { values } = parseArgs({ options: { port: { type: "string", default: "0" } } });

const subscribers = new Set<WebSocket>();
let revision = 0;

const http = createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "text/plain" });
  res.end(req.url === "/healthz" ? "ok" : "not found");
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

function broadcast(message: Buffer): void {
  const { name, spec } = JSON.parse(message.toString()) as { name: string; spec: unknown };
  revision++;
  const event = Buffer.from(JSON.stringify({ type: "ADDED", object: { metadata: { name, resourceVersion: String(revision) }, spec } }));
  for (const ws of subscribers) ws.send(event, { binary: false });
}

http.on("upgrade", (req, socket, head) => {
  const path = new URL(req.url ?? "/", "http://floor").pathname;
  if (path !== "/watch" && path !== "/publish") {
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (path === "/watch") {
      subscribers.add(ws);
      ws.on("close", () => subscribers.delete(ws));
    } else {
      ws.on("message", (data) => broadcast(data as Buffer));
    }
    ws.on("error", () => ws.terminate());
  });
});

http.listen(Number(values.port), "127.0.0.1", () => {
  const { port } = http.address() as { port: number };
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}` }) + "\n");
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    for (const ws of wss.clients) ws.terminate();
    http.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
