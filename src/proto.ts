// The gRPC wire schema of `setpoint.v1.Resources` (API.md §6), shared by the
// server (src/server/grpc.ts) and the agent SDK. The service is loaded with
// proto-loader's fromJSON from a descriptor generated at build time from
// proto/setpoint/v1/resources.proto (`npm run gen:proto`), so it works under
// tsx and inside the esbuild bundle with no .proto file on disk.
//
// The message types are generated from the .proto too (same file); how
// messages look in JS (the load options below, the same on both ends):
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
import {
  resourcesDescriptor,
  type CreateRequest,
  type DeleteRequest,
  type GetRequest,
  type ListRequest,
  type ListResponse,
  type ObjectResponse,
  type PatchRequest,
  type UpdateRequest,
  type WatchEvent,
  type WatchRequest,
} from "./generated/resources-descriptor.ts";
import type { Status } from "./wire.ts";

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

export type {
  CreateRequest,
  DeleteRequest,
  GetRequest,
  ListRequest,
  ListResponse,
  ObjectResponse,
  PatchRequest,
  ResourceRef,
  UpdateRequest,
  WatchEvent,
  WatchRequest,
} from "./generated/resources-descriptor.ts";

/**
 * A message as a sender may give it: any field may be left out (proto3 sends
 * its default), a nested message only in part, bytes as any Uint8Array.
 */
export type Outgoing<T> = {
  [K in keyof T]?: T[K] extends Buffer
    ? Uint8Array
    : T[K] extends Buffer[]
      ? Uint8Array[]
      : T[K] extends object | null
        ? Outgoing<NonNullable<T[K]>> | null
        : T[K];
};

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

/** A unary method of the generic grpc-js client. */
export interface UnaryMethod<Req, Res> {
  (request: Req, callback: Callback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, callback: Callback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: Callback<Res>): grpc.ClientUnaryCall;
}

/** The grpc-js client of the service (PascalCase aliases `Get`, `List`, … exist too). */
export interface ResourcesClient extends grpc.Client {
  get: UnaryMethod<Outgoing<GetRequest>, ObjectResponse>;
  list: UnaryMethod<Outgoing<ListRequest>, ListResponse>;
  watch(request: Outgoing<WatchRequest>, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<WatchEvent>;
  create: UnaryMethod<Outgoing<CreateRequest>, ObjectResponse>;
  update: UnaryMethod<Outgoing<UpdateRequest>, ObjectResponse>;
  updateStatus: UnaryMethod<Outgoing<UpdateRequest>, ObjectResponse>;
  patch: UnaryMethod<Outgoing<PatchRequest>, ObjectResponse>;
  delete: UnaryMethod<Outgoing<DeleteRequest>, ObjectResponse>;
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
export function statusOfError(err: { metadata?: grpc.Metadata }): Status | undefined {
  const value = err.metadata?.get(STATUS_TRAILER)[0];
  if (value === undefined) return undefined;
  try {
    return JSON.parse(Buffer.isBuffer(value) ? value.toString("utf8") : value) as Status;
  } catch {
    return undefined;
  }
}
