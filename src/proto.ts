// The gRPC wire schema of `setpoint.v1.Resources` (API.md §6), shared by the
// server (src/server/grpc.ts) and the agent SDK. The service is loaded with
// proto-loader's fromJSON from a descriptor generated at build time from
// proto/setpoint/v1/resources.proto (`npm run gen:proto`), so it works under
// tsx and inside the esbuild bundle with no .proto file on disk.
//
// How messages look in JS (the load options below, the same on both ends):
// - field names are camelCase (`labelSelector`, `allowBookmarks`, `patchType`);
// - int64 fields (revisions, limit, timeoutSeconds) are JS numbers: revisions
//   stay below 2^53 (resourceVersion parsing accepts at most 16 digits), so
//   Number is exact; send numbers, receive numbers;
// - bytes fields are Buffers (send any Uint8Array);
// - received messages carry every field, unset ones as their proto3 default
//   ("", 0, false, empty Buffer, [] — and null for an unset `ref`).
//
// Errors: the call fails with the gRPC code of the error's reason; `details`
// (and so the client's `err.details`) is the human-readable Status message;
// the trailer `setpoint-status-bin` holds the Kubernetes Status object as
// UTF-8 JSON (read it with `statusOfError`). A watch that fails after it began
// (e.g. 410 Expired) first sends an ERROR event whose object is that Status,
// then ends with the error's code.
//
// Auth: when the server has a token, every call carries metadata
// `authorization: Bearer <token>`, else UNAUTHENTICATED.

import * as grpc from "@grpc/grpc-js";
import { fromJSON, type Options } from "@grpc/proto-loader";
import { resourcesDescriptor } from "./generated/resources-descriptor.ts";

/** Fully qualified service name. */
export const RESOURCES_SERVICE = "setpoint.v1.Resources";

/** Trailer carrying the Kubernetes Status (JSON) of a failed call. */
export const STATUS_TRAILER = "setpoint-status-bin";

/** proto-loader options: the JS shape of every message (see the file comment). */
export const LOAD_OPTIONS: Readonly<Options> = {
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  oneofs: false,
};

/** Names a type (group, version, plural) and, for object calls, an object. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  /** Empty or absent: cluster-scoped type, or all namespaces in list and watch. */
  namespace?: string;
  name?: string;
}

export interface GetRequest {
  ref: ResourceRef;
}

export interface ObjectResponse {
  /** The object as UTF-8 JSON. */
  object: Buffer;
}

export interface ListRequest {
  ref: ResourceRef;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; 0: everything. */
  limit?: number;
  continue?: string;
  /** Minimum revision the list must reflect (decimal); empty: newest. */
  resourceVersion?: string;
}

export interface ListResponse {
  /** Revision the list was served at: watch from here. */
  revision: number;
  /** Token for the next page; "" on the last one. */
  continue: string;
  /** Each item as UTF-8 JSON, in (namespace, name) order. */
  items: Buffer[];
}

export interface WatchRequest {
  ref: ResourceRef;
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this revision (decimal); empty or "0": initial ADDED events first. */
  resourceVersion?: string;
  allowBookmarks?: boolean;
  /** true: initial ADDED events even from a revision. false means "default" (initial events iff no revision). */
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent {
  type: WatchEventType;
  /** The object (for ERROR, a Kubernetes Status) as UTF-8 JSON. */
  object: Buffer;
  /** The event's revision; for a bookmark, every change up to it was delivered; 0 for ERROR. */
  revision: number;
}

export interface CreateRequest {
  ref: ResourceRef;
  object: Uint8Array;
}

/** For Update and UpdateStatus; `metadata.resourceVersion`, if set, is a precondition. */
export interface UpdateRequest {
  ref: ResourceRef;
  object: Uint8Array;
}

export interface PatchRequest {
  ref: ResourceRef;
  patchType: "application/merge-patch+json" | "application/json-patch+json";
  patch: Uint8Array;
  /** Patch the status subresource instead of the object. */
  status?: boolean;
}

export interface DeleteRequest {
  ref: ResourceRef;
  /** Preconditions; empty means none. */
  resourceVersion?: string;
  uid?: string;
}

/** The Kubernetes Status a failed call carries in its `setpoint-status-bin` trailer. */
export interface WireStatus {
  kind: "Status";
  apiVersion: "v1";
  status: "Failure";
  message: string;
  reason: string;
  /** The HTTP code of the reason (404, 409, 410, …). */
  code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ field: string; message: string; reason?: string }> };
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

/** A unary method of the generic grpc-js client. */
export interface UnaryMethod<Req, Res> {
  (request: Req, callback: Callback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, callback: Callback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: Callback<Res>): grpc.ClientUnaryCall;
}

/** The grpc-js client of the service (PascalCase aliases `Get`, `List`, … exist too). */
export interface ResourcesClient extends grpc.Client {
  get: UnaryMethod<GetRequest, ObjectResponse>;
  list: UnaryMethod<ListRequest, ListResponse>;
  watch(request: WatchRequest, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<WatchEvent>;
  create: UnaryMethod<CreateRequest, ObjectResponse>;
  update: UnaryMethod<UpdateRequest, ObjectResponse>;
  updateStatus: UnaryMethod<UpdateRequest, ObjectResponse>;
  patch: UnaryMethod<PatchRequest, ObjectResponse>;
  delete: UnaryMethod<DeleteRequest, ObjectResponse>;
}

export interface ResourcesClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): ResourcesClient;
  service: grpc.ServiceDefinition;
  serviceName: string;
}

export interface ResourcesService {
  /** For `server.addService`. */
  definition: grpc.ServiceDefinition;
  /**
   * Client class.
   * @example
   * const { Client } = loadResourcesService();
   * const c = new Client("127.0.0.1:9090", grpc.credentials.createInsecure());
   * c.get({ ref: { group: "setpoint.dev", version: "v1", plural: "leases", namespace: "default", name: "a" } }, (err, res) => …);
   */
  Client: ResourcesClientConstructor;
}

let loaded: ResourcesService | undefined;

/** The service definition and client class of `setpoint.v1.Resources` (loaded once). */
export function loadResourcesService(): ResourcesService {
  if (loaded) return loaded;
  const pkg = fromJSON(resourcesDescriptor as Parameters<typeof fromJSON>[0], { ...LOAD_OPTIONS });
  const definition = pkg[RESOURCES_SERVICE] as unknown as grpc.ServiceDefinition;
  const Client = grpc.makeClientConstructor(definition, RESOURCES_SERVICE) as unknown as ResourcesClientConstructor;
  loaded = { definition, Client };
  return loaded;
}

/** The Status a failed call carried in its trailer, if any. */
export function statusOfError(err: { metadata?: grpc.Metadata }): WireStatus | undefined {
  const value = err.metadata?.get(STATUS_TRAILER)[0];
  if (value === undefined) return undefined;
  try {
    return JSON.parse(Buffer.isBuffer(value) ? value.toString("utf8") : value) as WireStatus;
  } catch {
    return undefined;
  }
}
