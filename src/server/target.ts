// A request's target (path and query) parsed once per request, with its
// route: the security gate and the REST handler both read it. A plain target
// (printable ASCII, no percent-escapes, dot segments or fragment) is split by
// hand, which gives what WHATWG URL parsing gives at a fraction of the cost;
// anything else goes through `new URL`.

import type { IncomingMessage } from "node:http";
import { parseRoute, type Route } from "./routes.ts";

/** A request's path and query, and the route the path names (undefined: none). */
export interface RequestTarget {
  pathname: string;
  searchParams: URLSearchParams;
  route: Route | undefined;
}

/** Where a request keeps its parsed target: a property of its own (a WeakMap entry per request cost more, and more GC). */
const TARGET = Symbol("setpoint.requestTarget");

/** The parsed target of `req` (parsed on the first call); undefined when it is malformed. */
export function requestTarget(req: IncomingMessage): RequestTarget | undefined {
  const holder = req as IncomingMessage & { [TARGET]?: RequestTarget | null };
  let target = holder[TARGET];
  if (target === undefined) {
    target = parseTarget(req.url ?? "/") ?? null;
    holder[TARGET] = target;
  }
  return target ?? undefined;
}

/** Unreserved characters and "/": such a path is its own WHATWG URL pathname, unless it has dot segments or starts with "//". */
const PLAIN_PATH = /^\/[A-Za-z0-9._~/-]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
/** Printable ASCII but "#": such a query gives the same parameters parsed as is as URL parsing gives. */
const PLAIN_QUERY = /^[!-"$-~]*$/;

/** Parses a request target as `new URL(target, "http://setpoint")` would; undefined when it is malformed. */
export function parseTarget(raw: string): RequestTarget | undefined {
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? "" : raw.slice(q + 1);
  if (PLAIN_PATH.test(path) && !path.startsWith("//") && !DOT_SEGMENT.test(path) && PLAIN_QUERY.test(query)) {
    // URLSearchParams drops one leading "?": give it the one that split the target off.
    return { pathname: path, searchParams: new URLSearchParams(q < 0 ? "" : raw.slice(q)), route: parseRoute(path) };
  }
  let url: URL;
  try {
    url = new URL(raw, "http://setpoint");
  } catch {
    return undefined;
  }
  return { pathname: url.pathname, searchParams: url.searchParams, route: parseRoute(url.pathname) };
}
