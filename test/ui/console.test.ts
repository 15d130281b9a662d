// The web console in a real browser (headless Chromium via playwright-core)
// against a real server on an ephemeral port: it is served with its security
// headers and no credentials; it lists types; an object created over REST
// appears in its table without a reload, a status write shows in the object
// view, a delete removes the row; a diamond PipelineRun run by a real
// pipeline agent shows its graph, every task reaches Succeeded live, and the
// tasks' output appears (as text, never as HTML); the table stays virtual
// with 10,000 objects; a server restart on the same port and data directory
// shows as a reconnect and the table misses nothing; with a token configured,
// no token means no data. Every wait has a deadline. Screenshots of each view
// go to scratch/screenshots/ (test/helpers/browser.ts).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserSkipReason, launchChromium, screenshotDir } from "../helpers/browser.ts";
import { api, createType, startTestServer, type TestServer } from "../helpers/server.ts";
import { startCuttingProxy } from "../helpers/cutting-proxy.ts";
import { createRun, startAgent, startPipelineEnv, waitForPhase, type AgentProcess, type PipelineEnv } from "../pipelines/fixtures.ts";

const WIDGETS = { group: "demo.example.com", kind: "Widget", plural: "widgets" };
const WIDGET_TYPE = "widgets.demo.example.com";
const widget = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "demo.example.com/v1",
  kind: "Widget",
  metadata: { name, labels },
  spec: { size: 1 },
});
const DEADLINE = 15_000;

/** A page that records what the browser reported: console errors (CSP violations among them) and page errors. */
async function openPage(
  browser: Browser,
  options: Parameters<Browser["newContext"]>[0] = {},
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(DEADLINE);
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { context, page, errors };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshotDir(), `${name}.png`) });
}

/** Console errors other than failed network loads (a dropped WebSocket or a refused request logs those on purpose). */
const unexpected = (errors: string[]) => errors.filter((e) => !/Failed to load resource|WebSocket connection to|ERR_CONNECTION_REFUSED|401|403/.test(e));

/**
 * Waits until the table shows exactly these rows, in order. A filter change
 * restarts the table's watch, so the table may be empty for a moment between
 * the old watch and the new list: wait for the final state, not the first.
 */
async function rowsAre(page: { waitForFunction(fn: (names: string) => boolean, arg: string): Promise<unknown> }, names: string[]): Promise<void> {
  await page.waitForFunction((want) => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ getAttribute(n: string): string | null }> } }).document;
    return [...doc.querySelectorAll(".grid-body .grid-row")].map((r) => r.getAttribute("data-name")).join(",") === want;
  }, names.join(","));
}

