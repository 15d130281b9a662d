// Watch transports: adapt a chunked HTTP response and a WebSocket to the hub's
// WatchSink. HTTP gets one JSON event per line; a WebSocket one JSON event per
// text message. Each transport encodes an event once (its WatchEncoding) and
// every watcher on it writes the same bytes; for a WebSocket those are the
// whole frame, written to the socket as is (textFrame). Events sent to a WebSocket are
// corked and written out by Flusher, 1 MiB per event-loop turn across
// all sockets, so that fanning an event out to thousands of sockets (one
// kernel copy each) never holds the event loop for long. The first 1 MiB
// goes out as soon as the hub has delivered a batch (flushWatchSockets).
//
// Each sink writes to its socket only while the socket holds less than
// SOCKET_BYTES unsent; beyond that it queues events itself and writes them on
// 'drain'. So a stalled client's backlog is a list of shared Buffers the sink
// can drop at once when it is cut off, instead of thousands of socket writes
// that Node would fail one by one (one Error object each).
//
// A sink cut off for being slow drops its queue at once; closing the
// connection is left to CutOffs, which spreads it over event-loop turns so
// that cutting thousands of watchers never stalls the server. A WebSocket
// gets close code 4008, an HTTP watch a final ERROR event (429
// TooManyRequests); both reach a client that still reads. The connection is
// destroyed 2 s later if the client has not taken them.

import type { ServerResponse } from "node:http";
import type { WebSocket } from "ws";
import { systemClock, type Clock } from "../clock.ts";
import { ApiError } from "../errors.ts";
import type { CloseReason, WatchEncoding, WatchSink } from "../watch.ts";
import { statusOf } from "./status.ts";

/** WebSocket close code for a watcher cut off by the send-buffer bound (API.md §5). */
export const CLOSE_SLOW = 4008;

/** Close reason text of a deliberate, normal (1000) end of a WebSocket watch. */
const WS_CLOSE_TEXT: Record<Exclude<CloseReason, "slow">, string> = {
  timeout: "watch timeout",
  deleted: "resource type deleted",
  shutdown: "server shutting down",
};

/** Calls `listener` once, on whichever of the emitter's events comes first. */
function onceOf(
  emitter: { once(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown },
  events: string[],
  listener: () => void,
): void {
  const fire = () => {
    for (const e of events) emitter.off(e, fire);
    listener();
  };
  for (const e of events) emitter.once(e, fire);
}

/** A chunked-HTTP watch event: `{"type":"T","object":…}` and a newline. */
export const HTTP_EVENT: WatchEncoding<Buffer> = {
  name: "http",
  encode: (e) => Buffer.from(`{"type":"${e.type}","object":${e.object}}\n`),
};

/** A WebSocket watch event: `{"type":"T","object":…}` as one text message. */
export const WEBSOCKET_EVENT: WatchEncoding<Buffer> = {
  name: "websocket",
  encode: (e) => Buffer.from(`{"type":"${e.type}","object":${e.object}}`),
};

/**
 * `text` as one final, unmasked WebSocket text frame (RFC 6455 §5.2): header
 * and payload in one Buffer. Server frames carry no mask, so one frame serves
 * every watcher, written to each socket as is: no framing per socket, and one
 * buffer per write instead of ws's header and payload.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, text
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header, "utf8");
  return frame;
}

/** A WebSocket watch event as a whole frame (textFrame) of WEBSOCKET_EVENT's text. */
export const WEBSOCKET_FRAME: WatchEncoding<Buffer> = {
  name: "websocket-frame",
  encode: (e) => textFrame(`{"type":"${e.type}","object":${e.object}}`),
};

function errorEvent(err: ApiError): string {
  return JSON.stringify({ type: "ERROR", object: statusOf(err) });
}

/** Unsent bytes a sink lets its socket hold before it queues events itself. */
export const SOCKET_BYTES = 64 * 1024;
/** How long a cut-off client has to read its close code (or ERROR event) before its connection is destroyed. */
const CLOSE_GRACE_MS = 2000;
/** Connections closed per event-loop turn when many watchers are cut off at once. */
const CUTS_PER_TURN = 64;

/** Closes cut-off connections a few per event-loop turn, so that cutting thousands never stalls the server. */
class CutOffs {
  #pending: Array<() => void> = [];
  #scheduled = false;

  add(close: () => void): void {
    this.#pending.push(close);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#run());
    }
  }

  #run(): void {
    const batch = this.#pending.splice(0, CUTS_PER_TURN);
    for (const close of batch) close();
    if (this.#pending.length > 0) setImmediate(() => this.#run());
    else this.#scheduled = false;
  }
}

