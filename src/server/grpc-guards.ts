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

import * as grpc from "@grpc/grpc-js";
import { constants, type ServerHttp2Stream } from "node:http2";
import { BadRequestError } from "../errors.ts";

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
 * Resets a call's HTTP/2 stream once the server has sent its whole answer
 * while the client is still sending. Passes the call through unchanged.
 */
export const resetAnsweredStreams: grpc.ServerInterceptor = (_method, call) => {
  // grpc-js hands the first interceptor its base call, which holds the stream.
  const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream;
  if (stream && typeof stream.once === "function") {
    stream.once("finish", () => {
      if (!stream.readableEnded && !stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
    });
  }
  return new grpc.ServerInterceptingCall(call);
};
