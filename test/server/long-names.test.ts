// Names at the limits of the API over real sockets (issue 8): a type whose
// name is 253 characters (a 63-character plural in a 189-character group),
// objects named 1 to 253 characters, in namespaces of 63 characters and a
// cluster-scoped long type. Each must show up in the ResourceType list,
// discovery, get, list, paginated lists (continue tokens past long keys),
// lists at an exact past revision, watch initial events and live events over
// both transports, and kubectl.

import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { NotFoundError, SetpointClient } from "../../src/agent.ts";
import { api, createType, startTestServer, type ApiClient, type TestServer } from "../helpers/server.ts";

const DEADLINE_MS = 15_000;
const PLURAL = "gadget".padEnd(62, "x") + "s";
const GROUP = `${"g".repeat(63)}.${"h".repeat(62)}.${"example".padEnd(62, "e")}`;
const TYPE = `${PLURAL}.${GROUP}`;
const CLUSTER_PLURAL = "realm".padEnd(62, "x") + "s";
const NS63 = "team-".padEnd(62, "z") + "9";
const GV = `/apis/${GROUP}/v1`;
/** A type with a short name: its short keys and its long ones used to be encoded apart. */
const SHORT = { gv: "/apis/x.example.com/v1", plural: "things", kind: "Thing" };
const LONG = { gv: GV, plural: PLURAL, kind: "Gadget" };
const KINDS = [LONG, SHORT];
type Kind = typeof LONG;

/** Names of 1 to 253 characters around the lengths where keys used to break (a key of 64+ characters). */
const NAMES = [1, 2, 26, 27, 40, 62, 63, 64, 65, 100, 200, 252, 253].map((n) => (n === 1 ? "a" : "obj-".padEnd(n - 1, "n").slice(0, n - 1) + "1"));

let s: TestServer;
let c: ApiClient;
let dataDir: string;

