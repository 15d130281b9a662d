// One change as the watch hub fans it out: the store's Change plus what every
// watcher would otherwise recompute — labels before and after (parsed once,
// lazily) and the wire bytes of each event type (serialized once, shared by
// every watcher that gets it).
//
// Wire form: `{"type":"T","object":<object JSON>}\n`. HTTP watchers write the
// whole buffer; WebSocket watchers send it without the trailing newline.

import type { Change, ChangeType } from "../store.ts";

export type Labels = Record<string, string> | undefined;

export class HubEvent {
  readonly revision: number;
  readonly type: ChangeType;
  /** The ResourceType name of the object. */
  readonly resource: string;
  readonly namespace: string;
  readonly name: string;
  readonly object: string;
  readonly previous: string | undefined;
  #labels: Labels | null = null;
  #previousLabels: Labels | null = null;
  #bytes: Partial<Record<ChangeType, Buffer>> = {};

  constructor(change: Change) {
    this.revision = change.revision;
    this.type = change.type;
    this.resource = change.key.type;
    this.namespace = change.key.namespace;
    this.name = change.key.name;
    this.object = change.object;
    this.previous = change.previous;
  }

  /** Labels of the object after the change. */
  labels(): Labels {
    if (this.#labels === null) this.#labels = labelsOf(this.object);
    return this.#labels;
  }

  /** Labels of the object before the change (undefined for ADDED). */
  previousLabels(): Labels {
    if (this.#previousLabels === null) this.#previousLabels = this.previous === undefined ? undefined : labelsOf(this.previous);
    return this.#previousLabels;
  }

  /** The newline-terminated wire bytes of this change delivered as `type`. */
  bytes(type: ChangeType): Buffer {
    return (this.#bytes[type] ??= encodeEvent(type, this.object));
  }

  /** Approximate memory held, for bounding the in-memory window. */
  get weight(): number {
    return this.object.length + (this.previous?.length ?? 0) + 128;
  }
}

function labelsOf(json: string): Labels {
  const meta = (JSON.parse(json) as { metadata?: { labels?: Record<string, string> } }).metadata;
  return meta?.labels;
}

/** Encodes one watch event line from an object's JSON text, without re-serializing it. */
export function encodeEvent(type: string, objectJson: string): Buffer {
  return Buffer.from(`{"type":"${type}","object":${objectJson}}\n`);
}

/** Encodes a BOOKMARK event line for a watch of `apiVersion`/`kind` at `revision`. */
export function encodeBookmark(apiVersion: string, kind: string, revision: number, initialEventsEnd = false): Buffer {
  const annotations = initialEventsEnd ? `,"annotations":{"k8s.io/initial-events-end":"true"}` : "";
  return Buffer.from(
    `{"type":"BOOKMARK","object":{"apiVersion":${JSON.stringify(apiVersion)},"kind":${JSON.stringify(kind)},"metadata":{"resourceVersion":"${revision}"${annotations}}}}\n`,
  );
}
