// Two agents of different types under one name (an example copied without
// renaming it): their leases make them one membership, so each is given part
// of the other's keys and skips them, and those objects are never
// reconciled, silently. Each lease now names the type its replica
// reconciles; a replica that sees a peer of its name reconciling another
// type tells onError once, naming both types and the fix. Replicas of one
// type under one name (the normal case) say nothing.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Agent, type ApiObject } from "../../src/agent.ts";
import { createType } from "../helpers/server.ts";
import { TYPE, startEnv, waitFor, type Env } from "./fixtures.ts";

const GIZMOS = { group: TYPE.group, version: "v1", plural: "gizmos" } as const;

describe("agents sharing a name", () => {
  let env: Env;
  before(async () => {
    env = await startEnv();
    await createType(env.http, { group: GIZMOS.group, kind: "Gizmo", plural: GIZMOS.plural });
  });
  after(async () => await env?.stop());

  test("of different types: each is told once, with both types and the fix; of one type: nothing", async () => {
    const errors = new Map<string, string[]>();
    const stop = new AbortController();
    const start = (id: string, name: string, type: typeof TYPE | typeof GIZMOS) => {
      errors.set(id, []);
      const agent = new Agent<ApiObject>({
        name,
        identity: id,
        grpcAddress: env.grpcAddress,
        httpUrl: env.server.url,
        type,
        reconcile: async () => {},
        onError: (err) => errors.get(id)!.push((err as Error).message),
      });
      return agent.run(stop.signal);
    };
    const running = [start("w1", "twin", TYPE), start("g1", "twin", GIZMOS), start("w2", "solo", TYPE), start("w3", "solo", TYPE)];
    try {
      const told = /^lease: agent "twin": the replica of lease twin-(\w+) reconciles (\S+), this one (\S+)\. .*give each agent its own name/;
      await waitFor("both twins told", () => errors.get("w1")!.some((m) => told.test(m)) && errors.get("g1")!.some((m) => told.test(m)));
      assert.deepEqual(told.exec(errors.get("w1")!.find((m) => told.test(m))!)!.slice(1), [
        "g1",
        "gizmos.agent.example.com/v1",
        "widgets.agent.example.com/v1",
      ]);
      assert.deepEqual(told.exec(errors.get("g1")!.find((m) => told.test(m))!)!.slice(1), [
        "w1",
        "widgets.agent.example.com/v1",
        "gizmos.agent.example.com/v1",
      ]);
      // Once each, however often the peer's lease is renewed (every 5 s by default): wait for a renewal of each.
      const rv = async (lease: string) =>
        ((await env.http.get(`/apis/setpoint.dev/v1/namespaces/default/leases/${lease}`)).body as ApiObject).metadata.resourceVersion;
      const before = { w1: await rv("twin-w1"), g1: await rv("twin-g1") };
      await waitFor("both twins' leases renewed", async () => (await rv("twin-w1")) !== before.w1 && (await rv("twin-g1")) !== before.g1, 20_000);
      for (const id of ["w1", "g1"]) assert.equal(errors.get(id)!.filter((m) => told.test(m)).length, 1, errors.get(id)!.join("\n"));
      for (const id of ["w2", "w3"]) assert.deepEqual(errors.get(id), [], `replicas of one type under one name: ${id}`);
    } finally {
      stop.abort();
      await Promise.all(running);
    }
  });
});
