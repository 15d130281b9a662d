// Content negotiation on the Accept header, as kube-apiserver's
// handlers/negotiation does it for a custom resource: the media ranges by
// quality (q=0: not acceptable), the more specific first among equals, then
// the order listed; the first range the server can produce wins. A range may
// ask for the answer in another form with kube's `as`, `g` and `v`
// parameters: `as=Table` (where the endpoint makes Tables),
// `as=PartialObjectMetadata` or `as=PartialObjectMetadataList`, each of
// `g=meta.k8s.io` and `v=v1` or `v=v1beta1`, in JSON or YAML. A range asking
// for anything else is skipped, and so is a media type the server does not
// write (text/html, protobuf: custom resources have no protobuf form); when
// no range is left the answer is 406 NotAcceptable, as kube's (an empty
// header is JSON).
//
// Which form fits which answer is checked once the answer is known
// (checkShape), as kube checks it when it converts: the List form for one
// object, or the object form for a list, is 406 even when a later range
// would have fitted (kube's negotiation does not tell list and object
// endpoints apart).

import { ApiError } from "../errors.ts";

/** The meta.k8s.io kinds an answer can be converted to. */
export type MetaKind = "Table" | "PartialObjectMetadata" | "PartialObjectMetadataList";

/** How a request asked its answer to be written. */
export interface Rendering {
  /** YAML instead of JSON (watches stay JSON lines). */
  yaml: boolean;
  /** The meta.k8s.io form asked for (`apiVersion` `meta.k8s.io/v1` or `/v1beta1`); undefined: the object or list itself. */
  as?: { kind: MetaKind; apiVersion: string };
}

/** What an endpoint can make besides its objects. */
export interface Endpoint {
  /** Whether it makes Tables (kube: whether it has a TableConvertor). */
  tables: boolean;
}

/** The media types the server writes, as a 406 lists them. */
export const MEDIA_TYPES = "application/json, application/yaml";

const JSON_ANSWER: Rendering = Object.freeze({ yaml: false });
const YAML_ANSWER: Rendering = Object.freeze({ yaml: true });

interface Range {
  /** 2: application/json or application/yaml; 1: application/*; 0: *\/*. */
  specific: number;
  yaml: boolean;
  q: number;
  /** Parameters but q, keys in lower case (as Go's mime.ParseMediaType gives them). */
  params: Map<string, string>;
}

/** The ranges the server could produce, most preferred first; ranges it never produces (text/html, protobuf) are left out. */
function ranges(accept: string): Range[] {
  const out: Range[] = [];
  for (const part of accept.split(",")) {
    const [type = "", ...rest] = part.split(";");
    const media = type.trim().toLowerCase();
    const yaml = media === "application/yaml";
    const specific = yaml || media === "application/json" ? 2 : media === "application/*" ? 1 : media === "*/*" ? 0 : -1;
    if (specific < 0) continue;
    let q = 1;
    const params = new Map<string, string>();
    for (const p of rest) {
      const eq = p.indexOf("=");
      if (eq <= 0) continue;
      const key = p.slice(0, eq).trim().toLowerCase();
      let value = p.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (key === "q") q = Number(value);
      else params.set(key, value);
    }
    if (!(q > 0)) continue;
    out.push({ specific, yaml, q, params });
  }
  // Array.prototype.sort is stable: equal ranges keep the order listed.
  return out.sort((a, b) => b.q - a.q || b.specific - a.specific);
}

function formOf(r: Range, endpoint: Endpoint): Rendering["as"] | null {
  const as = r.params.get("as");
  const g = r.params.get("g");
  const v = r.params.get("v");
  if (g !== "meta.k8s.io" || (v !== "v1" && v !== "v1beta1")) return null;
  if (as === "Table" ? !endpoint.tables : as !== "PartialObjectMetadata" && as !== "PartialObjectMetadataList") return null;
  return { kind: as as MetaKind, apiVersion: `meta.k8s.io/${v}` };
}

/** Whether a header without parameters or YAML names a range JSON answers (the common headers: a few substring searches). */
function plainJson(accept: string): boolean {
  return accept.includes("application/json") || accept.includes("*/*") || accept.includes("application/*") || accept.trim() === "";
}

/**
 * The answer an Accept header asks for at `endpoint`. Throws 406
 * NotAcceptable when no range is one the server writes (every one asked for
 * a form it cannot make, or a media type it does not write).
 */
export function renderingOf(accept: string | undefined, endpoint: Endpoint): Rendering {
  if (accept === undefined || (!accept.includes("=") && !accept.includes("yaml") && plainJson(accept))) return JSON_ANSWER;
  for (const r of ranges(accept)) {
    // kube's `as`, `g` and `v` name a conversion; other parameters (charset, stream=watch, pretty) change nothing here.
    if (!r.params.has("as") && !r.params.has("g") && !r.params.has("v")) return r.yaml ? YAML_ANSWER : JSON_ANSWER;
    const as = formOf(r, endpoint);
    if (as) return { yaml: r.yaml, as };
  }
  throw notAcceptable(`only the following media types are accepted: ${MEDIA_TYPES}`);
}

/**
 * Throws kube's 406 when the form asked for does not fit the answer: the
 * List form for one object (or a watch's events), or the object form for a list.
 */
export function checkShape(rendering: Rendering, list: boolean): void {
  const kind = rendering.as?.kind;
  if (kind === "PartialObjectMetadataList" && !list)
    throw notAcceptable("you requested PartialObjectMetadataList, but the requested object is not a list (*unstructured.Unstructured)");
  if (kind === "PartialObjectMetadata" && list)
    throw notAcceptable("you requested PartialObjectMetadata, but the requested object is a list (*unstructured.UnstructuredList)");
}

function notAcceptable(message: string): ApiError {
  return new ApiError("NotAcceptable", message);
}
