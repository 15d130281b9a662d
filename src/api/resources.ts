// The verbs of the API (API.md §2–§5) in one transport-neutral place: REST
// and gRPC both call these, so validation, preconditions, finalizers,
// generation, selectors, pagination and watch semantics exist once.
//
// Every write is a store decision made inside the store's write transaction
// against the object's current state, so preconditions and patches are atomic.
// Results are JSON text (objects and lists), ready to send.

import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { systemClock, type Clock } from "../clock.ts";
import { AlreadyExistsError, ApiError, BadRequestError, ConflictError, ExpiredError, InvalidError, NotFoundError, type FieldCause } from "../errors.ts";
import { labelsOf } from "../object-labels.ts";
import type { Decider, ObjectKey, Store, StoredObject, WriteDecision, WriteResult, WriteScope } from "../store.ts";
import type { WatchHub, WatchSink } from "../watch.ts";
import {
  addedUnknownFields,
  dropUnknownTopLevel,
  duplicateFieldWarning,
  strictDecodingError,
  unknownFieldWarning,
  type FieldValidation,
} from "./field-validation.ts";
import { consoleLog, type WarnLog } from "./log.ts";
import {
  asObject,
  checkMetadataTypes,
  checkTypeMatches,
  generationChanged,
  invalid,
  goZeroNulls,
  decodableMetadata,
  metadataFieldDecodes,
  metadataTypeError,
  sameContent,
  serialize,
  timestamp,
  validateObject,
} from "./object.ts";
import type { LooseObject } from "../wire.ts";
import { applyPatch, checkPatch, type PatchType } from "./patch.ts";
import { applyDefaults } from "./schema-defaults.ts";
import { defaultRbacObject } from "./rbac-types.ts";
import { finalizerWarnings } from "./validation.ts";
import {
  encodeContinue,
  expiredContinue,
  LATEST_REVISION,
  parseListQuery,
  parseRevision,
  parseWatchQuery,
  type ContinueToken,
  type RawQuery,
} from "./query.ts";
import type { TypeRegistry } from "./registry.ts";
import type { TypeValidators } from "./type-validators.ts";
import { RESOURCE_TYPES, apiVersionOf, immutableTypeChanges, newTypeCauses, typeFromResourceType, typeNameConflicts, type TypeInfo } from "./types.ts";

/** Names the resource a request is about, as the URL or the gRPC request does. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  /** Set for namespaced paths; undefined for cluster-wide ones. */
  namespace?: string;
  name?: string;
}

export interface ListPage {
  type: TypeInfo;
  items: string[];
  revision: number;
  continue?: string;
  /** Items after this page, when counted (kube's `remainingItemCount`: a page cut by `limit`, no selector). */
  remainingItemCount?: number;
}

/** A list request, checked, with the revision it needs reached: what is left is reading pages. */
interface ListPlan {
  type: TypeInfo;
  namespace: string | undefined;
  /** Serve at this revision; undefined for the newest (the first page pins it). */
  revision: number | undefined;
  after: { namespace: string; name: string } | undefined;
  limit: number | undefined;
  filter: ((json: string, namespace: string, name: string) => boolean) | undefined;
  /** The request carried a continue token (an expired revision is then 410 with a fresh-list hint). */
  continued: boolean;
  /** The items after the previous page at `revision`, as its token counted them for this scope (unfiltered only). */
  remainingBefore: number | undefined;
}

/** Fills in a part's schema defaults (src/api/schema-defaults.ts), as kube-apiserver defaults a custom resource. */
function defaultPart(o: LooseObject, part: "spec" | "status", schema: unknown): void {
  if (schema === undefined) return;
  const value = applyDefaults(schema, o[part]);
  if (value !== undefined) o[part] = value;
}

/**
 * A specless built-in type (RBAC) has no status subresource, as in kube: a
 * status write is the NotFound kube's router answers for a path it does not
 * serve (it used to be served and silently stored nothing).
 */
function noStatusOf(t: TypeInfo): void {
  if (t.specless) throw new NotFoundError("the server could not find the requested resource");
}

/** kube's warnings for finalizers a write adds, on custom types only (built-in types are not custom resources there). */
function customFinalizerWarnings(t: TypeInfo, o: LooseObject, before: LooseObject | undefined): string[] {
  return t.revision === 0 ? [] : finalizerWarnings(o.metadata.finalizers, before?.metadata.finalizers);
}

/** Items per store read when a list streams. */
const LIST_CHUNK_ITEMS = 500;

/**
 * Most characters per chunk of text a streaming list hands the socket (a
 * chunk holds whole items; a bigger item is a chunk of its own). V8 makes a
 * string over 128 KiB a large object, on pages of its own, and a full GC
 * frees those that outlived a scavenge. A page of 500 items of 400 bytes
 * joined into one chunk made 200 of them per 100k-item list: V8's
 * large-object spaces held 5–18 MiB more after five such lists, which raised
 * the server's peak RSS by 28–34 MiB, against 12–13 MiB in chunks of this
 * size. 32 Ki characters stay under 128 KiB even as two-byte text.
 */
const LIST_CHUNK_CHARS = 32 * 1024;

/**
 * The most items after a page that a list's first page counts for kube's
 * `remainingItemCount`; past it the count is left out, as kube may leave it
 * out. Counting reads the key of every item after the page: about 2 ms for
 * 10,000 on LMDB, where the first page of a million objects counted in full
 * would cost 50-70 ms (a page should cost the same whatever the list's size).
 */
const COUNT_REMAINING_MAX = 10_000;

/** A list's metadata, as a list answer carries it (kube's ListMeta; a non-empty continue token only). */
export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

function listMeta(revision: number, cont: string | undefined, remainingItemCount?: number): ListMeta {
  const meta: ListMeta = { resourceVersion: String(revision) };
  if (cont !== undefined && cont !== "") meta.continue = cont;
  if (remainingItemCount !== undefined) meta.remainingItemCount = remainingItemCount;
  return meta;
}

/**
 * The JSON text a list is written as, piece by piece as it streams: its
 * opening up to the items' array (given the list's type and metadata), each
 * item from the object's JSON text, and its closing. The default is the
 * `<Kind>List` itself; the server's Table and metadata-only answers are others.
 */
