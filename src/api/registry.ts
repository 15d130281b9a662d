// The registry of live resource types. ResourceType objects live in the store
// like any other object; the registry reads them on demand and keeps each
// one's compiled schemas until the object's revision changes. Because every
// lookup checks the store, a type created or deleted by any server process
// sharing the store is live (or gone) at once, with no restart.

import { NotFoundError } from "../errors.ts";
import { consoleLog, type WarnLog } from "./log.ts";
import type { Store } from "../store.ts";
import { BUILT_IN_TYPES, RESOURCE_TYPES, typeFromResourceType, type TypeInfo } from "./types.ts";

export class TypeRegistry {
  readonly #store: Store;
  readonly #cache = new Map<string, TypeInfo>();
  readonly #log: WarnLog;
  /** `name@revision` of stored types that failed to load and were logged (once each). */
  readonly #reported = new Set<string>();

  constructor(store: Store, options: { log?: WarnLog } = {}) {
    this.#store = store;
    this.#log = options.log ?? consoleLog;
  }

  /** The live type served at `/apis/{group}/{version}/{plural}`; throws NotFoundError. */
  lookup(group: string, version: string, plural: string): TypeInfo {
    const t = this.byName(`${plural}.${group}`);
    if (!t || t.version !== version) {
      throw new NotFoundError(`the server could not find the requested resource (${plural}.${group}/${version})`, {
        subject: { group, kind: plural },
      });
    }
    return t;
  }

  /** The live type called `name` (`plural.group`), if any. */
  byName(name: string): TypeInfo | undefined {
    const builtIn = BUILT_IN_TYPES.find((t) => t.name === name);
    if (builtIn) return builtIn;
    const key = { type: RESOURCE_TYPES.name, namespace: "", name };
    const cached = this.#cache.get(name);
    // Every request looks its type up: when the store tells the revision
    // alone, a cached type that is still current is served without reading
    // (and decoding) the stored ResourceType.
    if (cached && this.#store.revisionOf && this.#store.revisionOf(key) === cached.revision) return cached;
    const stored = this.#store.get(key);
    if (!stored) {
      this.#cache.delete(name);
      return undefined;
    }
    if (cached && cached.revision === stored.revision) return cached;
    try {
      const t = typeFromResourceType(JSON.parse(stored.json) as Record<string, unknown>, stored.revision, {
        // Columns stored before a rule tightened: the type is served with the default ones (kube's fallback to default printing).
        onDroppedColumns: (causes) =>
          this.#reportOnce(
            `${name}@${stored.revision}`,
            { causes, type: name, revision: stored.revision },
            "api: a stored ResourceType's printer columns do not load; its type is served with the default columns",
          ),
      });
      this.#cache.set(name, t);
      return t;
    } catch (err) {
      // Stored before a rule tightened: serve nothing rather than crash, and say so once.
      this.#reportOnce(
        `${name}@${stored.revision}`,
        { err, type: name, revision: stored.revision },
        "api: a stored ResourceType does not load; its type is not served",
      );
      return undefined;
    }
  }

  /** Logs a warning about a stored revision once (lookups read it again until the cache holds it). */
  #reportOnce(key: string, details: object, message: string): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#log.warn(details, message);
  }

  /** Every live type: built-ins first, then stored ones by name. */
  all(): TypeInfo[] {
    const out = [...BUILT_IN_TYPES];
    for (const json of this.#store.list({ type: RESOURCE_TYPES.name, namespace: "" }).items) {
      const name = (JSON.parse(json) as { metadata: { name: string } }).metadata.name;
      const t = this.byName(name);
      if (t) out.push(t);
    }
    return out;
  }
}
