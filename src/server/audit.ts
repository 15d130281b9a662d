// The audit log (API.md §8): one JSON line per request, in the shape of
// Kubernetes' `audit.k8s.io/v1` Event at level Metadata (who, what verb, on
// which object, the response code, when), appended to `--audit-log-path`.
//
// The request path never waits on the disk: record() formats the line and
// queues it; one writer appends queued lines in batches. The queue is bounded
// (`maxBufferBytes`): past it new events are dropped and counted, and a
// warning is logged, rather than letting memory grow or requests stall. When
// a write fails (the disk is full: ENOSPC, or any I/O error) that batch is
// dropped and counted, an error is logged (at most once a minute), requests
// go on being served, and later batches are tried again as they come, so
// auditing resumes by itself once space is freed. close() writes what is
// queued and closes the file (the server calls it on shutdown).

import { randomUUID } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import type { Logger } from "pino";
import type { UserInfo } from "./auth/authenticator.ts";
import type { RequestAttributes } from "./auth/attributes.ts";

export interface AuditOptions {
  /** Most bytes of events waiting for the disk; past it events are dropped. Default 16 MiB. */
  maxBufferBytes?: number;
  log?: Logger;
  /** Wall clock, ms since the epoch. Default Date.now. */
  now?: () => number;
}

/** One request as the audit log records it. */
export interface AuditRecord {
  user: UserInfo | undefined;
  attributes: RequestAttributes | undefined;
  requestURI: string;
  sourceIP: string;
  userAgent?: string;
  code: number;
  /** Status reason and message of a failure (the edge's 401, 403, 429, or the API handler's). */
  failure?: { reason: string; message: string };
  /** The name in a create's body, for objectRef (kube's LogRequestObject): the path of a create names none. */
  objectName?: string;
  /** `allow` or `forbid`, when authorization ran. */
  decision?: "allow" | "forbid";
  receivedAt: number;
  /** The event's ID, as the response's `Audit-Id` header told the client (auditIdOf); default a new UUID. */
  auditID?: string;
}

/**
 * The audit ID of an HTTP request, as kube-apiserver picks it: the client's
 * `Audit-ID` header when it is a valid one (at most 255 characters, letters
 * and digits separated by hyphens), else a new UUID. The server echoes it in
 * the response's `Audit-Id` header.
 */
export function auditIdOf(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && given.length < 256 && /^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$/.test(given) ? given : randomUUID();
}

/** What the API handler tells the audit log about its request: see AuditRecord. */
export type AuditNote = Pick<AuditRecord, "failure" | "objectName">;

const notes = new WeakMap<object, AuditNote>();

/** Adds to the audit event of the request answered by `response` (the gate reads it when the response closes). */
export function noteForAudit(response: object, note: AuditNote): void {
  const known = notes.get(response);
  notes.set(response, known ? { ...known, ...note } : note);
}

/** What noteForAudit() recorded for `response`, if anything. */
export function auditNoteOf(response: object): AuditNote | undefined {
  return notes.get(response);
}

/** RFC 3339 with microseconds, as kube writes audit timestamps. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/** The audit.k8s.io/v1 Event for a record, at level Metadata, stage ResponseComplete. */
export function auditEvent(r: AuditRecord, stageAt: number, auditID: string = randomUUID()): Record<string, unknown> {
  const a = r.attributes;
  const event: Record<string, unknown> = {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    auditID,
    stage: "ResponseComplete",
    requestURI: r.requestURI,
    verb: a?.verb ?? "",
    user: r.user ? { username: r.user.name, ...(r.user.uid ? { uid: r.user.uid } : {}), groups: r.user.groups } : {},
    sourceIPs: [r.sourceIP],
  };
  if (r.userAgent) event.userAgent = r.userAgent;
  // A gRPC call refused from its metadata names no resource (it is in the unread message): no objectRef then.
  if (a?.kind === "resource" && a.resource) {
    const ref: Record<string, string> = { resource: a.resource };
    if (a.namespace) ref.namespace = a.namespace;
    if (a.name || r.objectName) ref.name = a.name || r.objectName!;
    ref.apiGroup = a.group;
    ref.apiVersion = a.version;
    if (a.subresource) ref.subresource = a.subresource;
    event.objectRef = ref;
  }
  event.responseStatus = r.failure
    ? { metadata: {}, status: "Failure", message: r.failure.message, reason: r.failure.reason, code: r.code }
    : { metadata: {}, code: r.code };
  event.requestReceivedTimestamp = microTime(r.receivedAt);
  event.stageTimestamp = microTime(stageAt);
  if (r.decision) event.annotations = { "authorization.k8s.io/decision": r.decision };
  return event;
}

/** Appends audit events to a file without blocking requests (see the file comment). */
export class AuditLog {
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  #queue: string[] = [];
  #queuedBytes = 0;
  #file: Promise<FileHandle> | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  #lastError = -Infinity;
  #lastDropWarning = -Infinity;
  readonly stats = { written: 0, dropped: 0, failed: 0 };

  constructor(path: string, options: AuditOptions = {}) {
    this.#path = path;
    this.#maxBytes = options.maxBufferBytes ?? 16 * 1024 * 1024;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  /** Queues one event; never throws, never waits. */
  record(r: AuditRecord): void {
    if (this.#closed) return;
    const line = JSON.stringify(auditEvent(r, this.#now(), r.auditID)) + "\n";
    if (this.#queuedBytes + line.length > this.#maxBytes) {
      this.stats.dropped++;
      const now = this.#now();
      if (now - this.#lastDropWarning > 60_000) {
        this.#lastDropWarning = now;
        this.#log?.warn({ path: this.#path, dropped: this.stats.dropped }, "audit: buffer full, dropping events");
      }
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#writing ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        this.#queuedBytes = 0;
        try {
          this.#file ??= open(this.#path, "a", 0o600);
          const file = await this.#file;
          await file.write(batch.join(""));
          this.stats.written += batch.length;
        } catch (err) {
          if (
            this.#file &&
            (await this.#file.then(
              () => false,
              () => true,
            ))
          )
            this.#file = undefined; // could not open: try again next batch
          this.stats.failed += batch.length;
          const now = this.#now();
          if (now - this.#lastError > 60_000) {
            this.#lastError = now;
            this.#log?.error({ err, path: this.#path, lost: this.stats.failed }, "audit: write failed; events lost, requests still served");
          }
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  /** Resolves once every queued event has been written (or failed). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Writes what is queued, then closes the file. Later records are ignored. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    const file = this.#file;
    this.#file = undefined;
    if (file)
      await file.then(
        (f) => f.close(),
        () => undefined,
      );
  }
}
