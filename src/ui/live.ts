// Preact hooks over the watch client: a live map of a list path's objects,
// re-rendered at most once per animation frame however fast events come, and
// the connection state to show. One WebSocket per hook in use; it is closed
// when the component goes away or its path, selectors or credentials change.

import { useEffect, useRef, useState } from "preact/hooks";
import { watchList, type ChangeEvent, type WatchState } from "../client/watch-client.ts";
import { auth } from "./api.ts";
import { keyOf, type Obj } from "./types.ts";

export interface LiveList {
  /** Objects by `namespace/name`; the same Map instance, changed in place. */
  items: Map<string, Obj>;
  /** Grows with every change; use it to memoise derived views. */
  version: number;
  state: WatchState;
  /** The newest revision delivered (events and bookmarks). */
  revision: string | undefined;
}

export interface LiveOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Changes when credentials change, to reconnect with them. */
  epoch?: number;
  /** Called with every change after the first sync (object history). */
  onEvent?: (e: ChangeEvent<Obj>) => void;
  onSync?: (items: Obj[]) => void;
}

/** Lists and watches `path` (undefined: nothing) for as long as the component is mounted. */
export function useLiveList(path: string | undefined, options: LiveOptions = {}): LiveList {
  const items = useRef(new Map<string, Obj>()).current;
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<WatchState>({ phase: "connecting", attempt: 0 });
  const revision = useRef<string | undefined>(undefined);
  const handlers = useRef(options);
  handlers.current = options;

  useEffect(() => {
    items.clear();
    setVersion((v) => v + 1);
    // A new watch (after signing in, say) starts connecting: the previous one's failure is no longer the state.
    setState({ phase: "connecting", attempt: 0 });
    if (path === undefined) return;
    let frame: number | undefined;
    let closed = false;
    revision.current = undefined;
    // Signing in restarts this effect (options.epoch): a 401 belongs to the token it started with.
    const startedWith = auth.token();
    const changed = () => {
      revision.current = view.revision;
      frame ??= requestAnimationFrame(() => {
        frame = undefined;
        setVersion((v) => v + 1);
      });
    };
    const view = watchList<Obj>({
      server: location.origin,
      path,
      labelSelector: options.labelSelector || undefined,
      fieldSelector: options.fieldSelector || undefined,
      token: () => auth.token(),
      onSync(list) {
        if (closed) return;
        items.clear();
        for (const o of list) items.set(keyOf(o), o);
        handlers.current.onSync?.(list);
        changed();
      },
      onEvent(e) {
        if (closed) return;
        if (e.type === "DELETED") items.delete(keyOf(e.object));
        else items.set(keyOf(e.object), e.object);
        handlers.current.onEvent?.(e);
        changed();
      },
      onState(s) {
        if (closed) return; // a late word from the watch this effect replaced
        setState(s);
        if (s.phase === "failed" && s.error?.code === 401) auth.unauthorized(s.error, startedWith);
      },
    });
    return () => {
      closed = true;
      view.close();
      if (frame !== undefined) cancelAnimationFrame(frame);
    };
  }, [path, options.labelSelector, options.fieldSelector, options.epoch]);

  return { items, version, state: { ...state, revision: revision.current ?? state.revision }, revision: revision.current ?? state.revision };
}

/** The current time, refreshed every `ms` (for ages and running durations). The browser's own timers: the console shows the viewer's wall clock. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
