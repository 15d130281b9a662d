// Clients the benches drive the systems with: a keep-alive HTTP client for
// Setpoint's REST API (bearer token, --insecure TLS), WebSocket watch URLs,
// Setpoint's own client for the measured creates (SdkCreator), and etcd
// clients from the `etcd3` package configured so that each one owns its
// connection (grpc-js otherwise shares one subchannel per target in a
// process) and never retries or trips a circuit breaker (errors show).
//
// Which client makes the measured creates matters on two cores: the client
// shares them with the server. etcd's rows go through etcd's Node client
// (etcd3 over grpc-js), Setpoint's through Setpoint's own: the SDK's HTTP/1.1
// transport (src/agent/http-unary.ts), which the agents' writes take. node:http's
// client costs about twice its CPU per create (bench/RESULTS.md has both).
// `--setpoint-client node-http` sends them through node:http instead.

import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { rootCertificates as tlsRootCertificates } from "node:tls";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { HttpUnary } from "../../src/agent/http-unary.ts";
import type { Target } from "../../src/endpoints.ts";
import { ApiError } from "../../src/errors.ts";
import { REASONS } from "../../src/server/status.ts";
import type { Histogram } from "./stats.ts";
import type { BenchOptions } from "./options.ts";

export interface Reply {
  status: number;
  text: string;
}

export interface HttpClientOptions {
  token?: string;
  /** Accept any TLS certificate. */
  insecure?: boolean;
  /** A CA to trust (PEM), besides the system's. */
  ca?: Buffer;
  /** Most sockets kept open (= most requests in flight). Default 64. */
  connections?: number;
  /** Per-request deadline. Default 30 s. */
  timeoutMs?: number;
}

/** A minimal keep-alive HTTP/1.1 client (node:http: less overhead than fetch per request). */
export class HttpClient {
  readonly base: URL;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #insecure: boolean;

  constructor(base: string, o: HttpClientOptions = {}) {
    this.base = new URL(base);
    const tls = this.base.protocol === "https:";
    const agentOptions = { keepAlive: true, maxSockets: o.connections ?? 64, maxFreeSockets: o.connections ?? 64 };
    this.#agent = tls
      ? new HttpsAgent({ ...agentOptions, rejectUnauthorized: !o.insecure, ...(o.ca ? { ca: [...tlsRootCertificates, o.ca.toString()] } : {}) })
      : new HttpAgent(agentOptions);
    this.#request = tls ? (httpsRequest as unknown as typeof httpRequest) : httpRequest;
    this.#headers = o.token ? { authorization: `Bearer ${o.token}` } : {};
    this.#timeoutMs = o.timeoutMs ?? 30_000;
    this.#insecure = o.insecure ?? false;
  }

