// The deploy files agree with each other and with the server: every YAML under
// deploy/openshift parses into named objects; the StatefulSet's ports, probes,
// data directory and token match the server's defaults (src/server/options.ts)
// and the image's entrypoint as the server's own flag parser reads them; the
// Service, Route, Secret and bench Job point at the right things; and
// deploy/Containerfile ships only the bundle and lmdb's addon.
//
// (`kubectl apply --dry-run=client` is not used: even with --validate=false it
// needs a server for API discovery.)

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { parseDuration, parseServerArgs } from "../../src/cli/flags.ts";
import { defaultServerOptions, type ServerOptions } from "../../src/server/options.ts";
import { SERVER_NODE_FLAGS } from "../../bench/lib/procs.ts";
import { nodeEntry } from "../helpers/node-entry.ts";
import { freePort } from "../helpers/ports.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const deployDir = join(root, "deploy");
const manifestsDir = join(deployDir, "openshift");

// ---------------------------------------------------------------------------
// The Kubernetes shapes this test reads (only the fields it looks at).

interface Metadata {
  name?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path?: string; port?: number | string };
}
type Quantities = Record<string, string | number>;
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Quantities; limits?: Quantities };
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: SecurityContext;
}
interface PodTemplate {
  metadata?: Metadata;
  spec: {
    containers: Container[];
    initContainers?: Container[];
    restartPolicy?: string;
    enableServiceLinks?: boolean;
    terminationGracePeriodSeconds?: number;
    securityContext?: SecurityContext;
  };
}
interface StatefulSetSpec {
  replicas?: number;
  serviceName: string;
  selector: { matchLabels?: Record<string, string> };
  template: PodTemplate;
  volumeClaimTemplates?: {
    metadata: Metadata;
    spec: { accessModes?: string[]; resources?: { requests?: Quantities } };
  }[];
}
interface ServiceSpec {
  clusterIP?: string;
  selector?: Record<string, string>;
  ports: { name?: string; port: number; targetPort?: number | string }[];
}
interface RouteSpec {
  host?: string;
  to: { kind: string; name: string };
  port?: { targetPort: number | string };
  tls?: { termination?: string };
}
interface Doc<Spec = unknown> {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: Metadata & { name: string };
  spec: Spec;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

// ---------------------------------------------------------------------------
// Loading.

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(dir, name))
    .sort();
}

const haDir = join(manifestsDir, "ha");
/** The single-node shape; the HA shape in ha/ replaces its StatefulSet, so it is read on its own (below). */
const files = yamlFiles(manifestsDir).filter((path) => !path.startsWith(haDir + "/"));
const parsed = files.flatMap((path) => {
  const file = relative(root, path);
  return (
    parseAllDocuments(readFileSync(path, "utf8"))
      .map((doc, index) => ({ file, index, doc }))
      // An empty document (e.g. after a trailing ---) holds no object, as for kubectl.
      .filter(({ doc }) => doc.errors.length > 0 || (doc.toJS() as unknown) != null)
  );
});
const allDocs: Doc[] = parsed.map(({ file, index, doc }) => ({ ...(doc.toJS() as Omit<Doc, "file">), file: `${file}#${index}` }));
// A kubeconfig (kind Config) is a client file, not an object: checked on its own below.
const docs = allDocs.filter((d) => d?.kind !== "Config");
const kubeconfigs = allDocs.filter((d) => d?.kind === "Config");

function only<Spec>(kind: string, name?: string): Doc<Spec> {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  assert.equal(found.length, 1, `expected exactly one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as Doc<Spec>;
}

const statefulSet = only<StatefulSetSpec>("StatefulSet", "setpoint");
const services = docs.filter((d) => d.kind === "Service") as Doc<ServiceSpec>[];
const route = only<RouteSpec>("Route");
const job = only<{ template: PodTemplate }>("Job", "setpoint-bench");
const pod = statefulSet.spec.template;
const server: Container = pod.spec.containers.find((c) => c.name === "setpoint") ?? assert.fail("the StatefulSet has a container named setpoint");
const benchPod = job.spec.template;
const bench: Container = benchPod.spec.containers[0] ?? assert.fail("the Job has a container");

// ---------------------------------------------------------------------------
// The Containerfile, as stages of instructions.

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

/** Splits a Containerfile into stages: comments dropped, continuation lines joined. */
function parseContainerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (pending === "" && line.trim() === "")) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    logical.push((pending + line).trim());
    pending = "";
  }
  assert.equal(pending, "", "the Containerfile ends inside a continued line");
  const stages: Stage[] = [];
  for (const line of logical) {
    if (line === "") continue;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!;
    if (keyword === "FROM") {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(from, `cannot read FROM ${args}`);
      stages.push({ image: from[1]!, name: from[2] ?? String(stages.length), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    assert.ok(stage, `${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args });
  }
  return stages;
}

/** The exec-form (JSON array) arguments of an instruction such as ENTRYPOINT. */
function execForm(instruction: Instruction): string[] {
  const value: unknown = JSON.parse(instruction.args);
  assert.ok(Array.isArray(value) && value.every((v) => typeof v === "string"), `${instruction.keyword} must be exec form`);
  return value as string[];
}

