// One object, live: its YAML, status and conditions, the revisions seen
// while the page is open (with what changed), and the actions the API
// offers: edit (PUT, guarded by resourceVersion), delete, and for
// PipelineRuns cancel and rerun (pipeline-view.tsx).

import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { parse as parseYaml, stringify } from "yaml";
import type { ChangeEvent } from "../../client/watch-client.ts";
import { ApiRequestError, api, type ApiFailure } from "../api.ts";
import { Connection, Failure, Phase } from "../components.tsx";
import { age, conditions, summary } from "../format.ts";
import { useLiveList, useNow } from "../live.ts";
import { PIPELINE_RUNS, listPath, objectPath, type Obj, type TypeInfo } from "../types.ts";
import { PipelineRunView, type Attempts, recordAttempts } from "./pipeline-view.tsx";

interface Seen {
  type: string;
  revision: string;
  at: number;
  changes: string[];
}

const HISTORY_MAX = 100;

/** The dotted paths (two levels deep) whose values differ between a and b. */
function changedPaths(a: any, b: any, prefix = "", depth = 0): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (depth >= 2 || typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) || Array.isArray(b))
    return [prefix || "(object)"];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => k !== "resourceVersion" && k !== "managedFields");
  return keys.flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k, depth + 1));
}

