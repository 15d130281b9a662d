// The etcd store's clients, and which member leads. Transactions and
// linearizable ranges go to the leader when one of the endpoints is it
// (found with Maintenance.Status, looked for again every few seconds and after
// a failed call): a member that is not the leader forwards a write to the
// leader, and asks it before a linearizable read, which costs a hop and CPU on
// two members. Without a known leader, calls go through the pool of every
// endpoint, which skips a member that keeps failing.

import { Etcd3, isRecoverableError, type IOptions as EtcdOptions } from "etcd3";
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop, retry } from "cockatiel";
import type { Clock } from "../clock.ts";
import { EtcdTxnClient } from "./etcd-txn.ts";
import type { TxnRequest, TxnResponse } from "./etcd-wire.ts";

/** How often the members are asked which leads (also after any failed call to it). */
export const LEADER_CHECK_MS = 5000;

export interface EtcdMembersOptions {
  /** Client URLs, trimmed, none empty. */
  hosts: string[];
  /** TLS material for grpc-js, if any. */
  credentials?: EtcdOptions["credentials"];
  /** Deadline of each unary etcd request, ms (real time: grpc-js takes a wall-clock date). */
  timeoutMs: number;
  /** Throttles the leader search. */
  clock: Clock;
  /** Look for the leader (with more than one endpoint). */
  preferLeader: boolean;
}

function isUnavailable(err: unknown): boolean {
  return (err as { constructor?: { name?: string } }).constructor?.name === "GRPCUnavailableError";
}

/** The pool client, one client per member, and the leader among them. */
export class EtcdMembers {
  /** Every endpoint, with fault handling: a member that fails twice in a row is skipped for a second. */
  readonly client: Etcd3;
  /** One client per endpoint (grpc-js shares the connection with `client`'s), to ask each member for its status and to call the leader. */
  readonly #members: Etcd3[];
  /**
   * The write path's Txn client of each member's client (of the only endpoint
   * when there is one): grpc-js with a hand-made codec, much cheaper per call
   * than the etcd3 package (src/store/etcd-txn.ts).
   */
  readonly #txnClients = new Map<Etcd3, EtcdTxnClient>();
  readonly #single: boolean;
  readonly #clock: Clock;
  /** The client of the member that said it is the leader, while no call to it failed since. */
  #leader: Etcd3 | undefined;
  #search: Promise<void> | undefined;
  /** When the last search began (clock.now()). */
  #searchedAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: EtcdMembersOptions) {
    const { hosts, credentials, timeoutMs } = options;
    this.#clock = options.clock;
    this.#single = hosts.length === 1;
    // Real time, not the clock: grpc-js takes a deadline as a wall-clock date, and it bounds a network call.
    const defaultCallOptions: EtcdOptions["defaultCallOptions"] = (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs });
    this.client = new Etcd3({
      hosts,
      credentials,
      defaultCallOptions,
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(2) }),
        // Retry only what never reached etcd (connection refused): a retried transaction must not apply twice.
        global: retry(handleWhen(isUnavailable), { maxAttempts: Math.max(3, hosts.length + 1) }),
      },
    });
    this.#members =
      options.preferLeader && hosts.length > 1
        ? hosts.map((host) => new Etcd3({ hosts: host, credentials, defaultCallOptions, faultHandling: { host: () => noop, global: noop } }))
        : [];
    for (const [i, m] of this.#members.entries()) this.#txnClients.set(m, new EtcdTxnClient({ url: hosts[i]!, credentials, timeoutMs }));
    if (this.#single) this.#txnClients.set(this.client, new EtcdTxnClient({ url: hosts[0]!, credentials, timeoutMs }));
  }

  /** The leader's client, while known. */
  get leader(): Etcd3 | undefined {
    return this.#leader;
  }

  /** The Txn client (which also opens watches) of `member`'s client, or of the pool's with one endpoint. */
  txnClientOf(member: Etcd3): EtcdTxnClient | undefined {
    return this.#txnClients.get(member);
  }

  /** Asks every member whether it is the leader; at most once a second. */
  findLeader(): Promise<void> {
    if (this.#members.length === 0 || this.#search || this.#clock.now() - this.#searchedAt < 1000) return this.#search ?? Promise.resolve();
    this.#searchedAt = this.#clock.now();
    this.#search = Promise.allSettled(this.#members.map((m) => m.maintenance.status().then((st) => (st.leader === st.header.member_id ? m : undefined))))
      .then((answers) => {
        if (this.#closed) return;
        this.#leader = undefined;
        for (const a of answers) if (a.status === "fulfilled" && a.value) this.#leader = a.value;
      })
      .finally(() => (this.#search = undefined));
    return this.#search;
  }

  /** Looks for the leader again if the last search is LEADER_CHECK_MS old (leadership moves: elections, a member restarted). */
  recheck(): void {
    if (this.#clock.now() - this.#searchedAt >= LEADER_CHECK_MS) void this.findLeader();
  }

  /** After a failure on `l`'s member: no longer call it as the leader, and look again. */
  forgetLeader(l: Etcd3 | undefined): void {
    if (!l) return;
    if (this.#leader === l) this.#leader = undefined;
    void this.findLeader();
  }

  /**
   * A unary call on the leader when one is known, else on any member. A call
   * the leader's member does not answer (down, cut off, no longer leader and
   * failing) forgets it and looks again; UNAVAILABLE (the call may not have
   * reached etcd) is tried again on the other members, as the pool's policy
   * does for calls made through it.
   */
  async call<T>(fn: (c: Etcd3) => Promise<T>): Promise<T> {
    const l = this.#leader;
    if (!l) return fn(this.client);
    try {
      return await fn(l);
    } catch (err) {
      this.forgetLeader(l);
      if (!isUnavailable(err)) throw err;
      return fn(this.client);
    }
  }

  /**
   * A write's transaction, routed as call() routes (the leader when known),
   * through the member's Txn client; with one endpoint, through its Txn
   * client. UNAVAILABLE there is tried again through the pool.
   */
  async txn(req: TxnRequest): Promise<TxnResponse> {
    const l = this.#leader ?? (this.#single ? this.client : undefined);
    const t = l && this.#txnClients.get(l);
    if (!t) return (await this.client.kv.txn(req)) as TxnResponse;
    try {
      return await t.txn(req);
    } catch (err) {
      if (l !== this.client) this.forgetLeader(l);
      if (!isUnavailable(err)) throw err;
      return (await this.client.kv.txn(req)) as TxnResponse;
    }
  }

  /** Closes every client at once. */
  closeNow(): void {
    this.#closed = true;
    this.client.close();
    for (const m of this.#members) m.close();
    for (const t of this.#txnClients.values()) t.close();
  }

  /** Closes every client once a leader search under way has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#search;
    this.closeNow();
  }
}
