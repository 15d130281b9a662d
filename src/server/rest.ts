// The HTTP edge (behind the security gate, src/server/security.ts): routes, reads bodies (3 MiB bound), calls the
// transport-neutral verbs in src/api/resources.ts, and writes objects, lists,
// discovery documents and Status errors. Watches (`?watch=true`) stream as
// chunked JSON lines; WebSocket upgrades on the same paths are in server.ts.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type { Logger } from "pino";
import type { TypeRegistry } from "../api/registry.ts";
import { KIND_LIST, type ListForm, type ReadOptions, type ResourceRef, type Resources, type WriteOptions } from "../api/resources.ts";
import { duplicateFields, parseFieldValidation } from "../api/field-validation.ts";
import { checkJsonNumbers } from "../api/json-numbers.ts";
import { patchTypeOf } from "../api/patch.ts";
import { isRbacResource } from "../api/rbac-types.ts";
import type { RawQuery } from "../api/query.ts";
import type { Clock } from "../clock.ts";
import type { SpaceAlarm } from "../store.ts";
import { RECEIVE_BODY, type BodyReceipt } from "./limits.ts";
import { ApiError, BadRequestError, fieldErrorsMessage, InvalidError, NotFoundError, type FieldCause } from "../errors.ts";
import { noteForAudit } from "./audit.ts";
import { parseYamlBody } from "./yaml-body.ts";
import { PROTOBUF_TYPE, rbacFromProtobuf, readsProtobuf } from "./protobuf-rbac.ts";
import { deleteOptions, deleteQuery } from "./delete-options.ts";
import { apiGroup, apiGroupList, apiResourceList, apiVersions, coreResources, versionInfo } from "./discovery.ts";
import type { Metrics } from "./metrics.ts";
import { implicitNamespace } from "./namespaces.ts";
import { openApiGroupVersion, openApiRoot } from "./openapi.ts";
import type { Route } from "./routes.ts";
import { statusOf, toApiError } from "./status.ts";
import { malformedTargetMessage, requestTarget, type RequestTarget } from "./target.ts";
import { checkShape, renderingOf, type Rendering } from "./negotiation.ts";
import { listAsMetadata, metadataListForm, objectAsMetadata, watchEventAsMetadata } from "./partial-metadata.ts";
import { includeObjectOf, listAsTable, objectAsTable, tableListForm, watchEventAsTable, type TableOptions } from "./table.ts";
import { isUiPath, serveUi } from "./ui.ts";
import type { WatchLimit } from "./watch-limit.ts";
import { warningHeaders } from "./warnings.ts";
import { asYaml, wantsYaml, YAML_TYPE, yamlListForm } from "./yaml-response.ts";
import { httpWatchSink } from "./watch-sinks.ts";
import { acceptsGzip, allowGzip, GZIP_THRESHOLD_BYTES, gzipsAnswer, mayGzip, sendGzipped, startGzipStream } from "./compression.ts";
import { indentJson, JsonIndenter, wantsPretty } from "./pretty.ts";
import type { WatchEvent, WatchSink } from "../watch.ts";

/** The largest request body accepted (API.md §1). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface RestContext {
  resources: Resources;
  registry: TypeRegistry;
  metrics: Metrics;
  log: Logger;
  /** Ages in Table rows, and the grace timer of a cut-off watch. */
  clock: Clock;
  version: string;
  /** False once shutdown began: /readyz fails and new watches are refused. */
  ready: () => boolean;
  /** The store's space alarm, if raised: /readyz stays 200 (reads and deletes work) and says why writes get 507. */
  spaceAlarm: () => SpaceAlarm | undefined;
  /** False while the store does not answer (etcd without quorum): /readyz fails. Default: always true. */
  storeReady?: () => boolean;
  /** Called when a watch stream starts; returns the function to call when it ends. */
  trackWatch: (stop: () => void) => () => void;
  /** Open WebSocket and HTTP watches per client address (429 past the cap). */
  watchLimit: WatchLimit;
  /** Large answers go out gzipped to requests that accept it (src/server/compression.ts). */
  responseCompression: boolean;
}

const QUERY_KEYS: Array<keyof RawQuery> = [
  "labelSelector",
  "fieldSelector",
  "limit",
  "continue",
  "resourceVersion",
  "resourceVersionMatch",
  "allowWatchBookmarks",
  "sendInitialEvents",
  "timeoutSeconds",
];

export function rawQuery(params: URLSearchParams): RawQuery {
  const q: RawQuery = {};
  for (const k of QUERY_KEYS) {
    const v = params.get(k);
    if (v !== null) q[k] = v;
  }
  return q;
}

