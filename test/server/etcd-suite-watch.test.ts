// The watch test file and the edge fuzzers (bad requests over REST, gRPC and
// WebSocket: a Status for each, never a 500 or a hang, nothing written), run
// again with every test server on etcd, made of two replicas
// (test/helpers/etcd-suite.ts): split off from etcd-suite.test.ts so that the
// two run side by side.

import { describe } from "node:test";
import { passesOnEtcd } from "../helpers/etcd-suite.ts";

describe("the server test suite on etcd", () => {
  passesOnEtcd(["test/server/watch.test.ts", "test/server/fuzz.test.ts", "test/server/fuzz-wire.test.ts"], 20);
});
