// A thin typed client of one Setpoint server for agents, speaking only the
// wire protocol: unary verbs (each with a deadline and an optional
// AbortSignal) over gRPC, except writes (create, update, updateStatus, patch,
// delete), which go over the REST API when an HTTP URL is given
// (src/agent/http-unary.ts: cheaper per call than grpc-js, and a reconcile
// loop's status write is its hot call); watches over a WebSocket (one JSON
// event per text message) or over the gRPC Watch stream.
//
// Errors: a failed call rejects with the error class of its Status reason
// (`NotFoundError`, `ConflictError` for ABORTED, `ExpiredError` for
// OUT_OF_RANGE, … from src/errors.ts); a server that cannot be reached, or
// that answers something that is not the protocol, rejects with
// `TransportError`. A watch ends by resolving `done` when the server closes it
// on purpose (timeout, shutdown, slow-watcher cut-off: resume from the last
// revision) and by rejecting it otherwise (ERROR event, dropped connection, no
// message for `idleTimeoutMs`).

import { isIP } from "node:net";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { systemClock, type Clock } from "../clock.ts";
import { resolveTargets, type Resolver, type Target } from "../endpoints.ts";
import { AlreadyExistsError, ApiError, BadRequestError, NotFoundError, TimeoutError } from "../errors.ts";
import { loadResourcesService, statusOfError, type ResourcesClient, type UnaryMethod } from "../proto.ts";
import { quietIpServerNameWarning } from "./grpc-ip-servername.ts";
import { HttpUnary, type HttpUnaryRequest } from "./http-unary.ts";
import { grpcWatch, webSocketWatch, type WatchOptions } from "./watch-transports.ts";
import { TransportError, errorOfGrpc, parseEvent, parseObject, type ApiObject, type ObjectRef, type TypeRef, type WatchEvent } from "./wire.ts";

export {
  TransportError,
  errorOfStatus,
  type TransportFailure,
  type ApiObject,
  type ObjectMeta,
  type ObjectRef,
  type TypeRef,
  type WatchEvent,
} from "./wire.ts";

export interface ClientOptions {
  /**
   * gRPC address, `host:port`, or several replicas' comma-separated. A name
   * that resolves to several addresses is tried address by address (grpc-js's
   * pick_first); a list is failed over in order (see SetpointClient).
   */
  grpcAddress: string;
  /**
   * HTTP base URL (e.g. `http://127.0.0.1:8080`), or several comma-separated:
   * WebSocket watches and REST writes (`writeTransport`) use it. A name that
   * resolves to several addresses is that many replicas, failed over in turn.
   */
  httpUrl?: string;
  /** Resolves `httpUrl`'s host names to their replicas. Default: every address of the system resolver (src/endpoints.ts). */
  resolve?: Resolver;
  /** Bearer token sent with every call. */
  token?: string;
  /**
   * TLS for gRPC and wss:// (from a kubeconfig: src/kubeconfig.ts). When set,
   * gRPC speaks TLS, trusting `ca` (else the system's roots) and presenting
   * `cert`/`key` if given. Default: plaintext gRPC.
   */
  tls?: ClientTls;
  /** Deadline of each unary call. Default 10000 ms. */
  timeoutMs?: number;
  /**
   * While calls are open, gRPC pings the replica this often and drops the
   * connection when a ping goes unanswered as long, so a replica that hangs
   * (or a black hole) is left even behind a name, whose other addresses
   * grpc-js then tries. Default 10000 ms.
   */
  keepaliveMs?: number;
  /**
   * How writes (`create`, `update`, `updateStatus`, `patch`, `delete`) are
   * sent: "http" (the REST API: POST, PUT, PATCH, DELETE) or "grpc". Reads
   * and watches are not affected. Default "http" when `httpUrl` is given,
   * else "grpc".
   */
  writeTransport?: "http" | "grpc";
  /** @deprecated The same as `writeTransport` (it once moved `updateStatus` only). */
  statusTransport?: "http" | "grpc";
  /** Time source for watch idle checks. Default `systemClock`. */
  clock?: Clock;
  /**
   * "gzip": ask for list answers gzipped (ListRequest.accept_encoding), which
   * the server does when their items exceed 128 KiB, for an agent on a slow
   * link: a page of 500 typical objects is about 8x smaller, for about 4-5 ms
   * of the server's CPU and 3-5 ms of the agent's per MB of JSON
   * (docs/request-path.md, "Gzipped lists over gRPC"). Default "identity": on
   * loopback or a fast LAN the bytes cost less than compressing them.
   */
  listEncoding?: "gzip" | "identity";
}