export function ObjectView({ type, namespace, name, epoch }: { type: TypeInfo; namespace: string | undefined; name: string; epoch: number }) {
  const history = useRef<Seen[]>([]);
  const last = useRef<Obj | undefined>(undefined);
  const attempts = useRef<Attempts>(new Map());
  const note = (type: string, o: Obj) => {
    const changes = last.current && type !== "DELETED" ? changedPaths(last.current, o) : [];
    history.current = [{ type, revision: o.metadata.resourceVersion ?? "", at: Date.now(), changes }, ...history.current].slice(0, HISTORY_MAX);
    last.current = o;
    recordAttempts(attempts.current, o);
  };
  const live = useLiveList(listPath(type, namespace), {
    fieldSelector: `metadata.name=${name}`,
    epoch,
    onSync: (items) => {
      const o = items[0];
      if (o && o.metadata.resourceVersion !== last.current?.metadata.resourceVersion) note(last.current ? "RESYNC" : "OPENED", o);
    },
    onEvent: (e: ChangeEvent<Obj>) => note(e.type, e.object),
  });
  const now = useNow(1000);
  const object = live.items.values().next().value as Obj | undefined;
  const yaml = useMemo(() => (object ? stringify(object, { lineWidth: 0 }) : ""), [object?.metadata.resourceVersion]);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [confirmDelete, setConfirmDelete] = useState(false);
  // Keyboard focus follows what the buttons open and close: a button that disappears (Delete) or is disabled
  // (Edit) under the focus would leave it on <body>, so the question, the editor and then the button again take it.
  const editButton = useRef<HTMLButtonElement>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);
  const noButton = useRef<HTMLButtonElement>(null);
  const editor = useRef<HTMLTextAreaElement>(null);
  const isEditing = editing !== undefined;
  const opened = useRef({ editing: false, confirm: false });
  // A layout effect: the focus moves in the same commit as the render, before anything else can see or press.
  useLayoutEffect(() => {
    if (isEditing && !opened.current.editing) editor.current?.focus();
    if (!isEditing && opened.current.editing) editButton.current?.focus();
    if (confirmDelete && !opened.current.confirm) noButton.current?.focus();
    if (!confirmDelete && opened.current.confirm) deleteButton.current?.focus();
    opened.current = { editing: isEditing, confirm: confirmDelete };
  }, [isEditing, confirmDelete]);
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const path = objectPath(type, namespace, name);

  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setFailure(undefined);
    try {
      await what();
      return true;
    } catch (err) {
      setFailure(err instanceof ApiRequestError ? err.failure : { code: 0, reason: "Error", message: String((err as Error).message) });
      return false;
    } finally {
      setBusy(false);
    }
  };

  const startEdit = () => {
    if (!object) return;
    const { status: _status, ...rest } = object;
    setEditing(stringify(rest, { lineWidth: 0 }));
  };
  const save = () =>
    act(async () => {
      let body: unknown;
      try {
        body = parseYaml(editing ?? "");
      } catch (err) {
        throw new ApiRequestError({ code: 0, reason: "InvalidYAML", message: (err as Error).message.split("\n")[0]! });
      }
      await api.replace(path, body);
      setEditing(undefined);
    });

  const s = object ? summary(object) : { text: "", tone: "" };
  const gone = !object && live.state.phase === "live";
  return (
    <section aria-labelledby="object-title" class="object-view">
      <header class="view-head">
        <h1 id="object-title">
          <a href={`#/t/${encodeURIComponent(type.name)}`}>{type.kind}</a> / {namespace ? <span class="muted">{namespace}/</span> : null}
          {name}
        </h1>
        <Phase text={s.text} tone={s.tone} />
        <Connection state={live.state} />
      </header>
      {gone ? (
        <p class="empty" data-gone="true">
          {history.current.some((h) => h.type === "DELETED") ? "This object was deleted." : "No such object (yet): this page shows it as soon as it exists."}
        </p>
      ) : null}
      {object ? (
        <div class="actions">
          <button type="button" ref={editButton} onClick={startEdit} disabled={busy || editing !== undefined}>
            Edit
          </button>
          {type.name === PIPELINE_RUNS ? <PipelineActions type={type} run={object} act={act} busy={busy} /> : null}
          {confirmDelete ? (
            <span
              class="confirm"
              onKeyDown={(e) => {
                if (e.key === "Escape") setConfirmDelete(false);
              }}
            >
              Delete {name}?{" "}
              <button type="button" class="danger" disabled={busy} onClick={() => act(() => api.remove(path)).then(() => setConfirmDelete(false))}>
                Yes, delete
              </button>{" "}
              <button type="button" ref={noButton} onClick={() => setConfirmDelete(false)}>
                No
              </button>
            </span>
          ) : (
            <button type="button" class="danger" ref={deleteButton} disabled={busy} onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          )}
        </div>
      ) : null}
      <Failure failure={failure} />
      {editing !== undefined ? (
        <form
          class="editor"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
          onKeyDown={(e) => {
            if (e.key === "Escape") setEditing(undefined);
          }}
        >
          <label for="edit-yaml">Edit as YAML (saved with PUT; a newer revision on the server gets 409 Conflict)</label>
          <textarea id="edit-yaml" ref={editor} spellcheck={false} value={editing} onInput={(e) => setEditing(e.currentTarget.value)} rows={20} />
          <div class="actions">
            <button type="submit" disabled={busy}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(undefined)}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
      {object && type.name === PIPELINE_RUNS ? <PipelineRunView run={object} attempts={attempts.current} now={now} /> : null}
      {object ? (
        <div class="columns">
          <div>
            <h2>Conditions</h2>
            {conditions(object).length === 0 ? (
              <p class="muted">None.</p>
            ) : (
              <div class="scroll-x">
                <table class="plain conditions">
                  <thead>
                    <tr>
                      <th scope="col">Type</th>
                      <th scope="col">Status</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Age</th>
                    </tr>
                  </thead>
                  <tbody>
                    {conditions(object).map((c) => (
                      <tr title={c.message}>
                        <td>{c.type}</td>
                        <td>
                          <Phase text={c.status} tone={c.status === "True" ? "Succeeded" : c.status === "False" ? "Failed" : "Running"} />
                        </td>
                        <td class="wrap">
                          {c.reason}
                          {c.message ? <div class="muted cond-message">{c.message}</div> : null}
                        </td>
                        <td>{age(c.lastTransitionTime, now)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <h2>Seen while open</h2>
            <ol class="history" aria-label="revisions seen while this page is open">
              {history.current.map((h) => (
                <li>
                  <span class="mono">{h.revision}</span> <span class={`ev ev-${h.type}`}>{h.type}</span>{" "}
                  <time class="muted" dateTime={new Date(h.at).toISOString()}>
                    {new Date(h.at).toLocaleTimeString([], { hour12: false })}
                  </time>
                  {h.changes.length ? (
                    <span class="changes">
                      {" "}
                      {h.changes.slice(0, 6).join(", ")}
                      {h.changes.length > 6 ? ", …" : ""}
                    </span>
                  ) : null}
                </li>
              ))}
            </ol>
          </div>
          <div>
            <h2>YAML</h2>
            <pre class="yaml" role="region" tabIndex={0} aria-label="the object as YAML">
              {yaml}
            </pre>
          </div>
        </div>
      ) : null}
    </section>
  );
}

function PipelineActions({ type, run, act, busy }: { type: TypeInfo; run: Obj; act: (f: () => Promise<unknown>) => Promise<boolean>; busy: boolean }) {
  const done = ["Succeeded", "Failed", "Cancelled"].includes(run.status?.phase);
  const path = objectPath(type, run.metadata.namespace, run.metadata.name);
  const rerun = () =>
    act(async () => {
      const base = run.metadata.name.replace(/-r[0-9a-z]{5}$/, "").slice(0, 240);
      const copy = {
        apiVersion: run.apiVersion,
        kind: run.kind,
        metadata: { generateName: `${base}-r`, namespace: run.metadata.namespace, labels: run.metadata.labels },
        spec: { ...run.spec, cancel: undefined },
      };
      const created = (await api.create(listPath(type, run.metadata.namespace), copy)) as Obj;
      location.hash = `#/o/${encodeURIComponent(type.name)}/${encodeURIComponent(created.metadata.namespace ?? "-")}/${encodeURIComponent(created.metadata.name)}`;
    });
  return (
    <>
      <button type="button" disabled={busy || done || run.spec?.cancel === true} onClick={() => act(() => api.mergePatch(path, { spec: { cancel: true } }))}>
        Cancel run
      </button>
      <button type="button" disabled={busy} onClick={rerun}>
        Rerun
      </button>
    </>
  );
}
