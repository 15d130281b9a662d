// A KV.Txn and Watch client for one etcd member, with the hand-made codec of
// etcd-wire.ts instead of the etcd3 package's protobufjs conversions,
// connection pool and policies. The Txn is a bare gRPC call over node:http2;
// the watch (a long-lived stream, once per process) is a grpc-js stream. The
// etcd store sends its writes to the leader through it and opens its watch
// there; everything else (ranges, status, compaction) still goes through the
// etcd3 package. Errors come out as the etcd3 package's typed errors
// (castGrpcError), so callers tell them apart as they do for calls made
// through it.

import { Client, credentials as grpcCredentials, Metadata, type ChannelCredentials, type ClientDuplexStream } from "@grpc/grpc-js";
import { castGrpcError } from "etcd3";
import { connect, constants as h2, type ClientHttp2Session } from "node:http2";
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

/** A gRPC failure as grpc-js reports one (an Error with a status code), for castGrpcError. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

export class EtcdTxnClient {
  readonly #client: Client;
  readonly #timeoutMs: number;
  readonly #url: string;
  readonly #tls: { ca?: Buffer; key?: Buffer; cert?: Buffer } | undefined;
  #session: ClientHttp2Session | undefined;

  constructor(options: EtcdTxnClientOptions) {
    const secure = options.url.startsWith("https:");
    const c = options.credentials;
    const creds: ChannelCredentials = c
      ? grpcCredentials.createSsl(c.rootCertificate.length > 0 ? c.rootCertificate : null, c.privateKey ?? null, c.certChain ?? null)
      : secure
        ? grpcCredentials.createSsl()
        : grpcCredentials.createInsecure();
    // etcd's answers can be large (a range of a big object); no retries: a
    // transaction sent twice must be the store's decision, not the channel's.
    this.#client = new Client(options.url.replace(/^https?:\/\//, ""), creds, {
      "grpc.max_receive_message_length": -1,
      "grpc.enable_retries": 0,
    });
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
      let status: number | undefined;
      let message = "";
      const readStatus = (headers: Record<string, unknown>) => {
        if (headers["grpc-status"] !== undefined) {
          status = Number(headers["grpc-status"]);
          message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
        }
      };
      s.on("response", (headers) => {
        const code = Number(headers[h2.HTTP2_HEADER_STATUS]);
        if (code !== 200) fail(grpcError(UNAVAILABLE, `etcd: HTTP ${code}`));
        readStatus(headers); // a trailers-only answer (an error) carries its status here
      });
      s.on("trailers", readStatus);
      s.on("data", (chunk: Buffer) => chunks.push(chunk));
      s.on("error", (err) => fail(grpcError(UNAVAILABLE, `etcd: ${err.message}`)));
      s.on("close", () => {
        if (settled) return;
        if (status === undefined) return fail(grpcError(UNAVAILABLE, "etcd: the Txn call ended without a status"));
        if (status !== 0) return fail(grpcError(status, message));
        const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (data.length < 5 || data[0] !== 0 || data.readUInt32BE(1) !== data.length - 5)
          return fail(grpcError(13, "etcd: a Txn answer that is not one uncompressed message"));
        let res: TxnResponse;
        try {
          res = decodeTxnResponse(data.subarray(5));
        } catch (err) {
          return fail(grpcError(13, `etcd: ${(err as Error).message}`));
        }
        settled = true;
        clearTimeout(timer);
        resolve(res);
      });
      s.end(frame);
    });
  }

  /** A Watch stream (no deadline), decoded by hand as well: every change of the store arrives through it. */
  watch(): ClientDuplexStream<WatchCreate, WatchResponse> {
    return this.#client.makeBidiStreamRequest(WATCH, encodeWatchRequest, decodeWatchResponse, new Metadata(), {});
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
    this.#client.close();
  }
}
