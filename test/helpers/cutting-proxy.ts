// A TCP proxy on 127.0.0.1 in front of one port that can lose an answer: armed
// with a marker, it forwards the client's bytes that carry it, then drops the
// connection without passing back what the server answered. The server got
// the request and answered it (so it applied it); the client sees a broken
// connection. The cut waits for the server's answer to start, not for a fixed
// time: under load a server may take longer than any fixed wait to apply a
// write. For HTTP/2 (gRPC, etcd) the answer's start is its first HEADERS frame:
// the server also sends SETTINGS, PING and WINDOW_UPDATE frames meanwhile.
// Blocked, it cuts every connection and refuses new ones: the server is
// unreachable for the client until it is unblocked.

import { connect, createServer, type Socket } from "node:net";

export interface CuttingProxy {
  port: number;
  /** The next `times` client chunks holding `marker` are forwarded, then their connections cut before any answer. */
  arm(marker: string, times?: number): void;
  /** How many connections were cut so far. */
  cuts(): number;
  /** Cuts every open connection and closes each new one at once, until unblock(). */
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  let marker: Buffer | undefined;
  let left = 0;
  let cuts = 0;
  let blocked = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    let cut = false;
    let http2: boolean | undefined; // known from the client's first bytes
    const fromClient = new FrameReader(H2_PREFACE.length);
    const fromServer = new FrameReader(0);
    let cutStream: number | undefined; // HTTP/2: the stream whose request was cut
    let fallback: ReturnType<typeof setTimeout> | undefined;
    const drop = () => {
      clearTimeout(fallback);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (d: Buffer) => {
      if (cut) return;
      http2 ??= d.subarray(0, H2_PREFACE.length).equals(H2_PREFACE.subarray(0, Math.min(d.length, H2_PREFACE.length)));
      upstream.write(d);
      if (!marker || left === 0) {
        if (http2) fromClient.push(d); // keep the frame boundaries
        return;
      }
      const m = marker;
      const carrier = http2 ? fromClient.push(d).find((f) => f.payload.includes(m)) : d.includes(m) ? { stream: undefined } : undefined;
      if (!carrier) return;
      if (--left === 0) marker = undefined;
      cut = true;
      cutStream = carrier.stream;
      cuts++;
      // Nothing of the answer goes back; a server that never answers is cut after a bound.
      fallback = setTimeout(drop, 30_000);
    });
    upstream.on("data", (d: Buffer) => {
      const answered = http2 ? fromServer.push(d).some((f) => f.type === HEADERS && f.stream === cutStream) : d.length > 0;
      if (!cut) client.write(d);
      else if (answered) drop();
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const a = server.address();
  return {
    port: typeof a === "object" && a ? a.port : 0,
    arm(m, times = 1) {
      marker = Buffer.from(m);
      left = times;
    },
    cuts: () => cuts,
    block() {
      blocked = true;
      for (const s of sockets) s.destroy();
    },
    unblock() {
      blocked = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const HEADERS = 0x1;

interface Frame {
  type: number;
  stream: number;
  payload: Buffer;
}

/** Splits one side's HTTP/2 bytes into frames (9-byte header: length u24, type, flags, stream id), after a preface. */
class FrameReader {
  #pending = Buffer.alloc(0);
  #skip: number;
  constructor(preface: number) {
    this.#skip = preface;
  }
  /** Takes the next bytes; the frames they complete. */
  push(d: Buffer): Frame[] {
    let buf = Buffer.concat([this.#pending, d]);
    const skipped = Math.min(this.#skip, buf.length);
    this.#skip -= skipped;
    buf = buf.subarray(skipped);
    const out: Frame[] = [];
    while (buf.length >= 9) {
      const size = 9 + buf.readUIntBE(0, 3);
      if (buf.length < size) break;
      out.push({ type: buf[3] ?? 0, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, size) });
      buf = buf.subarray(size);
    }
    this.#pending = buf;
    return out;
  }
}
