// Agent-side places where a name's length meets a tighter limit: the
// informer's state file (one path component of at most 255 bytes, for a
// 253-character type, a 63-character namespace and a selector), the lease
// name (an object name of at most 253 characters), and the helper both use.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Informer } from "../../src/agent/informer.ts";
import { boundedName, MAX_PATH_COMPONENT_BYTES } from "../../src/agent/bounded-name.ts";
import { SetpointClient } from "../../src/agent/client.ts";
import { LeaseMembership } from "../../src/agent/lease.ts";
import { StateFile } from "../../src/agent/state-dir.ts";
import { isDNS1123Subdomain } from "../../src/api/validation.ts";
import { createType } from "../helpers/server.ts";
import { startEnv, type Env } from "./fixtures.ts";

const PLURAL = "gadget".padEnd(62, "x") + "s";
const GROUP = `${"g".repeat(63)}.${"h".repeat(62)}.${"example".padEnd(62, "e")}`;
const NS63 = "team-".padEnd(62, "z") + "9";

describe("boundedName", () => {
  it("passes text up to the limit through unchanged", () => {
    assert.equal(boundedName("run-1", 255), "run-1");
    const exact = "a".repeat(255);
    assert.equal(boundedName(exact, 255), exact);
  });

  it("shortens longer text to the limit, keeping its start, distinct for texts that differ only at the end", () => {
    const a = boundedName("n".repeat(300) + "a", 255);
    const b = boundedName("n".repeat(300) + "b", 255);
    assert.equal(a.length, 255);
    assert.equal(b.length, 255);
    assert.notEqual(a, b);
    assert.ok(a.startsWith("n".repeat(200)));
    assert.match(a, /-[0-9a-f]{16}$/);
    assert.equal(boundedName("n".repeat(300) + "a", 255), a, "the same text gives the same name");
  });

  it("counts bytes, not characters", () => {
    const wide = "é".repeat(200); // 400 bytes
    const out = boundedName(wide, 255);
    assert.ok(Buffer.byteLength(out) <= 255, `${Buffer.byteLength(out)} bytes`);
    assert.ok(out.startsWith("é"));
  });

  it("keeps a DNS-1123 name a DNS-1123 name", () => {
    for (const text of [`${"a".repeat(240)}.${"b".repeat(20)}`, `${"a".repeat(235)}-.x`.replace("-.", "-b."), `${"a".repeat(235)}.${"c".repeat(40)}`]) {
      const out = boundedName(text, 253);
      assert.ok(out.length <= 253);
      assert.deepEqual(isDNS1123Subdomain(out), [], out);
    }
  });
});

