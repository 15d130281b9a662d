// The CLI's HTTP client for the REST API (API.md §4): fetch with a bearer
// token and a deadline per request, JSON in and out (asking for gzip, as
// kubectl does: a large answer comes gzipped), and errors that keep the
// server's Status (message, reason, field causes) so commands can print them.

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { gunzip } from "node:zlib";
import { resolveTargets, type PinnedLookup, type Resolver, type Target } from "../endpoints.ts";
import { asStatus, ServerError, UnreachableError, UsageError } from "./errors.ts";
import type { LooseObject, ObjectList } from "../wire.ts";

export interface ClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`, or several replicas' comma-separated (failed over in order). */
  server: string;
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  /** Deadline of each request. Default 30 000 ms. */
  timeoutMs?: number;
  /** TLS for an https:// server from a kubeconfig (src/kubeconfig.ts): CA, client certificate, verification. */
  tls?: TlsClientOptions;
  /**
   * Resolves a server's host name to the replicas it stands for (each address
   * a target to fail over to). Default: every address of the system resolver
   * (src/endpoints.ts).
   */
  resolve?: Resolver;
  /** Called with the text of each `Warning` header of an answer (a write's unknown fields), which kubectl prints as `Warning: TEXT`. Default: none. */
  onWarning?: (text: string) => void;
}

/**
 * The texts of kube's `Warning` headers (`299 - "text"`, several joined by
 * ", "): a backslash quotes the next character, and the header's bytes
 * (latin1 characters here) are the text's UTF-8.
 */
export function warningTexts(header: string | null): string[] {
  if (header === null) return [];
  const out: string[] = [];
  for (const m of header.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)) {
    out.push(Buffer.from(m[1]!.replace(/\\(.)/gs, "$1"), "latin1").toString("utf8"));
  }
  return out;
}

/** What a client needs to know about TLS beyond the system's trust store. */
export interface TlsClientOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface RequestOptions {
  /** Sent as JSON unless a string. */
  body?: unknown;
  /** Default `application/json` when there is a body. */
  contentType?: string;
  query?: Record<string, string | undefined>;
  /**
   * Cancels the request (a command's own deadline, Ctrl-C): it is not sent to
   * another replica, and the call rejects with the signal's reason. Default: none
   * (only the per-request deadline, `timeoutMs`).
   */
  signal?: AbortSignal;
}

/**
 * Talks to one Setpoint server over HTTP, or to several replicas of one: a
 * request that cannot reach the current replica, or that it answers 503
 * (its store is unavailable), is sent to the next one; `failover()` moves on
 * too (a follow whose watch broke resumes on the next replica). A server
 * whose host is a name that resolves to several addresses is that many
 * replicas (resolved before the first request).
 */
export class ApiClient {
  readonly #servers: string[];
  #targets: Target[];
  #resolving: Promise<void> | undefined;
  readonly #resolve: Resolver | undefined;
  #current = 0;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #onWarning: ((text: string) => void) | undefined;
  /** TLS options for https:// and wss:// connections (empty for plain HTTP or the system's trust). */
  readonly tls: TlsClientOptions;

  constructor(options: ClientOptions) {
    const servers = options.server
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    if (servers.length === 0) throw new UsageError(`invalid server URL ${JSON.stringify(options.server)}: use e.g. http://127.0.0.1:8080`);
    this.#servers = servers.map((server) => {
      let url: URL;
      try {
        url = new URL(server);
      } catch {
        throw new UsageError(`invalid server URL ${JSON.stringify(server)}: use e.g. http://127.0.0.1:8080`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new UsageError(`invalid server URL ${JSON.stringify(server)}: use http:// or https://`);
      }
      return url.href.replace(/\/+$/, "");
    });
    this.#targets = this.#servers.map((url) => ({ url, label: url }));
    this.#resolve = options.resolve;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#onWarning = options.onWarning;
    this.tls = options.tls ?? {};
  }

  get #target(): Target {
    return this.#targets[this.#current % this.#targets.length]!;
  }

  /** The replica in use, e.g. `http://127.0.0.1:8080` (for a resolved name, with its endpoint's port). */
  get server(): string {
    return this.#target.url;
  }

  /** The replica in use as messages name it: the URL, and for a resolved name the address it stands for. */
  get replica(): string {
    return this.#target.label;
  }

  /** The server URLs this client was given. */
  get servers(): readonly string[] {
    return this.#servers;
  }

  /** Every replica this client knows, as `replica` names them (after the first request: every address of each name). */
  get replicas(): readonly string[] {
    return this.#targets.map((t) => t.label);
  }

  /** Options a WebSocket (ws) to `server` needs beyond the URL: TLS, and the pinned address of a resolved name. */
  connectOptions(): TlsClientOptions & { lookup?: PinnedLookup } {
    const lookup = this.#target.lookup;
    return lookup ? { ...this.tls, lookup } : this.tls;
  }

  /** Resolves each server's name to its replicas, once; later calls wait for the first. */
  resolveServers(): Promise<void> {
    this.#resolving ??= resolveTargets(this.#servers, this.#resolve).then((targets) => {
      this.#targets = targets;
      this.#current = 0;
    });
    return this.#resolving;
  }

  /**
   * Moves past replica `from` (default: the current one, as `replica` names
   * it) to the next; no-op if another caller already moved on. Once every
   * replica was passed, the next resolveServers() looks the names up again: a
   * replaced replica behind a name (a headless Service's new pod) has a new
   * address.
   */
  failover(from: string = this.replica): void {
    if (this.replica !== from) return;
    this.#current++;
    if (this.#current % this.#targets.length === 0) this.#resolving = undefined;
  }

  /** Headers every request carries (the bearer token, if any). */
  headers(): Record<string, string> {
    return this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` };
  }

  /** `path` with `query` on this server, as a URL string. */
  url(path: string, query: Record<string, string | undefined> = {}): string {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url.href;
  }

  /**
   * Sends a request; resolves to the parsed JSON body of a 2xx answer, throws
   * ServerError or CliError otherwise. A create without a name (generateName)
   * makes a new object each time it is applied, so after a failure that may
   * have reached the server (a lost answer, a timeout, a 503) it is not sent
   * to the next replica: only a replica that refused the connection passes it on.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<any> {
    await this.resolveServers();
    options.signal?.throwIfAborted();
    /** The replica an earlier attempt may have reached before its answer was lost. */
    let lostAt: string | undefined;
    for (let tries = this.#targets.length; ; tries--) {
      const server = this.replica;
      try {
        return await this.#requestOnce(method, path, options);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        const replicaDown = error instanceof UnreachableError || (error instanceof ServerError && error.code === 503);
        // A create whose name the server generates that may have reached it (a timeout, a lost answer): as
        // client-go, never sent again, and the error says it may have been applied.
        const unnamed = unnamedCreate(method, options.body) && !neverSent(error);
        if (unnamed && error instanceof UnreachableError) {
          if (tries > 1) this.failover(server);
          throw mayHaveBeenCreated(error);
        }
        if (!replicaDown || tries <= 1) throw lostAt === undefined ? this.#everyReplica(error) : afterLostAnswer(error, method, lostAt);
        this.failover(server);
        if (!neverSent(error)) lostAt ??= server;
        if (unnamed) throw error;
      }
    }
  }

  /** With several replicas, an unreachable error says every one was tried, not only the last. */
  #everyReplica(error: unknown): unknown {
    if (!(error instanceof UnreachableError) || this.#targets.length < 2) return error;
    return new UnreachableError(`tried every replica (${this.#targets.map((t) => t.label).join(", ")}): ${error.message}`, {
      cause: error,
      sent: error.sent,
    });
  }

  async #requestOnce(method: string, path: string, options: RequestOptions): Promise<any> {
    const headers: Record<string, string> = { accept: "application/json", "accept-encoding": "gzip", ...this.headers() };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] = options.contentType ?? "application/json";
    }
    let res: Response;
    const progress = { connected: false };
    try {
      const deadline = AbortSignal.timeout(this.#timeoutMs);
      const init = { method, headers, body, signal: options.signal ? AbortSignal.any([deadline, options.signal]) : deadline };
      res = await nodeFetch(this.url(path, options.query), init, this.tls, this.#target.lookup, progress);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw this.unreachable(error, progress.connected);
    }
    const text = await res.text();
    if (this.#onWarning) for (const warning of warningTexts(res.headers.get("warning"))) this.#onWarning(warning);
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) return parsed;
    throw new ServerError(asStatus(parsed, res.status, text));
  }

  /** A GET; `options.signal` cancels it (see RequestOptions). */
  get(path: string, query?: Record<string, string | undefined>, options: { signal?: AbortSignal } = {}): Promise<any> {
    return this.request("GET", path, { query, signal: options.signal });
  }

  /** Every item of a list, following `continue` tokens; the revision is the first page's. `options.signal` cancels it. */
  async listAll(path: string, query: Record<string, string | undefined> = {}, options: { signal?: AbortSignal } = {}): Promise<ObjectList<LooseObject>> {
    const first = (await this.get(path, { ...query, limit: "500" }, options)) as ObjectList<LooseObject>;
    const items = [...first.items];
    for (let next = first.metadata.continue; next; ) {
      const page = (await this.get(path, { ...query, limit: "500", continue: next }, options)) as ObjectList<LooseObject>;
      items.push(...page.items);
      next = page.metadata.continue;
    }
    return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
  }

  /**
   * The error for a server that cannot be reached, saying what to do about it in one line; `connected`:
   * whether the request's connection had opened (TCP, and TLS's handshake), so it may have been sent.
   */
  unreachable(error: unknown, connected = true): UnreachableError {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? "";
    const url = new URL(this.server);
    let message: string;
    if ((error as Error).name === "TimeoutError") {
      message = connected
        ? `the Setpoint server at ${this.server} did not answer within ${this.#timeoutMs / 1000} s`
        : `could not connect to the Setpoint server at ${this.server} within ${this.#timeoutMs / 1000} s`;
    } else if (url.protocol === "https:" && /^ERR_SSL_|^EPROTO$/.test(code)) {
      message = `${this.server} does not speak TLS: this server serves plain HTTP, so use --server http://${url.host}`;
    } else if (url.protocol === "https:" && UNTRUSTED_CERT.test(code)) {
      message = `the server at ${this.server} presents a certificate this client does not trust (${code}): give its CA with a kubeconfig's certificate-authority (--kubeconfig), or NODE_EXTRA_CA_CERTS=ca.pem`;
    } else if (/^HPE_/.test(code)) {
      message = `${this.server} did not answer in HTTP/1.1 (${code}): is it the gRPC port? --server takes the HTTP port (8080 by default), e.g. --server http://${url.hostname}:8080`;
    } else {
      const why = code || cause?.message || (error as Error).message;
      message = `cannot reach the Setpoint server at ${this.server}: ${why} (is it running? start one with "npm start" in a clone or "setpoint up"; or point --server or SETPOINT_SERVER at it)`;
    }
    return new UnreachableError(message, { cause: error, sent: connected && !connectionRefused(error) });
  }
}

