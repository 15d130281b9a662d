#!/usr/bin/env node
// Prints a Setpoint watch opened as a WebSocket, one JSON event per line.
//   node scripts/ws-watch.mjs 'ws://127.0.0.1:8080/apis/G/V/namespaces/NS/PLURAL?resourceVersion=12'
// Exits when the server closes the stream (printing the close code), or on Ctrl-C.
import { WebSocket } from "ws";

const url = process.argv[2];
if (!url || url === "--help" || url === "-h") {
  console.error("usage: node scripts/ws-watch.mjs ws://HOST:PORT/apis/GROUP/VERSION/[namespaces/NS/]PLURAL[?query]");
  process.exit(url ? 0 : 2);
}
const headers = process.env.SETPOINT_TOKEN ? { Authorization: `Bearer ${process.env.SETPOINT_TOKEN}` } : {};
const ws = new WebSocket(url, { headers });
ws.on("message", (data) => console.log(data.toString()));
ws.on("unexpected-response", (_req, res) => {
  let body = "";
  res.on("data", (c) => (body += c));
  res.on("end", () => {
    console.error(`watch refused: HTTP ${res.statusCode} ${body}`);
    process.exit(1);
  });
});
ws.on("close", (code, reason) => {
  console.error(`closed: ${code} ${reason}`);
  process.exit(code === 1000 ? 0 : 1);
});
ws.on("error", (err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