export interface ListForm {
  head(t: TypeInfo, meta: ListMeta): string;
  /** An item's text; the object's own when absent. */
  item?: (objectJson: string) => string;
  /** What goes between two items. Default `,`. */
  separator?: string;
  /** The text after the last item (called once, after every item). */
  tail(): string;
}

/** The `<Kind>List`. */
export const KIND_LIST: ListForm = {
  head: (t, meta) => `{"apiVersion":${JSON.stringify(apiVersionOf(t))},"kind":"${t.kind}List","metadata":${JSON.stringify(meta)},"items":[`,
  tail: () => "]}",
};

/** A list's JSON text up to the opening bracket of `items`. */
function listHead(t: TypeInfo, revision: number, cont: string | undefined, remainingItemCount?: number): string {
  return KIND_LIST.head(t, listMeta(revision, cont, remainingItemCount));
}

/** Options of every write verb (kube's `dryRun=All`). */
export interface WriteOptions {
  /** Check and decide the write as usual, answer with its result, store nothing. Default false. */
  dryRun?: boolean;
  /** kube's `fieldValidation`: what unknown fields do (src/api/field-validation.ts). Default Warn. */
  fieldValidation?: FieldValidation;
  /** Where Warn's warnings go, once the write succeeded (REST sends them as `Warning` headers). Default: none kept, none looked for. */
  warnings?: string[];
  /** Keys the request body had twice in one object (the transport finds them in the text it parsed); Strict refuses them, Warn warns. */
  duplicateFields?: string[];
}

/** When the request of a read of the newest state (no `resourceVersion`) arrived. */
export interface ReadOptions {
  /**
   * `syncMark()` taken when the request arrived: a consistent read of the
   * store begun since (the security gate's, deciding RBAC across replicas, or
   * another request's in flight) serves this one too (Store.sync's `since`).
   * Default: none (a consistent read begun after the call).
   */
  since?: number;
}

export interface DeleteOptions extends WriteOptions {
  preconditions?: { resourceVersion?: string; uid?: string };
}

export interface ResourcesOptions {
  clock?: Clock;
  /** How long a list or watch waits for a revision this server has not seen yet. Default 3000 ms. */
  catchUpMs?: number;
  /** Whole-object checks by type name, run with the schema on every spec write. Default: none. */
  validators?: TypeValidators;
  /** Where errors the verbs cannot return go (background cleanup). Default: console.warn. */
  log?: WarnLog;
}

const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** How many times a write starts over because its type changed while it was decided (then 409). */
const TYPE_CHANGE_REDOS = 10;

/**
 * Thrown by a write's decider when the type its object was checked against is
 * no longer the live one (its ResourceType was changed, on any replica, since
 * the write resolved it): the write starts over from resolve and validate.
 */
class TypeChangedError extends Error {}

export class Resources {
  readonly #store: Store;
  readonly #hub: WatchHub;
  readonly #types: TypeRegistry;
  readonly #clock: Clock;
  readonly #catchUpMs: number;
  readonly #validators: TypeValidators;
  readonly #log: WarnLog;
  /** Types whose objects #dropObjectsOf is removing now. */
  readonly #dropping = new Set<string>();
  /** Whether a type's schemas have defaults (#runCopy), by the type as the registry serves it (one per revision). */
  readonly #fillsDefaults = new WeakMap<TypeInfo, boolean>();

  constructor(store: Store, hub: WatchHub, types: TypeRegistry, options: ResourcesOptions = {}) {
    this.#store = store;
    this.#hub = hub;
    this.#types = types;
    this.#clock = options.clock ?? systemClock;
    this.#catchUpMs = options.catchUpMs ?? 3000;
    this.#validators = options.validators ?? new Map();
    this.#log = options.log ?? consoleLog;
  }

  /** The live type a reference names; NotFound if unknown or if the path's scope does not fit it. */
  resolve(ref: ResourceRef, needName: boolean): TypeInfo {
    const t = this.#types.lookup(ref.group, ref.version, ref.plural);
    if (!t.namespaced && ref.namespace !== undefined) {
      throw new NotFoundError(`${t.kind} is cluster-scoped: use /apis/${apiVersionOf(t)}/${t.plural}`, { subject: { group: t.group, kind: t.plural } });
    }
    if (t.namespaced && needName && ref.namespace === undefined) {
      throw new NotFoundError(`${t.kind} is namespaced: use /apis/${apiVersionOf(t)}/namespaces/NAMESPACE/${t.plural}/NAME`, {
        subject: { group: t.group, kind: t.plural },
      });
    }
    return t;
  }

