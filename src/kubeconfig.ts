// Kubeconfig files read as kubectl reads them (API.md §8), so one file serves
// kubectl and Setpoint's CLI, agent SDK and pipeline agent:
//
// - `--kubeconfig FILE`: that file only (it must exist);
// - else `KUBECONFIG`: a list of files (`:`-separated; `;` on Windows), merged
//   so that the first file to set a value wins: each cluster, user and
//   context by name, and `current-context`; missing files are skipped;
// - else `~/.kube/config` if it exists; else nothing (the caller's default).
//
// The context is `--context` or `current-context`; from it come the cluster
// (server URL, certificate authority, insecure-skip-tls-verify,
// tls-server-name), the user (token, tokenFile, client certificate and key)
// and the namespace. Relative file paths resolve against the file that named
// them. Setpoint's gRPC address, which kubectl has no field for, may be given
// as a cluster extension named `grpc.setpoint.dev` with `{address: host:port}`.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";

/** Where to talk and how to prove who we are, from a kubeconfig context. */
export interface KubeconfigTarget {
  /** The context used. */
  context: string;
  server: string;
  /** PEM of the certificate authority to trust (else the system's). */
  ca?: Buffer;
  /** Skip verifying the server's certificate (kubectl's insecure-skip-tls-verify). */
  insecureSkipTlsVerify?: boolean;
  /** Name to verify the server's certificate against, if not the URL's host. */
  tlsServerName?: string;
  token?: string;
  /** Client certificate and key (PEM). */
  cert?: Buffer;
  key?: Buffer;
  namespace?: string;
  /** gRPC `host:port` from the `grpc.setpoint.dev` cluster extension. */
  grpcAddress?: string;
}

/** A kubeconfig that cannot be used: missing file, unknown context, bad YAML. */
export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