const cutOffs = new CutOffs();

/** Bytes written out to corked sockets per event-loop turn, before yielding. */
const FLUSH_BYTES_PER_TURN = 1024 * 1024;

interface Corkable {
  cork(): void;
  uncork(): void;
  writableLength: number;
  destroyed: boolean;
}

/**
 * Uncorks sockets in the order they were corked, FLUSH_BYTES_PER_TURN per
 * event-loop turn. The first batch goes out when the hub has delivered a
 * batch of changes (`flushWatchSockets`), or at the end of the turn if
 * nothing calls that; the rest in later turns.
 */
class Flusher {
  #queue: Corkable[] = [];
  #head = 0;
  #scheduled = false;
  /** The end-of-turn run is pending: `flushNow` may take its place. */
  #tickPending = false;

  /** Corks `socket` until its turn comes (call it only for a socket not corked yet). */
  add(socket: Corkable): void {
    socket.cork();
    this.#queue.push(socket);
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#tickPending = true;
      process.nextTick(() => {
        if (!this.#tickPending) return;
        this.#tickPending = false;
        this.#run();
      });
    }
  }

  /** Runs the first batch now instead of at the end of the turn (a no-op unless one is waiting for the turn to end). */
  flushNow(): void {
    if (!this.#tickPending) return;
    this.#tickPending = false;
    this.#run();
  }

  #run(): void {
    let bytes = 0;
    while (this.#head < this.#queue.length && bytes < FLUSH_BYTES_PER_TURN) {
      const socket = this.#queue[this.#head++]!;
      bytes += socket.writableLength;
      socket.uncork();
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      this.#scheduled = false;
    } else {
      if (this.#head > 1024) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      setImmediate(() => this.#run());
    }
  }
}

const flusher = new Flusher();

/**
 * Writes out the WebSocket watch events corked so far in this turn (the first
 * FLUSH_BYTES_PER_TURN of them) now rather than at the end of the turn. The
 * hub calls it after each batch of changes it delivers (WatchHubOptions.onDelivered),
 * so that watchers get a change before the response to the write that made it
 * is written, and whatever else the turn holds.
 */
export function flushWatchSockets(): void {
  flusher.flushNow();
}

/**
 * The events a sink holds back while its socket is full. Invariant:
 * `queue[head..]` are unsent and hold `bytes` bytes; they are non-empty only
 * while the socket holds SOCKET_BYTES or more.
 */
class Backlog {
  #queue: Buffer[] = [];
  #head = 0;
  bytes = 0;
  #drained: Array<() => void> = [];
  readonly #socketBytes: () => number;
  readonly #write: (b: Buffer) => void;

  constructor(socketBytes: () => number, write: (b: Buffer) => void) {
    this.#socketBytes = socketBytes;
    this.#write = write;
  }

  push(b: Buffer): void {
    if (this.#head === this.#queue.length && this.#socketBytes() < SOCKET_BYTES) {
      this.#write(b);
      return;
    }
    this.#queue.push(b);
    this.bytes += b.length;
  }

