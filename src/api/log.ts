// What the API layer needs of a logger: somewhere to report errors it cannot
// return to a caller (background cleanup, a stored type that no longer loads).
// The server passes its pino logger; without one, warnings go to stderr.

/** The part of a logger (pino's) the API layer uses. */
export interface WarnLog {
  warn(details: object, message: string): void;
}

/** Logs to stderr, for when no logger is given. */
export const consoleLog: WarnLog = { warn: (details, message) => console.warn(message, details) };
