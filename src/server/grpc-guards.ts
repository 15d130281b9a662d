// Guards at the gRPC edge for requests grpc-js itself answers badly:
//
// - A message that does not decode as the method's protobuf gets
//   INVALID_ARGUMENT with a Status (grpc-js would answer INTERNAL): the
//   service's deserializers return a marker instead of throwing, and the
//   handlers refuse it (`malformedRequest`).
// - A call answered while its client is still sending (a frame announcing a
//   message over the size bound gets RESOURCE_EXHAUSTED at once) is reset
//   with RST_STREAM(NO_ERROR), as HTTP/2 lets a server that has answered
//   (RFC 9113 §8.1), so the client stops sending and the stream does not stay
//   open waiting for bytes nobody will read.
// - A call is authenticated from its metadata, which grpc-js has read before
//   any of its message: one that is not gets UNAUTHENTICATED at once and its
//   stream is reset as above, its bytes never read nor counted (as REST
//   answers 401 before reading a body).
// - The request messages being received, across every call, are bounded by
//   their bytes (src/server/grpc-receiving.ts): past the bound a call gets
//   RESOURCE_EXHAUSTED at once and its stream is reset as above.

import * as grpc from "@grpc/grpc-js";
import { constants, type ServerHttp2Stream } from "node:http2";
import { type ApiError, BadRequestError } from "../errors.ts";
import type { ReceivingMessages } from "./grpc-receiving.ts";
import type { GrpcCall } from "./security.ts";
import { serviceError } from "./status.ts";

const MALFORMED = Symbol("malformed protobuf request");

interface Malformed {
  [MALFORMED]: string;
}

/** The service definition with deserializers that mark undecodable requests instead of failing them as INTERNAL. */
export function withMalformedRequests(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          return { [MALFORMED]: (err as Error).message } satisfies Malformed;
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/** A BadRequestError (INVALID_ARGUMENT) for a request that did not decode, else undefined. */
export function malformedRequest(request: unknown, method: string): BadRequestError | undefined {
  if (typeof request !== "object" || request === null || !(MALFORMED in request)) return undefined;
  const reason = (request as Malformed)[MALFORMED];
  return new BadRequestError(`malformed ${method} request: not a setpoint.v1 protobuf message (${reason})`, {
    causes: [{ field: "request", message: "not a valid protobuf message", reason: "FieldValueInvalid" }],
  });
}

/**
 * Authenticates a call from its metadata (`call` is grpc-js's base call: its
 * metadata, peer and TLS context are in, none of its message), given its
 * method's path: the refusal to answer it with (401), else undefined.
 */
export type Authenticate = (path: string, call: GrpcCall) => ApiError | undefined;

/**
 * The gRPC server's interceptor: resets a call's HTTP/2 stream once the
 * server has sent its whole answer while the client is still sending;
 * refuses a call `authenticate` refuses at once, before any of its message is
 * read; counts every other call's request bytes against `receiving`
 * (src/server/grpc-receiving.ts): a call refused there (RESOURCE_EXHAUSTED
 * past the bound, DEADLINE_EXCEEDED for a message not whole in time) is
 * answered at once, its stream then reset as above. Passes every other call
 * through unchanged.
 */
export function edgeInterceptor(receiving: ReceivingMessages, authenticate?: Authenticate): grpc.ServerInterceptor {
  return (method, call) => {
    const intercepting = new grpc.ServerInterceptingCall(call);
    // grpc-js hands the first interceptor its base call, which holds the stream.
    const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream;
    if (!stream || typeof stream.once !== "function") return intercepting;
    stream.once("finish", () => {
      if (!stream.readableEnded && !stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
    });
    const answer = (err: ApiError) => {
      const { code, details, metadata } = serviceError(err);
      intercepting.sendStatus({ code, details, metadata: metadata ?? new grpc.Metadata() });
    };
    // The stream is paused until the handler starts reading: answered here, the
    // base call is cancelled, never starts the handler, and drops what arrives.
    const unauthenticated = authenticate?.(method.path, call as unknown as GrpcCall);
    if (unauthenticated) {
      answer(unauthenticated);
      return intercepting;
    }
    const refuse = (err: ApiError) => {
      stop();
      answer(err);
    };
    const receipt = receiving.receipt(refuse);
    const stop = () => {
      receipt.end();
      stream.off("data", onData);
    };
    // Beside grpc-js's own listener, which has paused the stream: adding one does not make it flow.
    const onData = (chunk: Buffer) => {
      const refused = receipt.add(chunk);
      if (refused) refuse(refused);
    };
    stream.on("data", onData);
    stream.once("end", stop);
    stream.once("close", stop);
    return intercepting;
  };
}
