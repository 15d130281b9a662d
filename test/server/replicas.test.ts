// Several server replicas on one etcd (API.md §9): writes through one replica
// are seen, at once and in order, through another — consistent lists and
// gets, watches resumed on B from a revision A acknowledged, 504 for a
// revision no replica reached, bookmarks that advance on a quiet replica,
// ResourceTypes live everywhere as soon as one replica created them (and of
// two clashing ones created at once on two replicas, exactly one), and
// preconditions (leases) that hold across replicas; one etcd watch per
// replica whatever it serves, and one compaction of etcd per period for the
// cluster (counted by etcd's own /metrics). Over REST, WebSocket watches and
// gRPC. Every replica is a real server on its own ports; they
// share a real etcd (3 members) and one key prefix.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { Etcd3 } from "etcd3";
import { SetpointClient, type WatchEvent as ClientEvent } from "../../src/agent.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

const GROUP = "replicas.example.com";
const GV = `/apis/${GROUP}/v1`;
/** The group of the types that clash on purpose. */
const CLASH = "clash.example.com";
const DEADLINE_MS = 15_000;

let etcd: EtcdCluster;
let a: TestServer;
let b: TestServer;
let ca: ApiClient;
let cb: ApiClient;
let ns = 0;
const freshNs = () => `r${++ns}`;
const things = (n: string) => `${GV}/namespaces/${n}/things`;
const thing = (name: string, spec: Record<string, unknown> = { v: 1 }) => ({ apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec });

async function replica(prefix: string, extra: Record<string, unknown> = {}): Promise<TestServer> {
  return startTestServer({ store: "etcd", etcdServers: etcd.endpoints.split(","), etcdPrefix: prefix, grpcPort: 0, bookmarkIntervalMs: 300, ...extra });
}

async function ok(p: Promise<{ status: number; body: any; text: string }>, code = 200): Promise<any> {
  const res = await p;
  assert.equal(res.status, code, res.text);
  return res.body;
}

