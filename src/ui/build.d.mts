// Types of build.mjs (plain JavaScript so that esbuild.config.mjs can import it).

/** One file of the console as the server serves it under /ui/. */
export interface UiFile {
  /** File name under /ui/, e.g. `index.html` or `app-3F2A….js`. */
  name: string;
  contentType: string;
  body: string;
  /** True when the name carries a content hash: cache it for good. */
  immutable: boolean;
  etag?: string;
}

/** Builds the console in memory with the given esbuild module. */
export function buildUi(esbuild: typeof import("esbuild")): Promise<UiFile[]>;
