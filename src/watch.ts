// The watch hub: the public entry of src/watch/. It wraps the store's commit
// stream (as etcd's watchable store wraps its store) and fans changes out to
// watchers; see src/watch/hub.ts for the delivery contract.

export { WatchHub, type WatchHubOptions, type WatchStats } from "./watch/hub.ts";
export type { CloseReason, WatchRequest, WatchSink } from "./watch/watcher.ts";
export { encodeBookmark, encodeEvent } from "./watch/event.ts";
export { parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from "./watch/selector.ts";