/**
 * Whether a list request is a watch, as kube-apiserver reads its boolean
 * query parameters: `watch` present with any value but `false` or `0` (in any
 * case), so `watch=True` (Python's client) and a bare `watch` are watches.
 */
export function isWatch(params: URLSearchParams): boolean {
  const w = params.get("watch")?.toLowerCase();
  return w !== undefined && w !== "false" && w !== "0";
}

/**
 * Sends a whole answer; JSON indented if the request asks for it (`?pretty`, src/server/pretty.ts);
 * gzipped if it is large and the request accepts gzip (src/server/compression.ts).
 */
function send(res: ServerResponse, code: number, body: string | Buffer, contentType = "application/json"): void {
  if (contentType === "application/json" && wantsPretty(res.req))
    body = typeof body === "string" ? indentJson(body) : Buffer.from(indentJson(body.toString("utf8")));
  const bytes = Buffer.byteLength(body);
  if (gzipsAnswer(res, bytes)) {
    sendGzipped(res, code, body, contentType);
    return;
  }
  res.writeHead(code, { "Content-Type": contentType, "Content-Length": bytes });
  res.end(body);
}

/** Sends an answer already in the form asked for (render), as JSON or YAML as negotiated. */
function sendRendered(res: ServerResponse, code: number, body: string, rendering: Rendering): void {
  if (rendering.yaml) send(res, code, asYaml(body), YAML_TYPE);
  else send(res, code, body);
}

/**
 * Sends a write's answer (already rendered, JSON or YAML as negotiated) with its warnings
 * (fieldValidation=Warn) as kube's `Warning: 299 - "text"` headers.
 */
function sendWritten(res: ServerResponse, code: number, body: string, options: WriteOptions, rendering: Rendering): void {
  const yaml = rendering.yaml;
  const text = yaml ? asYaml(body) : body;
  const type = yaml ? YAML_TYPE : "application/json";
  if (!options.warnings || options.warnings.length === 0) {
    send(res, code, text, type);
    return;
  }
  // The warnings' UTF-8 travels as latin1 characters (src/server/warnings.ts). Node writes the
  // header block in the encoding of a string body (UTF-8: every byte above 127 encoded twice),
  // as latin1 before a Buffer body.
  // After any the security gate set (src/server/security.ts), as kube's one recorder gathers them all.
  const earlier = res.getHeader("Warning");
  res.setHeader("Warning", [...(earlier === undefined ? [] : Array.isArray(earlier) ? earlier : [String(earlier)]), ...warningHeaders(options.warnings)]);
  send(res, code, Buffer.from(text), type);
}

/** Below this many bytes a chunked body is sent whole, with a Content-Length. */
const STREAM_AFTER_BYTES = 64 * 1024;

/**
 * Sends a body produced a chunk at a time, pulling the next chunk only once
 * the socket has taken the previous ones, so the server never holds more than
 * a chunk or two of it. A body that ends within STREAM_AFTER_BYTES goes out
 * whole with a Content-Length. When the request accepts gzip, the body is
 * held back up to GZIP_THRESHOLD_BYTES instead, as kube-apiserver decides from
 * what is first written: one that ends within it goes out whole and plain,
 * a longer one streams through gzip (src/server/compression.ts). An error
 * before the first byte throws (the caller answers with a Status); one after
 * it cuts the connection, which the client sees as a truncated body: never a
 * body that ends as a whole list (kube-apiserver appends a Status and ends
 * normally; docs/kubectl.md says why this server does not).
 */
