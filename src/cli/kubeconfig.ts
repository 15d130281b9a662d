// A kubeconfig for one Setpoint server, so kubectl users can point kubectl at
// it with `KUBECONFIG=./setpoint.kubeconfig kubectl …` instead of switching
// their global context away from their real cluster.

import { writeFileSync } from "node:fs";
import { stringify } from "yaml";

/**
 * The kubeconfig text for `server` (a URL), with a bearer token if the server
 * requires one, and the gRPC address as the `grpc.setpoint.dev` cluster
 * extension that Setpoint's own CLI and agents read (src/kubeconfig.ts).
 */
export function kubeconfigYaml(server: string, options: { token?: string; namespace?: string; grpcAddress?: string } = {}): string {
  const extensions = options.grpcAddress === undefined ? {} : { extensions: [{ name: "grpc.setpoint.dev", extension: { address: options.grpcAddress } }] };
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "setpoint", cluster: { server, ...extensions } }],
    users: [{ name: "setpoint", user: options.token === undefined ? {} : { token: options.token } }],
    contexts: [{ name: "setpoint", context: { cluster: "setpoint", user: "setpoint", namespace: options.namespace ?? "default" } }],
    "current-context": "setpoint",
  });
}

/** Writes the kubeconfig to `path`, readable by its owner only (it may hold a token). */
export function writeKubeconfig(path: string, server: string, options: { token?: string; grpcAddress?: string } = {}): void {
  writeFileSync(path, kubeconfigYaml(server, options), { mode: 0o600 });
}
