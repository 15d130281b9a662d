// Metadata-only answers (`meta.k8s.io` PartialObjectMetadata and
// PartialObjectMetadataList), what kube-apiserver sends a client that asks
// `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`
// (client-go's metadata client and informers): an object's whole `metadata`
// without the rest; a list's items so, with the list's resourceVersion and
// continue token. A watch sends each event's object (bookmarks included) as
// a PartialObjectMetadata; the converted event is made once per event and
// version, and shared by every watcher that asked for it.

import type { ListForm } from "../api/resources.ts";
import { WatchEvent } from "../watch.ts";
import type { LooseObject } from "../wire.ts";
import { parseListJson } from "./list-json.ts";

function partial(o: LooseObject, apiVersion: string): unknown {
  return { kind: "PartialObjectMetadata", apiVersion, metadata: o.metadata ?? {} };
}

/** One object's JSON text as a PartialObjectMetadata of `apiVersion` (`meta.k8s.io/v1` or `/v1beta1`). */
export function objectAsMetadata(objectJson: string, apiVersion: string): string {
  return JSON.stringify(partial(JSON.parse(objectJson) as LooseObject, apiVersion));
}

/** A list's JSON text as a PartialObjectMetadataList of `apiVersion`: its items' metadata and its list metadata. */
export function listAsMetadata(listJson: string, apiVersion: string): string {
  const { items, metadata } = parseListJson(listJson);
  return JSON.stringify({ kind: "PartialObjectMetadataList", apiVersion, metadata, items: items.map((o) => partial(o, apiVersion)) });
}

/**
 * A list as a PartialObjectMetadataList written item by item as the list streams
 * (Resources.listChunks): the same text as listAsMetadata of the whole list, without holding it.
 */
export function metadataListForm(apiVersion: string): Required<Omit<ListForm, "separator">> {
  return {
    head: (_t, meta) => JSON.stringify({ kind: "PartialObjectMetadataList", apiVersion, metadata: { ...meta }, items: [] }).slice(0, -"]}".length),
    item: (json) => JSON.stringify(partial(JSON.parse(json) as LooseObject, apiVersion)),
    tail: () => "]}",
  };
}

/** Converted events by version, kept as long as the hub's event lives. */
const converted = new Map<string, WeakMap<WatchEvent, WatchEvent>>();

/** A watch event with its object (a change's, or a bookmark's) as a PartialObjectMetadata. */
export function watchEventAsMetadata(event: WatchEvent, apiVersion: string): WatchEvent {
  let byEvent = converted.get(apiVersion);
  if (!byEvent) converted.set(apiVersion, (byEvent = new WeakMap()));
  let out = byEvent.get(event);
  if (!out) {
    out = new WatchEvent(event.type, objectAsMetadata(event.object, apiVersion), event.revision);
    byEvent.set(event, out);
  }
  return out;
}
