// The Setpoint web console (API.md §10): a single page served by the server
// at /ui/, that shows the whole system live through the API's watches. Routes
// live in the URL's hash so that every view can be linked and reloaded:
//   #/                          resource types with object counts
//   #/t/TYPE?ns=NS&l=SELECTOR   one type's objects
//   #/o/TYPE/NS/NAME            one object (NS is `-` for cluster-scoped)
//   #/create[/TYPE]             create from YAML
//   #/server                    the server's metrics
// Everything shown from the API is rendered as text by Preact (escaped);
// nothing is ever inserted as HTML.

import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import "./styles.css";
import { auth, describeFailure } from "./api.ts";
import { Connection } from "./components.tsx";
import { useDiscoveredTypes } from "./discovery.ts";
import { useLiveList } from "./live.ts";
import { LEASES, RESOURCE_TYPES, listPath, typeInfo, type TypeInfo } from "./types.ts";
import { CreateView } from "./views/create-view.tsx";
import { ObjectView } from "./views/object-view.tsx";
import { ServerView } from "./views/server-view.tsx";
import { TableView } from "./views/table-view.tsx";
import { TypesView } from "./views/types-view.tsx";
import type { WatchFailure } from "../client/watch-client.ts";

interface Route {
  parts: string[];
  query: URLSearchParams;
}

function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", search = ""] = hash.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function TokenDialog({ failure, onToken }: { failure: WatchFailure; onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div class="overlay">
      <form
        class="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="token-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onToken(value.trim());
        }}
      >
        <h2 id="token-title">Sign in</h2>
        <p role="alert" data-refused={auth.token() ? "true" : undefined}>
          {describeFailure(failure)}
        </p>
        <p class="muted">The token is kept in this tab only (sessionStorage) and sent to this server alone.</p>
        <label for="token">Bearer token</label>
        <input id="token" name="token" type="password" autocomplete="off" ref={input} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit">Sign in</button>
        </div>
      </form>
    </div>
  );
}

function App() {
  const route = useRoute();
  const [epoch, setEpoch] = useState(0);
  const [unauthorized, setUnauthorized] = useState<WatchFailure | undefined>(undefined);
  useEffect(() => auth.onUnauthorized((f) => setUnauthorized(f)), []);
  const typesLive = useLiveList(listPath(RESOURCE_TYPES), { epoch });
  const discovered = useDiscoveredTypes(typesLive.version, epoch);
  const types = useMemo(() => {
    const all = new Map<string, TypeInfo>();
    // A user who may not list ResourceTypes still gets discovery, and sees the types there.
    const forbidden = typesLive.state.phase === "failed" && typesLive.state.error?.code === 403;
    if (typesLive.state.phase === "live" || typesLive.items.size > 0 || forbidden) {
      // Built-ins from discovery (ResourceType and Lease even before it answers); declared types from the live watch.
      for (const t of [RESOURCE_TYPES, LEASES, ...discovered]) all.set(t.name, t);
    }
    for (const rt of typesLive.items.values()) all.set(rt.metadata.name, typeInfo(rt));
    return [...all.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  }, [typesLive.version, typesLive.state.phase, discovered]);
  const byName = (name: string | undefined) => types.find((t) => t.name === name);

  const signIn = (token: string) => {
    auth.setToken(token);
    setUnauthorized(undefined);
    setEpoch((e) => e + 1);
  };
  const signOut = () => {
    auth.setToken(undefined);
    setEpoch((e) => e + 1);
  };

  const [head, a, b, c] = route.parts;
  let view;
  if (head === "t" && a) {
    const t = byName(a);
    view = t ? (
      <TableView
        key={t.name}
        type={t}
        epoch={epoch}
        query={{ namespace: route.query.get("ns") ?? "", labelSelector: route.query.get("l") ?? "" }}
        onQuery={(q) => {
          const p = new URLSearchParams();
          if (q.namespace) p.set("ns", q.namespace);
          if (q.labelSelector) p.set("l", q.labelSelector);
          location.hash = `#/t/${encodeURIComponent(t.name)}${p.toString() ? `?${p}` : ""}`;
        }}
      />
    ) : (
      <Waiting type={a} state={typesLive.state} known={typesLive.state.phase === "live" && discovered.length > 0} />
    );
  } else if (head === "o" && a && b && c) {
    const t = byName(a);
    view = t ? (
      <ObjectView key={`${a}/${b}/${c}`} type={t} namespace={b === "-" ? undefined : b} name={c} epoch={epoch} />
    ) : (
      <Waiting type={a} state={typesLive.state} known={typesLive.state.phase === "live" && discovered.length > 0} />
    );
  } else if (head === "create") {
    view = <CreateView key={a ?? ""} types={types} initial={byName(a)} />;
  } else if (head === "server") {
    view = <ServerView epoch={epoch} />;
  } else {
    view = <TypesView types={types} state={typesLive.state} epoch={epoch} declared={typesLive.state.phase === "live" ? typesLive.items.size : undefined} />;
  }

  // A new page moves focus to its content, so keyboard and screen reader users start there.
  const page = `${head ?? ""}/${a ?? ""}/${b ?? ""}/${c ?? ""}`;
  const firstPage = useRef(true);
  useEffect(() => {
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [page]);

  const here = head ?? "";
  // While the sign-in prompt is open, the page behind it is inert: Tab stays in the prompt, as aria-modal says.
  const behind = unauthorized !== undefined;
  return (
    <>
      {/* biome-ignore lint/a11y/useValidAnchor: a skip link; it focuses <main> itself so that the hash router's URL stays as it is */}
      <a class="skip" href="#main" inert={behind} onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <nav class="top" aria-label="main" inert={behind}>
        <a class="brand" href="#/">
          Setpoint
        </a>
        <a href="#/" aria-current={here === "" || here === "t" || here === "o" ? "page" : undefined}>
          Types
        </a>
        <a href="#/create" aria-current={here === "create" ? "page" : undefined}>
          Create
        </a>
        <a href="#/server" aria-current={here === "server" ? "page" : undefined}>
          Server
        </a>
        <span class="spacer" />
        {auth.token() ? (
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        ) : null}
      </nav>
      <main id="main" tabIndex={-1} inert={behind}>
        {view}
      </main>
      {unauthorized ? <TokenDialog failure={unauthorized} onToken={signIn} /> : null}
    </>
  );
}

/** A route's type that is not (yet) among those the server serves: said plainly once the types are known, and shown as soon as it is declared. */
function Waiting({ type, state, known }: { type: string; state: import("../client/watch-client.ts").WatchState; known: boolean }) {
  return (
    <section>
      {known ? (
        <p class="empty" data-missing-type={type}>
          This server has no type <code>{type}</code> (yet): this page shows it as soon as a ResourceType declares it. <a href="#/">All types</a>{" "}
          <Connection state={state} />
        </p>
      ) : (
        <p class="empty">
          Looking for type {type}… <Connection state={state} />
        </p>
      )}
    </section>
  );
}

render(<App />, document.getElementById("app")!);