describe("web console in Chromium", { skip: browserSkipReason() }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it("is served at /ui/ without credentials, with a CSP allowing only the server, and caches hashed assets for good", async () => {
    const s = await startTestServer({ token: "t0ken" });
    try {
      const res = await fetch(`${s.url}/ui/`);
      assert.equal(res.status, 200);
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /connect-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
      assert.equal(res.headers.get("cache-control"), "no-cache");
      const html = await res.text();
      assert.doesNotMatch(html, /<script>|<style>|\sstyle=|\son\w+=/i, "no inline script or style");
      const script = /src="(app-[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(script, html);
      const js = await fetch(`${s.url}/ui/${script}`, { headers: { "accept-encoding": "identity" } });
      assert.equal(js.status, 200);
      assert.match(js.headers.get("content-type") ?? "", /javascript/);
      assert.match(js.headers.get("cache-control") ?? "", /immutable/);
      const zipped = await fetch(`${s.url}/ui/${script}`, { headers: { "accept-encoding": "gzip" } });
      assert.equal(zipped.headers.get("content-encoding"), "gzip");
      assert.ok(Number(zipped.headers.get("content-length")) < Number(js.headers.get("content-length")) / 2, "gzip at least halves the script");
      // Accept-Encoding as RFC 9110 reads it (src/server/compression.ts): a weight of 0 refuses gzip.
      const refused = await fetch(`${s.url}/ui/${script}`, { headers: { "accept-encoding": "gzip;q=0, identity" } });
      assert.equal(refused.headers.get("content-encoding"), null);
      assert.equal(refused.headers.get("content-length"), js.headers.get("content-length"));
      const again = await fetch(`${s.url}/ui/`, { headers: { "if-none-match": res.headers.get("etag")! } });
      assert.equal(again.status, 304);
      assert.equal((await fetch(`${s.url}/ui`, { redirect: "manual" })).headers.get("location"), "/ui/");
      assert.equal((await fetch(`${s.url}/ui/nope.js`)).status, 404);
      assert.equal((await fetch(`${s.url}/apis/setpoint.dev/v1/resourcetypes`)).status, 401, "data still needs the token");
    } finally {
      await s.stop();
    }
  });

  it("works offline: every request of every view goes to the server and is answered, and the console logs no error", async () => {
    const s = await startTestServer();
    const { context, page, errors } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      await http.post(`${prefix}/namespaces/default/widgets`, widget("one"));
      const origin = new URL(s.url);
      const elsewhere: string[] = [];
      const refused: string[] = [];
      const note = (url: string) => {
        const u = new URL(url);
        if (u.protocol === "data:") return;
        if (u.host !== origin.host || !["http:", "ws:"].includes(u.protocol)) elsewhere.push(url);
      };
      page.on("request", (r) => note(r.url()));
      page.on("websocket", (w) => note(w.url()));
      // The page parses its API answers: it asks for them compact, not indented as a browser's User-Agent would get them.
      const indented: string[] = [];
      page.on("response", (r) => {
        if (r.status() >= 400) refused.push(`${r.status()} ${r.url()}`);
        if (new URL(r.url()).pathname.startsWith("/apis/") && r.request().resourceType() === "fetch")
          void r.text().then(
            (text) => text.startsWith("{\n") && indented.push(r.url()),
            () => {},
          );
      });
      page.on("requestfailed", (r) => refused.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
      await page.goto(`${s.url}/ui/`);
      await page.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="1"]`).waitFor();
      await page.click(`tr[data-type="${WIDGET_TYPE}"] a`);
      await page.locator('.grid-row[data-name="one"]').waitFor();
      await page.click('.grid-row[data-name="one"]');
      await page.locator("pre.yaml", { hasText: "name: one" }).waitFor();
      await page.click('nav a:has-text("Create")');
      await page.locator("#create-yaml").waitFor();
      await page.click('nav a:has-text("Server")');
      await page.locator('[data-metric="revision"] .card-value', { hasText: /^\d+$/ }).waitFor();
      await page.reload();
      await page.locator('[data-metric="revision"] .card-value', { hasText: /^\d+$/ }).waitFor();
      assert.deepEqual(elsewhere, [], "nothing but the server");
      assert.deepEqual(refused, [], "every request answered");
      assert.deepEqual(indented, [], "API answers compact (pretty=false)");
      // Chromium's own request for /favicon.ico is not reported as a request, but its 404 is logged: the console names its icon inline.
      assert.deepEqual(errors, [], "no console error, no 404 among them");
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("on an empty store says how to declare a type, declares one from its template, and a page for a type not declared yet says so, then shows it", async () => {
    const s = await startTestServer();
    const { context, page, errors } = await openPage(browser);
    try {
      const http = api(s.url);
      await page.goto(`${s.url}/ui/`);
      const hint = page.locator('[data-empty="types"]');
      await hint.waitFor();
      assert.match((await hint.textContent()) ?? "", /No types of your own yet.*ResourceType.*resource-type\.yaml.*setpoint up/s);
      await shot(page, "empty-store");

      // A page for a type nobody declared: said plainly (once the server's types are known), and it follows when one is declared.
      const waiting = await context.newPage();
      await waiting.goto(`${s.url}/ui/#/t/${WIDGET_TYPE}`);
      await waiting.locator(`[data-missing-type="${WIDGET_TYPE}"]`).waitFor();
      await createType(http, WIDGETS);
      await waiting.locator("#table-title", { hasText: "Widget" }).waitFor();
      await waiting.locator(".grid-body .empty", { hasText: "No objects yet" }).waitFor();
      await waiting.close();
      await hint.waitFor({ state: "detached" });

      // The hint's link opens a ResourceType template that the server accepts as it is.
      await http.del(`/apis/setpoint.dev/v1/resourcetypes/${WIDGET_TYPE}`);
      await hint.waitFor();
      await page.click('[data-empty="types"] a');
      await page.locator("#create-yaml").waitFor();
      assert.match(await page.inputValue("#create-yaml"), /kind: ResourceType/);
      await page.click('button[type="submit"]');
      await page.locator("#object-title", { hasText: "widgets.example.com" }).waitFor();
      await page.goto(`${s.url}/ui/#/`);
      await page.locator('tr[data-type="widgets.example.com"] td[data-count="0"]').waitFor();
      assert.equal(await page.locator('[data-empty="types"]').count(), 0);
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("lists types; an object created over REST appears live, its status shows in the object view, and a delete removes the row", async () => {
    const s = await startTestServer();
    const { context, page, errors } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      const path = `${prefix}/namespaces/default/widgets`;
      await http.post(path, widget("first", { app: "web" }));

      await page.goto(`${s.url}/ui/`);
      await page.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="1"]`).waitFor();
      await page.locator(`tr[data-type="resourcetypes.setpoint.dev"]`).waitFor();
      await shot(page, "types");

      await page.click(`tr[data-type="${WIDGET_TYPE}"] a`);
      await page.locator('.grid-row[data-name="first"]').waitFor();
      await page.locator('.conn[data-state="live"]').waitFor();
      const created = Date.now();
      await http.post(path, widget("second", { app: "db" }));
      await page.locator('.grid-row[data-name="second"]').waitFor();
      const latency = Date.now() - created;
      console.log(`# a created object appeared in the table ${latency} ms after the POST answered`);
      await shot(page, "table");

      // A label selector is the watch's: only matching rows stay.
      await page.fill('input[name="labelSelector"]', "app=web");
      await page.press('input[name="labelSelector"]', "Enter");
      // The table restarts its watch with the selector: wait for its final rows
      // (it may be empty for a moment between the old watch and the new list).
      await rowsAre(page, ["first"]);
      assert.equal(await page.locator('.grid-row[data-name="second"]').count(), 0);
      // A selector the server refuses stops the watch with its 400, shown as such.
      await page.fill('input[name="labelSelector"]', "app in (");
      await page.press('input[name="labelSelector"]', "Enter");
      await page.locator('.conn[data-state="failed"]', { hasText: "400" }).waitFor();
      await page.fill('input[name="labelSelector"]', "");
      await page.press('input[name="labelSelector"]', "Enter");
      await page.locator('.grid-row[data-name="second"]').waitFor();
      // A namespace is the watch's path: objects elsewhere go, and come back without it.
      await http.post(`${prefix}/namespaces/other/widgets`, widget("elsewhere"));
      await page.locator('.grid-row[data-name="elsewhere"]').waitFor();
      await page.fill('input[name="namespace"]', "other");
      await page.press('input[name="namespace"]', "Enter");
      await page.locator('.grid-row[data-name="first"]').waitFor({ state: "detached" });
      await rowsAre(page, ["elsewhere"]);
      assert.deepEqual(await page.locator(".grid-body .grid-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name"))), ["elsewhere"]);
      await page.fill('input[name="namespace"]', "");
      await page.press('input[name="namespace"]', "Enter");
      await page.locator('.grid-row[data-name="first"]').waitFor();
      assert.equal((await http.del(`${prefix}/namespaces/other/widgets/elsewhere`)).status, 200);
      await page.locator('.grid-row[data-name="elsewhere"]').waitFor({ state: "detached" });

      // Keyboard: Tab reaches the rows (bounded), whose focus ring is drawn inside the table's clipping box, so it shows; move down, open with Enter.
      for (let i = 0; i < 20 && !(await page.evaluate('document.activeElement?.classList.contains("grid-body")')); i++) await page.keyboard.press("Tab");
      const ring = (await page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return { cls: document.activeElement.className, style: s.outlineStyle, width: parseFloat(s.outlineWidth), offset: parseFloat(s.outlineOffset) }; })()",
      )) as { cls: string; style: string; width: number; offset: number };
      assert.equal(ring.cls, "grid-body", "Tab reaches the rows");
      assert.equal(ring.style, "solid");
      assert.ok(ring.offset + ring.width <= 0, `the focus ring (offset ${ring.offset}, width ${ring.width}) lies inside the rows' box, which .grid clips`);
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("Enter");
      await page.locator("#object-title", { hasText: "second" }).waitFor();
      await page.locator("pre.yaml", { hasText: "name: second" }).waitFor();

      const put = await http.put(`${path}/second/status`, {
        ...widget("second"),
        status: { phase: "Running", conditions: [{ type: "Ready", status: "False", reason: "Warming" }] },
      });
      assert.equal(put.status, 200, put.text);
      await page.locator(".phase", { hasText: "Running" }).first().waitFor();
      await page.locator(".history li", { hasText: "MODIFIED" }).waitFor();
      await page.locator("table.plain td", { hasText: "Warming" }).waitFor();
      await shot(page, "object");

      await page.goBack();
      await page.locator('.grid-row[data-name="second"]').waitFor();
      assert.equal((await http.del(`${path}/second`)).status, 200);
      await page.locator('.grid-row[data-name="second"]').waitFor({ state: "detached" });
      assert.equal(await page.locator(".grid-body .grid-row").count(), 1);
      assert.deepEqual(unexpected(errors), [], "no console errors (CSP violations would show here)");
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("creates from YAML, shows the API's errors with their fields, edits, and deletes through the UI", async () => {
    const s = await startTestServer();
    const { context, page, errors } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, {
        ...WIDGETS,
        schema: { spec: { type: "object", required: ["size"], properties: { size: { type: "integer" } } } },
      });
      await page.goto(`${s.url}/ui/#/create/${WIDGET_TYPE}`);
      await page.fill("#create-yaml", "apiVersion: demo.example.com/v1\nkind: Widget\nmetadata:\n  name: Bad_Name\nspec: {}\n");
      await page.click('button[type="submit"]');
      await page.locator(".failure", { hasText: "422 Invalid" }).waitFor();
      await page.locator(".failure code", { hasText: "metadata.name" }).waitFor();
      await page.locator(".failure code", { hasText: "spec.size" }).waitFor();
      await shot(page, "create-error");

      await page.fill(
        "#create-yaml",
        'apiVersion: demo.example.com/v1\nkind: Widget\nmetadata:\n  name: made-in-ui\n  annotations:\n    note: "<img src=x onerror=alert(1)>"\nspec:\n  size: 3\n',
      );
      await page.click('button[type="submit"]');
      await page.locator("#object-title", { hasText: "made-in-ui" }).waitFor();
      assert.equal((await http.get(`${prefix}/namespaces/default/widgets/made-in-ui`)).body.spec.size, 3);
      assert.equal(await page.locator("img").count(), 0, "user data is shown as text");
      await page.locator("pre.yaml", { hasText: "<img src=x onerror=alert(1)>" }).waitFor();

      // By keyboard, focus follows: Edit puts it in the editor, Escape back on Edit; Delete on its "No", Escape back on Delete.
      // Waits (with the page's deadline) until the focused element's id, or its text, is `want`.
      const focusIs = async (want: string, why: string) => {
        const got = () => page.evaluate("document.activeElement.id || document.activeElement.textContent.trim().slice(0, 40)");
        await page
          .waitForFunction((w) => {
            const e = (globalThis as unknown as { document: { activeElement: { id: string; textContent: string } } }).document.activeElement;
            return (e.id || e.textContent.trim().slice(0, 40)) === w;
          }, want)
          .catch(async () => assert.fail(`${why}: the focus is on ${JSON.stringify(await got())}`));
      };
      await page.focus('button:has-text("Edit")');
      await page.keyboard.press("Enter");
      await page.locator("#edit-yaml").waitFor();
      await focusIs("edit-yaml", "Edit moves the focus into the editor");
      await page.keyboard.press("Escape");
      await page.locator("#edit-yaml").waitFor({ state: "detached" });
      await focusIs("Edit", "Escape brings the focus back to Edit");
      await page.focus('button:has-text("Delete")');
      await page.keyboard.press("Enter");
      await page.locator(".confirm").waitFor();
      await focusIs("No", "the safe answer has the focus");
      await page.keyboard.press("Escape");
      await page.locator(".confirm").waitFor({ state: "detached" });
      await focusIs("Delete", "Escape brings the focus back to Delete");

      await page.click('button:has-text("Edit")');
      const text = await page.inputValue("#edit-yaml");
      await page.fill("#edit-yaml", text.replace("size: 3", "size: 4"));
      await page.click('button:has-text("Save")');
      await page.locator("pre.yaml", { hasText: "size: 4" }).waitFor();
      assert.equal((await http.get(`${prefix}/namespaces/default/widgets/made-in-ui`)).body.spec.size, 4);

      await page.click('button:has-text("Delete")');
      await page.click('button:has-text("Yes, delete")');
      await page.locator('[data-gone="true"]').waitFor();
      assert.equal((await http.get(`${prefix}/namespaces/default/widgets/made-in-ui`)).status, 404);
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("shows a diamond PipelineRun's graph; every task reaches Succeeded live; output appears as text", async () => {
    const env: PipelineEnv = await startPipelineEnv();
    let agent: AgentProcess | undefined;
    const { context, page, errors } = await openPage(browser);
    try {
      agent = await startAgent(env);
      const gate = join(env.dir, "unit-tests-may-finish");
      await page.goto(`${env.server.url}/ui/#/o/pipelineruns.ci.setpoint.dev/default/diamond`);
      await page.locator('.conn[data-state="live"]').waitFor();
      await createRun(env.http, "diamond", {
        tasks: [
          { name: "checkout", run: "echo 'checked out <b>main</b>'" },
          // Holds until the test has seen its first line in the page (at most 60 s), so "output follows" is checked without a race.
          {
            name: "unit-tests",
            runAfter: ["checkout"],
            run: `echo tests start; i=0; while [ ! -f '${gate}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo tests passed`,
          },
          { name: "lint", runAfter: ["checkout"], run: "echo lint start; sleep 1.5; echo lint clean" },
          { name: "package", runAfter: ["unit-tests", "lint"], run: "echo packaged" },
        ],
      });
      for (const t of ["checkout", "unit-tests", "lint", "package"]) await page.locator(`g.node[data-task="${t}"]`).waitFor();
      for (const e of ["checkout->unit-tests", "checkout->lint", "unit-tests->package", "lint->package"])
        await page.locator(`path.edge[data-edge="${e}"]`).waitFor({ state: "attached" });
      // The running task's output shows while it runs, then follows as it grows.
      const unitOutput = page.locator('.output[data-task="unit-tests"] pre');
      await unitOutput.filter({ hasText: "tests start" }).waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('g.node[data-task="unit-tests"]').getAttribute("data-phase"), "Running");
      assert.doesNotMatch((await unitOutput.textContent()) ?? "", /tests passed/);
      await shot(page, "pipelinerun-running");
      writeFileSync(gate, "go\n");
      for (const t of ["checkout", "unit-tests", "lint", "package"]) {
        await page.locator(`g.node[data-task="${t}"][data-phase="Succeeded"]`).waitFor({ timeout: 30_000 });
      }
      await waitForPhase(env.http, "diamond", "Succeeded");
      await page.locator('.output[data-task="unit-tests"] pre', { hasText: "tests passed" }).waitFor();
      const checkout = page.locator('.output[data-task="checkout"] pre');
      await checkout.waitFor();
      assert.match((await checkout.textContent()) ?? "", /checked out <b>main<\/b>/);
      assert.equal(await checkout.locator("b").count(), 0, "output is text, not HTML");
      assert.equal(await page.locator('.tl-row[data-task="package"][data-attempt="1"]').count(), 1);
      await page.locator(".phase", { hasText: "Succeeded" }).first().waitFor();
      await shot(page, "pipelinerun");
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await agent?.kill().catch(() => {});
      await env.stop();
    }
  });

  it("a run opened after a retry shows every attempt: the failed one on the timeline and its output, from status.previousAttempts", async () => {
    const env: PipelineEnv = await startPipelineEnv();
    let agent: AgentProcess | undefined;
    const { context, page, errors } = await openPage(browser);
    try {
      agent = await startAgent(env);
      await createRun(env.http, "retried", {
        tasks: [
          {
            name: "test",
            retries: 1,
            run: 'if [ "$SETPOINT_TASK_ATTEMPT" = 1 ]; then echo "first try <i>fails</i>"; exit 3; fi; echo "second try passes"',
          },
        ],
      });
      await waitForPhase(env.http, "retried", "Succeeded");
      // Opened only now: the page never saw attempt 1 happen.
      await page.goto(`${env.server.url}/ui/#/o/pipelineruns.ci.setpoint.dev/default/retried`);
      await page.locator('g.node[data-task="test"][data-phase="Succeeded"]').waitFor();
      await page.locator('.tl-row[data-task="test"][data-attempt="1"][data-phase="Failed"]').waitFor();
      await page.locator('.tl-row[data-task="test"][data-attempt="2"][data-phase="Succeeded"]').waitFor();
      const first = page.locator('.output[data-task="test"][data-attempt="1"]');
      await first.locator("summary", { hasText: "attempt 1 (Failed, exit 3)" }).waitFor();
      await first.locator("summary").click();
      await first.locator("pre", { hasText: "first try <i>fails</i>" }).waitFor();
      assert.equal(await first.locator("i").count(), 0, "output is text");
      await page.locator('.output[data-task="test"]:not([data-attempt]) pre', { hasText: "second try passes" }).waitFor();
      await shot(page, "pipelinerun-retried");
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await agent?.kill().catch(() => {});
      await env.stop();
    }
  });

  it("output cut by the status's bound shows from its first whole line under a note, for the current and an earlier attempt", async () => {
    // `seq` prints more than the runner keeps (8192 characters of the current attempt, 2048 of an earlier one), and the
    // bound falls inside a line: the page used to start with that line's broken end (`23` of `1223`).
    const env: PipelineEnv = await startPipelineEnv();
    let agent: AgentProcess | undefined;
    const { context, page, errors } = await openPage(browser);
    try {
      agent = await startAgent(env);
      await createRun(env.http, "chatty", {
        tasks: [{ name: "count", retries: 1, run: 'if [ "$SETPOINT_TASK_ATTEMPT" = 1 ]; then seq 1 1000; exit 3; fi; seq 1 3000; echo short' }],
      });
      await waitForPhase(env.http, "chatty", "Succeeded");
      const status = (await env.http.get("/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns/chatty")).body.status.tasks.count;
      const [fragment, next] = (status.output as string).split("\n");
      assert.notEqual(Number(fragment) + 1, Number(next), `the stored tail begins inside a line: ${fragment}, ${next}`);
      await page.goto(`${env.server.url}/ui/#/o/pipelineruns.ci.setpoint.dev/default/chatty`);
      // Whole lines, consecutive numbers up to the last: no fragment first.
      const consecutive = (text: string, last: number, after: string[] = []) => {
        const lines = text.replace(/\n$/, "").split("\n");
        assert.deepEqual(lines.slice(lines.length - after.length), after);
        const numbers = lines.slice(0, lines.length - after.length).map(Number);
        assert.equal(numbers.at(-1), last);
        numbers.forEach((n, i) => assert.equal(n, last - numbers.length + 1 + i, `line ${i}: ${lines[i]}`));
        return numbers[0]!;
      };
      const current = page.locator('.output[data-task="count"]:not([data-attempt])');
      await current.locator("pre", { hasText: "short" }).waitFor();
      await current.locator(".cut", { hasText: "earlier output not kept" }).waitFor();
      assert.match((await current.locator(".cut").textContent()) ?? "", /last 8,192 characters/);
      const first = consecutive((await current.locator("pre").textContent()) ?? "", 3000, ["short"]);
      assert.ok(first > 1000, `starts at ${first}`);
      const earlier = page.locator('.output[data-task="count"][data-attempt="1"]');
      await earlier.locator("summary").click();
      await earlier.locator(".cut", { hasText: "last 2,048 characters" }).waitFor();
      consecutive((await earlier.locator("pre").textContent()) ?? "", 1000);
      await shot(page, "pipelinerun-cut");
      // Output that fits shows whole, with no note.
      await createRun(env.http, "quiet", { tasks: [{ name: "hello", run: "echo hello" }] });
      await waitForPhase(env.http, "quiet", "Succeeded");
      await page.goto(`${env.server.url}/ui/#/o/pipelineruns.ci.setpoint.dev/default/quiet`);
      await page.locator('.output[data-task="hello"] pre', { hasText: "hello" }).waitFor();
      assert.equal(await page.locator(".output .cut").count(), 0);
      // Output of exactly the bound, never cut (the status's outputDropped is 0), shows whole with no note: it used to be taken as cut.
      await createRun(env.http, "exact", { tasks: [{ name: "fill", run: "head -c 8191 /dev/zero | tr '\\0' x; echo" }] });
      await waitForPhase(env.http, "exact", "Succeeded");
      await page.goto(`${env.server.url}/ui/#/o/pipelineruns.ci.setpoint.dev/default/exact`);
      await page.locator('.output[data-task="fill"] pre', { hasText: "xxx" }).waitFor();
      assert.equal(((await page.locator('.output[data-task="fill"] pre').textContent()) ?? "").replace(/\n$/, ""), "x".repeat(8191));
      assert.equal(await page.locator(".output .cut").count(), 0);
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await agent?.kill().catch(() => {});
      await env.stop();
    }
  });

  it("cancels a running PipelineRun and reruns it as a copy with a new name, through the API", async () => {
    const env: PipelineEnv = await startPipelineEnv();
    let agent: AgentProcess | undefined;
    const { context, page, errors } = await openPage(browser);
    try {
      agent = await startAgent(env);
      await createRun(
        env.http,
        "long",
        {
          tasks: [
            { name: "prepare", run: "echo ready" },
            { name: "wait", runAfter: ["prepare"], run: "echo waiting; sleep 60" },
          ],
        },
        { team: "ui" },
      );
      await page.goto(`${env.server.url}/ui/#/o/pipelineruns.ci.setpoint.dev/default/long`);
      await page.locator('g.node[data-task="wait"][data-phase="Running"]').waitFor({ timeout: 30_000 });
      await page.click('button:has-text("Cancel run")');
      await page.locator("h1 + .phase", { hasText: "Cancelled" }).waitFor({ timeout: 30_000 });
      await page.locator('g.node[data-task="wait"][data-phase="Cancelled"]').waitFor();
      assert.equal((await env.http.get("/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns/long")).body.spec.cancel, true);

      await page.click('button:has-text("Rerun")');
      await page.locator("#object-title", { hasText: /long-r[0-9a-z]{5}/ }).waitFor();
      const name = /long-r[0-9a-z]{5}/.exec((await page.locator("#object-title").textContent()) ?? "")![0];
      const copy = (await env.http.get(`/apis/ci.setpoint.dev/v1/namespaces/default/pipelineruns/${name}`)).body;
      assert.deepEqual(
        copy.spec.tasks.map((t: { name: string }) => t.name),
        ["prepare", "wait"],
      );
      assert.equal(copy.spec.cancel, undefined, "the copy is not cancelled");
      assert.deepEqual(copy.metadata.labels, { team: "ui" });
      await page.locator('g.node[data-task="prepare"][data-phase="Succeeded"]').waitFor({ timeout: 30_000 });
      await shot(page, "pipelinerun-rerun");
      await page.click('button:has-text("Cancel run")');
      await page.locator("h1 + .phase", { hasText: "Cancelled" }).waitFor({ timeout: 30_000 });
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await agent?.kill().catch(() => {});
      await env.stop();
    }
  });

  it("shows the server's revision, watchers, events and write latency from /metrics", async () => {
    const s = await startTestServer();
    const { context, page } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      await page.goto(`${s.url}/ui/#/server`);
      await page.locator('[data-metric="revision"] .card-value', { hasText: "1" }).waitFor();
      for (let i = 0; i < 5; i++) await http.post(`${prefix}/namespaces/default/widgets`, widget(`m${i}`));
      await page.locator('[data-metric="revision"] .card-value', { hasText: "6" }).waitFor();
      await page.locator('[data-metric="latency-all"] .card-value', { hasText: / ms$/ }).waitFor();
      const watchers = Number(await page.locator('[data-metric="watchers"] .card-value').textContent());
      assert.ok(watchers >= 1, `the console's own watch of resource types counts: ${watchers}`);
      await page.locator('[data-metric="events"] svg.spark').waitFor();
      await shot(page, "server");
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("stays virtual with 10,000 objects: every one counted, a few dozen rows in the page, the last reachable by keyboard", async () => {
    const s = await startTestServer({ durable: false });
    const { context, page } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      const path = `${prefix}/namespaces/default/widgets`;
      const N = 10_000;
      // Written in-process (the same verbs REST calls), 100 at a time: the browser is what this test measures.
      const ref = { group: WIDGETS.group, version: "v1", plural: WIDGETS.plural, namespace: "default" };
      for (let i = 0; i < N; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => s.server.resources.create(ref, widget(`w-${String(i + j).padStart(5, "0")}`))));
      }
      const started = Date.now();
      await page.goto(`${s.url}/ui/#/t/${WIDGET_TYPE}`);
      await page.locator(`.count[data-rows="${N}"]`).waitFor({ timeout: 60_000 });
      console.log(`# 10,000 objects listed and shown in ${Date.now() - started} ms`);
      const rendered = await page.locator(".grid-body .grid-row").count();
      assert.ok(rendered > 10 && rendered < 100, `rendered ${rendered} rows`);
      // Scroll through in 40 steps, one per frame, and time the frames (logged, not asserted: the machine is shared).
      const frames = (await page.evaluate(`new Promise((resolve) => {
        const el = document.querySelector(".grid-body");
        const times = [];
        let last = performance.now();
        const step = (n) => requestAnimationFrame((t) => {
          times.push(t - last);
          last = t;
          el.scrollTop += 2000;
          if (n > 0) step(n - 1); else resolve(times);
        });
        step(40);
      })`)) as number[];
      const sorted = [...frames].sort((x, y) => x - y);
      console.log(
        `# scrolling 10,000 rows: median frame ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, worst ${sorted[sorted.length - 1]!.toFixed(1)} ms`,
      );
      assert.ok((await page.locator(".grid-body .grid-row").count()) < 100, "still only the rows in view");
      await page.focus(".grid-body");
      await page.keyboard.press("End");
      await page.locator('.grid-row[data-name="w-09999"]').waitFor();
      assert.ok((await page.locator(".grid-body .grid-row").count()) < 100);
      await http.post(path, widget("w-10000"));
      await page.locator(`.count[data-rows="${N + 1}"]`).waitFor();
      await page.locator('.grid-row[data-name="w-10000"]').waitFor();
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("reconnects after the server restarts on the same port and data directory, and misses nothing", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "setpoint-ui-restart-"));
    let s: TestServer | undefined = await startTestServer({ dataDir });
    const { context, page } = await openPage(browser);
    try {
      const port = s.server.port;
      let http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      const path = `${prefix}/namespaces/default/widgets`;
      for (const n of ["a", "b", "c"]) await http.post(path, widget(n));
      await page.goto(`${s.url}/ui/#/t/${WIDGET_TYPE}`);
      await page.locator('.grid-row[data-name="c"]').waitFor();
      await page.locator('.conn[data-state="live"]').waitFor();

      await s.stop();
      await page.locator('.conn[data-state="retrying"]').waitFor();
      await shot(page, "reconnecting");
      s = await startTestServer({ dataDir, httpPort: port });
      http = api(s.url);
      await http.del(`${path}/a`);
      await http.post(path, widget("d"));
      await http.patch(`${path}/b`, { metadata: { labels: { touched: "yes" } } });
      await page.locator('.conn[data-state="live"]').waitFor({ timeout: 30_000 });
      await http.post(path, widget("e"));
      await page.locator('.grid-row[data-name="e"]').waitFor();
      const shown = (await page.locator(".grid-body .grid-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")))).sort();
      const listed = ((await http.get(path)).body.items as Array<{ metadata: { name: string } }>).map((o) => o.metadata.name).sort();
      assert.deepEqual(shown, listed);
      assert.deepEqual(shown, ["b", "c", "d", "e"]);
    } finally {
      await context.close();
      await s?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("relists on 410 after missing compacted history: table, object and counts show the server's state, deletions included, without duplicates", async () => {
    const s = await startTestServer({ durable: false });
    // The page talks to the server through a proxy that can make it unreachable, so that it misses changes the server then compacts away.
    const proxy = await startCuttingProxy(s.server.port);
    const { context, page, errors } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      const path = `${prefix}/namespaces/default/widgets`;
      for (const n of ["a", "b", "c"]) await http.post(path, widget(n));
      const ui = `http://127.0.0.1:${proxy.port}/ui/`;
      const object = await context.newPage();
      const types = await context.newPage();
      await page.goto(`${ui}#/t/${WIDGET_TYPE}`);
      await object.goto(`${ui}#/o/${WIDGET_TYPE}/default/b`);
      await types.goto(ui);
      await rowsAre(page, ["a", "b", "c"]);
      await object.locator(".history li", { hasText: "OPENED" }).waitFor();
      await types.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="3"]`).waitFor();
      await page.locator('.conn[data-state="live"]').waitFor();
      const before = Number(s.server.store.compacted());

      proxy.block();
      await page.locator('.conn[data-state="retrying"]').waitFor();
      assert.equal((await http.del(`${path}/a`)).status, 200);
      assert.equal((await http.patch(`${path}/b`, { spec: { size: 2 } })).status, 200);
      for (const n of ["d", "e"]) assert.equal((await http.post(path, widget(n))).status, 201);
      await s.server.store.compact({ minEvents: 0, windowMs: 0 });
      assert.ok(Number(s.server.store.compacted()) > before, "the history the page needs is gone");
      proxy.unblock();

      await rowsAre(page, ["b", "c", "d", "e"]);
      await page.locator('.conn[data-state="live"]').waitFor();
      await page.locator('.count[data-rows="4"]').waitFor();
      await object.locator(".history li", { hasText: "RESYNC" }).waitFor();
      await object.locator("pre.yaml", { hasText: "size: 2" }).waitFor();
      await types.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="4"]`).waitFor();
      // Live again after the relist: a new object shows once.
      await http.post(path, widget("f"));
      await rowsAre(page, ["b", "c", "d", "e", "f"]);
      await types.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="5"]`).waitFor();
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await proxy.close();
      await s.stop();
    }
  });

  it("with a token configured: no token means no data and a sign-in prompt that says 401; the token is kept in sessionStorage only", async () => {
    const s = await startTestServer({ token: "s3cret-token" });
    const { context, page } = await openPage(browser, { colorScheme: "dark" });
    try {
      const http = api(s.url, { token: "s3cret-token" });
      const prefix = await createType(http, WIDGETS);
      await http.post(`${prefix}/namespaces/default/widgets`, widget("classified"));
      // Every URL the page asks for, WebSockets included: a token must never be in one (they end up in logs and history).
      const urls: string[] = [];
      page.on("request", (r) => urls.push(r.url()));
      page.on("websocket", (w) => urls.push(w.url()));
      await page.goto(`${s.url}/ui/`);
      await page.locator('[role="dialog"]', { hasText: "401" }).waitFor();
      await page.locator('[role="dialog"]', { hasText: /Not signed in .*needs a bearer token/ }).waitFor();
      // The prompt is modal for the keyboard too: Tab never lands on the page behind it.
      for (let i = 0; i < 6; i++) {
        await page.keyboard.press("Tab");
        const behind = await page.evaluate(
          "(() => { const e = document.activeElement; return e && e !== document.body && !e.closest('[role=dialog]') ? e.outerHTML.slice(0, 80) : ''; })()",
        );
        assert.equal(behind, "", `Tab ${i + 1} left the sign-in prompt`);
      }
      await shot(page, "sign-in");
      const body = await page.locator("body").textContent();
      assert.doesNotMatch(body ?? "", /widgets\.demo\.example\.com|classified/, "no data without a token");
      assert.equal(await page.locator("tr[data-type]").count(), 0);

      // A wrong token is refused in so many words, not met with the same prompt as no token at all.
      await page.fill("#token", "not-the-token");
      await page.press("#token", "Enter");
      await page.locator('[role="dialog"]', { hasText: "Token refused (401 Unauthorized)" }).waitFor();
      assert.equal(await page.locator('[role="dialog"] [role="alert"]').count(), 1, "the refusal is announced");
      await shot(page, "sign-in-refused");
      assert.equal(await page.locator("tr[data-type]").count(), 0);

      await page.fill("#token", "s3cret-token");
      await page.press("#token", "Enter");
      await page.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="1"]`).waitFor();
      // The watches authenticate with the bearer subprotocol: they go live, and see new objects.
      await page.locator('.conn[data-state="live"]').waitFor();
      await page.click(`tr[data-type="${WIDGET_TYPE}"] a`);
      await page.locator('.grid-row[data-name="classified"]').waitFor();
      await page.locator('.conn[data-state="live"]').waitFor();
      await http.post(`${prefix}/namespaces/default/widgets`, widget("also-classified"));
      await page.locator('.grid-row[data-name="also-classified"]').waitFor();
      assert.equal(await page.evaluate('sessionStorage.getItem("setpoint.console.token")'), "s3cret-token");
      const b64 = (t: string) => Buffer.from(t).toString("base64url");
      assert.ok(
        urls.some((u) => u.startsWith("ws://")),
        "the page's watches are WebSockets",
      );
      assert.deepEqual(
        urls.filter((u) => /s3cret-token|not-the-token/.test(decodeURIComponent(u)) || u.includes(b64("s3cret-token")) || u.includes(b64("not-the-token"))),
        [],
        "no token in any URL",
      );
      assert.equal(await page.evaluate("localStorage.length"), 0);
      assert.equal((await context.cookies()).length, 0);
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("with RBAC: a user without a binding sees 403 as 'not allowed', and no data", async () => {
    const dir = mkdtempSync(join(tmpdir(), "setpoint-ui-rbac-"));
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, "t-admin,admin,1,system:masters\nt-bob,bob,2\n");
    const s = await startTestServer({ tokenAuthFile: tokens, authorizationMode: "RBAC" });
    const { context, page } = await openPage(browser);
    try {
      const admin = api(s.url, { token: "t-admin" });
      const prefix = await createType(admin, WIDGETS);
      await admin.post(`${prefix}/namespaces/default/widgets`, widget("bobs-not-allowed"));
      await page.goto(`${s.url}/ui/`);
      await page.fill("#token", "t-bob");
      await page.press("#token", "Enter");
      // The 401 from before signing in may still be on screen for a render: wait for the 403.
      const stopped = page.locator('.conn[data-state="failed"]', { hasText: "403" });
      await stopped.first().waitFor();
      assert.match((await stopped.first().textContent()) ?? "", /Not allowed \(403 Forbidden\).*bob/);
      await shot(page, "forbidden");
      assert.doesNotMatch((await page.locator("body").textContent()) ?? "", /bobs-not-allowed/);
      assert.equal(await page.locator('[role="dialog"]').count(), 0, "403 is not a sign-in problem");
      // Discovery is open to every signed-in user: the types are listed, their objects are not.
      await page.locator(`tr[data-type="${WIDGET_TYPE}"] td.num`, { hasText: "not allowed" }).waitFor();

      // Direct to the table: the same, for the type's own watch.
      await page.goto(`${s.url}/ui/#/server`);
      await page.locator(".failure", { hasText: "403 Forbidden" }).waitFor();
    } finally {
      await context.close();
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("at the contract's limits (a 253-character name in a 63-character namespace, a ~1 MiB object, markup in status) no page scrolls sideways at 1280 or 400 px, and user data stays text", async () => {
    const s = await startTestServer({ durable: false });
    const { context, page, errors } = await openPage(browser);
    try {
      const http = api(s.url);
      const prefix = await createType(http, WIDGETS);
      const namespace = `${"n".repeat(30)}-${"s".repeat(32)}`;
      // Dots are the only break a DNS subdomain offers: 62 letters between them, no space anywhere.
      const name = `${`${"a".repeat(62)}.`.repeat(4)}z`;
      assert.equal(namespace.length, 63);
      assert.equal(name.length, 253);
      const long = await http.post(`${prefix}/namespaces/${namespace}/widgets`, {
        ...widget(name, { ["l".repeat(63)]: "v".repeat(63) }),
        spec: { command: `echo ${"x".repeat(400)}` },
      });
      assert.equal(long.status, 201, long.text);
      const markup = "<img src=x onerror=alert(1)>";
      const put = await http.put(`${prefix}/namespaces/${namespace}/widgets/${name}/status`, {
        ...long.body,
        status: { phase: markup, conditions: [{ type: "Ready", status: "False", reason: `<b>${"R".repeat(300)}</b>`, message: "a message: \"'&<>" }] },
      });
      assert.equal(put.status, 200, put.text);
      // About 1 MiB of JSON: 8,000 lines of YAML and one line of 150,000 characters.
      const lines = Array.from({ length: 8000 }, (_, i) => `line ${i} ${"y".repeat(100)}`);
      const big = await http.post(`${prefix}/namespaces/default/widgets`, { ...widget("big"), spec: { lines, blob: "z".repeat(150_000) } });
      assert.equal(big.status, 201, big.text);

      const sideways = async () => Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
      const objectPage = `${s.url}/ui/#/o/${WIDGET_TYPE}/${namespace}/${name}`;
      for (const width of [1280, 400]) {
        await page.setViewportSize({ width, height: 800 });
        await page.goto(`${s.url}/ui/#/`);
        await page.locator(`tr[data-type="${WIDGET_TYPE}"] td[data-count="2"]`).waitFor();
        assert.ok((await sideways()) <= 0, `types at ${width} px scroll sideways by ${await sideways()} px`);
        await page.goto(`${s.url}/ui/#/t/${WIDGET_TYPE}`);
        await page.locator(".grid-row", { hasText: "aaaa" }).waitFor();
        assert.ok((await sideways()) <= 0, `the table at ${width} px scrolls sideways by ${await sideways()} px`);
        await page.goto(objectPage);
        await page.locator("pre.yaml", { hasText: "xxxx" }).waitFor();
        await page.locator("table.plain td", { hasText: "RRRR" }).waitFor();
        assert.ok((await sideways()) <= 0, `the object at ${width} px scrolls sideways by ${await sideways()} px`);
        await page.click('button:has-text("Delete")');
        await page.locator(".confirm").waitFor();
        assert.ok((await sideways()) <= 0, `the delete question at ${width} px scrolls sideways by ${await sideways()} px`);
        await page.click('.confirm button:has-text("No")');
        await shot(page, `limits-${width}`);
        await page.goto(`${s.url}/ui/#/o/${WIDGET_TYPE}/default/big`);
        await page.locator("pre.yaml", { hasText: "line 7999" }).waitFor({ timeout: 60_000 });
        assert.ok((await sideways()) <= 0, `the 1 MiB object at ${width} px scrolls sideways by ${await sideways()} px`);
      }
      // The big object's next revision shows too (the page did not hang on the first).
      assert.equal((await http.patch(`${prefix}/namespaces/default/widgets/big`, { spec: { extra: "changed" } })).status, 200);
      await page.locator("pre.yaml", { hasText: "extra: changed" }).waitFor({ timeout: 60_000 });
      await page.goto(objectPage);
      await page.locator(".phase", { hasText: markup }).waitFor();
      // A condition's message is on the page, not only in a tooltip.
      await page.locator("table.plain td", { hasText: `a message: "'&<>` }).waitFor();
      assert.equal(await page.locator("main img, main b").count(), 0, "status is shown as text, never as HTML");
      assert.deepEqual(unexpected(errors), []);
    } finally {
      await context.close();
      await s.stop();
    }
  });

  it("fits a phone-sized viewport", async () => {
    const env: PipelineEnv = await startPipelineEnv();
    const { context, page } = await openPage(browser, { viewport: { width: 390, height: 844 }, colorScheme: "dark" });
    try {
      await createRun(env.http, "phone", {
        tasks: [
          { name: "one", run: "true" },
          { name: "two", runAfter: ["one"], run: "true" },
        ],
      });
      await page.goto(`${env.server.url}/ui/#/t/pipelineruns.ci.setpoint.dev`);
      await page.locator('.grid-row[data-name="phone"]').waitFor();
      const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
      await shot(page, "phone-table");
      await page.click('.grid-row[data-name="phone"]');
      await page.locator('g.node[data-task="two"]').waitFor();
      const objectOverflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
      assert.ok(objectOverflow <= 0, `the object page scrolls sideways by ${objectOverflow}px`);
      await shot(page, "phone-object");
      await page.goto(`${env.server.url}/ui/#/server`);
      await page.locator('[data-metric="revision"] .card-value', { hasText: /^\d+$/ }).waitFor();
      await shot(page, "phone-server");
    } finally {
      await context.close();
      await env.stop();
    }
  });
});
