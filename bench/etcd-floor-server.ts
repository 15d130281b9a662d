// The floor for a write through a server in front of etcd: a bare node:http
// server that takes a POSTed JSON body and stores it with one compare-and-put
// Txn (mod_revision = 0, as a create) on the etcd leader, over the same
// HTTP/2 Txn client as Setpoint's etcd store (src/store/etcd-txn.ts), and
// answers 201 with the body. No API path: no routing, validation, mirror or
// watch. What a create through Setpoint costs above this is Setpoint's own;
// what this costs above a raw put is the extra process hop.
//
//   node --import tsx bench/etcd-floor-server.ts --etcd http://127.0.0.1:2379 [--port 0]
//   → prints {"url":"http://127.0.0.1:PORT"} once listening

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { EtcdTxnClient } from "../src/store/etcd-txn.ts";

const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, etcd: { type: "string" } } });
if (!values.etcd) throw new Error("etcd-floor-server: --etcd URL (the leader's client URL) is required");
const etcd = new EtcdTxnClient({ url: values.etcd, timeoutMs: 5000 });
let n = 0;

const http = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const key = Buffer.from(`/floor/${process.pid}/${++n}`);
    etcd
      .txn({
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: 0 }],
        success: [{ request_put: { key, value: body } }],
        failure: [{ request_range: { key } }],
      })
      .then(
        (answer) => {
          res.writeHead(answer.succeeded ? 201 : 409, { "content-type": "application/json", "content-length": body.length });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(503, { "content-type": "text/plain" });
          res.end(err.message);
        },
      );
  });
});
http.listen(Number(values.port), "127.0.0.1", () => {
  const { port } = http.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
const stop = () => {
  etcd.close();
  http.close();
  http.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
