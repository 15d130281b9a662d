// A live view of one list path for browsers and Node: lists, then watches
// from the list's revision over a WebSocket, resumes after a drop from the
// last revision it saw (events and bookmarks), and relists when the server
// answers 410 Expired. Runs unchanged in a browser (global WebSocket and
// fetch) and in Node 20, which has fetch but no WebSocket: pass `ws`'s
// class as `WebSocket`. No Node or DOM imports: only the standard globals.
//
// Contract: `onSync` gets the whole state at a revision (the first list, and
// every relist after 410: replace what you hold, deletions you missed
// included); then `onEvent` gets every later ADDED, MODIFIED and DELETED,
// in revision order, exactly once, across reconnects. `onState` tells the
// connection state for display. 400, 401, 403 and 422 stop the watch (state
// `failed`): fix the selector or ask for credentials, then start a new one.
// Other failures are retried with backoff, from the last revision.
//
// Credentials: `token` is sent as `Authorization: Bearer` on lists and, as a
// browser cannot set headers on a WebSocket, as the subprotocol
// `base64url.bearer.authorization.k8s.io.<base64url(token)>` offered together
// with `watch.setpoint.dev` (API.md §8).
//
// @example
// import { watchList } from "setpoint/watch-client";
// import WebSocket from "ws"; // Node only; a browser has its own
// const view = watchList({
//   server: "http://127.0.0.1:8080",
//   path: "/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns",
//   WebSocket,
//   onSync: (items, rv) => console.log("state at", rv, items.length),
//   onEvent: (e) => console.log(e.type, e.object.metadata.name),
//   onState: (s) => console.log(s.phase, s.error?.message ?? ""),
// });
// // later: view.close();

/** An object as the API sends it (API.md §1); only `metadata` is relied on. */
export interface WatchedObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** One change after the last sync. */
export interface ChangeEvent<T extends WatchedObject = WatchedObject> {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: T;
}

/** What went wrong, in the server's terms when it said (a Kubernetes Status). */
export interface WatchFailure {
  /** HTTP status code, 0 when the server could not be reached. */
  code: number;
  /** Status reason, e.g. `Unauthorized`, `Forbidden`, `NotFound`; `Unreachable` without an answer. */
  reason: string;
  message: string;
}

/**
 * `connecting`: listing or opening the watch; `live`: the watch is open;
 * `retrying`: it dropped or failed, another try follows (see `error`);
 * `failed`: stopped for good (400, 401, 403, 422); `closed`: `close()` was called.
 */
export interface WatchState {
  phase: "connecting" | "live" | "retrying" | "failed" | "closed";
  /** The newest revision delivered (events and bookmarks), if any. */
  revision?: string;
  error?: WatchFailure;
  /** Failed tries since the watch was last live. */
  attempt: number;
}

/** The part of the WHATWG WebSocket this client uses (a browser's, or `ws`'s). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface WatchListOptions<T extends WatchedObject = WatchedObject> {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (in a page: `location.origin`). */
  server: string;
  /** A list path: `/apis/G/V/PLURAL` or `/apis/G/V/namespaces/NS/PLURAL`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Bearer token; a function is asked again at every (re)connect. Default: none. */
  token?: string | (() => string | undefined);
  /** WebSocket class. Default: `globalThis.WebSocket` (required in Node 20: pass `ws`'s). */
  WebSocket?: WebSocketConstructorLike;
  /** fetch. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Items per list page. Default 500. */
  pageSize?: number;
  /** Milliseconds to wait before try `attempt` (1-based). Default: 250 ms doubling to 5 s, with jitter. */
  retryDelay?: (attempt: number) => number;
  /** Aborting closes the watch, like `close()`. */
  signal?: AbortSignal;
  /** The whole state at `revision`: after the first list and every relist. */
  onSync(items: T[], revision: string): void;
  /** A change after the last sync, in revision order. */
  onEvent(event: ChangeEvent<T>): void;
  /** Connection state changes, for display. */
  onState?(state: WatchState): void;
}

export interface WatchList {
  /** The newest revision delivered, if any. */
  readonly revision: string | undefined;
  readonly state: WatchState;
  /** Stops listing and watching; no callback runs after it returns. */
  close(): void;
}