/**
 * A create with a generated name that timed out or lost its answer: kube's
 * words for a request the server may still be processing, and what to do.
 */
function mayHaveBeenCreated(error: UnreachableError): UnreachableError {
  return new UnreachableError(
    `${error.message}; the server may still be processing the request: the create may have been applied (its name is generated, so it was not sent again, which would make a second object): check with "setpoint get" before creating it again`,
    { cause: error },
  );
}

/**
 * The error of a request sent again after an attempt whose answer was lost:
 * a create that finds its name taken, or a delete that finds nothing, may
 * meet the lost attempt's own doing, and says so.
 */
function afterLostAnswer(error: unknown, method: string, lostAt: string): unknown {
  if (!(error instanceof ServerError)) return error;
  const own = (method === "POST" && error.reason === "AlreadyExists") || (method === "DELETE" && error.code === 404);
  if (!own) return error;
  return new ServerError({
    ...error.status,
    message: `${error.status.message} (the same request sent to ${lostAt} lost its answer: it may have been applied there)`,
  });
}

/** A POST of an object without a name: each one the server applies creates another object. */
function unnamedCreate(method: string, body: unknown): boolean {
  if (method !== "POST" || body === undefined) return false;
  let object: unknown = body;
  if (typeof body === "string") {
    try {
      object = JSON.parse(body);
    } catch {
      return false;
    }
  }
  const name = (object as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof name !== "string" || name === "";
}

/** Node's codes for a TLS certificate that does not verify (self-signed, unknown CA, expired, another host's). */
const UNTRUSTED_CERT =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** Errors of a connection that never opened, so no request was sent. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** Whether the request surely never reached the server: its connection did not open, so nothing was sent. */
function neverSent(error: unknown): boolean {
  return (error instanceof UnreachableError && !error.sent) || connectionRefused(error);
}

/** Whether the error (or one of its causes) has the code of a connection that never opened. */
function connectionRefused(error: unknown): boolean {
  let e = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) {
    if (typeof e.code === "string" && NOT_CONNECTED.has(e.code)) return true;
  }
  return false;
}

