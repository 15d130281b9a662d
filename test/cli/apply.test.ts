// applyOne (src/cli/commands/apply.ts), in process against a real server:
// a write that lands between apply's GET and PUT makes the PUT fail with 409,
// and apply starts over from a fresh GET instead of overwriting it blindly.
// And `setpoint apply` prints the server's warnings (unknown fields) as kubectl does,
// and says a create with a generated name that timed out may have been applied,
// and not when its connection never opened.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ApiClient, warningTexts, type RequestOptions } from "../../src/cli/client.ts";
import { applyOne } from "../../src/cli/commands/apply.ts";
import { runSetpointInProcess } from "../helpers/cli.ts";
import { makePki } from "../helpers/pki.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";

/** A client that runs `interfere` before its first `times` PUTs, and counts what it sent. */
class RacingClient extends ApiClient {
  readonly sent: string[] = [];
  #left: number;
  readonly #interfere: () => Promise<void>;
  constructor(server: string, times: number, interfere: () => Promise<void>) {
    super({ server });
    this.#left = times;
    this.#interfere = interfere;
  }
  override async request(method: string, path: string, options?: RequestOptions): Promise<any> {
    if (method === "PUT" && this.#left-- > 0) await this.#interfere();
    try {
      const out = await super.request(method, path, options);
      this.sent.push(`${method} ok`);
      return out;
    } catch (error) {
      this.sent.push(`${method} ${(error as { code?: number }).code ?? "error"}`);
      throw error;
    }
  }
}

describe("applyOne", () => {
  let t: TestServer;
  const type = { group: "apply.example.com", version: "v1", plural: "things", singular: "thing", kind: "Thing", namespaced: true };
  const path = "/apis/apply.example.com/v1/namespaces/default/things/x";

  before(async () => {
    t = await startTestServer();
    await createType(api(t.url), { group: "apply.example.com", kind: "Thing", plural: "things" });
    assert.equal((await api(t.url).post("/apis/apply.example.com/v1/namespaces/default/things", { metadata: { name: "x" }, spec: { v: 1 } })).status, 201);
  });
  after(() => t.stop());

  it("retries after a 409 from a concurrent write, then applies on the fresh state", async () => {
    let n = 0;
    const client = new RacingClient(t.url, 2, async () => {
      const res = await api(t.url).patch(path, { metadata: { labels: { racer: String(++n) } } });
      assert.equal(res.status, 200, res.text);
    });
    const manifest = { apiVersion: "apply.example.com/v1", kind: "Thing", metadata: { name: "x" }, spec: { v: 2 } };
    const result = await applyOne(client, type, "default", manifest);
    assert.deepEqual(result, { name: "x", outcome: "configured" });
    assert.deepEqual(client.sent, ["GET ok", "PUT 409", "GET ok", "PUT 409", "GET ok", "PUT ok"]);
    const stored = (await api(t.url).get(path)).body;
    assert.deepEqual(stored.spec, { v: 2 });
    assert.deepEqual(stored.metadata.labels, { racer: "2" }, "labels the manifest does not set are kept from the fresh state");
  });

  it("gives up after 5 conflicts with the server's Conflict", async () => {
    const client = new RacingClient(t.url, 99, async () => {
      await api(t.url).patch(path, { metadata: { annotations: { bump: String(Math.random()) } } });
    });
    await assert.rejects(
      applyOne(client, type, "default", { apiVersion: "apply.example.com/v1", kind: "Thing", metadata: { name: "x" }, spec: { v: 3 } }),
      (e: any) => {
        assert.equal(e.code, 409);
        assert.equal(e.reason, "Conflict");
        return true;
      },
    );
    assert.equal(client.sent.filter((s) => s.startsWith("PUT")).length, 5);
  });

  it("setpoint apply prints the server's warnings as kubectl does, and still applies", async () => {
    const manifest = "apiVersion: apply.example.com/v1\nkind: Thing\nmetadata: {name: warned, bogus: 1}\nspec: {v: 1}\nextra: true\n";
    const r = await runSetpointInProcess(["apply", "-f", "-", "--server", t.url], { input: manifest });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "thing.apply.example.com/warned created\n");
    assert.equal(r.stderr, 'Warning: unknown field "extra"\nWarning: unknown field "metadata.bogus"\n');
    const stored = (await api(t.url).get("/apis/apply.example.com/v1/namespaces/default/things/warned")).body;
    assert.equal(stored.extra, undefined);
  });

  it("a create with a generated name that gets no answer in time: the error says it may have been applied, and it is not sent again", async () => {
    // In front of the real server: every request passes but creates, which are held unanswered (a server slow to answer them).
    let posts = 0;
    const held: ServerResponse[] = [];
    const slow = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.method === "POST") {
        posts++;
        held.push(res);
        req.resume();
        return;
      }
      fetch(`${t.url}${req.url}`, { method: req.method, headers: { accept: req.headers.accept ?? "application/json" } }).then(
        async (answer) => {
          res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
          res.end(Buffer.from(await answer.arrayBuffer()));
        },
        () => res.destroy(),
      );
    });
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    try {
      const unnamed = "apiVersion: apply.example.com/v1\nkind: Thing\nmetadata: {generateName: slow-}\nspec: {v: 1}\n";
      const r = await runSetpointInProcess(["apply", "-f", "-", "--server", url, "--request-timeout", "1s"], { input: unnamed });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^error: .*did not answer within 1 s; the server may still be processing the request: the create may have been applied \(its name is generated, so it was not sent again, which would make a second object\): check with "setpoint get" before creating it again\n$/,
      );
      assert.equal(posts, 1, "sent once");
      // A named create is idempotent (a second is AlreadyExists): its timeout is a timeout.
      const named = await runSetpointInProcess(["apply", "-f", "-", "--server", url, "--request-timeout", "1s"], {
        input: "apiVersion: apply.example.com/v1\nkind: Thing\nmetadata: {name: slow-named}\nspec: {v: 1}\n",
      });
      assert.equal(named.code, 1, named.stderr);
      assert.match(named.stderr, /did not answer within 1 s/);
      assert.doesNotMatch(named.stderr, /may have been applied/);
    } finally {
      for (const res of held) res.destroy();
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  it("a create with a generated name whose connection never opened (a TLS handshake that failed): no 'may have been applied'", async () => {
    // An https front for the real server (a CA of the test's own, given by a kubeconfig) that answers
    // discovery, then stops speaking TLS: the create's new connection gets plain HTTP bytes, its
    // handshake fails, and nothing is sent. Each answer closes its connection, so the create opens one.
    const dir = mkdtempSync(join(tmpdir(), "setpoint-apply-tls-"));
    const pki = makePki(dir);
    const serving = pki.server("front");
    let groups = Number.POSITIVE_INFINITY;
    let groupGets = 0;
    let posts = 0;
    let broken = false;
    const front = createHttpsServer({ cert: pki.read(serving.cert), key: pki.read(serving.key) }, (req, res) => {
      if (req.method === "POST") posts++;
      if (req.method === "GET" && /^\/apis\/[^/]+\/[^/]+$/.test(req.url ?? "") && ++groupGets === groups) broken = true; // discovery's last
      fetch(`${t.url}${req.url}`, { method: req.method, headers: { accept: "application/json" } }).then(
        async (answer) => {
          const body = Buffer.from(await answer.arrayBuffer());
          if (req.url === "/apis") groups = JSON.parse(body.toString()).groups.length;
          res.writeHead(answer.status, { "content-type": "application/json", connection: "close" });
          res.end(body);
        },
        () => res.destroy(),
      );
    });
    const sockets = new Set<Socket>();
    const raw = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      if (broken) socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      else front.emit("connection", socket);
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${(raw.address() as AddressInfo).port}", certificate-authority: "${pki.caCert}"}}]`,
        "users: [{name: u, user: {}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x",
        "",
      ].join("\n"),
    );
    try {
      const unnamed = "apiVersion: apply.example.com/v1\nkind: Thing\nmetadata: {generateName: never-sent-}\nspec: {v: 1}\n";
      const r = await runSetpointInProcess(["apply", "-f", "-", "--kubeconfig", kubeconfig], { input: unnamed, timeoutMs: 30_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(broken, `discovery answered (${groupGets} of ${groups} groups)`);
      assert.match(r.stderr, /^error: https:\/\/127\.0\.0\.1:\d+ does not speak TLS/);
      assert.doesNotMatch(r.stderr, /may have been applied|may still be processing/);
      assert.equal(posts, 0, "nothing was sent");
    } finally {
      // The sockets handed to the https front stay raw's own: raw.close() waits for each to end, and one
      // the CLI opened but never used (or whose handshake failed half-way) would keep it waiting.
      const closed = new Promise((resolve) => raw.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an object of a type the server lacks: says to apply the type; for a PipelineRun on a bare server, where its type comes from", async () => {
    const gizmo = "apiVersion: apply.example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n";
    const run = "apiVersion: ci.setpoint.dev/v1\nkind: PipelineRun\nmetadata: {name: r}\nspec: {tasks: [{name: a, run: 'true'}]}\n";
    const [other, pipelineRun] = await Promise.all([
      runSetpointInProcess(["apply", "-f", "-", "--server", t.url], { input: gizmo }),
      runSetpointInProcess(["apply", "-f", "-", "--server", t.url], { input: run }),
    ]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /^error: .*the server has no resource type for kind "Gizmo" in "apply\.example\.com\/v1": apply its ResourceType first\n$/);
    assert.equal(pipelineRun.code, 1);
    assert.match(
      pipelineRun.stderr,
      /no resource type for kind "PipelineRun" .*: start a pipeline agent \(setpoint agent pipelines, or setpoint up .*\), .*or apply examples\/pipelines\/resource-type\.yaml\n$/,
    );
    // get says the same of PipelineRuns, and keeps its general hint for other types.
    const [getRuns, getGizmos] = await Promise.all([
      runSetpointInProcess(["get", "pr", "--server", t.url]),
      runSetpointInProcess(["get", "gizmos", "--server", t.url]),
    ]);
    assert.equal(getRuns.code, 1);
    assert.match(
      getRuns.stderr,
      /^error: the server doesn't have a resource type "pr" \(it declares PipelineRuns once a pipeline agent starts .*apply examples\/pipelines\/resource-type\.yaml\)\n$/,
    );
    assert.match(getGizmos.stderr, /^error: the server doesn't have a resource type "gizmos" \(the types it has: setpoint get resourcetypes\)\n$/);
  });

  it("a kind in the wrong case or an apiVersion the group does not serve: says what the server has (apply and delete -f)", async () => {
    const wrongCase = "apiVersion: apply.example.com/v1\nkind: thing\nmetadata: {name: x}\n";
    const wrongVersion = "apiVersion: apply.example.com/v1beta1\nkind: Thing\nmetadata: {name: x}\n";
    const both = "apiVersion: apply.example.com/v2\nkind: THING\nmetadata: {name: x}\n";
    const run = (verb: string, input: string) => runSetpointInProcess([verb, "-f", "-", "--server", t.url], { input });
    const [a, b, c, d] = await Promise.all([run("apply", wrongCase), run("apply", wrongVersion), run("apply", both), run("delete", wrongVersion)]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /no resource type for kind "thing" in "apply\.example\.com\/v1": use kind "Thing" \(kinds are case-sensitive\)\n$/);
    assert.equal(b.code, 1);
    assert.match(
      b.stderr,
      /no resource type for kind "Thing" in "apply\.example\.com\/v1beta1": the server has Thing in "apply\.example\.com\/v1": use that apiVersion\n$/,
    );
    assert.equal(c.code, 1);
    assert.match(c.stderr, /the server has Thing in "apply\.example\.com\/v1": use that apiVersion and that kind\n$/);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /the server has Thing in "apply\.example\.com\/v1": use that apiVersion\n$/);
    assert.equal((await api(t.url).get(path)).status, 200, "delete -f deleted nothing");
  });
});

describe("warningTexts", () => {
  it("reads kube's Warning headers, several joined, with quotes and commas in the texts", () => {
    assert.deepEqual(warningTexts(null), []);
    // kube's quoting: a backslash quotes the next character; the text is UTF-8 (its bytes as latin1 characters in a header).
    assert.deepEqual(warningTexts('299 - "unknown field \\"a, b\\"", 299 - "caf\u00c3\u00a9 \\\\"'), ['unknown field "a, b"', "café \\"]);
  });
});
