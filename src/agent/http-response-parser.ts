// An HTTP/1.1 response parser for the client's unary REST calls
// (src/agent/http-unary.ts): bytes in, as they arrive from the socket, one
// whole response out.
//
// - Framing (RFC 9112 §6): no body for 1xx, 204 and 304 (interim 1xx
//   responses are skipped); `Transfer-Encoding: chunked` (trailers read and
//   dropped); else `Content-Length`; else the body runs until the server
//   closes the connection (`end()`).
// - Keep-alive: an HTTP/1.1 response unless it says `Connection: close`; an
//   HTTP/1.0 one only with `Connection: keep-alive`; never a response whose
//   body ended with the connection. The server's `Keep-Alive: timeout=N` hint
//   is passed on.
// - Anything that is not such a response (a bad status line or header, a
//   head past MAX_HEAD_BYTES, a body past MAX_BODY_BYTES, bytes after the
//   response: this client never pipelines) throws HttpProtocolError; the
//   connection is then unusable.

/** Most bytes of a response's status line and headers. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Most bytes of a response body (objects are at most 1.5 MiB of JSON). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** A complete response. */
export interface HttpResponse {
  status: number;
  body: Buffer;
  /** Whether the connection may carry another request. */
  keepAlive: boolean;
  /** The server's `Keep-Alive: timeout=N` hint in ms, when it gave one. */
  keepAliveMs: number | undefined;
}

/** Bytes that are not an HTTP/1.x response, or (`truncated`) the connection closed before the response was whole. */
export class HttpProtocolError extends Error {
  /** Whether the connection closed before the response was complete (what came was not wrong, only cut short). */
  readonly truncated: boolean;
  constructor(message: string, options: { truncated?: boolean } = {}) {
    super(`http: ${message}`);
    this.name = "HttpProtocolError";
    this.truncated = options.truncated ?? false;
  }
}

type State = "head" | "length" | "close" | "chunk-size" | "chunk-data" | "chunk-end" | "trailers" | "done";

const EMPTY = Buffer.alloc(0);

/** Parses one response; make a new one per request. */
export class ResponseParser {
  #state: State = "head";
  /** Bytes received but not consumed yet (a partial head or line). */
  #pending: Buffer = EMPTY;
  #status = 0;
  #keepAlive = true;
  #keepAliveMs: number | undefined;
  /** Body bytes still to come in the current Content-Length body or chunk. */
  #remaining = 0;
  #body: Buffer[] = [];
  #bodyBytes = 0;

  /** Takes the next bytes; returns the response once it is complete. */
  push(chunk: Buffer): HttpResponse | undefined {
    if (this.#state === "done") throw new HttpProtocolError("bytes after the response");
    const data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = EMPTY;
    let at = 0;
    for (;;) {
      if (this.#state === "done") {
        if (at < data.length) throw new HttpProtocolError("bytes after the response");
        return this.#response(this.#keepAlive);
      }
      // Every state but "done" needs at least one more byte.
      if (at >= data.length) return undefined;
      switch (this.#state) {
        case "head": {
          const end = data.indexOf("\r\n\r\n", at, "latin1");
          if (end < 0) {
            if (data.length - at > MAX_HEAD_BYTES) throw new HttpProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
            return this.#keep(data, at);
          }
          if (end - at > MAX_HEAD_BYTES) throw new HttpProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
          this.#head(data.toString("latin1", at, end));
          at = end + 4;
          break;
        }
        case "length":
        case "chunk-data": {
          const n = Math.min(this.#remaining, data.length - at);
          this.#take(data.subarray(at, at + n));
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = this.#state === "length" ? "done" : "chunk-end";
          break;
        }
        case "close":
          this.#take(at === 0 ? data : data.subarray(at));
          at = data.length;
          break;
        case "chunk-size": {
          const nl = data.indexOf("\r\n", at, "latin1");
          if (nl < 0) return this.#keepLine(data, at);
          const text = data.toString("latin1", at, nl);
          const hex = (text.includes(";") ? text.slice(0, text.indexOf(";")) : text).trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw new HttpProtocolError(`bad chunk size ${JSON.stringify(text.slice(0, 40))}`);
          this.#remaining = Number.parseInt(hex, 16);
          this.#state = this.#remaining === 0 ? "trailers" : "chunk-data";
          at = nl + 2;
          break;
        }
        case "chunk-end":
          if (data.length - at < 2) return this.#keep(data, at);
          if (data[at] !== 13 || data[at + 1] !== 10) throw new HttpProtocolError("chunk not followed by CRLF");
          at += 2;
          this.#state = "chunk-size";
          break;
        case "trailers": {
          const nl = data.indexOf("\r\n", at, "latin1");
          if (nl < 0) return this.#keepLine(data, at);
          if (nl === at) this.#state = "done";
          at = nl + 2;
          break;
        }
      }
    }
  }

  /** The connection ended: the response if its body runs until the close, else HttpProtocolError. */
  end(): HttpResponse {
    if (this.#state === "close") {
      this.#state = "done";
      return this.#response(false);
    }
    throw new HttpProtocolError(this.#state === "head" && this.#pending.length === 0 ? "connection closed before the answer" : "connection closed mid-answer", {
      truncated: true,
    });
  }

  #keep(data: Buffer, at: number): undefined {
    this.#pending = at === 0 ? data : data.subarray(at);
    return undefined;
  }