/** The WebSocket subprotocol the server selects for watches. */
export const WATCH_SUBPROTOCOL = "watch.setpoint.dev";
/** Prefix of the subprotocol that carries a bearer token (kube-apiserver's form). */
export const BEARER_SUBPROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io.";

/** The subprotocols to offer for a watch: `watch.setpoint.dev`, plus the token's when there is one. */
export function watchSubprotocols(token?: string): string[] {
  return token ? [WATCH_SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX + base64url(token)] : [WATCH_SUBPROTOCOL];
}

/** base64url of the UTF-8 bytes of `text`, without padding. */
export function base64url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An error with the server's Status in it. */
export class WatchError extends Error {
  override name = "WatchError";
  readonly failure: WatchFailure;
  constructor(failure: WatchFailure, options?: { cause?: unknown }) {
    super(`watch: ${failure.code} ${failure.reason}: ${failure.message}`, options);
    this.failure = failure;
  }
}

/** Answers that another try cannot change: bad request (a selector), unauthorized, forbidden, invalid. */
const FINAL_CODES = new Set([400, 401, 403, 422]);

const defaultRetryDelay = (attempt: number): number => Math.min(5000, 250 * 2 ** Math.max(0, attempt - 1)) * (0.75 + Math.random() * 0.5);

/** Starts listing and watching `options.path`; see the file comment for the contract. */
export function watchList<T extends WatchedObject = WatchedObject>(options: WatchListOptions<T>): WatchList {
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
  if (WS === undefined) throw new TypeError("watchList: no WebSocket class: pass options.WebSocket (in Node 20, the `ws` package's)");
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  const pageSize = options.pageSize ?? 500;
  const tokenNow = () => (typeof options.token === "function" ? options.token() : options.token);

  let state: WatchState = { phase: "connecting", attempt: 0 };
  let revision: string | undefined;
  let socket: WebSocketLike | undefined;
  // The standard timers, not src/clock.ts: this file imports nothing (it ships alone); the injectable part is `retryDelay`.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  // Every connection gets a number; callbacks of an older one are ignored.
  let generation = 0;

  const setState = (next: Partial<WatchState>) => {
    if (closed && next.phase !== "closed") return;
    state = { ...state, ...next, revision };
    if (next.phase === "live" || next.phase === "connecting") delete state.error;
    options.onState?.(state);
  };

  const url = (extra: Record<string, string>, websocket: boolean) => {
    const u = new URL(options.path, options.server);
    if (options.labelSelector) u.searchParams.set("labelSelector", options.labelSelector);
    if (options.fieldSelector) u.searchParams.set("fieldSelector", options.fieldSelector);
    for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
    if (websocket) u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    // A browser's User-Agent gets indented JSON (as from kube-apiserver); this parses it: ask for the compact form.
    else u.searchParams.set("pretty", "false");
    return u.toString();
  };

  const get = async (target: string): Promise<any> => {
    const token = tokenNow();
    let res: Response;
    try {
      res = await doFetch(target, { headers: token ? { authorization: `Bearer ${token}`, accept: "application/json" } : { accept: "application/json" } });
    } catch (err) {
      throw new WatchError({ code: 0, reason: "Unreachable", message: `cannot reach the server: ${(err as Error).message}` }, { cause: err });
    }
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) throw new WatchError(failureOf(res.status, body, text));
    return body;
  };

  /** Lists every page at one revision and hands the whole state to onSync. */
  const list = async (gen: number) => {
    const items: T[] = [];
    let cont: string | undefined;
    let listRevision: string | undefined;
    do {
      const page = await get(url({ limit: String(pageSize), ...(cont ? { continue: cont } : {}) }, false));
      if (gen !== generation) return false;
      items.push(...((page?.items ?? []) as T[]));
      listRevision ??= String(page?.metadata?.resourceVersion ?? "");
      cont = page?.metadata?.continue || undefined;
    } while (cont);
    revision = listRevision;
    options.onSync(items, revision ?? "");
    return true;
  };

  const retry = (gen: number, failure: WatchFailure) => {
    if (gen !== generation || closed) return;
    generation++;
    socket = undefined;
    if (FINAL_CODES.has(failure.code)) {
      setState({ phase: "failed", error: failure });
      return;
    }
    const attempt = state.attempt + 1;
    setState({ phase: "retrying", error: failure, attempt });
    timer = setTimeout(() => void connect(), retryDelay(attempt));
  };

  /** Opens the watch from `revision`, listing first when there is none. */
  const connect = async () => {
    if (closed) return;
    const gen = ++generation;
    timer = undefined;
    setState({ phase: state.phase === "retrying" ? "retrying" : "connecting" });
    try {
      if (revision === undefined && !(await list(gen))) return;
    } catch (err) {
      return retry(gen, failureOfError(err));
    }
    if (gen !== generation || closed) return;
    let ws: WebSocketLike;
    try {
      ws = new WS(url({ resourceVersion: revision!, allowWatchBookmarks: "true" }, true), watchSubprotocols(tokenNow()));
    } catch (err) {
      return retry(gen, failureOfError(err));
    }
    socket = ws;
    let opened = false;
    ws.onopen = () => {
      if (gen !== generation) return;
      opened = true;
      setState({ phase: "live", attempt: 0 });
    };
    ws.onmessage = (msg) => {
      if (gen !== generation) return;
      let event: { type?: string; object?: any };
      try {
        event = JSON.parse(typeof msg.data === "string" ? msg.data : String(msg.data));
      } catch {
        ws.close(4000, "bad event");
        return retry(gen, { code: 0, reason: "BadEvent", message: "the server sent a watch event that is not JSON" });
      }
      const object = event.object;
      if (event.type === "ERROR") {
        ws.onclose = null;
        ws.close(1000, "error event");
        if (object?.code === 410) {
          // Our revision is compacted away: relist, then watch from the new one.
          generation++;
          revision = undefined;
          socket = undefined;
          setState({ phase: "connecting", error: failureOf(410, object, "") });
          void connect();
          return;
        }
        return retry(gen, failureOf(Number(object?.code) || 500, object, ""));
      }
      const rv = object?.metadata?.resourceVersion;
      if (typeof rv === "string" && rv !== "") revision = rv;
      if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
        options.onEvent({ type: event.type, object: object as T });
      }
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (gen !== generation) return;
      if (opened) {
        // The server ended the watch (timeout 1000, shutdown 1001, too slow 4008) or the connection dropped.
        return retry(gen, { code: 0, reason: "Disconnected", message: `the watch closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})` });
      }
      // The handshake failed; a browser does not say why, so ask the list path.
      void get(url({ limit: "1" }, false)).then(
        () => retry(gen, { code: 0, reason: "HandshakeFailed", message: `the watch could not be opened (${ev.code})` }),
        (err: unknown) => retry(gen, failureOfError(err)),
      );
    };
  };

  const handle: WatchList = {
    get revision() {
      return revision;
    },
    get state() {
      return state;
    },
    close() {
      if (closed) return;
      generation++;
      if (timer !== undefined) clearTimeout(timer);
      const ws = socket;
      socket = undefined;
      if (ws) {
        ws.onclose = null;
        ws.onmessage = null;
        if (ws.readyState <= 1) ws.close(1000, "closed by client");
      }
      setState({ phase: "closed" });
      closed = true;
      options.signal?.removeEventListener("abort", onAbort);
    },
  };
  const onAbort = () => handle.close();
  if (options.signal?.aborted) {
    closed = true;
    state = { phase: "closed", attempt: 0 };
    return handle;
  }
  options.signal?.addEventListener("abort", onAbort);
  setState({ phase: "connecting" });
  void connect();
  return handle;
}

function failureOf(code: number, body: any, text: string): WatchFailure {
  if (body && typeof body === "object" && body.kind === "Status") {
    return { code: Number(body.code) || code, reason: String(body.reason ?? "Unknown"), message: String(body.message ?? "") };
  }
  return { code, reason: code === 401 ? "Unauthorized" : code === 403 ? "Forbidden" : "Unknown", message: text.slice(0, 300) || `HTTP ${code}` };
}

function failureOfError(err: unknown): WatchFailure {
  if (err instanceof WatchError) return err.failure;
  return { code: 0, reason: "Unreachable", message: (err as Error)?.message ?? String(err) };
}
