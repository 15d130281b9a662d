// A request's target (path and query) parsed once per request, with its
// route: the security gate and the REST handler both read it. A plain target
// (printable ASCII, no percent-escapes, dot segments or fragment) is split by
// hand, which gives what WHATWG URL parsing gives at a fraction of the cost;
// anything else goes through `new URL`.
//
// A path with a "." or ".." segment (also as %2e, or after a backslash) is
// malformed (400): URL parsing would drop the segment, and a DELETE of an
// object named "." (`…/widgets/%2e`, or `…/widgets/.` as a client library
// sends it) would become a deletecollection of every widget. kube-apiserver
// refuses such a name: `Name parameter invalid: ".": may not be '.'`.

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
  if (hasDotSegment(raw)) return undefined;
  let url: URL;
  try {
    url = new URL(raw, "http://setpoint");
  } catch {
    return undefined;
  }
  return { pathname: url.pathname, searchParams: url.searchParams, route: parseRoute(url.pathname) };
}

/** A path segment URL parsing reads as "." or "..": literal or percent-encoded, split by "/" or "\\". */
const DOT_LIKE = /^(?:\.|%2e){1,2}$/i;

/** Whether the path of request target `raw` has a "." or ".." segment (which URL parsing would remove). */
export function hasDotSegment(raw: string): boolean {
  return dotSegmentOf(raw) !== undefined;
}

/** The first segment of `raw`'s path that URL parsing reads as "." or ".." (it drops tabs and newlines first). */
function dotSegmentOf(raw: string): string | undefined {
  const end = raw.search(/[?#]/);
  const path = (end < 0 ? raw : raw.slice(0, end)).replace(/[\t\n\r]/g, "");
  if (!path.includes(".") && !/%2e/i.test(path)) return undefined;
  return path.split(/[/\\]/).find((segment) => DOT_LIKE.test(segment));
}

/** Why `raw` is not a target the server reads (parseTarget gave undefined), in a 400's words. */
export function malformedTargetMessage(raw: string): string {
  const segment = dotSegmentOf(raw);
  if (segment === undefined) return "malformed request URL";
  const dots = segment.replace(/%2e/gi, ".");
  return `invalid request path: segment ${JSON.stringify(segment)} may not be '${dots}'`;
}