async function sendChunks(res: ServerResponse, code: number, body: Iterable<string>, log: Logger, contentType = "application/json"): Promise<void> {
  // ?pretty: a body sent whole is indented by send(); a streamed one chunk by chunk, so that a
  // curl of a large list streams as it does compact (collected whole, a 100k-item list held
  // the event loop ~0.7 s and its text three times over).
  const indenter = contentType === "application/json" && wantsPretty(res.req) ? new JsonIndenter() : undefined;
  const it = body[Symbol.iterator]();
  const head: string[] = [];
  // Judged for gzip: held back until past the threshold, counted in bytes as kube counts them.
  const judged = mayGzip(res);
  let size = 0;
  for (;;) {
    const next = it.next();
    if (next.done) {
      send(res, code, head.length === 1 ? head[0]! : head.join(""), contentType);
      return;
    }
    head.push(next.value);
    if (!judged) {
      size += next.value.length;
      if (size >= STREAM_AFTER_BYTES) break;
    } else {
      size += Buffer.byteLength(next.value);
      if (size > GZIP_THRESHOLD_BYTES) break;
    }
  }
  let out: Writable = res;
  if (judged) out = startGzipStream(res, code, contentType);
  else res.writeHead(code, { "Content-Type": contentType });
  const joined = head.join("");
  let ok = out.write(indenter ? indenter.push(joined) : joined);
  try {
    for (;;) {
      if (!ok) {
        if (res.destroyed) return;
        await new Promise<void>((resolve) => {
          const done = () => {
            out.off("drain", done);
            res.off("close", done);
            resolve();
          };
          out.on("drain", done);
          res.on("close", done);
        });
      }
      if (res.destroyed) return;
      const next = it.next();
      if (next.done) break;
      ok = out.write(indenter ? indenter.push(next.value) : next.value);
    }
  } catch (err) {
    // e.g. the revision the list is served at was compacted mid-way; anything
    // but an ApiError is a bug or a store failure: say what cut the list.
    if (!(err instanceof ApiError)) log.error({ err }, "internal error (list cut off mid-stream)");
    res.destroy();
    return;
  }
  out.end();
}

export function sendError(res: ServerResponse, err: unknown, log: Logger): number {
  const status = statusOf(err);
  noteForAudit(res, { failure: { reason: status.reason, message: status.message } });
  if (status.code === 500) log.error({ err: toApiError(err).cause ?? err }, "internal error");
  if (res.headersSent) {
    res.destroy();
    return status.code;
  }
  // As kube-apiserver: a Status that says when to retry says it in Retry-After too (client-go waits and retries on it).
  if (status.details?.retryAfterSeconds) res.setHeader("Retry-After", status.details.retryAfterSeconds);
  if (wantsYaml(res.req?.headers.accept)) send(res, status.code, asYaml(JSON.stringify(status)), YAML_TYPE);
  else send(res, status.code, JSON.stringify(status));
  return status.code;
}

/**
 * Reads a request body with plain listeners: a readable's async iterator
 * costs every request an end-of-stream watcher, a destroy and several ticks
 * (about 6% of the server's CPU per create).
 */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (req.readableEnded) return Buffer.alloc(0);
  if (req.destroyed) throw prematureClose();
  // While it arrives the request does not count against the in-flight limit (src/server/limits.ts).
  const receipt = (req as IncomingMessage & { [RECEIVE_BODY]?: () => BodyReceipt })[RECEIVE_BODY]?.();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = () => {
      settled = true;
      receipt?.end();
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      const refused = size <= MAX_BODY_BYTES ? receipt?.add(chunk.length) : tooLarge();
      if (refused === undefined) {
        chunks.push(chunk);
        return;
      }
      // Left undestroyed: the caller answers 413 (or 429) and lingers (lingerOnClose).
      settle();
      reject(refused);
    };
    // A body read to its end leaves the listeners on (removing four cost more
    // than the rest of the read): nothing but the close can follow, and it
    // finds the read settled.
    const onEnd = () => {
      settled = true;
      const refused = receipt?.end();
      if (refused) reject(refused);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      if (settled) return;
      settle();
      reject(err);
    };
    const onClose = () => {
      if (settled) return;
      settle();
      reject(prematureClose());
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** What a body cut off by the client rejects with, as node's stream helpers word it. */
function prematureClose(): Error {
  return Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}

/** How much more of a refused request's body is read and dropped before its connection is cut. */
const LINGER_BYTES = 16 * 1024 * 1024;

/**
 * Closes the connection of a request answered before its body was read the
 * way HTTP servers linger: send the answer and our FIN, then read and drop
 * what the client still sends until it closes too (or LINGER_BYTES more).
 * Node would close the socket at once, and a close with unread data is a
 * reset that can destroy the answer before a client still sending (or a load
 * balancer in front) reads it. node's requestTimeout bounds a trickler.
 */
function lingerOnClose(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket) return;
  socket.destroySoon = () => socket.end();
  let dropped = 0;
  socket.on("data", (d: Buffer) => {
    dropped += d.length;
    if (dropped > LINGER_BYTES) socket.destroy();
  });
  socket.once("end", () => socket.destroy());
  // The request stream may be gone (a body reader that threw): read the socket itself.
  res.once("finish", () => socket.resume());
  req.resume();
}

function tooLarge(): ApiError {
  return new ApiError("RequestEntityTooLarge", `Request entity too large: limit is ${MAX_BODY_BYTES}`); // kube-apiserver's words
}

