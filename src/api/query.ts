// List and watch query options (API.md §4, §5): parsed and checked once, from
// whatever transport carried them, into typed values. Bad values are
// BadRequest errors naming the parameter.

import { BadRequestError, ExpiredError, fieldErrorsMessage, InvalidError, type FieldCause } from "../errors.ts";
import { parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from "./selector.ts";

/** Raw query parameters as strings (absent ones undefined). */
export interface RawQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: string;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
  allowWatchBookmarks?: string;
  sendInitialEvents?: string;
  timeoutSeconds?: string;
}

export interface ListQuery {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  limit?: number;
  continueFrom?: ContinueToken;
  /** Minimum revision the answer must reflect; undefined: newest. */
  resourceVersion?: number;
  /** With resourceVersionMatch=Exact: serve the state at exactly `resourceVersion`. */
  exact?: boolean;
}

export interface WatchQuery {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  resourceVersion?: number;
  allowBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutMs?: number;
}

/** Where a paginated list goes on: the first page's revision and the last key served. */
export interface ContinueToken {
  /** The revision every page is served at; LATEST_REVISION: the newest state, whatever it is (kube's -1). */
  revision: number;
  namespace: string;
  name: string;
  /**
   * The items after the page that issued the token, when that page counted
   * them (kube's remainingItemCount), and the scope counted: one namespace's
   * list, or all namespaces (`allNamespaces`). The next page at the same
   * revision then knows its own count without counting again.
   */
  remaining?: { count: number; allNamespaces: boolean };
}

/** A continue token's revision meaning "the newest state" (kube's -1, in the token of an expired list's 410). */
export const LATEST_REVISION = -1;

function bad(param: string, message: string): BadRequestError {
  return new BadRequestError(message, { causes: [{ field: param, message, reason: "FieldValueInvalid" }] });
}

/**
 * The combinations of options that kube-apiserver's ValidateListOptions
 * refuses, gathered as it gathers them: one 422 Invalid of kind
 * `ListOptions.meta.k8s.io` with every error, as kube answers it.
 */
class ListOptionErrors {
  readonly #causes: FieldCause[] = [];
  forbidden(param: string, detail: string): void {
    this.#causes.push({ field: param, message: `Forbidden: ${detail}`, reason: "FieldValueForbidden" });
  }
  notSupported(param: string, detail: string): void {
    this.#causes.push({ field: param, message: `Unsupported value: ${detail}`, reason: "FieldValueNotSupported" });
  }
  throwIfAny(): void {
    const causes = this.#causes;
    if (causes.length === 0) return;
    throw new InvalidError(`ListOptions.meta.k8s.io "" is invalid: ${fieldErrorsMessage(causes)}`, causes, {
      subject: { kind: "ListOptions", group: "meta.k8s.io" },
    });
  }
}

const MAX_REVISION = 2n ** 64n - 1n;

/**
 * Parses a resourceVersion parameter: a non-negative integer below 2^64, as
 * kube's ParseUint(s, 10, 64); "" and undefined mean unset. One past
 * Number.MAX_SAFE_INTEGER comes back inexact but still larger than any
 * revision a store reaches, so it is "too large" (504) or a precondition
 * nothing matches (409), as in kube, rather than 400.
 */
export function parseRevision(text: string | undefined, param = "resourceVersion"): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^\d{1,20}$/.test(text) || (text.length > 15 && BigInt(text) > MAX_REVISION)) {
    throw bad(param, `invalid ${param} ${JSON.stringify(text)}: must be a non-negative integer below 2^64`);
  }
  return Number(text);
}

/**
 * A boolean query parameter as kube-apiserver decodes one (apimachinery's
 * Convert_Slice_string_To_bool): absent is unset; `0` and `false` (any case)
 * are false (Go's strings.EqualFold, so `falſe` with a long s too); any other
 * value, `""` (a bare `?allowWatchBookmarks`), `yes` and Go's `f` included, is
 * true. Never an error.
 */