const path = (ns: string, name?: string, k: Kind = LONG) => `${k.gv}/namespaces/${ns}/${k.plural}${name === undefined ? "" : "/" + name}`;
const listAll = (k: Kind) => `${k.gv}/${k.plural}`;
const names = (items: Array<{ metadata: { namespace?: string; name: string } }>) => items.map((o) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`);

/** Every object this file creates, "namespace/name", in list order. */
const ALL = [...NAMES.map((n) => `default/${n}`), ...NAMES.map((n) => `${NS63}/${n}`)].sort((a, b) => {
  const [an, ax] = a.split("/") as [string, string];
  const [bn, bx] = b.split("/") as [string, string];
  return an !== bn ? (an < bn ? -1 : 1) : ax < bx ? -1 : ax > bx ? 1 : 0;
});

before(async () => {
  assert.equal(TYPE.length, 253);
  assert.equal(NS63.length, 63);
  assert.equal(Math.max(...NAMES.map((n) => n.length)), 253);
  dataDir = mkdtempSync(join(tmpdir(), "setpoint-long-names-"));
  s = await startTestServer({ dataDir, grpcPort: 0 });
  c = api(s.url);
  await createType(c, { group: GROUP, kind: "Gadget", plural: PLURAL });
  await createType(c, { group: GROUP, kind: "Realm", plural: CLUSTER_PLURAL, scope: "Cluster" });
  await createType(c, { group: "x.example.com", kind: SHORT.kind, plural: SHORT.plural });
  for (const k of KINDS) {
    for (const ns of ["default", NS63]) {
      for (const name of NAMES) {
        const res = await c.post(path(ns, undefined, k), {
          apiVersion: k.gv.slice("/apis/".length),
          kind: k.kind,
          metadata: { name },
          spec: { n: name.length },
        });
        assert.equal(res.status, 201, `create ${k.plural} ${ns}/${name.length}: ${res.text}`);
      }
    }
  }
  for (const name of NAMES) {
    const res = await c.post(`${GV}/${CLUSTER_PLURAL}`, { apiVersion: `${GROUP}/v1`, kind: "Realm", metadata: { name } });
    assert.equal(res.status, 201, res.text);
  }
});
after(async () => {
  await s?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("253-character names over REST", () => {
  it("the long type is in the ResourceType list and in discovery", async () => {
    const types = await c.get("/apis/setpoint.dev/v1/resourcetypes");
    assert.equal(types.status, 200);
    const typeNames = (types.body.items as Array<{ metadata: { name: string } }>).map((t) => t.metadata.name);
    assert.ok(typeNames.includes(TYPE), `ResourceType list: ${typeNames.join(", ")}`);
    for (let limit = 1; limit <= typeNames.length; limit++)
      assert.deepEqual(
        await pages("/apis/setpoint.dev/v1/resourcetypes", limit),
        typeNames.map((n) => `/${n}`),
        `limit ${limit}`,
      );

    const apis = await c.get("/apis");
    assert.ok(
      (apis.body.groups as Array<{ name: string }>).some((g) => g.name === GROUP),
      "the group is in /apis",
    );
    const rl = await c.get(GV);
    assert.equal(rl.status, 200, rl.text);
    const resources = new Map((rl.body.resources as Array<{ name: string; namespaced: boolean; kind: string }>).map((r) => [r.name, r]));
    assert.equal(resources.get(PLURAL)?.kind, "Gadget");
    assert.equal(resources.get(PLURAL)?.namespaced, true);
    assert.equal(resources.get(CLUSTER_PLURAL)?.namespaced, false);
  });

  it("get, list per namespace and across namespaces find every object", async () => {
    for (const k of KINDS) {
      for (const ns of ["default", NS63]) {
        for (const name of NAMES) {
          const got = await c.get(path(ns, name, k));
          assert.equal(got.status, 200, `get ${k.plural} ${ns}/${name.length}`);
          assert.equal(got.body.metadata.name, name);
        }
        const list = await c.get(path(ns, undefined, k));
        assert.deepEqual(
          names(list.body.items),
          ALL.filter((x) => x.startsWith(`${ns}/`)),
          `list ${k.plural} ${ns}`,
        );
      }
      const all = await c.get(listAll(k));
      assert.deepEqual(names(all.body.items), ALL, `list ${k.plural}`);
    }
    const cluster = await c.get(`${GV}/${CLUSTER_PLURAL}`);
    assert.deepEqual(
      names(cluster.body.items),
      [...NAMES].sort().map((n) => `/${n}`),
    );
  });

  it("continue tokens carry a list past long keys, at every page size", async () => {
    for (const k of KINDS) {
      for (let limit = 1; limit <= ALL.length + 1; limit++) {
        assert.deepEqual(await pages(listAll(k), limit), ALL, `${k.plural}, limit ${limit}`);
      }
      for (const limit of [1, 5])
        assert.deepEqual(
          await pages(path(NS63, undefined, k), limit),
          ALL.filter((x) => x.startsWith(`${NS63}/`)),
          `${k.plural} in ${NS63}, limit ${limit}`,
        );
    }
  });

  for (const k of KINDS)
    it(`a list of ${k.plural.length > 10 ? "the long type" : k.plural} at an exact past revision shows the state then`, async () => {
      const before = await c.get(`${listAll(k)}`);
      const rv = before.body.metadata.resourceVersion as string;
      const longest = NAMES[NAMES.length - 1]!;
      const changed = await c.patch(path(NS63, longest, k), { spec: { changed: true } });
      assert.equal(changed.status, 200, changed.text);
      const deleted = await c.del(path("default", longest, k));
      assert.equal(deleted.status, 200, deleted.text);
      try {
        const now = await c.get(`${listAll(k)}`);
        assert.deepEqual(
          names(now.body.items),
          ALL.filter((k) => k !== `default/${longest}`),
        );
        const then = await c.get(`${listAll(k)}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
        assert.equal(then.status, 200, then.text);
        assert.equal(then.body.metadata.resourceVersion, rv);
        assert.deepEqual(then.body.items, before.body.items, "every object as it was");
        const paged = await pages(`${listAll(k)}?resourceVersion=${rv}&resourceVersionMatch=Exact`, 4);
        assert.deepEqual(paged, ALL);
      } finally {
        const back = await c.post(path("default", undefined, k), {
          apiVersion: k.gv.slice("/apis/".length),
          kind: k.kind,
          metadata: { name: longest },
          spec: { n: longest.length },
        });
        assert.equal(back.status, 201, back.text);
      }
    });
});