/**
 * Parses a JSON (or YAML) request body; an empty body is undefined. A write
 * that asked for Strict or Warn field validation by name (kubectl's) also gets
 * the JSON body's duplicate keys in `fields.duplicateFields`.
 */
async function readJson(req: IncomingMessage, allowYaml: boolean, fields?: WriteOptions, ref?: ResourceRef): Promise<unknown> {
  const buf = await readBody(req);
  if (buf.length === 0) return undefined;
  const type = (req.headers["content-type"] ?? "application/json").split(";")[0]!.trim().toLowerCase();
  // kubectl's typed clients send the RBAC types as protobuf (kubectl create role, rolebinding…).
  if (allowYaml && type === PROTOBUF_TYPE && ref !== undefined && readsProtobuf(ref)) return rbacFromProtobuf(buf, ref.plural);
  const text = buf.toString("utf8");
  if (allowYaml && (type === "application/yaml" || type === "application/x-yaml" || type === "text/yaml")) {
    return parseYamlBody(text);
  }
  // As kube-apiserver: a create or update body is JSON or YAML; a patch's media type (or any other) is 415.
  // A request without Content-Type is read as JSON (kube refuses it; curl users would not know why).
  if (allowYaml && type !== "application/json" && type !== "") {
    throw new ApiError(
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
      {
        causes: [{ field: "Content-Type", message: `unsupported media type ${type}`, reason: "FieldValueNotSupported" }],
      },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`invalid JSON body: ${(err as Error).message}`, {
      causes: [{ field: "body", message: "invalid JSON", reason: "FieldValueInvalid" }],
    });
  }
  checkJsonNumbers(text);
  if (fields?.fieldValidation === "Strict" || fields?.fieldValidation === "Warn") fields.duplicateFields = duplicateFields(text);
  return value;
}

function methodNotAllowed(method: string, what: string): ApiError {
  return new ApiError("MethodNotAllowed", `the server does not allow this method on the requested resource: ${method} ${what}`);
}

/** kube's RequestInfo verb for a method (a collection's DELETE is deletecollection); other methods by their own name. */
const KUBE_VERBS: Record<string, [named: string, collection: string]> = {
  POST: ["create", "create"],
  PUT: ["update", "update"],
  PATCH: ["patch", "patch"],
  DELETE: ["delete", "deletecollection"],
};

/**
 * A method a type's path does not serve, in kube-apiserver's words for a
 * custom resource (NewMethodNotSupported): `create is not supported on
 * resources of kind "widgets.example.com"`, with the group and plural in details.
 */
function notSupported(ref: ResourceRef, method: string): ApiError {
  const action = KUBE_VERBS[method]?.[ref.name === undefined ? 1 : 0] ?? method.toLowerCase();
  return new ApiError("MethodNotAllowed", `${action} is not supported on resources of kind "${ref.plural}.${ref.group}"`, {
    subject: { group: ref.group, kind: ref.plural },
  });
}

function verbOf(route: Route | undefined, method: string, watch: boolean): string {
  if (!route) return "unknown";
  if (route.kind === "collection") {
    if (method === "GET") return watch ? "watch" : "list";
    if (method === "POST") return "create";
    if (method === "DELETE") return "deletecollection";
  } else if (route.kind === "object" || route.kind === "status" || route.kind === "subresource") {
    const v: Record<string, string> = { GET: "get", PUT: "update", PATCH: "patch", DELETE: "delete" };
    return v[method] ?? "unknown"; // a client's method names must not grow the metrics without bound
  }
  return "get";
}

/**
 * The `resource` label of a request: a live type's name, else the route kind,
 * so unknown paths add no series. A request that succeeded named a live type
 * (its verb looked it up), so only failures look it up again.
 */
function metricsResource(ctx: RestContext, route: Route | undefined, code: number): string {
  if (!route) return "unknown";
  if (!("ref" in route)) return route.kind;
  const { group, version, plural } = route.ref;
  const name = `${plural}.${group}`;
  if (code >= 400) {
    const live = ctx.registry.byName(name);
    if (!live || live.version !== version) return "unknown";
  }
  return `${name}${route.kind === "status" ? "/status" : ""}`;
}

/** One request on its way through the handlers below. */
interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  url: RequestTarget;
  method: string;
  /** Undefined when the path names nothing the server serves. */
  route: Route | undefined;
  /** `?watch=true` (or any value but `false` and `0`: isWatch). */
  watch: boolean;
  /** What a read of the newest state knows already (the security gate's catch-up). */
  read: ReadOptions;
}

