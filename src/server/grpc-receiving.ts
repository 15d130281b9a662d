// The bound on gRPC request messages being received, across every call of a
// gRPC server (docs/security.md, docs/faults.md): REST's bound on bodies
// being received (src/server/limits.ts), for the gRPC port.
//
// grpc-js reads a stream's bytes as they arrive until its message is whole,
// up to the message size bound (a little over 3 MiB), so HTTP/2 flow control
// never holds a client back: one connection with 1,000 calls each sending
// 3 MB of a message it never finished took a server from 172 to 3,064 MiB of
// RSS. Here each call's message is followed by the gRPC framing (a 5-byte
// prefix: flag, 4-byte length) and counted, as the memory its chunks hold
// (receipt(), `held`), from its first byte until it is whole or the call
// ends; the total is bounded. A chunk that would take the total past the
// bound gets its call refused with a TooManyRequests Status (gRPC
// RESOURCE_EXHAUSTED), unless that call's are the only bytes counted: a
// message alone is bounded only by the message size bound, so a legitimate
// large write is always served alone.
//
// A message must also be whole within `messageTimeoutMs` (60 s, kube-apiserver's
// --request-timeout) of its first byte, else its call gets a Timeout Status
// (DEADLINE_EXCEEDED): calls that never finish their message cannot hold the
// bound, and with it every other call's room, for as long as their connection
// lives (keepalive pings keep a live client's connection open for ever).

import { Gauge, type Registry } from "prom-client";
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { TimeoutError } from "../errors.ts";
import { TooManyRequestsError } from "./limits.ts";

/** One call's request stream being counted: tell it each chunk, and the end. */
export interface MessageReceipt {
  /** Counts a chunk; a TooManyRequestsError when the messages being received would pass the bound beside other calls' (the receipt is then ended). */
  add(chunk: Buffer): TooManyRequestsError | undefined;
  /** The call ended (or was refused): its bytes are no longer counted. Idempotent. */
  end(): void;
}

/** gRPC's length prefix: a compressed flag and a 4-byte big-endian length. */
const PREFIX_BYTES = 5;

export interface ReceivingOptions {
  /** Bytes held by messages not yet whole, across every call; 0: no bound, only counted. */
  maxBytes: number;
  /** How long a message may take from its first byte to its last. Default 60 s. */
  messageTimeoutMs?: number;
  /** Times messageTimeoutMs. Default: the system clock. */
  clock?: Clock;
}

/** The memory held by request messages a gRPC server's calls are receiving, bounded (ReceivingOptions). */
export class ReceivingMessages {
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #bytes = 0;
  #calls = 0;

  constructor(options: ReceivingOptions) {
    this.#maxBytes = options.maxBytes;
    this.#timeoutMs = options.messageTimeoutMs ?? 60_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Starts counting one call's request stream; `onTimeout` is told (the receipt then ended) if a message is not whole in time. */
  receipt(onTimeout: (err: TimeoutError) => void = () => {}): MessageReceipt {
    /** Bytes counted in #bytes for the message not yet whole: the memory its chunks hold (below). */
    let pending = 0;
    /** Whether a message has begun (some of its prefix is in) and is not whole. */
    let inMessage = false;
    /** Bytes of its message still to come once its prefix is in; 0 while a prefix is being read. */
    let left = 0;
    const prefix = Buffer.alloc(PREFIX_BYTES);
    let prefixBytes = 0;
    /**
     * The buffers the message's chunks are views of. grpc-js keeps the views
     * until the message is whole, and a view holds its whole buffer: the
     * HTTP/2 session's read buffer (64 KiB), which may hold a few bytes of this
     * message among other streams' frames. Counting those buffers, not the
     * bytes, keeps the memory held within the bound however a client cuts its
     * DATA frames.
     */
    let held = new Set<ArrayBufferLike>();
    let heldBytes = 0;
    let ended = false;
    let timer: Timer | undefined;
    const settle = (next: number, restart: boolean) => {
      if (pending === 0 && next > 0) this.#calls++;
      if (pending > 0 && next === 0) this.#calls--;
      if (restart || next === 0) {
        timer?.cancel();
        timer = undefined;
      }
      if (next > 0 && !timer) {
        timer = this.#clock.after(this.#timeoutMs, () => {
          end();
          onTimeout(new TimeoutError(`Timeout: the request message was not received in full within ${this.#timeoutMs / 1000} s`));
        });
      }
      this.#bytes += next - pending;
      pending = next;
    };
    const end = () => {
      if (ended) return;
      ended = true;
      settle(0, true);
    };
    return {
      add: (chunk) => {
        if (ended || chunk.length === 0) return undefined;
        const before = pending;
        let whole = false;
        for (let at = 0; at < chunk.length; ) {
          inMessage = true;
          if (left === 0) {
            const take = Math.min(PREFIX_BYTES - prefixBytes, chunk.length - at);
            chunk.copy(prefix, prefixBytes, at, at + take);
            prefixBytes += take;
            at += take;
            if (prefixBytes < PREFIX_BYTES) continue;
            prefixBytes = 0;
            left = prefix.readUInt32BE(1);
          } else {
            const take = Math.min(left, chunk.length - at);
            left -= take;
            at += take;
          }
          if (left === 0) {
            whole = true;
            inMessage = false;
          }
        }
        // The chunk's last bytes belong to the message not yet whole, if there is one: it holds the chunk's buffer.
        if (whole) {
          held = new Set();
          heldBytes = 0;
        }
        if (inMessage && !held.has(chunk.buffer)) {
          held.add(chunk.buffer);
          heldBytes += chunk.buffer.byteLength;
        }
        settle(inMessage ? heldBytes : 0, whole);
        if (this.#maxBytes === 0 || pending <= before || this.#bytes <= this.#maxBytes || this.#bytes === pending) return undefined;
        end();
        return new TooManyRequestsError(
          `Too many requests, please try again later: request messages being received at once passed ${formatMiB(this.#maxBytes)}`,
        );
      },
      end,
    };
  }

  /** Calls with a message not yet whole, and the bytes those messages hold. */
  stats(): { calls: number; bytes: number } {
    return { calls: this.#calls, bytes: this.#bytes };
  }
}

/** The messages being received on /metrics, as REST's bodies being received are (src/server/metrics.ts). */
export function addReceivingMetrics(registry: Registry, receiving: Pick<ReceivingMessages, "stats">): void {
  new Gauge({
    name: "setpoint_grpc_request_messages_receiving",
    help: "gRPC calls whose request message is still arriving.",
    registers: [registry],
    collect() {
      this.set(receiving.stats().calls);
    },
  });
  new Gauge({
    name: "setpoint_grpc_request_message_bytes_receiving",
    help: "Bytes held by the gRPC request messages still arriving: the read buffers their chunks are views of (bounded: 1 MiB per --max-mutating-requests-inflight).",
    registers: [registry],
    collect() {
      this.set(receiving.stats().bytes);
    },
  });
}

function formatMiB(bytes: number): string {
  const mib = bytes / 1024 / 1024;
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}
