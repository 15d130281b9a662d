// Unary calls over the REST API (HTTP/1.1, kept-alive connections), for the
// client's writes: a reconcile loop's status write is its hot call, and
// creates, updates, patches and deletes cost the same. Measured on one server
// with 300 sequential status writes, grpc-js costs about 0.4 ms more per call
// than node:http (client and server CPU), and the reconcile bench's loop
// runs 30-50% faster with its status write over HTTP. node:http's client in
// turn costs about 130-185 µs of CPU per call on the bench machine (request
// and response objects, streams, a tick before the write), so requests are
// written here straight to pooled sockets, head and body in one write, and
// answers read with a small parser (src/agent/http-response-parser.ts):
// about 45 µs per call. undici in its place cost the agent 35-40% more CPU
// in the reconcile bench (docs/request-path.md), so it is not used here.
//
// - Each target (one replica: a URL, and the address its name resolved to)
//   gets its own connection pool, so sockets are never shared between
//   replicas behind one name. A connection carries one request at a time (no
//   pipelining); calls at once open as many connections as they need; idle
//   ones are reused newest first, unref'd while idle, and closed when the
//   server's `Keep-Alive: timeout` hint runs out. Over TLS a new connection
//   resumes the target's newest session.
// - Answers map to errors as gRPC's do: a Status body's reason to its error
//   class (ConflictError, NotFoundError, …); no answer, or an answer that is
//   neither the object nor a Status, to TransportError (with the HTTP status
//   code when there was one).
// - A call past `timeoutMs` (on the injected clock) is abandoned with
//   TimeoutError; an aborted `signal` rejects with its reason. Either closes
//   the call's connection, so a late answer is never read as another's.
// - A request that fails on a reused kept-alive connection before any answer
//   (the server closed it while idle) is sent again on another, at most
//   twice, unless it is `once` (a create without a name: the server may have
//   read it after all); any other failure is the caller's to retry. Each
//   attempt that failed after its request may have reached the server (it was
//   written on an open connection) is told to `onLost`; a request on a new
//   connection that never opened (refused, unreachable) surely never left.

import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { TimeoutError } from "../errors.ts";
import type { Target } from "../endpoints.ts";
import type { Status } from "../wire.ts";
import { HttpProtocolError, ResponseParser, type HttpResponse } from "./http-response-parser.ts";
import { TransportError, errorOfStatus, failureOfSocketError, parseObject } from "./wire.ts";

export interface HttpUnaryOptions {
  token?: string;
  /** TLS for https:// targets: what to trust, the client certificate, the name to verify. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  /** Times each call's deadline. Default `systemClock`. */
  clock?: Clock;
}

/** Times a request that failed on a reused connection before any answer is sent again. */
const MAX_STALE_RETRIES = 2;
/** An idle connection is closed this long before the server's keep-alive hint says the server will. */
const KEEP_ALIVE_MARGIN_MS = 1000;
/** TCP keep-alive probes on pooled connections start after this much silence (as node:http's agent). */
const TCP_KEEP_ALIVE_MS = 1000;

/** One request: method, absolute path (with query), JSON body. */
export interface HttpUnaryRequest {
  method: "GET" | "PUT" | "POST" | "PATCH" | "DELETE";
  path: string;
  body?: string;
  /** The body's Content-Type (a patch's type). Default `application/json`. */
  contentType?: string;
  /** Must not be applied twice: never sent again after an attempt that may have reached the server. */
  once?: boolean;
  /** Told each time an attempt fails after its request may have reached the server (so it may have been applied, unanswered). */
  onLost?: () => void;
  signal?: AbortSignal;
  timeoutMs: number;
}

/** Told how a request on a connection ended: its response, or why there is none (and whether any byte of an answer came). */
type Listener = (err: Error | undefined, res: HttpResponse | undefined, answered: boolean) => void;

/** One kept-alive connection: sends a request, parses its answer. */
class Connection {
  readonly socket: Socket;
  #parser: ResponseParser | undefined;
  #listener: Listener | undefined;
  #answered = false;
  /** Whether the socket has closed (or been destroyed). */
  gone = false;
  /** Whether the connection opened (a request written to it may reach the server); a reused one has. */
  opened = false;

