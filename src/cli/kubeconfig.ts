// A kubeconfig for one Setpoint server, so kubectl users can point kubectl at
// it with `KUBECONFIG=./setpoint.kubeconfig kubectl …` instead of switching
// their global context away from their real cluster.

import { writeFileSync } from "node:fs";
import { stringify } from "yaml";

/** The kubeconfig text for `server` (a URL), with a bearer token if the server requires one. */
export function kubeconfigYaml(server: string, options: { token?: string; namespace?: string } = {}): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "setpoint", cluster: { server } }],
    users: [{ name: "setpoint", user: options.token === undefined ? {} : { token: options.token } }],
    contexts: [{ name: "setpoint", context: { cluster: "setpoint", user: "setpoint", namespace: options.namespace ?? "default" } }],
    "current-context": "setpoint",
  });
}

/** Writes the kubeconfig to `path`, readable by its owner only (it may hold a token). */
export function writeKubeconfig(path: string, server: string, options: { token?: string } = {}): void {
  writeFileSync(path, kubeconfigYaml(server, options), { mode: 0o600 });
}
