// The two watch transports of the client: a WebSocket on the list path (one
// JSON event per text message) and the gRPC Watch stream. Each hands every
// event, as received, to `deliver`, and calls `settle` once: with nothing when
// the server ended the watch on purpose (WebSocket close 1000, 1001 or 4008,
// or the gRPC stream's end), with an error otherwise. The function each
// returns closes the connection.

import type * as grpc from "@grpc/grpc-js";
import { WebSocket } from "ws";
import type { PinnedLookup } from "../endpoints.ts";
import type { ResourcesClient } from "../proto.ts";
import type { Status } from "../wire.ts";
import { TransportError, errorOfGrpc, failureOfSocketError, errorOfStatus, parseObject, type TypeRef } from "./wire.ts";

/** How to watch a type (SetpointClient.watch). */
export interface WatchOptions {
  /** Start after this revision; absent or "0": initial ADDED events first. */
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Ask for bookmarks. Default true. */
  allowBookmarks?: boolean;
  /** Default "websocket". */
  transport?: "websocket" | "grpc";
  /** Aborting it closes the watch (`done` resolves). */
  signal?: AbortSignal;
  /** A watch that receives nothing for this long is dropped (`done` rejects). Default 30000 ms. */
  idleTimeoutMs?: number;
}

/** What both transports get: the watch's options, where events go, and how the watch ends. */
export interface WatchWiring {
  options: WatchOptions;
  deliver: (type: unknown, object: Record<string, any>) => void;
  settle: (err?: unknown) => void;
}

/** Opens a watch as a WebSocket on the type's list path. */
export function webSocketWatch(
  ref: TypeRef,
  wiring: WatchWiring & {
    httpUrl?: string;
    lookup?: PinnedLookup;
    token?: string;
    tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  },
): () => void {
  const { options: o, deliver, settle } = wiring;
  if (!wiring.httpUrl) throw new TypeError("client: httpUrl is required for WebSocket watches");
  const url = new URL(`/apis/${ref.group}/${ref.version}/${ref.namespace ? `namespaces/${ref.namespace}/` : ""}${ref.plural}`, wiring.httpUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (o.resourceVersion) url.searchParams.set("resourceVersion", o.resourceVersion);
  if (o.allowBookmarks ?? true) url.searchParams.set("allowWatchBookmarks", "true");
  if (o.labelSelector) url.searchParams.set("labelSelector", o.labelSelector);
  if (o.fieldSelector) url.searchParams.set("fieldSelector", o.fieldSelector);
  const headers: Record<string, string> = wiring.token ? { authorization: `Bearer ${wiring.token}` } : {};
  const ws = new WebSocket(url, {
    headers,
    handshakeTimeout: 10_000,
    maxPayload: 8 * 1024 * 1024,
    ...wiring.tls,
    ...(wiring.lookup ? { lookup: wiring.lookup } : {}),
  });
  ws.on("message", (data, isBinary) => {
    if (isBinary) return settle(new TransportError("client: binary WebSocket message in a watch", { kind: "protocol" }));
    let event: Record<string, any>;
    try {
      event = parseObject(data.toString(), "watch event");
      if (typeof event.object !== "object" || event.object === null) throw new TransportError("client: watch event has no object", { kind: "protocol" });
    } catch (err) {
      return settle(err);
    }
    deliver(event.type, event.object);
  });
  ws.on("unexpected-response", (_req, res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => (body += chunk.length + body.length < 65536 ? chunk : ""));
    res.on("error", (err) => settle(new TransportError(`client: watch refused with HTTP ${res.statusCode}`, { cause: err })));
    res.on("end", () => {
      try {
        const status = parseObject<Status>(body, "watch refusal");
        settle(
          typeof status.reason === "string"
            ? errorOfStatus(status)
            : new TransportError(`client: watch refused with HTTP ${res.statusCode}`, { code: res.statusCode, kind: "http" }),
        );
      } catch {
        settle(new TransportError(`client: watch refused with HTTP ${res.statusCode}`, { code: res.statusCode, kind: "http" }));
      }
    });
  });
  ws.on("error", (err) => settle(new TransportError(`client: watch connection failed: ${err.message}`, { cause: err, kind: failureOfSocketError(err) })));
  ws.on("close", (code) => {
    // 1000 (watch ended or timed out), 1001 (server going away), 4008 (cut off as slow): resume from the last revision.
    if (code === 1000 || code === 1001 || code === 4008) settle();
    else settle(new TransportError(`client: watch connection closed with code ${code}`, { code }));
  });
  return () => {
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.terminate();
  };
}

/** Opens a watch as a gRPC Watch stream. */
export function grpcWatch(ref: TypeRef, wiring: WatchWiring & { client: ResourcesClient; metadata: grpc.Metadata }): () => void {
  const { options: o, deliver, settle } = wiring;
  const req = {
    ref,
    labelSelector: o.labelSelector ?? "",
    fieldSelector: o.fieldSelector ?? "",
    resourceVersion: o.resourceVersion ?? "",
    allowBookmarks: o.allowBookmarks ?? true,
  };
  let cancelled = false;
  const call = wiring.client.watch(req, wiring.metadata);
  call.on("data", (event: { type: string; object: Buffer }) => {
    let object: Record<string, any>;
    try {
      object = parseObject(event.object, "watch event object");
    } catch (err) {
      return settle(err);
    }
    deliver(event.type, object);
  });
  call.on("error", (err: grpc.ServiceError) => settle(cancelled ? undefined : errorOfGrpc(err)));
  call.on("end", () => settle());
  return () => {
    cancelled = true;
    call.cancel();
  };
}
