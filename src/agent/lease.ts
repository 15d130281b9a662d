// Membership by lease: each replica of an agent holds its own `Lease`
// (setpoint.dev/v1, label `agent.setpoint.dev/name=<agent>`), watches the
// others', and allows claims on keys by the rule in src/agent/claims.ts.
//
// - The lease's `holderIdentity` names the replica's incarnation (the
//   "member"); its annotations publish the acknowledged member set
//   (`agent.setpoint.dev/view`) and the draining keys
//   (`agent.setpoint.dev/draining`). Each write renews it, with the
//   resourceVersion of the last write as a precondition. It also names the
//   type the replica reconciles (`agent.setpoint.dev/type`): a peer of the
//   same name that names another type is reported once to `onError`, since
//   the two would split each other's keys.
// - The fence: a replica that has not renewed within `renewDeadlineMs` since
//   its last successful renewal began aborts every claim's signal and starts
//   no work; once its running reconciles have returned it rejoins as a new
//   member.
// - Expiry: peers' leases not seen renewed for `leaseDurationMs` are deleted
//   (src/agent/lease-peers.ts); the holder's fence came a third of a lease
//   earlier.
// - Release (end of `run`): the lease is deleted if no claim still runs, so
//   the others take over at once; otherwise it is left to expire.
//
// Defaults: lease 15 s, renewal every 5 s, fence 10 s after the last renewal
// began. A replica that crashes is taken over 15 s after the others last saw
// it renew, so 10 to 15 s after the crash.

import { hostname } from "node:os";
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { Backoff, sleep } from "./backoff.ts";
import { boundedName } from "./bounded-name.ts";
import { drainingKeys, mayClaim, ownerOf } from "./claims.ts";
import type { ApiObject, SetpointClient } from "./client.ts";
import { Informer } from "./informer.ts";
import { DRAINING_ANNOTATION, LeasePeers, VIEW_ANNOTATION, stringsOf } from "./lease-peers.ts";

export const AGENT_NAME_LABEL = "agent.setpoint.dev/name";
/** The type a replica reconciles (`plural.group/version`), so that replicas of one name serving different types can be told of it. */
export const TYPE_ANNOTATION = "agent.setpoint.dev/type";
const LEASES = { group: "setpoint.dev", version: "v1", plural: "leases" } as const;

export type LeaseObject = ApiObject<{
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}>;

export interface LeaseMembershipOptions {
  client: SetpointClient;
  /** Name shared by the replicas of one agent: a lowercase DNS label. */
  agentName: string;
  /** This replica; default `<hostname>-<pid>-<random>`. Its lease is named `<agentName>-<identity>`. */
  identity?: string;
  /** Namespace of the leases. Default "default". */
  namespace?: string;
  /** Default 15000 ms. */
  leaseDurationMs?: number;
  /** Default a third of the lease. */
  renewIntervalMs?: number;
  /** Work stops this long after the last successful renewal began. Default two thirds of the lease. */
  renewDeadlineMs?: number;
  /**
   * The type this replica reconciles, as `plural.group/version`, written on its
   * lease. A peer of the same name whose lease names another type is reported
   * to `onError` once: sharing a name, the two split each other's keys.
   */
  workload?: string;
  /** Watch transport of the lease informer. Default "websocket". */
  transport?: "websocket" | "grpc";
  clock?: Clock;
  /** Called when the keys this replica may claim may have changed. */
  onChange?: () => void;
  onError?: (err: unknown) => void;
}

/** A key being worked on; `end()` once the work returned. */
export interface Claim {
  /** Aborts when this replica loses its lease. */
  signal: AbortSignal;
  end(): void;
}

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** This replica's lease, its view of the others, and the claims they allow. */
export class LeaseMembership {
  readonly identity: string;
  readonly leaseName: string;
  readonly #o: LeaseMembershipOptions;
  readonly #client: SetpointClient;
  readonly #clock: Clock;
  readonly #durationMs: number;
  readonly #renewMs: number;
  readonly #deadlineMs: number;
  readonly #informer: Informer<LeaseObject>;
  readonly #peers: LeasePeers;
  /** Member ids this process has held. */
  readonly #mine = new Set<string>();
  /** Our lease as the watch last showed it (to take it over from another process with our identity). */
  #own: { rv: string; observedAt: number } | undefined;
  /** Keys running under a claim, with counts. */
  readonly #running = new Map<string, number>();
  /** Current member id; undefined while the lease is not held. */
  #me: string | undefined;
  /** Our lease as last written; its resourceVersion is the precondition of the next write. */
  #lease: LeaseObject | undefined;
  /** No claim starts at or after this local time (the fence). */
  #heldUntil = 0;
  /** Local time the last successful write of our lease began. */
  #renewedAt: number | undefined;
  /** Member set and draining keys in our lease; the member set being written. */
  #published: string[] = [];
  #publishedDraining: string[] = [];
  #publishing: string[] | undefined;
  #fence = new AbortController();
  #writing: Promise<void> | undefined;
  #acquiring: Promise<void> | undefined;
  #stopped = false;
  #signal: AbortSignal | undefined;
  #timers: Record<"fence" | "renew", Timer | undefined> = { fence: undefined, renew: undefined };
  /** No write before this local time (after a failed one). */
  #writeNotBefore = 0;
  #signature = "";
  /** Peer leases already reported as serving another type. */
  readonly #otherWorkloads = new Set<string>();

