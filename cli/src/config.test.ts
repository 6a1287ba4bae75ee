// Where the CLI finds the API: flag > environment > config file > default, and `orbit config set`.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { configPath, DEFAULT_URL, resolveConnection } from "./config.js";
import { type FakeApi, runCli, startFakeApi } from "./testing/fake-api.js";

const LIST = { status: true, message: "ok", count: 0, page: 1, page_size: 50, instances: [] };

let a: FakeApi;
let b: FakeApi;
let dir: string;
let env: Record<string, string>;

function writeFile(c: unknown) {
  const file = configPath(env);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, typeof c === "string" ? c : JSON.stringify(c));
}

beforeAll(async () => {
  a = await startFakeApi({ "GET /v1/core/virtual-machines": { body: LIST } });
  b = await startFakeApi({ "GET /v1/core/virtual-machines": { body: LIST } });
});
afterAll(async () => { await a.close(); await b.close(); });
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "orbit-cli-"));
  env = { HOME: path.join(dir, "home"), XDG_CONFIG_HOME: path.join(dir, "xdg") };
  a.requests.length = 0;
  b.requests.length = 0;
  return () => rmSync(dir, { recursive: true, force: true });
});

describe("configuration", () => {
  it("reads the file under XDG_CONFIG_HOME, else ~/.config", () => {
    expect(configPath(env)).toBe(path.join(dir, "xdg", "orbit", "config.json"));
    expect(configPath({ HOME: "/home/ann" })).toBe("/home/ann/.config/orbit/config.json");
  });

  it("uses the file when neither flag nor environment says otherwise", async () => {
    writeFile({ url: a.url, api_key: "file-key" });
    const r = await runCli(["vm", "list"], env);
    expect(r.code).toBe(0);
    expect(a.requests.map((q) => q.headers.api_key)).toEqual(["file-key"]);
  });

  it("prefers ORBIT_URL and ORBIT_API_KEY to the file", async () => {
    writeFile({ url: a.url, api_key: "file-key" });
    const r = await runCli(["vm", "list"], { ...env, ORBIT_URL: b.url, ORBIT_API_KEY: "env-key" });
    expect(r.code).toBe(0);
    expect(a.requests).toHaveLength(0);
    expect(b.requests.map((q) => q.headers.api_key)).toEqual(["env-key"]);
  });

  it("prefers --url and --api-key to the environment, wherever they are on the line", async () => {
    writeFile({ url: b.url, api_key: "file-key" });
    const r = await runCli(["vm", "list", "--url", a.url, "--api-key", "flag-key"], { ...env, ORBIT_URL: b.url, ORBIT_API_KEY: "env-key" });
    expect(r.code).toBe(0);
    expect(b.requests).toHaveLength(0);
    expect(a.requests.map((q) => q.headers.api_key)).toEqual(["flag-key"]);
    const before = await runCli(["--api-key", "flag-key-2", "--url", a.url, "vm", "list"], env);
    expect(before.code).toBe(0);
    expect(a.requests[1]!.headers.api_key).toBe("flag-key-2");
  });

  it("takes the key from one place and the URL from another", () => {
    writeFile({ url: a.url });
    expect(resolveConnection({}, { ...env, ORBIT_API_KEY: "k" })).toEqual({ url: a.url, apiKey: "k" });
    expect(resolveConnection({ apiKey: "k" }, env).url).toBe(a.url);
    rmSync(configPath(env));
    expect(resolveConnection({ apiKey: "k" }, env).url).toBe(DEFAULT_URL);
  });

  it("without a key anywhere: usage error (2) saying how to give one, and no request", async () => {
    writeFile({ url: a.url });
    const r = await runCli(["vm", "list"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no API key: pass --api-key, set ORBIT_API_KEY or run 'orbit config set api-key KEY'/);
    expect(a.requests).toHaveLength(0);
  });

  it("config set writes url and api-key to a file only its owner reads; the next command uses them", async () => {
    expect((await runCli(["config", "set", "url", `${a.url}/`], env)).code).toBe(0);
    expect((await runCli(["config", "set", "api-key", "saved-key"], env)).code).toBe(0);
    const file = configPath(env);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ url: a.url, api_key: "saved-key" });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const show = await runCli(["config", "show"], env);
    expect(show.stdout).toContain(a.url);
    expect(show.stdout).not.toContain("saved-key");
    expect((await runCli(["vm", "list"], env)).code).toBe(0);
    expect(a.requests.map((q) => q.headers.api_key)).toEqual(["saved-key"]);
  });

  it("refuses an unknown config key, a URL that is not http(s) and a broken file (exit 2)", async () => {
    const unknown = await runCli(["config", "set", "colour", "blue"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Allowed choices are url, api-key/);
    const ftp = await runCli(["config", "set", "url", "ftp://x"], env);
    expect(ftp.code).toBe(2);
    expect(ftp.stderr).toMatch(/only http and https/);
    writeFile("{not json");
    const broken = await runCli(["vm", "list", "--api-key", "k"], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain(`${configPath(env)} is not valid JSON`);
  });
});
