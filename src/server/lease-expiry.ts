// Deletes the leases of agents that died (src/agent/lease.ts): a lease
// labelled `agent.setpoint.dev/name` whose resourceVersion has not changed
// for its `leaseDurationSeconds`, timed on the server's injected clock from
// when this server first saw that resourceVersion. The agent's peers delete
// such a lease the same way (src/agent/lease-peers.ts), but an agent with no
// live peer (a lone agent killed -9, or the last replica) left its lease
// listed for good, its holder shown as if alive. kube-apiserver does the same
// for its own identity leases (its apiserver lease garbage collector deletes
// those whose renewTime is older than their duration).
//
// The server's own time since the last write, not the lease's renewTime,
// decides: the agent's clock may be skewed from the server's. After a restart
// a dead lease is deleted one lease duration later. Each delete carries the
// resourceVersion seen as a precondition, so a lease renewed meanwhile is
// kept; with several workers or replicas each runs this, and the others' 409
// or 404 is ignored. Leases without the label (leader election through
// client-go, say) are left as kube leaves them.

import type { Logger } from "pino";
import type { Resources } from "../api/resources.ts";
import { LEASES } from "../api/types.ts";
import type { Clock } from "../clock.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { labelsOf } from "../object-labels.ts";
import type { Store } from "../store.ts";

/** The label the agent SDK puts on each replica's lease (AGENT_NAME_LABEL in src/agent/lease.ts). */
const AGENT_LABEL = "agent.setpoint.dev/name";

export interface LeaseExpiryOptions {
  clock: Clock;
  log: Logger;
  /** How often leases are looked at. Default 1000 ms (the shortest lease is 1 s). */
  periodMs?: number;
}

interface Seen {
  resourceVersion: string;
  /** When this server first saw that resourceVersion (clock time). */
  since: number;
}

/** Starts deleting expired agent leases; `stop()` resolves once a running pass has finished. */
export function expireAgentLeases(store: Store, resources: Resources, o: LeaseExpiryOptions): { stop(): Promise<void> } {
  const seen = new Map<string, Seen>();
  let running: Promise<void> | undefined;

  function pass(): void {
    if (running) return;
    const now = o.clock.now();
    const expired: Array<{ namespace: string; name: string; resourceVersion: string }> = [];
    const present = new Set<string>();
    for (const json of store.list({ type: LEASES.name }).items) {
      if (labelsOf(json)?.[AGENT_LABEL] === undefined) continue;
      const lease = JSON.parse(json) as {
        metadata: { namespace?: string; name?: string; resourceVersion?: string };
        spec?: { leaseDurationSeconds?: unknown };
      };
      const { namespace = "", name = "", resourceVersion = "" } = lease.metadata;
      const seconds = lease.spec?.leaseDurationSeconds;
      if (typeof seconds !== "number" || !(seconds > 0)) continue;
      const key = `${namespace}/${name}`;
      present.add(key);
      const last = seen.get(key);
      if (last === undefined || last.resourceVersion !== resourceVersion) seen.set(key, { resourceVersion, since: now });
      else if (now >= last.since + seconds * 1000) expired.push({ namespace, name, resourceVersion });
    }
    for (const key of seen.keys()) if (!present.has(key)) seen.delete(key);
    if (expired.length === 0) return;
    running = Promise.all(
      expired.map(async ({ namespace, name, resourceVersion }) => {
        try {
          await resources.delete(
            { group: LEASES.group, version: LEASES.version, plural: LEASES.plural, namespace, name },
            { preconditions: { resourceVersion } },
          );
          o.log.info({ namespace, name }, "expired agent lease deleted: not renewed for its leaseDurationSeconds");
        } catch (err) {
          // Renewed or deleted meanwhile (by the agent's peers, another worker or replica).
          if (err instanceof ConflictError || err instanceof NotFoundError) return;
          o.log.warn({ err, namespace, name }, "deleting an expired agent lease failed; tried again at the next pass");
        }
      }),
    ).then(
      () => undefined,
      () => undefined,
    );
    void running.finally(() => (running = undefined));
  }

  const timer = o.clock.every(o.periodMs ?? 1000, pass);
  return {
    async stop() {
      timer.cancel();
      await running;
    },
  };
}