/** Serves one HTTP request. Never throws; every failure becomes a Status. */
export async function handleRequest(ctx: RestContext, req: IncomingMessage, res: ServerResponse, read: ReadOptions = {}): Promise<void> {
  // Real elapsed time for the latency histogram, not the injected clock.
  const started = performance.now();
  // As kube-apiserver (and Go's HTTP server): a HEAD is a GET whose answer has no body (Node drops it); never a watch.
  const head = req.method === "HEAD";
  const method = head ? "GET" : (req.method ?? "GET");
  const url = requestTarget(req);
  if (!url) {
    sendError(res, new BadRequestError(malformedTargetMessage(req.url ?? "/")), ctx.log);
    return;
  }
  const call: Call = { req, res, url, method, route: url.route, watch: !head && isWatch(url.searchParams), read };
  if (ctx.responseCompression && acceptsGzip(req.headers["accept-encoding"])) allowGzip(res);
  const verb = verbOf(call.route, method, call.watch);
  let code: number;
  try {
    code = await serve(ctx, call);
  } catch (err) {
    // A body left half-read (e.g. cut off at the size bound) would stall the
    // keep-alive connection: close it after this response, lingering.
    if (!req.complete && !res.headersSent) {
      res.setHeader("Connection", "close");
      lingerOnClose(req, res);
    }
    code = sendError(res, err, ctx.log);
  }
  ctx.metrics.request(verb, metricsResource(ctx, call.route, code), code, (performance.now() - started) / 1000);
}

async function serve(ctx: RestContext, call: Call): Promise<number> {
  const { req, res, route, url, method } = call;
  if (route?.kind === "healthz" || route?.kind === "livez") {
    send(res, 200, "ok", "text/plain");
    return 200;
  }
  if (route?.kind === "readyz") {
    const ok = ctx.ready() && (ctx.storeReady?.() ?? true);
    const alarm = ok ? ctx.spaceAlarm() : undefined;
    const detail = alarm ? `\nstore space alarm (${alarm.kind}) since ${new Date(alarm.since).toISOString()}: ${alarm.message}\n` : "";
    send(res, ok ? 200 : 503, (ok ? "ok" : ctx.ready() ? "the store is unavailable" : "shutting down") + detail, "text/plain");
    return ok ? 200 : 503;
  }
  // The console's static files load without credentials; its data comes from the API below.
  if (isUiPath(url.pathname)) return serveUi(req, res, url.pathname);
  if (!route) throw new NotFoundError(`the server could not find the requested resource: ${url.pathname}`);
  const isRead = method === "GET";
  switch (route.kind) {
    case "metrics": {
      if (!isRead) throw methodNotAllowed(method, url.pathname);
      send(res, 200, await ctx.metrics.registry.metrics(), ctx.metrics.registry.contentType);
      return 200;
    }
    case "version":
    case "api":
    case "api-v1":
    case "apis":
    case "group":
    case "group-version":
    case "openapi-v3":
    case "openapi-group-version": {
      if (!isRead) throw methodNotAllowed(method, url.pathname);
      const doc = discovery(ctx, route, req);
      if (doc === undefined) throw new NotFoundError(`the server could not find the requested resource: ${url.pathname}`);
      send(res, 200, JSON.stringify(doc));
      return 200;
    }
    case "namespace": {
      if (!isRead) throw methodNotAllowed(method, url.pathname);
      send(res, 200, JSON.stringify(implicitNamespace(route.name)));
      return 200;
    }
    case "collection":
      return serveCollection(ctx, call, route.ref);
    case "status":
      // The RBAC types have no status subresource, as in kube (src/api/resources.ts refuses their status writes too).
      if (isRbacResource(route.ref)) throw new NotFoundError("the server could not find the requested resource");
      return serveObject(ctx, call, route);
    case "object":
      return serveObject(ctx, call, route);
    case "subresource": {
      // As kube's crdHandler for a subresource the type does not serve: NotFound naming the object, whatever the verb
      // and whether the object exists; a path that names no live type (or the wrong scope) is the type's NotFound.
      const t = ctx.resources.resolve(route.ref, true);
      const name = route.ref.name!;
      throw new NotFoundError(`${t.plural}.${t.group} "${name}" not found`, { subject: { group: t.group, kind: t.plural, name } });
    }
  }
}

