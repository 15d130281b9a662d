// `--workers 2` (src/cli/cluster.ts): two server processes share the ports and
// the data directory. Watches on both workers get every create, whichever
// worker took it, in revision order, exactly once (from the primary's relayed
// commit notice, or, were one lost, the store's poll every second behind the
// notices; that a notice alone delivers, with no poll, test/store/lmdb.test.ts
// shows with two stores on one directory). A worker killed with SIGKILL
// ends only its own watches; the primary restarts it and the service goes on;
// SIGTERM to the primary stops everything with exit 0. Deleting a type on one
// worker ends the watches of that type on both.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../helpers/node-entry.ts";
import { freePort } from "../helpers/ports.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const DEADLINE_MS = 60_000;
const GROUP = "cluster.example.com";
const LIST = `/apis/${GROUP}/v1/namespaces/default/things`;

let dataDir: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let url: string;
let output = "";

function workerPids(): number[] {
  try {
    return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request on a connection of its own (so that the primary hands it to the next worker). */
function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url + path,
      {
        method,
        agent: false,
        headers: {
          connection: "close",
          ...(body !== undefined && { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" }),
        },
        timeout: DEADLINE_MS,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

interface Watch {
  events: Array<{ type: string; object: { metadata: { name: string; resourceVersion: string } } }>;
  ended: boolean;
  res: IncomingMessage;
}

/** An HTTP watch on a connection of its own, collecting its events. */
function watch(from: number, list = LIST): Promise<Watch> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${list}?watch=true&resourceVersion=${from}`, { agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      const w: Watch = { events: [], ended: false, res };
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        buffered += d;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) w.events.push(JSON.parse(line));
        }
      });
      const end = () => (w.ended = true);
      res.on("end", end);
      res.on("close", end);
      res.on("error", end);
      resolve(w);
    });
    req.on("error", reject);
    req.end();
  });
}

const thing = (name: string) => ({ apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, spec: {} });

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "setpoint-cluster-"));
  // A fixed gRPC port, as in production: both workers bind it through the
  // primary (each worker's own exclusive probe of it used to fail the start
  // whenever the other worker had bound it first).
  const grpcPort = await freePort();
  child = spawn(
    process.execPath,
    [...nodeEntry("src/main.ts"), "--http-port", "0", "--grpc-port", String(grpcPort), "--data-dir", dataDir, "--workers", "2", "--no-fsync"],
    {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within ${DEADLINE_MS} ms: ${output}`)), DEADLINE_MS);
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${output}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output += line + "\n";
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; workers?: number };
        if (entry.msg === "setpoint-server listening" && entry.url) {
          clearTimeout(timer);
          assert.equal(entry.workers, 2);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
  });
  assert.equal(workerPids().length, 2, "two worker processes");
  const res = await call("POST", "/apis/setpoint.dev/v1/resourcetypes", {
    apiVersion: "setpoint.dev/v1",
    kind: "ResourceType",
    metadata: { name: `things.${GROUP}` },
    spec: { group: GROUP, version: "v1", kind: "Thing", plural: "things", scope: "Namespaced", schema: { spec: { type: "object" } } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise((r) => setTimeout(r, DEADLINE_MS))]);
    if (code === undefined) child.kill("SIGKILL");
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("--workers 2", () => {
  it("a create on either worker reaches watches on both, in order, exactly once; a killed worker ends only its watches and comes back", {
    timeout: 180_000,
  }, async () => {
    const start = Number((await call("GET", LIST)).body.metadata.resourceVersion);
    const watches: Watch[] = [];
    for (let i = 0; i < 6; i++) watches.push(await watch(start));
    const created: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await call("POST", LIST, thing(`t-${i}`));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      created.push(Number(res.body.metadata.resourceVersion));
    }
    for (const w of watches) {
      await until("every create on every watch", () => (w.events.length >= 20 ? true : undefined));
      assert.deepEqual(
        w.events.map((e) => [e.type, e.object.metadata.name, Number(e.object.metadata.resourceVersion)]),
        created.map((rv, i) => ["ADDED", `t-${i}`, rv]),
      );
    }

    // Kill one worker: the watches it served end, the others stay, so watches were on both workers.
    const [victim] = workerPids();
    process.kill(victim!, "SIGKILL");
    await until("the killed worker's watches to end", () => (watches.some((w) => w.ended) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    const survivors = watches.filter((w) => !w.ended);
    assert.ok(survivors.length > 0 && survivors.length < watches.length, `watches on both workers (${survivors.length} of ${watches.length} survived)`);
    await until("a new worker", () => {
      const pids = workerPids();
      return pids.length === 2 && !pids.includes(victim!) ? true : undefined;
    });
    // The service goes on; a resumed watch misses nothing; the survivors get the new creates too.
    const resumed = await watch(created.at(-1)!);
    for (let i = 20; i < 30; i++) {
      const res = await call("POST", LIST, thing(`t-${i}`));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      created.push(Number(res.body.metadata.resourceVersion));
    }
    for (const w of survivors) {
      await until("the later creates on the surviving watches", () => (w.events.length >= 30 ? true : undefined));
      assert.deepEqual(
        w.events.map((e) => Number(e.object.metadata.resourceVersion)),
        created,
      );
    }
    await until("the later creates on the resumed watch", () => (resumed.events.length >= 10 ? true : undefined));
    assert.deepEqual(
      resumed.events.map((e) => Number(e.object.metadata.resourceVersion)),
      created.slice(20),
    );
    for (const w of [...watches, resumed]) w.res.destroy();

    // A list on any worker sees every acknowledged create.
    for (let i = 0; i < 4; i++) {
      const list = await call("GET", LIST);
      assert.equal(list.body.items.length, 30);
    }
  });

  it("deleting a ResourceType on one worker ends the watches of its type on both", { timeout: 180_000 }, async () => {
    const gizmos = `/apis/${GROUP}/v1/namespaces/default/gizmos`;
    const made = await call("POST", "/apis/setpoint.dev/v1/resourcetypes", {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: `gizmos.${GROUP}` },
      spec: { group: GROUP, version: "v1", kind: "Gizmo", plural: "gizmos", scope: "Namespaced", schema: { spec: { type: "object" } } },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    // Each on a connection of its own: the primary hands them to both workers (the test above shows it).
    const start = await until("the type served on every worker", async () => {
      const lists = await Promise.all([0, 1, 2, 3].map(() => call("GET", gizmos)));
      return lists.every((l) => l.status === 200) ? Number(lists[0]!.body.metadata.resourceVersion) : undefined;
    });
    const watches: Watch[] = [];
    for (let i = 0; i < 6; i++) watches.push(await watch(start, gizmos));
    const res = await call("POST", gizmos, { apiVersion: `${GROUP}/v1`, kind: "Gizmo", metadata: { name: "g" }, spec: {} });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    for (const w of watches) await until("the create on every watch", () => (w.events.length >= 1 ? true : undefined));
    const deleted = await call("DELETE", `/apis/setpoint.dev/v1/resourcetypes/gizmos.${GROUP}`);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    for (const w of watches) await until("every watch of the deleted type to end", () => (w.ended ? true : undefined));
    for (const w of watches)
      assert.deepEqual(
        w.events.map((e) => e.type),
        ["ADDED"],
      );
    for (let i = 0; i < 4; i++) assert.equal((await call("GET", `${gizmos}?watch=true`)).status, 404);
  });

  it("of clashing ResourceTypes created at once on both workers, exactly one is accepted", { timeout: 180_000 }, async () => {
    const g = "clash.cluster.example.com";
    const rt = (plural: string, spec: Record<string, unknown>) => ({
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: `${plural}.${g}` },
      spec: { group: g, version: "v1", plural, scope: "Namespaced", ...spec },
    });
    for (let i = 0; i < 10; i++) {
      const pairs = [
        [rt(`kas${i}`, { kind: `Same${i}` }), rt(`kbs${i}`, { kind: `Same${i}` })],
        [rt(`sas${i}`, { kind: `Sa${i}`, shortNames: [`s${i}`] }), rt(`sbs${i}`, { kind: `Sb${i}`, shortNames: [`s${i}`] })],
      ];
      // Each on a connection of its own: the primary hands them to both workers.
      const answers = await Promise.all(pairs.flat().map((body) => call("POST", "/apis/setpoint.dev/v1/resourcetypes", body)));
      for (let k = 0; k < answers.length; k += 2) {
        const statuses = [answers[k]!.status, answers[k + 1]!.status].sort();
        assert.deepEqual(
          statuses,
          [201, 422],
          `round ${i}: ${JSON.stringify(answers[k]!.body).slice(0, 300)} / ${JSON.stringify(answers[k + 1]!.body).slice(0, 300)}`,
        );
      }
    }
    // Every worker serves the same types.
    const seen = await Promise.all([0, 1, 2, 3].map(() => call("GET", `/apis/${g}/v1`)));
    const names = seen.map((d) => (d.body.resources as Array<{ name: string }>).map((r) => r.name).sort());
    for (const n of names) assert.deepEqual(n, names[0]);
    assert.equal(names[0]!.filter((n) => !n.includes("/")).length, 20);
  });

  it("a schema changed through one worker applies at once to every write through the other: create, update, patch and status", {
    timeout: 180_000,
  }, async () => {
    const g = "evolve.cluster.example.com";
    const path = `/apis/setpoint.dev/v1/resourcetypes/evolvers.${g}`;
    /** The schema of flip k: n and p are integers for even k, strings for odd k. */
    const schema = (k: number) => {
      const part = (f: string) => ({ type: "object", properties: { [f]: { type: k % 2 === 0 ? "integer" : "string" } } });
      return { spec: part("n"), status: part("p") };
    };
    /** A value flip k's schema refuses (the previous one accepts it), and one it accepts (the previous one refuses). */
    const bad = (k: number, i: number) => (k % 2 === 0 ? `t${i}` : i);
    const good = (k: number, i: number) => (k % 2 === 0 ? i : `t${i}`);
    const created = await call("POST", "/apis/setpoint.dev/v1/resourcetypes", {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: `evolvers.${g}` },
      spec: { group: g, version: "v1", kind: "Evolver", plural: "evolvers", scope: "Namespaced", schema: schema(1) },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const base = `/apis/${g}/v1/namespaces/default/evolvers`;
    const obj = (name: string, spec: Record<string, unknown>) => ({ apiVersion: `${g}/v1`, kind: "Evolver", metadata: { name }, spec });
    // A type created on one worker is live on the other at once (the store is shared), so these need no wait.
    assert.equal((await call("POST", base, obj("x", { n: "s" }))).status, 201);
    assert.equal((await call("PATCH", `${base}/x/status`, { status: { p: "s" } })).status, 200);
    let k = 1;
    /** Changes the schema (acknowledged), then writes at once, each on a connection of its own: the primary alternates the workers. */
    const flipThen = async (write: (k: number) => Promise<{ status: number; body: any }>, want: number, what: string) => {
      k++;
      const flipped = await call("PATCH", path, { spec: { schema: schema(k) } });
      assert.equal(flipped.status, 200, JSON.stringify(flipped.body));
      const res = await write(k);
      assert.equal(res.status, want, `${what} after flip ${k}: ${JSON.stringify(res.body).slice(0, 300)}`);
    };
    for (let i = 0; i < 10; i++) {
      await flipThen((k) => call("POST", base, obj(`c${i}`, { n: bad(k, i) })), 422, "create");
      await flipThen((k) => call("PUT", `${base}/x`, obj("x", { n: bad(k, i) })), 422, "update");
      await flipThen((k) => call("PATCH", `${base}/x`, { spec: { n: bad(k, i) } }), 422, "patch");
      await flipThen((k) => call("PATCH", `${base}/x/status`, { status: { p: bad(k, i) } }), 422, "status patch");
      await flipThen((k) => call("PUT", `${base}/x/status`, { ...obj("x", { n: "s" }), status: { p: bad(k, i) } }), 422, "status update");
      await flipThen((k) => call("POST", base, obj(`g${i}`, { n: good(k, i) })), 201, "create of a fitting object");
    }
  });

  it("workers exit when the primary is killed (SIGKILL)", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-cluster-kill-"));
    const other = spawn(
      process.execPath,
      [...nodeEntry("src/main.ts"), "--http-port", "0", "--grpc-port", "-1", "--data-dir", dir, "--workers", "2", "--no-fsync"],
      {
        cwd: REPO,
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        other.on("exit", (code) => reject(new Error(`exited with ${code} before listening`)));
        createInterface({ input: other.stdout! }).on("line", (line) => {
          if (line.includes("setpoint-server listening")) resolve();
        });
      });
      const pids = readFileSync(`/proc/${other.pid}/task/${other.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      assert.equal(pids.length, 2);
      other.kill("SIGKILL");
      for (const pid of pids) {
        await until(`orphaned worker ${pid} to exit`, () => {
          try {
            process.kill(pid, 0);
            return undefined;
          } catch {
            return true;
          }
        });
      }
    } finally {
      if (other.exitCode === null && other.signalCode === null) other.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("SIGTERM to the primary stops every worker and exits 0", { timeout: 120_000 }, async () => {
    const pids = workerPids();
    assert.equal(pids.length, 2);
    child.kill("SIGTERM");
    assert.equal(await exited, 0, output.slice(-2000));
    for (const pid of pids) {
      await until(`worker ${pid} to exit`, () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      });
    }
  });
});
