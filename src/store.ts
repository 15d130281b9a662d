// The revisioned store: the public entry of src/store/. See src/store/types.ts
// for the contract every backend keeps, src/store/lmdb.ts for the embedded one.

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
