// Shared fixture of the REST contract tests (test/server/rest/*.test.ts, one
// file per section of API.md): a real server over real HTTP with the Widget,
// Gadget and Realm types, and helpers. Each test file calls useRestServer()
// once at top level; `t` and `c` are live bindings set before its tests run.

import assert from "node:assert/strict";
import { after, before } from "node:test";
import { api, causeFields, createType, startTestServer, type ApiClient, type Reply, type TestServer } from "../../helpers/server.ts";

export const GROUP = "ci.example.com";
export const GV = `/apis/${GROUP}/v1`;
export const MERGE = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";

export const widgetSchema = {
  spec: {
    type: "object",
    required: ["size"],
    properties: { size: { type: "integer", minimum: 1 }, color: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
  },
  status: { type: "object", properties: { phase: { type: "string", enum: ["Pending", "Running", "Done"] }, observedGeneration: { type: "integer" } } },
};

/** The server of the current test file. */
export let t: TestServer;
/** A client of `t`. */
export let c: ApiClient;
let nsCounter = 0;
/** A namespace no other test uses, so lists see only this test's objects. */
export const freshNs = () => `ns-${++nsCounter}`;
export const widgets = (ns: string) => `${GV}/namespaces/${ns}/widgets`;
export const gadgets = (ns: string) => `${GV}/namespaces/${ns}/gadgets`;

export function widget(name: string, spec: Record<string, unknown> = { size: 1 }, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name, ...metadata }, spec };
}
export function gadget(name: string, metadata: Record<string, unknown> = {}, spec: unknown = { x: 1 }): Record<string, unknown> {
  return { apiVersion: `${GROUP}/v1`, kind: "Gadget", metadata: { name, ...metadata }, spec };
}

export async function created(res: Promise<Reply>): Promise<Record<string, any>> {
  const r = await res;
  assert.equal(r.status, 201, r.text);
  return r.body;
}
export async function ok(res: Promise<Reply>): Promise<Record<string, any>> {
  const r = await res;
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** The newest revision of the whole store, as a list without resourceVersion reports it. */
export async function head(): Promise<number> {
  const list = await ok(c.get(`${GV}/gadgets?limit=1`));
  return Number(list.metadata.resourceVersion);
}
export const rv = (o: Record<string, any>) => Number(o.metadata.resourceVersion);
/** The distinct cause fields, sorted (a field may carry several causes, as in kube). */
export const fieldSet = (res: Reply) => [...new Set(causeFields(res))].sort();
export const names = (list: Record<string, any>) => (list.items as Array<Record<string, any>>).map((i) => i.metadata.name as string);

/** Starts the file's server (with the Widget, Gadget and Realm types) before its tests and stops it after. */
export function useRestServer(): void {
  before(async () => {
    t = await startTestServer();
    c = api(t.url);
    await createType(c, { group: GROUP, kind: "Widget", plural: "widgets", schema: widgetSchema });
    await createType(c, { group: GROUP, kind: "Gadget", plural: "gadgets" });
    await createType(c, { group: GROUP, kind: "Realm", plural: "realms", scope: "Cluster" });
  });
  after(async () => {
    await t.stop();
  });
}
