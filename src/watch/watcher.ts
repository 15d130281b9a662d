// What a watch asks for, and the transport-neutral sink the hub writes to.
// The server adapts HTTP chunked responses, WebSockets and gRPC streams to
// WatchSink; the hub knows none of them.

import type { Timer } from "../clock.ts";
import type { ApiError } from "../errors.ts";
import type { FieldSelector, LabelSelector } from "./selector.ts";

export interface WatchRequest {
  /** ResourceType name (`plural.group`). */
  type: string;
  /** For bookmark objects: `group/version` and kind of the watched type. */
  apiVersion: string;
  kind: string;
  /** Only this namespace; undefined for all. */
  namespace?: string;
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  /** Start after this revision; undefined or 0 starts with the current state as ADDED events. */
  resourceVersion?: number;
  /** Send the current state as ADDED events first (default: when resourceVersion is unset or 0; false without a resourceVersion starts at the newest revision). */
  sendInitialEvents?: boolean;
  allowBookmarks: boolean;
  /** End the watch (after a bookmark) after this long. */
  timeoutMs?: number;
}

/** Why a watch ended. `slow` is the send-buffer bound (WebSocket close code 4008). */
export type CloseReason = "timeout" | "shutdown" | "slow";

/** Where a watch's events go. */
export interface WatchSink {
  /**
   * Sends one event: `{"type":"T","object":…}` plus a newline (the buffer is
   * shared: never modify it). `revision` is the event's revision (for initial
   * ADDED events and bookmarks, the revision they were taken at).
   */
  send(event: Buffer, revision: number): void;
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
  /** While sending the initial state: the snapshot's revision and the last key sent. */
  initial?: { revision: number; after: { namespace: string; name: string } | undefined };
}
