// The rest of the server test files that start a test server, run again on
// etcd (test/helpers/etcd-suite.ts): the standard clients (kubectl, the
// Kubernetes Python client), Table and partial-metadata answers, gRPC guards,
// keepalive, and security (tokens, client certificates and TLS, RBAC, audit),
// each test server made of two replicas behind a round-robin front end (over
// TLS, one that sends each connection to the next replica). With etcd-suite.test.ts
// and etcd-suite-watch.test.ts (watch, fuzz, fuzz-wire), every server file the
// LMDB server passes, except:
// - watch-limit and security/limits check per-client watch caps, which are per
//   replica as kube-apiserver's are per apiserver, and the watch client's test
//   (test/client/) restarts its server on the same port: they run on etcd with
//   one replica (a server restarted on the same data directory gets the same
//   etcd prefix: test/helpers/server.ts);
// - list-stream spies on one process's store (its page reads) and first writes
//   20,000 objects, which on etcd takes longer than CI's budget allows (under
//   load some of its writes passed the 5 s etcd deadline); paged lists at one
//   revision on etcd are rest/lists.test.ts's, through two replicas;
// - long-names restarts a server on the same LMDB directory and opens an LMDB
//   directory of an older key format; the etcd store's own test
//   (test/store/etcd.test.ts) runs the store contract, long names included;
// - disk-full, crash and cut-off are about LMDB's disk and one process's
//   sockets; the fault files (faults*, partition, replicas) are etcd's own.

import { describe } from "node:test";
import { passesOnEtcd } from "../helpers/etcd-suite.ts";

describe("the server test suite on etcd", () => {
  passesOnEtcd(
    [
      "test/server/kubectl.test.ts",
      "test/server/kubectl-writes.test.ts",
      "test/server/python-client.test.ts",
      "test/server/table.test.ts",
      "test/server/partial-metadata.test.ts",
      "test/server/grpc-guards.test.ts",
      "test/server/keepalive.test.ts",
      "test/server/security/audit.test.ts",
      "test/server/security/authn.test.ts",
      "test/server/security/escalation.test.ts",
      "test/server/security/matrix.test.ts",
      "test/server/security/tls.test.ts",
    ],
    70,
  );
  passesOnEtcd(["test/server/watch-limit.test.ts", "test/server/security/limits.test.ts", "test/client/watch-client.test.ts"], 9, 1);
});
