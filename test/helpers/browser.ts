// A real browser for the console's tests: Debian's Chromium, headless, driven
// by playwright-core (which never downloads a browser of its own). Each launch
// gets a fresh temporary profile. Screenshots go to scratch/screenshots/
// (ignored by git; SETPOINT_SCREENSHOTS=DIR to change), to be looked at.
//
// Where no Chromium is found the tests fail in CI (CI=true: .ci/run installs
// it) and are skipped elsewhere, with a message that says how to get it.

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The flags a headless Chromium needs on this kind of machine (root, no GPU, closed network). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-dev-shm-usage",
];

/** Where Chromium is: $SETPOINT_CHROMIUM, else /usr/bin/chromium; undefined when neither exists. */
export function chromiumPath(): string | undefined {
  for (const p of [process.env.SETPOINT_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

export const MISSING_CHROMIUM =
  "no Chromium found (looked at $SETPOINT_CHROMIUM, /usr/bin/chromium): install it with `apt-get install -y chromium` (.ci/run does) to run the console's browser tests";

/** Why the browser tests cannot run here, for `describe(…, { skip })`; undefined when they can (or in CI, where they must, and fail). */
export function browserSkipReason(): string | undefined {
  if (chromiumPath() !== undefined || process.env.CI) return undefined;
  return MISSING_CHROMIUM;
}

/** Launches headless Chromium; throws with a clear message when it is missing or cannot start. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error(MISSING_CHROMIUM);
  try {
    return await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (err) {
    throw new Error(`Chromium at ${executablePath} could not start: ${(err as Error).message}`, { cause: err });
  }
}

/** The folder for screenshots (created). */
export function screenshotDir(): string {
  const dir = process.env.SETPOINT_SCREENSHOTS ?? join(root, "scratch", "screenshots");
  mkdirSync(dir, { recursive: true });
  return dir;
}
