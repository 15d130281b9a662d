// Gzipped List answers over gRPC (proto: ListRequest.accept_encoding,
// ListResponse.items_gzip). grpc-js servers cannot compress a response at the
// gRPC level (every message goes out with grpc-encoding identity), so a
// client on a slow link asks for it in the request instead: the answer's
// items, when they exceed the REST threshold (GZIP_THRESHOLD_BYTES), go out
// gzipped at the REST level (1) in `items_gzip`, as a serialized ListResponse
// holding only `items`. Nothing changes for a client that does not ask.
// Measured in docs/request-path.md ("Gzipped lists over gRPC").

import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { GZIP_LEVEL, GZIP_THRESHOLD_BYTES } from "./compression.ts";

const gzipAsync = promisify(gzip);

/** Whether a ListRequest's `accept_encoding` (a comma-separated list of codings, any case) names gzip. */
export function listAcceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  return acceptEncoding.split(",").some((c) => c.trim().toLowerCase() === "gzip");
}

/**
 * The `items_gzip` for `items` (a serialized ListResponse holding only items),
 * or undefined when they are too small to be worth it. The compression runs
 * on libuv's thread pool, not on the event loop.
 */
export async function gzipListItems(items: Buffer): Promise<Buffer | undefined> {
  if (items.length <= GZIP_THRESHOLD_BYTES) return undefined;
  return gzipAsync(items, { level: GZIP_LEVEL });
}
