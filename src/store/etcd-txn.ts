// A KV.Txn and Watch client for one etcd member: grpc-js called directly with
// the hand-made codec of etcd-wire.ts, without the etcd3 package's protobufjs
// conversions, connection pool and policies. The etcd store sends its writes
// to the leader through it and opens its watch there; everything else
// (ranges, status, compaction) still goes through the etcd3 package. Errors come out as the
// etcd3 package's typed errors (castGrpcError), so callers tell them apart as
// they do for calls made through it.

import { Client, credentials as grpcCredentials, Metadata, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { castGrpcError } from "etcd3";
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
const identity = (b: Buffer) => b;

export class EtcdTxnClient {
  readonly #client: Client;
  readonly #timeoutMs: number;

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
  }

  txn(req: TxnRequest): Promise<TxnResponse> {
    const body = encodeTxnRequest(req);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        TXN,
        identity,
        decodeTxnResponse,
        body,
        new Metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err: ServiceError | null, res?: TxnResponse) => (err || !res ? reject(castGrpcError(err ?? new Error("etcd: empty Txn answer"))) : resolve(res)),
      );
    });
  }

  /** A Watch stream (no deadline), decoded by hand as well: every change of the store arrives through it. */
  watch(): ClientDuplexStream<WatchCreate, WatchResponse> {
    return this.#client.makeBidiStreamRequest(WATCH, encodeWatchRequest, decodeWatchResponse, new Metadata(), {});
  }

  close(): void {
    this.#client.close();
  }
}
