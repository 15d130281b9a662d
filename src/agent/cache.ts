// The informer's local cache: the newest state of every object of one type it
// has seen, keyed `namespace/name` (just `name` for cluster-scoped objects).
// Only the informer writes it; readers get the stored objects themselves,
// which they must treat as read-only (structuredClone before changing one).

import type { ApiObject } from "./client.ts";

/** The cache key of an object: `namespace/name`, or `name` when it has no namespace. */
export function keyOf(object: Pick<ApiObject, "metadata">): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a cache key into namespace (undefined for cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Read access to a cache. */
export interface CacheReader<T extends ApiObject = ApiObject> {
  /** The object under `key`, or undefined. */
  get(key: string): T | undefined;
  /** Every object, or those of one namespace, in key order. */
  list(namespace?: string): T[];
  /** Every key, in no particular order. */
  keys(): IterableIterator<string>;
  readonly size: number;
}

/** A cache of the objects of one type, indexed by key and by namespace. */
export class ObjectCache<T extends ApiObject = ApiObject> implements CacheReader<T> {
  /** Every object, by key. */
  readonly #objects = new Map<string, T>();
  /** Keys per namespace; every key of `#objects` with a namespace is in exactly one of these sets. */
  readonly #byNamespace = new Map<string, Set<string>>();

  get size(): number {
    return this.#objects.size;
  }

  get(key: string): T | undefined {
    return this.#objects.get(key);
  }

  list(namespace?: string): T[] {
    const keys = namespace === undefined ? [...this.#objects.keys()] : [...(this.#byNamespace.get(namespace) ?? [])];
    return keys.sort().map((k) => this.#objects.get(k)!);
  }

  keys(): IterableIterator<string> {
    return this.#objects.keys();
  }

  /** Stores `object`, returning the one it replaces. */
  set(object: T): T | undefined {
    const key = keyOf(object);
    const old = this.#objects.get(key);
    this.#objects.set(key, object);
    const ns = object.metadata.namespace;
    if (ns && !old) {
      let keys = this.#byNamespace.get(ns);
      if (!keys) this.#byNamespace.set(ns, (keys = new Set()));
      keys.add(key);
    }
    return old;
  }

  /** Removes the object under `key`, returning it. */
  delete(key: string): T | undefined {
    const old = this.#objects.get(key);
    if (!old) return undefined;
    this.#objects.delete(key);
    const ns = old.metadata.namespace;
    const keys = ns ? this.#byNamespace.get(ns) : undefined;
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) this.#byNamespace.delete(ns!);
    }
    return old;
  }

  /** Removes everything. */
  clear(): void {
    this.#objects.clear();
    this.#byNamespace.clear();
  }
}
