// The agent: an informer feeds the keys of changed objects to a rate-limited
// work queue; a bounded number of workers reconcile them (src/agent/controller.ts),
// each key only on the one live replica that holds its claim (src/agent/lease.ts).
//
// - Level-triggered: a reconcile gets the key and the object as the cache
//   holds it now (undefined once deleted), never an event's copy. Every add,
//   update and delete offers its key, unless `shouldReconcile` turns an
//   update down (opt-in; retries and requeues are never filtered).
// - `ctx.updateStatus(status)` writes status with `observedGeneration` and the
//   read object's resourceVersion as a precondition; a stale write rejects
//   with ConflictError, and a reconcile that lets it propagate is requeued
//   (with backoff), never overwriting newer state.
// - Keys this replica may not run now (another replica's, or waiting for a
//   handoff) are parked and offered again whenever membership changes.
// - Shutdown, when the signal aborts: take no more keys, give running
//   reconciles `shutdownGraceMs` (their signals fire then), delete the lease
//   if nothing still runs (others take over at once; otherwise it expires),
//   flush the state directory, close the connection.
// - Errors go to `onError` through an ErrorReport (src/agent/error-report.ts):
//   a connection problem once with the server's address and a hint, then one
//   summary per `errorReportIntervalMs` while it lasts; other errors each time.

import { systemClock, type Clock } from "../clock.ts";
import type { Resolver } from "../endpoints.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { splitKey, keyOf, type CacheReader } from "./cache.ts";
import { SetpointClient, type ApiObject, type TypeRef } from "./client.ts";
import { runWorkers, type ReconcileResult } from "./controller.ts";
import { ErrorReport } from "./error-report.ts";
import { Informer } from "./informer.ts";
import { LeaseMembership, type Claim } from "./lease.ts";
import { createRateLimitedQueue } from "./rate-limited-queue.ts";
import type { RateLimiter } from "./rate-limiter.ts";

export type { ReconcileResult } from "./controller.ts";

/** What a reconcile gets besides its key. */
export interface ReconcileContext<T extends ApiObject = ApiObject> {
  /** The object's namespace (undefined for cluster-scoped types) and name. */
  namespace: string | undefined;
  name: string;
  /** The object as the cache holds it when the reconcile starts; undefined if it is gone. */
  object: T | undefined;
  /** Fires on shutdown (after the grace period), on the reconcile timeout, and when this replica loses its lease. */
  signal: AbortSignal;
  /**
   * Writes `status` (plus `observedGeneration`) if the object is still the one read; returns the stored object.
   * Rejects with ConflictError if it changed meanwhile (let it propagate: the key is requeued).
   */
  updateStatus(status: Record<string, unknown>): Promise<T>;
  client: SetpointClient;
}

export type AgentReconciler<T extends ApiObject = ApiObject> = (key: string, ctx: ReconcileContext<T>) => Promise<ReconcileResult | void>;