function discovery(ctx: RestContext, route: Route, req: IncomingMessage): unknown {
  switch (route.kind) {
    case "version":
      return versionInfo(ctx.version);
    case "api":
      return apiVersions(req.headers.host ?? "");
    case "api-v1":
      return coreResources();
    case "apis":
      return apiGroupList(ctx.registry);
    case "group":
      return apiGroup(ctx.registry, route.group);
    case "group-version":
      return apiResourceList(ctx.registry, route.group, route.version);
    case "openapi-v3":
      return openApiRoot(ctx.registry);
    case "openapi-group-version":
      return openApiGroupVersion(ctx.registry, route.group, route.version);
    default:
      return undefined;
  }
}

/** How this call's answers are written: its Accept header negotiated (negotiation.ts); status paths make no Tables. */
function renderingFor(call: Call): Rendering {
  return renderingOf(call.req.headers.accept, { tables: call.route?.kind !== "status" });
}

/** Table options for a Table of `apiVersion` (kubectl's `as=Table`). */
function tableOptions(params: URLSearchParams, clock: Clock, apiVersion: string): TableOptions {
  return { apiVersion, includeObject: includeObjectOf(params), now: clock.now() };
}

/**
 * An answer's JSON text (one object, or a list when `list`) in the form the
 * request asked for: itself, a Table, or metadata only. 406 when the form
 * does not fit (checkShape).
 */
function render(ctx: RestContext, call: Call, ref: ResourceRef, rendering: Rendering, json: string, list: boolean): string {
  checkShape(rendering, list);
  const as = rendering.as;
  if (as === undefined) return json;
  switch (as.kind) {
    case "Table": {
      const table = tableOptions(call.url.searchParams, ctx.clock, as.apiVersion);
      const type = ctx.resources.resolve(ref, !list);
      return list ? listAsTable(type, json, table) : objectAsTable(type, json, table);
    }
    case "PartialObjectMetadata":
      return objectAsMetadata(json, as.apiVersion);
    case "PartialObjectMetadataList":
      return listAsMetadata(json, as.apiVersion);
  }
}

/**
 * The form a JSON list answer streams in when the request asked for a Table or
 * metadata only (undefined: the list itself): the text render() makes of the
 * whole list. Its checks (406 for a form that cannot fit, 400 for a bad
 * `includeObject`) run at the list's head, after the list's own, as render's do.
 */
function listForm(ctx: RestContext, call: Call, rendering: Rendering): ListForm | undefined {
  const as = rendering.as;
  if (as === undefined) return undefined;
  let form: Required<Omit<ListForm, "separator">> | undefined;
  return {
    head(t, meta) {
      checkShape(rendering, true);
      form = as.kind === "Table" ? tableListForm(tableOptions(call.url.searchParams, ctx.clock, as.apiVersion)) : metadataListForm(as.apiVersion);
      return form.head(t, meta);
    },
    item: (json) => form!.item(json),
    tail: () => "]}",
  };
}

/**
 * For a watch with this Accept header (negotiation.ts; watches stay JSON), what wraps the transport's sink so
 * that each event's object takes the form asked for: a one-row Table or a
 * PartialObjectMetadata. Throws (406, or 400 for a bad `includeObject`)
 * before the stream starts: a watch's events are single objects, so the List
 * form is 406 (kube would send whole objects). Shared by HTTP and WebSocket watches.
 */
export function watchRendering(ctx: RestContext, ref: ResourceRef, params: URLSearchParams, accept: string | undefined): (sink: WatchSink) => WatchSink {
  const rendering = renderingOf(accept, { tables: true });
  checkShape(rendering, false);
  const as = rendering.as;
  if (as === undefined) return (sink) => sink;
  if (as.kind === "PartialObjectMetadata") return (sink) => convertingSink(sink, (event) => watchEventAsMetadata(event, as.apiVersion));
  const table = tableOptions(params, ctx.clock, as.apiVersion);
  const type = ctx.resources.resolve(ref, false);
  return (sink) => convertingSink(sink, (event) => watchEventAsTable(type, event, { ...table, now: ctx.clock.now() }));
}

/** `sink` with each event converted by `convert` (a Table row, metadata only) before it is sent. */
function convertingSink(sink: WatchSink, convert: (event: WatchEvent) => WatchEvent): WatchSink {
  return {
    send: (event) => sink.send(convert(event)),
    buffered: () => sink.buffered(),
    onDrain: (listener) => sink.onDrain(listener),
    fail: (err) => sink.fail(err),
    close: (reason) => sink.close(reason),
  };
}

