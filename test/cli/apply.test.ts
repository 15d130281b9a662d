// applyOne (src/cli/commands/apply.ts), in process against a real server:
// a write that lands between apply's GET and PUT makes the PUT fail with 409,
// and apply starts over from a fresh GET instead of overwriting it blindly.
// And `setpoint apply` prints the server's warnings (unknown fields) as kubectl does.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ApiClient, warningTexts, type RequestOptions } from "../../src/cli/client.ts";
import { applyOne } from "../../src/cli/commands/apply.ts";
import { runSetpointInProcess } from "../helpers/cli.ts";
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
  });
});

describe("warningTexts", () => {
  it("reads kube's Warning headers, several joined, with quotes and commas in the texts", () => {
    assert.deepEqual(warningTexts(null), []);
    // kube's quoting: a backslash quotes the next character; the text is UTF-8 (its bytes as latin1 characters in a header).
    assert.deepEqual(warningTexts('299 - "unknown field \\"a, b\\"", 299 - "caf\u00c3\u00a9 \\\\"'), ['unknown field "a, b"', "café \\"]);
  });
});