  /** Sends a request; `body` is JSON-encoded unless already a string. Resolves with status and text. */
  request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<Reply> {
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const headers: Record<string, string | number> = { ...this.#headers };
    if (data !== undefined) {
      headers["content-type"] = contentType;
      headers["content-length"] = Buffer.byteLength(data);
    }
    const url = new URL(this.base.pathname.replace(/\/$/, "") + path, this.base);
    return new Promise((resolve, reject) => {
      const req = this.#request(url, { method, headers, agent: this.#agent, timeout: this.#timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`bench: ${method} ${path} timed out after ${this.#timeoutMs} ms`)));
      req.on("error", reject);
      req.end(data);
    });
  }

  /** Like request, but throws unless the status is `expect` (or one of them). */
  async expect(expect: number | number[], method: string, path: string, body?: unknown, contentType?: string): Promise<Reply> {
    const res = await this.request(method, path, body, contentType);
    const ok = Array.isArray(expect) ? expect.includes(res.status) : res.status === expect;
    if (!ok) throw new Error(`bench: ${method} ${path} → ${res.status} ${res.text.slice(0, 300)}`);
    return res;
  }

  /** The ws:// or wss:// URL for `path` on this server. */
  wsUrl(path: string): string {
    const u = new URL(this.base.pathname.replace(/\/$/, "") + path, this.base);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  /** Headers and TLS options for a WebSocket to this server. */
  wsOptions(): { headers: Record<string, string>; rejectUnauthorized: boolean; perMessageDeflate: false } {
    return { headers: this.#headers, rejectUnauthorized: !this.#insecure, perMessageDeflate: false };
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The bench's ResourceType: namespaced `<plural>.bench.setpoint.dev`, no schema. */
export const BENCH_GROUP = "bench.setpoint.dev";

/** Creates ResourceType `plural.bench.setpoint.dev` (ok if it exists); returns its namespaced collection path in `default`. */
export async function ensureBenchType(client: HttpClient, kind: string, plural: string): Promise<string> {
  await client.expect([201, 409], "POST", "/apis/setpoint.dev/v1/resourcetypes", {
    apiVersion: "setpoint.dev/v1",
    kind: "ResourceType",
    metadata: { name: `${plural}.${BENCH_GROUP}` },
    spec: { group: BENCH_GROUP, version: "v1", kind, plural, scope: "Namespaced" },
  });
  const path = `/apis/${BENCH_GROUP}/v1/namespaces/default/${plural}`;
  // The type's endpoints are live at once; wait until a list answers to be sure.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await client.request("GET", `${path}?limit=1`);
    if (res.status === 200) return path;
    if (Date.now() > deadline) throw new Error(`bench: ${path} not served: ${res.status} ${res.text.slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The newest revision of the store, from a list of `path`. */
export async function currentRevision(client: HttpClient, path: string): Promise<number> {
  const res = await client.expect(200, "GET", `${path}?limit=1`);
  return Number((JSON.parse(res.text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
}

/** An etcd client with its own connection, no retries and no circuit breaker. */
export function etcdClient(url: string): Etcd3 {
  return new Etcd3({
    hosts: url,
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { "grpc.use_local_subchannel_pool": 1 },
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Runs `fn(i)` for i in 0..n-1 with at most `inflight` in flight, recording each
 * call's latency (ms) in `hist`; calls not started within `maxMs` are dropped,
 * so a load loop is bounded in time as well as count. Returns the seconds taken.
 */
export async function timedCalls(hist: Histogram, n: number, inflight: number, maxMs: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + maxMs;
  await pool(
    Array.from({ length: n }, (_, i) => i),
    inflight,
    async (i) => {
      if (Date.now() > deadline) return;
      const s = process.hrtime.bigint();
      await fn(i);
      hist.record(Number(process.hrtime.bigint() - s) / 1e6);
    },
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Finds the integer after `pattern` in `buf` (skipping one opening quote); -1 if absent. */
export function intAfter(buf: Buffer, pattern: Buffer, from = 0): number {
  const i = buf.indexOf(pattern, from);
  if (i < 0) return -1;
  let j = i + pattern.length;
  if (buf[j] === 0x22) j++;
  let n = 0;
  let digits = 0;
  for (;;) {
    const c = buf[j]!;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    j++;
    digits++;
  }
  return digits ? n : -1;
}

/** The client Setpoint's measured creates go through (`--setpoint-client`). */
export type SetpointClientName = "sdk" | "node-http";

/** `--setpoint-client`: "sdk" (default) or "node-http" (parseBenchArgs refuses any other). */
export function setpointClientOption(o: BenchOptions): SetpointClientName {
  return o.values["setpoint-client"] === "node-http" ? "node-http" : "sdk";
}

/** Writes objects over the REST API with a chosen client; resolves with the answer's status (and text when not 2xx). */
export interface Creator {
  /** POST to a collection: 201. */
  create(path: string, object: unknown): Promise<Reply>;
  /** PUT of a whole object: 200 (409 when its resourceVersion is not the stored one's; none: unconditional). */
  replace(path: string, object: unknown): Promise<Reply>;
  close(): void;
}

/**
 * Creates through the SDK's HTTP/1.1 transport (`HttpUnary`): one kept-alive
 * connection per request in flight, head and body in one write, a small
 * response parser. A non-2xx answer resolves with its status, as HttpClient's.
 */
export class SdkCreator implements Creator {
  readonly #unary: HttpUnary;
  readonly #target: Target;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(base: string, o: HttpClientOptions = {}) {
    const url = new URL(base);
    this.#target = { url: url.origin, label: url.origin };
    this.#prefix = url.pathname.replace(/\/$/, "");
    this.#timeoutMs = o.timeoutMs ?? 30_000;
    this.#unary = new HttpUnary({
      token: o.token,
      tls:
        url.protocol === "https:"
          ? { rejectUnauthorized: !o.insecure, ...(o.ca ? { ca: Buffer.from([...tlsRootCertificates, o.ca.toString()].join("\n")) } : {}) }
          : undefined,
    });
  }

  create(path: string, object: unknown): Promise<Reply> {
    return this.#send("POST", path, object, 201);
  }

  replace(path: string, object: unknown): Promise<Reply> {
    return this.#send("PUT", path, object, 200);
  }

  async #send(method: "POST" | "PUT", path: string, object: unknown, ok: number): Promise<Reply> {
    try {
      await this.#unary.call(this.#target, { method, path: this.#prefix + path, body: JSON.stringify(object), timeoutMs: this.#timeoutMs });
      return { status: ok, text: "" };
    } catch (err) {
      // The server's refusal (ConflictError, ...) carries its reason, not its HTTP status: give the status, as node:http's client
      // does, so a note reads "409", not "0" (no answer); a TransportError has the HTTP status, if there was an answer.
      if (err instanceof ApiError) return { status: REASONS[err.reason]?.http ?? 0, text: err.message };
      const e = err as { code?: unknown; message?: string };
      return { status: typeof e.code === "number" ? e.code : 0, text: e.message ?? String(err) };
    }
  }

  close(): void {
    this.#unary.close();
  }
}

/** The creator `o` asks for (`--setpoint-client`), over `client` when it is node:http. */
export function setpointCreator(o: BenchOptions, base: string, client: HttpClient, name = setpointClientOption(o)): Creator {
  if (name === "node-http")
    return {
      create: (path, object) => client.request("POST", path, object),
      replace: (path, object) => client.request("PUT", path, object),
      close: () => undefined,
    };
  return new SdkCreator(base, { token: o.token, insecure: o.insecure, ca: o.ca, timeoutMs: 120_000 });
}
