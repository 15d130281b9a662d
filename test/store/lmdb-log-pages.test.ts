// The LMDB store's change log fills its pages: revisions only grow, so each
// record is appended at the end of the log's B-tree (MDB_APPEND) instead of
// splitting the last page in half. A half-empty log costs disk, page cache
// and the server's resident memory (LMDB is memory-mapped): about a sixth
// more log pages for the same records.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { open } from "lmdb";
import { openLmdbStore } from "../../src/store/lmdb.ts";

const dir = mkdtempSync(join(tmpdir(), "setpoint-log-pages-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("LMDB store: change log pages", () => {
  it("fills the log's leaf pages with records (at least 92% of their bytes; splitting pages leaves about 85%)", async () => {
    const store = openLmdbStore(dir, { pollIntervalMs: 0 });
    const pad = "x".repeat(300);
    let next = 0;
    const writer = async () => {
      while (next < 3000) {
        const i = next++;
        await store.write({ type: "items.test.setpoint.dev", namespace: "default", name: `item-${i}` }, (_current, revision) => ({
          op: "put",
          object: JSON.stringify({ metadata: { name: `item-${i}`, namespace: "default", resourceVersion: String(revision) }, spec: { i, pad } }),
        }));
      }
    };
    // Concurrent writers: the store commits them in batches, as a busy server does.
    await Promise.all(Array.from({ length: 16 }, writer));
    await store.close();

    const root = open({ path: dir, maxDbs: 8, readOnly: true });
    try {
      const log = root.openDB({ name: "log", encoding: "binary" });
      const stats = log.getStats() as { entryCount: number; treeLeafPageCount: number; overflowPages: number; pageSize: number };
      assert.equal(stats.entryCount, 3000);
      assert.equal(stats.overflowPages, 0);
      let used = 0;
      for (const { value } of log.getRange({})) {
        // A leaf node: 8 bytes of header, the key (a revision: 9 bytes or fewer), the value, a 2-byte slot.
        used += 8 + 9 + (value as Buffer).length + 2;
      }
      const fill = used / (stats.treeLeafPageCount * stats.pageSize);
      assert.ok(fill >= 0.92, `log leaf pages are ${(fill * 100).toFixed(1)}% full (${stats.treeLeafPageCount} pages for ${stats.entryCount} records)`);
    } finally {
      await root.close();
    }
  });
});
