// Setpoint's agent SDK (API.md §7): the public entry. An agent process lists
// and watches one type over the wire protocol only (gRPC and WebSocket), keeps
// a local cache, and reconciles changed keys in parallel, sharing them with
// its replicas through leases. The pieces live in src/agent/.
//
// @example
// await runAgent({
//   name: "hello", grpcAddress: "127.0.0.1:9090", httpUrl: "http://127.0.0.1:8080",
//   type: { group: "demo.example.com", version: "v1", plural: "greetings" },
//   reconcile: async (key, ctx) => { if (ctx.object) await ctx.updateStatus({ ready: true }); },
//   signal: AbortSignal.timeout(60_000),
// });

export { Agent, runAgent, type AgentOptions, type AgentReconciler, type ReconcileContext, type ReconcileResult } from "./agent/agent.ts";
export {
  SetpointClient,
  TransportError,
  type TransportFailure,
  clientOptionsFromKubeconfig,
  type ClientTls,
  type ApiObject,
  type CallOptions,
  type ClientOptions,
  type ListOptions,
  type ListResult,
  type ObjectMeta,
  type ObjectRef,
  type TypeRef,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from "./agent/client.ts";
// The kubeconfig as kubectl reads it (KUBECONFIG, ~/.kube/config): clientOptionsFromKubeconfig(loadKubeconfig()) gives an agent its server, CA and token.
export { KubeconfigError, loadKubeconfig, type KubeconfigTarget } from "./kubeconfig.ts";
export { ConnectionProblemError, ErrorReport, TypeNotServedError, classifyConnectionProblem, type ErrorReportOptions } from "./agent/error-report.ts";
export { Informer, type InformerHandlers, type InformerOptions, type InformerStats, type ListerWatcher } from "./agent/informer.ts";
export { keyOf, splitKey, type CacheReader } from "./agent/cache.ts";
export { LeaseMembership, type Claim, type LeaseMembershipOptions } from "./agent/lease.ts";
export { ownerOf } from "./agent/claims.ts";
export type { BackoffOptions } from "./agent/backoff.ts";
export { createRateLimitedQueue, type RateLimitedQueue, type RateLimitedQueueOptions } from "./agent/rate-limited-queue.ts";
export { runWorkers, type Reconciler, type RunWorkersOptions } from "./agent/controller.ts";
export {
  bucketRateLimiter,
  defaultControllerRateLimiter,
  exponentialFailureRateLimiter,
  maxOfRateLimiter,
  type RateLimiter,
} from "./agent/rate-limiter.ts";
export { ApiError, ConflictError, ExpiredError, NotFoundError, TimeoutError } from "./errors.ts";
export { boundedName, MAX_PATH_COMPONENT_BYTES } from "./agent/bounded-name.ts";
