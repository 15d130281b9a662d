// The page reads a server makes from its store for one type's lists, seen
// through the real store (each store.list call is a page), with a way to fail
// one of them: for tests of streamed lists (back-pressure, a client that
// leaves, an error mid-list).

import type { ListOptions, ListResult, Store } from "../../src/store.ts";

export class ListPages {
  /** Every store.list of the type since the last reset, in order. */
  readonly reads: ListOptions[] = [];
  /** When set, the read of this page number (0: the first since the reset) throws this error. */
  fail: { page: number; error: Error } | undefined;

  constructor(store: Store, type: string) {
    const list = store.list.bind(store);
    store.list = (o: ListOptions): ListResult => {
      if (o.type === type) this.reads.push(o);
      if (o.type === type && this.fail !== undefined && this.reads.length - 1 === this.fail.page) throw this.fail.error;
      return list(o);
    };
  }
}
