// Authentication (API.md §8): who is asking. Three sources, as kube-apiserver
// has them: the static token file (`--token-auth-file`, kube's CSV format),
// the `--token` shorthand (one token of user `admin` in `system:masters`), and
// client certificates verified against `--client-ca-file` (CN is the user, O
// the groups). The TLS layer verifies the chain (src/server/tls.ts); this
// module only reads a verified certificate's subject.
//
// Token comparison takes constant time: a presented token is hashed (SHA-256)
// and the digest is compared with crypto.timingSafeEqual against the stored
// digest found under it, so neither the lookup nor the comparison leaks how
// much of a token was right. With no source configured, `enabled` is false and
// every caller is `system:anonymous` (the embedded single-user default).

import { hash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { PeerCertificate } from "node:tls";

/** Who a request comes from, as Kubernetes' user.Info. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
}

/** What a request carried: a bearer token, a verified client certificate, both or neither. */
export interface Credentials {
  token?: string;
  /** Only a certificate whose chain the TLS layer verified against the client CA. */
  certificate?: PeerCertificate;
}

export const MASTERS_GROUP = "system:masters";
export const AUTHENTICATED_GROUP = "system:authenticated";
export const UNAUTHENTICATED_GROUP = "system:unauthenticated";
export const ANONYMOUS: UserInfo = Object.freeze({ name: "system:anonymous", groups: [UNAUTHENTICATED_GROUP] }) as UserInfo;

export interface AuthenticatorOptions {
  /** Path of a static token file: `token,user,uid,"group1,group2"` per line. */
  tokenAuthFile?: string;
  /** Shorthand: one token of user `admin` in group `system:masters`. */
  token?: string;
  /** Whether verified client certificates authenticate (the server was given `--client-ca-file`). */
  clientCertificates?: boolean;
}

interface TokenEntry {
  digest: Buffer;
  user: UserInfo;
}

/** A bad token file line or option. */
export class AuthConfigError extends Error {
  override name = "AuthConfigError";
}

const digestOf = (token: string): Buffer => hash("sha256", token, "buffer");

/**
 * Parses one CSV line as kube's static token file does (Go's encoding/csv):
 * a field may be quoted, and then hold commas and `""` for a quote. Returns
 * the reason instead for a quote anywhere else or one left open, which Go's
 * reader refuses.
 */
function csvFields(line: string): string[] | string {
  const out: string[] = [];
  let field = "";
  let quoted = false;
  let closed = false; // a quoted field just ended: only a comma may follow
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
        closed = true;
      } else field += c;
    } else if (c === ",") {
      out.push(field);
      field = "";
      closed = false;
    } else if (closed && (c === " " || c === "\t")) {
      // blanks after a closing quote are trimmed with the field
    } else if (c === '"' && !closed && field.trim() === "") {
      quoted = true;
      field = "";
    } else if (closed) return `text after the closing quote of field ${out.length + 1}`;
    else if (c === '"') return `stray quote in field ${out.length + 1} (quote the whole field, and double quotes inside it)`;
    else field += c;
  }
  if (quoted) return `quote not closed in field ${out.length + 1}`;
  out.push(field);
  return out;
}

/**
 * Reads a static token file's text: one `token,user,uid[,"groups"]` line per
 * token, blank lines and `#` comments skipped. Throws AuthConfigError naming
 * the line.
 */
export function parseTokenFile(text: string, source = "token file"): Array<{ token: string; user: UserInfo }> {
  const out: Array<{ token: string; user: UserInfo }> = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = csvFields(line);
    if (typeof fields === "string") throw new AuthConfigError(`${source}: line ${i + 1}: ${fields}`);
    const f = fields.map((s) => s.trim());
    if (f.length < 3 || f[0] === "" || f[1] === "") throw new AuthConfigError(`${source}: line ${i + 1}: want token,user,uid[,"group1,group2"]`);
    if (seen.has(f[0]!)) throw new AuthConfigError(`${source}: line ${i + 1}: duplicate token`);
    seen.add(f[0]!);
    const groups = (f[3] ?? "")
      .split(",")
      .map((g) => g.trim())
      .filter((g) => g !== "");
    const user: UserInfo = { name: f[1]!, groups };
    if (f[2] !== "") user.uid = f[2]!;
    out.push({ token: f[0]!, user });
  });
  return out;
}

/** Turns credentials into a user, or undefined when they prove nothing. */
export class Authenticator {
  readonly #tokens = new Map<string, TokenEntry>();
  readonly #certificates: boolean;