export interface AgentOptions<T extends ApiObject = ApiObject> {
  /** Replicas with the same name share the work; a lowercase DNS label. */
  name: string;
  /** gRPC address of the server, `host:port`, or several replicas' comma-separated (ClientOptions.grpcAddress). */
  grpcAddress: string;
  /** HTTP URL of the server, or several comma-separated; needed for WebSocket watches (the default) and REST writes. */
  httpUrl?: string;
  /** Resolves `httpUrl`'s host names to their replicas (ClientOptions.resolve). Default: the system resolver. */
  resolve?: Resolver;
  token?: string;
  /** TLS for gRPC and wss:// (see ClientOptions.tls). */
  tls?: import("./client.ts").ClientTls;
  /** Deadline of each unary call (ClientOptions.timeoutMs). Default 10000 ms. */
  timeoutMs?: number;
  /** gRPC keepalive ping interval and timeout, to leave a hung replica (ClientOptions.keepaliveMs). Default 10000 ms. */
  keepaliveMs?: number;
  /** The type to reconcile; with `namespace`, only that namespace. */
  type: TypeRef;
  labelSelector?: string;
  reconcile: AgentReconciler<T>;
  /**
   * Whether an update of a cached object is worth a reconcile; false skips it.
   * Adds, deletes, retries and requeues always reconcile, and a key already
   * queued stays queued. Default: every update. For example
   * `(old, o) => old.metadata.generation !== o.metadata.generation` skips the
   * agent's own status writes, as controller-runtime's
   * GenerationChangedPredicate does, and with them every other change that
   * leaves spec and deletion alone (labels, annotations, other writers' status).
   * One that throws is reported to `onError` and the update reconciles.
   */
  shouldReconcile?: (old: T, object: T) => boolean;
  /** Reconciles running at once. Default 4. */
  workers?: number;
  /** Watch transport. Default "websocket". */
  transport?: "websocket" | "grpc";
  /** How writes (`ctx.updateStatus`, the leases', the client's) are sent (ClientOptions.writeTransport). Default "http" with `httpUrl`, else "grpc". */
  writeTransport?: "http" | "grpc";
  /** "gzip": ask for large list answers gzipped, for an agent on a slow link (ClientOptions.listEncoding). Default "identity". */
  listEncoding?: "gzip" | "identity";
  /** @deprecated The same as `writeTransport`. */
  statusTransport?: "http" | "grpc";
  /** Directory for warm restarts (cache and revision); none by default. */
  stateDir?: string;
  /** Share keys with other replicas through leases. Default true; false: this replica runs every key. */
  claims?: boolean;
  /** This replica's identity (its lease is `<name>-<identity>`). Default `<hostname>-<pid>-<random>`. */
  identity?: string;
  /** Namespace of the leases. Default "default". */
  leaseNamespace?: string;
  /** Default 15000 ms; renewed every third of it; work stops two thirds into it without renewal. */
  leaseDurationMs?: number;
  /** Time running reconciles get to finish on shutdown. Default 30000 ms. */
  shutdownGraceMs?: number;
  /** A reconcile's signal fires after this long. Default none. */
  reconcileTimeoutMs?: number;
  /** Retry spacing of failed keys. Default per-key 5 ms … 1000 s backoff, and 10 qps overall with bursts of 100. */
  rateLimiter?: RateLimiter;
  clock?: Clock;
  /**
   * Called when this replica's membership may have changed: its lease was lost
   * (the fence: `membership.member` changed or is undefined), it rejoined, or
   * peers came or went. For work that outlives a reconcile (processes,
   * timers) and must stop at once when the lease under which it began is lost.
   */
  onMembershipChange?: () => void;
  /**
   * Told of failed reconciles (conflicts excepted) and of connection problems.
   * A connection problem (server unreachable, timing out, or answering 503,
   * 500, 429, 401 or 403) comes as a ConnectionProblemError saying where and
   * what to check, its `cause` the failure; while it lasts, once per
   * `errorReportIntervalMs` with the count of failures meanwhile. Default: ignore.
   */
  onError?: (err: unknown, key?: string) => void;
  /** Least time between two reports of one connection problem. Default 30000 ms; 0 reports every failure. */
  errorReportIntervalMs?: number;
}

/**
 * An agent process's reconcile loop for one type.
 * @example
 * const agent = new Agent({ name: "hello", grpcAddress: "127.0.0.1:9090", httpUrl: "http://127.0.0.1:8080",
 *   type: { group: "demo.example.com", version: "v1", plural: "greetings" },
 *   reconcile: async (key, ctx) => { if (ctx.object) await ctx.updateStatus({ ready: true }); } });
 * await agent.run(AbortSignal.timeout(60_000));
 */
export class Agent<T extends ApiObject = ApiObject> {
  readonly client: SetpointClient;
  readonly informer: Informer<T>;
  /** Undefined when `claims` is false. */
  readonly membership: LeaseMembership | undefined;
  readonly #o: AgentOptions<T>;
  readonly #clock: Clock;
  readonly #errors: ErrorReport;
  /** Keys a worker could not run yet; offered again when membership changes. */
  readonly #parked = new Set<string>();
  #offer: (key: string) => void = () => {};
  #running = false;

