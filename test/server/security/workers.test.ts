// RBAC with `--workers 2` on LMDB (API.md §8): a role change made through one
// worker applies to the very next request, whichever worker takes it. The
// writes go over one kept-alive connection, the checks over four others, so
// both workers (which take connections in turn) answer checks.
// Without the catch-up, the other worker's RBAC index learned of the commit
// from the primary's relayed notice a moment later, and a few percent of the
// next requests were decided on the old roles (a revoked user let in).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startChildServer, type ChildServer } from "../../helpers/child-server.ts";

const DEADLINE_MS = 60_000;
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const ROUNDS = 60;

/** Connections kept alive: [0] for the writes, the others for the checks. */
const agents = Array.from({ length: 5 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));

/** One request over `agent`'s connection; resolves to the status. */
function call(url: string, method: string, path: string, token: string, body?: unknown, agent = agents[0]!): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(DEADLINE_MS, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("RBAC with --workers 2: a role change applies to the next request on either worker", () => {
  let dir: string;
  let server: ChildServer;
  let url: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "setpoint-rbac-workers-"));
    writeFileSync(join(dir, "tokens.csv"), "t-admin,admin,1,system:masters\nt-carol,carol,2\n");
    server = await startChildServer(join(dir, "data"), [
      "--workers",
      "2",
      "--no-fsync",
      "--token-auth-file",
      join(dir, "tokens.csv"),
      "--authorization-mode",
      "RBAC",
    ]);
    url = server.url;
    const role = { metadata: { name: "types-reader" }, rules: [{ apiGroups: ["setpoint.dev"], resources: ["resourcetypes"], verbs: ["list"] }] };
    assert.equal(await call(url, "POST", `${RBAC}/clusterroles`, "t-admin", role), 201);
  });
  after(async () => {
    for (const agent of agents) agent.destroy();
    if (server && server.child.exitCode === null) {
      server.child.kill("SIGTERM");
      const code = await Promise.race([server.exited, new Promise((r) => setTimeout(r, DEADLINE_MS))]);
      if (code === undefined) server.child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("grants and revocations are in force for the next request", async () => {
    const roleRef = { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "types-reader" };
    const wrong: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const binding = { metadata: { name: `carol-${i}` }, roleRef, subjects: [{ kind: "User", name: "carol" }] };
      assert.equal(await call(url, "POST", `${RBAC}/clusterrolebindings`, "t-admin", binding), 201);
      const granted = await call(url, "GET", "/apis/setpoint.dev/v1/resourcetypes", "t-carol", undefined, agents[1 + (i % 4)]);
      if (granted !== 200) wrong.push(`round ${i}: granted, answered ${granted}`);
      assert.equal(await call(url, "DELETE", `${RBAC}/clusterrolebindings/carol-${i}`, "t-admin"), 200);
      const revoked = await call(url, "GET", "/apis/setpoint.dev/v1/resourcetypes", "t-carol", undefined, agents[1 + ((i + 1) % 4)]);
      if (revoked !== 403) wrong.push(`round ${i}: revoked, answered ${revoked}`);
    }
    assert.deepEqual(wrong, []);
  });
});