  #keepLine(data: Buffer, at: number): undefined {
    if (data.length - at > 4096) throw new HttpProtocolError("chunk size or trailer line longer than 4096 bytes");
    return this.#keep(data, at);
  }

  #take(bytes: Buffer): void {
    this.#bodyBytes += bytes.length;
    if (this.#bodyBytes > MAX_BODY_BYTES) throw new HttpProtocolError(`response body larger than ${MAX_BODY_BYTES} bytes`);
    this.#body.push(bytes);
  }

  #response(keepAlive: boolean): HttpResponse {
    const body = this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body, this.#bodyBytes);
    return { status: this.#status, body, keepAlive, keepAliveMs: this.#keepAliveMs };
  }

  /** Reads a status line and headers; sets the state for the body. */
  #head(text: string): void {
    const lines = text.split("\r\n");
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!);
    if (!m) throw new HttpProtocolError(`bad status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const status = Number(m[2]);
    let length: number | undefined;
    let chunked = false;
    let connection = "";
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new HttpProtocolError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value)))
          throw new HttpProtocolError(`bad Content-Length ${JSON.stringify(value.slice(0, 40))}`);
        length = Number(value);
      } else if (name === "transfer-encoding") {
        chunked = value.toLowerCase().split(",").at(-1)!.trim() === "chunked";
        if (!chunked) throw new HttpProtocolError(`unsupported Transfer-Encoding ${JSON.stringify(value.slice(0, 40))}`);
      } else if (name === "connection") {
        connection += `,${value.toLowerCase()}`;
      } else if (name === "keep-alive") {
        const t = /(?:^|[\s,])timeout=(\d+)/i.exec(value);
        if (t) this.#keepAliveMs = Number(t[1]) * 1000;
      }
    }
    const tokens = connection.split(",").map((t) => t.trim());
    this.#keepAlive = m[1] === "1" ? !tokens.includes("close") : tokens.includes("keep-alive");
    if (status < 200) {
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      if (status === 101) throw new HttpProtocolError("unexpected 101 Switching Protocols");
      this.#keepAliveMs = undefined;
      this.#state = "head";
      return;
    }
    this.#status = status;
    if (status === 204 || status === 304) this.#state = "done";
    else if (chunked) this.#state = "chunk-size";
    else if (length !== undefined) {
      if (length > MAX_BODY_BYTES) throw new HttpProtocolError(`response body larger than ${MAX_BODY_BYTES} bytes`);
      this.#remaining = length;
      this.#state = length === 0 ? "done" : "length";
    } else {
      this.#keepAlive = false;
      this.#state = "close";
    }
  }
}
