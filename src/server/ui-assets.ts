// The web console's files (src/ui), as the server serves them under /ui/.
// Running from source, they are built in memory with esbuild on first use
// (a fraction of a second, once per process). In dist/server.mjs this module
// is replaced at bundle time (esbuild.config.mjs, plugin uiAssets) by one that
// returns the files built then, so a deploy needs no esbuild.

import type { UiFile } from "../ui/build.mjs";

export type { UiFile } from "../ui/build.mjs";

let building: Promise<UiFile[]> | undefined;

/** The console's files; the first call builds them, later calls share the result (a failed build is retried). */
export function loadUiAssets(): Promise<UiFile[]> {
  building ??= (async () => {
    const [{ buildUi }, esbuild] = await Promise.all([import("../ui/build.mjs"), import("esbuild")]);
    return buildUi(esbuild);
  })();
  building.catch(() => (building = undefined));
  return building;
}