/** TLS settings of a client: what to trust, and the client certificate to present. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** false skips verifying the server (kubeconfig insecure-skip-tls-verify). */
  rejectUnauthorized?: boolean;
  /** Name to verify the server's certificate against. */
  servername?: string;
}

/**
 * Client options from a kubeconfig target (src/kubeconfig.ts): the HTTP URL,
 * token and TLS; the gRPC address from its `grpc.setpoint.dev` extension, else
 * the server's host on `defaultGrpcPort`.
 */
export function clientOptionsFromKubeconfig(
  target: {
    server: string;
    token?: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    insecureSkipTlsVerify?: boolean;
    tlsServerName?: string;
    grpcAddress?: string;
  },
  defaultGrpcPort = 9090,
): ClientOptions {
  const url = new URL(target.server);
  const o: ClientOptions = { grpcAddress: target.grpcAddress ?? `${url.hostname}:${defaultGrpcPort}`, httpUrl: target.server };
  if (target.token) o.token = target.token;
  if (url.protocol === "https:") {
    const tls: ClientTls = {};
    if (target.ca) tls.ca = target.ca;
    if (target.cert) tls.cert = target.cert;
    if (target.key) tls.key = target.key;
    if (target.insecureSkipTlsVerify) tls.rejectUnauthorized = false;
    if (target.tlsServerName) tls.servername = target.tlsServerName;
    o.tls = tls;
  }
  return o;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's deadline for this call. */
  timeoutMs?: number;
}

export interface ListOptions extends CallOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; 0 or absent: everything. */
  limit?: number;
  continue?: string;
  /** Minimum revision the list must reflect; absent: newest. */
  resourceVersion?: string;
}

export interface ListResult<T extends ApiObject = ApiObject> {
  /** Revision the list was served at: watch from here. */
  revision: number;
  /** Token for the next page; "" on the last one. */
  continue: string;
  items: T[];
}

export type { WatchOptions } from "./watch-transports.ts";

const gunzipAsync = promisify(gunzip);

/** An open watch. */
export interface Watch {
  /** Resolves when the server ends the watch on purpose or it is closed; rejects on errors. */
  done: Promise<void>;
  close(): void;
}

/**
 * A client of one server, or of several replicas of one (API.md §9): calls go
 * to the current replica; one that cannot be reached (UNAVAILABLE: down, or
 * its store unavailable) makes the client move to the next and retry there,
 * and a watch that fails moves it too, so the informer's resume (from its last
 * revision) lands on another replica. A call that may have been applied
 * before its answer was lost is sent again only if a second application
 * cannot change anything: a create without a name (generateName) or a JSON
 * patch is retried only when it surely never left (no connection), else it
 * rejects with TransportError (or, past its deadline, TimeoutError) saying it
 * may have been applied; a named create whose retry finds the name
 * taken rejects with AlreadyExists saying the lost attempt may have made it.
 * The same holds for writes over gRPC and over REST (`writeTransport`).
 * @example
 * const client = new SetpointClient({ grpcAddress: "127.0.0.1:9090", httpUrl: "http://127.0.0.1:8080" });
 * const obj = await client.get({ group: "ci.example.com", version: "v1", plural: "runs", namespace: "default", name: "a" });
 */
export class SetpointClient {
  /** One gRPC client per replica address; `#current` picks the one in use. */
  readonly #clients: ResourcesClient[];
  readonly #httpUrls: string[];
  /** `#httpUrls` with each name resolved to its replicas, once, at the first WebSocket watch. */
  #httpTargets: Promise<Target[]> | undefined;
  #httpCount: number;
  /** Whether an HTTP URL's host is a name (looked up again after every target failed), not an address. */
  readonly #named: boolean;
  #current = 0;
  readonly #options: ClientOptions;
  readonly #clock: Clock;
  /** REST calls (writes); undefined when they go over gRPC. */
  readonly #http: HttpUnary | undefined;
  /** Calls made, by verb (`list`, `watch`, `get`, ...); for tests and metrics. */
  readonly calls: Record<string, number> = {};

