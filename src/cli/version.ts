// The package version, for --version and /version: inlined by esbuild in a
// bundle (esbuild.config.mjs defines __SETPOINT_VERSION__), read from
// package.json when running from source.

import { readFileSync } from "node:fs";

/** Replaced with the package version by esbuild (esbuild.config.mjs). */
declare const __SETPOINT_VERSION__: string | undefined;

/** The version of the running Setpoint build, e.g. `0.1.0`. */
export function packageVersion(): string {
  if (typeof __SETPOINT_VERSION__ === "string") return __SETPOINT_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