/** A WebSocket watch recording its events. */
function wsWatch(url: string): { events: any[]; until(pred: (events: any[]) => boolean, what: string): Promise<void>; close(): void; closed: Promise<void> } {
  const ws = new WebSocket(url.replace(/^http/, "ws"));
  const events: any[] = [];
  let wake = () => {};
  ws.on("message", (data) => {
    events.push(JSON.parse(data.toString()));
    wake();
  });
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  return {
    events,
    closed,
    async until(pred, what) {
      const deadline = Date.now() + DEADLINE_MS;
      while (!pred(events)) {
        if (Date.now() > deadline)
          throw new Error(
            `timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name, e.object?.metadata?.resourceVersion]))}`,
          );
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    },
    close: () => ws.close(),
  };
}

/** The sum over every member of an etcd metric's samples whose line matches `labels` (0 where absent), from each member's /metrics. */
async function etcdMetric(name: string, labels: RegExp = /.*/): Promise<number[]> {
  return Promise.all(
    etcd.members.map(async (m) => {
      const text = await (await fetch(`${m.clientUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      return text
        .split("\n")
        .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.test(l))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    }),
  );
}
const total = (xs: number[]) => xs.reduce((x, y) => x + y, 0);

/** Waits until `check` passes (it throws until then), up to DEADLINE_MS; then throws its last error. */
async function until(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

before(async () => {
  etcd = await startEtcd({ size: 3 });
  a = await replica("/replicas");
  b = await replica("/replicas");
  ca = api(a.url);
  cb = api(b.url);
  await createType(ca, { group: GROUP, kind: "Thing", plural: "things" });
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await etcd?.stop();
});

describe("replicas on one etcd", () => {
  it("a ResourceType created on A is live on B at once", async () => {
    for (let i = 0; i < 5; i++) {
      const plural = `kinds${i}`;
      await createType(ca, { group: GROUP, kind: `Kind${i}`, plural });
      // No wait: B must serve the new type on the very next request.
      const n = freshNs();
      await ok(cb.post(`${GV}/namespaces/${n}/${plural}`, { apiVersion: `${GROUP}/v1`, kind: `Kind${i}`, metadata: { name: "x" }, spec: {} }), 201);
      assert.equal((await ok(ca.get(`${GV}/namespaces/${n}/${plural}/x`))).metadata.name, "x");
      const discovery = await ok(cb.get(GV));
      assert.ok(
        discovery.resources.some((r: { name: string }) => r.name === plural),
        `B's discovery lists ${plural}`,
      );
    }
  });

  it("two clashing ResourceTypes created at once on A and B: exactly one is accepted, and both replicas serve the same one", async () => {
    const rt = (plural: string, spec: Record<string, unknown>) => ({
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: `${plural}.${CLASH}` },
      spec: { group: CLASH, version: "v1", plural, scope: "Namespaced", ...spec },
    });
    // Each round a pair that clashes in one way: the same kind, a short name, a plural that is the other's short name, a singular.
    const pairs = (i: number): Array<[Record<string, unknown>, Record<string, unknown>]> => [
      [rt(`kas${i}`, { kind: `Same${i}` }), rt(`kbs${i}`, { kind: `Same${i}` })],
      [rt(`sas${i}`, { kind: `Sa${i}`, shortNames: [`s${i}`] }), rt(`sbs${i}`, { kind: `Sb${i}`, shortNames: [`s${i}`] })],
      [rt(`pas${i}`, { kind: `Pa${i}`, shortNames: [`pbs${i}`] }), rt(`pbs${i}`, { kind: `Pb${i}` })],
      [rt(`gas${i}`, { kind: `Ga${i}`, shortNames: [`gb${i}`] }), rt(`gbs${i}`, { kind: `Gb${i}` })],
    ];
    const served = async (c: ApiClient) => {
      const d = await ok(c.get(`/apis/${CLASH}/v1`));
      return (d.resources as Array<{ name: string; kind: string; singularName: string; shortNames?: string[] }>)
        .filter((r) => !r.name.includes("/"))
        .map((r) => ({ name: r.name, kind: r.kind, singularName: r.singularName, shortNames: r.shortNames ?? [] }))
        .sort((x, y) => x.name.localeCompare(y.name));
    };
    for (let i = 0; i < 10; i++) {
      for (const [x, y] of pairs(i)) {
        const [rx, ry] = await Promise.all([ca.post("/apis/setpoint.dev/v1/resourcetypes", x), cb.post("/apis/setpoint.dev/v1/resourcetypes", y)]);
        assert.deepEqual([rx.status, ry.status].sort(), [201, 422], `round ${i}: ${rx.text.slice(0, 300)} / ${ry.text.slice(0, 300)}`);
        const refused = rx.status === 422 ? rx : ry;
        assert.equal(refused.body.reason, "Invalid", refused.text);
        assert.match(refused.body.message, /already in use/, refused.text);
      }
    }
    // A change of short names racing a create that claims one of them.
    let racedIn = 0;
    for (let i = 0; i < 10; i++) {
      await ok(ca.post("/apis/setpoint.dev/v1/resourcetypes", rt(`ups${i}`, { kind: `Up${i}` })), 201);
      const [rx, ry] = await Promise.all([
        ca.patch(`/apis/setpoint.dev/v1/resourcetypes/ups${i}.${CLASH}`, { spec: { shortNames: [`u${i}`] } }),
        cb.post("/apis/setpoint.dev/v1/resourcetypes", rt(`uds${i}`, { kind: `Ud${i}`, shortNames: [`u${i}`] })),
      ]);
      assert.equal([rx, ry].filter((r) => r.status === 422).length, 1, `round ${i}: ${rx.text.slice(0, 300)} / ${ry.text.slice(0, 300)}`);
      assert.ok(rx.status === 200 || ry.status === 201, `round ${i}: ${rx.text.slice(0, 300)} / ${ry.text.slice(0, 300)}`);
      if (ry.status === 201) racedIn++;
    }
    // One history: every replica lists the same types, and no name (plural, singular, kind, short name) twice.
    const [onA, onB] = await Promise.all([served(ca), served(cb)]);
    assert.deepEqual(onA, onB);
    assert.equal(onA.length, 40 + 10 + racedIn);
    const names = onA.flatMap((r) => [...new Set([r.name, r.singularName, r.kind.toLowerCase(), ...r.shortNames])]);
    assert.equal(new Set(names).size, names.length, `a name served twice: ${names.filter((n, k) => names.indexOf(n) !== k).join(", ")}`);
  });

  it("a schema changed through A applies at once to every write through B: create, update, patch and status", async () => {
    const plural = "evolvers";
    const path = `/apis/setpoint.dev/v1/resourcetypes/${plural}.${GROUP}`;
    /** The schema of flip k: n and p are integers for even k, strings for odd k. */
    const schema = (k: number) => {
      const part = (f: string) => ({ type: "object", properties: { [f]: { type: k % 2 === 0 ? "integer" : "string" } } });
      return { spec: part("n"), status: part("p") };
    };
    /** A value flip k's schema refuses (the previous one accepts it), and one it accepts (the previous one refuses). */
    const bad = (k: number, i: number) => (k % 2 === 0 ? `t${i}` : i);
    const good = (k: number, i: number) => (k % 2 === 0 ? i : `t${i}`);
    await ok(
      ca.post("/apis/setpoint.dev/v1/resourcetypes", {
        metadata: { name: `${plural}.${GROUP}` },
        spec: { group: GROUP, version: "v1", kind: "Evolver", plural, scope: "Namespaced", schema: schema(1) },
      }),
      201,
    );
    const n = freshNs();
    const base = `${GV}/namespaces/${n}/${plural}`;
    const obj = (name: string, spec: Record<string, unknown>) => ({ apiVersion: `${GROUP}/v1`, kind: "Evolver", metadata: { name }, spec });
    await ok(ca.post(base, obj("x", { n: "s" })), 201);
    await ok(ca.patch(`${base}/x/status`, { status: { p: "s" } }));
    let k = 1;
    /** Changes the schema through A (acknowledged), then writes through B at once. */
    const flipThen = async (write: (k: number) => Promise<{ status: number; text: string }>, want: number, what: string) => {
      k++;
      await ok(ca.patch(path, { spec: { schema: schema(k) } }));
      const res = await write(k);
      assert.equal(res.status, want, `${what} after flip ${k}: ${res.text.slice(0, 300)}`);
    };
    for (let i = 0; i < 40; i++) {
      await flipThen((k) => cb.post(base, obj(`c${i}`, { n: bad(k, i) })), 422, "create");
      await flipThen((k) => cb.put(`${base}/x`, obj("x", { n: bad(k, i) })), 422, "update");
      await flipThen((k) => cb.patch(`${base}/x`, { spec: { n: bad(k, i) } }), 422, "patch");
      await flipThen((k) => cb.patch(`${base}/x/status`, { status: { p: bad(k, i) } }), 422, "status patch");
      await flipThen((k) => cb.put(`${base}/x/status`, { ...obj("x", { n: "s" }), status: { p: bad(k, i) } }), 422, "status update");
      // And what the new schema accepts (the old one refused) is accepted.
      await flipThen((k) => cb.post(base, obj(`g${i}`, { n: good(k, i) })), 201, "create of a fitting object");
    }
  });

  it("a write acknowledged by A is in B's next get and list, with one history of numeric revisions", async () => {
    const n = freshNs();
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const [writer, reader] = i % 2 ? [ca, cb] : [cb, ca];
      const created = await ok(writer.post(things(n), thing(`t${i}`)), 201);
      const rv = Number(created.metadata.resourceVersion);
      assert.ok(rv > last, `revision ${rv} after ${last}`);
      last = rv;
      const got = await ok(reader.get(`${things(n)}/t${i}`));
      assert.equal(got.metadata.resourceVersion, created.metadata.resourceVersion);
      const list = await ok(reader.get(things(n)));
      assert.equal(list.items.length, i + 1, "the list reflects every acknowledged write");
      assert.ok(Number(list.metadata.resourceVersion) >= rv);
    }
  });

  it("preconditions hold across replicas: of two updates from one revision, one wins (leases)", async () => {
    const n = freshNs();
    const lease = { apiVersion: "setpoint.dev/v1", kind: "Lease", metadata: { name: "leader" }, spec: { holderIdentity: "none", leaseDurationSeconds: 10 } };
    const base = await ok(ca.post(`/apis/setpoint.dev/v1/namespaces/${n}/leases`, lease), 201);
    for (let round = 0; round < 10; round++) {
      const current = await ok(cb.get(`/apis/setpoint.dev/v1/namespaces/${n}/leases/leader`));
      const take = (c: ApiClient, who: string) =>
        c.put(`/apis/setpoint.dev/v1/namespaces/${n}/leases/leader`, { ...current, spec: { ...current.spec, holderIdentity: who } });
      const [ra, rb] = await Promise.all([take(ca, `a${round}`), take(cb, `b${round}`)]);
      assert.deepEqual([ra.status, rb.status].sort(), [200, 409], `round ${round}: ${ra.text} / ${rb.text}`);
    }
    assert.ok(base.metadata.uid);
  });

  it("a watch on B from a revision A acknowledged gets every later change once, in order", async () => {
    const n = freshNs();
    const first = await ok(ca.post(things(n), thing("w0")), 201);
    const from = first.metadata.resourceVersion;
    const writes: Array<Promise<any>> = [];
    for (let i = 1; i <= 20; i++) writes.push(ok((i % 2 ? ca : cb).post(things(n), thing(`w${i}`)), 201));
    const acked = await Promise.all(writes);
    await ok(ca.del(`${things(n)}/w3`));
    // B may not have seen the latest write yet: it must wait, never skip.
    const w = wsWatch(`${b.url}${things(n)}?watch=true&resourceVersion=${from}`);
    try {
      await w.until((e) => e.some((x) => x.type === "DELETED"), "the delete");
      const revs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(
        revs,
        [...revs].sort((x, y) => x - y),
        "in revision order",
      );
      assert.equal(new Set(revs).size, revs.length, "no repeats");
      assert.deepEqual(
        w.events
          .filter((e) => e.type === "ADDED")
          .map((e) => e.object.metadata.resourceVersion)
          .sort(),
        acked.map((o) => o.metadata.resourceVersion).sort(),
        "every acknowledged write after the start",
      );
    } finally {
      w.close();
    }
  });

  it("a revision no replica has reached is 504 on B after ~3 s", async () => {
    const n = freshNs();
    const created = await ok(ca.post(things(n), thing("x")), 201);
    const far = Number(created.metadata.resourceVersion) + 1_000_000;
    const t0 = Date.now();
    const res = await cb.get(`${things(n)}?resourceVersion=${far}`);
    assert.equal(res.status, 504, res.text);
    assert.ok(Date.now() - t0 >= 2500, `waited ${Date.now() - t0} ms`);
  });

  it("bookmarks on a quiet replica advance past revisions written elsewhere", async () => {
    const n = freshNs();
    const created = await ok(ca.post(things(n), thing("quiet")), 201);
    const w = wsWatch(`${b.url}${things(n)}?watch=true&allowWatchBookmarks=true&resourceVersion=${created.metadata.resourceVersion}`);
    const foreign = new Etcd3({ hosts: etcd.endpoints.split(",") });
    try {
      // Revisions taken outside Setpoint's prefix: no change of B's, yet B must pass them.
      let newest = 0;
      for (let i = 0; i < 3; i++) newest = Number((await foreign.put(`/elsewhere/${i}`).value("x").exec()).header.revision);
      await w.until((e) => e.some((x) => x.type === "BOOKMARK" && Number(x.object.metadata.resourceVersion) >= newest), `a bookmark at ${newest} or later`);
    } finally {
      foreign.close();
      w.close();
    }
  });

  it("over gRPC: create on A, watch and list on B, update with A's revision on B", async () => {
    const ga = new SetpointClient({ grpcAddress: `127.0.0.1:${a.server.grpcPort}`, httpUrl: a.url });
    const gb = new SetpointClient({ grpcAddress: `127.0.0.1:${b.server.grpcPort}`, httpUrl: b.url });
    const n = freshNs();
    const ref = { group: GROUP, version: "v1", plural: "things", namespace: n };
    try {
      const created = await ga.create(ref, thing("g"));
      const listed = await gb.list(ref);
      assert.deepEqual(
        listed.items.map((o) => o.metadata.name),
        ["g"],
      );
      const events: ClientEvent[] = [];
      const w = gb.watch(ref, { resourceVersion: created.metadata.resourceVersion, transport: "grpc" }, (e) => events.push(e));
      const updated = await gb.update({ ...ref, name: "g" }, { ...created, spec: { v: 2 } });
      assert.ok(Number(updated.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
      await assert.rejects(ga.update({ ...ref, name: "g" }, { ...created, spec: { v: 3 } }), { name: "ConflictError" });
      const deadline = Date.now() + DEADLINE_MS;
      while (!events.some((e) => e.type === "MODIFIED")) {
        assert.ok(Date.now() < deadline, "the MODIFIED event on B");
        await new Promise((r) => setTimeout(r, 50));
      }
      const modified = events.find((e) => e.type === "MODIFIED")!;
      assert.equal(modified.object.metadata.resourceVersion, updated.metadata.resourceVersion);
      w.close();
    } finally {
      ga.close();
      gb.close();
    }
  });

  it("one etcd watch per replica, however many watchers it serves (WebSocket, chunked HTTP, gRPC)", async () => {
    // etcd's own count of the watchers it serves, over every member: A's and B's.
    const watchersInEtcd = async () => total(await etcdMetric("etcd_debugging_mvcc_watcher_total"));
    await until(async () => assert.equal(await watchersInEtcd(), 2, "before: one etcd watch each for A and B"));
    const n = freshNs();
    const first = await ok(ca.post(things(n), thing("first")), 201);
    const from = first.metadata.resourceVersion;
    const ws = [a, b].flatMap((r) => Array.from({ length: 15 }, () => wsWatch(`${r.url}${things(n)}?watch=true&resourceVersion=${from}`)));
    const chunked = [a, b].map((r) => {
      const ctl = new AbortController();
      const seen: string[] = [];
      void fetch(`${r.url}${things(n)}?watch=true&resourceVersion=${from}`, { signal: ctl.signal })
        .then(async (res) => {
          for await (const chunk of res.body!) seen.push(Buffer.from(chunk).toString());
        })
        .catch(() => undefined);
      return { seen, close: () => ctl.abort() };
    });
    const grpc = [a, b].map((r) => new SetpointClient({ grpcAddress: `127.0.0.1:${r.server.grpcPort}`, httpUrl: r.url }));
    const grpcEvents: ClientEvent[][] = grpc.map(() => []);
    const grpcWatches = grpc.map((c, i) =>
      c.watch({ group: GROUP, version: "v1", plural: "things", namespace: n }, { resourceVersion: from, transport: "grpc" }, (e) => grpcEvents[i]!.push(e)),
    );
    try {
      // Every watch is open and live: each gets the next write, on either replica.
      await ok(cb.post(things(n), thing("seen")), 201);
      for (const w of ws) await w.until((e) => e.some((x) => x.object?.metadata?.name === "seen"), "the write on every WebSocket watch");
      await until(async () =>
        assert.ok(
          chunked.every((c) => c.seen.join("").includes('"seen"')),
          "the write on every chunked watch",
        ),
      );
      await until(async () =>
        assert.ok(
          grpcEvents.every((es) => es.some((e) => e.object.metadata.name === "seen")),
          "the write on every gRPC watch",
        ),
      );
      assert.equal(await watchersInEtcd(), 2, "34 watchers on two replicas: still one etcd watch each");
    } finally {
      for (const w of ws) w.close();
      for (const c of chunked) c.close();
      for (const w of grpcWatches) w.close();
      for (const c of grpc) c.close();
    }
  });

  it("compaction happens once for the cluster, and B answers 410 for what A compacted", async () => {
    const prefix = "/replicas-compact";
    const x = await replica(prefix, { historyWindowMs: 0, historyMinEvents: 0 });
    const y = await replica(prefix, { historyWindowMs: 0, historyMinEvents: 0 });
    try {
      const cx = api(x.url);
      const cy = api(y.url);
      await createType(cx, { group: GROUP, kind: "Thing", plural: "things" });
      const n = freshNs();
      const first = await ok(cx.post(things(n), thing("c0")), 201);
      for (let i = 1; i < 5; i++) await ok(cy.post(things(n), thing(`c${i}`)), 201);
      // The compactors (every second at this window) move the shared marker past the first write.
      const deadline = Date.now() + DEADLINE_MS;
      while (y.server.store.compacted() <= Number(first.metadata.resourceVersion)) {
        assert.ok(Date.now() < deadline, "compaction reached the first write");
        await new Promise((r) => setTimeout(r, 100));
      }
      const w = wsWatch(`${y.url}${things(n)}?watch=true&resourceVersion=${first.metadata.resourceVersion}`);
      await w.until((e) => e.some((ev) => ev.type === "ERROR"), "410 Expired");
      assert.equal(w.events[0].object.code, 410);
      // One marker, written by the replicas between them: etcd keeps one compaction record.
      const client = new Etcd3({ hosts: etcd.endpoints.split(",") });
      try {
        const meta = JSON.parse((await client.get(`${prefix}/m/compacted`).string())!) as { revision: number };
        assert.equal(meta.revision, x.server.store.compacted());
      } finally {
        client.close();
      }
      w.close();
    } finally {
      await x.stop();
      await y.stop();
    }
  });

  it("a replica started after etcd was compacted from outside (etcdctl compact REV) serves watches from REV, and 410 before it", async () => {
    const prefix = "/replicas-outside-compact";
    // No compactor of its own (a long window): only the outside compaction moves etcd's history.
    const x = await replica(prefix);
    let z: TestServer | undefined;
    const client = new Etcd3({ hosts: etcd.endpoints.split(",") });
    try {
      const cx = api(x.url);
      await createType(cx, { group: GROUP, kind: "Thing", plural: "things" });
      const n = freshNs();
      const revs: number[] = [];
      for (let i = 0; i < 6; i++) revs.push(Number((await ok(cx.post(things(n), thing(`o${i}`)), 201)).metadata.resourceVersion));
      const rev = revs[3]!;
      await client.kv.compact({ revision: rev });
      // Started after the compaction: etcd still reads at REV, so REV is what it serves from, as x does.
      z = await replica(prefix);
      const cz = api(z.url);
      const w = wsWatch(`${z.url}${things(n)}?watch=true&resourceVersion=${rev}`);
      try {
        await w.until((e) => e.length >= 2, "the changes after REV");
        const later = await ok(cx.post(things(n), thing("o6")), 201);
        await w.until((e) => e.length >= 3, "the change after the watch began");
        assert.deepEqual(
          w.events.map((e) => [e.type, e.object.metadata.name, Number(e.object.metadata.resourceVersion)]),
          [
            ["ADDED", "o4", revs[4]],
            ["ADDED", "o5", revs[5]],
            ["ADDED", "o6", Number(later.metadata.resourceVersion)],
          ],
        );
      } finally {
        w.close();
      }
      // A list at REV is served too: the objects as they were then.
      const listed = await ok(cz.get(`${things(n)}?resourceVersion=${rev}&resourceVersionMatch=Exact`));
      assert.deepEqual(
        listed.items.map((o: any) => o.metadata.name),
        ["o0", "o1", "o2", "o3"],
      );
      // Before REV: one ERROR event, 410 Expired, naming REV as the oldest revision.
      for (const r of [rev - 1, rev - 2, revs[0]!]) {
        const old = wsWatch(`${z.url}${things(n)}?watch=true&resourceVersion=${r}`);
        try {
          await old.until((e) => e.length >= 1, `410 for ${r}`);
          await old.closed;
          assert.deepEqual(
            old.events.map((e) => [e.type, e.object.code, e.object.reason, e.object.message]),
            [["ERROR", 410, "Expired", `too old resource version: ${r} (${rev})`]],
          );
        } finally {
          old.close();
        }
      }
    } finally {
      client.close();
      await z?.stop();
      await x.stop();
    }
  });

  it("three replicas compact etcd about once per period between them: one Compact per move of the shared marker, to the marker's revision", async () => {
    const prefix = "/replicas-compact-once";
    const client = new Etcd3({ hosts: etcd.endpoints.split(",") });
    /** The shared marker's version (0 before a replica has opened on the prefix) and revision. */
    const marker = async () => {
      const kv = (await client.get(`${prefix}/m/compacted`).exec()).kvs[0];
      return kv ? { version: Number(kv.version), revision: (JSON.parse(kv.value.toString()) as { revision: number }).revision } : { version: 0, revision: 0 };
    };
    const compactCalls = async () => total(await etcdMetric("grpc_server_handled_total", /grpc_method="Compact"/));
    // Counted from before the replicas start, while no compactor with a short window runs: a baseline
    // taken while they run could see a compaction's marker move and miss its Compact call, which a
    // replica makes only once its mirror has caught up with the move (one call more than moves, seen
    // in a full run).
    const calls0 = await compactCalls();
    // The first replica to open creates the marker (version 1, revision 0): not a compaction.
    const v0 = Math.max(1, (await marker()).version);
    const t0 = Date.now();
    // A window of 0: each replica's compactor runs every second (the shortest period) and finds history to drop.
    const rs = [await replica(prefix, { historyWindowMs: 0, historyMinEvents: 0 })];
    const cx = api(rs[0]!.url);
    await createType(cx, { group: GROUP, kind: "Thing", plural: "things" });
    rs.push(await replica(prefix, { historyWindowMs: 0, historyMinEvents: 0 }), await replica(prefix, { historyWindowMs: 0, historyMinEvents: 0 }));
    try {
      const n = freshNs();
      // Writes through all three until the marker has moved 5 times (each write gives the next compaction something to drop).
      for (let i = 0; (await marker()).version < v0 + 5; i++) {
        assert.ok(i < 600, `the marker moved ${(await marker()).version - v0} times in ${i} writes`);
        await ok(api(rs[i % 3]!.url).post(things(n), thing(`c${i}`)), 201);
        await new Promise((r) => setTimeout(r, 50));
      }
      // Stopped, the replicas have finished every compaction they began.
      await Promise.all(rs.map((r) => r.stop()));
      const elapsedMs = Date.now() - t0;
      const { version, revision } = await marker();
      const moves = version - v0;
      // Each compaction was decided once, by the replica whose marker transaction won, and only it called etcd's Compact.
      assert.equal(await compactCalls(), calls0 + moves, `${moves} marker moves`);
      // About once per period (1 s) for the three of them, not once each: a replica skips its turn within 0.9 period of another's.
      assert.ok(moves <= elapsedMs / 900 + 2, `${moves} compactions in ${elapsedMs} ms with three replicas`);
      // etcd itself is compacted to the marker's revision, on every member.
      await until(async () => assert.deepEqual(await etcdMetric("etcd_debugging_mvcc_compact_revision"), [revision, revision, revision]));
    } finally {
      client.close();
      await Promise.all(rs.map((r) => r.stop()));
    }
  });
});
