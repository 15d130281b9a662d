// The security edge (API.md §8), one gate in front of every surface: REST and
// HTTP watches, WebSocket upgrades, gRPC calls. For each request, in
// kube-apiserver's order: authenticate (401), take an in-flight slot or count
// the watch (429), authorize (403), then let the API handler run; when the
// response is complete, release the slot and write the audit event. The
// health and version endpoints bypass the gate. SelfSubjectAccessReviews are
// answered here.
//
// Transports hand the gate the credentials they carry and what the request
// asks (attributes); nothing below this file knows about users.

import type { IncomingMessage, ServerResponse } from "node:http";
import { AsyncLocalStorage } from "node:async_hooks";
import { timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { parseFieldSelector } from "../api/selector.ts";
import type { Clock } from "../clock.ts";
import { ApiError, BadRequestError } from "../errors.ts";
import type { SyncOptions } from "../store.ts";
import type { WatchHub } from "../watch.ts";
import type { ResourceRef as WireRef } from "../proto.ts";
import {
  ACCESS_REVIEW_PATH,
  checkReviewBody,
  reviewAccess,
  reviewFromProtobuf,
  reviewRules,
  RULES_REVIEW_PATH,
  rulesReviewNamespace,
} from "./auth/access-review.ts";
import { SELF_REVIEW_PATH, selfReview } from "./auth/self-review.ts";

/** The resource of each review the gate answers itself. */
const REVIEW_RESOURCES = { access: "selfsubjectaccessreviews", rules: "selfsubjectrulesreviews", self: "selfsubjectreviews" } as const;
import { forbidden, MUTATING_VERBS, nonResourceVerb, resourceVerb, unauthorized, type RequestAttributes } from "./auth/attributes.ts";
import {
  ANONYMOUS,
  Authenticator,
  BEARER_SUBPROTOCOL_PREFIX,
  bearerOf,
  EXTRA_SPACE_WARNING,
  hasExtraSpaceBeforeToken,
  bearerOfSubprotocols,
  MASTERS_GROUP,
  type Credentials,
  type UserInfo,
} from "./auth/authenticator.ts";
import { checkEscalation } from "./auth/escalation.ts";
import { alwaysAllow, followRbac, RbacAuthorizer, RbacIndex, type Authorizer } from "./auth/rbac.ts";
import { AuditLog, auditIdOf, auditNoteOf, type AuditNote, type AuditRecord } from "./audit.ts";
import { Limits, RECEIVE_BODY, TooManyRequestsError, type BodyReceipt } from "./limits.ts";
import type { ServerOptions } from "./options.ts";
import { parseRoute, type Route } from "./routes.ts";
import { isWatch } from "./rest.ts";
import { rawHttpReply, statusOf, toApiError } from "./status.ts";
import { requestTarget } from "./target.ts";
import { TlsCertificates } from "./tls.ts";
import { isUiPath } from "./ui.ts";
import { warningHeaders } from "./warnings.ts";
import { jsonAnswer } from "./pretty.ts";

/** What the gRPC gate reads of a call (grpc-js's ServerSurfaceCall, which it does not export). */
export interface GrpcCall {
  metadata: grpc.Metadata;
  getPeer(): string;
  getPath?(): string;
  getAuthContext?(): { sslPeerCertificate?: import("node:tls").PeerCertificate } | null;
}

/** The address of a grpc-js peer (`address:port`, an IPv6 address unbracketed), as an audit event's sourceIPs hold it. */
function peerAddress(peer: string): string {
  const at = peer.lastIndexOf(":");
  return at > 0 && /^\d+$/.test(peer.slice(at + 1)) && isIP(peer.slice(0, at)) !== 0 ? peer.slice(0, at) : peer;
}

/** A request let through the gate; `done` (idempotent) releases its slot and audits it with the response code (and what the handler noted). */
export interface Admission {
  user: UserInfo;
  done(code: number, note?: AuditNote): void;
  /** For a request holding an in-flight slot: its body's receipt (Limits.receiving), while it arrives. */
  receiveBody?: () => BodyReceipt;
}

/** What a transport tells the gate about one request. */
export interface GateRequest {
  credentials: Credentials;
  attributes: RequestAttributes;
  /** A watch: exempt from the in-flight limits, counted against the per-user watch cap. */
  longRunning: boolean;
  requestURI: string;
  sourceIP: string;
  userAgent?: string;
  /** The audit event's ID (HTTP: the one its `Audit-Id` response header carries). */
  auditID?: string;
  /**
   * The store's sync mark when the request arrived (Store.syncMark): the
   * gate's catch-up may share a consistent read begun since, and the read it
   * admits then shares the gate's (no second read of the store).
   */
  since?: number;
  /**
   * The connection the request came on (an HTTP socket), if any: a token
   * authenticated on it is remembered for it, so the next request with the
   * same token costs a constant-time comparison instead of a hash.
   */
  connection?: object;
}

const OPEN_ROUTES = new Set(["healthz", "livez", "readyz", "version"]);

/** The WebSocket subprotocol a watch is served with (API.md §8, §10). */
export const WATCH_SUBPROTOCOL = "watch.setpoint.dev";

/**
 * The subprotocol a WebSocket watch is answered with: `watch.setpoint.dev`
 * when offered; else, as kube-apiserver answers once its authenticator has
 * taken the bearer-token protocol out, the one other protocol offered, if
 * there is exactly one; else none. Never the bearer protocol, which would
 * echo the token.
 */
export function watchSubprotocol(offered: ReadonlySet<string>): string | false {
  if (offered.has(WATCH_SUBPROTOCOL)) return WATCH_SUBPROTOCOL;
  const others = [...offered].filter((p) => !p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  return others.length === 1 ? others[0]! : false;
}

export class Security {
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly limits: Limits;
  readonly audit: AuditLog | undefined;
  readonly tls: TlsCertificates | undefined;
  readonly #now: () => number;
  readonly #stops: Array<() => void> = [];
  /** The RBAC index, in RBAC mode (for escalation checks). */
  readonly #index: RbacIndex | undefined;
  /**
   * In RBAC mode on a store other processes write too (etcd replicas,
   * --workers peers): resolves once this process's RBAC index holds every
   * change committed anywhere before the call. Undefined when the index is
   * always current (one process). `since`: GateRequest.since.
   */
  readonly #fresh: ((since: number | undefined) => Promise<void>) | undefined;
  /** The user on whose behalf the current request runs (set around the API handler). */
  readonly #als = new AsyncLocalStorage<UserInfo>();
  /** The last token authenticated on each connection, and its user. */
  readonly #byConnection = new WeakMap<object, { token: Buffer; user: UserInfo }>();
  readonly #log: Logger | undefined;

  constructor(parts: {
    authenticator: Authenticator;
    authorizer: Authorizer;
    limits: Limits;
    audit?: AuditLog;
    tls?: TlsCertificates;
    now?: () => number;
    stops?: Array<() => void>;
    rbacIndex?: RbacIndex;
    log?: Logger;
    fresh?: (since: number | undefined) => Promise<void>;
  }) {
    this.#index = parts.rbacIndex;
    this.#fresh = parts.fresh;
    this.#log = parts.log;
    this.authenticator = parts.authenticator;
    this.authorizer = parts.authorizer;
    this.limits = parts.limits;
    this.audit = parts.audit;
    this.tls = parts.tls;
    this.#now = parts.now ?? Date.now;
    this.#stops.push(...(parts.stops ?? []));
  }

  /** Runs `fn` (the API handler) as `user`: writes of RBAC objects inside it are checked for escalation. */
  runAs<T>(user: UserInfo, fn: () => T): T {
    // Only RBAC mode checks escalation. Outside it the store is never read,
    // and entering one turns on async hooks that every later promise pays for.
    return this.#index ? this.#als.run(user, fn) : fn();
  }

  /**
   * In RBAC mode, throws 403 when the user of the current request would grant
   * permissions they do not hold by writing `object` of RBAC type `typeName`
   * (src/server/auth/escalation.ts). Writes outside any request are the
   * server's own and pass.
   */
  checkEscalation(typeName: string, object: Parameters<typeof checkEscalation>[3]): void {
    const index = this.#index;
    const user = this.#als.getStore();
    if (!index || !user) return;
    checkEscalation(this.authorizer, user, typeName, object, (ref, ns) => index.rulesOfRef(ref, ns));
  }

  /**
   * admit(), deciding on a current RBAC index: across processes (etcd
   * replicas, --workers) it first waits until this one has seen every role
   * change committed anywhere before the request, so that a role change
   * applies to the next request on every replica (API.md §8). Synchronous
   * where there is nothing to wait for: RBAC off or one process, no valid
   * credentials (401 at once, whatever the store's state), or a member of
   * system:masters. Rejects with 503 (audited) when the store cannot tell in time.
   */
  admitFresh(r: GateRequest): Admission | Promise<Admission> {
    const fresh = this.#fresh;
    if (fresh === undefined) return this.admit(r);
    const receivedAt = this.#now();
    const user = this.#userOf(r);
    if (!user || user.groups.includes(MASTERS_GROUP)) return this.#admitAs(r, receivedAt, user);
    return fresh(r.since).then(
      () => this.#admitAs(r, receivedAt, user),
      (err: unknown) => this.#refuse(r, receivedAt, toApiError(err), user),
    );
  }

  /** Whom the request is from: anonymous when no authentication is configured, undefined when its credentials are not valid. */
  #userOf(r: GateRequest): UserInfo | undefined {
    return this.authenticator.enabled ? this.#authenticate(r) : ANONYMOUS;
  }

  /** Audits a refused request, then throws its error. */
  #refuse(r: GateRequest, receivedAt: number, err: ApiError, user: UserInfo | undefined, decision?: "forbid"): never {
    const status = statusOf(err);
    this.audit?.record({
      attributes: r.attributes,
      requestURI: r.requestURI,
      sourceIP: r.sourceIP,
      userAgent: r.userAgent,
      receivedAt,
      auditID: r.auditID,
      user,
      code: status.code,
      failure: { reason: status.reason, message: status.message },
      decision,
    });
    throw err;
  }

  /** Authenticates, limits and authorizes one request; throws a 401/403/429 ApiError (already audited). */
  admit(r: GateRequest): Admission {
    return this.#admitAs(r, this.#now(), this.#userOf(r));
  }

  /** admit() for a request already authenticated as `user` (undefined: 401), received at `receivedAt`. */
  #admitAs(r: GateRequest, receivedAt: number, user: UserInfo | undefined): Admission {
    const base = { attributes: r.attributes, requestURI: r.requestURI, sourceIP: r.sourceIP, userAgent: r.userAgent, receivedAt, auditID: r.auditID };
    const refuse = (err: ApiError, user: UserInfo | undefined, decision?: "forbid"): never => this.#refuse(r, receivedAt, err, user, decision);
    if (!user) return refuse(unauthorized(), undefined);
    const master = user.groups.includes(MASTERS_GROUP);
    let release: () => void = () => {};
    let receiveBody: (() => BodyReceipt) | undefined;
    try {
      if (r.longRunning) {
        if (this.authenticator.enabled && !master) release = this.limits.watch(user.name);
      } else if (!master) {
        const mutating = MUTATING_VERBS.has(r.attributes.verb);
        release = this.limits.request(mutating);
        receiveBody = () => this.limits.receiving(mutating);
      }
    } catch (err) {
      return refuse(err as ApiError, user);
    }
    const decision = this.authorizer.authorize(user, r.attributes);
    if (!decision.allowed) {
      release();
      return refuse(forbidden(user, r.attributes, decision.reason), user, "forbid");
    }
    let finished = false;
    return {
      user,
      receiveBody,
      done: (code, note) => {
        if (finished) return;
        finished = true;
        release();
        this.audit?.record({ ...base, ...note, user, code, decision: "allow" } satisfies AuditRecord);
      },
    };
  }

  #authenticate(r: GateRequest): UserInfo | undefined {
    const { token, certificate } = r.credentials;
    if (r.connection === undefined || token === undefined || certificate !== undefined) return this.authenticator.authenticate(r.credentials);
    const presented = Buffer.from(token, "utf8");
    const known = this.#byConnection.get(r.connection);
    if (known && known.token.length === presented.length && timingSafeEqual(known.token, presented)) return known.user;
    const user = this.authenticator.authenticate(r.credentials);
    if (user) this.#byConnection.set(r.connection, { token: presented, user });
    return user;
  }

  /**
   * The HTTP gate: true when the request may go on to the API handler (its
   * admission ends when the response closes); false when it was answered here
   * (refused, or a SelfSubjectAccessReview).
   */
  gateHttp(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean> {
    const admitted = this.#gateHttp(req, res);
    return admitted instanceof Promise ? admitted.then((a) => a !== false) : admitted !== false;
  }

  /** gateHttp, telling also how the request was admitted: its admission, true (no admission: open paths), or false (answered here). */
  #gateHttp(req: IncomingMessage, res: ServerResponse, since?: number): Admission | boolean | Promise<Admission | boolean> {
    const method = req.method ?? "GET";
    const url = requestTarget(req);
    if (!url) return true; // the handler answers 400
    const route = url.route;
    if (route && OPEN_ROUTES.has(route.kind)) return true;
    // The console's static files (src/server/ui.ts) hold no data: they load without credentials.
    if (isUiPath(url.pathname)) return true;
    const attributes = attributesOf(route, method, url);
    // As kube-apiserver: the response tells the client which audit event is its own.
    let auditID: string | undefined;
    if (this.audit) res.setHeader("Audit-Id", (auditID = auditIdOf(req.headers["audit-id"])));
    // As kube-apiserver: `Bearer  TOKEN` carries no token, and the answer (a 401 unless a certificate proves who it is) says why.
    if (this.authenticator.enabled && hasExtraSpaceBeforeToken(req.headers.authorization)) res.setHeader("Warning", warningHeaders([EXTRA_SPACE_WARNING]));
    let admission: Admission | Promise<Admission>;
    try {
      admission = this.admitFresh({
        credentials: httpCredentials(req, false),
        connection: req.socket,
        auditID,
        attributes,
        longRunning: attributes.verb === "watch",
        requestURI: req.url ?? "/",
        sourceIP: req.socket.remoteAddress ?? "",
        userAgent: req.headers["user-agent"],
        since,
      });
    } catch (err) {
      this.#writeRefusal(res, err);
      return false;
    }
    if (admission instanceof Promise) {
      return admission.then(
        (a) => this.#admitted(req, res, a, method, url.pathname),
        (err: unknown) => {
          this.#writeRefusal(res, err);
          return false;
        },
      );
    }
    return this.#admitted(req, res, admission, method, url.pathname);
  }

  /** What the HTTP gate does with an admitted request: audit it when it closes; answer a review here (false), else its admission. */
  #admitted(req: IncomingMessage, res: ServerResponse, admission: Admission, method: string, pathname: string): Admission | false {
    if (res.closed) {
      // The client left while the decision waited (admitFresh): nothing to serve; free the slot now.
      admission.done(res.statusCode, auditNoteOf(res));
      return false;
    }
    res.once("close", () => admission.done(res.statusCode, auditNoteOf(res)));
    if (admission.receiveBody) (req as IncomingMessage & { [RECEIVE_BODY]?: () => BodyReceipt })[RECEIVE_BODY] = admission.receiveBody;
    const path = trimSlash(pathname);
    if (path === ACCESS_REVIEW_PATH || path === RULES_REVIEW_PATH || path === SELF_REVIEW_PATH) {
      void this.#serveReview(req, res, admission.user, method, path === RULES_REVIEW_PATH ? "rules" : path === SELF_REVIEW_PATH ? "self" : "access");
      return false;
    }
    return admission;
  }

  /**
   * The HTTP gate, then `handler` (the API) as the admitted user, if the gate
   * lets the request through. `since`: GateRequest.since.
   */
  serveHttp(req: IncomingMessage, res: ServerResponse, since: number | undefined, handler: () => Promise<void>): void {
    // The admission comes back from the gate (a WeakMap entry per request to carry it cost more).
    const admitted = this.#gateHttp(req, res, since);
    if (admitted instanceof Promise) void admitted.then((a) => this.#serveAdmitted(a, handler));
    else this.#serveAdmitted(admitted, handler);
  }

  #serveAdmitted(admitted: Admission | boolean, handler: () => Promise<void>): void {
    if (admitted === false) return;
    void (admitted === true ? handler() : this.runAs(admitted.user, handler));
  }

  /**
   * The WebSocket gate, before the upgrade: the admission, or undefined after
   * answering the handshake with the refusal. Call `done` when the socket closes.
   */
  gateUpgrade(req: IncomingMessage, socket: Duplex, since?: number): Admission | undefined | Promise<Admission | undefined> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://setpoint");
    } catch {
      url = new URL("http://setpoint/");
    }
    const attributes = attributesOf(parseRoute(url.pathname), "GET", url, true);
    // As the HTTP gate (#gateHttp): `Bearer  TOKEN` carries no token, and the refusal says why.
    const warning: Record<string, string> =
      this.authenticator.enabled && hasExtraSpaceBeforeToken(req.headers.authorization) ? { Warning: warningHeaders([EXTRA_SPACE_WARNING])[0]! } : {};
    const refused = (err: unknown): undefined => {
      const headers: Record<string, string | number> = err instanceof TooManyRequestsError ? { "Retry-After": err.retryAfterSeconds, ...warning } : warning;
      this.#logInternal(err);
      if (socket.writable) socket.end(rawHttpReply(statusOf(err), headers));
      return undefined;
    };
    try {
      const admission = this.admitFresh({
        credentials: httpCredentials(req, true),
        attributes,
        longRunning: true,
        requestURI: req.url ?? "/",
        sourceIP: req.socket.remoteAddress ?? "",
        userAgent: req.headers["user-agent"],
        since,
      });
      return admission instanceof Promise ? admission.catch(refused) : admission;
    } catch (err) {
      return refused(err);
    }
  }

  /** The gRPC gate: admits one call on `ref` (the wire's) for `verb` (see admitFresh); throws (or rejects with) a 401/403/429/503 ApiError. */
  admitGrpc(call: GrpcCall, verb: string, ref: WireRef | null | undefined, subresource = "", since?: number): Admission | Promise<Admission> {
    const header = call.metadata.get("authorization")[0];
    const credentials: Credentials = { token: bearerOf(typeof header === "string" ? header : header?.toString("utf8")) };
    const cert = call.getAuthContext?.()?.sslPeerCertificate;
    if (cert) credentials.certificate = cert;
    const attributes: RequestAttributes = {
      kind: "resource",
      verb,
      group: ref?.group ?? "",
      version: ref?.version ?? "",
      resource: ref?.plural ?? "",
      subresource,
      namespace: ref?.namespace ?? "",
      name: ref?.name ?? "",
    };
    return this.admitFresh({
      credentials,
      attributes,
      longRunning: verb === "watch",
      requestURI: call.getPath?.() ?? `/setpoint.v1.Resources/${verb}`,
      sourceIP: peerAddress(call.getPeer()),
      userAgent: call.metadata.get("user-agent")[0]?.toString(),
      since,
    });
  }

  async #serveReview(req: IncomingMessage, res: ServerResponse, user: UserInfo, method: string, kind: "access" | "rules" | "self"): Promise<void> {
    const rules = kind === "rules";
    try {
      if (method !== "POST")
        throw new ApiError("MethodNotAllowed", `the server does not allow this method on the requested resource: ${method} ${REVIEW_RESOURCES[kind]}`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > 64 * 1024) throw new ApiError("RequestEntityTooLarge", "request body too large: at most 65536 bytes");
        chunks.push(chunk);
      }
      const raw = Buffer.concat(chunks);
      const protobuf = (req.headers["content-type"] ?? "").startsWith("application/vnd.kubernetes.protobuf");
      let body: unknown;
      if (kind === "self") body = undefined;
      else if (protobuf) body = rules ? undefined : reviewFromProtobuf(raw);
      else {
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch (err) {
          throw new BadRequestError(`invalid JSON body: ${(err as Error).message}`);
        }
        checkReviewBody(body, rules ? "SelfSubjectRulesReview" : "SelfSubjectAccessReview");
      }
      const review = jsonAnswer(
        req,
        kind === "self"
          ? selfReview(user)
          : rules
            ? reviewRules(this.authorizer, user, rulesReviewNamespace(body, protobuf ? raw : undefined))
            : reviewAccess(this.authorizer, user, body),
      );
      res.writeHead(201, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(review) });
      res.end(review);
    } catch (err) {
      this.#writeRefusal(res, err);
    }
  }

  /** Answers a refused request; a refusal that is no ApiError (a bug in the gate, answered 500) is logged with its cause. */
  #writeRefusal(res: ServerResponse, err: unknown): void {
    this.#logInternal(err);
    writeRefusal(res, err);
  }

  #logInternal(err: unknown): void {
    if (!(err instanceof ApiError)) this.#log?.error({ err }, "internal error (security gate)");
  }

  /** Flushes the audit log and stops following RBAC objects and certificate files. */
  async close(): Promise<void> {
    for (const stop of this.#stops) stop();
    this.tls?.close();
    await this.audit?.close();
  }
}

