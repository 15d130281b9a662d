// Part of the Store contract suite (registered by runStoreContract in
// contract.ts): random histories over keys of every allowed length, checked
// against a plain in-memory model. Types are DNS-1123 subdomains of 1–253
// characters (one may extend another, as "widgets.example.com.au" extends
// "widgets.example.com"), namespaces DNS-1123 labels of 1–63 or "" (cluster
// scope), names subdomains of 1–253; a history is a sequence of puts and
// deletes (a delete of an absent key decides "none"). After it, every get,
// every list (whole type, per namespace, paginated at every limit, at every
// past revision) and the change log must equal the model's.
//
// Uses the public Store interface only; a fresh store per run. fast-check
// prints the seed and the shrunk history of a failure.

import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { isDNS1123Label, isDNS1123Subdomain } from "../../src/api/validation.ts";
import type { Change, ListOptions, ObjectKey, Store } from "../../src/store/types.ts";

/** What the property needs of a backend's fixture. */
export interface PropertyFixture {
  store: Store;
  cleanup(): Promise<void>;
}

export interface StorePropertyOptions {
  /** Random histories to try. */
  runs: number;
  /** Fixed clock value every change is stamped with. */
  now: number;
}

const LABEL_CHARS = ["a", "b", "z", "0", "9", "-"];
const SUBDOMAIN_CHARS = [...LABEL_CHARS, "."];

/**
 * A DNS-1123 string of a length in [min, max] that is often at a boundary
 * (1, 63, 64, the maximum): a short random pattern repeated to the length,
 * with alphanumeric first and last characters and no "." next to "-" or ".".
 * (The suite checks them against the API's own validation.)
 */
function dnsName(min: number, max: number, chars: string[]): fc.Arbitrary<string> {
  const boundaries = [min, max, 62, 63, 64, 65].filter((n) => n >= min && n <= max);
  const length = fc.oneof(fc.integer({ min, max }), fc.constantFrom(...boundaries));
  const pattern = fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: 6 });
  return fc.tuple(length, pattern).map(([n, p]) => {
    let out = "";
    for (let i = 0; i < n; i++) {
      let c = p[i % p.length]!;
      const edge = i === 0 || i === n - 1;
      const prev = out[i - 1];
      if (c === "." && (edge || prev === "." || prev === "-")) c = "a";
      if (c === "-" && (edge || prev === ".")) c = "b";
      out += c;
    }
    return out;
  });
}

const typeName = dnsName(1, 253, SUBDOMAIN_CHARS);
const namespaceName = fc.oneof({ weight: 4, arbitrary: dnsName(1, 63, LABEL_CHARS) }, { weight: 1, arbitrary: fc.constant("") });
const objectName = dnsName(1, 253, SUBDOMAIN_CHARS);

interface Op {
  del: boolean;
  type: number;
  namespace: number;
  name: number;
}

const scenario = fc
  .record({
    types: fc.uniqueArray(typeName, { minLength: 1, maxLength: 2 }),
    /** Also use types[0] + "." + suffix: a type whose name extends another's. */
    extendedType: fc.option(dnsName(1, 40, LABEL_CHARS), { nil: undefined }),
    namespaces: fc.uniqueArray(namespaceName, { minLength: 1, maxLength: 3 }),
    names: fc.uniqueArray(objectName, { minLength: 1, maxLength: 5 }),
    ops: fc.array(fc.record({ del: fc.boolean(), type: fc.nat(), namespace: fc.nat(), name: fc.nat() }), { minLength: 1, maxLength: 30 }),
  })
  .map((s) => {
    const types = [...s.types];
    if (s.extendedType) {
      const extended = `${types[0]}.${s.extendedType}`.slice(0, 253).replace(/[-.]+$/, "");
      if (!types.includes(extended)) types.push(extended);
    }
    return { ...s, types };
  });

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** The JSON stored for a write: its key and revision (so every item names itself). */
function objectJson(k: ObjectKey, revision: number, deleted = false): string {
  return JSON.stringify({
    kind: k.type,
    metadata: { namespace: k.namespace, name: k.name, resourceVersion: String(revision) },
    ...(deleted ? { deleted } : {}),
  });
}

function compareKeys(a: ObjectKey, b: ObjectKey): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name === b.name) return 0;
  return a.name < b.name ? -1 : 1;
}

/**
 * The model: the state after each write (states[i] is the state at revision
 * base + i) and the change log. `base` is the store's head when the run
 * starts: 0, or where a shared revision counter (etcd) stood.
 */
class Model {
  readonly states: Array<Map<string, { key: ObjectKey; json: string; revision: number }>> = [new Map()];
  readonly log: Change[] = [];

  constructor(readonly base: number) {}

  static id(k: ObjectKey): string {
    return JSON.stringify([k.type, k.namespace, k.name]);
  }

  get head(): number {
    return this.base + this.states.length - 1;
  }

  state(revision: number): Map<string, { key: ObjectKey; json: string; revision: number }> {
    return this.states[revision - this.base]!;
  }

  current(k: ObjectKey): { json: string; revision: number } | undefined {
    const v = this.state(this.head).get(Model.id(k));
    return v && { json: v.json, revision: v.revision };
  }

