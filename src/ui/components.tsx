// Small pieces shared by the views: the connection badge every live view
// shows, phase badges, and error messages.

import type { WatchState } from "../client/watch-client.ts";
import { describeFailure, type ApiFailure } from "./api.ts";

const WORDS: Record<WatchState["phase"], string> = {
  connecting: "Connecting…",
  live: "Live",
  retrying: "Reconnecting…",
  failed: "Stopped",
  closed: "Closed",
};

/** The state of a view's watch: live, connecting, reconnecting (why), or stopped (why). */
export function Connection({ state }: { state: WatchState }) {
  const why = state.error && state.phase !== "live" ? describeFailure(state.error) : "";
  return (
    <span class={`conn conn-${state.phase}`} data-state={state.phase} role="status" aria-live="polite" title={why || undefined}>
      <span class="dot" aria-hidden="true" />
      {WORDS[state.phase]}
      {state.revision ? <span class="rv"> @ {state.revision}</span> : null}
      {why ? <span class="why">{why}</span> : null}
    </span>
  );
}

export function Phase({ text, tone }: { text: string; tone?: string }) {
  if (!text) return null;
  return <span class={`phase tone-${tone ?? text}`}>{text}</span>;
}

/** A failed request, with the fields at fault. */
export function Failure({ failure }: { failure: ApiFailure | undefined }) {
  if (!failure) return null;
  return (
    <div class="failure" role="alert">
      <strong>{describeFailure(failure)}</strong>
      {failure.causes?.length ? (
        <ul>
          {failure.causes.map((c) => (
            <li>
              <code>{c.field}</code> {c.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