/** COPY's flags, sources and destination (shell form). */
function copyParts(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  assert.ok(paths.length >= 2, `COPY ${args}: needs a source and a destination`);
  return { ...(from !== undefined && { from }), sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

const containerfile = readFileSync(join(deployDir, "Containerfile"), "utf8");
const stages = parseContainerfile(containerfile);
const runtime = stages.at(-1)!;
const buildStage = stages[0]!;
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const entrypointInstruction = of(runtime, "ENTRYPOINT").at(-1);
assert.ok(entrypointInstruction, "the runtime stage has an ENTRYPOINT");
const entrypoint = execForm(entrypointInstruction);

/** Files from dist/ the runtime stage receives, read through the build stage's staging folder. */
function shippedFiles(): { files: string[]; dest: string } {
  const copies = of(runtime, "COPY")
    .concat(of(runtime, "ADD"))
    .map((i) => copyParts(i.args));
  assert.ok(copies.length > 0, "the runtime stage copies the bundle in");
  const files: string[] = [];
  const dests = new Set<string>();
  for (const copy of copies) {
    assert.equal(copy.from, buildStage.name, `the runtime stage copies only from the build stage, not from the context: ${copy.sources.join(" ")}`);
    dests.add(copy.dest.replace(/\/$/, ""));
    for (const source of copy.sources) {
      if (/(^|\/)dist\//.test(source)) {
        files.push(source.slice(source.indexOf("dist/")));
        continue;
      }
      // A staging folder (e.g. /ship/): read what the build stage puts in it.
      const dir = source.replace(/\/$/, "");
      const staging = of(buildStage, "RUN").filter((r) => r.args.includes(`mkdir ${dir}`) || r.args.includes(`mkdir -p ${dir}`));
      assert.equal(staging.length, 1, `the build stage fills ${dir} in one RUN`);
      const text = staging[0]!.args;
      assert.doesNotMatch(text, /node_modules/, `${dir} gets nothing from node_modules`);
      files.push(...(text.match(/\bdist\/[\w.*-]+/g) ?? []));
    }
  }
  assert.equal(dests.size, 1, "everything lands in one folder");
  return { files: [...new Set(files)], dest: [...dests][0]! };
}

// ---------------------------------------------------------------------------
// Helpers over the manifests.

const env = (c: Container, name: string): EnvVar | undefined => c.env?.find((e) => e.name === name);

/** The port number a probe or Service names, by name or number. */
function containerPort(c: Container, port: number | string | undefined): number | undefined {
  if (typeof port === "number") return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Kubernetes `$(VAR)` expansion from a container's literal env values. */
function expand(c: Container, text: string): string {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env(c, name)?.value ?? whole);
}

/** The value after `flag` in a container's command and args. */
function flagValue(c: Container, flag: string): string | undefined {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  const i = argv.indexOf(flag);
  return i === -1 ? undefined : argv[i + 1];
}

/** CPU in cores or memory in bytes from a Kubernetes quantity. */
function quantity(q: string | number | undefined): number {
  assert.ok(q !== undefined, "quantity is set");
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  assert.ok(m, `unreadable quantity ${q}`);
  const unit: Record<string, number> = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * unit[m[2] ?? ""]!;
}

/** What the server in the StatefulSet runs with: the image's entrypoint (unless overridden), the container's args and env, read by the server's own parser. */
function effectiveServerOptions(): ServerOptions {
  const argv = server.command ?? entrypoint;
  assert.equal(argv[0], "node");
  const values: Record<string, string> = {};
  for (const e of server.env ?? []) values[e.name] = e.value ?? `from-${e.valueFrom?.secretKeyRef?.name ?? "elsewhere"}`;
  let errors = "";
  try {
    return parseServerArgs([...argv.slice(2), ...(server.args ?? [])], values, {
      version: "test",
      writeOut: () => {},
      writeErr: (text) => (errors += text),
    });
  } catch (error) {
    assert.fail(`the server would not start with this entrypoint, args and env: ${errors || String(error)}`);
  }
}

const dataMount = server.volumeMounts?.find((m) => m.name === "data");

// ---------------------------------------------------------------------------

describe("deploy/openshift manifests", () => {
  it("parse, and every document has apiVersion, kind and metadata.name", () => {
    assert.ok(files.length >= 4, `expected the manifests under ${relative(root, manifestsDir)}, found ${files.length} files`);
    for (const { file, index, doc } of parsed) {
      assert.deepEqual(doc.errors.map(String), [], `${file}#${index} parses`);
      assert.deepEqual(doc.warnings.map(String), [], `${file}#${index} parses without warnings`);
    }
    for (const d of docs) {
      assert.ok(d !== null && typeof d === "object", `${d?.file ?? "a document"} is an object, not empty`);
      assert.match(String(d.apiVersion), /^([a-z0-9.-]+\/)?v\d+(\w+)?$/, `${d.file}: apiVersion`);
      assert.match(String(d.kind), /^[A-Z]\w+$/, `${d.file}: kind`);
      assert.match(String(d.metadata?.name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${d.file}: metadata.name`);
    }
    const keys = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    assert.equal(new Set(keys).size, keys.length, `no object is defined twice: ${keys.join(", ")}`);
    for (const kind of ["StatefulSet", "Service", "Route", "Secret", "Job"]) {
      assert.ok(
        docs.some((d) => d.kind === kind),
        `there is a ${kind}`,
      );
    }
  });

  it("StatefulSet: one replica whose http and grpc ports are the server's defaults and what it listens on", () => {
    assert.equal(statefulSet.apiVersion, "apps/v1");
    assert.equal(statefulSet.spec.replicas, 1, "one replica: each replica would get its own, separate store");
    assert.ok(selects(statefulSet.spec.selector.matchLabels, pod.metadata?.labels), "the selector matches the pod labels");
    const port = (name: string) => server.ports?.find((p) => p.name === name)?.containerPort;
    assert.equal(port("http"), defaultServerOptions.httpPort);
    assert.equal(port("grpc"), defaultServerOptions.grpcPort);
    const options = effectiveServerOptions();
    assert.equal(options.httpPort, port("http"), "the server listens on the http container port");
    assert.equal(options.grpcPort, port("grpc"), "the server listens on the grpc container port");
    assert.ok(["0.0.0.0", "::"].includes(options.host), `the server listens on all interfaces, not ${options.host}`);
  });

  it("StatefulSet: the LMDB directory the server uses is the mounted ReadWriteOnce claim", () => {
    assert.ok(dataMount, "the container mounts a volume named data");
    assert.equal(effectiveServerOptions().dataDir, dataMount.mountPath, "the server's --data-dir/SETPOINT_DATA_DIR is the mount");
    const declared = env(server, "SETPOINT_DATA_DIR");
    if (declared !== undefined) assert.equal(declared.value, dataMount.mountPath, "SETPOINT_DATA_DIR says the same");
    const claim = statefulSet.spec.volumeClaimTemplates?.find((t) => t.metadata.name === dataMount.name);
    assert.ok(claim, "the data volume comes from a volumeClaimTemplate");
    assert.deepEqual(claim.spec.accessModes, ["ReadWriteOnce"], "LMDB needs one writer node");
    assert.ok(quantity(claim.spec.resources?.requests?.storage) >= 2 ** 30, "the claim asks for some storage");
  });

  it("StatefulSet: probes hit /readyz and /healthz on the http port", () => {
    const http = defaultServerOptions.httpPort;
    const readiness = server.readinessProbe?.httpGet;
    const liveness = server.livenessProbe?.httpGet;
    assert.equal(readiness?.path, "/readyz");
    assert.equal(containerPort(server, readiness?.port), http);
    assert.equal(liveness?.path, "/healthz");
    assert.equal(containerPort(server, liveness?.port), http);
    const startup = server.startupProbe?.httpGet;
    if (server.startupProbe !== undefined) {
      assert.ok(startup?.path === "/healthz" || startup?.path === "/readyz", "the startup probe uses a health endpoint");
      assert.equal(containerPort(server, startup.port), http);
    }
  });

  it("StatefulSet: the token comes from the Secret, which has that key", () => {
    const ref = env(server, "SETPOINT_TOKEN")?.valueFrom?.secretKeyRef;
    assert.ok(ref, "SETPOINT_TOKEN comes from a secretKeyRef");
    const secret = only("Secret", ref.name);
    assert.ok(ref.key in { ...secret.data, ...secret.stringData }, `Secret ${ref.name} has key ${ref.key}`);
    assert.ok(!(server.args ?? []).includes("--token"), "the token is not a flag (flags show in ps)");
  });

  it("StatefulSet and Job: resource requests exist and fit a 2-core node together", () => {
    let cores = 0;
    for (const c of [server, bench]) {
      const { requests, limits } = c.resources ?? {};
      assert.ok(requests?.cpu !== undefined && requests.memory !== undefined, `${c.name} requests cpu and memory`);
      assert.ok(limits?.memory !== undefined, `${c.name} has a memory limit`);
      assert.ok(quantity(requests.memory) <= quantity(limits.memory), `${c.name}: memory request <= limit`);
      if (limits.cpu !== undefined) assert.ok(quantity(requests.cpu) <= quantity(limits.cpu), `${c.name}: cpu request <= limit`);
      cores += quantity(requests.cpu);
    }
    assert.ok(cores <= 1.5, `server and bench request ${cores} cores; a 2-core node has less than 2 allocatable`);
    const heap = /--max-old-space-size=(\d+)/.exec(env(server, "NODE_OPTIONS")?.value ?? "");
    if (heap) assert.ok(Number(heap[1]) * 2 ** 20 < quantity(server.resources?.limits?.memory), "the V8 heap cap is below the memory limit");
  });

  it("pods fit OpenShift's restricted SCC and get no SETPOINT_* service-link variables", () => {
    for (const [what, template] of [
      ["StatefulSet", pod],
      ["Job", benchPod],
    ] as const) {
      const podContext = template.spec.securityContext;
      assert.equal(podContext?.runAsNonRoot, true, `${what}: runAsNonRoot`);
      assert.equal(podContext?.seccompProfile?.type, "RuntimeDefault", `${what}: seccomp RuntimeDefault`);
      for (const key of ["runAsUser", "runAsGroup", "fsGroup"] as const) {
        assert.equal(podContext?.[key], undefined, `${what}: no fixed ${key} (OpenShift assigns one)`);
      }
      // Services named setpoint* would inject SETPOINT_SERVICE_HOST, SETPOINT_PORT, ...
      assert.equal(template.spec.enableServiceLinks, false, `${what}: enableServiceLinks false`);
      for (const c of [...template.spec.containers, ...(template.spec.initContainers ?? [])]) {
        const sc = c.securityContext;
        assert.equal(sc?.allowPrivilegeEscalation, false, `${what}/${c.name}: allowPrivilegeEscalation false`);
        assert.ok(sc?.capabilities?.drop?.includes("ALL"), `${what}/${c.name}: drops ALL capabilities`);
        assert.equal(sc?.capabilities?.add, undefined, `${what}/${c.name}: adds no capabilities`);
        assert.notEqual(sc?.privileged, true, `${what}/${c.name}: not privileged`);
        assert.equal(sc?.runAsUser, undefined, `${what}/${c.name}: no fixed UID`);
      }
    }
    const grace = pod.spec.terminationGracePeriodSeconds;
    assert.ok(grace !== undefined && grace >= 10 && grace <= 60, `terminationGracePeriodSeconds ~30, not ${grace}`);
  });

  it("Service: selects the server pods (and not the bench) and exposes http and grpc", () => {
    const service = only<ServiceSpec>("Service", "setpoint");
    assert.ok(selects(service.spec.selector, pod.metadata?.labels), "selects the StatefulSet's pods");
    assert.ok(!selects(service.spec.selector, benchPod.metadata?.labels), "does not select the bench pods");
    for (const [name, port] of [
      ["http", defaultServerOptions.httpPort],
      ["grpc", defaultServerOptions.grpcPort],
    ] as const) {
      const p = service.spec.ports.find((sp) => sp.name === name);
      assert.ok(p, `port ${name}`);
      assert.equal(p.port, port, `Service port ${name} is ${port}`);
      assert.equal(containerPort(server, p.targetPort ?? p.port), port, `port ${name} targets container port ${port}`);
    }
    const governing = services.find((s) => s.metadata.name === statefulSet.spec.serviceName);
    assert.ok(governing, `the StatefulSet's serviceName ${statefulSet.spec.serviceName} is defined`);
    assert.ok(selects(governing.spec.selector, pod.metadata?.labels), "the governing Service selects the pods");
  });

  it("Route: reencrypt TLS to the Service's http port, with a watch-friendly timeout", () => {
    assert.equal(route.apiVersion, "route.openshift.io/v1");
    assert.equal(route.spec.to.kind, "Service");
    const service = only<ServiceSpec>("Service", route.spec.to.name);
    const target = route.spec.port?.targetPort;
    const port = service.spec.ports.find((p) => p.name === target || p.port === target || p.targetPort === target);
    assert.ok(port, `the Route's targetPort ${target} is a port of Service ${service.metadata.name}`);
    assert.equal(containerPort(server, port.targetPort ?? port.port), defaultServerOptions.httpPort, "it reaches the http port");
    assert.equal(route.spec.tls?.termination, "reencrypt", "the pod serves TLS: the router re-encrypts to it");
    const timeout = route.metadata.annotations?.["haproxy.router.openshift.io/timeout"];
    assert.ok(timeout !== undefined, "sets haproxy.router.openshift.io/timeout");
    assert.ok(parseDuration(timeout) >= 10 * 60_000, `the router timeout ${timeout} outlasts quiet watches (>= 10m)`);
  });

  it("Job: runs `npm run bench -- --target <Service or Route URL> --token <the Secret>`", () => {
    assert.equal(benchPod.spec.restartPolicy, "Never");
    const argv = [...(bench.command ?? []), ...(bench.args ?? [])];
    assert.deepEqual(argv.slice(0, 4), ["npm", "run", "bench", "--"]);
    const targetText = flagValue(bench, "--target");
    assert.ok(targetText !== undefined, "passes --target");
    const target = new URL(expand(bench, targetText));
    const service = only<ServiceSpec>("Service", "setpoint");
    const viaService = target.hostname === service.metadata.name || target.hostname.startsWith(`${service.metadata.name}.`);
    const viaRoute = route.spec.host !== undefined && target.hostname === route.spec.host;
    assert.ok(viaService || viaRoute, `--target ${target.href} is the Service (or the Route)`);
    if (viaService) {
      assert.equal(target.protocol, "https:", "the server serves TLS only");
      const namespace = target.hostname.split(".")[1];
      assert.equal(target.hostname, `${service.metadata.name}.${namespace}.svc`, "the name the service-serving certificate is issued for");
      const httpPort = service.spec.ports.find((p) => p.name === "http")?.port;
      assert.equal(Number(target.port), httpPort, "--target uses the Service's http port");
    }
    const tokenText = flagValue(bench, "--token");
    assert.ok(tokenText !== undefined, "passes --token");
    const tokenVar = /^\$\((\w+)\)$/.exec(tokenText)?.[1];
    assert.ok(tokenVar, "--token comes from an env var, not a literal");
    assert.deepEqual(env(bench, tokenVar)?.valueFrom?.secretKeyRef, env(server, "SETPOINT_TOKEN")?.valueFrom?.secretKeyRef, "the same Secret as the server");
  });

  it("Job through the Route: the sed that deploy/README.md and the Job's comment give targets the Route, with --insecure, and gRPC still through the Service", () => {
    // The Route carries no gRPC (the router speaks HTTP/1.1 to the pod), so the agent benches keep the Service's gRPC address.
    const service = only<ServiceSpec>("Service", "setpoint");
    const serviceHost = new URL(expand(bench, flagValue(bench, "--target")!)).hostname;
    const grpcPort = service.spec.ports.find((p) => p.name === "grpc")?.port;
    const sources = {
      "deploy/README.md": readFileSync(join(deployDir, "README.md"), "utf8"),
      "deploy/openshift/bench/job.yaml": readFileSync(join(manifestsDir, "bench", "job.yaml"), "utf8").replace(/^# ?/gm, ""),
    };
    for (const [where, text] of Object.entries(sources)) {
      const sed = /^ *sed -e [\s\S]*?deploy\/openshift\/bench\/job\.yaml/m.exec(text)?.[0];
      assert.ok(sed, `${where} gives the sed`);
      const out = spawnSync("bash", ["-eo", "pipefail", "-c", `HOST=route.example.com\n${sed}`], { cwd: root, encoding: "utf8" });
      assert.equal(out.status, 0, `${where}: ${out.stderr}`);
      const edited = parseAllDocuments(out.stdout).map((d) => d.toJS() as Doc<{ template: PodTemplate }>)[0]!;
      const pods = [...(edited.spec.template.spec.initContainers ?? []), ...edited.spec.template.spec.containers];
      for (const c of pods) assert.equal(env(c, "BENCH_TARGET")?.value, "https://route.example.com", `${where}: ${c.name} waits for and targets the Route`);
      const edBench = edited.spec.template.spec.containers[0]!;
      assert.equal(expand(edBench, flagValue(edBench, "--target")!), "https://route.example.com", where);
      assert.ok([...(edBench.command ?? []), ...(edBench.args ?? [])].includes("--insecure"), `${where}: adds --insecure`);
      assert.equal(flagValue(edBench, "--grpc-target"), `${serviceHost}:${grpcPort}`, `${where}: gRPC through the Service`);
    }
  });
});

describe("deploy/openshift security (docs/security.md)", () => {
  const envValue = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
  const mountOf = (c: Container, file: string) => c.volumeMounts?.find((m) => file.startsWith(m.mountPath + "/"));
  const volumes =
    (statefulSet.spec.template.spec as { volumes?: Array<{ name: string; secret?: { secretName: string }; configMap?: { name: string } }> }).volumes ?? [];

  it("StatefulSet: TLS from the service-serving certificate, users from a token file Secret, RBAC, audit on the data volume", () => {
    const service = only<ServiceSpec>("Service", "setpoint");
    const secretName = service.metadata.annotations?.["service.beta.openshift.io/serving-cert-secret-name"];
    assert.ok(secretName, "the Service asks the service CA for a serving certificate");
    for (const [variable, key] of [
      ["SETPOINT_TLS_CERT_FILE", "tls.crt"],
      ["SETPOINT_TLS_PRIVATE_KEY_FILE", "tls.key"],
    ] as const) {
      const file = envValue(server, variable);
      assert.ok(file?.endsWith(`/${key}`), `${variable} names ${key}`);
      const mount = mountOf(server, file!);
      assert.ok(mount, `${file} is on a mounted volume`);
      assert.equal(volumes.find((v) => v.name === mount!.name)?.secret?.secretName, secretName, `${file} comes from the serving-certificate Secret`);
    }
    const tokenFile = envValue(server, "SETPOINT_TOKEN_AUTH_FILE");
    assert.ok(tokenFile, "a token file");
    const tokenMount = mountOf(server, tokenFile!);
    const tokenSecret = volumes.find((v) => v.name === tokenMount?.name)?.secret?.secretName;
    assert.ok(tokenSecret, "the token file comes from a Secret");
    const secret = only("Secret", tokenSecret);
    const key = tokenFile!.slice(tokenMount!.mountPath.length + 1);
    assert.ok(key in { ...secret.data, ...secret.stringData }, `Secret ${tokenSecret} has key ${key}`);
    assert.equal(envValue(server, "SETPOINT_AUTHORIZATION_MODE"), "RBAC");
    const audit = envValue(server, "SETPOINT_AUDIT_LOG_PATH");
    assert.ok(audit?.startsWith("/data/"), "the audit log is on the data volume (the root filesystem is read-only)");
    const options = parseServerArgs([], Object.fromEntries((server.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])), {
      version: "0",
    });
    assert.equal(options.authorizationMode, "RBAC", "the server's own flag parser reads the mode");
    for (const probe of [server.readinessProbe, server.livenessProbe, server.startupProbe]) {
      assert.equal((probe?.httpGet as { scheme?: string } | undefined)?.scheme, "HTTPS", "probes speak TLS");
    }
  });

  it("RBAC: the objects are valid, the agent's role covers what the pipeline agent does, the viewer changes nothing", async () => {
    const { RBAC_VALIDATORS } = await import("../../src/api/rbac-types.ts");
    const { RbacAuthorizer, RbacIndex } = await import("../../src/server/auth/rbac.ts");
    const { BUILT_IN_TYPES } = await import("../../src/api/types.ts");
    const index = new RbacIndex();
    const rbac = docs.filter((d) => d.apiVersion === "rbac.authorization.k8s.io/v1");
    assert.ok(rbac.length >= 4, "RBAC objects for the agent and a read-only role");
    for (const d of rbac) {
      const type = BUILT_IN_TYPES.find((t) => t.kind === d.kind && t.group === "rbac.authorization.k8s.io")!;
      assert.ok(type, `${d.file}: ${d.kind} is an RBAC type`);
      assert.deepEqual(RBAC_VALIDATORS.get(type.name)!(d as never), [], `${d.file} is valid`);
      index.put(type, d as unknown as Record<string, unknown>);
    }
    const authz = new RbacAuthorizer(index);
    // The users of the token file template, with their groups.
    const tokens = only("Secret", "setpoint-tokens").stringData!["tokens.csv"]!;
    const users = new Map(
      tokens
        .trim()
        .split("\n")
        .map((line) => {
          const [, name, , groups] = line.split(",");
          return [name!, { name: name!, groups: [groups!, "system:authenticated"] }];
        }),
    );
    const agent = users.get("pipeline-agent") ?? assert.fail("the token file has the pipeline-agent user");
    const viewer = users.get("viewer") ?? assert.fail("the token file has the viewer user");
    const can = (user: { name: string; groups: string[] }, verb: string, group: string, resource: string, subresource = "") =>
      authz.authorize(user, { kind: "resource", verb, group, version: "v1", resource, subresource, namespace: "default", name: "x" }).allowed;
    for (const verb of ["get", "list", "watch", "update", "patch"])
      assert.ok(can(agent, verb, "ci.setpoint.dev", "pipelineruns"), `agent may ${verb} pipelineruns`);
    for (const verb of ["update", "patch"]) assert.ok(can(agent, verb, "ci.setpoint.dev", "pipelineruns", "status"), `agent may ${verb} pipelineruns/status`);
    for (const verb of ["get", "create", "update", "delete", "watch"]) assert.ok(can(agent, verb, "setpoint.dev", "leases"), `agent may ${verb} leases`);
    assert.ok(!can(agent, "create", "ci.setpoint.dev", "pipelineruns"), "the agent does not start runs");
    assert.ok(!can(agent, "create", "rbac.authorization.k8s.io", "clusterrolebindings"), "the agent cannot grant itself more");
    for (const verb of ["get", "list", "watch"]) assert.ok(can(viewer, verb, "ci.setpoint.dev", "pipelineruns"));
    for (const verb of ["create", "update", "patch", "delete"]) assert.ok(!can(viewer, verb, "ci.setpoint.dev", "pipelineruns"), `the viewer may not ${verb}`);
  });

  it("the example kubeconfig loads as kubectl reads it and points at the Service and its gRPC port", async () => {
    const { loadKubeconfig } = await import("../../src/kubeconfig.ts");
    assert.equal(kubeconfigs.length, 1, "one example kubeconfig");
    const file = join(root, kubeconfigs[0]!.file.replace(/#\d+$/, ""));
    const service = only<ServiceSpec>("Service", "setpoint");
    for (const context of ["pipeline-agent", "viewer"]) {
      // The CA file is in the cluster only: read a copy with the path left out.
      const text = readFileSync(file, "utf8").replace(/^\s*certificate-authority: .*$/m, "");
      const tmp = join(mkdtempSync(join(tmpdir(), "kc-")), "config");
      writeFileSync(tmp, text);
      const target = loadKubeconfig({ kubeconfig: tmp, context, env: {} })!;
      const url = new URL(target.server);
      assert.equal(url.protocol, "https:");
      assert.equal(url.hostname.split(".")[0], service.metadata.name);
      assert.equal(Number(url.port), service.spec.ports.find((p) => p.name === "http")?.port);
      assert.equal(target.grpcAddress, `${url.hostname}:${service.spec.ports.find((p) => p.name === "grpc")?.port}`);
      assert.ok(target.token, `context ${context} has a token`);
    }
  });
});

describe("deploy/Containerfile", () => {
  it("builds on node:20-bookworm-slim with npm ci and npm run build", () => {
    assert.ok(stages.length >= 2, "multi-stage");
    assert.match(buildStage.image, /^node:20-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    const runs = of(buildStage, "RUN")
      .map((r) => r.args)
      .join("\n");
    assert.match(runs, /\bnpm ci\b/);
    assert.match(runs, /\bnpm run build\b/);
  });

  it("ships only dist/server.mjs and lmdb's addon, on a glibc Node 20 base, nothing from node_modules", () => {
    assert.match(runtime.image, /^(node:20[\w.-]*|gcr\.io\/distroless\/nodejs20-debian\d+[\w:.-]*)$/, "a Node 20 base");
    assert.doesNotMatch(runtime.image, /alpine|musl/, "glibc: dist/lmdb.node is built for glibc");
    const { files: shipped, dest } = shippedFiles();
    assert.ok(shipped.includes("dist/server.mjs"), `ships dist/server.mjs (ships ${shipped.join(", ")})`);
    assert.ok(shipped.includes("dist/lmdb.node"), "ships dist/lmdb.node");
    assert.ok(shipped.includes("dist/etcd3-proto"), "ships etcd3's .proto files, which the bundle loads for --store etcd");
    const allowed = /^dist\/([\w-]+\.mjs|\*\.mjs|lmdb\.node|lmdb\.napi\.node|etcd3-proto)$/;
    for (const f of shipped) assert.match(f, allowed, `${f} is a bundle, lmdb's addon or etcd3's protos`);
    for (const i of runtime.instructions) assert.doesNotMatch(i.args, /node_modules/, `${i.keyword} ${i.args}`);
    assert.equal(entrypoint[1], posix.join(dest, "server.mjs"), "the entrypoint runs the shipped bundle");
  });

  it("runs node with the flags the bench starts the server with, in the image and in the StatefulSet that replaces its NODE_OPTIONS", () => {
    const envs = of(runtime, "ENV").flatMap((i) => i.args.split(/\s+/));
    const imageOptions = envs.find((e) => e.startsWith("NODE_OPTIONS="))?.slice("NODE_OPTIONS=".length) ?? "";
    const statefulSetOptions = env(server, "NODE_OPTIONS")?.value ?? imageOptions;
    for (const flag of SERVER_NODE_FLAGS) {
      assert.ok(imageOptions.split(/\s+/).includes(flag), `the image's NODE_OPTIONS (${imageOptions}) has ${flag}`);
      assert.ok(statefulSetOptions.split(/\s+/).includes(flag), `the StatefulSet's NODE_OPTIONS (${statefulSetOptions}) has ${flag}`);
    }
  });

  it("runs server.mjs as non-root on the exposed ports with --data-dir on the volume the StatefulSet mounts", () => {
    const user = of(runtime, "USER").at(-1)?.args;
    assert.ok(user !== undefined && /^\d+(:\d+)?$/.test(user) && !/^0(:|$)/.test(user), `numeric non-root USER, not ${user}`);
    const exposed = of(runtime, "EXPOSE")
      .flatMap((i) => i.args.split(/\s+/))
      .map((p) => Number(p.replace(/\/tcp$/, "")));
    assert.ok(exposed.includes(defaultServerOptions.httpPort), "EXPOSEs the http port");
    assert.ok(exposed.includes(defaultServerOptions.grpcPort), "EXPOSEs the grpc port");
    assert.equal(entrypoint[0], "node");
    const options = parseServerArgs(entrypoint.slice(2), {}, { version: "test", writeOut: () => {}, writeErr: () => {} });
    assert.equal(options.host, "0.0.0.0");
    const volumes = of(runtime, "VOLUME").flatMap((i) => (i.args.startsWith("[") ? execForm(i) : i.args.split(/\s+/)));
    assert.ok(volumes.includes(options.dataDir), `VOLUME ${options.dataDir} (the --data-dir)`);
    assert.equal(options.dataDir, dataMount?.mountPath, "the StatefulSet mounts its claim there");
  });

  it("has a bench stage built on the build stage, for the bench Job", () => {
    const benchStage = stages.find((s) => s.name === "bench");
    assert.ok(benchStage, "a stage named bench");
    assert.equal(benchStage.image, buildStage.name, "FROM the build stage");
    assert.equal(bench.workingDir ?? "/src", of(buildStage, "WORKDIR").at(-1)?.args, "the Job runs in the build stage's WORKDIR");
  });
});

// ---------------------------------------------------------------------------
// The HA shape (deploy/openshift/ha/, API.md §9): a 3-member etcd StatefulSet
// behind a headless Service, Setpoint as a Deployment of stateless replicas on
// it, pipeline agents as a Deployment, PodDisruptionBudgets for each. Applied
// with ../secret, ../service.yaml and ../route.yaml instead of ../statefulset.yaml.

interface Affinity {
  podAntiAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } }[];
    preferredDuringSchedulingIgnoredDuringExecution?: {
      weight: number;
      podAffinityTerm: { topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } };
    }[];
  };
}
type HaPodTemplate = PodTemplate & { spec: PodTemplate["spec"] & { affinity?: Affinity } };
interface WorkloadSpec {
  replicas?: number;
  serviceName?: string;
  selector: { matchLabels?: Record<string, string> };
  template: HaPodTemplate;
}
interface PdbSpec {
  minAvailable?: number;
  maxUnavailable?: number;
  selector: { matchLabels?: Record<string, string> };
}

const haFiles = yamlFiles(haDir);
const haDocs: Doc[] = haFiles.flatMap((path) =>
  parseAllDocuments(readFileSync(path, "utf8"))
    .filter((doc) => (doc.toJS() as unknown) != null)
    .map((doc, index) => ({ ...(doc.toJS() as Omit<Doc, "file">), file: `${relative(root, path)}#${index}` })),
);
function haOnly<Spec>(kind: string, name: string): Doc<Spec> {
  const found = haDocs.filter((d) => d.kind === kind && d.metadata.name === name);
  assert.equal(found.length, 1, `expected exactly one ${kind} ${name} in ha/, found ${found.length}`);
  return found[0] as Doc<Spec>;
}

/** A container's env with $(VAR) references to earlier literal values and the pod name expanded, for pod `podName`. */
function envOf(c: Container, podName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const fieldRef = (e.valueFrom as { fieldRef?: { fieldPath?: string } } | undefined)?.fieldRef?.fieldPath;
    const value = fieldRef === "metadata.name" ? podName : (e.value ?? `from-${e.valueFrom?.secretKeyRef?.name ?? "elsewhere"}`);
    out[e.name] = value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => out[name] ?? whole);
  }
  return out;
}

function antiAffinityLabels(t: HaPodTemplate): Array<Record<string, string> | undefined> {
  const a = t.spec.affinity?.podAntiAffinity;
  return [
    ...(a?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((r) =>
      r.topologyKey === "kubernetes.io/hostname" ? r.labelSelector?.matchLabels : undefined,
    ),
    ...(a?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) =>
      p.podAffinityTerm.topologyKey === "kubernetes.io/hostname" ? p.podAffinityTerm.labelSelector?.matchLabels : undefined,
    ),
  ];
}

describe("deploy/openshift/ha: replicas on a 3-member etcd", () => {
  const etcdSet = haOnly<WorkloadSpec>("StatefulSet", "setpoint-etcd");
  const etcdService = haOnly<ServiceSpec & { publishNotReadyAddresses?: boolean }>("Service", etcdSet.spec.serviceName ?? "");
  const servers = haOnly<WorkloadSpec>("Deployment", "setpoint");
  const agents = haOnly<WorkloadSpec>("Deployment", "setpoint-pipeline-agents");
  const etcdContainer = etcdSet.spec.template.spec.containers[0]!;
  const serverContainer = servers.spec.template.spec.containers.find((c) => c.name === "setpoint") ?? assert.fail("a container named setpoint");

  it("parse into named objects, none defined twice, none clashing with the single-node shape's other objects", () => {
    assert.ok(haFiles.length >= 3, `ha/ has the etcd, server and agent manifests (${haFiles.length} files)`);
    const keys = haDocs.map((d) => `${d.kind}/${d.metadata.name}`);
    assert.equal(new Set(keys).size, keys.length, keys.join(", "));
    for (const d of haDocs) assert.match(String(d.metadata?.name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, d.file);
    // Applied next to secret/, service.yaml and route.yaml: only the StatefulSet "setpoint" is replaced.
    const shared = new Set(docs.filter((d) => !(d.kind === "StatefulSet" && d.metadata.name === "setpoint")).map((d) => `${d.kind}/${d.metadata.name}`));
    for (const k of keys) assert.ok(!shared.has(k), `${k} is also defined outside ha/`);
  });

  it("etcd: 3 members, one per node, each peer named in the initial cluster through the headless Service", () => {
    assert.equal(etcdSet.spec.replicas, 3);
    assert.ok(selects(etcdSet.spec.selector.matchLabels, etcdSet.spec.template.metadata?.labels), "the selector matches the pod labels");
    assert.equal(etcdService.spec.clusterIP, "None", "headless");
    assert.equal(etcdService.spec.publishNotReadyAddresses, true, "peers resolve each other before they are ready");
    assert.ok(selects(etcdService.spec.selector, etcdSet.spec.template.metadata?.labels), "the Service selects the members");
    const port = (name: string) => containerPort(etcdContainer, name);
    for (const p of etcdService.spec.ports) assert.equal(containerPort(etcdContainer, p.targetPort), p.port, `Service port ${p.name}`);
    const members = [0, 1, 2].map((i) => `${etcdSet.metadata.name}-${i}`);
    for (const pod of members) {
      const e = envOf(etcdContainer, pod);
      assert.equal(e.ETCD_NAME, pod);
      const cluster = new Map(e.ETCD_INITIAL_CLUSTER!.split(",").map((kv) => kv.split("=") as [string, string]));
      assert.deepEqual([...cluster.keys()].sort(), members, "the initial cluster names every member");
      assert.equal(cluster.get(pod), e.ETCD_INITIAL_ADVERTISE_PEER_URLS, `${pod} advertises the peer URL the others expect`);
      for (const [name, url] of cluster) assert.equal(url, `http://${name}.${etcdService.metadata.name}:${port("peer")}`, `${name}'s peer URL`);
      assert.equal(e.ETCD_ADVERTISE_CLIENT_URLS, `http://${pod}.${etcdService.metadata.name}:${port("client")}`);
    }
    assert.ok(
      antiAffinityLabels(etcdSet.spec.template).some((l) => selects(l, etcdSet.spec.template.metadata?.labels)),
      "anti-affinity spreads members over nodes",
    );
    const claims = (etcdSet.spec as unknown as StatefulSetSpec).volumeClaimTemplates ?? [];
    assert.ok(
      claims.some((c) =>
        etcdContainer.volumeMounts?.some((m) => m.name === c.metadata.name && m.mountPath === envOf(etcdContainer, members[0]!).ETCD_DATA_DIR),
      ),
      "each member's data dir is its own claim",
    );
  });

  it("etcd: each ETCD_* variable of a member is one etcd recognizes (etcd, started with them, says so)", async () => {
    assert.deepEqual(etcdContainer.command, ["etcd"], "the member's settings are all in its environment");
    const pod = `${etcdSet.metadata.name}-0`;
    const settings = envOf(etcdContainer, pod);
    const names = Object.keys(settings).filter((k) => k.startsWith("ETCD_"));
    assert.ok(names.length >= 8, names.join(", "));
    // The same names on loopback (the values that name hosts and the data dir rewritten): a member of a cluster of its own.
    const dir = mkdtempSync(join(tmpdir(), "setpoint-deploy-etcd-"));
    const [client, peer] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const local: Record<string, string> = {
      ...settings,
      ETCD_DATA_DIR: join(dir, "data"),
      ETCD_LISTEN_CLIENT_URLS: client,
      ETCD_ADVERTISE_CLIENT_URLS: client,
      ETCD_LISTEN_PEER_URLS: peer,
      ETCD_INITIAL_ADVERTISE_PEER_URLS: peer,
      ETCD_INITIAL_CLUSTER: `${pod}=${peer}`,
    };
    assert.deepEqual(Object.keys(local).sort(), Object.keys(settings).sort(), "only values were rewritten");
    const child = spawn("etcd", [], { env: { PATH: process.env.PATH, ...local }, stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    // etcd 3.4 and 3.5 log each ETCD_* variable it reads as "recognized and used", and each other one as "unrecognized".
    const seen = (name: string) => new RegExp(`(recognized and used|unrecognized) environment variable ${name}=`).test(log);
    try {
      const deadline = Date.now() + 20_000;
      while (!names.every(seen) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const name of names)
        assert.match(log, new RegExp(`recognized and used environment variable ${name}=`), `etcd reads ${name}:\n${log.slice(0, 3000)}`);
      assert.doesNotMatch(log, /unrecognized environment variable/);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.once("exit", r) : r(undefined)));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("servers run node with the flags the bench starts the server with", () => {
    const options = env(serverContainer, "NODE_OPTIONS")?.value;
    assert.ok(options !== undefined, "NODE_OPTIONS is set (it would be the image's otherwise, checked with the single-node shape)");
    for (const flag of SERVER_NODE_FLAGS) assert.ok(options.split(/\s+/).includes(flag), `NODE_OPTIONS (${options}) has ${flag}`);
  });

  it("servers: 3 replicas that run --store etcd on exactly the etcd members' client URLs, ready on /readyz", () => {
    assert.equal(servers.spec.replicas, 3);
    const labels = servers.spec.template.metadata?.labels;
    assert.ok(selects(servers.spec.selector.matchLabels, labels));
    const argv = serverContainer.command ?? entrypoint;
    const values = envOf(serverContainer, "setpoint-x");
    const options = parseServerArgs([...argv.slice(2), ...(serverContainer.args ?? [])], values, { version: "test", writeOut: () => {}, writeErr: () => {} });
    assert.equal(options.store, "etcd");
    assert.equal(options.workers, 1, "one process per pod: the pods are the replicas");
    const clientPort = containerPort(etcdContainer, "client");
    assert.deepEqual(
      options.etcdServers,
      [0, 1, 2].map((i) => `http://${etcdSet.metadata.name}-${i}.${etcdService.metadata.name}:${clientPort}`),
    );
    const port = (name: string) => serverContainer.ports?.find((p) => p.name === name)?.containerPort;
    assert.equal(port("http"), options.httpPort);
    assert.equal(port("grpc"), options.grpcPort);
    assert.equal(serverContainer.readinessProbe?.httpGet?.path, "/readyz");
    assert.equal(containerPort(serverContainer, serverContainer.readinessProbe?.httpGet?.port), options.httpPort);
    assert.ok(
      antiAffinityLabels(servers.spec.template).some((l) => selects(l, labels)),
      "anti-affinity spreads replicas over nodes",
    );
    // ../service.yaml's Service (behind the Route) reaches the replicas.
    const svc = services.find((s) => s.metadata.name === "setpoint") ?? assert.fail("Service setpoint");
    assert.ok(selects(svc.spec.selector, labels), "Service setpoint selects the replicas");
    for (const p of svc.spec.ports) assert.ok(containerPort(serverContainer, p.targetPort) !== undefined, `Service port ${p.name} reaches a replica port`);
    assert.equal(env(serverContainer, "SETPOINT_TOKEN")?.valueFrom?.secretKeyRef?.name, "setpoint-token");
  });

  it("servers are secured as the StatefulSet: TLS from the Service's serving certificate (which the Route re-encrypts to), the token file, RBAC, audit, HTTPS probes", () => {
    const envValue = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
    const haVolumes = (servers.spec.template.spec as { volumes?: Array<{ name: string; secret?: { secretName: string }; emptyDir?: unknown }> }).volumes ?? [];
    const volumeOf = (c: Container, file: string) => {
      const mount = c.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`)) ?? assert.fail(`${file} is on a mounted volume`);
      return { mount, volume: haVolumes.find((v) => v.name === mount.name) ?? assert.fail(`volume ${mount.name}`) };
    };
    assert.equal(route.spec.tls?.termination, "reencrypt", "the Route expects the pods to serve TLS");
    const svc = services.find((x) => x.metadata.name === "setpoint")!;
    const servingSecret = svc.metadata.annotations?.["service.beta.openshift.io/serving-cert-secret-name"];
    for (const [variable, key] of [
      ["SETPOINT_TLS_CERT_FILE", "tls.crt"],
      ["SETPOINT_TLS_PRIVATE_KEY_FILE", "tls.key"],
    ] as const) {
      const file = envValue(serverContainer, variable) ?? assert.fail(`${variable} is set: without TLS the Route's re-encryption fails`);
      assert.ok(file.endsWith(`/${key}`), `${variable} names ${key}`);
      assert.equal(volumeOf(serverContainer, file).volume.secret?.secretName, servingSecret, `${file} comes from the serving-certificate Secret`);
    }
    const tokenFile = envValue(serverContainer, "SETPOINT_TOKEN_AUTH_FILE") ?? assert.fail("a token file");
    const tokens = volumeOf(serverContainer, tokenFile);
    const tokenSecret = tokens.volume.secret?.secretName ?? assert.fail("the token file comes from a Secret");
    const secret = only("Secret", tokenSecret);
    assert.ok(tokenFile.slice(tokens.mount.mountPath.length + 1) in { ...secret.data, ...secret.stringData }, `Secret ${tokenSecret} has the file`);
    // The same security settings as the single-node server, as the server's own parser reads them.
    const read = (c: Container) =>
      parseServerArgs([], Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])), { version: "0" });
    const ha = read(serverContainer);
    const single = read(server);
    assert.equal(ha.authorizationMode, "RBAC");
    for (const k of ["tlsCertFile", "tlsPrivateKeyFile", "tokenAuthFile", "authorizationMode"] as const) assert.equal(ha[k], single[k], k);
    const audit = ha.auditLogPath ?? assert.fail("an audit log");
    assert.ok(volumeOf(serverContainer, audit).volume.emptyDir, "the audit log is on a writable volume (the root filesystem is read-only)");
    for (const probe of [serverContainer.readinessProbe, serverContainer.livenessProbe, serverContainer.startupProbe]) {
      assert.equal((probe?.httpGet as { scheme?: string } | undefined)?.scheme, "HTTPS", "probes speak TLS");
    }
  });

  it("PodDisruptionBudgets keep etcd's quorum and a serving majority, and select their pods only", () => {
    const pdbs = haDocs.filter((d) => d.kind === "PodDisruptionBudget") as Doc<PdbSpec>[];
    for (const [workload, needAtLeast] of [
      [etcdSet, 2],
      [servers, 2],
      [agents, 1],
    ] as const) {
      const labels = workload.spec.template.metadata?.labels;
      const mine = pdbs.filter((p) => selects(p.spec.selector.matchLabels, labels));
      assert.equal(mine.length, 1, `one PDB for ${workload.kind} ${workload.metadata.name}`);
      const pdb = mine[0]!.spec;
      const replicas = workload.spec.replicas ?? 1;
      const kept = pdb.minAvailable ?? replicas - (pdb.maxUnavailable ?? 0);
      assert.ok(
        kept >= needAtLeast - (workload === agents ? 1 : 0) && kept < replicas,
        `${workload.metadata.name}: keeps ${kept} of ${replicas} and still lets a node drain`,
      );
    }
  });

  it("pipeline agents: a Deployment running `setpoint agent pipelines` against the Service, with the token", () => {
    assert.ok((agents.spec.replicas ?? 1) >= 2, "more than one agent");
    assert.ok(selects(agents.spec.selector.matchLabels, agents.spec.template.metadata?.labels));
    const c = agents.spec.template.spec.containers[0]!;
    assert.deepEqual(c.command, ["node", "/app/setpoint.mjs"], "the CLI bundle the image ships (dist/*.mjs)");
    const args = c.args ?? [];
    assert.deepEqual(args.slice(0, 2), ["agent", "pipelines"]);
    const flag = (name: string) => args[args.indexOf(name) + 1];
    const svc = services.find((s) => s.metadata.name === "setpoint")!;
    const httpPort = svc.spec.ports.find((p) => p.name === "http")!.port;
    const grpcPort = svc.spec.ports.find((p) => p.name === "grpc")!.port;
    // The servers serve TLS with the service-serving certificate, issued for <service>.<project>.svc (the image's project).
    const host = `${svc.metadata.name}.${String(c.image).split("/")[1]}.svc`;
    assert.equal(flag("--server"), `https://${host}:${httpPort}`);
    assert.equal(flag("--grpc"), `${host}:${grpcPort}`);
    // The agents trust the service CA, for HTTPS and WSS (Node) and gRPC (grpc-js), from the bundle's ConfigMap.
    const caConfigMap = only("ConfigMap", "setpoint-service-ca");
    assert.equal(caConfigMap.metadata.annotations?.["service.beta.openshift.io/inject-cabundle"], "true");
    const agentVolumes = (agents.spec.template.spec as { volumes?: Array<{ name: string; configMap?: { name: string } }> }).volumes ?? [];
    for (const variable of ["NODE_EXTRA_CA_CERTS", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"]) {
      const file = env(c, variable)?.value ?? assert.fail(`${variable} is set`);
      const mount = c.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`)) ?? assert.fail(`${file} is on a mounted volume`);
      assert.equal(agentVolumes.find((v) => v.name === mount.name)?.configMap?.name, "setpoint-service-ca", `${variable}: the service CA bundle`);
      assert.equal(file.slice(mount.mountPath.length + 1), "service-ca.crt", `${variable}: the bundle's key`);
    }
    assert.ok(
      c.volumeMounts?.some((m) => m.mountPath === flag("--work-dir")),
      "the work dir is a mounted volume",
    );
    assert.equal(env(c, "SETPOINT_TOKEN")?.valueFrom?.secretKeyRef?.name, "setpoint-token");
    // Every flag is one the command accepts.
    const help = spawnSync(process.execPath, [...nodeEntry("src/cli/setpoint.ts"), "agent", "pipelines", "--help"], { cwd: root, encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    for (const a of args.filter((x) => x.startsWith("--"))) assert.ok(help.stdout.includes(a + " "), `setpoint agent pipelines accepts ${a}`);
  });

  it("pods fit OpenShift's restricted SCC and get no SETPOINT_* service-link variables", () => {
    for (const w of [etcdSet, servers, agents]) {
      const spec = w.spec.template.spec;
      assert.equal(spec.enableServiceLinks, false, `${w.metadata.name}: enableServiceLinks false`);
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${w.metadata.name}: runAsNonRoot`);
      for (const c of spec.containers) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${w.metadata.name}/${c.name}`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"], `${w.metadata.name}/${c.name}`);
        assert.ok(c.resources?.requests && c.resources.limits, `${w.metadata.name}/${c.name}: requests and limits`);
      }
    }
  });
});
