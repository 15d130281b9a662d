// A gRPC client of your own, with nothing of Setpoint's code: the schema in
// proto/setpoint/v1/resources.proto (its comments say what every field
// means), @grpc/grpc-js and @grpc/proto-loader. It lists a type page by page
// at one revision, then shows how an error arrives: a gRPC code, the message,
// and the Kubernetes Status as JSON in the trailer `setpoint-status-bin`.
//
//   node examples/grpc/list.mjs 127.0.0.1:9090 ci.setpoint.dev/v1/pipelineruns
//
// With a token (--token-auth-file): SETPOINT_TOKEN=… sends it as kube does,
// `authorization: Bearer …`. Over TLS, use grpc.credentials.createSsl(caPem).

import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const [address = "127.0.0.1:9090", type = "ci.setpoint.dev/v1/pipelineruns"] = process.argv.slice(2);
const [group, version, plural] = type.split("/");
if (!plural) {
  console.error(`usage: node examples/grpc/list.mjs HOST:PORT GROUP/VERSION/PLURAL (got type "${type}")`);
  process.exit(2);
}

// Fields in camelCase (label_selector → labelSelector), int64 as numbers, an empty list as [].
const proto = fileURLToPath(new URL("../../proto/setpoint/v1/resources.proto", import.meta.url));
const { Resources } = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { longs: Number, arrays: true })).setpoint.v1;
const client = new Resources(address, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
if (process.env.SETPOINT_TOKEN) metadata.set("authorization", `Bearer ${process.env.SETPOINT_TOKEN}`);
const call = (method, request) =>
  new Promise((resolve, reject) =>
    client[method](request, metadata, { deadline: Date.now() + 10_000 }, (err, response) => (err ? reject(err) : resolve(response))),
  );

let step = "list";
try {
  const ref = { group, version, plural, namespace: "" }; // "": every namespace
  let page = await call("list", { ref, limit: 100 });
  console.log(`list at revision ${page.revision}`);
  for (;;) {
    for (const bytes of page.items) {
      const o = JSON.parse(bytes.toString("utf8"));
      console.log(`${o.metadata.namespace ?? ""}/${o.metadata.name} resourceVersion ${o.metadata.resourceVersion}`);
    }
    if (!page.continue) break;
    page = await call("list", { ref, limit: 100, continue: page.continue }); // same revision as the first page
  }
  step = "get default/no-such-object";
  await call("get", { ref: { ...ref, namespace: "default", name: "no-such-object" } });
} catch (err) {
  if (err.code === undefined) throw err;
  const [status] = err.metadata.get("setpoint-status-bin"); // absent when the server was not reached
  const { reason, code } = status ? JSON.parse(status.toString("utf8")) : {};
  console.log(`${step}: ${grpc.status[err.code]}: ${err.details}${status ? ` (Status reason ${reason}, code ${code})` : ""}`);
  process.exitCode = step !== "list" && err.code === grpc.status.NOT_FOUND ? 0 : 1; // the get was meant to fail
} finally {
  client.close();
}
