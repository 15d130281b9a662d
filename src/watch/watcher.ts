// What a watch asks for, and the transport-neutral sink the hub writes to.
// The server adapts HTTP chunked responses, WebSockets and gRPC streams to
// WatchSink; the hub knows none of them.

import type { Timer } from "../clock.ts";
import type { ApiError } from "../errors.ts";
import type { WatchEvent } from "./event.ts";

/** What a label selector must offer the hub (the grammar lives in src/api/selector.ts). */
export interface LabelMatcher {
  /** True when it matches everything (the hub can skip parsing labels). */
  readonly empty: boolean;
  /** Whether an object with these labels (`undefined`: none) is selected. */
  matches(labels: Record<string, string> | undefined): boolean;
}

/** What a field selector must offer the hub: a test on an object's namespace and name. */
export interface FieldMatcher {
  matches(namespace: string, name: string): boolean;
}

export interface WatchRequest {
  /** ResourceType name (`plural.group`). */
  type: string;
  /** For bookmark objects: `group/version` and kind of the watched type. */
  apiVersion: string;
  kind: string;
  /** Only this namespace; undefined for all. */
  namespace?: string;
  labelSelector?: LabelMatcher;
  fieldSelector?: FieldMatcher;
  /** Start after this revision; undefined or 0 starts with the current state as ADDED events. */
  resourceVersion?: number;
  /** Send the current state as ADDED events first (default: when resourceVersion is unset or 0; false without a resourceVersion starts at the newest revision). */
  sendInitialEvents?: boolean;
  allowBookmarks: boolean;
  /** End the watch (after a bookmark) after this long. */
  timeoutMs?: number;
}

/** Why a watch ended. `deleted`: its ResourceType was deleted. `slow` is the send-buffer bound (WebSocket close code 4008). */
export type CloseReason = "timeout" | "deleted" | "shutdown" | "slow";

/** Where a watch's events go. */
export interface WatchSink {
  /**
   * Sends one event. The event is shared with other watchers: encode it with
   * `event.encoded(yourTransportEncoding)` so that the encoding is made once.
   */
  send(event: WatchEvent): void;
  /** Bytes accepted by send() but not yet written to the peer. */
  buffered(): number;
  /** Calls `listener` once, when the unsent bytes have been written out (or the stream has ended). */
  onDrain(listener: () => void): void;
  /** Sends an ERROR event carrying `error` as a Status, then ends the stream. */
  fail(error: ApiError): void;
  /** Ends the stream. */
  close(reason: CloseReason): void;
}

/** A live watch inside the hub. */
export interface Watcher {
  request: WatchRequest;
  sink: WatchSink;
  timer: Timer | undefined;
  closed: boolean;
  /** Newest revision this watcher has been offered (sent or filtered out). */
  cursor: number;
  /** True until it has caught up with the hub; live events pass it by meanwhile. */
  catchingUp: boolean;
  /**
   * Items the next catch-up read takes from the store (a page of the initial
   * state, or of the log): the hub's chunk, down to about what the sink took
   * before it filled (so a sink that takes one large object at a time does
   * not cost a whole chunk's read each time), doubled again after each read
   * the sink took whole.
   */
  readLimit: number;
  /** While sending the initial state: the snapshot's revision and the last key sent. */
  initial?: { revision: number; after: { namespace: string; name: string } | undefined };
}
