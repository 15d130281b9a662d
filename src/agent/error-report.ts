// How an agent tells its `onError` about failures without flooding a log.
//
// - A connection problem (the server cannot be reached, answers something
//   that is not the protocol, times out, answers 503, 500, 429, 401 or 403,
//   or does not serve the agent's type: TypeNotServedError, from its informer)
//   is reported the first time with the server's address and a hint of what
//   to check. The same problem again (same kind, whatever the call or the
//   key) within `intervalMs` of its last report is only counted; the first
//   one after that is reported as a summary with the count, so a server that
//   stays down costs one line per `intervalMs`, not one per retry. Once the
//   server answers again (`connected()`), the next problem is reported at once.
// - Every other error (a reconcile's own failure, a handler that throws) is
//   passed through as it is, each time: those are bounded by the work
//   queue's per-key backoff.
// - Time is the injected clock's; nothing is scheduled, so a report never
//   keeps a process alive or fires after shutdown.

import type { Clock } from "../clock.ts";
import { ApiError, NotFoundError, TimeoutError } from "../errors.ts";
import { TransportError } from "./wire.ts";

/** A connection problem as an agent reports it: what failed, where, what to check, and how often since the last report. */
export class ConnectionProblemError extends Error {
  /** Failures of this kind the report stands for (1 for the first; the count since the last report for a summary). */
  readonly failures: number;
  constructor(message: string, options: { cause: unknown; failures: number }) {
    super(message, { cause: options.cause });
    this.name = "ConnectionProblemError";
    this.failures = options.failures;
  }
}

/**
 * The server does not serve the type an informer lists or watches (its
 * collection answered 404: no ResourceType declares it, or the agent names it
 * wrongly). A NotFoundError, reported as a connection problem: once, then
 * once per interval, while the informer retries.
 */
export class TypeNotServedError extends NotFoundError {
  constructor(type: { group: string; version: string; plural: string }, options: { cause: unknown }) {
    super(`informer: the server has no type ${type.plural}.${type.group}/${type.version} (${(options.cause as Error).message})`, { cause: options.cause });
  }
}

export interface ErrorReportOptions {
  /** Where reports go; a connection problem arrives as a ConnectionProblemError whose `cause` is the last failure. Default: nowhere. */
  onError?: (err: unknown, key?: string) => void;
  clock: Clock;
  /** Least time between two reports of one connection problem. Default 30000 ms; 0 reports every failure. */
  intervalMs?: number;
  /** The server's addresses now, for the message (e.g. `gRPC 127.0.0.1:9090, HTTP http://127.0.0.1:8080`). */
  where: () => string;
}

/**
 * A connection problem's kind (what repeats are grouped by), headline and
 * hint; undefined for any other error. By class and code only (TransportError's
 * `kind` and `code`, ApiError's `reason` and causes), never by message text.
 */
export function classifyConnectionProblem(err: unknown): { kind: string; headline: string; hint: string } | undefined {
  if (err instanceof TransportError) {
    switch (err.kind) {
      case "protocol":
        return {
          kind: "protocol",
          headline: "the server's address answers, but not in Setpoint's protocol",
          hint: "is each address the right port of a Setpoint server (gRPC: its --grpc-port, 9090 by default; HTTP: its --http-port, 8080 by default)?",
        };
      case "silent":
        return {
          kind: "silent",
          headline: "the server stopped sending (not even bookmarks)",
          hint: "is it overloaded or hung, or is a proxy between holding the connection?",
        };
      case "grpc":
        return {
          kind: `grpc-${err.code}`,
          headline: `the server fails gRPC calls with code ${err.code}`,
          hint: "see the server's log; is the gRPC address a Setpoint server of a matching version?",
        };
      case "http":
        return { kind: `http-${err.code}`, headline: `the server answers HTTP ${err.code}`, hint: "is the HTTP address a Setpoint server?" };
      case "unreachable":
        return {
          kind: "unreachable",
          headline: "cannot reach the server",
          hint: "is it running (setpoint up, or setpoint server), and are these its addresses (the CLI agent's --server and --grpc; the SDK's httpUrl and grpcAddress)?",
        };
    }
  }
  if (err instanceof TypeNotServedError) {
    return {
      kind: "type",
      headline: "the server does not serve the agent's type",
      hint: 'declare it with a ResourceType (setpoint apply -f TYPE.yaml; README.md, "Declare a type"), or fix the agent\'s type: group, version and plural as `setpoint get resourcetypes` lists them',
    };
  }
  if (err instanceof TimeoutError) {
    // A watch from a revision the server has not reached (kube's ResourceVersionTooLarge): the informer relists, no connection problem.
    if (err.causes.some((c) => c.reason === "ResourceVersionTooLarge")) return undefined;
    return { kind: "timeout", headline: "the server does not answer in time", hint: "is it overloaded, or is its store (etcd) slow?" };
  }
  if (err instanceof ApiError) {
    switch (err.reason) {
      case "ServiceUnavailable":
        return {
          kind: "503",
          headline: "the server answers, but its store is unavailable",
          hint: "is its store (etcd, --etcd-servers) up and reachable from it?",
        };
      case "InternalError":
        return { kind: "500", headline: "the server fails with an internal error", hint: "see the server's log" };
      case "TooManyRequests":
        return { kind: "429", headline: "the server is shedding load (429)", hint: "too many clients, or too many workers for it?" };
      case "Unauthorized":
        return {
          kind: "401",
          headline: "the server refuses the agent's credentials (401)",
          hint: "give a valid bearer token (the agent's token option; the CLI's --token, SETPOINT_TOKEN or a kubeconfig user)",
        };
      case "Forbidden":
        return {
          kind: `403 ${err.message}`,
          headline: "the server forbids what the agent needs (403)",
          hint: "grant the agent's user what it needs: for an agent of your own, get, list and watch of its type in every namespace, update of its status, and get, list, watch, create, update and delete of leases; for the pipeline agent, the setpoint-pipeline-agent ClusterRole (docs/security.md, \"An agent's own token\")",
        };
    }
  }
  return undefined;
}