async function serveCollection(ctx: RestContext, call: Call, ref: ResourceRef): Promise<number> {
  const { req, res, url, method, watch } = call;
  // A create reads no list query: it is the hot write path (an Accept without parameters or YAML costs two substring searches).
  const q = method === "POST" ? {} : rawQuery(url.searchParams);
  if (method === "GET" && watch) {
    if (!ctx.ready()) throw new ApiError("TooManyRequests", "the server is shutting down; retry against another replica");
    const start = await ctx.resources.openWatch(ref, q, call.read);
    const rendered = watchRendering(ctx, ref, url.searchParams, req.headers.accept);
    const release = ctx.watchLimit.acquire(req.socket.remoteAddress);
    res.on("close", release);
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked", "Cache-Control": "no-cache" });
    res.flushHeaders();
    let untrack = () => {};
    const plain = httpWatchSink(res, () => untrack(), { clock: ctx.clock });
    const stop = start(rendered(plain));
    untrack = ctx.trackWatch(stop);
    res.on("close", () => {
      stop();
      untrack();
    });
    return 200;
  }
  const rendering = renderingFor(call);
  if (method === "GET") {
    const form = listForm(ctx, call, rendering);
    if (rendering.yaml) await sendChunks(res, 200, await ctx.resources.listChunks(ref, q, call.read, yamlListForm(form ?? KIND_LIST)), ctx.log, YAML_TYPE);
    else await sendChunks(res, 200, await ctx.resources.listChunks(ref, q, call.read, form), ctx.log);
    return 200;
  }
  if (method === "POST") {
    // A form that cannot fit the answer is refused before the write, not after it (as kube would).
    checkShape(rendering, false);
    const options = writeOptions(url.searchParams, "CreateOptions");
    const body = await readJson(req, true, options, ref);
    const name = (body as { metadata?: { name?: unknown } } | null)?.metadata?.name;
    if (typeof name === "string" && name !== "") noteForAudit(res, { objectName: name });
    sendWritten(res, 201, render(ctx, call, ref, rendering, await ctx.resources.create(ref, body, options), false), options, rendering);
    return 201;
  }
  if (method === "DELETE") {
    checkShape(rendering, true);
    const body = await readJson(req, false);
    const options = { ...deleteOptions(body), ...writeOptions(deleteQuery(url.searchParams, body), "DeleteOptions", body) };
    sendWritten(res, 200, render(ctx, call, ref, rendering, await ctx.resources.deleteCollection(ref, q, options), true), options, rendering);
    return 200;
  }
  throw notSupported(ref, method);
}

async function serveObject(ctx: RestContext, call: Call, route: Extract<Route, { kind: "object" | "status" }>): Promise<number> {
  const { req, res, method } = call;
  const ref = route.ref;
  const options = method === "PUT" || method === "PATCH" ? writeOptions(call.url.searchParams, method === "PUT" ? "UpdateOptions" : "PatchOptions") : {};
  const sub = route.kind === "status" ? "status" : undefined;
  const rendering = renderingFor(call);
  // A form that cannot fit the answer is refused before a write, not after it (as kube would).
  if (method !== "GET") checkShape(rendering, false);
  switch (method) {
    case "GET": {
      const rv = call.url.searchParams.get("resourceVersion");
      const object = await ctx.resources.get(ref, rv === null ? call.read : { resourceVersion: rv });
      sendRendered(res, 200, render(ctx, call, ref, rendering, object, false), rendering);
      return 200;
    }
    case "PUT": {
      const body = await readJson(req, true, options, ref);
      sendWritten(res, 200, render(ctx, call, ref, rendering, await ctx.resources.update(ref, body, sub, options), false), options, rendering);
      return 200;
    }
    case "PATCH": {
      // As kube: a built-in type (RBAC) takes a strategic merge patch too (kubectl apply, patch, edit).
      const type = patchTypeOf(req.headers["content-type"], isRbacResource(ref));
      const body = await readJson(req, false, options);
      sendWritten(res, 200, render(ctx, call, ref, rendering, await ctx.resources.patch(ref, type, body, sub, options), false), options, rendering);
      return 200;
    }
    case "DELETE": {
      if (sub) throw notSupported(ref, method);
      const body = await readJson(req, false);
      const deletion = { ...deleteOptions(body), ...writeOptions(deleteQuery(call.url.searchParams, body), "DeleteOptions", body) };
      sendWritten(res, 200, render(ctx, call, ref, rendering, await ctx.resources.delete(ref, deletion), false), deletion, rendering);
      return 200;
    }
    default:
      throw notSupported(ref, method);
  }
}

