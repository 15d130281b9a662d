// How the etcd store's values and keys look in etcd (layout: src/store/etcd.ts).
// A value is an envelope: "{ms} {guess} {write id}\n{json}", the commit time,
// the revision the decider guessed (etcd assigns the real one at commit) and
// the id of the write attempt that stored it (a write whose answer was lost
// finds its own value by it). A value under the prefix that is not an
// envelope was put there by another etcd client and reads as absent.

import { randomBytes } from "node:crypto";

/** The first key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export interface Envelope {
  time: number;
  guess: number;
  json: string;
  /** The id of the write that stored it (absent in values written before ids). */
  id?: string;
}

/** A value as stored: "{ms} {guess} {write id}\n{json}". */
export function encodeEnvelope(time: number, guess: number, json: string, id: string): Buffer {
  return Buffer.from(`${time} ${guess} ${id}\n${json}`);
}

/** An envelope's head: commit time, guessed revision, and (in values written since ids) the write id. */
const ENVELOPE_HEAD = /^(\d{1,15}) (\d{1,15})(?: (\S+))?$/;

/**
 * A stored value's envelope, or undefined for a value no Setpoint store wrote
 * (a "poison" value another etcd client put under the prefix): its head is
 * not `{ms} {guess}[ {id}]` or what follows is not a JSON object's text. Only
 * the text's first and last characters are checked, not the whole JSON.
 */
export function decodeEnvelope(value: Buffer): Envelope | undefined {
  const nl = value.indexOf(10);
  if (nl < 0 || nl > 100 || value[nl + 1] !== 0x7b || value[value.length - 1] !== 0x7d) return undefined;
  const head = ENVELOPE_HEAD.exec(value.toString("latin1", 0, nl));
  if (!head) return undefined;
  const env: Envelope = { time: Number(head[1]), guess: Number(head[2]), json: value.toString("utf8", nl + 1) };
  if (head[3]) env.id = head[3];
  return env;
}

/** The write id of a stored value, read from its head alone. */
export function writeIdOf(value: Buffer): string | undefined {
  const nl = value.indexOf(10);
  if (nl < 0 || nl > 100) return undefined;
  return value.toString("latin1", 0, nl).split(" ")[2];
}

/** The id of one write attempt: unique across processes (a random process part) and within one. */
export function writeIds(): () => string {
  const processPart = randomBytes(6).toString("base64url");
  let n = 0;
  return () => `${processPart}.${(++n).toString(36)}`;
}

/**
 * The JSON with `metadata.resourceVersion` set to `actual` where the writer
 * guessed another revision. With writes in flight most guesses miss, so the
 * usual case is done on the text: a decider sets `metadata.resourceVersion` to
 * the guess (types.ts), which in compact JSON (JSON.stringify's, the server's)
 * is one occurrence of `"resourceVersion":"<guess>"`; when the text occurs
 * exactly once, that is the field. Anything else is parsed.
 */
export function withRevision(env: Envelope, actual: number): string {
  if (env.guess === actual) return env.json;
  const json = env.json;
  const field = `"resourceVersion":"${env.guess}"`;
  const at = json.indexOf(field);
  if (at >= 0 && json.indexOf(field, at + field.length) < 0) {
    return `${json.slice(0, at)}"resourceVersion":"${actual}"${json.slice(at + field.length)}`;
  }
  try {
    const o = JSON.parse(env.json) as { metadata?: { resourceVersion?: unknown } };
    if (o.metadata && o.metadata.resourceVersion === String(env.guess)) {
      o.metadata.resourceVersion = String(actual);
      return JSON.stringify(o);
    }
  } catch {
    // not JSON: served as stored
  }
  return env.json;
}
