// The `orbit` command line (commander): builds the commands and runs one, returning its exit code.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { adminCommands } from "./commands/admin.js";
import { catalogCommands } from "./commands/catalog.js";
import { configCommands } from "./commands/config.js";
import { envCommands } from "./commands/env.js";
import { keypairCommands } from "./commands/keypair.js";
import { volumeCommands } from "./commands/volume.js";
import { snapshotCommands } from "./commands/snapshot.js";
import { vmCommands } from "./commands/vm.js";
import { Context, type Io } from "./context.js";
import { ApiError, CliError, EXIT } from "./errors.js";

const EXIT_HELP = `
Configuration: --url/--api-key, else ORBIT_URL/ORBIT_API_KEY, else 'orbit config set url|api-key'.
Exit codes: 0 ok, 1 the API refused the request (4xx), 2 usage error or no API key,
3 server error or unreachable, 4 a job failed or --wait timed out.`;

const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

export function buildProgram(io: Io): Command {
  const program = new Command("orbit")
    .version(VERSION, "-V, --version")
    .description("Orbit's command line: GPU VMs, volumes, flavors, images, key pairs, environments")
    .option("--url <url>", "the API's URL (env ORBIT_URL; default http://127.0.0.1:8080)")
    .option("--api-key <key>", "your API key (env ORBIT_API_KEY)")
    .option("--json", "print the API's JSON answer instead of tables")
    .addHelpText("after", EXIT_HELP)
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    // Inherited by every command added below: commander's usage errors come back here as exceptions.
    .exitOverride();
  const ctx = (cmd: Command) => Context.of(io, cmd);
  vmCommands(program, ctx);
  catalogCommands(program, ctx);
  keypairCommands(program, ctx);
  volumeCommands(program, ctx);
  snapshotCommands(program, ctx);
  envCommands(program, ctx);
  adminCommands(program, ctx);
  configCommands(program, io);
  return program;
}

/** Runs `orbit ARGS...`; errors are printed on stderr and become the exit code. */
export async function run(args: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(args, { from: "user" });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander printed the message already; help and --version asked for are a success.
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof ApiError) {
      io.stderr.write(`orbit: ${e.describe()}\n`);
      return e.exitCode;
    }
    if (e instanceof CliError) {
      io.stderr.write(`orbit: ${e.message}\n`);
      return e.exitCode;
    }
    io.stderr.write(`orbit: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.server;
  }
}