  apply(k: ObjectKey, del: boolean, now: number): void {
    const revision = this.head + 1;
    const next = new Map(this.state(this.head));
    const previous = this.current(k);
    const json = objectJson(k, revision, del);
    if (del) next.delete(Model.id(k));
    else next.set(Model.id(k), { key: k, json, revision });
    this.states.push(next);
    const change: Change = { revision, type: del ? "DELETED" : previous ? "MODIFIED" : "ADDED", key: k, object: json, time: now };
    if (previous) change.previous = previous.json;
    this.log.push(change);
  }

  /** What list(options) must return, ignoring limit/after. */
  list(o: Pick<ListOptions, "type" | "namespace" | "revision">): string[] {
    const state = this.state(o.revision ?? this.head);
    return [...state.values()]
      .filter((v) => v.key.type === o.type && (o.namespace === undefined || v.key.namespace === o.namespace))
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((v) => v.json);
  }
}

/** Walks every page of a list at `limit`; checks each page's shape and that all pages report one revision. */
function pages(store: Store, options: ListOptions & { limit: number }): string[] {
  const items: string[] = [];
  let after: ListOptions["after"];
  const first = store.list({ ...options });
  for (let page = first, n = 1; ; n++) {
    assert.ok(page.items.length <= options.limit, `page ${n} exceeds limit ${options.limit}`);
    items.push(...page.items);
    if (!page.next) break;
    assert.equal(page.items.length, options.limit, `page ${n} is short yet has next`);
    const meta = (JSON.parse(page.items[page.items.length - 1]!) as { metadata: { namespace: string; name: string } }).metadata;
    assert.deepEqual(page.next, { namespace: meta.namespace, name: meta.name }, "next is the page's last item");
    after = page.next;
    assert.ok(n <= 1000, "pagination does not terminate");
    page = store.list({ ...options, revision: first.revision, after });
    assert.equal(page.revision, first.revision, "every page at the first page's revision");
  }
  return items;
}

async function check(store: Store, s: Scenario, now: number): Promise<void> {
  for (const n of [...s.types, ...s.names]) assert.deepEqual(isDNS1123Subdomain(n), [], `generated ${n}`);
  for (const n of s.namespaces) if (n !== "") assert.deepEqual(isDNS1123Label(n), [], `generated ${n}`);
  const model = new Model(store.head());
  const keyOf = (op: Op): ObjectKey => {
    const type = s.types[op.type % s.types.length]!;
    return { type, namespace: s.namespaces[op.namespace % s.namespaces.length]!, name: s.names[op.name % s.names.length]! };
  };
  for (const op of s.ops) {
    const k = keyOf(op);
    const result = await store.write(k, (current, revision) => {
      if (!op.del) return { op: "put", object: objectJson(k, revision) };
      return current ? { op: "delete", object: objectJson(k, revision, true) } : { op: "none" };
    });
    if (op.del && !model.current(k)) {
      assert.equal(result.op, "none");
      continue;
    }
    model.apply(k, op.del, now);
    assert.equal(result.revision, model.head, "each write takes the next revision");
  }
  assert.equal(store.head(), model.head, "head");

  // get: every key the scenario can address, in every type.
  for (const type of s.types) {
    for (const namespace of s.namespaces) {
      for (const name of s.names) {
        const k = { type, namespace, name };
        assert.deepEqual(store.get(k), model.current(k), `get ${Model.id(k)}`);
      }
    }
  }

  // list: whole type and per namespace, at every revision; paginated at every limit now, at one per past revision.
  for (let r = model.base; r <= model.head; r++) {
    const revision = r === model.head ? {} : { revision: r };
    for (const type of s.types) {
      const want = model.list({ type, revision: r });
      const got = store.list({ type, ...revision });
      assert.equal(got.revision, r, `list ${type} at ${r}: revision`);
      assert.deepEqual(got.items, want, `list ${type} at ${r}`);
      assert.equal(got.next, undefined);
      for (const namespace of s.namespaces) {
        assert.deepEqual(
          store.list({ type, namespace, ...revision }).items,
          model.list({ type, namespace, revision: r }),
          `list ${type} ${JSON.stringify(namespace)} at ${r}`,
        );
      }
      const limits = r === model.head ? Array.from({ length: want.length + 1 }, (_, i) => i + 1) : [1 + (r % Math.max(1, want.length))];
      for (const limit of limits) {
        assert.deepEqual(pages(store, { type, limit, ...revision }), want, `list ${type} at ${r} in pages of ${limit}`);
      }
    }
  }
  const ns = s.namespaces[0]!;
  const inNs = model.list({ type: s.types[0]!, namespace: ns });
  for (let limit = 1; limit <= inNs.length + 1; limit++) {
    assert.deepEqual(pages(store, { type: s.types[0]!, namespace: ns, limit }), inNs, `namespace ${JSON.stringify(ns)} in pages of ${limit}`);
  }

  // changes: the whole log, and from every revision in windows of a few.
  assert.deepEqual(store.changes(model.base, model.log.length + 10), model.log, "change log");
  for (let after = model.base; after <= model.head; after++) {
    const limit = 1 + (after % 4);
    const i = after - model.base;
    assert.deepEqual(store.changes(after, limit), model.log.slice(i, i + limit), `changes(${after}, ${limit})`);
  }
}

/** Registers the property test; `open` gives a fresh, empty store each run. */
export function storeProperty(open: () => Promise<PropertyFixture>, options: StorePropertyOptions): void {
  it(`random histories over keys of every allowed length match an in-memory model (${options.runs} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const fixture = await open();
        try {
          await check(fixture.store, s, options.now);
        } finally {
          await fixture.cleanup();
        }
      }),
      { numRuns: options.runs },
    );
  });
}
