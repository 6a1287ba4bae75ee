// Loads the agent's configuration once at start: YAML file, then the few environment variables
// scripts set, then CLI flags (flag > env > file). Errors name the exact key and what was expected.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { InvalidArgumentError } from "#shared/errors.js";
import { agentConfigSchema, type AgentConfig } from "./agent-config.schema.js";
import { issueToMessages } from "./zod-issue-message.js";

export type { AgentConfig, AgentConfigFile } from "./agent-config.schema.js";
export { agentConfigSchema, DEFAULT_STATE_DIR, LOG_LEVELS, REMOVED_AGENT_CONFIG_KEYS } from "./agent-config.schema.js";

export const DEFAULT_AGENT_CONFIG_PATH = "/etc/orbit/agent.yaml";

export const AGENT_ENV = {
  config: "ORBIT_AGENT_CONFIG",
  manager: "ORBIT_MANAGER",
  token: "ORBIT_AGENT_TOKEN",
} as const;

const MANAGER_HINT = ` (set "manager: HOST:PORT" in the file, ${AGENT_ENV.manager} or --manager; several: comma-separated)`;

export interface LoadAgentConfigOptions {
  /** Command-line arguments without node and the script (process.argv.slice(2)). */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the config file as UTF-8; fs.readFileSync by default (tests pass a fake). */
  readFile?: (path: string) => string;
}

/**
 * Validates an already-parsed document (snake_case keys). `label` prefixes messages (the file
 * name); `sources` names where an overridden top-level key came from (env var or flag).
 */
export function parseAgentConfig(
  obj: unknown,
  opts: { label?: string; sources?: Readonly<Record<string, string>> } = {},
): AgentConfig {
  const label = opts.label ?? "agent.yaml";
  const doc = obj === null || obj === undefined ? {} : obj;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new InvalidArgumentError("(top level)", `${label}: expected a mapping of settings at the top level`);
  }
  const result = agentConfigSchema.safeParse(doc);
  if (result.success) return result.data;

  const lines = result.error.issues.flatMap((issue) =>
    issueToMessages(issue, doc).map(({ path, message }) => {
      const top = issue.path[0];
      const source = typeof top === "string" ? opts.sources?.[top] : undefined;
      const hint = path === "manager" && message.startsWith("required") ? MANAGER_HINT : "";
      return { path, line: `${source ?? label}: ${path}: ${message}${hint}` };
    }),
  );
  const first = lines[0] ?? { path: "(top level)", line: `${label}: invalid` };
  throw new InvalidArgumentError(first.path, lines.map((l) => l.line).join("\n"), {
    issues: lines.map((l) => l.line),
  });
}

interface AgentFlags {
  config?: string;
  manager?: string;
}

function readFlags(argv: readonly string[]): AgentFlags {
  // Not strict: the agent's main may take other flags; we only pick the ones that configure it.
  const { values } = parseArgs({
    args: [...argv],
    options: { config: { type: "string" }, manager: { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const flags: AgentFlags = {};
  for (const name of ["config", "manager"] as const) {
    const v = values[name];
    if (v === undefined) continue;
    if (typeof v !== "string" || v === "") {
      throw new InvalidArgumentError(`--${name}`, `--${name}: expected a value (--${name} ${name === "config" ? "PATH" : "HOST:PORT"})`);
    }
    flags[name] = v;
  }
  return flags;
}

function nonEmptyEnv(env: LoadAgentConfigOptions["env"], name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function readDocument(path: string, explicit: boolean, readFile: (p: string) => string): unknown {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    // Without a file the agent can still run from ORBIT_MANAGER alone (scripts, containers),
    // but a file the operator named must exist.
    if (!explicit && (e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new InvalidArgumentError("config", `${path}: cannot read: ${(e as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw new InvalidArgumentError("config", `${path}: invalid YAML: ${(e as Error).message}`);
  }
}

export function loadAgentConfig(opts: LoadAgentConfigOptions): AgentConfig {
  const flags = readFlags(opts.argv);
  const envPath = nonEmptyEnv(opts.env, AGENT_ENV.config);
  const path = flags.config ?? envPath ?? DEFAULT_AGENT_CONFIG_PATH;
  const explicit = flags.config !== undefined || envPath !== undefined;
  const doc = readDocument(path, explicit, opts.readFile ?? ((p) => readFileSync(p, "utf8")));

  if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc))) {
    return parseAgentConfig(doc, { label: path });
  }
  const merged: Record<string, unknown> = { ...(doc as Record<string, unknown> | null | undefined) };
  const sources: Record<string, string> = {};

  const envManager = nonEmptyEnv(opts.env, AGENT_ENV.manager);
  // ORBIT_MANAGER and --manager (one address or a comma list) replace the file's managers, both keys.
  if (envManager !== undefined) {
    merged.manager = envManager;
    delete merged.managers;
    sources.manager = AGENT_ENV.manager;
  }
  const envToken = nonEmptyEnv(opts.env, AGENT_ENV.token);
  if (envToken !== undefined) {
    merged.token = envToken;
    sources.token = AGENT_ENV.token;
  }
  if (flags.manager !== undefined) {
    merged.manager = flags.manager;
    delete merged.managers;
    sources.manager = "--manager";
  }
  return parseAgentConfig(merged, { label: path, sources });
}
