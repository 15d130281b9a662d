// Watch transports: adapt a chunked HTTP response and a WebSocket to the hub's
// WatchSink. HTTP gets one JSON event per line; a WebSocket one JSON event per
// text message. Each transport encodes an event once (its WatchEncoding) and
// every watcher on it writes the same bytes. Events sent in one event-loop turn to one WebSocket are corked
// into one socket write. A sink cut off for being slow is closed at once
// (WebSocket code 4008) and its buffered bytes are dropped soon after, so a
// stalled client cannot hold the server's memory.

import type { ServerResponse } from "node:http";
import type { WebSocket } from "ws";
import type { ApiError } from "../errors.ts";
import type { CloseReason, WatchEncoding, WatchSink } from "../watch.ts";
import { statusOf } from "./status.ts";

/** WebSocket close code for a watcher cut off by the send-buffer bound (API.md §5). */
export const CLOSE_SLOW = 4008;

/** Calls `listener` once, on whichever of the emitter's events comes first. */
function onceOf(emitter: { once(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown }, events: string[], listener: () => void): void {
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

function errorEvent(err: ApiError): string {
  return JSON.stringify({ type: "ERROR", object: statusOf(err) });
}

export function httpWatchSink(res: ServerResponse, onClose: () => void): WatchSink {
  let done = false;
  const finish = () => {
    if (done) return false;
    done = true;
    onClose();
    return true;
  };
  return {
    send(event) {
      if (!done) res.write(event.encoded(HTTP_EVENT));
    },
    buffered() {
      return res.writableLength;
    },
    onDrain(listener) {
      if (done || res.writableLength === 0) setImmediate(listener);
      else onceOf(res, ["drain", "close"], listener);
    },
    fail(err) {
      if (done) return;
      res.write(errorEvent(err) + "\n");
      if (finish()) res.end();
    },
    close(reason: CloseReason) {
      if (!finish()) return;
      if (reason === "slow") res.destroy();
      else res.end();
    },
  };
}

export function webSocketWatchSink(ws: WebSocket, onClose: () => void): WatchSink {
  let done = false;
  let corked = false;
  type Socket = { cork(): void; uncork(): void; once(e: string, fn: () => void): unknown; off(e: string, fn: () => void): unknown };
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  const finish = () => {
    if (done) return false;
    done = true;
    onClose();
    return true;
  };
  return {
    send(event) {
      if (done || ws.readyState !== ws.OPEN) return;
      if (!corked && socket) {
        corked = true;
        socket.cork();
        process.nextTick(() => {
          corked = false;
          socket.uncork();
        });
      }
      ws.send(event.encoded(WEBSOCKET_EVENT), { binary: false });
    },
    buffered() {
      return ws.bufferedAmount;
    },
    onDrain(listener) {
      if (done || !socket || ws.bufferedAmount === 0) setImmediate(listener);
      else onceOf(socket, ["drain", "close"], listener);
    },
    fail(err) {
      if (done) return;
      if (ws.readyState === ws.OPEN) ws.send(errorEvent(err));
      if (finish()) ws.close(1000, "watch ended");
    },
    close(reason: CloseReason) {
      if (!finish()) return;
      if (reason === "slow") {
        ws.close(CLOSE_SLOW, "send buffer full: reconnect from your last resourceVersion");
        setTimeout(() => ws.terminate(), 2000).unref();
      } else {
        ws.close(1000, reason === "timeout" ? "watch timeout" : "server shutting down");
      }
    },
  };
}
