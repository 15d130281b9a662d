// grpc-js hands the target's host to tls.connect as `servername` even when it
// is an IP address (grpc/grpc-node#1919, open), and Node then prints, once per
// process, "[DEP0123] DeprecationWarning: Setting the TLS ServerName to an IP
// address is not permitted by RFC 6066" on the first TLS connection: every
// agent started against https://127.0.0.1 (docs/security.md's walkthrough) or
// a pod IP said so, though nothing is wrong and nothing can be done about it
// from the outside. Once a client makes a TLS gRPC connection to an IP
// address, that one warning (by its code) is dropped; every other warning,
// DEP0123 from other causes before that moment included, goes through.

import { isIP } from "node:net";

let quieted = false;

/** The host of a gRPC `host:port` (`[v6]:port` too), without brackets. */
function hostOf(address: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const colon = address.lastIndexOf(":");
  return colon === -1 || address.indexOf(":") !== colon ? address : address.slice(0, colon);
}

/** Drops Node's DEP0123 warning from here on if any of these gRPC addresses (or the TLS server name) is an IP address. */
export function quietIpServerNameWarning(addresses: readonly string[], servername?: string): void {
  if (quieted) return;
  const names = servername ? [servername] : addresses.map(hostOf);
  if (!names.some((n) => isIP(n) !== 0)) return;
  quieted = true;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    // emitWarning(warning, type, code) or emitWarning(warning, { type, code }).
    const code = typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1];
    if (code === "DEP0123") return;
    (emitWarning as (this: NodeJS.Process, ...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
}