  constructor(options: AgentOptions<T>) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#errors = new ErrorReport({
      onError: options.onError,
      clock: this.#clock,
      intervalMs: options.errorReportIntervalMs,
      where: () => {
        const { grpcAddress, httpUrl } = this.client.replica;
        return `gRPC ${grpcAddress}${httpUrl ? `, HTTP ${httpUrl}` : ""}`;
      },
    });
    const onError = (err: unknown) => this.#errors.report(err);
    this.client = new SetpointClient({
      grpcAddress: options.grpcAddress,
      httpUrl: options.httpUrl,
      resolve: options.resolve,
      token: options.token,
      tls: options.tls,
      timeoutMs: options.timeoutMs,
      keepaliveMs: options.keepaliveMs,
      writeTransport: options.writeTransport,
      statusTransport: options.statusTransport,
      listEncoding: options.listEncoding,
      clock: this.#clock,
    });
    this.informer = new Informer<T>({
      client: this.client,
      type: options.type,
      labelSelector: options.labelSelector,
      transport: options.transport,
      stateDir: options.stateDir,
      clock: this.#clock,
      onError,
      onConnected: () => this.#errors.connected({ typeServed: true }),
    });
    const offer = (o: T) => this.#offer(keyOf(o));
    const wanted = options.shouldReconcile;
    const onUpdate = (old: T, o: T) => {
      let yes = true;
      try {
        yes = wanted?.(old, o) ?? true;
      } catch (err) {
        onError(err);
      }
      if (yes) offer(o);
    };
    this.informer.addHandlers({ onAdd: offer, onUpdate, onDelete: offer });
    if (options.claims !== false) {
      this.membership = new LeaseMembership({
        client: this.client,
        agentName: options.name,
        workload: `${options.type.plural}.${options.type.group}/${options.type.version}`,
        identity: options.identity,
        namespace: options.leaseNamespace,
        leaseDurationMs: options.leaseDurationMs,
        transport: options.transport,
        clock: this.#clock,
        onError,
        onChange: () => {
          const keys = [...this.#parked];
          this.#parked.clear();
          for (const key of keys) this.#offer(key);
          options.onMembershipChange?.();
        },
      });
    }
  }

  /** Tells `onError` of `err` as the agent's own errors are (connection problems once per interval); for code around the agent. */
  reportError(err: unknown, key?: string): void {
    this.#errors.report(err, key);
  }

  /** Tells the error report that the server answered (for code around the agent): the next connection problem is reported at once. */
  reportConnected(): void {
    this.#errors.connected();
  }

  /** The informer's cache. */
  get cache(): CacheReader<T> {
    return this.informer.cache;
  }

  /** Runs until `signal` aborts, then shuts down gracefully; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error("agent: run() was already called");
    this.#running = true;
    const o = this.#o;
    const queue = createRateLimitedQueue({ clock: this.#clock, rateLimiter: o.rateLimiter });
    this.#offer = (key) => queue.add(key);
    const stopInformer = new AbortController();
    const stopLease = new AbortController();
    const informing = this.informer.run(stopInformer.signal);
    const leasing = this.membership?.run(stopLease.signal);
    try {
      await this.informer.waitForSync(signal);
      await runWorkers({
        queue,
        signal,
        workers: o.workers ?? 4,
        shutdownGraceMs: o.shutdownGraceMs,
        reconcileTimeoutMs: o.reconcileTimeoutMs,
        clock: this.#clock,
        reconcile: (key, { signal }) => this.#reconcile(key, signal),
        onError: (key, err) => {
          if (!(err instanceof ConflictError)) this.#errors.report(err, key);
        },
      });
    } finally {
      queue.shutDown();
      stopLease.abort();
      await leasing;
      stopInformer.abort();
      await informing;
      this.client.close();
    }
  }

  async #reconcile(key: string, workerSignal: AbortSignal): Promise<ReconcileResult | void> {
    let claim: Claim | undefined;
    if (this.membership) {
      claim = this.membership.begin(key);
      if (!claim) {
        // Park keys we may own soon; another replica's keys whose objects are gone are its business.
        if (this.membership.owns(key) || this.informer.cache.get(key) !== undefined) this.#parked.add(key);
        return;
      }
    }
    try {
      const signal = claim ? AbortSignal.any([workerSignal, claim.signal]) : workerSignal;
      const { namespace, name } = splitKey(key);
      const object = this.informer.cache.get(key);
      const ref = { ...this.#o.type, namespace, name };
      const ctx: ReconcileContext<T> = {
        namespace,
        name,
        object,
        signal,
        client: this.client,
        updateStatus: async (status) => {
          if (!object) throw new NotFoundError(`agent: ${key} is gone; no status to write`);
          signal.throwIfAborted();
          const body = { ...object, status: { ...status, observedGeneration: object.metadata.generation } };
          return this.client.updateStatus<T>(ref, body, { signal });
        },
      };
      return await this.#o.reconcile(key, ctx);
    } finally {
      claim?.end();
    }
  }
}

/**
 * Runs an agent until `options.signal` aborts (see `Agent`), keeping the
 * process alive meanwhile: while the server is unreachable the agent waits on
 * backoff timers alone, which (systemClock's) do not hold the process, and
 * Node would end it in the middle of `await runAgent(…)` (exit code 13, no
 * message).
 */
export async function runAgent<T extends ApiObject = ApiObject>(options: AgentOptions<T> & { signal: AbortSignal }): Promise<void> {
  const keepAlive = setInterval(() => {}, 2 ** 30);
  try {
    await new Agent<T>(options).run(options.signal);
  } finally {
    clearInterval(keepAlive);
  }
}
