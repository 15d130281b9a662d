// Create an object from YAML (or JSON): the type comes from its apiVersion
// and kind, the namespace from metadata.namespace (default `default`). The
// server's answer, errors and their fields included, is shown as it is.

import { useState } from "preact/hooks";
import { parse as parseYaml } from "yaml";
import { ApiRequestError, api, type ApiFailure } from "../api.ts";
import { Failure } from "../components.tsx";
import { listPath, type Obj, type TypeInfo } from "../types.ts";

function template(t: TypeInfo | undefined): string {
  if (!t) return "apiVersion: \nkind: \nmetadata:\n  name: \nspec: {}\n";
  if (t.name === "resourcetypes.setpoint.dev") {
    return `apiVersion: ${t.group}/${t.version}
kind: ${t.kind}
metadata:
  name: widgets.example.com
spec:
  group: example.com
  version: v1
  kind: Widget
  plural: widgets
  scope: Namespaced
`;
  }
  if (t.name === "pipelineruns.ci.setpoint.dev") {
    return `apiVersion: ${t.group}/${t.version}
kind: ${t.kind}
metadata:
  name: my-run
  namespace: default
spec:
  tasks:
    - name: hello
      run: echo hello
    - name: world
      runAfter: [hello]
      run: echo world
`;
  }
  return `apiVersion: ${t.group}/${t.version}\nkind: ${t.kind}\nmetadata:\n  name: my-object\n${t.namespaced ? "  namespace: default\n" : ""}spec: {}\n`;
}

export function CreateView({ types, initial }: { types: TypeInfo[]; initial: TypeInfo | undefined }) {
  const [text, setText] = useState(template(initial));
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setFailure(undefined);
    setBusy(true);
    try {
      let doc: any;
      try {
        doc = parseYaml(text);
      } catch (err) {
        throw new ApiRequestError({ code: 0, reason: "InvalidYAML", message: (err as Error).message.split("\n")[0]! });
      }
      const t = types.find((x) => `${x.group}/${x.version}` === doc?.apiVersion && x.kind === doc?.kind);
      if (!t)
        throw new ApiRequestError({
          code: 0,
          reason: "UnknownType",
          message: `no resource type has apiVersion ${JSON.stringify(doc?.apiVersion)} and kind ${JSON.stringify(doc?.kind)}`,
        });
      const ns = t.namespaced ? (doc.metadata?.namespace ?? "default") : undefined;
      const created = (await api.create(listPath(t, ns), doc)) as Obj;
      location.hash = `#/o/${encodeURIComponent(t.name)}/${encodeURIComponent(created.metadata.namespace ?? "-")}/${encodeURIComponent(created.metadata.name)}`;
    } catch (err) {
      setFailure(err instanceof ApiRequestError ? err.failure : { code: 0, reason: "Error", message: String(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="create-title">
      <header class="view-head">
        <h1 id="create-title">Create{initial ? ` ${initial.kind}` : ""}</h1>
      </header>
      <form
        class="editor"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label for="create-yaml">Object as YAML or JSON</label>
        <textarea id="create-yaml" spellcheck={false} rows={22} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <Failure failure={failure} />
        <div class="actions">
          <button type="submit" disabled={busy}>
            Create
          </button>
        </div>
      </form>
    </section>
  );
}
