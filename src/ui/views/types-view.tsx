// Every resource type, with a live count of its objects (one watch per type).

import { describeFailure } from "../api.ts";
import { Connection } from "../components.tsx";
import { useLiveList } from "../live.ts";
import { RESOURCE_TYPES, listPath, type TypeInfo } from "../types.ts";
import type { WatchState } from "../../client/watch-client.ts";

function Count({ type, epoch }: { type: TypeInfo; epoch: number }) {
  const live = useLiveList(listPath(type), { epoch });
  const failed = live.state.phase === "failed" ? live.state.error : undefined;
  return (
    <td class="num" data-count={live.state.phase === "live" ? live.items.size : undefined} title={failed ? describeFailure(failed) : undefined}>
      {failed ? (failed.code === 403 ? "not allowed" : failed.reason) : live.state.phase === "live" || live.items.size > 0 ? live.items.size : "…"}
    </td>
  );
}

/**
 * `declared`: how many ResourceType objects there are, once their watch is
 * live. With none, the page says how to declare a type, rather than show the
 * built-ins alone as if that were all there is.
 */
export function TypesView({ types, state, epoch, declared }: { types: TypeInfo[]; state: WatchState; epoch: number; declared: number | undefined }) {
  return (
    <section aria-labelledby="types-title">
      <header class="view-head">
        <h1 id="types-title">Resource types</h1>
        <Connection state={state} />
      </header>
      <table class="plain types">
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Name</th>
            <th scope="col" class="wide">
              API version
            </th>
            <th scope="col" class="wide">
              Scope
            </th>
            <th scope="col" class="num">
              Objects
            </th>
          </tr>
        </thead>
        <tbody>
          {types.map((t) => (
            <tr key={t.name} data-type={t.name}>
              <td>
                <a href={`#/t/${encodeURIComponent(t.name)}`}>{t.kind}</a>
              </td>
              <td class="mono">{t.name}</td>
              <td class="mono wide">
                {t.group}/{t.version}
              </td>
              <td class="wide">{t.namespaced ? "Namespaced" : "Cluster"}</td>
              <Count type={t} epoch={epoch} />
            </tr>
          ))}
        </tbody>
      </table>
      {declared === 0 ? (
        <div class="empty" data-empty="types">
          <p>
            No types of your own yet: the ones above are built in. A <strong>ResourceType</strong> declares a type, and its objects get an API, a watch and a
            table here at once.
          </p>
          <ul>
            <li>
              <a href={`#/create/${encodeURIComponent(RESOURCE_TYPES.name)}`}>Declare one here</a> (a template to edit), or
            </li>
            <li>
              from the command line: <code>setpoint apply -f examples/pipelines/resource-type.yaml</code> declares PipelineRun, and <code>setpoint up</code>{" "}
              declares it and runs a pipeline agent.
            </li>
          </ul>
        </div>
      ) : null}
    </section>
  );
}
