// The REST test files (test/server/rest/) and the gRPC file, run again with
// every test server on etcd, made of two replicas (test/helpers/etcd-suite.ts).
// What the LMDB server passes, the etcd-backed server must pass too (API.md
// §9). The watch file: etcd-suite-watch.test.ts.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe } from "node:test";
import { fileURLToPath } from "node:url";
import { passesOnEtcd } from "../helpers/etcd-suite.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FILES = [
  ...readdirSync(join(ROOT, "test/server/rest"))
    .filter((f) => f.endsWith(".test.ts"))
    .sort()
    .map((f) => `test/server/rest/${f}`),
  "test/server/grpc.test.ts",
];

describe("the server test suite on etcd", () => {
  passesOnEtcd(FILES, 80);
});
