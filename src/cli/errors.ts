// The CLI's errors and the exit code each one means: 1 for a failure (a
// server error, an unreachable server, a bad file), 2 for bad usage.
// program.ts prints them (printers.ts formats them) and exits with the code.

import type { Status } from "../wire.ts";

/** An error the CLI reports and exits on; `exitCode` 1 unless said otherwise. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad usage that commander cannot see (a flag combination, an argument's value): exit 2. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string) {
    super(message, { exitCode: 2 });
  }
}

/** What the CLI needs of an error's Status (src/wire.ts): made up from the HTTP code when the body is not one. */
export type ErrorStatus = Pick<Status, "code" | "reason" | "message" | "details">;

/** The server answered with an error Status. */
export class ServerError extends CliError {
  override name = "ServerError";
  readonly status: ErrorStatus;
  constructor(status: ErrorStatus) {
    super(status.message);
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string {
    return this.status.reason;
  }
}

/** The server cannot be reached (refused, timed out): commands stop at the first one. */
export class UnreachableError extends CliError {
  override name = "UnreachableError";
  /**
   * Whether the request may have reached the server: false when its connection never opened (refused,
   * a name that does not resolve, a TLS handshake that failed), so nothing was sent. Default true.
   */
  readonly sent: boolean;
  constructor(message: string, options: { cause?: unknown; sent?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.sent = options.sent ?? true;
  }
}

/** Ends a command with an exit code after it has printed its own errors. */
export class ExitError extends CliError {
  override name = "ExitError";
  constructor(exitCode: number) {
    super("", { exitCode });
  }
}

/** The server's Status, or one made up from the HTTP code when the body is not a Status. */
export function asStatus(body: unknown, code: number, text: string): ErrorStatus {
  const b = body as Partial<ErrorStatus> | undefined;
  if (b && typeof b === "object" && typeof b.message === "string") {
    return { ...b, code: typeof b.code === "number" ? b.code : code, reason: b.reason ?? "Unknown", message: b.message } as ErrorStatus;
  }
  const reason = code === 404 ? "NotFound" : code === 401 ? "Unauthorized" : "Unknown";
  return { code, reason, message: text.trim() === "" ? `the server answered HTTP ${code}` : text.trim().slice(0, 500) };
}
