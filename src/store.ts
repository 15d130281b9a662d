// The revisioned store: the public entry of src/store/. See src/store/types.ts
// for the contract every backend keeps (one contract suite, test/store/contract.ts,
// runs against both), src/store/lmdb.ts for the embedded one (reads in
// lmdb-reads.ts, the write-ahead log in wal.ts) and src/store/etcd.ts for etcd,
// which the server loads only with --store etcd.

export type {
  Change,
  ChangeType,
  CompactOptions,
  Decider,
  ListOptions,
  ListResult,
  ObjectKey,
  SpaceAlarm,
  Store,
  StoreSpace,
  StoredObject,
  SyncOptions,
  WriteDecision,
  WriteResult,
  WriteScope,
} from "./store/types.ts";
export { openLmdbStore, type LmdbStoreOptions } from "./store/lmdb.ts";
