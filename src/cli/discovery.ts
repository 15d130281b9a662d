// Finds resource types the way kubectl does: from the server's discovery
// documents (`/apis`, then `/apis/G/V` for each group's preferred version).
// A TYPE argument may be a plural, a singular, a kind or a short name (`pr`),
// in any case, and may be qualified with its group (`pipelineruns.ci.setpoint.dev`) when two groups
// share a name. Also builds the REST paths of a type's collections and objects.

import type { ApiClient } from "./client.ts";
import { CliError, ServerError } from "./errors.ts";

/** One resource type as discovery describes it. */
export interface ResourceInfo {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  /** Short names such as `pr`, as discovery lists them (kubectl get pr). */
  shortNames?: string[];
}

interface ApiGroupList {
  groups: Array<{ name: string; preferredVersion?: { groupVersion: string; version: string }; versions: Array<{ groupVersion: string; version: string }> }>;
}
interface ApiResourceList {
  groupVersion: string;
  resources: Array<{ name: string; singularName?: string; namespaced: boolean; kind: string; verbs?: string[]; shortNames?: string[] }>;
}

/** `plural.group`, the type's full name. */
export const typeName = (t: ResourceInfo): string => `${t.plural}.${t.group}`;
/** `singular.group`, how kubectl names one object's type in messages (`pipelinerun.ci.setpoint.dev`). */
export const objectTypeName = (t: ResourceInfo): string => `${t.singular}.${t.group}`;
export const apiVersionOf = (t: ResourceInfo): string => `${t.group}/${t.version}`;

/** The path of a type's collection: in `namespace`, or across all namespaces (and for cluster-scoped types) when undefined. */
export function collectionPath(t: ResourceInfo, namespace: string | undefined): string {
  const base = `/apis/${t.group}/${t.version}`;
  return t.namespaced && namespace !== undefined ? `${base}/namespaces/${enc(namespace)}/${t.plural}` : `${base}/${t.plural}`;
}

/** The path of one object (namespace ignored for cluster-scoped types). */
export function objectPath(t: ResourceInfo, namespace: string, name: string): string {
  return `${collectionPath(t, t.namespaced ? namespace : undefined)}/${enc(name)}`;
}

const enc = (s: string): string => encodeURIComponent(s);

/** The server's types, fetched once and refreshed on demand (after `apply` creates ResourceTypes). */
export class Discovery {
  readonly #client: ApiClient;
  #types: Promise<ResourceInfo[]> | undefined;

  constructor(client: ApiClient) {
    this.#client = client;
  }

