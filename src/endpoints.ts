// The replicas behind server URLs: a URL whose host is a DNS name stands for
// every address the name resolves to (a Kubernetes headless Service, a
// round-robin A record), each one a target a client can fail over to. The
// connection goes to the target's address and port, while the Host header and
// TLS verification keep the URL's name.

import type { LookupAddress, LookupOptions } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";

/** One address and port a name resolves to. */
export interface Endpoint {
  address: string;
  port: number;
}

/**
 * Resolves a host name (with the URL's port) to its endpoints, in the order to
 * try them. The default, `dnsResolver`, is every address of the system's
 * resolver (A and AAAA, /etc/hosts) at that port; tests inject their own.
 */
export type Resolver = (hostname: string, port: number) => Promise<Endpoint[]>;

export const dnsResolver: Resolver = async (hostname, port) => (await dnsLookup(hostname, { all: true })).map((a) => ({ address: a.address, port }));

/** A `lookup` for node:net, node:http(s) and ws that always answers `address`, whatever the name. */
export type PinnedLookup = (
  hostname: string,
  options: LookupOptions,
  callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/** One place to send requests: `url` (its port the endpoint's) and, for a resolved name, the lookup that pins its address. */
export interface Target {
  url: string;
  lookup?: PinnedLookup;
  /** What to call it in messages: the URL, and the address it resolved to. */
  label: string;
}

function pinned(address: string): PinnedLookup {
  const family = isIP(address) || 4;
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

function defaultPort(url: URL): number {
  if (url.port !== "") return Number(url.port);
  return url.protocol === "https:" || url.protocol === "wss:" ? 443 : 80;
}

/**
 * The targets of `urls`, in order: a URL whose host is an IP address is one
 * target as it is; a name is one target per endpoint `resolve` gives (or the
 * URL as it is, when the name does not resolve: the request then fails with
 * the resolver's error, as without this).
 */
export async function resolveTargets(urls: readonly string[], resolve: Resolver = dnsResolver): Promise<Target[]> {
  const out: Target[] = [];
  for (const raw of urls) {
    const url = new URL(raw);
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    if (isIP(hostname)) {
      out.push({ url: raw, label: raw });
      continue;
    }
    let endpoints: Endpoint[] = [];
    try {
      endpoints = await resolve(hostname, defaultPort(url));
    } catch {
      // unresolvable: left to the request to report
    }
    if (endpoints.length === 0) {
      out.push({ url: raw, label: raw });
      continue;
    }
    for (const ep of endpoints) {
      const u = new URL(raw);
      u.port = String(ep.port);
      const href = raw.endsWith("/") ? u.href : u.href.replace(/\/$/, "");
      out.push({ url: href, lookup: pinned(ep.address), label: `${raw} (${ep.address.includes(":") ? `[${ep.address}]` : ep.address}:${ep.port})` });
    }
  }
  return out;
}