describe("the informer's state file at the limits", () => {
  it("a 253-character type in a 63-character namespace with a long selector saves and loads; identities differing at the end get files of their own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-state-long-"));
    try {
      const selector = "app.kubernetes.io/name=" + "s".repeat(63) + ",tier in (" + "t".repeat(63) + ")";
      const identity = (end: string) => [PLURAL, GROUP, "v1", NS63, selector + end, ""].join("_");
      const files = ["a", "b"].map((end, i) => {
        const objects = [{ apiVersion: `${GROUP}/v1`, kind: "Gadget", metadata: { name: "n".repeat(253), namespace: NS63, resourceVersion: String(10 + i) } }];
        return new StateFile(dir, { identity: identity(end), snapshot: () => ({ revision: 10 + i, objects }) });
      });
      for (const f of files) {
        f.markDirty();
        await f.flush();
      }
      const names = readdirSync(dir);
      assert.equal(names.length, 2, names.join(", "));
      for (const n of names) assert.ok(Buffer.byteLength(n) <= MAX_PATH_COMPONENT_BYTES, `${Buffer.byteLength(n)} bytes`);
      for (const [i, f] of files.entries()) {
        const again = new StateFile(dir, { identity: identity(["a", "b"][i]!), snapshot: () => ({ revision: 0, objects: [] }) });
        assert.equal(again.path, f.path);
        const loaded = again.load();
        assert.equal(loaded?.revision, 10 + i);
        assert.equal(loaded?.objects[0]?.metadata.name, "n".repeat(253));
      }
      const short = new StateFile(dir, { identity: "widgets_example.com_v1_default", snapshot: () => ({ revision: 1, objects: [] }) });
      assert.equal(short.path, join(dir, "widgets_example.com_v1_default.json"), "short identities keep their file names");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("lease names at the limit", () => {
  it("replicas whose identities share their first 253 characters get distinct, valid lease names", () => {
    const client = new SetpointClient({ grpcAddress: "127.0.0.1:1" });
    try {
      const agentName = "a".repeat(63);
      const names = ["1", "2"].map((end) => new LeaseMembership({ client, agentName, identity: `${"host-".repeat(60)}${end}` }).leaseName);
      assert.notEqual(names[0], names[1]);
      for (const n of names) {
        assert.ok(n.length <= 253, `${n.length} characters`);
        assert.deepEqual(isDNS1123Subdomain(n), [], n);
        assert.ok(n.startsWith(`${agentName}-host-host-`));
      }
      const plain = new LeaseMembership({ client, agentName: "hello", identity: "node-1-123-abcdef" }).leaseName;
      assert.equal(plain, "hello-node-1-123-abcdef", "short names are unchanged");
    } finally {
      client.close();
    }
  });
});

describe("an informer of a 253-character type in a 63-character namespace", () => {
  let env: Env;
  let stateDir: string;
  before(async () => {
    env = await startEnv();
    stateDir = mkdtempSync(join(tmpdir(), "setpoint-agent-state-long-"));
  });
  after(async () => {
    await env.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("lists 253-character names, saves its state, and a new informer resumes from it without listing", async () => {
    await createType(env.http, { group: GROUP, kind: "Gadget", plural: PLURAL });
    const path = `/apis/${GROUP}/v1/namespaces/${NS63}/${PLURAL}`;
    const names = [1, 63, 64, 253].map((n) => "g".repeat(n - 1) + "1");
    for (const name of names) {
      const res = await env.http.post(path, { apiVersion: `${GROUP}/v1`, kind: "Gadget", metadata: { name, labels: { tier: "t".repeat(63) } } });
      assert.equal(res.status, 201, res.text);
    }
    const type = { group: GROUP, version: "v1", plural: PLURAL, namespace: NS63 };
    const labelSelector = `tier=${"t".repeat(63)},app.kubernetes.io/name notin (${"x".repeat(63)},${"y".repeat(63)})`;
    const start = () => {
      const client = new SetpointClient({ grpcAddress: env.grpcAddress, httpUrl: env.server.url });
      const informer = new Informer({ client, type, labelSelector, stateDir, persistIntervalMs: 20 });
      const stop = new AbortController();
      return { client, informer, stop, running: informer.run(stop.signal) };
    };
    const first = start();
    assert.equal(await first.informer.waitForSync(AbortSignal.timeout(15_000)), true);
    assert.deepEqual(
      first.informer.cache
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      [...names].sort(),
    );
    first.stop.abort();
    await first.running;
    first.client.close();
    const files = readdirSync(stateDir).filter((f) => f.endsWith(".json"));
    assert.equal(files.length, 1, "the state was saved");
    assert.ok(Buffer.byteLength(files[0]!) <= MAX_PATH_COMPONENT_BYTES);

    const second = start();
    try {
      assert.equal(second.informer.hasSynced(), true, "synced from the state file at once");
      assert.equal(second.informer.stats.restores, 1);
      assert.equal(second.client.calls.list ?? 0, 0);
      assert.ok(second.informer.cache.get(`${NS63}/${names[3]}`), "the 253-character name came back from the file");
    } finally {
      second.stop.abort();
      await second.running;
      second.client.close();
    }
  });
});