  constructor(socket: Socket, onGone: (c: Connection) => void) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEP_ALIVE_MS);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.#onEnd());
    socket.on("error", (err) => this.#fail(err));
    // Armed only while idle (HttpUnary.#release): the server's keep-alive hint is running out.
    socket.on("timeout", () => socket.destroy());
    socket.on("close", () => {
      this.gone = true;
      this.#fail(new Error("the connection closed before the answer"));
      onGone(this);
    });
  }

  /** Writes `text` (a whole request); `listener` is told once how it ended. */
  send(text: string, listener: Listener): void {
    this.#parser = new ResponseParser();
    this.#listener = listener;
    this.#answered = false;
    this.socket.write(text);
  }

  destroy(): void {
    this.#listener = undefined;
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const listener = this.#listener;
    if (!listener) {
      // Bytes nobody asked for (on an idle connection): it cannot be trusted for the next request.
      this.socket.destroy();
      return;
    }
    this.#answered = true;
    let res: HttpResponse | undefined;
    try {
      res = this.#parser!.push(chunk);
    } catch (err) {
      this.destroy();
      listener(err as Error, undefined, true);
      return;
    }
    if (res) {
      this.#listener = undefined;
      listener(undefined, res, true);
    }
  }

  /** The server closed its side: a response delimited by the close is complete; anything else failed. */
  #onEnd(): void {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = undefined;
    let res: HttpResponse;
    try {
      res = this.#parser!.end();
    } catch (err) {
      listener(err as Error, undefined, this.#answered);
      return;
    }
    listener(undefined, res, true);
  }

  #fail(err: Error): void {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = undefined;
    listener(err, undefined, this.#answered);
  }
}

/**
 * A path that the URL parser leaves as it is: segments of unreserved
 * characters only (RFC 3986), none of them "." or "..", no query. Anything
 * else (percent-escapes, a query, dot segments) is parsed.
 */
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)+$/;

/** The connections of one target. */
class Pool {
  /** The target's URL, parsed once. */
  readonly base: URL;
  constructor(base: URL) {
    this.base = base;
  }
  /** Idle connections, newest last (some may have closed since: skipped when taken). */
  readonly idle: Connection[] = [];
  /** Every open connection, idle or not. */
  readonly all = new Set<Connection>();
  /** The newest TLS session the target gave: new connections resume it (as node:https's agent does). */
  session: Buffer | undefined;
  closed = false;
}

/** Sends REST calls to targets over pooled keep-alive connections, one pool per target. */
export class HttpUnary {
  readonly #o: HttpUnaryOptions;
  readonly #clock: Clock;
  readonly #authorization: string;
  /** One pool per target, made at its first call. */
  readonly #pools = new Map<Target, Pool>();

