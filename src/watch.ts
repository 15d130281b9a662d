// The watch hub: the public entry of src/watch/. It wraps the store's commit
// stream (as etcd's watchable store wraps its store) and fans changes out to
// watchers as typed events; see src/watch/hub.ts for the delivery contract.

export { WatchHub, type CutOffReason, type WatchHubOptions, type WatchStats } from "./watch/hub.ts";
export type { CloseReason, FieldMatcher, LabelMatcher, WatchRequest, WatchSink } from "./watch/watcher.ts";
export { WatchEvent, type WatchEncoding, type WatchEventType } from "./watch/event.ts";