  constructor(options: ClientOptions) {
    const { Client } = loadResourcesService();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const tls = options.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(
          tls.ca ?? null,
          tls.key ?? null,
          tls.cert ?? null,
          tls.rejectUnauthorized === false ? { checkServerIdentity: () => undefined } : {},
        )
      : grpc.credentials.createInsecure();
    const addresses = options.grpcAddress
      .split(",")
      .map((a) => a.trim())
      .filter((a) => a !== "");
    if (addresses.length === 0) throw new TypeError("client: grpcAddress names no address");
    if (tls) quietIpServerNameWarning(addresses, tls.servername);
    this.#httpUrls = (options.httpUrl ?? "")
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "");
    this.#httpCount = this.#httpUrls.length;
    this.#named = this.#httpUrls.some((u) => URL.canParse(u) && isIP(new URL(u).hostname.replace(/^\[|\]$/g, "")) === 0);
    const { writeTransport, statusTransport } = options;
    if (writeTransport !== undefined && statusTransport !== undefined && writeTransport !== statusTransport)
      throw new TypeError(`client: writeTransport "${writeTransport}" and statusTransport (its old name) "${statusTransport}" disagree`);
    const transport = writeTransport ?? statusTransport ?? (this.#httpUrls.length > 0 ? "http" : "grpc");
    if (transport === "http") {
      if (this.#httpUrls.length === 0) throw new TypeError(`client: ${writeTransport ? "writeTransport" : "statusTransport"} "http" needs httpUrl`);
      this.#http = new HttpUnary({ token: options.token, tls: options.tls, clock: this.#clock });
    }
    this.#clients = addresses.map(
      (address) =>
        new Client(address, credentials, {
          // grpc-js backs off reconnects up to 120 s by default; a restarted server must be found again quickly.
          "grpc.initial_reconnect_backoff_ms": 200,
          "grpc.max_reconnect_backoff_ms": 5000,
          // Without pings, a connection to a hung replica stays "ready": behind a name, every call would go on timing out there.
          "grpc.keepalive_time_ms": options.keepaliveMs ?? 10_000,
          "grpc.keepalive_timeout_ms": options.keepaliveMs ?? 10_000,
          ...(tls?.servername ? { "grpc.ssl_target_name_override": tls.servername } : {}),
        }),
    );
  }