  constructor(options: AuthenticatorOptions = {}) {
    if (options.tokenAuthFile !== undefined) {
      const text = readFileSync(options.tokenAuthFile, "utf8");
      for (const { token, user } of parseTokenFile(text, options.tokenAuthFile)) this.#add(token, user);
    }
    if (options.token !== undefined) this.#add(options.token, { name: "admin", groups: [MASTERS_GROUP] });
    this.#certificates = options.clientCertificates ?? false;
  }

  #add(token: string, user: UserInfo): void {
    const digest = digestOf(token);
    this.#tokens.set(digest.toString("latin1"), { digest, user });
  }

  /** True once any source is configured: then requests without valid credentials get 401. */
  get enabled(): boolean {
    return this.#tokens.size > 0 || this.#certificates;
  }

  /**
   * The user the credentials prove, with `system:authenticated` added; undefined
   * if they prove nothing. A token, when present, decides (as kube's union
   * authenticator tries the certificate first, then the token: a valid
   * certificate wins).
   */
  authenticate(credentials: Credentials): UserInfo | undefined {
    const cert = this.#certificates && credentials.certificate ? userOfCertificate(credentials.certificate) : undefined;
    if (cert) return withAuthenticated(cert);
    if (credentials.token === undefined || this.#tokens.size === 0) return undefined;
    const digest = digestOf(credentials.token);
    const entry = this.#tokens.get(digest.toString("latin1"));
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
    return withAuthenticated(entry.user);
  }
}

function withAuthenticated(user: UserInfo): UserInfo {
  if (user.groups.includes(AUTHENTICATED_GROUP)) return user;
  return { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}

/** User = CN, groups = every O of a certificate's subject; undefined without a CN. */
export function userOfCertificate(cert: PeerCertificate): UserInfo | undefined {
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined> | undefined;
  if (!subject) return undefined;
  const cn = Array.isArray(subject.CN) ? subject.CN[0] : subject.CN;
  if (!cn) return undefined;
  const o = subject.O;
  return { name: cn, groups: o === undefined ? [] : Array.isArray(o) ? [...o] : [o] };
}

/**
 * The token of an `Authorization: Bearer <token>` header, read as
 * kube-apiserver's bearertoken authenticator reads it: the header trimmed and
 * split at single spaces, the scheme matched case-insensitively, the token
 * the text between the first space and the next. So `Bearer  abc` (two
 * spaces) and `Bearer\tabc` carry no token, and `Bearer abc xyz` carries
 * `abc`, as with a cluster.
 */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const parts = header.trim().split(" ", 2);
  if (parts.length < 2 || parts[0]!.toLowerCase() !== "bearer") return undefined;
  return parts[1] === "" ? undefined : parts[1];
}

/** kube-apiserver's warning for `Bearer  TOKEN` (bearertoken's invalidTokenWithSpaceWarning), sent with the answer. */
export const EXTRA_SPACE_WARNING = "the provided Authorization header contains extra space before the bearer token, and is ignored";

/**
 * Whether `header` is `Bearer` followed by more than one space before the
 * token (`Bearer  abc`): it carries no token (bearerOf), and kube-apiserver
 * says why in a `Warning` header (EXTRA_SPACE_WARNING) of its answer, the 401
 * included, as its bearertoken authenticator does when the header split at
 * single spaces has three parts and an empty second one.
 */
export function hasExtraSpaceBeforeToken(header: string | undefined): boolean {
  if (header === undefined) return false;
  const parts = header.trim().split(" ", 3);
  return parts.length === 3 && parts[0]!.toLowerCase() === "bearer" && parts[1] === "";
}

/** kube-apiserver's WebSocket subprotocol prefix for a bearer token (browsers cannot set headers). */
export const BEARER_SUBPROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io.";

/**
 * The token carried in a `Sec-WebSocket-Protocol` header's
 * `base64url.bearer.authorization.k8s.io.<base64url(token)>` entry, if any.
 */
export function bearerOfSubprotocols(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const p of header.split(",")) {
    const s = p.trim();
    if (!s.startsWith(BEARER_SUBPROTOCOL_PREFIX)) continue;
    const encoded = s.slice(BEARER_SUBPROTOCOL_PREFIX.length);
    if (encoded === "" || !/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
    const token = Buffer.from(encoded, "base64url").toString("utf8");
    return token === "" ? undefined : token;
  }
  return undefined;
}
