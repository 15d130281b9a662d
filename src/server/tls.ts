// TLS for the HTTP/WebSocket port and the gRPC port (API.md §8): the
// certificate and key from `--tls-cert-file` / `--tls-private-key-file`, the
// client CA from `--client-ca-file`, TLS 1.2 or newer. The files are read
// again every `reloadIntervalMs`; when their bytes change, both listeners
// switch to the new certificate for new connections (open ones keep theirs).
// A change that does not load (a key that does not match its certificate, a
// half-written file) is logged and the previous certificate stays in use.
//
// With a client CA, both listeners ask for a client certificate but do not
// require one (a caller may use a token instead); a certificate that does not
// verify against the CA proves nothing (the socket is not `authorized`).

import { readFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { RequestListener } from "node:http";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { systemClock, type Clock, type Timer } from "../clock.ts";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA whose client certificates authenticate (CN = user, O = groups). */
  clientCaFile?: string;
}

export interface TlsOptions {
  /** How often the files are checked for changes. Default 10000 ms. */
  reloadIntervalMs?: number;
  log?: Logger;
  clock?: Clock;
}

/** The lowest protocol version served. */
export const MIN_TLS_VERSION = "TLSv1.2";

/** Go's net/http answer (so kube-apiserver's) to plain HTTP on a TLS port. */
export const PLAIN_HTTP_ANSWER = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/**
 * Answers a plain HTTP request sent to the TLS port (`http://` for
 * `https://`) as Go's server and so kube-apiserver do, 400 `Client sent an
 * HTTP request to an HTTPS server.`, instead of closing the connection
 * without a word (curl: `Empty reply from server`, kubectl: `EOF`). OpenSSL
 * recognizes the request (ERR_SSL_HTTP_REQUEST); the answer goes on the TCP
 * socket under the failed TLS one, found by its peer's address and port.
 */
function answerPlainHttp(server: HttpsServer): void {
  const raw = new Map<string, Socket>();
  const keyOf = (s: { remoteAddress?: string; remotePort?: number }) => `${s.remoteAddress}|${s.remotePort}`;
  server.on("connection", (socket: Socket) => {
    const key = keyOf(socket);
    raw.set(key, socket);
    socket.once("close", () => {
      if (raw.get(key) === socket) raw.delete(key);
    });
  });
  // Node destroys the TLS socket itself after this event, whatever the listener does.
  server.on("tlsClientError", (err: NodeJS.ErrnoException, tls: Socket) => {
    const socket = raw.get(keyOf(tls));
    if (err.code === "ERR_SSL_HTTP_REQUEST" && socket?.writable) socket.end(PLAIN_HTTP_ANSWER);
  });
}

interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** Reads and checks the files; throws an Error naming them. */
function load(files: TlsFiles): Loaded {
  const names = `--tls-cert-file ${files.certFile}, --tls-private-key-file ${files.keyFile}${files.clientCaFile === undefined ? "" : `, --client-ca-file ${files.clientCaFile}`}`;
  try {
    const loaded: Loaded = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
    if (files.clientCaFile !== undefined) loaded.ca = readFileSync(files.clientCaFile);
    createSecureContext({ ...loaded, minVersion: MIN_TLS_VERSION }); // throws if the key does not fit the certificate
    return loaded;
  } catch (err) {
    throw new Error(`tls: ${names} do not load: ${(err as Error).message}`, { cause: err });
  }
}

const same = (a: Loaded, b: Loaded) =>
  a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca));

/** gRPC server credentials whose certificate can be replaced while serving. */
class ReloadableGrpcCredentials extends grpc.ServerCredentials {
  constructor(context: SecureContextOptions, requestCert: boolean) {
    super({ requestCert, rejectUnauthorized: false, minVersion: MIN_TLS_VERSION }, context);
  }
  update(context: SecureContextOptions): void {
    this.updateSecureContextOptions(context);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** The serving certificate, kept current from its files. */
export class TlsCertificates {
  readonly #files: TlsFiles;
  readonly #log: Logger | undefined;
  #current: Loaded;
  readonly #servers = new Set<HttpsServer>();
  readonly #grpc = new Set<ReloadableGrpcCredentials>();
  readonly #timer: Timer;
  #reloads = 0;

  /** Loads the files now (throws if they do not load) and checks them every `reloadIntervalMs`. */
  constructor(files: TlsFiles, options: TlsOptions = {}) {
    this.#files = files;
    this.#log = options.log;
    this.#current = load(files);
    this.#timer = (options.clock ?? systemClock).every(options.reloadIntervalMs ?? 10_000, () => this.reload());
  }

  /** Whether client certificates are asked for. */
  get clientCa(): boolean {
    return this.#files.clientCaFile !== undefined;
  }

  /** How many times a changed certificate was taken into use. */
  get reloads(): number {
    return this.#reloads;
  }

  #context(): SecureContextOptions {
    return { ...this.#current, minVersion: MIN_TLS_VERSION };
  }

  /** Reads the files; if they changed and load, every listener serves them to new connections. */
  reload(): boolean {
    let next: Loaded;
    try {
      next = load(this.#files);
    } catch (err) {
      this.#log?.warn({ err }, "tls: certificate files do not load; keeping the current certificate");
      return false;
    }
    if (same(next, this.#current)) return false;
    this.#current = next;
    this.#reloads++;
    const context = this.#context();
    for (const s of this.#servers) s.setSecureContext(context);
    for (const c of this.#grpc) c.update(context);
    this.#log?.info({ certFile: this.#files.certFile }, "tls: serving a new certificate");
    return true;
  }

  /** An HTTPS server (TLS 1.2+, client certificates asked for with a client CA) that follows reloads. */
  createHttpsServer(options: { keepAliveTimeout?: number; maxHeaderSize?: number }, listener: RequestListener): HttpsServer {
    const server = createHttpsServer({ ...this.#context(), requestCert: this.clientCa, rejectUnauthorized: false, ...options }, listener);
    answerPlainHttp(server);
    this.#servers.add(server);
    server.once("close", () => this.#servers.delete(server));
    return server;
  }

  /** gRPC server credentials that follow reloads. */
  grpcCredentials(): grpc.ServerCredentials {
    const c = new ReloadableGrpcCredentials(this.#context(), this.clientCa);
    this.#grpc.add(c);
    return c;
  }

  /** Stops checking the files. */
  close(): void {
    this.#timer.cancel();
  }
}