  /** Writes queued events while the socket has room; calls the drain listeners once the queue is empty. */
  flush(): void {
    while (this.#head < this.#queue.length && this.#socketBytes() < SOCKET_BYTES) {
      const b = this.#queue[this.#head++]!;
      this.bytes -= b.length;
      this.#write(b);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      const listeners = this.#drained;
      this.#drained = [];
      for (const l of listeners) l();
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  onEmpty(listener: () => void): void {
    this.#drained.push(listener);
  }

  /** Runs `fn` once everything queued has been handed to the socket (now, if nothing is queued). */
  whenEmpty(fn: () => void): void {
    if (this.#head === this.#queue.length) fn();
    else this.#drained.push(fn);
  }

  /** Forgets every queued event at once; calls the drain listeners. */
  drop(): void {
    this.#queue = [];
    this.#head = 0;
    this.bytes = 0;
    const listeners = this.#drained;
    this.#drained = [];
    for (const l of listeners) l();
  }
}

function slowStatus(): ApiError {
  return new ApiError("TooManyRequests", "watch cut off: this client did not read fast enough; reconnect from your last resourceVersion");
}

/** What a watch sink needs besides its connection. */
export interface WatchSinkOptions {
  /** Times the grace a cut-off client gets before its connection is destroyed. Default: the system clock. */
  clock?: Clock;
}

/** A chunked HTTP response as a watch sink; `onClose` runs once when the watch ends. */
export function httpWatchSink(res: ServerResponse, onClose: () => void, options: WatchSinkOptions = {}): WatchSink {
  const clock = options.clock ?? systemClock;
  let done = false;
  const backlog = new Backlog(
    () => res.writableLength,
    (b) => res.write(b),
  );
  res.on("drain", () => backlog.flush());
  res.once("close", () => backlog.drop());
  const finish = () => {
    if (done) return false;
    done = true;
    onClose();
    return true;
  };
  return {
    send(event) {
      if (!done) backlog.push(event.encoded(HTTP_EVENT));
    },
    buffered() {
      return backlog.bytes + res.writableLength;
    },
    onDrain(listener) {
      if (done) setImmediate(listener);
      else if (backlog.bytes > 0) backlog.onEmpty(() => setImmediate(listener));
      else if (res.writableLength > 0) onceOf(res, ["drain", "close"], listener);
      else setImmediate(listener);
    },
    fail(err) {
      if (done) return;
      backlog.push(Buffer.from(errorEvent(err) + "\n"));
      if (finish()) backlog.whenEmpty(() => res.end());
    },
    close(reason: CloseReason) {
      if (!finish()) return;
      if (reason !== "slow") {
        // After what is queued (the final bookmark among it).
        backlog.whenEmpty(() => res.end());
        return;
      }
      backlog.drop();
      cutOffs.add(() => {
        if (res.destroyed) return;
        res.end(errorEvent(slowStatus()) + "\n");
        // Destroyed a few per turn too: cut together, their grace ends together.
        clock.after(CLOSE_GRACE_MS, () => cutOffs.add(() => res.destroy()));
      });
    },
  };
}

/** A WebSocket as a watch sink; `onClose` runs once when the watch ends. */
export function webSocketWatchSink(ws: WebSocket, onClose: () => void, options: WatchSinkOptions = {}): WatchSink {
  const clock = options.clock ?? systemClock;
  let done = false;
  type Socket = Corkable & {
    writableCorked: number;
    write(b: Buffer): boolean;
    on(e: string, fn: () => void): unknown;
    once(e: string, fn: () => void): unknown;
    off(e: string, fn: () => void): unknown;
  };
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  // Whole frames go to the socket itself, in order with ws's own frames
  // (pings, close), which it writes at once too; with an extension such as
  // permessage-deflate (the server offers none) ws frames each message.
  const raw = socket !== undefined && ws.extensions === "";
  const backlog = new Backlog(
    () => ws.bufferedAmount,
    (b) => {
      if (socket && socket.writableCorked === 0) flusher.add(socket);
      if (!raw) ws.send(b, { binary: false });
      else if (ws.readyState === ws.OPEN && !socket.destroyed) socket.write(b);
    },
  );
  const frame = (text: string) => (raw ? textFrame(text) : Buffer.from(text));
  socket?.on("drain", () => backlog.flush());
  ws.once("close", () => backlog.drop());
  const finish = () => {
    if (done) return false;
    done = true;
    onClose();
    return true;
  };
  return {
    send(event) {
      if (done || ws.readyState !== ws.OPEN) return;
      backlog.push(event.encoded(raw ? WEBSOCKET_FRAME : WEBSOCKET_EVENT));
    },
    buffered() {
      return backlog.bytes + ws.bufferedAmount;
    },
    onDrain(listener) {
      if (done || !socket) setImmediate(listener);
      else if (backlog.bytes > 0) backlog.onEmpty(() => setImmediate(listener));
      else if (ws.bufferedAmount > 0) onceOf(socket, ["drain", "close"], listener);
      else setImmediate(listener);
    },
    fail(err) {
      if (done) return;
      if (ws.readyState === ws.OPEN) backlog.push(frame(errorEvent(err)));
      if (finish()) backlog.whenEmpty(() => ws.close(1000, "watch ended"));
    },
    close(reason: CloseReason) {
      if (!finish()) return;
      if (reason !== "slow") {
        // After what is queued (the final bookmark among it).
        backlog.whenEmpty(() => ws.close(1000, WS_CLOSE_TEXT[reason]));
        return;
      }
      backlog.drop();
      cutOffs.add(() => {
        if (ws.readyState !== ws.OPEN) return;
        ws.close(CLOSE_SLOW, "send buffer full: reconnect from your last resourceVersion");
        // Terminated a few per turn too: cut together, their grace ends together.
        clock.after(CLOSE_GRACE_MS, () => cutOffs.add(() => ws.terminate()));
      });
    },
  };
}