/** Builds the security edge from the server's options (TLS files are read now; a bad file throws). */
export function createSecurity(
  o: ServerOptions,
  deps: { hub: WatchHub; log: Logger; clock: Clock; sync?: (options?: SyncOptions) => Promise<number> },
): Security {
  const tls =
    o.tlsCertFile !== undefined && o.tlsPrivateKeyFile !== undefined
      ? new TlsCertificates(
          { certFile: o.tlsCertFile, keyFile: o.tlsPrivateKeyFile, clientCaFile: o.clientCaFile },
          { log: deps.log, clock: deps.clock, reloadIntervalMs: o.tlsReloadIntervalMs },
        )
      : undefined;
  if (o.clientCaFile !== undefined && !tls) throw new RangeError("--client-ca-file needs TLS: set --tls-cert-file and --tls-private-key-file");
  if ((o.tlsCertFile === undefined) !== (o.tlsPrivateKeyFile === undefined)) throw new RangeError("--tls-cert-file and --tls-private-key-file go together");
  const authenticator = new Authenticator({ tokenAuthFile: o.tokenAuthFile, token: o.token, clientCertificates: o.clientCaFile !== undefined });
  const stops: Array<() => void> = [];
  let authorizer: Authorizer = alwaysAllow;
  let rbacIndex: RbacIndex | undefined;
  let fresh: ((since: number | undefined) => Promise<void>) | undefined;
  if (o.authorizationMode === "RBAC") {
    const index = new RbacIndex();
    stops.push(followRbac(deps.hub, index));
    rbacIndex = index;
    // No catch-up per decision: the store tells the hub of each commit before
    // the write is acknowledged (this process) or announced (--workers peers).
    authorizer = new RbacAuthorizer(index);
    // Across processes, the index learns of another one's commit a moment
    // later (etcd's watch; the primary's relayed notice): a decision first
    // catches up (etcd: one linearizable read begun since the request
    // arrived, shared by every request it serves, the read this one admits
    // included; LMDB: a fresh read snapshot).
    const sync = deps.sync;
    if (sync)
      fresh = async (since) => {
        await deps.hub.waitFor(await sync(since === undefined ? undefined : { since }));
      };
  }
  const limits = new Limits({
    maxRequestsInflight: o.maxRequestsInflight,
    maxMutatingRequestsInflight: o.maxMutatingRequestsInflight,
    maxWatchesPerUser: o.maxWatchesPerUser,
  });
  const audit = o.auditLogPath !== undefined ? new AuditLog(o.auditLogPath, { log: deps.log, now: () => deps.clock.now() }) : undefined;
  return new Security({ authenticator, authorizer, limits, audit, tls, now: () => deps.clock.now(), stops, rbacIndex, log: deps.log, fresh });
}