  /** The gRPC client of the replica in use. */
  get #grpc(): ResourcesClient {
    return this.#clients[this.#current % this.#clients.length]!;
  }

  /** The replica in use: its gRPC address and HTTP URL. */
  get replica(): { grpcAddress: string; httpUrl: string | undefined } {
    const addresses = this.#options.grpcAddress
      .split(",")
      .map((a) => a.trim())
      .filter((a) => a !== "");
    return { grpcAddress: addresses[this.#current % addresses.length]!, httpUrl: this.#httpUrls[this.#current % Math.max(1, this.#httpUrls.length)] };
  }

  /**
   * Moves past the replica numbered `from` (default: the current one) to the
   * next; no-op if another call already moved on. Once every HTTP target was
   * passed, the URLs' names are looked up again: a replaced replica behind a
   * name (a headless Service's new pod) has a new address.
   */
  failover(from: number = this.#current): void {
    if (this.#current !== from) return;
    this.#current++;
    this.calls.failover = (this.calls.failover ?? 0) + 1;
    if (this.#current % Math.max(1, this.#httpCount) === 0) this.#httpTargets = undefined;
  }

  async get<T extends ApiObject = ApiObject>(ref: ObjectRef, options: CallOptions = {}): Promise<T> {
    const res = await this.#unary("get", this.#grpc.get, { ref }, options);
    return parseObject<T>(res.object, "get response");
  }

  /** One page of a list (everything when `limit` is unset). */
  async list<T extends ApiObject = ApiObject>(ref: TypeRef, options: ListOptions = {}): Promise<ListResult<T>> {
    const { labelSelector = "", fieldSelector = "", limit = 0, resourceVersion = "" } = options;
    const acceptEncoding = this.#options.listEncoding === "gzip" ? "gzip" : "";
    const req = { ref, labelSelector, fieldSelector, limit, continue: options.continue ?? "", resourceVersion, acceptEncoding };
    const res = await this.#unary("list", this.#grpc.list, req, { timeoutMs: 60_000, ...options });
    // 0 is a store nothing was written to yet (a fresh LMDB directory); the informer then watches from 0.
    if (!Number.isSafeInteger(res.revision) || res.revision < 0)
      throw new TransportError(`client: list revision ${res.revision} is not a revision`, { kind: "protocol" });
    const items = res.itemsGzip?.length ? await gunzippedItems(res.itemsGzip) : res.items;
    return { revision: res.revision, continue: res.continue, items: items.map((b, i) => parseObject<T>(b, `list item ${i}`)) };
  }

  async create<T extends ApiObject = ApiObject>(ref: TypeRef, object: ApiObject, options: CallOptions = {}): Promise<T> {
    // Without a name, a create sent twice makes two objects.
    const once = typeof object.metadata?.name !== "string" || object.metadata.name === "";
    if (this.#http)
      return this.#restUnary<T>("create", { method: "POST", path: restPath(ref), body: JSON.stringify(object), once, ...this.#callOptions(options) });
    const res = await this.#unary("create", this.#grpc.create, { ref, object: Buffer.from(JSON.stringify(object)) }, { ...options, once });
    return parseObject<T>(res.object, "create response");
  }

  /** Replaces an object; `metadata.resourceVersion`, if set, is a precondition (ConflictError). */
  async update<T extends ApiObject = ApiObject>(ref: ObjectRef, object: ApiObject, options: CallOptions = {}): Promise<T> {
    if (this.#http)
      return this.#restUnary<T>("update", { method: "PUT", path: restPath(ref, true), body: JSON.stringify(object), ...this.#callOptions(options) });
    const res = await this.#unary("update", this.#grpc.update, { ref, object: Buffer.from(JSON.stringify(object)) }, options);
    return parseObject<T>(res.object, "update response");
  }

  /** Replaces an object's status; `metadata.resourceVersion`, if set, is a precondition (ConflictError). */
  async updateStatus<T extends ApiObject = ApiObject>(ref: ObjectRef, object: ApiObject, options: CallOptions = {}): Promise<T> {
    if (this.#http)
      return this.#restUnary<T>("updateStatus", {
        method: "PUT",
        path: `${restPath(ref, true)}/status`,
        body: JSON.stringify(object),
        ...this.#callOptions(options),
      });
    const res = await this.#unary("updateStatus", this.#grpc.updateStatus, { ref, object: Buffer.from(JSON.stringify(object)) }, options);
    return parseObject<T>(res.object, "updateStatus response");
  }

  /** Patches an object (or, with `status: true`, its status). Default type: merge patch. */
  async patch<T extends ApiObject = ApiObject>(
    ref: ObjectRef,
    patch: unknown,
    options: CallOptions & { type?: "merge" | "json"; status?: boolean } = {},
  ): Promise<T> {
    const patchType = options.type === "json" ? "application/json-patch+json" : "application/merge-patch+json";
    // A JSON patch applied twice may differ from once (an `add` to an array's end); a merge patch may not.
    const once = options.type === "json";
    if (this.#http)
      return this.#restUnary<T>("patch", {
        method: "PATCH",
        path: options.status ? `${restPath(ref, true)}/status` : restPath(ref, true),
        body: JSON.stringify(patch),
        contentType: patchType,
        once,
        ...this.#callOptions(options),
      });
    const req = { ref, patchType, patch: Buffer.from(JSON.stringify(patch)), status: options.status ?? false } as const;
    const res = await this.#unary("patch", this.#grpc.patch, req, { ...options, once });
    return parseObject<T>(res.object, "patch response");
  }

  /** Deletes an object (or marks it for deletion while it has finalizers); returns its last state. */
  async delete<T extends ApiObject = ApiObject>(ref: ObjectRef, options: CallOptions & { resourceVersion?: string; uid?: string } = {}): Promise<T> {
    if (this.#http) {
      // Preconditions as the REST API takes them (API.md §4): a DeleteOptions body; "" is none, as over gRPC.
      const preconditions: { resourceVersion?: string; uid?: string } = {};
      if (options.resourceVersion) preconditions.resourceVersion = options.resourceVersion;
      if (options.uid) preconditions.uid = options.uid;
      const body = preconditions.resourceVersion || preconditions.uid ? JSON.stringify({ preconditions }) : undefined;
      return this.#restUnary<T>("delete", { method: "DELETE", path: restPath(ref, true), body, ...this.#callOptions(options) });
    }
    const res = await this.#unary("delete", this.#grpc.delete, { ref, resourceVersion: options.resourceVersion ?? "", uid: options.uid ?? "" }, options);
    return parseObject<T>(res.object, "delete response");
  }

  /** Opens a watch; `onEvent` gets every event in order, synchronously as it arrives. */
  watch(ref: TypeRef, options: WatchOptions, onEvent: (event: WatchEvent) => void): Watch {
    this.calls.watch = (this.calls.watch ?? 0) + 1;
    let closeStream = () => {};
    let settle!: (err?: unknown) => void;
    const used = this.#current;
    const done = new Promise<void>((resolve, reject) => {
      let settled = false;
      settle = (err) => {
        if (settled) return;
        settled = true;
        idle.cancel();
        options.signal?.removeEventListener("abort", close);
        closeStream();
        if (err === undefined) resolve();
        else {
          // The replica failed this watch (not the API refusing it): resume on the next one.
          if (err instanceof TransportError && (this.#clients.length > 1 || this.#httpCount > 1 || this.#named)) this.failover(used);
          reject(err);
        }
      };
    });
    const idleMs = options.idleTimeoutMs ?? 30_000;
    let lastMessage = this.#clock.now();
    const idle = this.#clock.every(Math.max(10, idleMs / 4), () => {
      if (this.#clock.now() - lastMessage > idleMs) settle(new TransportError(`client: watch received nothing for ${idleMs} ms`, { kind: "silent" }));
    });
    const deliver = (type: unknown, object: Record<string, any>) => {
      lastMessage = this.#clock.now();
      try {
        onEvent(parseEvent(type, object));
      } catch (err) {
        settle(err);
      }
    };
    const close = () => settle();
    if (options.signal?.aborted) settle();
    else {
      options.signal?.addEventListener("abort", close, { once: true });
      closeStream =
        options.transport === "grpc"
          ? grpcWatch(ref, { options, deliver, settle, client: this.#grpc, metadata: this.#metadata() })
          : this.#webSocketWatch(ref, used, { options, deliver, settle });
    }
    return { done, close };
  }

  /** A WebSocket watch on the replica numbered `index`, once the HTTP URLs' names are resolved. */
  #webSocketWatch(ref: TypeRef, index: number, wiring: Parameters<typeof webSocketWatch>[1]): () => void {
    if (this.#httpUrls.length === 0) return webSocketWatch(ref, { ...wiring, token: this.#options.token, tls: this.#options.tls });
    let stopped = false;
    let stop: (() => void) | undefined;
    this.#targets().then(
      (targets) => {
        if (stopped) return;
        const target = targets[index % targets.length]!;
        try {
          stop = webSocketWatch(ref, { ...wiring, httpUrl: target.url, lookup: target.lookup, token: this.#options.token, tls: this.#options.tls });
        } catch (err) {
          wiring.settle(err);
        }
      },
      (err: unknown) => wiring.settle(new TransportError(`client: cannot resolve ${this.#httpUrls.join(",")}`, { cause: err })),
    );
    return () => {
      stopped = true;
      stop?.();
    };
  }

  /** Closes the gRPC channels and the HTTP connections. */
  close(): void {
    for (const c of this.#clients) c.close();
    this.#http?.close();
  }

  #timeout(options: CallOptions): number {
    return options.timeoutMs ?? this.#options.timeoutMs ?? 10_000;
  }

  /** A REST call's signal and deadline. */
  #callOptions(options: CallOptions): { signal: AbortSignal | undefined; timeoutMs: number } {
    return { signal: options.signal, timeoutMs: this.#timeout(options) };
  }

  /** The HTTP targets (each name resolved to its replicas, once). */
  #targets(): Promise<Target[]> {
    this.#httpTargets ??= resolveTargets(this.#httpUrls, this.#options.resolve).then((targets) => {
      this.#httpCount = targets.length;
      return targets;
    });
    return this.#httpTargets;
  }

  /**
   * A REST call to the replica in use, as `#unary` makes a gRPC one. A
   * replica that does not answer (or answers 503: its store is unavailable)
   * passes the call to the next one, each tried once within the call's one
   * deadline; one that takes the whole deadline (hung, a black hole) fails the
   * call and, as gRPC's DEADLINE_EXCEEDED, sends the next call to the next
   * replica. A `once` call that may have reached a replica (written on an open
   * connection and unanswered, or answered 503) is not sent again: it rejects
   * saying so. Only a replica it surely never reached (the connection was
   * refused) passes it on.
   */
  async #restUnary<T>(verb: string, req: HttpUnaryRequest): Promise<T> {
    this.calls[verb] = (this.calls[verb] ?? 0) + 1;
    const targets = await this.#targets();
    const replicas = Math.max(targets.length, this.#clients.length);
    let triesLeft = replicas - 1;
    const deadline = this.#clock.now() + req.timeoutMs;
    /** Whether the attempt under way failed after its request may have reached the server. */
    let lost = false;
    req.onLost = () => (lost = true);
    /** The replica an earlier attempt may have reached before its answer was lost. */
    let lostAt: string | undefined;
    for (;;) {
      const used = this.#current;
      const target = targets[used % targets.length]!;
      lost = false;
      try {
        return await this.#http!.call<T>(target, req);
      } catch (err) {
        if (req.signal?.aborted) throw err;
        if (err instanceof TimeoutError && req.once) {
          if (replicas > 1) this.failover(used);
          throw mayStillBeProcessing(err, verb);
        }
        // Where an attempt may have been applied unanswered: an earlier replica, or this one (HttpUnary sent it again on a new connection).
        const lostSoFar = lostAt ?? (lost ? target.label : undefined);
        const unavailable =
          (err instanceof TransportError && (err.kind === "unreachable" || err.kind === "protocol")) ||
          (err instanceof ApiError && err.reason === "ServiceUnavailable");
        if (err instanceof TimeoutError && replicas > 1) this.failover(used);
        if (!unavailable) throw lostSoFar === undefined ? err : afterLostAnswer(err, verb, lostSoFar);
        // Applied, maybe: the server's 503 (its store may have taken the write), or a request that went out unanswered.
        const reached = lost || err instanceof ApiError;
        if (reached && req.once) {
          if (replicas > 1) this.failover(used);
          // The server's 503 as it is; a lost answer as such.
          if (err instanceof ApiError) throw err;
          const failure = err as TransportError;
          throw new TransportError(
            `client: ${verb} sent to ${target.label} lost its answer (${failure.message}): it may have been applied, so it is not sent again; read back before retrying`,
            { cause: err, kind: failure.kind, code: failure.code },
          );
        }
        const timeLeft = deadline - this.#clock.now();
        if (triesLeft <= 0 || timeLeft <= 0) throw lostAt === undefined ? err : afterLostAnswer(err, verb, lostAt);
        this.failover(used);
        if (reached) lostAt ??= target.label;
        triesLeft--;
        req.timeoutMs = timeLeft;
      }
    }
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.#options.token) md.set("authorization", `Bearer ${this.#options.token}`);
    return md;
  }

  /**
   * One unary call, failed over across replicas. `once`: the call must not be
   * applied twice, so after an UNAVAILABLE that may have reached the server it
   * is not sent again.
   */
  #unary<Req, Res>(verb: string, method: UnaryMethod<Req, Res>, req: Req, options: CallOptions & { once?: boolean }): Promise<Res> {
    this.calls[verb] = (this.calls[verb] ?? 0) + 1;
    const { signal } = options;
    return new Promise<Res>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      // Date.now, not an injected clock: grpc-js deadlines are wall-clock dates.
      const deadline = Date.now() + this.#timeout(options);
      // With several replicas, one that is UNAVAILABLE (down, or cut off from
      // its store) passes the call to the next, each tried once.
      let triesLeft = this.#clients.length - 1;
      /** The replica an earlier attempt may have reached before its answer was lost. */
      let lostAt: string | undefined;
      const attempt = () => {
        const used = this.#current;
        const address = this.replica.grpcAddress;
        const onAbort = () => call.cancel();
        const call = method.call(this.#grpc, req, this.#metadata(), { deadline }, (err, res) => {
          signal?.removeEventListener("abort", onAbort);
          if (signal?.aborted) reject(signal.reason);
          else if (err && err.code === grpc.status.UNAVAILABLE && triesLeft > 0 && Date.now() < deadline) {
            this.failover(used);
            if (!neverSent(err)) {
              if (options.once) {
                // The server's own 503 (its store unavailable) as it is; a lost answer as such.
                reject(
                  statusOfError(err)
                    ? errorOfGrpc(err)
                    : new TransportError(
                        `client: ${verb} sent to ${address} lost its answer (${err.details}): it may have been applied, so it is not sent again; read back before retrying`,
                        { code: err.code, cause: err },
                      ),
                );
                return;
              }
              lostAt ??= address;
            }
            triesLeft--;
            attempt();
          } else if (err) {
            if (err.code === grpc.status.DEADLINE_EXCEEDED && this.#clients.length > 1) this.failover(used);
            const mapped = errorOfGrpc(err);
            // A `once` call's deadline that passed after it was sent (not while grpc-js waited for a connection: "Waiting for LB pick").
            const sent = !(err.code === grpc.status.DEADLINE_EXCEEDED && /Waiting for LB pick/.test(err.details ?? ""));
            if (options.once && mapped instanceof TimeoutError && sent) reject(mayStillBeProcessing(mapped, verb));
            else reject(lostAt === undefined ? mapped : afterLostAnswer(mapped, verb, lostAt));
          } else if (res === undefined) reject(new TransportError(`client: empty ${verb} response`, { kind: "protocol" }));
          else resolve(res);
        });
        signal?.addEventListener("abort", onAbort, { once: true });
      };
      attempt();
    });
  }
}

/** Whether a failed call surely never reached a server: grpc-js had no connection to send it on. */
/** The items of a List answer's `items_gzip`: gunzipped (on libuv's thread pool), a ListResponse holding only them. */
async function gunzippedItems(itemsGzip: Buffer): Promise<Buffer[]> {
  let raw: Buffer;
  try {
    raw = await gunzipAsync(itemsGzip);
  } catch (err) {
    throw new TransportError(`client: list items_gzip does not gunzip: ${(err as Error).message}`, { kind: "protocol", cause: err });
  }
  const deserialize = loadResourcesService().definition.List!.responseDeserialize as (bytes: Buffer) => { items: Buffer[] };
  return deserialize(raw).items;
}

function neverSent(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE && /^No connection established|^Channel closed before call started/.test(err.details ?? "");
}

/**
 * The TimeoutError of a `once` call (a create without a name, a JSON patch)
 * that was sent and not answered in time: as kube's words for a timeout, the
 * server may still be processing it, so it may have been applied; it is not
 * sent again, which for a create would make a second object.
 */
function mayStillBeProcessing(err: TimeoutError, verb: string): TimeoutError {
  const why = verb === "create" ? "its name is generated: sent again, it would make a second object" : "applied twice, it may differ from once";
  return new TimeoutError(
    `${err.message}: the server may still be processing the request, so the ${verb} may have been applied; it is not sent again (${why}): read back before retrying`,
    { cause: err, causes: err.causes },
  );
}

/**
 * The error of a call sent again after an attempt whose answer was lost (at
 * `lostAt`): a create that finds its name taken, or a delete that finds
 * nothing, may meet the lost attempt's own doing, and says so.
 */
function afterLostAnswer(err: unknown, verb: string, lostAt: string): unknown {
  if (err instanceof ApiError && err.reason === "AlreadyExists")
    return new AlreadyExistsError(`${err.message} (the same ${verb} sent to ${lostAt} lost its answer: it may have created it)`, {
      cause: err,
      causes: err.causes,
    });
  if (verb === "delete" && err instanceof NotFoundError)
    return new NotFoundError(`${err.message} (the same delete sent to ${lostAt} lost its answer: it may have deleted it)`, { cause: err, causes: err.causes });
  return err;
}

/**
 * The REST path of a type's collection, or with `object` of the object `ref`
 * names (no base path: as the WebSocket watch, from the server's root). A
 * part left empty is refused here with the server's own BadRequest for it
 * over gRPC, rather than sent as another path.
 */
function restPath(ref: TypeRef | ObjectRef, object = false): string {
  const missing = (["group", "version", "plural"] as const).filter((part) => !ref[part]).map((part) => `ref.${part}`);
  if (missing.length > 0)
    throw new BadRequestError(`client: ${missing.join(", ").replace(/, ([^,]*)$/, " and $1")} ${missing.length === 1 ? "is" : "are"} required`, {
      causes: missing.map((field) => ({ field, message: "Required value", reason: "FieldValueRequired" })),
    });
  const name = (ref as Partial<ObjectRef>).name;
  if (object && !name)
    throw new BadRequestError("client: ref.name is required", { causes: [{ field: "ref.name", message: "Required value", reason: "FieldValueRequired" }] });
  const ns = ref.namespace ? `namespaces/${encodeURIComponent(ref.namespace)}/` : "";
  const collection = `/apis/${encodeURIComponent(ref.group)}/${encodeURIComponent(ref.version)}/${ns}${encodeURIComponent(ref.plural)}`;
  return object ? `${collection}/${encodeURIComponent(name!)}` : collection;
}
