// The types the server serves that no ResourceType object declares (its
// built-ins: ResourceType, Lease, the RBAC types), from discovery (`/apis`,
// then `/apis/G/V`). Discovery is not watched: it is read again, a moment
// after, whenever the ResourceType objects change.

import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import type { TypeInfo } from "./types.ts";

async function discover(): Promise<TypeInfo[]> {
  const groups = ((await api.get("/apis"))?.groups ?? []) as Array<{ name: string; preferredVersion?: { groupVersion?: string; version?: string } }>;
  const lists = await Promise.all(
    groups.map(async (g) => {
      const gv = g.preferredVersion?.groupVersion;
      if (!gv) return [];
      const resources = ((await api.get(`/apis/${gv}`))?.resources ?? []) as Array<{ name: string; kind: string; namespaced: boolean; verbs?: string[] }>;
      return (
        resources
          // Subresources, and what cannot be listed (the create-only reviews), are no types to browse.
          .filter((r) => !r.name.includes("/") && (r.verbs ?? ["list"]).includes("list"))
          .map((r) => ({
            name: `${r.name}.${g.name}`,
            group: g.name,
            version: gv.slice(g.name.length + 1),
            kind: r.kind,
            plural: r.name,
            namespaced: r.namespaced,
          }))
      );
    }),
  );
  return lists.flat();
}

/** Every type discovery lists; re-read 300 ms after `changes` changes. Empty until the first answer (or on 401/403). */
export function useDiscoveredTypes(changes: number, epoch: number): TypeInfo[] {
  const [types, setTypes] = useState<TypeInfo[]>([]);
  useEffect(() => {
    let stopped = false;
    // The browser's timers (src/ui is a page, tested in a real browser), as throughout the console.
    const t = setTimeout(
      () => {
        discover().then(
          (found) => !stopped && setTypes(found),
          () => {},
        );
      },
      changes === 0 ? 0 : 300,
    );
    return () => {
      stopped = true;
      clearTimeout(t);
    };
  }, [changes, epoch]);
  return types;
}
