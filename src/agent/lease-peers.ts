// The other replicas of an agent as their leases show them: each one's member
// id, published member set and draining keys, and when this replica last saw
// the lease change. A lease not seen renewed for the lease duration is deleted
// with the resourceVersion last seen as a precondition, so a holder that did
// renew (the watch may lag) keeps it; the peer leaves the set once the delete
// lands. Failed deletes are retried after `retryMs`, never in a busy loop.

import { systemClock, type Clock, type Timer } from "../clock.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { PeerState } from "./claims.ts";
import type { ApiObject, ObjectRef, SetpointClient } from "./client.ts";

export const VIEW_ANNOTATION = "agent.setpoint.dev/view";
export const DRAINING_ANNOTATION = "agent.setpoint.dev/draining";

/** A sorted string list from a JSON annotation; [] when missing or unreadable (which acknowledges no one). */
export function stringsOf(json: string | undefined): string[] {
  try {
    const parsed: unknown = JSON.parse(json ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((m): m is string => typeof m === "string").sort() : [];
  } catch {
    return [];
  }
}

interface Peer extends PeerState {
  rv: string;
  /** Local time this version of the lease was first seen. */
  observedAt: number;
}

export interface LeasePeersOptions {
  client: SetpointClient;
  /** The reference of a lease by name. */
  ref: (name: string) => ObjectRef;
  durationMs: number;
  /** Wait after a failed delete. */
  retryMs: number;
  clock?: Clock;
  /** Called after the set of peers or what they publish changed. */
  onChange: () => void;
  onError: (err: unknown) => void;
}

/** The peers' leases, by lease name. */
export class LeasePeers {
  readonly #o: LeasePeersOptions;
  readonly #clock: Clock;
  readonly #peers = new Map<string, Peer>();
  #timer: Timer | undefined;
  #notBefore = 0;
  #stopped = false;

  constructor(options: LeasePeersOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Members of the peers that hold their lease, and what they published. */
  states(): PeerState[] {
    return [...this.#peers.values()].filter((p) => p.member);
  }

  /** A string that changes whenever what the peers publish changes. */
  signature(): string {
    return JSON.stringify([...this.#peers.values()].map((p) => [p.member, p.view, [...p.draining]]));
  }

  see(lease: ApiObject<{ holderIdentity?: string }>): void {
    const name = lease.metadata.name;
    const rv = lease.metadata.resourceVersion ?? "";
    const old = this.#peers.get(name);
    const annotations = lease.metadata.annotations ?? {};
    this.#peers.set(name, {
      member: lease.spec?.holderIdentity ?? "",
      view: stringsOf(annotations[VIEW_ANNOTATION]),
      draining: new Set(stringsOf(annotations[DRAINING_ANNOTATION])),
      rv,
      observedAt: old?.rv === rv ? old.observedAt : this.#clock.now(),
    });
    this.#changed();
  }

  gone(name: string): void {
    if (this.#peers.delete(name)) this.#changed();
  }

  /** Stops deleting expired leases. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #changed(): void {
    this.#schedule();
    this.#o.onChange();
  }

  #schedule(): void {
    this.#timer?.cancel();
    if (this.#stopped || this.#peers.size === 0) return;
    const next = Math.max(this.#notBefore, Math.min(...[...this.#peers.values()].map((p) => p.observedAt + this.#o.durationMs)));
    this.#timer = this.#clock.after(Math.max(0, next - this.#clock.now()), () => void this.#reap());
  }

  async #reap(): Promise<void> {
    const now = this.#clock.now();
    const expired = [...this.#peers].filter(([, p]) => now >= p.observedAt + this.#o.durationMs);
    let failed = false;
    let removed = false;
    await Promise.all(
      expired.map(async ([name, p]) => {
        try {
          await this.#o.client.delete(this.#o.ref(name), { resourceVersion: p.rv, timeoutMs: this.#o.retryMs * 5 });
        } catch (err) {
          if (err instanceof ConflictError) return void (p.observedAt = now); // renewed meanwhile: live
          if (!(err instanceof NotFoundError)) return void ((failed = true), this.#o.onError(err));
        }
        if (this.#peers.get(name) === p) removed = this.#peers.delete(name);
      }),
    );
    if (failed) this.#notBefore = this.#clock.now() + this.#o.retryMs;
    if (removed) this.#changed();
    else this.#schedule();
  }
}