/** The meta.k8s.io options kind of each write, as kube-apiserver names it in a 422. */
type OptionsKind = "CreateOptions" | "UpdateOptions" | "PatchOptions" | "DeleteOptions";

/** kube's FieldManagerMaxLength. */
const FIELD_MANAGER_MAX_BYTES = 128;

const PROPAGATION_POLICIES: readonly unknown[] = ["Foreground", "Background", "Orphan"];

/**
 * A write's options checked as kube-apiserver's Validate{Create,Update,Patch,Delete}Options
 * check them, every error in one 422 Invalid of kind `<kind>.meta.k8s.io`:
 * `dryRun` (query, repeatable, or a delete body's list: empty means a real
 * write, `All` a dry run); for create, update and patch `fieldManager` (at
 * most 128 bytes, printable; otherwise unused: no managedFields) and
 * `fieldValidation`, with a list for the warnings; for delete
 * `propagationPolicy` (Foreground, Background or Orphan, which all delete
 * the same way here, as there is no garbage collector) and not beside
 * `orphanDependents`. A delete's `params` are empty when it has a body
 * (deleteQuery): kube reads its options from the body alone then.
 */
function writeOptions(params: URLSearchParams, kind: OptionsKind, body?: unknown): WriteOptions {
  const causes: FieldCause[] = [];
  const fromBody = (key: string): unknown => (body !== null && typeof body === "object" ? (body as Record<string, unknown>)[key] : undefined);
  const values = params.getAll("dryRun");
  const dryRun = fromBody("dryRun");
  if (Array.isArray(dryRun)) values.push(...dryRun.map(String));
  else if (dryRun !== undefined && dryRun !== null) values.push(String(dryRun));
  const wrong = values.find((v) => v !== "All");
  const dryRunCause = (): void => {
    if (wrong !== undefined)
      causes.push({ field: "dryRun", message: `Unsupported value: ${JSON.stringify(wrong)}: supported values: "All"`, reason: "FieldValueNotSupported" });
  };
  const options: WriteOptions = values.length > 0 ? { dryRun: true } : {};
  // In kube's order: DeleteOptions' propagation then dryRun; the others' fieldManager, dryRun, fieldValidation.
  if (kind === "DeleteOptions") {
    const policies = [params.get("propagationPolicy"), fromBody("propagationPolicy")].filter((v) => v !== null && v !== undefined);
    // Without a body kube decodes DeleteOptions from the query, where a present orphanDependents is set whatever its value.
    const orphan = body === undefined && params.has("orphanDependents") ? params.get("orphanDependents") : fromBody("orphanDependents");
    if (orphan !== undefined && orphan !== null && policies.length > 0)
      causes.push({
        field: "propagationPolicy",
        message: `Invalid value: ${JSON.stringify(policies[0])}: orphanDependents and deletionPropagation cannot be both set`,
        reason: "FieldValueInvalid",
      });
    const policy = policies.find((v) => !PROPAGATION_POLICIES.includes(v));
    if (policy !== undefined)
      causes.push({
        field: "propagationPolicy",
        message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan", "nil"`,
        reason: "FieldValueNotSupported",
      });
    dryRunCause();
  } else {
    const manager = params.get("fieldManager") ?? "";
    if (Buffer.byteLength(manager) > FIELD_MANAGER_MAX_BYTES)
      causes.push({ field: "fieldManager", message: `Too long: may not be more than ${FIELD_MANAGER_MAX_BYTES} bytes`, reason: "FieldValueTooLong" });
    // As Go's unicode.IsPrint: no control, format, private or unassigned characters, no space but U+0020; positions in bytes.
    let at = 0;
    for (const ch of manager) {
      if (/[\p{C}\p{Z}]/u.test(ch) && ch !== " ") {
        const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
        const message = `Invalid value: ${JSON.stringify(manager)}: invalid character ${code} (at position ${at})`;
        causes.push({ field: "fieldManager", message, reason: "FieldValueInvalid" });
      }
      at += Buffer.byteLength(ch);
    }
    dryRunCause();
    const directive = params.get("fieldValidation");
    try {
      if (directive !== null) options.fieldValidation = parseFieldValidation(directive);
    } catch (err) {
      if (!(err instanceof InvalidError)) throw err;
      causes.push(...err.causes);
    }
    options.warnings = [];
  }
  if (causes.length > 0)
    throw new InvalidError(`${kind}.meta.k8s.io "" is invalid: ${fieldErrorsMessage(causes)}`, causes, { subject: { kind, group: "meta.k8s.io" } });
  return options;
}
