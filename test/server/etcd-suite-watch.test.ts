// The watch test file, run again with every test server on etcd, made of two
// replicas (test/helpers/etcd-suite.ts): the second half of
// etcd-suite.test.ts, split off so that the two run side by side.

import { describe } from "node:test";
import { passesOnEtcd } from "../helpers/etcd-suite.ts";

describe("the server test suite on etcd", () => {
  passesOnEtcd(["test/server/watch.test.ts"], 15);
});