/** Reports an agent's errors to `onError`, connection problems once per interval (see the file header). */
export class ErrorReport {
  readonly #o: ErrorReportOptions;
  readonly #intervalMs: number;
  /** Per connection problem kind: when it was last reported, when it last failed, the failures since the report, and since when it has been failing. */
  readonly #problems = new Map<string, { reportedAt: number; lastAt: number; failures: number; since: number }>();

  constructor(options: ErrorReportOptions) {
    this.#o = options;
    this.#intervalMs = options.intervalMs ?? 30_000;
    if (!(this.#intervalMs >= 0)) throw new RangeError(`agent: the error report interval must be >= 0 ms, got ${this.#intervalMs}`);
  }

  /** Reports `err` (about `key`, if given) now, or counts it for the next summary. */
  report(err: unknown, key?: string): void {
    const onError = this.#o.onError;
    if (!onError) return;
    const problem = classifyConnectionProblem(err);
    if (!problem) {
      call(onError, err, key);
      return;
    }
    const now = this.#o.clock.now();
    const seen = this.#problems.get(problem.kind);
    if (seen && now - seen.reportedAt < this.#intervalMs) {
      seen.failures++;
      seen.lastAt = now;
      return;
    }
    // Still the same stretch of failures if the last one came within the interval; else a new one.
    const ongoing = seen !== undefined && now - seen.lastAt < Math.max(this.#intervalMs, 1);
    const since = ongoing ? seen.since : now;
    const where = this.#o.where();
    const cause = String((err as Error).message).replace(/\.+$/, "");
    const message = ongoing
      ? `agent: still failing for ${seconds(now - since)}: ${problem.headline} (${where}); ${seen.failures + 1} failures since the last report, the last: ${cause}. ${sentence(problem.hint)}`
      : `agent: ${problem.headline} (${where}): ${cause}. ${sentence(problem.hint)} Retrying with backoff${
          this.#intervalMs > 0 ? `; while this lasts, it is reported once every ${seconds(this.#intervalMs)}` : ""
        }.`;
    this.#problems.set(problem.kind, { reportedAt: now, lastAt: now, failures: 0, since });
    call(onError, new ConnectionProblemError(message, { cause: err, failures: ongoing ? seen.failures + 1 : 1 }), key);
  }

  /**
   * The server answers again: the next connection problem is a new one,
   * reported at once. A missing type stays reported once per interval (another
   * informer, the leases', connects meanwhile) until `typeServed` says the
   * agent's own type was listed and watched.
   */
  connected(options: { typeServed?: boolean } = {}): void {
    for (const kind of [...this.#problems.keys()]) if (kind !== "type" || options.typeServed) this.#problems.delete(kind);
  }
}

function call(onError: (err: unknown, key?: string) => void, err: unknown, key: string | undefined): void {
  try {
    onError(err, key);
  } catch {
    // A failing error handler must not stop the agent.
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/** A hint as a sentence of the message: capitalized, and ending in a stop unless it asks a question. */
function sentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.?!]$/.test(capital) ? capital : `${capital}.`;
}
