// The objects of one type as a table, live: name, namespace, age and status,
// filtered by namespace (the watch's path) and label selector (the watch's
// labelSelector). Only the rows in view are rendered, so ten thousand objects
// scroll smoothly. Keys: ↑/↓ (or j/k) move, Enter opens, / filters.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Connection, Phase } from "../components.tsx";
import { age, summary } from "../format.ts";
import { useLiveList, useNow } from "../live.ts";
import { listPath, type Obj, type TypeInfo } from "../types.ts";

const ROW = 36;
const OVERSCAN = 8;

export interface TableQuery {
  namespace: string;
  labelSelector: string;
}

export function objectHref(t: TypeInfo, o: Obj): string {
  return `#/o/${encodeURIComponent(t.name)}/${encodeURIComponent(o.metadata.namespace ?? "-")}/${encodeURIComponent(o.metadata.name)}`;
}

export function TableView({ type, query, epoch, onQuery }: { type: TypeInfo; query: TableQuery; epoch: number; onQuery: (q: TableQuery) => void }) {
  const live = useLiveList(listPath(type, query.namespace || undefined), { labelSelector: query.labelSelector, epoch });
  const now = useNow(1000);
  const rows = useMemo(() => {
    const all = Array.from(live.items.values());
    return all.sort((a, b) => (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? "") || a.metadata.name.localeCompare(b.metadata.name));
  }, [live.version]);
  const namespaces = useMemo(() => [...new Set(rows.map((o) => o.metadata.namespace ?? ""))].filter(Boolean).sort(), [rows]);

  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [cursor, setCursor] = useState(0);
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  const visible = rows.slice(first, last);
  const cols = type.namespaced ? "" : " cols3";

  const move = (to: number) => {
    const i = Math.max(0, Math.min(rows.length - 1, to));
    setCursor(i);
    const el = scroller.current;
    if (!el) return;
    if (i * ROW < el.scrollTop) el.scrollTop = i * ROW;
    else if ((i + 1) * ROW > el.scrollTop + el.clientHeight) el.scrollTop = (i + 1) * ROW - el.clientHeight;
  };
  const onKey = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor(height / ROW) - 1);
    const keys: Record<string, () => void> = {
      ArrowDown: () => move(cursor + 1),
      j: () => move(cursor + 1),
      ArrowUp: () => move(cursor - 1),
      k: () => move(cursor - 1),
      PageDown: () => move(cursor + page),
      PageUp: () => move(cursor - page),
      Home: () => move(0),
      End: () => move(rows.length - 1),
      Enter: () => {
        const o = rows[cursor];
        if (o) location.hash = objectHref(type, o);
      },
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  };

  const [ns, setNs] = useState(query.namespace);
  const [sel, setSel] = useState(query.labelSelector);
  const filterInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const slash = (e: KeyboardEvent) => {
      if (e.key === "/" && !(e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement)) {
        e.preventDefault();
        filterInput.current?.focus();
      }
    };
    addEventListener("keydown", slash);
    return () => removeEventListener("keydown", slash);
  }, []);

  return (
    <section aria-labelledby="table-title" class="table-view">
      <header class="view-head">
        <h1 id="table-title">{type.kind}</h1>
        <span class="muted mono wide">{type.name}</span>
        <span class="count" data-rows={rows.length}>
          {rows.length} {rows.length === 1 ? "object" : "objects"}
        </span>
        <Connection state={live.state} />
      </header>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          onQuery({ namespace: ns.trim(), labelSelector: sel.trim() });
        }}
      >
        {type.namespaced ? (
          <label>
            Namespace
            <input name="namespace" list="namespaces" placeholder="all" value={ns} onInput={(e) => setNs(e.currentTarget.value)} />
            <datalist id="namespaces">
              {namespaces.map((n) => (
                <option value={n} />
              ))}
            </datalist>
          </label>
        ) : null}
        <label>
          Labels
          <input name="labelSelector" ref={filterInput} placeholder="app=web,tier!=db  ( / )" value={sel} onInput={(e) => setSel(e.currentTarget.value)} />
        </label>
        <button type="submit">Filter</button>
        <a class="button" href={`#/create/${encodeURIComponent(type.name)}`}>
          Create…
        </a>
      </form>
      <div class="grid" role="table" aria-label={`${type.kind} objects`} aria-rowcount={rows.length + 1}>
        <div class={`grid-row grid-head${cols}`} role="row">
          <span role="columnheader">Name</span>
          {type.namespaced ? <span role="columnheader">Namespace</span> : null}
          <span role="columnheader">Age</span>
          <span role="columnheader">Status</span>
        </div>
        <div
          class="grid-body"
          role="rowgroup"
          ref={scroller}
          tabIndex={0}
          aria-label="objects: arrow keys move, Enter opens"
          onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
          onKeyDown={onKey}
        >
          <div class="grid-spacer" style={{ height: `${rows.length * ROW}px` }}>
            {visible.map((o, i) => {
              const index = first + i;
              const s = summary(o);
              return (
                <a
                  key={o.metadata.uid ?? `${o.metadata.namespace}/${o.metadata.name}`}
                  class={`grid-row${cols}${index === cursor ? " cursor" : ""}`}
                  role="row"
                  aria-rowindex={index + 2}
                  href={objectHref(type, o)}
                  tabIndex={-1}
                  data-name={o.metadata.name}
                  style={{ transform: `translateY(${index * ROW}px)` }}
                >
                  <span role="cell" class="name">
                    {o.metadata.name}
                  </span>
                  {type.namespaced ? <span role="cell">{o.metadata.namespace}</span> : null}
                  <span role="cell">{age(o.metadata.creationTimestamp, now)}</span>
                  <span role="cell">
                    <Phase text={s.text} tone={s.tone} />
                  </span>
                </a>
              );
            })}
          </div>
          {rows.length === 0 && live.state.phase === "live" ? (
            <p class="empty">No objects{query.labelSelector || query.namespace ? " match" : " yet"}.</p>
          ) : null}
        </div>
      </div>
    </section>
  );
}