const trimSlash = (p: string) => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p);

/** The credentials an HTTP request carries; on a WebSocket upgrade also the bearer subprotocol. */
function httpCredentials(req: IncomingMessage, upgrade: boolean): Credentials {
  const credentials: Credentials = {};
  const token = bearerOf(req.headers.authorization) ?? (upgrade ? bearerOfSubprotocols(req.headers["sec-websocket-protocol"]) : undefined);
  if (token !== undefined) credentials.token = token;
  const socket = req.socket;
  if (socket instanceof TLSSocket && socket.authorized) {
    const cert = socket.getPeerCertificate();
    if (cert?.raw) credentials.certificate = cert;
  }
  return credentials;
}

/** What an HTTP request on `route` asks, as authorization sees it. */
export function attributesOf(route: Route | undefined, method: string, url: Pick<URL, "pathname" | "searchParams">, websocket = false): RequestAttributes {
  if (route && "ref" in route) {
    const { ref } = route;
    const named = route.kind !== "collection";
    // As kube's RequestInfo: `watch` makes a list a watch; a get of one object stays a get.
    const watch = websocket || (!named && isWatch(url.searchParams));
    const verb = resourceVerb(method, named, watch);
    return {
      kind: "resource",
      verb,
      group: ref.group,
      version: ref.version,
      resource: ref.plural,
      subresource: route.kind === "status" ? "status" : route.kind === "subresource" ? route.subresource : "",
      namespace: ref.namespace ?? "",
      name: ref.name ?? (verb === "list" || verb === "watch" ? selectedName(url.searchParams.get("fieldSelector")) : ""),
    };
  }
  return { kind: "nonResource", verb: nonResourceVerb(method), path: url.pathname };
}

/**
 * The name a list or watch asks for, as kube-apiserver's RequestInfo finds it:
 * a fieldSelector that pins `metadata.name` makes the request one for that
 * name, so RBAC `resourceNames` grant it (`kubectl get NAME -w`). "" for none.
 */
export function selectedName(fieldSelector: string | null): string {
  if (!fieldSelector) return "";
  let name: string;
  try {
    name = parseFieldSelector(fieldSelector).name ?? "";
  } catch {
    return ""; // the request itself answers 400 once admitted
  }
  return name === "." || name === ".." || name.includes("/") || name.includes("%") ? "" : name;
}

/** Answers a refused request with its Status (and Retry-After for 429). */
function writeRefusal(res: ServerResponse, err: unknown): void {
  const status = statusOf(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = jsonAnswer(res.req, status);
  const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) };
  if (err instanceof TooManyRequestsError) headers["Retry-After"] = err.retryAfterSeconds;
  res.writeHead(status.code, headers);
  res.end(body);
}
