// A list answer's JSON text read back for a conversion (a Table, a
// PartialObjectMetadataList): its items, and the list metadata such a
// conversion keeps, as kube-apiserver's transforms keep it.

import type { LooseObject } from "../wire.ts";

/** The list metadata a converted list carries: resourceVersion, a non-empty continue token, remainingItemCount. */
export type ConvertedListMeta = {
  resourceVersion?: unknown;
  continue?: unknown;
  remainingItemCount?: unknown;
};

/** A list's JSON text as its items and the list metadata a converted list keeps. */
export function parseListJson(listJson: string): { items: LooseObject[]; metadata: ConvertedListMeta } {
  const list = JSON.parse(listJson) as { metadata?: Record<string, unknown>; items?: LooseObject[] };
  const { resourceVersion, continue: cont, remainingItemCount } = list.metadata ?? {};
  const metadata = {
    ...(resourceVersion !== undefined && { resourceVersion }),
    ...(cont !== undefined && cont !== "" && { continue: cont }),
    ...(remainingItemCount !== undefined && { remainingItemCount }),
  };
  return { items: list.items ?? [], metadata };
}
