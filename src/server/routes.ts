// URL paths of the API (API.md §4) parsed into routes. Pure: no I/O.

import type { ResourceRef } from "../api/resources.ts";

export type Route =
  | { kind: "healthz" | "readyz" | "livez" | "metrics" | "version" | "api" | "api-v1" | "apis" | "openapi-v3" }
  | { kind: "openapi-group-version"; group: string; version: string }
  | { kind: "group"; group: string }
  | { kind: "group-version"; group: string; version: string }
  | { kind: "collection"; ref: ResourceRef }
  | { kind: "object"; ref: ResourceRef }
  | { kind: "status"; ref: ResourceRef };

const FIXED: Record<string, Route> = {
  "/healthz": { kind: "healthz" },
  "/readyz": { kind: "readyz" },
  "/livez": { kind: "livez" },
  "/metrics": { kind: "metrics" },
  "/version": { kind: "version" },
  "/api": { kind: "api" },
  "/api/v1": { kind: "api-v1" },
  "/apis": { kind: "apis" },
  "/openapi/v3": { kind: "openapi-v3" },
};

/** The route for a path, or undefined (404). Segments are percent-decoded. */
export function parseRoute(pathname: string): Route | undefined {
  const trimmed = pathname.length > 1 && pathname.endsWith("/") ? pathname.slice(0, -1) : pathname;
  const fixed = FIXED[trimmed];
  if (fixed) return fixed;
  if (!trimmed.startsWith("/apis/")) {
    const openapi = /^\/openapi\/v3\/apis\/([^/]+)\/([^/]+)$/.exec(trimmed);
    return openapi ? { kind: "openapi-group-version", group: openapi[1]!, version: openapi[2]! } : undefined;
  }
  let segs = trimmed.slice("/apis/".length).split("/");
  if (trimmed.includes("%")) {
    try {
      segs = segs.map(decodeURIComponent);
    } catch {
      return undefined;
    }
  }
  if (segs.some((s) => s === "")) return undefined;
  const [group, version, ...rest] = segs;
  if (group === undefined) return undefined;
  if (version === undefined) return { kind: "group", group };
  if (rest.length === 0) return { kind: "group-version", group, version };
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest.splice(0, 2);
  }
  const [plural, name, sub, ...extra] = rest;
  if (plural === undefined || extra.length > 0) return undefined;
  const ref: ResourceRef = { group, version, plural, namespace, name };
  if (name === undefined) return { kind: "collection", ref };
  if (sub === undefined) return { kind: "object", ref };
  if (sub === "status") return { kind: "status", ref };
  return undefined;
}
