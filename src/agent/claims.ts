// The claim rule: which keys a replica of an agent may start reconciling, so
// that each key is reconciled by exactly one live replica and never by two at
// once, even while replicas join and leave. Pure functions; src/agent/lease.ts
// feeds them what the leases say.
//
// A key belongs to the member (replica incarnation) that wins rendezvous
// hashing over a member set: adding or removing a member moves only that
// member's keys. Replicas may know different sets for a while, so:
//
// - Each replica publishes, in its lease, the member set it acknowledges and
//   the keys it still runs that are not its own under that set ("draining"),
//   republishing as they finish. Invariant: a key it runs is its own under its
//   published set, or listed as draining.
// - A replica R starts key k only if k is R's under R's current set, under
//   R's published set and under any set R is publishing; and for every other
//   member S that R knows, S's published set includes R, does not give k to
//   S, and S does not list k as draining.
// - A member leaves a set only once its lease is gone (released after its work
//   ended, or expired: see the fence in lease.ts).
//
// Why two live replicas R and S cannot both run k: if each knew the other when
// it started k, both sets contain both and rendezvous hashing gives k to one
// of them only. Otherwise, say S started k after checking R's published set P
// (which includes S, gives k not to R, does not drain k). If R's run of k began
// before R published P, the invariant puts k in P's draining list or gives it
// to R under P: contradiction. If it began after, R knew S (P includes S, and S
// is still live), so the first case applies.

/** A fast 32-bit hash of (member, key). */
function score(member: string, key: string): number {
  let h = 0x811c9dc5;
  const s = `${member}\u0000${key}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The member `key` belongs to under rendezvous hashing over `members` (undefined if none). */
export function ownerOf(key: string, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const m of members) {
    const s = score(m, key);
    if (s > bestScore || (s === bestScore && m > best!)) [best, bestScore] = [m, s];
  }
  return best;
}

/** What another member has published in its lease. */
export interface PeerState {
  member: string;
  /** The member set it acknowledges. */
  view: readonly string[];
  /** Keys it still runs that are not its own under `view`. */
  draining: ReadonlySet<string>;
}

/** What this replica knows of itself. */
export interface SelfState {
  member: string;
  /** The members it knows now, itself included. */
  current: readonly string[];
  /** The member set in its lease, and one being written, if any. */
  published: readonly string[];
  publishing?: readonly string[];
}

/** Whether `self` may start reconciling `key` now (see the file header). */
export function mayClaim(key: string, self: SelfState, peers: Iterable<PeerState>): boolean {
  const me = self.member;
  if (ownerOf(key, self.current) !== me || ownerOf(key, self.published) !== me) return false;
  if (self.publishing && ownerOf(key, self.publishing) !== me) return false;
  for (const peer of peers) {
    if (!peer.view.includes(me) || ownerOf(key, peer.view) === peer.member || peer.draining.has(key)) return false;
  }
  return true;
}

/** The running keys that are not `member`'s under `view`, sorted: what it must publish as draining. */
export function drainingKeys(running: Iterable<string>, view: readonly string[], member: string): string[] {
  return [...running].filter((key) => ownerOf(key, view) !== member).sort();
}
