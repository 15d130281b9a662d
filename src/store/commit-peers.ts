// How server processes sharing one LMDB directory tell each other of commits,
// so that each one's watch hub delivers another's writes at once instead of
// at the next poll. LMDB itself orders the writes (one writer at a time, one
// revision counter); a notice only says "the head moved, read the log". A
// notice lost or late cannot lose or repeat a change: the hub reads every
// change after its last delivered revision from the shared log, at the next
// notice or at the store's poll every second behind the notices
// (src/store/lmdb-snapshots.ts, PEER_POLL_MS), whichever comes first.
//
// In a cluster (src/cli/cluster.ts) the workers send their notices to the
// primary over the IPC channel node:cluster opened, and the primary relays
// each one to every other worker.

/** The other processes sharing this store's directory. */
export interface CommitPeers {
  /** Tells the others that this process committed `revision`. */
  announce(revision: number): void;
  /** Calls `listener` with the revision another process announced. Returns the function that stops it. */
  onAnnounce(listener: (revision: number) => void): () => void;
}

/** The IPC message a commit notice travels in, worker → primary → workers. */
export interface CommitNotice {
  setpoint: "commit";
  revision: number;
}

export function isCommitNotice(message: unknown): message is CommitNotice {
  return (
    typeof message === "object" && message !== null && (message as CommitNotice).setpoint === "commit" && typeof (message as CommitNotice).revision === "number"
  );
}

/**
 * The peers of a process started by node:cluster (or any child with an IPC
 * channel): notices go to the parent, which relays them. Several commits in
 * one event-loop turn send one notice, with the newest revision.
 */
export function ipcCommitPeers(proc: NodeJS.Process = process): CommitPeers {
  let pending = 0;
  const flush = () => {
    const revision = pending;
    pending = 0;
    // With a callback, a channel that closes mid-send reports to it instead of
    // throwing an 'error' event at the process (the primary may just have died).
    if (proc.connected) proc.send?.({ setpoint: "commit", revision } satisfies CommitNotice, undefined, {}, () => {});
  };
  return {
    announce(revision) {
      if (pending === 0) queueMicrotask(flush);
      if (revision > pending) pending = revision;
    },
    onAnnounce(listener) {
      const onMessage = (message: unknown) => {
        if (isCommitNotice(message)) listener(message.revision);
      };
      proc.on("message", onMessage);
      return () => proc.off("message", onMessage);
    },
  };
}