/**
 * fetch's subset the client uses, over node:http(s): with a kubeconfig's TLS
 * options (fetch cannot take a CA), with `lookup` pinning a resolved name's
 * address (fetch cannot take one either), and on any port (fetch refuses the
 * ports the Fetch standard blocks, 6000, 6665–6669, 10080 and others, with
 * "bad port", while a server listens there happily).
 */
function nodeFetch(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
  tls: TlsClientOptions,
  lookup: PinnedLookup | undefined,
  progress: { connected: boolean },
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const https = url.startsWith("https:");
    const request = https ? httpsRequest : httpRequest;
    const req = request(
      url,
      { method: init.method, headers: init.headers, signal: init.signal, ...(https ? tls : {}), ...(lookup ? { lookup } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const headers = res.headers as Record<string, string>;
          const answer = (body: Buffer | null) => resolve(new Response(body, { status: res.statusCode ?? 500, headers }));
          if (res.statusCode === 204) return answer(null);
          const body = Buffer.concat(chunks);
          if (headers["content-encoding"]?.toLowerCase() !== "gzip") return answer(body);
          // As fetch decodes it: the body and headers of the decoded answer.
          delete headers["content-encoding"];
          delete headers["content-length"];
          gunzip(body, (err, decoded) => (err ? reject(Object.assign(new TypeError("fetch failed"), { cause: err })) : answer(decoded)));
        });
      },
    );
    // Whether the request may have gone out: once its connection is open (a kept-alive one is; a new
    // one once TCP connects and, for https, TLS's handshake is done). Before that nothing was sent.
    req.on("socket", (socket) => {
      if (req.reusedSocket || (!https && !socket.connecting)) progress.connected = true;
      else socket.once(https ? "secureConnect" : "connect", () => (progress.connected = true));
    });
    // A deadline that passed reads as fetch's TimeoutError.
    req.on("error", (err) => reject(init.signal.aborted ? init.signal.reason : Object.assign(new TypeError("fetch failed"), { cause: err })));
    req.end(init.body);
  });
}
