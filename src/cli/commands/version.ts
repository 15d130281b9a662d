// `setpoint version`: this CLI's version and the server's, as `kubectl
// version` prints them (`Client Version: …`, `Server Version: …`), or both as
// JSON or YAML. With --client the server is not asked. A server that cannot
// be reached is an error (exit 1) after the client's line, as kubectl.

import { Command, Option } from "commander";
import { addClientOptions, sessionFor, type CliContext } from "../context.ts";
import { toJson, toYamlText } from "../printers.ts";

export function versionCommand(ctx: CliContext): Command {
  const command = new Command("version")
    .summary("print the client and server versions")
    .description("Prints this CLI's version and the server's (its /version), as kubectl version does; --client prints the first only.")
    .option("--client", "the client's version only; the server is not asked")
    .addOption(new Option("-o, --output <format>", "json or yaml: both versions as one document").choices(["json", "yaml"]))
    .addHelpText("after", "\nExamples:\n  setpoint version\n  setpoint version --client\n  setpoint version -o json");
  addClientOptions(command, { namespace: false });
  command.action(async (opts: { client?: boolean; output?: "json" | "yaml" }) => {
    const clientVersion = { setpointVersion: ctx.version };
    if (opts.output === undefined) ctx.out(`Client Version: ${ctx.version}`);
    let serverVersion: Record<string, unknown> | undefined;
    if (opts.client !== true) {
      serverVersion = (await sessionFor(command, ctx).client.get("/version")) as Record<string, unknown>;
      if (opts.output === undefined) {
        // Setpoint's own version, and the Kubernetes API version it follows (what kubectl compares itself with).
        const { setpointVersion, gitVersion, major, minor } = serverVersion;
        const api = typeof major === "string" && typeof minor === "string" ? ` (Kubernetes API v${major}.${minor})` : "";
        ctx.out(`Server Version: ${typeof setpointVersion === "string" ? `${setpointVersion}${api}` : String(gitVersion)}`);
      }
    }
    if (opts.output !== undefined) {
      const doc = { clientVersion, ...(serverVersion && { serverVersion }) };
      ctx.out(opts.output === "json" ? toJson(doc) : toYamlText(doc).trimEnd());
    }
  });
  return command;
}
