// test/helpers/etcd.ts: pause() of a member (test/helpers/pause.ts). It used
// to return when SIGSTOP was sent, before the member was stopped; a request
// sent a millisecond later was answered on a busy machine, so a test that
// paused etcd saw a read it expected to hang succeed
// (test/server/security/replicas.test.ts: 200 and 429 within the 300 ms its
// request was to wait).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startEtcd, type EtcdCluster } from "./etcd.ts";
import { threadStates } from "./pause.ts";

describe("etcd test cluster: pause()", () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcd({ size: 1 });
  });
  after(async () => {
    await etcd?.stop();
  });

  it("resolves once every thread of the member is stopped, each time", async () => {
    const member = etcd.members[0]!;
    const pid = member.child!.pid!;
    const running: string[] = [];
    for (let i = 0; i < 30; i++) {
      await etcd.pause(member);
      const states = threadStates(pid).join("");
      etcd.resume(member);
      if (!/^T+$/.test(states)) running.push(`pause ${i}: thread states ${states}`);
    }
    assert.deepEqual(running, []);
  });

  it("a request sent once it resolved is not answered until resume()", async () => {
    const member = etcd.members[0]!;
    await etcd.pause(member);
    const answer = fetch(`${member.clientUrl}/version`).then(
      (r) => r.status,
      (err: Error) => err,
    );
    try {
      const early = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300))]);
      assert.equal(early, undefined, "the paused member answered");
    } finally {
      etcd.resume(member);
    }
    assert.equal(await answer, 200);
  });

  it("rejects for a member that is not running", async () => {
    const member = etcd.members[0]!;
    await etcd.kill(member);
    await assert.rejects(etcd.pause(member), /not running/);
    await etcd.restart(member);
  });
});
