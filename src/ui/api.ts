// The console's REST calls and credentials. The token lives in
// sessionStorage only (gone when the tab closes); it is sent as
// `Authorization: Bearer` here and as the WebSocket subprotocol by the watch
// client. A 401 anywhere tells the listeners, so the app can ask for a token.

import type { WatchFailure } from "../client/watch-client.ts";

const TOKEN_KEY = "setpoint.console.token";

/** An API error as the server's Status describes it. */
export interface ApiFailure extends WatchFailure {
  causes?: Array<{ field?: string; message?: string }>;
}

export class ApiRequestError extends Error {
  override name = "ApiRequestError";
  readonly failure: ApiFailure;
  constructor(failure: ApiFailure) {
    super(`${failure.code} ${failure.reason}: ${failure.message}`);
    this.failure = failure;
  }
}

const unauthorizedListeners = new Set<(f: WatchFailure) => void>();

export const auth = {
  token(): string | undefined {
    try {
      return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
    } catch {
      return undefined;
    }
  },
  setToken(token: string | undefined): void {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** Calls `fn` on every 401; returns the function that stops it. */
  onUnauthorized(fn: (f: WatchFailure) => void): () => void {
    unauthorizedListeners.add(fn);
    return () => unauthorizedListeners.delete(fn);
  },
  /**
   * Reports a 401 to a request or watch made with `usedToken`. One made with
   * an earlier token (still in flight when the user signed in) is not a
   * reason to ask again, so it is dropped.
   */
  unauthorized(f: WatchFailure, usedToken: string | undefined): void {
    if (usedToken !== auth.token()) return;
    for (const fn of unauthorizedListeners) fn(f);
  },
};

/**
 * Human words for a failure: 401 and 403 say what they mean. A 401 while a
 * token is set means the server refused that token (a 401 for an earlier
 * token is dropped, see `auth.unauthorized`), which is not the same news as
 * "no token yet": a mistyped token must not look like nothing happened.
 */
export function describeFailure(f: WatchFailure): string {
  if (f.code === 401) {
    const detail = f.message && f.message !== "Unauthorized" ? `: ${f.message}` : "";
    return auth.token()
      ? `Token refused (401 Unauthorized)${detail || ": this server does not accept the token given (mistyped, revoked, or another server's)"}`
      : `Not signed in (401 Unauthorized)${detail || ": this server needs a bearer token"}`;
  }
  if (f.code === 403) return `Not allowed (403 Forbidden): ${f.message}`;
  if (f.code === 0) return `${f.reason}: ${f.message}`;
  return `${f.code} ${f.reason}: ${f.message}`;
}

/** Sends a request to the API; resolves to the parsed JSON (or text) of a 2xx answer, else throws ApiRequestError. */
export async function request(method: string, path: string, options: { body?: string; contentType?: string } = {}): Promise<any> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = auth.token();
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
  let res: Response;
  try {
    // A browser's User-Agent gets indented JSON, as from kube-apiserver (src/server/pretty.ts): this page parses it, so it asks for the compact form.
    res = await fetch(`${path}${path.includes("?") ? "&" : "?"}pretty=false`, { method, headers, body: options.body });
  } catch (err) {
    throw new ApiRequestError({ code: 0, reason: "Unreachable", message: `cannot reach the server: ${(err as Error).message}` });
  }
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (metrics): keep the text
  }
  if (res.ok) return body;
  const failure: ApiFailure =
    body && typeof body === "object" && body.kind === "Status"
      ? { code: Number(body.code) || res.status, reason: String(body.reason ?? ""), message: String(body.message ?? ""), causes: body.details?.causes }
      : { code: res.status, reason: res.statusText, message: typeof body === "string" ? body.slice(0, 300) : "" };
  if (failure.code === 401) auth.unauthorized(failure, token);
  throw new ApiRequestError(failure);
}

export const api = {
  get: (path: string) => request("GET", path),
  create: (path: string, object: unknown) => request("POST", path, { body: JSON.stringify(object) }),
  replace: (path: string, object: unknown) => request("PUT", path, { body: JSON.stringify(object) }),
  mergePatch: (path: string, patch: unknown) => request("PATCH", path, { body: JSON.stringify(patch), contentType: "application/merge-patch+json" }),
  remove: (path: string) => request("DELETE", path),
};
