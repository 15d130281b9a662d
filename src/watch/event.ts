// Watch events as the hub hands them to transports: typed values (event type,
// the object's JSON text, revision), never wire bytes. Each transport encodes
// an event once, through its own WatchEncoding, and the encoding is cached on
// the event, so every watcher on that transport shares it (as etcd's
// watchable store sends mvccpb.Event values and only the gRPC layer marshals
// them). No transport reads another's encoding.
//
// HubEvent is one committed change inside the hub: the store's Change plus
// what every watcher would otherwise recompute (labels before and after,
// parsed once, lazily) and the WatchEvent of each type it is delivered as
// (label selectors turn a MODIFIED into ADDED or DELETED for some watchers).

import { labelsOf, sameLabels, withResourceVersion, type Labels } from "../object-labels.ts";
import type { Change, ChangeType } from "../store.ts";

/** The event types the hub delivers (ERROR events are written by the transports themselves). */
export type WatchEventType = ChangeType | "BOOKMARK";

/**
 * One transport's wire form of watch events. `encode` runs at most once per
 * event (per encoding object): keep one encoding object per transport.
 */
export interface WatchEncoding<T> {
  /** For debugging: which transport this is. */
  readonly name: string;
  encode(event: WatchEvent): T;
}

/** One watch event. Shared by every watcher that receives it: never modify it. */
export class WatchEvent {
  readonly type: WatchEventType;
  /** The object (for BOOKMARK, a bookmark object) as JSON text. */
  readonly object: string;
  /** The event's revision (initial ADDED events and bookmarks: the revision they were taken at). */
  readonly revision: number;
  #encoded: Map<WatchEncoding<unknown>, unknown> | undefined;
  #encodedBytes = 0;

  constructor(type: WatchEventType, object: string, revision: number) {
    this.type = type;
    this.object = object;
    this.revision = revision;
  }

  /** This event in `encoding`'s wire form, encoded on first use and cached on the event. */
  encoded<T>(encoding: WatchEncoding<T>): T {
    this.#encoded ??= new Map();
    let value = this.#encoded.get(encoding) as T | undefined;
    if (value === undefined) {
      value = ownMemory(encoding.encode(this));
      this.#encoded.set(encoding, value);
      this.#encodedBytes += byteSize(value) + ENTRY_BYTES;
    }
    return value;
  }

  /** Approximate memory the cached encodings hold (what `encoded` has added to this event). */
  get encodedBytes(): number {
    return this.#encodedBytes;
  }

  /** Approximate bytes on the wire (the object plus the envelope). */
  get size(): number {
    return this.object.length + 40;
  }
}

/** Bookkeeping per cached encoding (map entry, Buffer object), beyond its bytes. */
const ENTRY_BYTES = 100;

/**
 * `value`, or for a Buffer that is a slice of a larger ArrayBuffer (Node's
 * 8 KiB pool, which `Buffer.from` uses below 4 KiB), a copy of its own: an
 * encoding cached for as long as the event stays in the hub's window would
 * otherwise pin a whole pool slab (a soak's heap snapshot: 17 MiB of 8 KiB
 * slabs held for 11 MiB of encodings), and its counted size would be wrong.
 */
function ownMemory<T>(value: T): T {
  if (!Buffer.isBuffer(value) || value.byteLength === value.buffer.byteLength) return value;
  const own = Buffer.allocUnsafeSlow(value.byteLength);
  value.copy(own);
  return own as T;
}

/** Bytes an encoding holds: a Buffer's (or any typed array's) length, a string's length, else a guess. */
function byteSize(value: unknown): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value === "string") return value.length;
  return 64;
}

/** A committed change inside the hub. */
export class HubEvent {
  readonly revision: number;
  readonly type: ChangeType;
  /** The ResourceType name of the object. */
  readonly resource: string;
  readonly namespace: string;
  readonly name: string;
  readonly object: string;
  /** The object before the change, until `settle()` keeps only its labels (unless they changed). */
  #previous: string | undefined;
  #labels: Labels | null = null;
  #previousLabels: Labels | null = null;
  #events: Partial<Record<ChangeType, WatchEvent>> = {};
  /** The weight the hub's window counted for this event when it last looked (see `weight`). */
  counted = 0;

  constructor(change: Change) {
    this.revision = change.revision;
    this.type = change.type;
    this.resource = change.key.type;
    this.namespace = change.key.namespace;
    this.name = change.key.name;
    this.object = change.object;
    this.#previous = change.previous;
  }

  /** Labels of the object after the change. */
  labels(): Labels {
    if (this.#labels === null) this.#labels = labelsOf(this.object);
    return this.#labels;
  }

  /** Labels of the object before the change (undefined for ADDED). */
  previousLabels(): Labels {
    if (this.#previousLabels === null) this.#previousLabels = this.#previous === undefined ? undefined : labelsOf(this.#previous);
    return this.#previousLabels;
  }

  /**
   * Drops the previous object, keeping only its labels, unless the change
   * moved the labels: for events kept in the hub's window, where it would
   * otherwise hold a second copy of each object. A change that moved the
   * labels keeps it, for the watchers whose selector it leaves (`as`).
   */
  settle(): void {
    if (this.#previous !== undefined && sameLabels(this.previousLabels(), this.labels())) this.#previous = undefined;
  }

  /**
   * This change delivered as `type` (one shared WatchEvent per type). A
   * MODIFIED delivered as DELETED (to a watcher whose label selector the
   * object stopped matching) carries the object's previous state with this
   * change's resourceVersion, as kube-apiserver's watch cache sends it: the
   * last state that watcher was meant to see.
   */
  as(type: ChangeType): WatchEvent {
    const leaving = type === "DELETED" && this.type === "MODIFIED" && this.#previous !== undefined;
    return (this.#events[type] ??= new WatchEvent(type, leaving ? withResourceVersion(this.#previous!, this.revision) : this.object, this.revision));
  }

  /**
   * Approximate memory held, for bounding the in-memory window: the object,
   * the previous object (or its labels), and every WatchEvent made of this
   * change with each transport's cached encoding of it. Grows when a
   * transport first encodes the event.
   */
  get weight(): number {
    let bytes = this.object.length + (this.#previous?.length ?? 0) + 128;
    if (this.#previous === undefined && this.#previousLabels) bytes += 256;
    for (const type in this.#events) bytes += 64 + this.#events[type as ChangeType]!.encodedBytes;
    return bytes;
  }
}

/** The object of a BOOKMARK event for a watch of `apiVersion`/`kind` at `revision`, as JSON text. */
export function bookmarkObject(apiVersion: string, kind: string, revision: number, initialEventsEnd = false): string {
  const annotations = initialEventsEnd ? `,"annotations":{"k8s.io/initial-events-end":"true"}` : "";
  return `{"apiVersion":${JSON.stringify(apiVersion)},"kind":${JSON.stringify(kind)},"metadata":{"resourceVersion":"${revision}"${annotations}}}`;
}

/** A BOOKMARK event at `revision`. */
export function bookmarkEvent(apiVersion: string, kind: string, revision: number, initialEventsEnd = false): WatchEvent {
  return new WatchEvent("BOOKMARK", bookmarkObject(apiVersion, kind, revision, initialEventsEnd), revision);
}