  #key(t: TypeInfo, ref: ResourceRef): ObjectKey {
    return { type: t.name, namespace: t.namespaced ? (ref.namespace ?? "") : "", name: ref.name ?? "" };
  }

  #notFound(t: TypeInfo, name: string): NotFoundError {
    return new NotFoundError(`${t.plural}.${t.group} "${name}" not found`, { subject: { group: t.group, kind: t.plural, name } });
  }

  /**
   * Like resolve, but a type this process has not seen yet is looked up again
   * once the store is current: a ResourceType created through another replica
   * is live here as soon as its create was acknowledged there.
   */
  async #resolveCurrent(ref: ResourceRef, needName: boolean): Promise<TypeInfo> {
    try {
      return this.resolve(ref, needName);
    } catch (err) {
      if (!(err instanceof NotFoundError) || !this.#store.sync) throw err;
      await this.#store.sync();
      return this.resolve(ref, needName);
    }
  }

  /**
   * Before a ResourceType write on a store other replicas write too (etcd):
   * brings this replica's view up to every write acknowledged anywhere, so
   * that a name clash with a type another replica has just created is found
   * before the write. (Clashing writes racing on two replicas are settled in
   * the write itself: see #write.)
   */
  async #typesCurrent(t: TypeInfo): Promise<void> {
    if (t === RESOURCE_TYPES && this.#store.sync) await this.#store.sync();
  }

  /** A mark of when a request arrives, for its reads' `ReadOptions.since`; undefined where the store's reads are always current or not shared. */
  syncMark(): number | undefined {
    return this.#store.syncMark?.();
  }

  /**
   * Brings this process up to every write acknowledged anywhere before the
   * request (API.md §9): a consistent read of the store begun since the
   * request arrived, shared with every request it serves. Resolves to the
   * revision reached, if the store tells.
   */
  #current(read: ReadOptions): Promise<number> | undefined {
    return this.#store.sync?.(read.since === undefined ? undefined : { since: read.since });
  }

  /**
   * The object's newest state: every write acknowledged anywhere before the
   * call (a consistent read). With `resourceVersion` as kube reads it on a get:
   * "0" any state this server has, R a state at least as new as R (504
   * `Timeout` if the server cannot reach R within the catch-up time).
   */
  async get(ref: ResourceRef, options: { resourceVersion?: string } & ReadOptions = {}): Promise<string> {
    const t = await this.#resolveCurrent(ref, true);
    const rv = parseRevision(options.resourceVersion);
    if (rv === undefined) await this.#current(options);
    else if (rv > this.#store.head()) await this.#hub.waitFor(rv, this.#catchUpMs);
    const stored = this.#store.get(this.#key(t, ref));
    if (!stored) throw this.#notFound(t, ref.name ?? "");
    return stored.json;
  }

  /** A `<Kind>List` as JSON text. */
  async list(ref: ResourceRef, raw: RawQuery, read: ReadOptions = {}): Promise<string> {
    const page = await this.listPage(ref, raw, { ...read, countRemaining: true });
    return listHead(page.type, page.revision, page.continue, page.remainingItemCount) + page.items.join(",") + "]}";
  }

  /**
   * A `<Kind>List` as a lazy sequence of JSON text chunks whose concatenation
   * is what `list` returns. Without `limit`, the items are read from the store
   * a page at a time as the caller pulls (every page at the revision of the
   * first), so memory stays flat whatever the list's size. Errors of the
   * request (unknown type, bad query, expired continue, catch-up timeout)
   * throw here or at the first chunk, before any byte could be sent; so do
   * those of `form`'s head.
   *
   * With `form`, the list is written in that form instead (a Table, metadata
   * only), item by item as it streams.
   */
  async listChunks(ref: ResourceRef, raw: RawQuery, read: ReadOptions = {}, form: ListForm = KIND_LIST): Promise<Iterable<string>> {
    const plan = await this.#planList(ref, raw, read);
    if (plan.limit !== undefined) {
      const page = this.#readPage(plan, plan.after, plan.limit, true);
      const head = form.head(page.type, listMeta(page.revision, page.continue, page.remainingItemCount));
      const items = (form.item ? page.items.map(form.item) : page.items).join(form.separator ?? ",");
      return [head, items, form.tail()];
    }
    return this.#streamList(plan, form);
  }

  *#streamList(plan: ListPlan, form: ListForm): Generator<string> {
    const firstPage = this.#readPage(plan, plan.after, LIST_CHUNK_ITEMS);
    yield form.head(plan.type, listMeta(firstPage.revision, undefined));
    const separator = form.separator ?? ",";
    let first = true;
    for (const page of this.#pagesFrom(plan, firstPage)) {
      const items = form.item ? page.map(form.item) : page;
      for (let i = 0; i < items.length; ) {
        let end = i;
        let chars = 0;
        while (end < items.length && (end === i || chars + items[end]!.length <= LIST_CHUNK_CHARS)) chars += items[end++]!.length;
        yield (first ? "" : separator) + (end === i + 1 ? items[i]! : items.slice(i, end).join(separator));
        first = false;
        i = end;
      }
    }
    yield form.tail();
  }

  /** The items of `first` and of every page after it, read as the caller pulls, at `first`'s revision. */
  *#pagesFrom(plan: ListPlan, first: ListPage & { next?: { namespace: string; name: string } }): Generator<string[]> {
    const pinned: ListPlan = { ...plan, revision: first.revision };
    for (let page = first; ; page = this.#readPage(pinned, page.next, LIST_CHUNK_ITEMS)) {
      yield page.items;
      if (page.next === undefined) return;
    }
  }

  /**
   * A list's items as pages of JSON texts, for a transport that writes them
   * as it reads them (gRPC). Without `limit`, the whole list read from the
   * store a page at a time as the caller pulls, every page at the revision of
   * the first (as listChunks); with it, the one page and its continue token.
   * Errors of the request throw here, before any page is taken.
   */
  async listPages(ref: ResourceRef, raw: RawQuery, read: ReadOptions = {}): Promise<{ revision: number; continue?: string; pages: Iterable<string[]> }> {
    const plan = await this.#planList(ref, raw, read);
    const first = this.#readPage(plan, plan.after, plan.limit ?? LIST_CHUNK_ITEMS);
    if (plan.limit !== undefined) return { revision: first.revision, continue: first.continue, pages: [first.items] };
    return { revision: first.revision, pages: this.#pagesFrom(plan, first) };
  }

  /**
   * One page of a list: item JSON texts, the revision served at, and the
   * continue token if more remain; with `countRemaining` (default false), as
   * kube-apiserver, how many items follow a page that `limit` cut when the
   * list has no selector (counting them costs a pass over the rest's keys).
   */
  async listPage(ref: ResourceRef, raw: RawQuery, options: { countRemaining?: boolean } & ReadOptions = {}): Promise<ListPage> {
    const plan = await this.#planList(ref, raw, options);
    return this.#readPage(plan, plan.after, plan.limit, options.countRemaining ?? false);
  }

  /** Checks a list request and waits for the revision it needs; what is left is reading pages. */
  async #planList(ref: ResourceRef, raw: RawQuery, read: ReadOptions): Promise<ListPlan> {
    const t = await this.#resolveCurrent(ref, false);
    const q = parseListQuery(raw);
    let revision: number | undefined;
    if (q.continueFrom && q.continueFrom.revision !== LATEST_REVISION) {
      revision = q.continueFrom.revision;
      if (revision < this.#store.compacted()) throw expiredContinue(q.continueFrom);
      if (revision > this.#store.head()) await this.#hub.waitFor(revision, this.#catchUpMs);
    } else if (q.resourceVersion !== undefined && q.resourceVersion > this.#store.head()) {
      await this.#hub.waitFor(q.resourceVersion, this.#catchUpMs);
    } else if (q.resourceVersion === undefined) {
      // The newest state: every write acknowledged anywhere before this list (API.md §9).
      await this.#current(read);
    }
    if (q.exact) revision = q.resourceVersion; // a past state, from the change log
    const sel = q.labelSelector;
    const fs = q.fieldSelector;
    const namespace = t.namespaced ? (ref.namespace ?? fs?.namespace) : undefined;
    // The store resumes at the token's key: one from another namespace would
    // read the namespaces between (a client can write any token).
    if (q.continueFrom && namespace !== undefined && q.continueFrom.namespace !== namespace) {
      const message = `continue key is not valid: it continues a list of namespace ${JSON.stringify(q.continueFrom.namespace)}, not ${JSON.stringify(namespace)}`;
      throw new BadRequestError(message, { causes: [{ field: "continue", message, reason: "FieldValueInvalid" }] });
    }
    const filter =
      (sel && !sel.empty) || (fs && !fs.empty)
        ? (json: string, ns: string, name: string) => {
            if (fs && !fs.matches(ns, name)) return false;
            if (sel && !sel.empty) return sel.matches(labelsOf(json));
            return true;
          }
        : undefined;
    return {
      type: t,
      namespace,
      revision,
      after: q.continueFrom ? { namespace: q.continueFrom.namespace, name: q.continueFrom.name } : undefined,
      limit: q.limit,
      filter,
      continued: q.continueFrom !== undefined,
      remainingBefore:
        revision !== undefined && q.continueFrom?.remaining?.allNamespaces === (namespace === undefined) ? q.continueFrom.remaining.count : undefined,
    };
  }

  #readPage(
    plan: ListPlan,
    after: ListPlan["after"],
    limit: number | undefined,
    countRemaining = false,
  ): ListPage & { next?: { namespace: string; name: string } } {
    // As kube, only a list without selectors counts what follows its page. The first page
    // counts (reading the rest's keys, up to COUNT_REMAINING_MAX); the next ones at its
    // revision take the count from its token, less what they served, and count nothing
    // themselves: past the bound, every page of a long list would read as many keys again.
    const counting = countRemaining && plan.filter === undefined;
    const known = counting && after === plan.after ? plan.remainingBefore : undefined;
    const first = !plan.continued && after === plan.after;
    let result;
    try {
      result = this.#store.list({
        type: plan.type.name,
        namespace: plan.namespace,
        revision: plan.revision,
        after,
        limit,
        filter: plan.filter,
        countRemaining: counting && known === undefined && first ? COUNT_REMAINING_MAX : undefined,
      });
    } catch (err) {
      if (err instanceof ExpiredError && plan.continued && after) throw expiredContinue(after);
      // kube-apiserver's words for a list (the store's are a watch's: too old resource version: R (OLDEST)).
      if (err instanceof ExpiredError) throw new ExpiredError("The resourceVersion for the provided list is too old.", { cause: err });
      throw err;
    }
    const page: ListPage & { next?: { namespace: string; name: string } } = { type: plan.type, items: result.items, revision: result.revision };
    if (result.next) {
      const remaining = known !== undefined ? Math.max(0, known - result.items.length) : result.remaining;
      const token: ContinueToken = { revision: result.revision, ...result.next };
      if (remaining !== undefined) {
        page.remainingItemCount = remaining;
        token.remaining = { count: remaining, allNamespaces: plan.namespace === undefined };
      }
      page.continue = encodeContinue(token);
      page.next = result.next;
    }
    return page;
  }

  /**
   * Checks a watch request and waits (up to the catch-up time) for a revision
   * this server has not seen yet; resolves to the function that starts the
   * stream on a sink. Errors here come before any byte of the stream.
   */
  async openWatch(ref: ResourceRef, raw: RawQuery, read: ReadOptions = {}): Promise<(sink: WatchSink) => () => void> {
    const t = await this.#resolveCurrent(ref, false);
    const q = parseWatchQuery(raw);
    if (q.resourceVersion !== undefined && q.resourceVersion > this.#hub.revision) {
      await this.#hub.waitFor(q.resourceVersion, this.#catchUpMs);
    } else if (q.resourceVersion === undefined && this.#store.sync) {
      // From the newest state: every write acknowledged anywhere before this watch (API.md §9), as a list.
      const newest = (await this.#current(read)) ?? 0;
      if (newest > this.#hub.revision) await this.#hub.waitFor(newest, this.#catchUpMs);
    }
    const fs = q.fieldSelector;
    const request = {
      type: t.name,
      apiVersion: apiVersionOf(t),
      kind: t.kind,
      namespace: t.namespaced ? (ref.namespace ?? fs?.namespace) : undefined,
      labelSelector: q.labelSelector,
      fieldSelector: fs,
      resourceVersion: q.resourceVersion,
      sendInitialEvents: q.sendInitialEvents,
      allowBookmarks: q.allowBookmarks,
      timeoutMs: q.timeoutMs,
    };
    return (sink) => {
      const stop = this.#hub.watch(request, sink);
      // Deleted while this waited: the hub had delivered the deletion before
      // the watcher joined (a later one reaches it through the hub).
      if (!this.#types.byName(t.name)) {
        stop();
        sink.close("deleted");
      }
      return stop;
    };
  }

  /** Creates an object (201); status in the body is dropped. A dry run's object has no resourceVersion, as in kube. */
  async create(ref: ResourceRef, body: unknown, options: WriteOptions = {}): Promise<string> {
    return this.#onLiveType(() => this.#createOnce(ref, body, options));
  }

  async #createOnce(ref: ResourceRef, body: unknown, options: WriteOptions): Promise<string> {
    const t = await this.#resolveCurrent(ref, false);
    await this.#typesCurrent(t);
    if (t.namespaced && ref.namespace === undefined) {
      throw new ApiError("MethodNotAllowed", `create ${t.plural}: POST to /apis/${apiVersionOf(t)}/namespaces/NAMESPACE/${t.plural}`);
    }
    const o = this.#runCopy(t, asObject(body));
    checkMetadataTypes(o, t);
    checkTypeMatches(o, t);
    const m = o.metadata;
    let warnings: string[];
    try {
      warnings = [...this.#checkFields(t, o, undefined, options), ...customFinalizerWarnings(t, o, undefined)];
    } catch (err) {
      throw await this.#refusedOnLiveType(t, err);
    }
    if (t.namespaced) {
      if (m.namespace !== undefined && m.namespace !== "" && m.namespace !== ref.namespace) {
        throw new BadRequestError("the namespace of the provided object does not match the namespace sent on the request", {
          causes: [{ field: "metadata.namespace", message: `must be ${ref.namespace}`, reason: "FieldValueInvalid" }],
        });
      }
      m.namespace = ref.namespace;
    } else {
      delete m.namespace;
    }
    // A ref that names the object (gRPC's Create names it, and is authorized for that name): the object is that one.
    if (ref.name !== undefined) {
      if (m.name !== undefined && m.name !== "" && m.name !== ref.name) {
        throw new BadRequestError(`the name of the object (${String(m.name)}) does not match the name sent on the request (${ref.name})`, {
          causes: [{ field: "metadata.name", message: `must be ${ref.name}`, reason: "FieldValueInvalid" }],
        });
      }
      m.name = ref.name;
    }
    const generated = (m.name === undefined || m.name === "") && typeof m.generateName === "string" && m.generateName !== "";
    if (generated) m.name = this.#generateName(m.generateName!);
    m.uid = randomUUID();
    m.creationTimestamp = timestamp(this.#clock.now());
    m.generation = 1;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete o.status;
    defaultPart(o, "spec", t.specSchema);
    defaultRbacObject(t, o);
    if (t === RESOURCE_TYPES) {
      this.#checkNewType(o);
      this.#checkNoLeftovers(m.name!, options.dryRun);
    } else {
      try {
        validateObject(o, t, { spec: true, status: false, check: this.#validators.get(t.name) });
      } catch (err) {
        throw await this.#refusedOnLiveType(t, err);
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.#write(t, this.#key(t, { ...ref, name: m.name }), options, (current, revision) => {
          if (current)
            throw new AlreadyExistsError(`${t.plural}.${t.group} "${m.name}" already exists`, { subject: { group: t.group, kind: t.plural, name: m.name } });
          // Again against the types as this write commits over them: a clashing one created meanwhile, on any replica, refuses it.
          if (t === RESOURCE_TYPES) this.#checkNamesFree(o);
          if (options.dryRun) delete m.resourceVersion;
          else m.resourceVersion = String(revision);
          return { op: "put", object: serialize(o, t) };
        });
        if (warnings.length > 0) options.warnings?.push(...warnings);
        return res.object!;
      } catch (err) {
        if (!generated || !(err instanceof AlreadyExistsError) || attempt >= 8) throw err;
        m.name = this.#generateName(m.generateName!);
      }
    }
  }

  /** Replaces an object (PUT). `status` names the /status subresource: only status changes there, and only there. */
  async update(ref: ResourceRef, body: unknown, subresource?: "status", options: WriteOptions = {}): Promise<string> {
    return this.#onLiveType(() => this.#updateOnce(ref, body, subresource, options));
  }

  async #updateOnce(ref: ResourceRef, body: unknown, subresource: "status" | undefined, options: WriteOptions): Promise<string> {
    const t = await this.#resolveCurrent(ref, true);
    if (subresource === "status") noStatusOf(t);
    await this.#typesCurrent(t);
    const o = this.#runCopy(t, asObject(body));
    checkMetadataTypes(o, t);
    checkTypeMatches(o, t);
    this.#checkIdentity(t, ref, o);
    // A string by checkMetadataTypes, or null/absent: no precondition, as kube.
    const sentRevision = o.metadata.resourceVersion;
    const precondition = parseRevision(typeof sentRevision === "string" ? sentRevision : undefined, "metadata.resourceVersion");
    let warnings: string[] = [];
    const res = await this.#write(t, this.#key(t, ref), options, (current, revision) => {
      if (!current) throw this.#notFound(t, ref.name!);
      if (precondition !== undefined && precondition !== current.revision) throw this.#conflict(t, ref.name!);
      // A uid sent with the object is ignored, like every server-set field
      // (API.md §1); only a delete takes a uid precondition.
      const before = JSON.parse(current.json) as LooseObject;
      warnings = this.#checkFields(t, o, before, options);
      if (subresource === undefined) warnings.push(...customFinalizerWarnings(t, o, before));
      return this.#decideUpdate(t, before, o, current, revision, subresource);
    });
    if (warnings.length > 0) options.warnings?.push(...warnings);
    return res.object!;
  }

  /** Patches an object or its status, atomically against its current state. */
  async patch(ref: ResourceRef, type: PatchType, patch: unknown, subresource?: "status", options: WriteOptions = {}): Promise<string> {
    return this.#onLiveType(() => this.#patchOnce(ref, type, patch, subresource, options));
  }

  async #patchOnce(ref: ResourceRef, type: PatchType, patch: unknown, subresource: "status" | undefined, options: WriteOptions): Promise<string> {
    const t = await this.#resolveCurrent(ref, true);
    if (subresource === "status") noStatusOf(t);
    await this.#typesCurrent(t);
    checkPatch(type, patch);
    let warnings: string[] = [];
    const res = await this.#write(t, this.#key(t, ref), options, (current, revision) => {
      if (!current) throw this.#notFound(t, ref.name!);
      const before = JSON.parse(current.json) as LooseObject;
      // A status patch applies to the object as kube reads it: without stored metadata that does not
      // decode (an older release could store `"labels": 5`), which a status write cannot fix.
      const result = applyPatch(type, subresource === "status" ? { ...before, metadata: decodableMetadata(before.metadata) } : before, patch);
      // As kube-apiserver: a patch that takes metadata away (`{"metadata":null}`, `remove /metadata`) is
      // refused, not read as an object with no labels, annotations or finalizers.
      if (result !== null && typeof result === "object" && (result as LooseObject).metadata == null)
        throw invalid(t, ref.name!, [{ field: "metadata", message: "Required value", reason: "FieldValueRequired" }]);
      const patched = asObject(result, "patched object");
      // As kube-apiserver, which decodes the patched object: what does not decode is a 422 on `patch`.
      const undecodable = metadataTypeError(patched);
      if (undecodable !== undefined) throw invalid(t, ref.name!, [{ field: "patch", message: undecodable.message, reason: "FieldValueInvalid" }]);
      goZeroNulls(patched);
      checkTypeMatches(patched, t);
      this.#checkIdentity(t, ref, patched);
      warnings = this.#checkFields(t, patched, before, options);
      if (subresource === undefined) warnings.push(...customFinalizerWarnings(t, patched, before));
      const rv = patched.metadata.resourceVersion; // a string by metadataTypeError, or null/absent
      if (typeof rv === "string" && rv !== "" && rv !== String(current.revision)) {
        parseRevision(rv, "metadata.resourceVersion");
        throw this.#conflict(t, ref.name!);
      }
      return this.#decideUpdate(t, before, patched, current, revision, subresource);
    });
    if (warnings.length > 0) options.warnings?.push(...warnings);
    return res.object!;
  }

  /** Deletes an object, or marks it for deletion while it has finalizers. Returns its last state. */
  async delete(ref: ResourceRef, options: DeleteOptions = {}): Promise<string> {
    const t = await this.#resolveCurrent(ref, true);
    const pre = options.preconditions ?? {};
    const preRv = parseRevision(pre.resourceVersion, "preconditions.resourceVersion");
    // A delete decides on the object alone (no schema): the type need not be the live one.
    const res = await this.#write(undefined, this.#key(t, ref), options, (current, revision) => {
      if (!current) throw this.#notFound(t, ref.name!);
      const before = JSON.parse(current.json) as LooseObject;
      // kube-apiserver's BeforeDelete: the uid first, then the resourceVersion, each with its own message.
      if (pre.uid !== undefined && pre.uid !== before.metadata.uid) {
        throw this.#preconditionConflict(
          t,
          ref.name!,
          `the UID in the precondition (${pre.uid}) does not match the UID in record (${before.metadata.uid ?? ""}). The object might have been deleted and then recreated`,
        );
      }
      if (preRv !== undefined && preRv !== current.revision) {
        throw this.#preconditionConflict(
          t,
          ref.name!,
          `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${current.revision}). The object might have been modified`,
        );
      }
      return this.#decideDelete(t, before, revision);
    });
    if (t === RESOURCE_TYPES && res.op === "delete" && !options.dryRun) this.#dropObjectsOf(ref.name!);
    return res.object!;
  }

  /**
   * Deletes every object a list query selects; returns the list of what was
   * deleted. Preconditions apply to each object, as kube-apiserver's: the
   * first that does not hold fails the call (the others are still deleted).
   */
  async deleteCollection(ref: ResourceRef, raw: RawQuery, options: DeleteOptions = {}): Promise<string> {
    const t = await this.#resolveCurrent(ref, false);
    // As kube-apiserver: a namespaced type's cross-namespace path serves list and watch only (API.md §4).
    if (t.namespaced && ref.namespace === undefined) {
      throw new ApiError(
        "MethodNotAllowed",
        `the server does not allow this method on the requested resource: deletecollection of ${t.plural} is served at /apis/${apiVersionOf(t)}/namespaces/NAMESPACE/${t.plural}`,
      );
    }
    const listed = JSON.parse(await this.list(ref, { labelSelector: raw.labelSelector, fieldSelector: raw.fieldSelector })) as { items: LooseObject[] };
    const settled = await Promise.allSettled(
      listed.items.map((item) =>
        this.delete({ ...ref, namespace: item.metadata.namespace, name: item.metadata.name }, { dryRun: options.dryRun, preconditions: options.preconditions }),
      ),
    );
    // Like kube-apiserver, the call answers once every delete has ended: with the first failure, if any.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected" && !(r.reason instanceof NotFoundError));
    if (failed) throw failed.reason;
    const items = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    return `{"apiVersion":${JSON.stringify(apiVersionOf(t))},"kind":"${t.kind}List","metadata":{"resourceVersion":"${this.#store.head()}"},"items":[${items.join(",")}]}`;
  }

  /**
   * Applies `fieldValidation` to a written object (its fields beyond `before`'s):
   * Strict throws, Warn returns the warnings to send once the write succeeds
   * (looking only when someone collects them). Unknown top-level fields are dropped.
   */
  #checkFields(t: TypeInfo, o: LooseObject, before: LooseObject | undefined, options: WriteOptions): string[] {
    const mode = options.fieldValidation ?? "Warn";
    let warnings: string[] = [];
    if (mode === "Strict" || (mode === "Warn" && options.warnings)) {
      const unknown = addedUnknownFields(o, before, t);
      const duplicates = options.duplicateFields ?? [];
      if (unknown.length > 0 || duplicates.length > 0) {
        if (mode === "Strict") throw strictDecodingError(t, unknown, duplicates);
        warnings = [...duplicates.map(duplicateFieldWarning), ...unknown.map(unknownFieldWarning)];
      }
    }
    dropUnknownTopLevel(o, t);
    return warnings;
  }

  /**
   * A store write, or for a dry run the same decision against the newest
   * state with nothing stored: the decider gets the object's current revision
   * (so an update's answer keeps it, as kube's dry run does). `checked` is the
   * type the write checked the object against, if it did: a custom type's
   * write then commits only while that type is the live one.
   */
  async #write(checked: TypeInfo | undefined, key: ObjectKey, options: WriteOptions, decide: Decider): Promise<WriteResult> {
    let scope: WriteScope | undefined;
    if (key.type === RESOURCE_TYPES.name) {
      // A ResourceType's decision reads every ResourceType (its names must not
      // clash with theirs): it commits only over the state it read, so of two
      // clashing writes racing on two replicas (or processes) one is refused.
      scope = { readsType: RESOURCE_TYPES.name };
    } else if (checked && checked.revision !== 0) {
      // A custom type's object was checked against its ResourceType's schema:
      // the write commits only over that ResourceType's state the decider
      // read, and the decider refuses a type changed since the check (the
      // write starts over: #onLiveType). So a schema change acknowledged
      // anywhere applies to every write after it, on every replica.
      const typeKey: ObjectKey = { type: RESOURCE_TYPES.name, namespace: "", name: checked.name };
      scope = { reads: [typeKey] };
      const inner = decide;
      decide = (current, revision) => {
        if (this.#types.byName(checked.name)?.revision !== checked.revision) throw new TypeChangedError(`${checked.name} changed`);
        return inner(current, revision);
      };
    }
    if (!options.dryRun) return this.#store.write(key, decide, scope);
    await this.#store.sync?.();
    const current = this.#store.get(key);
    const decision = decide(current, current?.revision ?? this.#store.head());
    const object = decision.op === "none" ? current?.json : decision.object;
    return { revision: current?.revision ?? this.#store.head(), object, op: decision.op };
  }

  /**
   * Runs a write of a verb, again from the start (resolve, check, decide)
   * while it finds that its type changed since it resolved it, at most
   * TYPE_CHANGE_REDOS times. Each run keeps its warnings until it succeeds,
   * so none is counted twice.
   */
  async #onLiveType<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (!(err instanceof TypeChangedError)) throw err;
        if (attempt >= TYPE_CHANGE_REDOS) {
          throw new ConflictError(`the type of the object changed ${attempt} times while the write was decided; please try again`);
        }
        // Rare: bring this process's reads (the registry's) up to the change before resolving again.
        await this.#store.sync?.();
      }
    }
  }

  /**
   * The body one run of a custom type's write checks and fills in, so that a
   * run started over (#onLiveType) does not start from the old schema's
   * defaults: where the type's schemas have defaults (filled in in place,
   * deep), a copy of the body's top level and metadata and a deep copy of its
   * spec and status (a deep copy of every body would cost ~13 ms per MiB);
   * otherwise the body itself.
   */
  #runCopy(t: TypeInfo, o: LooseObject): LooseObject {
    if (t.revision === 0) return o;
    let defaults = this.#fillsDefaults.get(t);
    if (defaults === undefined) {
      // A property called "default" counts too: a copy too many, never one too few.
      defaults = JSON.stringify([t.specSchema, t.statusSchema]).includes('"default":');
      this.#fillsDefaults.set(t, defaults);
    }
    // Without defaults a run changes only what every run sets again (metadata the
    // server fills in, a dropped status), as a decider run twice does: no copy.
    // (One cost 8-10 µs of CPU per create in an in-process A/B, 15% of it.)
    if (!defaults) return o;
    const copy: LooseObject = { ...o, metadata: { ...o.metadata } };
    if (copy.spec !== undefined) copy.spec = structuredClone(copy.spec);
    if (copy.status !== undefined) copy.status = structuredClone(copy.status);
    return copy;
  }

  /**
   * A custom type's object refused by its checks before the write (schema,
   * strict fields): if this process's view of the type may lag (another
   * replica or worker changed it), the refusal stands only once the type is
   * found unchanged after a consistent read; else the write starts over on
   * the new type. Returns the error to throw.
   */
  async #refusedOnLiveType(t: TypeInfo, err: unknown): Promise<unknown> {
    if (t.revision === 0 || !this.#store.sync || !(err instanceof InvalidError || err instanceof BadRequestError)) return err;
    await this.#store.sync();
    return this.#types.byName(t.name)?.revision === t.revision ? err : new TypeChangedError(`${t.name} changed`);
  }

  #decideUpdate(t: TypeInfo, before: LooseObject, input: LooseObject, current: StoredObject, revision: number, subresource?: "status"): WriteDecision {
    // The stored object as kube reads one, with the schemas' defaults: a
    // default added to a schema since is not a change of this write's.
    defaultPart(before, "spec", t.specSchema);
    defaultPart(before, "status", t.statusSchema);
    let after: LooseObject;
    if (subresource === "status") {
      // Only status changes; the stored metadata stays, as kube reads it: what does not decode
      // (stored by an older release) is dropped, so the write is not refused for what it cannot change.
      after = { ...before, metadata: decodableMetadata(before.metadata) };
      if (input.status === undefined) delete after.status;
      else after.status = input.status;
      defaultPart(after, "status", t.statusSchema);
      validateObject(after, t, { spec: false, status: true, before });
    } else {
      after = { ...input, metadata: { ...input.metadata } };
      const m = after.metadata;
      const b = before.metadata;
      m.name = b.name;
      m.namespace = b.namespace;
      // The fields the server keeps come from the stored object, unless an
      // older release stored one of a JSON type that does not decode (now
      // refused on write): that value means nothing to keep, and the written
      // one stands (it decoded: checked on the body or the patched object).
      // Before, the stored value came back into every update, so no patch
      // could fix it and the object could never be written again.
      for (const key of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"] as const) {
        if (!metadataFieldDecodes(key, b[key])) continue;
        if (b[key] === undefined) delete m[key];
        else (m as Record<string, unknown>)[key] = b[key];
      }
      if (before.status === undefined) delete after.status;
      else after.status = before.status;
      defaultPart(after, "spec", t.specSchema);
      defaultRbacObject(t, after);
      if (b.deletionTimestamp !== undefined && Array.isArray(m.finalizers)) {
        const had = new Set(b.finalizers ?? []);
        const added = m.finalizers.filter((f) => !had.has(f));
        if (added.length > 0) {
          throw invalid(t, b.name ?? "", [
            {
              field: "metadata.finalizers",
              message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${[...new Set(added)]
                .sort()
                .map((f) => JSON.stringify(f))
                .join(", ")}}`,
              reason: "FieldValueForbidden",
            },
          ]);
        }
      }
      // The whole-object check runs only when spec changes, so that an object
      // stored before a check existed can still have its metadata updated.
      const check = generationChanged(before, after) || t.specless ? this.#validators.get(t.name) : undefined;
      validateObject(after, t, { spec: true, status: false, check, before });
      if (t === RESOURCE_TYPES) {
        // Columns stored before a rule tightened load as the registry loads them, and may stay as they are.
        const dropped = { onDroppedColumns: () => {} };
        const prev = typeFromResourceType(before, 0, dropped);
        const sameColumns = isDeepStrictEqual(
          (before.spec as { additionalPrinterColumns?: unknown } | undefined)?.additionalPrinterColumns,
          (after.spec as { additionalPrinterColumns?: unknown } | undefined)?.additionalPrinterColumns,
        );
        const next = typeFromResourceType(after, 0, sameColumns ? dropped : {});
        const causes = immutableTypeChanges(prev, next);
        // Only the short names can change: a clash they bring (not one stored before this rule) is refused.
        if (causes.length === 0 && !isDeepStrictEqual(prev.shortNames, next.shortNames)) {
          causes.push(...typeNameConflicts(next, this.#types.all()).filter((c) => c.field.startsWith("spec.shortNames")));
        }
        if (causes.length > 0) throw invalid(t, b.name ?? "", causes);
      }
    }
    after.metadata.generation = storedGeneration(before) + (generationChanged(before, after) ? 1 : 0);
    after.metadata.resourceVersion = String(current.revision);
    if (sameContent(before, after)) return { op: "none" };
    after.metadata.resourceVersion = String(revision);
    if (after.metadata.deletionTimestamp !== undefined && (after.metadata.finalizers ?? []).length === 0) {
      return { op: "delete", object: serialize(after, t) };
    }
    return { op: "put", object: serialize(after, t) };
  }

  #decideDelete(t: TypeInfo, before: LooseObject, revision: number): WriteDecision {
    const m = before.metadata;
    if ((m.finalizers ?? []).length > 0) {
      if (m.deletionTimestamp !== undefined) return { op: "none" };
      const after: LooseObject = { ...before, metadata: { ...m, deletionTimestamp: timestamp(this.#clock.now()), deletionGracePeriodSeconds: 0 } };
      after.metadata.generation = storedGeneration(before) + 1;
      after.metadata.resourceVersion = String(revision);
      return { op: "put", object: serialize(after, t) };
    }
    const last: LooseObject = { ...before, metadata: { ...m, resourceVersion: String(revision) } };
    return { op: "delete", object: serialize(last, t) };
  }

  /** Removes the objects of a deleted ResourceType, in the background, one write each (once at a time per type). */
  #dropObjectsOf(typeName: string): void {
    if (this.#dropping.has(typeName)) return;
    this.#dropping.add(typeName);
    const run = async () => {
      for (;;) {
        if (this.#types.byName(typeName)) return; // recreated meanwhile: keep its objects
        const page = this.#store.list({ type: typeName, limit: 500 });
        if (page.items.length === 0) return;
        await Promise.all(
          page.items.map((json) => {
            const o = JSON.parse(json) as LooseObject;
            const key = { type: typeName, namespace: o.metadata.namespace ?? "", name: o.metadata.name ?? "" };
            return this.#store.write(key, (current, revision) => {
              if (!current) return { op: "none" };
              const last = JSON.parse(current.json) as LooseObject;
              last.metadata.resourceVersion = String(revision);
              return { op: "delete", object: JSON.stringify(last) };
            });
          }),
        );
      }
    };
    run()
      .catch((err: unknown) => {
        // Typically the store is closing; what is left is removed when the type is created or deleted again.
        this.#log.warn({ err, type: typeName }, "api: removing the objects of a deleted type stopped");
      })
      .finally(() => this.#dropping.delete(typeName));
  }

  /**
   * A ResourceType cannot be created again while objects of its deleted
   * namesake remain (they would come back as the new type's): 409
   * AlreadyExists in kube's words for a CRD that is still terminating, and
   * their removal goes on (or starts again, after a restart cut it short).
   */
  #checkNoLeftovers(name: string, dryRun: boolean | undefined): void {
    if (this.#store.get({ type: RESOURCE_TYPES.name, namespace: "", name })) return; // exists: the write answers AlreadyExists
    if (this.#store.list({ type: name, limit: 1 }).items.length === 0) return;
    if (!dryRun) this.#dropObjectsOf(name);
    throw new AlreadyExistsError(`object is being deleted: ${RESOURCE_TYPES.plural}.${RESOURCE_TYPES.group} "${name}" already exists`, {
      subject: { group: RESOURCE_TYPES.group, kind: RESOURCE_TYPES.plural, name },
    });
  }

  /**
   * A new ResourceType: its metadata, its spec and the rules only a create
   * checks (src/api/types.ts), every cause in one 422 as kube-apiserver
   * validates a CRD (a missing name does not hide the spec's errors).
   */
  #checkNewType(o: LooseObject): void {
    const causes: FieldCause[] = [];
    const collect = (check: () => void): void => {
      try {
        check();
      } catch (err) {
        if (!(err instanceof InvalidError)) throw err;
        causes.push(...err.causes);
      }
    };
    collect(() => validateObject(o, RESOURCE_TYPES, { spec: true, status: false, check: this.#validators.get(RESOURCE_TYPES.name) }));
    let info: TypeInfo | undefined;
    collect(() => (info = typeFromResourceType(o, 0)));
    if (info) causes.push(...newTypeCauses(info), ...typeNameConflicts(info, this.#types.all()));
    const name = typeof o.metadata.name === "string" ? o.metadata.name : "";
    if (causes.length > 0) throw invalid(RESOURCE_TYPES, name, causes);
  }

  /** 422 if a new ResourceType's names clash with a stored type's (#checkNewType checked the rest). */
  #checkNamesFree(o: LooseObject): void {
    const causes = typeNameConflicts(typeFromResourceType(o, 0), this.#types.all());
    if (causes.length > 0) throw invalid(RESOURCE_TYPES, o.metadata.name ?? "", causes);
  }

  #checkIdentity(t: TypeInfo, ref: ResourceRef, o: LooseObject): void {
    const m = o.metadata;
    if (m.name !== undefined && m.name !== ref.name) {
      throw new BadRequestError(`the name of the object (${String(m.name)}) does not match the name on the URL (${ref.name})`, {
        causes: [{ field: "metadata.name", message: `must be ${ref.name}`, reason: "FieldValueInvalid" }],
      });
    }
    if (t.namespaced && m.namespace !== undefined && m.namespace !== "" && m.namespace !== ref.namespace) {
      throw new BadRequestError("the namespace of the provided object does not match the namespace sent on the request", {
        causes: [{ field: "metadata.namespace", message: `must be ${ref.namespace}`, reason: "FieldValueInvalid" }],
      });
    }
    m.name = ref.name;
    if (t.namespaced) m.namespace = ref.namespace;
  }

  #conflict(t: TypeInfo, name: string): ConflictError {
    return new ConflictError(
      `Operation cannot be fulfilled on ${t.plural}.${t.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { subject: { group: t.group, kind: t.plural, name } },
    );
  }

  /** A delete precondition that does not hold, as kube-apiserver's BeforeDelete words it (its Conflict names the kind, not the plural). */
  #preconditionConflict(t: TypeInfo, name: string, why: string): ConflictError {
    return new ConflictError(`Operation cannot be fulfilled on ${t.kind}.${t.group} "${name}": ${why}`, { subject: { group: t.group, kind: t.kind, name } });
  }

  /** A name from a generateName prefix, as kube's SimpleNameGenerator makes one: the prefix cut to 58 characters, then 5 random ones (63 in all at most). */
  #generateName(prefix: string): string {
    let s = prefix.slice(0, 58);
    const bytes = crypto.getRandomValues(new Uint8Array(5));
    for (const b of bytes) s += GENERATE_ALPHABET[b % GENERATE_ALPHABET.length];
    return s;
  }
}

/**
 * The stored object's generation, 1 when it has none or one that is not an
 * integer (an older release could store `"generation": "x"`, and adding 1
 * to it made "x1").
 */
function storedGeneration(o: LooseObject): number {
  const g = o.metadata.generation;
  return Number.isSafeInteger(g) ? (g as number) : 1;
}