function parseBool(text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  return !(text === "0" || text.toLowerCase().replaceAll("ſ", "s") === "false");
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * An integer query parameter (`limit`, `timeoutSeconds`) as kube-apiserver
 * decodes one, Go's strconv.ParseInt into an int64: a sign is allowed and a
 * value of 0 or less means none; anything else, or a value past int64, is 400.
 */
function parseCount(text: string | undefined, param: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (/^[+-]?\d+$/.test(text)) {
    const n = BigInt(text);
    if (n >= INT64_MIN && n <= INT64_MAX) return Number(n);
  }
  throw bad(param, `invalid ${param} ${JSON.stringify(text)}: must be an integer`);
}

export function encodeContinue(token: ContinueToken): string {
  const remaining = token.remaining && { r: token.remaining.count, ra: token.remaining.allNamespaces };
  return Buffer.from(JSON.stringify({ v: 1, rv: token.revision, ns: token.namespace, n: token.name, ...remaining })).toString("base64url");
}

export function decodeContinue(text: string): ContinueToken {
  try {
    const o = JSON.parse(Buffer.from(text, "base64url").toString()) as { v?: number; rv?: unknown; ns?: unknown; n?: unknown; r?: unknown; ra?: unknown };
    if (o.v === 1 && Number.isSafeInteger(o.rv) && (o.rv as number) >= LATEST_REVISION && typeof o.ns === "string" && typeof o.n === "string") {
      const token: ContinueToken = { revision: o.rv as number, namespace: o.ns, name: o.n };
      if (Number.isSafeInteger(o.r) && (o.r as number) >= 0 && typeof o.ra === "boolean") token.remaining = { count: o.r as number, allNamespaces: o.ra };
      return token;
    }
  } catch {
    // fall through
  }
  throw bad("continue", "continue key is not valid: it was not issued by this server");
}

/**
 * The error for a continue token whose revision has been compacted, as
 * kube-apiserver's: it carries a token that goes on after the same key at the
 * newest revision (an inconsistent list, which the client may choose).
 */
export function expiredContinue(after: { namespace: string; name: string }): ExpiredError {
  return new ExpiredError(
    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    { continue: encodeContinue({ revision: LATEST_REVISION, namespace: after.namespace, name: after.name }) },
  );
}

export function parseListQuery(q: RawQuery): ListQuery {
  const out: ListQuery = {};
  if (q.labelSelector) out.labelSelector = parseLabelSelector(q.labelSelector);
  if (q.fieldSelector) out.fieldSelector = parseFieldSelector(q.fieldSelector);
  const limit = parseCount(q.limit, "limit");
  if (limit !== undefined && limit > 0) out.limit = limit;
  parseCount(q.timeoutSeconds, "timeoutSeconds"); // unused by a list, but a number, as kube decodes it
  if (q.continue) out.continueFrom = decodeContinue(q.continue);
  const rv = parseRevision(q.resourceVersion);
  if (rv !== undefined && rv > 0) out.resourceVersion = rv;
  const errors = new ListOptionErrors();
  const match = q.resourceVersionMatch;
  if (match !== undefined && match !== "") {
    if (rv === undefined) errors.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided");
    if (q.continue) errors.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
    if (match !== "Exact" && match !== "NotOlderThan")
      errors.notSupported("resourceVersionMatch", `${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan", ""`);
    if (match === "Exact") {
      if (rv === 0) errors.forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
      out.exact = true;
    }
  }
  // Present at all, even empty or false: kube's ListOptions then has a non-nil SendInitialEvents.
  if (q.sendInitialEvents !== undefined) errors.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list");
  errors.throwIfAny();
  // As kube-apiserver's storage (after the options' validation): every page is served at the first page's revision, so another is a contradiction.
  if (out.continueFrom && out.resourceVersion !== undefined) throw bad("resourceVersion", "specifying resource version is not allowed when using continue");
  return out;
}

export function parseWatchQuery(q: RawQuery): WatchQuery {
  const out: WatchQuery = { allowBookmarks: parseBool(q.allowWatchBookmarks) ?? false };
  if (q.labelSelector) out.labelSelector = parseLabelSelector(q.labelSelector);
  if (q.fieldSelector) out.fieldSelector = parseFieldSelector(q.fieldSelector);
  const rv = parseRevision(q.resourceVersion);
  if (rv !== undefined) out.resourceVersion = rv;
  const initial = parseBool(q.sendInitialEvents);
  if (initial !== undefined) out.sendInitialEvents = initial;
  // As kube-apiserver: only NotOlderThan, and only beside sendInitialEvents (which, unlike kube, may also come alone: API.md §5).
  const match = q.resourceVersionMatch;
  if (match !== undefined && match !== "") {
    const errors = new ListOptionErrors();
    if (initial === undefined) errors.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
    if (match !== "NotOlderThan") errors.notSupported("resourceVersionMatch", `${JSON.stringify(match)}: supported values: "NotOlderThan"`);
    if (q.continue) errors.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
    errors.throwIfAny();
  }
  parseCount(q.limit, "limit"); // unused by a watch, but a number, as kube decodes it
  const timeout = parseCount(q.timeoutSeconds, "timeoutSeconds");
  // kube would end such a watch at once (a timer of a negative duration); no client means that.
  if (timeout !== undefined && timeout < 0)
    throw bad("timeoutSeconds", `invalid timeoutSeconds ${JSON.stringify(q.timeoutSeconds)}: a watch's must not be negative`);
  // Timers cannot wait longer than 2^31-1 ms; a longer one would fire at once.
  if (timeout !== undefined && timeout > 0) out.timeoutMs = Math.min(timeout * 1000, 2 ** 31 - 1);
  return out;
}