  constructor(options: LeaseMembershipOptions) {
    if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(options.agentName))
      throw new RangeError(`lease: agentName must be a lowercase DNS label, got ${JSON.stringify(options.agentName)}`);
    this.#o = options;
    this.#client = options.client;
    this.#clock = options.clock ?? systemClock;
    this.#durationMs = options.leaseDurationMs ?? 15_000;
    this.#renewMs = options.renewIntervalMs ?? this.#durationMs / 3;
    this.#deadlineMs = options.renewDeadlineMs ?? (this.#durationMs * 2) / 3;
    if (!(this.#renewMs < this.#deadlineMs && this.#deadlineMs < this.#durationMs))
      throw new RangeError("lease: need renewIntervalMs < renewDeadlineMs < leaseDurationMs");
    this.identity = options.identity ?? `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 6)}`;
    // Hash-shortened past 253 characters, so replicas whose identities differ only past that still get leases of their own.
    this.leaseName = boundedName(
      `${options.agentName}-${this.identity}`
        .toLowerCase()
        .replace(/[^a-z0-9.-]+/g, "-")
        .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, ""),
      253,
    );
    this.#informer = new Informer<LeaseObject>({
      client: this.#client,
      type: { ...LEASES, namespace: options.namespace ?? "default" },
      labelSelector: `${AGENT_NAME_LABEL}=${options.agentName}`,
      transport: options.transport,
      clock: this.#clock,
      onError: options.onError,
    });
    this.#peers = new LeasePeers({
      client: this.#client,
      ref: this.#ref,
      durationMs: this.#durationMs,
      retryMs: Math.min(1000, this.#renewMs / 5),
      clock: this.#clock,
      onChange: () => this.#sync(),
      onError: (err) => this.#onError(err),
    });
    this.#informer.addHandlers({ onAdd: (l) => this.#see(l), onUpdate: (_old, l) => this.#see(l), onDelete: (l) => this.#gone(l) });
  }

  /** The current member id, if the lease is held. */
  get member(): string | undefined {
    return this.#me;
  }

  /**
   * Local time (on the injected clock) at which the last write of our lease that
   * this replica saw succeed began; the fence falls `renewDeadlineMs` after it.
   * Undefined while the lease is not held. The lease in the server may be newer
   * than this: a write that landed counts only once its answer arrived.
   */
  get renewedAt(): number | undefined {
    return this.#me === undefined ? undefined : this.#renewedAt;
  }

  /** The members this replica knows (itself included while it holds its lease), sorted. */
  members(): string[] {
    const all = new Set<string>();
    for (const p of this.#peers.states()) all.add(p.member);
    if (this.#me) all.add(this.#me);
    return [...all].sort();
  }

  /** Whether `key` is this replica's under the members it knows (it may still wait for a handoff). */
  owns(key: string): boolean {
    return this.#me !== undefined && ownerOf(key, this.members()) === this.#me;
  }

  /** Claims `key` if this replica may start it now; undefined if not. */
  begin(key: string): Claim | undefined {
    const member = this.#me;
    if (!member || this.#stopped || this.#clock.now() >= this.#heldUntil) return undefined;
    const self = { member, current: this.members(), published: this.#published, publishing: this.#publishing };
    if (!mayClaim(key, self, this.#peers.states())) return undefined;
    this.#running.set(key, (this.#running.get(key) ?? 0) + 1);
    let ended = false;
    return {
      signal: this.#fence.signal,
      end: () => {
        if (ended) return;
        ended = true;
        const n = this.#running.get(key)! - 1;
        if (n > 0) this.#running.set(key, n);
        else this.#running.delete(key);
        this.#sync();
      },
    };
  }

  /** Holds the lease until `signal` aborts; then releases it (see the file header) and returns. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const stopInformer = new AbortController();
    const informing = this.#informer.run(stopInformer.signal);
    try {
      if (await this.#informer.waitForSync(signal)) this.#startAcquiring();
      if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    } finally {
      this.#stopped = true;
      this.#peers.stop();
      for (const t of Object.values(this.#timers)) t?.cancel();
      await this.#acquiring;
      await this.#writing;
      if (this.#me && this.#lease && this.#running.size === 0) {
        await this.#client.delete(this.#ref(this.leaseName), { resourceVersion: this.#lease.metadata.resourceVersion }).catch(this.#onError);
      }
      this.#lose("lease: shutting down");
      stopInformer.abort();
      await informing;
    }
  }

  #onError = (err: unknown) => this.#o.onError?.(err);
  readonly #ref = (name: string) => ({ ...LEASES, namespace: this.#o.namespace ?? "default", name });
  #after(timer: "fence" | "renew", ms: number, fn: () => void): void {
    this.#timers[timer]?.cancel();
    this.#timers[timer] = this.#clock.after(Math.max(0, ms), fn);
  }

  #see(lease: LeaseObject): void {
    const name = lease.metadata.name;
    const rv = lease.metadata.resourceVersion ?? "";
    const member = lease.spec?.holderIdentity ?? "";
    if (name === this.leaseName) {
      this.#own = { rv, observedAt: this.#own?.rv === rv ? this.#own.observedAt : this.#clock.now() };
      // Only a newer version than we wrote matters (the watch may lag our writes).
      if (member !== this.#me && this.#newer(rv)) this.#lose(`lease: ${name} was taken by ${member}`);
      return;
    }
    this.#checkWorkload(lease);
    this.#peers.see(lease);
  }

  /** Tells `onError` once of a peer lease of this agent's name that serves another type (agents copied without renaming). */
  #checkWorkload(lease: LeaseObject): void {
    const mine = this.#o.workload;
    const theirs = lease.metadata.annotations?.[TYPE_ANNOTATION];
    const name = lease.metadata.name;
    if (mine === undefined || theirs === undefined || theirs === mine || this.#otherWorkloads.has(name)) return;
    this.#otherWorkloads.add(name);
    this.#onError(
      new Error(
        `lease: agent "${this.#o.agentName}": the replica of lease ${name} reconciles ${theirs}, this one ${mine}. ` +
          "Replicas of one name share out one type's keys, so each of these skips the keys given to the other, and they are never reconciled: " +
          "give each agent its own name (runAgent's name).",
      ),
    );
  }

  #gone(lease: LeaseObject): void {
    const name = lease.metadata.name;
    if (name === this.leaseName) {
      this.#own = undefined;
      if (this.#newer(lease.metadata.resourceVersion ?? "")) this.#lose(`lease: ${name} was deleted`);
      return;
    }
    this.#otherWorkloads.delete(name);
    this.#peers.gone(name);
  }

  #newer(rv: string): boolean {
    return this.#me !== undefined && Number(rv) > Number(this.#lease?.metadata.resourceVersion ?? 0);
  }

  /** Publishes a changed member set or draining list, tells of changes, schedules reaping. */
  #sync(): void {
    const view = this.members();
    const changed = !same(view, this.#published) || !same(drainingKeys(this.#running.keys(), view, this.#me ?? ""), this.#publishedDraining);
    if (this.#me && changed && this.#clock.now() >= this.#writeNotBefore) this.#write();
    const signature = JSON.stringify([this.#me, this.#published, this.#publishing, this.#peers.signature()]);
    if (signature !== this.#signature) {
      this.#signature = signature;
      this.#o.onChange?.();
    }
  }

  /** A renewal that began at `started` succeeded: work may go on until the fence; schedule the next one. */
  #held(started: number): void {
    this.#renewedAt = started;
    this.#heldUntil = started + this.#deadlineMs;
    this.#after("fence", this.#heldUntil - this.#clock.now(), () => this.#lose("lease: not renewed in time"));
    this.#after("renew", started + this.#renewMs - this.#clock.now(), () => this.#write());
  }

  /** Writes our lease: renewal, member set, draining keys. One write at a time. */
  #write(): void {
    if (this.#writing || !this.#me || !this.#lease || this.#stopped) return;
    const me = this.#me;
    const lease = this.#lease;
    const started = this.#clock.now();
    const view = this.members();
    // Computed when the write starts: keys that finish meanwhile are republished by the next sync.
    const draining = drainingKeys(this.#running.keys(), view, me);
    this.#publishing = view;
    const annotations = { ...lease.metadata.annotations, [VIEW_ANNOTATION]: JSON.stringify(view), [DRAINING_ANNOTATION]: JSON.stringify(draining) };
    const next = { ...lease, metadata: { ...lease.metadata, annotations }, spec: { ...lease.spec, renewTime: new Date(started).toISOString() } };
    this.#writing = (async () => {
      try {
        const written = await this.#client.update<LeaseObject>(this.#ref(this.leaseName), next, { timeoutMs: this.#renewMs });
        if (this.#me !== me) return;
        [this.#lease, this.#published, this.#publishedDraining] = [written, view, draining];
        this.#held(started);
      } catch (err) {
        if (err instanceof NotFoundError) return this.#lose("lease: deleted by another replica");
        if (err instanceof ConflictError) await this.#readBack(me);
        else this.#onError(err);
        const retry = Math.min(1000, this.#renewMs / 5);
        this.#writeNotBefore = this.#clock.now() + retry;
        if (this.#me === me) this.#after("renew", retry, () => this.#write());
      } finally {
        this.#publishing = undefined;
        this.#writing = undefined;
      }
    })().then(() => this.#sync());
  }

  /** After a conflict on our lease (an earlier write landed but its answer was lost): adopt it if it is still ours. */
  async #readBack(me: string): Promise<void> {
    try {
      const current = await this.#client.get<LeaseObject>(this.#ref(this.leaseName), { timeoutMs: this.#renewMs });
      if (this.#me !== me) return;
      if (current.spec?.holderIdentity !== me) return this.#lose(`lease: ${this.leaseName} is held by ${current.spec?.holderIdentity}`);
      this.#lease = current;
      this.#published = stringsOf(current.metadata.annotations?.[VIEW_ANNOTATION]);
      this.#publishedDraining = stringsOf(current.metadata.annotations?.[DRAINING_ANNOTATION]);
    } catch (err) {
      if (err instanceof NotFoundError) this.#lose("lease: deleted by another replica");
      else this.#onError(err);
    }
  }

  /** The fence: abort all claims; rejoin as a new member once they returned. */
  #lose(reason: string): void {
    this.#timers.fence?.cancel();
    this.#timers.renew?.cancel();
    if (this.#me === undefined) return;
    [this.#me, this.#heldUntil, this.#published, this.#publishedDraining] = [undefined, 0, [], []];
    this.#fence.abort(new DOMException(reason, "AbortError"));
    this.#fence = new AbortController();
    this.#sync();
    this.#startAcquiring();
  }

  #startAcquiring(): void {
    if (this.#acquiring || this.#stopped) return;
    this.#acquiring = (async () => {
      const backoff = new Backoff({ initialMs: 100, maxMs: this.#renewMs });
      while (!this.#stopped && !this.#me) {
        if (this.#running.size === 0 && (await this.#acquire().catch((err: unknown) => void this.#onError(err)))) break;
        await sleep(backoff.next(), { clock: this.#clock, signal: this.#signal });
      }
      this.#acquiring = undefined;
      this.#sync();
    })();
  }

  /** Creates or takes over our lease under a new member id; false if it must wait. */
  async #acquire(): Promise<boolean> {
    const member = `${this.identity}#${crypto.randomUUID().slice(0, 8)}`;
    const now = this.#clock.now();
    const time = new Date(now).toISOString();
    const view = [...new Set([...this.members(), member])].sort();
    const spec = { holderIdentity: member, leaseDurationSeconds: Math.max(1, Math.ceil(this.#durationMs / 1000)), acquireTime: time, renewTime: time };
    const annotations: Record<string, string> = { [VIEW_ANNOTATION]: JSON.stringify(view), [DRAINING_ANNOTATION]: "[]" };
    if (this.#o.workload !== undefined) annotations[TYPE_ANNOTATION] = this.#o.workload;
    let lease: LeaseObject;
    try {
      const existing = await this.#client.get<LeaseObject>(this.#ref(this.leaseName), { timeoutMs: this.#renewMs });
      const holder = existing.spec?.holderIdentity ?? "";
      // Held by another process with our identity: take over (with its resourceVersion as precondition) only once expired.
      const own = this.#own;
      const expired = own !== undefined && own.rv === existing.metadata.resourceVersion && now >= own.observedAt + this.#durationMs;
      if (holder && !this.#mine.has(holder) && !expired) return false;
      const metadata = { ...existing.metadata, annotations: { ...existing.metadata.annotations, ...annotations } };
      lease = await this.#client.update(this.#ref(this.leaseName), {
        ...existing,
        metadata,
        spec: { ...spec, leaseTransitions: (existing.spec?.leaseTransitions ?? 0) + 1 },
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      const metadata = { name: this.leaseName, namespace: this.#o.namespace ?? "default", labels: { [AGENT_NAME_LABEL]: this.#o.agentName }, annotations };
      lease = await this.#client.create(this.#ref(this.leaseName), {
        apiVersion: "setpoint.dev/v1",
        kind: "Lease",
        metadata,
        spec: { ...spec, leaseTransitions: 0 },
      });
    }
    this.#mine.add(member);
    [this.#me, this.#lease, this.#published, this.#publishedDraining] = [member, lease, view, []];
    this.#held(now);
    return true;
  }
}