for (const transport of ["http", "ws"] as const) {
  describe(`253-character names over a ${transport === "http" ? "chunked HTTP" : "WebSocket"} watch`, () => {
    for (const k of KINDS)
      it(`${k.plural.length > 10 ? "the long type" : k.plural}: initial events carry every object, then the end bookmark; live changes to long names follow`, async () => {
        const watch = openWatch(transport, `${listAll(k)}?sendInitialEvents=true&allowWatchBookmarks=true`);
        try {
          await watch.until((events) => events.some(isInitialEnd), "the initial-events-end bookmark");
          const initial = watch.events.slice(0, watch.events.findIndex(isInitialEnd));
          assert.ok(initial.every((e) => e.type === "ADDED"));
          assert.deepEqual(names(initial.map((e) => e.object)).sort(), [...ALL].sort());

          const name = `live-${transport}-`.padEnd(252, "q") + "1";
          const created = await c.post(path(NS63, undefined, k), { apiVersion: k.gv.slice("/apis/".length), kind: k.kind, metadata: { name } });
          assert.equal(created.status, 201, created.text);
          assert.equal((await c.del(path(NS63, name, k))).status, 200);
          await watch.until((events) => events.some((e) => e.type === "DELETED" && e.object.metadata.name === name), "the DELETED event");
          const live = watch.events.filter((e) => e.object.metadata?.name === name).map((e) => e.type);
          assert.deepEqual(live, ["ADDED", "DELETED"]);
        } finally {
          watch.close();
        }
      });

    for (const k of KINDS)
      it(`${k.plural.length > 10 ? "the long type" : k.plural}: a watch from a revision replays the changes to long names after it`, async () => {
        const rv = (await c.get(path(NS63, undefined, k))).body.metadata.resourceVersion as string;
        const longest = NAMES[NAMES.length - 1]!;
        const patched = await c.patch(path(NS63, longest, k), { metadata: { labels: { seen: transport } } });
        assert.equal(patched.status, 200, patched.text);
        const watch = openWatch(transport, `${path(NS63, undefined, k)}?resourceVersion=${rv}`);
        try {
          await watch.until((events) => events.length > 0, "the replayed event");
          assert.equal(watch.events[0]!.type, "MODIFIED");
          assert.equal(watch.events[0]!.object.metadata.name, longest);
          assert.equal(watch.events[0]!.object.metadata.namespace, NS63);
        } finally {
          watch.close();
        }
      });
  });
}

