// A KV.Txn and Watch client for one etcd member, with the hand-made codec of
// etcd-wire.ts instead of the etcd3 package's protobufjs conversions,
// connection pool and policies. The Txn and the watch (a long-lived stream,
// once per process) are bare gRPC calls over one node:http2 connection. The
// etcd store sends its writes to the leader through it and opens its watch
// there; everything else (ranges, status, compaction) still goes through the
// etcd3 package. Errors come out as the etcd3 package's typed errors
// (castGrpcError), so callers tell them apart as they do for calls made
// through it.

import { castGrpcError } from "etcd3";
import { EventEmitter } from "node:events";
import { connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import {
  decodeTxnResponse,
  decodeWatchResponse,
  encodeTxnRequest,
  encodeWatchRequest,
  type TxnRequest,
  type TxnResponse,
  type WatchCreate,
  type WatchResponse,
} from "./etcd-wire.ts";

export interface EtcdTxnClientOptions {
  /** The member's client URL, http:// or https://. */
  url: string;
  /** PEM contents for TLS, as the etcd3 package takes them. */
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /** Deadline of each call. */
  timeoutMs: number;
}

const TXN = "/etcdserverpb.KV/Txn";
const WATCH = "/etcdserverpb.Watch/Watch";

/** A watch stream: 'data' (WatchResponse), 'error', 'end'; write() sends a request, cancel() resets it. */
export interface EtcdWatchStream extends EventEmitter {
  write(req: WatchCreate): boolean;
  cancel(): void;
}

/** A gRPC failure as grpc-js reports one (an Error with a status code), for castGrpcError. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/** A call's gRPC status as its stream reports it: in the trailers, or in the headers of a trailers-only answer (an error). */
interface CallStatus {
  code: number | undefined;
  message: string;
}

/** Watches `s` for its gRPC status; an HTTP status other than 200 fails the call as UNAVAILABLE. */
function trackStatus(s: ClientHttp2Stream, fail: (err: Error) => void): CallStatus {
  const status: CallStatus = { code: undefined, message: "" };
  const read = (headers: Record<string, unknown>) => {
    if (headers["grpc-status"] !== undefined) {
      status.code = Number(headers["grpc-status"]);
      status.message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
    }
  };
  s.on("response", (headers) => {
    const code = Number(headers[h2.HTTP2_HEADER_STATUS]);
    if (code !== 200) fail(grpcError(UNAVAILABLE, `etcd: HTTP ${code}`));
    read(headers);
  });
  s.on("trailers", read);
  return status;
}

export class EtcdTxnClient {
  readonly #timeoutMs: number;
  readonly #url: string;
  readonly #tls: { ca?: Buffer; key?: Buffer; cert?: Buffer } | undefined;
  #session: ClientHttp2Session | undefined;
  /** The session of each open watch stream: a session is ref'd while a watch is open on it, as a grpc-js call keeps its channel. */
  readonly #watches = new Map<ClientHttp2Stream, ClientHttp2Session>();

  constructor(options: EtcdTxnClientOptions) {
    const secure = options.url.startsWith("https:");
    const c = options.credentials;
    this.#timeoutMs = options.timeoutMs;
    this.#url = options.url;
    this.#tls =
      secure || c
        ? {
            ...(c && c.rootCertificate.length > 0 ? { ca: c.rootCertificate } : {}),
            ...(c?.privateKey ? { key: c.privateKey } : {}),
            ...(c?.certChain ? { cert: c.certChain } : {}),
          }
        : undefined;
  }

  /** The HTTP/2 session the Txn calls share, opened again after it failed or closed. */
  #h2(): ClientHttp2Session {
    const live = this.#session;
    if (live && !live.closed && !live.destroyed) return live;
    const session = connect(this.#url.startsWith("http") ? this.#url : `http://${this.#url}`, this.#tls ?? {});
    session.on("error", () => {}); // each call sees its own stream fail
    session.on("goaway", () => session.close());
    session.on("close", () => {
      if (this.#session === session) this.#session = undefined;
    });
    session.unref();
    this.#session = session;
    return session;
  }

  /**
   * One KV.Txn as a bare gRPC call over node:http2: a POST of one
   * length-prefixed message, the answer's message and its grpc-status
   * trailer. grpc-js's per-call machinery (interceptors, resolving and
   * load-balancing calls, metadata objects) was most of a write's client CPU.
   * A call that fails before an answer is UNAVAILABLE (it may or may not have
   * reached etcd: the store's write ids tell), one past its deadline
   * DEADLINE_EXCEEDED.
   */
  txn(req: TxnRequest): Promise<TxnResponse> {
    const body = encodeTxnRequest(req);
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(castGrpcError(err));
      };
      let stream;
      try {
        stream = this.#h2().request({
          [h2.HTTP2_HEADER_METHOD]: "POST",
          [h2.HTTP2_HEADER_PATH]: TXN,
          [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          te: "trailers",
        });
      } catch (err) {
        fail(grpcError(UNAVAILABLE, `etcd: ${(err as Error).message}`));
        return;
      }
      const s = stream;
      const session = this.#session;
      // Real time, not the store's clock: the deadline of one network call, as grpc-js keeps for every other etcd call.
      const timer = setTimeout(() => {
        fail(grpcError(DEADLINE_EXCEEDED, "Deadline exceeded"));
        s.close(h2.NGHTTP2_CANCEL);
        // The connection may be dead without knowing it (a member paused or cut
        // off): the next call opens a new one; calls still on it fail over.
        if (session && this.#session === session) {
          this.#session = undefined;
          session.destroy();
        }
      }, this.#timeoutMs);
      const chunks: Buffer[] = [];
      let received = 0;
      const status = trackStatus(s, fail);
      s.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
      });
      s.on("error", (err) => fail(grpcError(UNAVAILABLE, `etcd: ${err.message}`)));
      /** Settles the call on its status and answer; `final`: the stream has closed, so nothing more will come. */
      const finish = (final: boolean) => {
        if (settled) return;
        if (status.code === undefined) {
          if (final) fail(grpcError(UNAVAILABLE, "etcd: the Txn call ended without a status"));
          return;
        }
        if (status.code !== 0) return fail(grpcError(status.code, status.message));
        const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (data.length < 5 || data[0] !== 0 || data.readUInt32BE(1) !== data.length - 5) {
          if (final) fail(grpcError(13, "etcd: a Txn answer that is not one uncompressed message"));
          return;
        }
        let res: TxnResponse;
        try {
          res = decodeTxnResponse(data.subarray(5));
        } catch (err) {
          return fail(grpcError(13, `etcd: ${(err as Error).message}`));
        }
        settled = true;
        clearTimeout(timer);
        resolve(res);
      };
      // The trailers carry the status after every DATA frame of the answer:
      // settle then, not at the stream's close (node emits it a tick or more
      // later). Should the answer's bytes not all be in yet, close settles.
      s.on("trailers", () => {
        if (received >= 5) finish(false);
      });
      s.on("close", () => finish(true));
      s.end(frame);
    });
  }

  /**
   * A Watch stream (no deadline) as a bare gRPC call on the same HTTP/2
   * connection as the Txn calls: the create request goes out as one message
   * and the stream stays open; each answer's length-prefixed messages are
   * decoded by hand. On one connection, a write's own watch event and its Txn
   * answer come in the order etcd sent them, with no grpc-js layers between
   * the socket and the store. 'data' gives each WatchResponse; 'error' a
   * failure (the connection dropped, a grpc-status other than OK); 'end' a
   * stream etcd closed with OK. cancel() resets the stream.
   */
  watch(): EtcdWatchStream {
    const out = new EventEmitter() as EtcdWatchStream;
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      out.emit("error", castGrpcError(err));
    };
    let s: ClientHttp2Stream;
    let session: ClientHttp2Session;
    try {
      session = this.#h2();
      s = session.request(
        {
          [h2.HTTP2_HEADER_METHOD]: "POST",
          [h2.HTTP2_HEADER_PATH]: WATCH,
          [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          te: "trailers",
        },
        { endStream: false },
      );
    } catch (err) {
      const e = grpcError(UNAVAILABLE, `etcd: ${(err as Error).message}`);
      out.write = () => true;
      out.cancel = () => {};
      queueMicrotask(() => fail(e));
      return out;
    }
    const status = trackStatus(s, fail);
    this.#watches.set(s, session);
    session.ref();
    // Bytes received and not yet decoded; `need`: how many make the next step possible (a prefix, or a whole message).
    let parts: Buffer[] = [];
    let have = 0;
    let need = 5;
    s.on("data", (chunk: Buffer) => {
      if (done) return;
      parts.push(chunk);
      have += chunk.length;
      if (have < need) return;
      let buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
      parts = [];
      have = 0;
      need = 5;
      while (buf.length >= 5) {
        const len = buf.readUInt32BE(1);
        if (buf.length < 5 + len) {
          need = 5 + len;
          break;
        }
        if (buf[0] !== 0) return fail(grpcError(13, "etcd: a compressed watch message"));
        let res: WatchResponse;
        try {
          res = decodeWatchResponse(buf.subarray(5, 5 + len));
        } catch (err) {
          return fail(grpcError(13, `etcd: ${(err as Error).message}`));
        }
        buf = buf.subarray(5 + len);
        out.emit("data", res);
        if (done) return;
      }
      if (buf.length > 0) {
        parts.push(buf);
        have = buf.length;
      }
    });
    s.on("error", (err) => fail(grpcError(UNAVAILABLE, `etcd: ${err.message}`)));
    s.on("close", () => {
      this.#watches.delete(s);
      if (![...this.#watches.values()].includes(session)) session.unref();
      if (done) return;
      if (status.code === undefined || status.code !== 0)
        return fail(grpcError(status.code ?? UNAVAILABLE, status.message || "etcd: the watch stream ended without a status"));
      done = true;
      out.emit("end");
    });
    out.write = (req: WatchCreate) => {
      const body = encodeWatchRequest(req);
      const frame = Buffer.allocUnsafe(5 + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      return s.write(frame);
    };
    out.cancel = () => {
      done = true;
      if (!s.closed && !s.destroyed) s.close(h2.NGHTTP2_CANCEL);
    };
    return out;
  }

  close(): void {
    for (const s of this.#watches.keys()) if (!s.closed && !s.destroyed) s.close(h2.NGHTTP2_CANCEL);
    this.#session?.close();
    this.#session = undefined;
  }
}