  constructor(options: HttpUnaryOptions = {}) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    if (options.token !== undefined && !/^[\x21-\x7e]*$/.test(options.token)) throw new TypeError("client: the token holds characters a header cannot carry");
    this.#authorization = options.token ? `Authorization: Bearer ${options.token}\r\n` : "";
  }

  /** Sends `req` to `target`; resolves with the answer's object, rejects with its error class or TransportError. */
  call<T>(target: Target, req: HttpUnaryRequest): Promise<T> {
    let pool = this.#pools.get(target);
    if (!pool) {
      pool = new Pool(new URL(target.url));
      this.#pools.set(target, pool);
    }
    const p = pool;
    // A path such as the client's object paths is sent as it is; any other goes through the URL parser (about 10 µs).
    const parsed = PLAIN_PATH.test(req.path) ? undefined : new URL(req.path, p.base);
    const path = parsed ? parsed.pathname : req.path;
    const what = `${req.method} ${path}`;
    const body = req.body ?? "";
    const text =
      `${req.method} ${path}${parsed?.search ?? ""} HTTP/1.1\r\nHost: ${p.base.host}\r\nAccept: application/json\r\n${this.#authorization}` +
      (req.body === undefined ? "\r\n" : `Content-Type: ${req.contentType ?? "application/json"}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    return new Promise<T>((resolve, reject) => {
      if (req.signal?.aborted) return reject(req.signal.reason);
      let settled = false;
      let conn: Connection | undefined;
      const finish = (err: unknown, value?: T) => {
        if (settled) return;
        settled = true;
        deadline?.cancel();
        req.signal?.removeEventListener("abort", onAbort);
        if (err === undefined) resolve(value as T);
        else {
          // Abandoned mid-call: its answer may still come, on this connection only.
          if (conn && !conn.gone) conn.destroy();
          reject(err);
        }
      };
      const onAbort = () => finish(req.signal!.reason);
      const send = (reusesLeft: number) => {
        const reused = this.#takeIdle(p);
        const c = reused ?? this.#connect(target, p);
        conn = c;
        c.send(text, (err, res, answered) => {
          if (settled) return;
          if (err !== undefined) {
            c.destroy();
            // Written on an open connection (or partly answered): the server may have applied it.
            if (answered || c.opened) req.onLost?.();
            // A kept-alive connection the server closed while idle fails the
            // request written to it before any answer: send it again, on another
            // connection. (Should the server have applied it after all, a status
            // write's resourceVersion precondition makes the second a Conflict,
            // and a named create's AlreadyExists says so, told by onLost; a
            // `once` request is not sent again.) Not after close(), which is
            // what cut it.
            if (!answered && reused && reusesLeft > 0 && !p.closed && !req.once) send(reusesLeft - 1);
            else
              finish(
                new TransportError(`client: ${what} failed: ${err.message}`, {
                  cause: err,
                  kind: err instanceof HttpProtocolError && !err.truncated ? "protocol" : failureOfSocketError(err),
                }),
              );
            return;
          }
          this.#release(p, c, res!);
          conn = undefined;
          try {
            finish(undefined, answer<T>(res!.status, res!.body.toString("utf8"), what));
          } catch (e) {
            finish(e);
          }
        });
        // After the write (the idle timeout cannot fire in between): two calls into the socket's handle less before it.
        if (reused) this.#busy(c);
      };
      // The request is written first, the deadline and the abort listener
      // armed after it: nothing can fire between the two (both are this
      // synchronous step), and the answer cannot come before a later turn.
      // Adding a listener to an AbortSignal costs 5-30 µs (Node 20), which
      // the write need not wait for.
      let deadline: Timer | undefined;
      send(MAX_STALE_RETRIES);
      if (settled) return;
      deadline = this.#clock.after(req.timeoutMs, () => finish(new TimeoutError(`client: ${what}: no answer within ${req.timeoutMs} ms`)));
      req.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Closes every pooled connection; calls on them fail with TransportError. */
  close(): void {
    for (const pool of this.#pools.values()) {
      pool.closed = true;
      for (const c of [...pool.all]) c.socket.destroy();
    }
    this.#pools.clear();
  }

  /** The newest idle connection of `pool`, taken out of it, if there is one (`#busy` it once the request is written). */
  #takeIdle(pool: Pool): Connection | undefined {
    for (let c = pool.idle.pop(); c; c = pool.idle.pop()) if (!c.gone) return c;
    return undefined;
  }

  /** A connection taken from the pool now carries a request: no idle timeout, and it holds the process. */
  #busy(c: Connection): void {
    c.socket.setTimeout(0);
    c.socket.ref();
  }

  /** After an answer: back to the pool if the connection may carry another request, else closed. */
  #release(pool: Pool, c: Connection, res: HttpResponse): void {
    if (!res.keepAlive || c.gone || pool.closed) {
      c.destroy();
      return;
    }
    if (res.keepAliveMs !== undefined) c.socket.setTimeout(Math.max(res.keepAliveMs - KEEP_ALIVE_MARGIN_MS, 100));
    c.socket.unref();
    pool.idle.push(c);
  }

  #connect(target: Target, pool: Pool): Connection {
    const url = pool.base;
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const tls = url.protocol === "https:";
    const port = Number(url.port || (tls ? 443 : 80));
    const lookup = target.lookup ? { lookup: target.lookup } : {};
    let socket: Socket;
    if (tls) {
      const t = this.#o.tls ?? {};
      socket = tlsConnect({
        host,
        port,
        ...lookup,
        servername: t.servername ?? (isIP(host) ? undefined : host),
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        rejectUnauthorized: t.rejectUnauthorized,
        ALPNProtocols: ["http/1.1"],
        session: pool.session,
      });
      socket.on("session", (session: Buffer) => (pool.session = session));
    } else socket = netConnect({ host, port, ...lookup });
    const c = new Connection(socket, (gone) => pool.all.delete(gone));
    // From then on a request's bytes can reach the server (over TLS, only once the handshake is done).
    socket.once(tls ? "secureConnect" : "connect", () => (c.opened = true));
    pool.all.add(c);
    return c;
  }
}

/** The object of a 2xx answer; otherwise the error its Status names, or TransportError. */
function answer<T>(code: number, body: string, what: string): T {
  if (code >= 200 && code < 300) return parseObject<T>(body, `${what} response`);
  let status: Partial<Status> | undefined;
  try {
    status = JSON.parse(body) as Partial<Status>;
  } catch {
    // not a Status: below
  }
  if (typeof status?.reason === "string" && typeof status.message === "string") throw errorOfStatus(status as Status);
  throw new TransportError(`client: ${what} answered HTTP ${code}`, { code, kind: "http" });
}
