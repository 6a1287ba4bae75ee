// Where the CLI finds the API: flag, then environment (ORBIT_URL, ORBIT_API_KEY), then the config
// file ($XDG_CONFIG_HOME/orbit/config.json, else ~/.config/orbit/config.json), then the embedded
// default's URL.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { UsageError } from "./errors.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface ConfigFile {
  url?: string;
  api_key?: string;
}

/** `orbit config set` keys and where each is kept in the file. */
export const CONFIG_KEYS = { url: "url", "api-key": "api_key" } as const satisfies Record<string, keyof ConfigFile>;
export type ConfigKey = keyof typeof CONFIG_KEYS;

export type Env = Record<string, string | undefined>;

export function configPath(env: Env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), ".config");
  return path.join(base, "orbit", "config.json");
}

export function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not valid JSON; fix it or remove it`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`${file} must hold a JSON object`);
  const c = parsed as Record<string, unknown>;
  for (const k of ["url", "api_key"] as const) {
    if (c[k] !== undefined && typeof c[k] !== "string") throw new UsageError(`${file}: "${k}" must be a string`);
  }
  return { ...(c.url !== undefined ? { url: c.url as string } : {}), ...(c.api_key !== undefined ? { api_key: c.api_key as string } : {}) };
}

/** Writes one key; the file holds an API key, so only its owner may read it. */
export function writeConfigValue(file: string, key: ConfigKey, value: string): void {
  const next = { ...readConfig(file), [CONFIG_KEYS[key]]: key === "url" ? normalizeUrl(value) : value };
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(next, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
}

/** An http(s) URL without a trailing slash (paths are appended to it). */
export function normalizeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`invalid URL "${url}": expected e.g. ${DEFAULT_URL}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UsageError(`invalid URL "${url}": only http and https are supported`);
  return url.replace(/\/+$/, "");
}

export interface Connection {
  url: string;
  apiKey: string;
}

/** flag > environment > config file (> the default URL); a missing key is a usage error. */
export function resolveConnection(flags: { url?: string; apiKey?: string }, env: Env): Connection {
  const file = configPath(env);
  const fromFile = readConfig(file);
  const url = flags.url ?? (env.ORBIT_URL || undefined) ?? fromFile.url ?? DEFAULT_URL;
  const apiKey = flags.apiKey ?? (env.ORBIT_API_KEY || undefined) ?? fromFile.api_key;
  if (!apiKey) throw new UsageError(`no API key: pass --api-key, set ORBIT_API_KEY or run 'orbit config set api-key KEY' (writes ${file})`);
  return { url: normalizeUrl(url), apiKey };
}