export interface LoadOptions {
  /** `--kubeconfig`. */
  kubeconfig?: string;
  /** `--context`. */
  context?: string;
  /** Environment (`KUBECONFIG`, `HOME`). Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

interface Named {
  name?: string;
  [k: string]: unknown;
}

interface Entry<T> {
  value: T;
  dir: string;
}

/** The files kubectl would read, in precedence order. */
export function kubeconfigFiles(options: LoadOptions = {}): string[] {
  const env = options.env ?? process.env;
  if (options.kubeconfig) {
    if (!existsSync(options.kubeconfig)) throw new KubeconfigError(`kubeconfig: ${options.kubeconfig} does not exist`);
    return [options.kubeconfig];
  }
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter((p) => p !== "" && existsSync(p));
  const home = env.HOME || homedir();
  const file = join(home, ".kube", "config");
  return existsSync(file) ? [file] : [];
}

/**
 * The target of the current (or given) context, merged from the files kubectl
 * would read; undefined when there is no file. Throws KubeconfigError when a
 * file is unusable or the context, cluster or user it names is missing.
 */
export function loadKubeconfig(options: LoadOptions = {}): KubeconfigTarget | undefined {
  const files = kubeconfigFiles(options);
  if (files.length === 0) return undefined;
  const clusters = new Map<string, Entry<Record<string, unknown>>>();
  const users = new Map<string, Entry<Record<string, unknown>>>();
  const contexts = new Map<string, Entry<Record<string, unknown>>>();
  let current: string | undefined;
  for (const file of files) {
    let doc: Record<string, unknown>;
    try {
      doc = (parseYaml(readFileSync(file, "utf8"), { logLevel: "error" }) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new KubeconfigError(`kubeconfig: ${file}: ${(err as Error).message.split("\n")[0]}`);
    }
    const dir = dirname(resolve(file));
    const take = (list: unknown, key: string, into: Map<string, Entry<Record<string, unknown>>>) => {
      if (!Array.isArray(list)) return;
      for (const item of list as Named[]) {
        if (!item || typeof item.name !== "string" || into.has(item.name)) continue;
        into.set(item.name, { value: (item[key] ?? {}) as Record<string, unknown>, dir });
      }
    };
    take(doc.clusters, "cluster", clusters);
    take(doc.users, "user", users);
    take(doc.contexts, "context", contexts);
    if (current === undefined && typeof doc["current-context"] === "string" && doc["current-context"] !== "") current = doc["current-context"];
  }
  const name = options.context ?? current;
  if (!name) throw new KubeconfigError(`kubeconfig: no current-context in ${files.join(", ")}: pass --context`);
  const context = contexts.get(name);
  if (!context) throw new KubeconfigError(`kubeconfig: context ${JSON.stringify(name)} not found`);
  const clusterName = context.value.cluster as string | undefined;
  const cluster = clusterName === undefined ? undefined : clusters.get(clusterName);
  if (!cluster) throw new KubeconfigError(`kubeconfig: cluster ${JSON.stringify(clusterName ?? "")} of context ${JSON.stringify(name)} not found`);
  const userName = context.value.user as string | undefined;
  const user = userName === undefined || userName === "" ? undefined : users.get(userName);
  if (userName && !user) throw new KubeconfigError(`kubeconfig: user ${JSON.stringify(userName)} of context ${JSON.stringify(name)} not found`);

  const c = cluster.value;
  if (typeof c.server !== "string" || c.server === "") throw new KubeconfigError(`kubeconfig: cluster ${JSON.stringify(clusterName)} has no server`);
  const target: KubeconfigTarget = { context: name, server: c.server };
  const file = (dir: string, p: unknown) => readFileSync(isAbsolute(String(p)) ? String(p) : join(dir, String(p)));
  const data = (v: unknown) => Buffer.from(String(v), "base64");
  if (c["certificate-authority-data"]) target.ca = data(c["certificate-authority-data"]);
  else if (c["certificate-authority"]) target.ca = file(cluster.dir, c["certificate-authority"]);
  if (c["insecure-skip-tls-verify"] === true) target.insecureSkipTlsVerify = true;
  if (typeof c["tls-server-name"] === "string") target.tlsServerName = c["tls-server-name"];
  for (const ext of Array.isArray(c.extensions) ? (c.extensions as Named[]) : []) {
    const address = (ext?.extension as { address?: unknown } | undefined)?.address;
    if (ext?.name === "grpc.setpoint.dev" && typeof address === "string") target.grpcAddress = address;
  }
  if (user) {
    const u = user.value;
    if (typeof u.token === "string" && u.token !== "") target.token = u.token;
    else if (u.tokenFile) target.token = file(user.dir, u.tokenFile).toString("utf8").trim();
    if (u["client-certificate-data"]) target.cert = data(u["client-certificate-data"]);
    else if (u["client-certificate"]) target.cert = file(user.dir, u["client-certificate"]);
    if (u["client-key-data"]) target.key = data(u["client-key-data"]);
    else if (u["client-key"]) target.key = file(user.dir, u["client-key"]);
    // kubectl would run a credential plugin; sending nothing instead would only earn a puzzling 401.
    const plugin = u.exec ? "an exec credential plugin" : u["auth-provider"] ? "an auth-provider" : undefined;
    if (plugin && target.token === undefined && target.cert === undefined)
      throw new KubeconfigError(
        `kubeconfig: user ${JSON.stringify(userName)} gets its credentials from ${plugin}, which setpoint does not run: give it a token, tokenFile or client certificate`,
      );
  }
  if (typeof context.value.namespace === "string" && context.value.namespace !== "") target.namespace = context.value.namespace;
  return target;
}

/** TLS options for node:https, ws and friends from a target (undefined fields left out). */
export function tlsOptionsOf(t: Pick<KubeconfigTarget, "ca" | "cert" | "key" | "insecureSkipTlsVerify" | "tlsServerName">): {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
} {
  const o: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string } = {};
  if (t.ca) o.ca = t.ca;
  if (t.cert) o.cert = t.cert;
  if (t.key) o.key = t.key;
  if (t.insecureSkipTlsVerify) o.rejectUnauthorized = false;
  if (t.tlsServerName) o.servername = t.tlsServerName;
  return o;
}
