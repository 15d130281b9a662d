// The gRPC watch stream as a WatchSink. Events go out in hub order, each
// serialized once (GRPC_EVENT) and the bytes shared by every watcher: the
// service's Watch serializer passes those Buffers through unchanged
// (withPreSerializedWatch).
//
// Flow control: once `call.write()` returns false the sink queues events until
// 'drain'; `buffered()` counts queued bytes plus bytes handed to grpc-js and
// not yet written, so the hub's send-buffer bound cuts a slow reader off
// (RESOURCE_EXHAUSTED, queue dropped). A watch that fails (410 Expired) sends
// one ERROR event with the Status, then ends with the error's code; one that
// ends on purpose (timeout, shutdown) ends OK after its final bookmark. A
// cancelled call drops its queue.

import * as grpc from "@grpc/grpc-js";
import * as wire from "../proto.ts";
import type { CloseReason, WatchEncoding, WatchSink } from "../watch.ts";
import { serviceError, statusOf } from "./status.ts";

/** A gRPC watch event: the serialized `WatchEvent` message. */
const GRPC_EVENT: WatchEncoding<Buffer> = {
  name: "grpc",
  encode: (e) => serializeWatchEvent({ type: e.type, object: Buffer.from(e.object), revision: e.revision }),
};

function serializeWatchEvent(message: wire.WatchEvent): Buffer {
  return wire.loadResourcesService().definition.Watch!.responseSerialize(message);
}

/** The service definition with a Watch serializer that writes an already serialized message (a Buffer) unchanged. */
export function withPreSerializedWatch(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const watch = definition.Watch!;
  const serialize = watch.responseSerialize;
  return { ...definition, Watch: { ...watch, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) } };
}

type WatchCall = grpc.ServerWritableStream<wire.WatchRequest, wire.WatchEvent>;

/**
 * Writes serialized messages to a call, queueing them while grpc-js pushes
 * back. Invariant: `queue[head..]` hold `queued` bytes, and they are non-empty
 * only while `blocked` (or while flush() is emptying them).
 */
class WriteQueue {
  readonly #call: WatchCall;
  #queue: Buffer[] = [];
  #head = 0;
  #queued = 0;
  /** Bytes given to call.write() whose callback has not run. */
  #inFlight = 0;
  /** The last call.write() returned false. */
  blocked = false;
  /** Runs once the queue is empty and writes are not blocked. */
  #whenEmpty: (() => void) | undefined;

  constructor(call: WatchCall) {
    this.#call = call;
    call.on("drain", () => {
      this.blocked = false;
      this.#flush();
    });
  }

  /** Bytes accepted and not yet written out. */
  get buffered(): number {
    return this.#queued + this.#inFlight;
  }

  push(message: Buffer): void {
    if (this.blocked || this.#head < this.#queue.length) {
      this.#queue.push(message);
      this.#queued += message.length;
    } else {
      this.#write(message);
    }
  }

  /** Calls `fn` once everything queued has been handed to grpc-js (at once if nothing is). */
  whenEmpty(fn: () => void): void {
    this.#whenEmpty = fn;
    this.#flush();
  }

  /** Forgets what is queued and any pending whenEmpty. */
  drop(): void {
    this.#queue = [];
    this.#head = 0;
    this.#queued = 0;
    this.#whenEmpty = undefined;
  }

  #write(message: Buffer): void {
    const size = message.length;
    this.#inFlight += size;
    // A pre-serialized message (see withPreSerializedWatch), typed as the stream's message type.
    this.blocked = !this.#call.write(message as unknown as wire.WatchEvent, () => (this.#inFlight -= size));
  }

  #flush(): void {
    while (!this.blocked && this.#head < this.#queue.length) {
      const next = this.#queue[this.#head++]!;
      this.#queued -= next.length;
      this.#write(next);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (!this.blocked && this.#queue.length === 0 && this.#whenEmpty) {
      const fn = this.#whenEmpty;
      this.#whenEmpty = undefined;
      fn();
    }
  }
}

/** Adapts a server-streaming Watch call to the hub's WatchSink (see the file comment). */
export function grpcWatchSink(call: WatchCall): WatchSink {
  const queue = new WriteQueue(call);
  let done = false; // no more events accepted
  call.on("cancelled", () => {
    done = true;
    queue.drop();
  });
  return {
    send(event) {
      if (!done) queue.push(event.encoded(GRPC_EVENT));
    },
    buffered() {
      return queue.buffered;
    },
    onDrain(listener) {
      // Blocked: grpc-js says when it can take more. Otherwise the bytes in
      // flight are written within a turn or two: look again then.
      if (queue.blocked && !done) call.once("drain", () => setImmediate(listener));
      else setImmediate(listener);
    },
    fail(err) {
      if (done) return;
      done = true;
      queue.push(serializeWatchEvent({ type: "ERROR", object: Buffer.from(JSON.stringify(statusOf(err))), revision: 0 }));
      queue.whenEmpty(() => call.emit("error", serviceError(err)));
    },
    close(reason: CloseReason) {
      if (done) return;
      done = true;
      if (reason === "slow") {
        queue.drop();
        call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: "watch send buffer full: reconnect from your last resourceVersion" });
        return;
      }
      queue.whenEmpty(() => call.end());
    },
  };
}