  /** Every type the server serves, built-ins first. `options.signal` cancels the fetch (and a cancelled one is not kept). */
  types(options: { signal?: AbortSignal } = {}): Promise<ResourceInfo[]> {
    if (this.#types === undefined) {
      const fetching = this.#fetch(options.signal);
      this.#types = fetching;
      fetching.catch(() => {
        if (this.#types === fetching) this.#types = undefined;
      });
    }
    return this.#types;
  }

  /** Forgets what was fetched; the next call asks the server again. */
  refresh(): void {
    this.#types = undefined;
  }

  async #fetch(signal: AbortSignal | undefined): Promise<ResourceInfo[]> {
    let groups: ApiGroupList;
    try {
      groups = (await this.#client.get("/apis", undefined, { signal })) as ApiGroupList;
    } catch (error) {
      throw wrongPath(this.#client.server, error) ?? error;
    }
    const lists = await Promise.all(
      groups.groups.map((g) => {
        const gv = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
        return gv === undefined ? undefined : (this.#client.get(`/apis/${gv}`, undefined, { signal }) as Promise<ApiResourceList>);
      }),
    );
    const out: ResourceInfo[] = [];
    for (const list of lists) {
      if (list === undefined) continue;
      const [group, version] = splitApiVersion(list.groupVersion);
      for (const r of list.resources) {
        if (r.name.includes("/")) continue; // subresources such as pipelineruns/status
        if (r.verbs !== undefined && !r.verbs.includes("list")) continue; // the create-only reviews
        const info: ResourceInfo = { group, version, plural: r.name, singular: r.singularName || r.kind.toLowerCase(), kind: r.kind, namespaced: r.namespaced };
        if (r.shortNames !== undefined && r.shortNames.length > 0) info.shortNames = r.shortNames.map((n) => n.toLowerCase());
        out.push(info);
      }
    }
    return out;
  }

  /**
   * The type a user named: plural, singular or kind (any case), optionally
   * followed by `.group`, or else a short name, as kubectl resolves them.
   * Throws CliError if none or several match. `options.signal` cancels the discovery requests.
   */
  async resolve(query: string, options: { signal?: AbortSignal } = {}): Promise<ResourceInfo> {
    const types = await this.types(options);
    const q = query.toLowerCase();
    let matches = types.filter((t) => {
      const names = [t.plural, t.singular, t.kind.toLowerCase()];
      return names.includes(q) || names.some((n) => q === `${n}.${t.group}` || q === `${n}.${t.version}.${t.group}`);
    });
    if (matches.length === 0) matches = types.filter((t) => t.shortNames?.includes(q));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) {
      // PipelineRuns on a bare `setpoint server` are the usual first miss: say where their type comes from.
      const pipelineRuns = ["pipelineruns", "pipelinerun", "pr", "pipelineruns.ci.setpoint.dev", "pipelinerun.ci.setpoint.dev"].includes(q);
      const how = pipelineRuns
        ? "it declares PipelineRuns once a pipeline agent starts (setpoint agent pipelines, or setpoint up instead of setpoint server), or apply examples/pipelines/resource-type.yaml"
        : "the types it has: setpoint get resourcetypes";
      throw new CliError(`the server doesn't have a resource type ${JSON.stringify(query)} (${how})`);
    }
    const names = matches.map(typeName).join(", ");
    throw new CliError(`resource type ${JSON.stringify(query)} is ambiguous: it could be ${names}; name one with plural.group`);
  }

  /** The type of objects with this `apiVersion` and `kind`, or undefined if the server has none. */
  async forObject(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const [group, version] = splitApiVersion(apiVersion);
    return (await this.types()).find((t) => t.group === group && t.version === version && t.kind === kind);
  }

  /**
   * For an `apiVersion` and `kind` the server has no type for (forObject gave
   * none), what it has closest: the kind in another case or another version
   * of the group, e.g. `use kind "PipelineRun" (...)` or `the server has
   * PipelineRun in "ci.setpoint.dev/v1": use that apiVersion`. Undefined when
   * the group has no such kind at all.
   */
  async closest(apiVersion: string, kind: string): Promise<string | undefined> {
    const [group, version] = splitApiVersion(apiVersion);
    const inGroup = (await this.types()).filter((t) => t.group === group);
    const same = (t: ResourceInfo) => t.kind.toLowerCase() === kind.toLowerCase();
    const here = inGroup.find((t) => t.version === version && same(t));
    if (here) return `use kind ${JSON.stringify(here.kind)} (kinds are case-sensitive)`;
    const versions = [...new Set(inGroup.filter(same).map(apiVersionOf))];
    if (versions.length === 0) return undefined;
    const kinds = [...new Set(inGroup.filter(same).map((t) => t.kind))];
    const where = versions.map((v) => JSON.stringify(v)).join(" and ");
    return `the server has ${kinds[0]} in ${where}: use ${versions.length === 1 ? "that apiVersion" : "one of those"}${kinds.includes(kind) ? "" : " and that kind"}`;
  }
}

/**
 * For a 404 from a server URL with a path (the console's `/ui/` copied from
 * `up`'s banner, say), an error saying that the API is at the root; else
 * undefined. A path stays allowed: a proxy may serve the API under one.
 */
export function wrongPath(server: string, error: unknown): CliError | undefined {
  const url = new URL(server);
  if (!(error instanceof ServerError) || error.code !== 404 || url.pathname === "/" || url.pathname === "") return undefined;
  return new CliError(`${server} has no API at its path ${url.pathname} (${error.message}): Setpoint serves it at the root, --server ${url.origin}`);
}

/** `group/version` → [group, version]; a bare `v1` is the core group "". */
export function splitApiVersion(apiVersion: string): [string, string] {
  const i = apiVersion.lastIndexOf("/");
  return i === -1 ? ["", apiVersion] : [apiVersion.slice(0, i), apiVersion.slice(i + 1)];
}
