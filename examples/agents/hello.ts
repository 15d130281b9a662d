// A complete Setpoint agent: greets every Greeting (demo.example.com/v1) by
// writing `status.message`. Run several copies to share the work; Ctrl-C (or
// SIGTERM) stops one gracefully. Start it with `npx tsx examples/agents/hello.ts`.
import { runAgent, type ApiObject } from "../../src/agent.ts";

type Greeting = ApiObject<{ name: string }, { message?: string; observedGeneration?: number }>;

const stop = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => stop.abort()); // Ctrl-C, kill, systemd, a container's stop
console.log("hello: reconciling greetings.demo.example.com; Ctrl-C stops");

await runAgent<Greeting>({
  name: "hello",
  grpcAddress: process.env.SETPOINT_GRPC ?? "127.0.0.1:9090",
  httpUrl: process.env.SETPOINT_URL ?? "http://127.0.0.1:8080",
  type: { group: "demo.example.com", version: "v1", plural: "greetings" },
  stateDir: ".hello-state",
  signal: stop.signal,
  onError: (err, key) => console.error(`${key ?? "hello"}: ${(err as Error).message}`), // e.g. the server is not up yet: it retries
  async reconcile(key, { object, updateStatus }) {
    if (!object) return console.log(`${key}: gone`);
    const generation = object.metadata.generation;
    if (object.status?.observedGeneration === generation) return console.log(`${key}: generation ${generation} is up to date`);
    const message = `Hello, ${object.spec?.name ?? "world"}!`;
    await updateStatus({ message });
    console.log(`${key}: generation ${generation}: wrote status.message ${JSON.stringify(message)}`);
  },
});
