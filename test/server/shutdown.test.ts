// SIGTERM while a long list is being sent, on the real server process: the
// list is sent whole within --shutdown-grace (default 20 s), while watches get
// their final bookmark and end at once (API.md §5); past the grace what is
// left is cut, and the client sees its connection fail, never a body that
// parses. Before, the grace was a fixed 2 s: a list of 50,000 objects (22 MB)
// to a client that paused 3 s was cut mid-body (the chunked stream ended
// without its last chunk).

import assert from "node:assert/strict";
import http, { type IncomingMessage } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startChildServer, type ChildServer } from "../helpers/child-server.ts";

const GROUP = "shutdown.example.com";
const LIST = `/apis/${GROUP}/v1/namespaces/default/things`;
/** 3,000 objects of 10 KiB: a 30 MB list, more than loopback's socket buffers hold, so the server is still sending when it is cut. */
const COUNT = 3000;
const PAD = "x".repeat(10 * 1024);

let dir: string;
let created = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "setpoint-shutdown-"));
  const s = await startChildServer(dir, ["--workers", "1"]);
  try {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(s.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.equal(res.status, 201, await res.text());
    };
    await post("/apis/setpoint.dev/v1/resourcetypes", {
      apiVersion: "setpoint.dev/v1",
      kind: "ResourceType",
      metadata: { name: `things.${GROUP}` },
      spec: { group: GROUP, version: "v1", kind: "Thing", plural: "things", scope: "Namespaced" },
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < COUNT) {
          const n = next++;
          await post(LIST, { apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name: `t${n}` }, spec: { pad: PAD } });
          created++;
        }
      }),
    );
  } finally {
    s.child.kill("SIGTERM");
    await s.exited;
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A list request whose response is paused at its first bytes; `resume()` reads the rest. */
async function pausedList(url: string): Promise<{ res: IncomingMessage; outcome: Promise<{ body?: string; failed?: string; bytes: number }> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${LIST}`, (res) => {
      assert.equal(res.statusCode, 200);
      const chunks: Buffer[] = [];
      let bytes = 0;
      const outcome = new Promise<{ body?: string; failed?: string; bytes: number }>((done) => {
        res.on("data", (d: Buffer) => {
          chunks.push(d);
          bytes += d.length;
        });
        res.on("end", () => done({ body: Buffer.concat(chunks).toString(), bytes }));
        res.on("aborted", () => done({ failed: "aborted", bytes }));
        res.on("error", (err) => done({ failed: err.message, bytes }));
      });
      res.once("data", () => {
        res.pause();
        resolve({ res, outcome });
      });
    });
    req.on("error", reject);
  });
}

/** An HTTP watch with bookmarks: its events, and a promise of how it ended. */
async function watch(url: string, from: string): Promise<{ events: Array<{ type: string }>; ended: Promise<"end" | "aborted"> }> {
  const events: Array<{ type: string }> = [];
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${LIST}?watch=true&allowWatchBookmarks=true&resourceVersion=${from}`, (res) => {
      assert.equal(res.statusCode, 200);
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (s: string) => {
        text += s;
        for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n")) {
          events.push(JSON.parse(text.slice(0, i)) as { type: string });
          text = text.slice(i + 1);
        }
      });
      const ended = new Promise<"end" | "aborted">((done) => {
        res.on("end", () => done("end"));
        res.on("aborted", () => done("aborted"));
      });
      resolve({ events, ended });
    });
    req.on("error", reject);
  });
}

describe("SIGTERM while a long list is being sent", () => {
  it("the list is sent whole within the grace; watches get a final bookmark and end at once; exit 0", async () => {
    assert.equal(created, COUNT);
    const s: ChildServer = await startChildServer(dir, ["--workers", "1"]);
    const head = ((await (await fetch(`${s.url}${LIST}?limit=1`)).json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const w = await watch(s.url, head);
    const list = await pausedList(s.url);
    s.child.kill("SIGTERM");
    // The watch ends first, cleanly, while the list waits: shutdown has begun.
    assert.equal(await w.ended, "end");
    assert.equal(w.events.at(-1)?.type, "BOOKMARK", JSON.stringify(w.events));
    // A slow client: it reads on only after the 2 s the grace was before.
    await new Promise((r) => setTimeout(r, 3000));
    list.res.resume();
    const got = await list.outcome;
    assert.equal(got.failed, undefined, `the list was cut after ${got.bytes} bytes`);
    const items = (JSON.parse(got.body!) as { items: unknown[] }).items;
    assert.equal(items.length, COUNT);
    assert.equal(await s.exited, 0, s.output());
  });

  it("past --shutdown-grace what is left is cut: the client's read fails, it never gets a body that parses", async () => {
    const s = await startChildServer(dir, ["--workers", "1", "--shutdown-grace", "500ms"]);
    const list = await pausedList(s.url);
    s.child.kill("SIGTERM");
    // The server is gone (it cut the list at the grace) before the client reads on.
    assert.equal(await s.exited, 0, s.output());
    list.res.resume();
    const got = await list.outcome;
    assert.notEqual(got.failed, undefined, `a whole body of ${got.bytes} bytes`);
  });
});