describe("kubectl against a 253-character type", () => {
  let home: string;
  const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((done) => {
      const env = { PATH: process.env.PATH, HOME: home, KUBECONFIG: join(home, "config") };
      execFile(
        "kubectl",
        ["--server", s.url, "--cache-dir", join(home, "cache"), ...args],
        { env, timeout: 30_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });

  before(() => {
    const which = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
    assert.equal(which.status, 0, "kubectl must be installed (it is on the machine image)");
    home = mkdtempSync(join(tmpdir(), "setpoint-kubectl-long-"));
    writeFileSync(join(home, "config"), "apiVersion: v1\nkind: Config\n");
  });
  after(() => {
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("api-resources lists it; get by plural finds every object, per namespace and across them", async () => {
    const resources = await kubectl("api-resources", "--api-group", GROUP, "-o", "name");
    assert.equal(resources.code, 0, resources.stderr);
    assert.deepEqual(resources.stdout.trim().split("\n").sort(), [`${CLUSTER_PLURAL}.${GROUP}`, TYPE].sort());

    const inNs = await kubectl("get", PLURAL, "-n", NS63, "-o", "json");
    assert.equal(inNs.code, 0, inNs.stderr);
    assert.deepEqual(
      names(JSON.parse(inNs.stdout).items),
      ALL.filter((k) => k.startsWith(`${NS63}/`)),
    );

    const all = await kubectl("get", TYPE, "-A", "-o", "json", "--chunk-size", "3");
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(names(JSON.parse(all.stdout).items), ALL);

    const table = await kubectl("get", PLURAL, "-n", "default");
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(
      rows,
      ALL.filter((k) => k.startsWith("default/")).map((k) => k.slice("default/".length)),
    );

    const longest = NAMES[NAMES.length - 1]!;
    const one = await kubectl("get", PLURAL, "-n", NS63, longest, "-o", "jsonpath={.metadata.name}");
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, longest);

    const cluster = await kubectl("get", CLUSTER_PLURAL, "-o", "name");
    assert.equal(cluster.code, 0, cluster.stderr);
    assert.equal(cluster.stdout.trim().split("\n").length, NAMES.length);
  });
});

describe("metrics labels", () => {
  it('name a 253-character type in full, over REST and gRPC; a type that does not exist is "unknown", however long', async () => {
    assert.equal((await c.get(listAll(LONG))).status, 200);
    const client = new SetpointClient({ grpcAddress: `127.0.0.1:${s.server.grpcPort}` });
    const bogus = "nothing".padEnd(10_000, "x");
    try {
      const listed = await client.list({ group: GROUP, version: "v1", plural: PLURAL, namespace: NS63 });
      assert.equal(listed.items.length, NAMES.length);
      // 404, not a 500 from a store key too long for LMDB.
      await assert.rejects(client.get({ group: GROUP, version: "v1", plural: bogus, namespace: "default", name: "a" }), NotFoundError);
      await assert.rejects(client.get({ group: GROUP, version: "v1", plural: PLURAL, namespace: NS63, name: bogus }), NotFoundError);
    } finally {
      client.close();
    }
    const metrics = (await c.get("/metrics")).text;
    const requests = metrics.split("\n").filter((l) => l.startsWith("setpoint_requests_total{"));
    const count = (verb: string, resource: string) =>
      requests.filter((l) => l.includes(`verb="${verb}"`) && l.includes(`resource="${resource}"`)).reduce((n, l) => n + Number(l.split(" ").pop()), 0);
    assert.ok(count("list", TYPE) >= 2, `REST and gRPC lists of the long type: ${requests.filter((l) => l.includes(PLURAL)).join("\n")}`);
    assert.ok(count("get", "unknown") >= 1, "the get of a type that does not exist is labelled unknown");
    assert.ok(!metrics.includes(bogus.slice(0, 100)), "no label carries the caller's text");
  });
});

describe("after a restart on the same data directory", () => {
  it("the long type is served again and lists every object", async () => {
    await s.stop();
    s = await startTestServer({ dataDir });
    c = api(s.url);
    const rl = await c.get(GV);
    assert.equal(rl.status, 200, rl.text);
    assert.ok((rl.body.resources as Array<{ name: string }>).some((r) => r.name === PLURAL));
    for (const k of KINDS) assert.deepEqual(names((await c.get(listAll(k))).body.items), ALL, `list ${k.plural}`);
  });
});

describe("a data directory written before key format 2 (test/fixtures/store-format1)", () => {
  it("serves every type in discovery and every object in lists, and takes new writes", async () => {
    const fixture = new URL("../fixtures/store-format1/", import.meta.url);
    const expected = JSON.parse(readFileSync(new URL("expected.json", fixture), "utf8")) as {
      head: number;
      objects: Array<{ key: { type: string; namespace: string; name: string }; revision: number; json: string }>;
    };
    const dir = join(mkdtempSync(join(tmpdir(), "setpoint-format1-server-")), "data");
    cpSync(fixture, dir, { recursive: true });
    const old = await startTestServer({ dataDir: dir });
    try {
      const oc = api(old.url);
      const types = expected.objects.filter((o) => o.key.type === "resourcetypes.setpoint.dev");
      assert.equal(types.length, 3);
      assert.ok(types.some((t) => t.key.name.length === 253));
      const listed = await oc.get("/apis/setpoint.dev/v1/resourcetypes");
      assert.deepEqual(names(listed.body.items), types.map((t) => `/${t.key.name}`).sort());
      for (const t of types) {
        const spec = (JSON.parse(t.json) as { spec: { group: string; plural: string; scope: string } }).spec;
        const rl = await oc.get(`/apis/${spec.group}/v1`);
        assert.equal(rl.status, 200, rl.text);
        assert.ok(
          (rl.body.resources as Array<{ name: string }>).some((r) => r.name === spec.plural),
          `${t.key.name} in discovery`,
        );
        const objects = expected.objects.filter((o) => o.key.type === t.key.name);
        assert.ok(objects.length > 0);
        const list = await oc.get(`/apis/${spec.group}/v1/${spec.plural}`);
        assert.equal(list.status, 200, list.text);
        assert.ok(Number(list.body.metadata.resourceVersion) >= expected.head, "the history goes on from the directory's head");
        const want = objects
          .map((o) => `${o.key.namespace}/${o.key.name}`)
          .sort((a, b) => {
            const [an, ax] = a.split("/") as [string, string];
            const [bn, bx] = b.split("/") as [string, string];
            return an !== bn ? (an < bn ? -1 : 1) : ax < bx ? -1 : ax > bx ? 1 : 0;
          });
        assert.deepEqual(names(list.body.items), want, `list of ${t.key.name}`);
        assert.deepEqual(await pages(`/apis/${spec.group}/v1/${spec.plural}`, 2, oc), want, `pages of ${t.key.name}`);
        if (spec.scope === "Namespaced") {
          const created = await oc.post(`/apis/${spec.group}/v1/namespaces/default/${spec.plural}`, {
            apiVersion: `${spec.group}/v1`,
            kind: JSON.parse(t.json).spec.kind,
            metadata: { name: "new-".padEnd(253, "n") },
          });
          assert.equal(created.status, 201, created.text);
          assert.ok(Number(created.body.metadata.resourceVersion) > expected.head);
        }
      }
    } finally {
      await old.stop();
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });
});

/** Walks a list in pages of `limit` through continue tokens; returns "namespace/name" of every item. */
async function pages(listPath: string, limit: number, client: ApiClient = c): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const u = new URL(listPath, s.url);
    u.searchParams.set("limit", String(limit));
    if (token) {
      // A continue token replaces resourceVersion: it carries the first page's revision.
      u.searchParams.delete("resourceVersion");
      u.searchParams.delete("resourceVersionMatch");
      u.searchParams.set("continue", token);
    }
    const url = u.pathname + u.search;
    const res = await client.get(url);
    assert.equal(res.status, 200, `${url}: ${res.text.slice(0, 300)}`);
    assert.ok(res.body.items.length <= limit);
    out.push(...names(res.body.items));
    token = res.body.metadata.continue || undefined;
    if (!token) return out;
  }
  throw new Error("pagination does not end");
}

interface Event {
  type: string;
  object: { metadata: { name: string; namespace?: string; resourceVersion: string; annotations?: Record<string, string> } };
}

const isInitialEnd = (e: Event) => e.type === "BOOKMARK" && e.object.metadata.annotations?.["k8s.io/initial-events-end"] === "true";

/** A watch over `transport` of `target` (a list path with query), recording its events. */
function openWatch(transport: "http" | "ws", target: string) {
  const events: Event[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  let failure: Error | undefined;
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const push = (e: Event) => {
    events.push(e);
    wake();
  };
  const end = (err?: Error) => {
    ended = true;
    failure ??= err;
    wake();
  };
  let close: () => void;
  if (transport === "http") {
    const ac = new AbortController();
    close = () => ac.abort();
    void (async () => {
      const res = await fetch(`${s.url}${target}${target.includes("?") ? "&" : "?"}watch=true`, { signal: ac.signal });
      if (res.status !== 200) throw new Error(`HTTP watch ${target}: ${res.status} ${await res.text()}`);
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== "") push(JSON.parse(line) as Event);
        }
      }
    })().then(
      () => end(),
      (err: Error) => end(ac.signal.aborted ? undefined : err),
    );
  } else {
    const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}${target}`);
    ws.on("message", (data) => push(JSON.parse(data.toString()) as Event));
    ws.on("close", () => end());
    ws.on("error", (err) => end(err));
    ws.on("unexpected-response", (_req, res: IncomingMessage) => end(new Error(`WebSocket ${target}: HTTP ${res.statusCode}`)));
    close = () => ws.close(1000);
  }
  return {
    events,
    close: () => close(),
    until(condition: (events: Event[]) => boolean, what: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (condition(events)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (ended) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`watch ${target} ended before ${what}${failure ? `: ${failure.message}` : ""}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${DEADLINE_MS} ms waiting for ${what}; ${events.length} events`));
        }, DEADLINE_MS);
        waiters.add(check);
        check();
      });
    },
  };
}
