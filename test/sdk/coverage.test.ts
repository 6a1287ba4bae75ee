// Keeps COVERAGE.md true: each row names the SDK method that sends that HTTP method and path, every
// method of the SDK classes it names has a row, and Orbit's state in the row matches what Orbit
// answers through the SDK: "missing" is the router's 404, anything else reaches a route.
import { readFileSync } from "node:fs";
import * as sdk from "@nexgencloud/hyperstack-sdk-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, startTestCloud, type TestCloud } from "./sdk-harness.js";

interface Row { method: string; path: string; api: string; fn: string; state: string }

const table = readFileSync(new URL("./COVERAGE.md", import.meta.url), "utf8");
const ROW = /^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)`[^|]*\| `(\w+)\.(\w+)` \| [^|]+ \| ([^|]+?) \|$/gm;
const rows: Row[] = [...table.matchAll(ROW)].map(([, method, path, api, fn, state]) => ({ method: method!, path: path!, api: api!, fn: fn!, state: state! }));
const sdkExports = sdk as unknown as Record<string, any>;
const EXTRA = /^\| `([^`]+)` \| (GET|POST|PUT|PATCH|DELETE) \|/gm;
const extras = [...table.matchAll(EXTRA)].map(([, path, method]) => ({ method: method!, path: path! }));

/** One argument per declared parameter of an SDK method: ids, payloads and filters alike are 1. */
const dummyArgs = (f: (...a: unknown[]) => unknown): number[] => Array.from({ length: f.length }, () => 1);

let cloud: TestCloud;
beforeAll(async () => { cloud = await startTestCloud({ hosts: [] }); }, 120_000);
afterAll(async () => { await cloud?.stop(); });

describe("COVERAGE.md", () => {
  it("has a well-formed row for every table line, with a known state", () => {
    const lines = table.split("\n").filter((l) => /^\| (GET|POST|PUT|PATCH|DELETE) \|/.test(l));
    expect(rows.length).toBe(lines.length);
    expect(rows.length).toBeGreaterThan(60);
    for (const r of rows) expect(r.state, `${r.method} ${r.path}`).toMatch(/^(works|missing|differs: G\d+(, G\d+)*)$/);
    const keys = rows.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const g of new Set(rows.flatMap((r) => r.state.match(/G\d+/g) ?? []))) expect(table, g).toContain(`- **${g}**`);
  });

  it("names for each row the SDK method that sends that method and path", async () => {
    for (const r of rows) {
      const creator = sdkExports[`${r.api}AxiosParamCreator`]?.();
      expect(creator?.[r.fn], `${r.api}.${r.fn}`).toBeTypeOf("function");
      const request = await creator[r.fn](...dummyArgs(creator[r.fn]));
      expect(`${request.options.method} ${new URL(request.url, "http://x").pathname}`, `${r.api}.${r.fn}`)
        .toBe(`${r.method} ${r.path.replace(/\{\w+\}/g, "1")}`);
    }
  });

  it("has a row for every method of the SDK classes it names", () => {
    const named = new Set(rows.map((r) => `${r.api}.${r.fn}`));
    const all = [...new Set(rows.map((r) => r.api))].flatMap((api) => Object.keys(sdkExports[`${api}AxiosParamCreator`]()).map((fn) => `${api}.${fn}`));
    expect(all.filter((m) => !named.has(m))).toEqual([]);
  });

  it("says missing exactly for the routes Orbit's router does not know, called through the SDK", async () => {
    const config = new sdk.Configuration({ apiKey: ADMIN_KEY, basePath: `${cloud.manager.apiUrl}/v1` });
    const wrong: string[] = [];
    for (const r of rows) {
      const api = new sdkExports[r.api](config);
      // The cloud has no hosts and no resources: every id is unknown, every payload (1) invalid.
      const answer: { status: number; data: Record<string, any> } = await api[r.fn](...dummyArgs(api[r.fn])).then(
        (res: { status: number; data: Record<string, any> }) => res,
        (err: { response?: { status: number; data: Record<string, any> } }) => { if (!err.response) throw err; return err.response; },
      );
      const noRoute = answer.status === 404 && String(answer.data.message).startsWith("no route ");
      if (noRoute !== (r.state === "missing")) wrong.push(`${r.method} ${r.path}: COVERAGE.md says ${r.state}, Orbit answers ${answer.status} ${JSON.stringify(answer.data.message)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("lists as Orbit's own routes only routes Orbit's router knows", async () => {
    expect(extras.length).toBeGreaterThan(0);
    const unknown: string[] = [];
    for (const e of extras) {
      const res = await fetch(`${cloud.manager.apiUrl}/v1${e.path.replace(/\{\w+\}/g, "1")}`, {
        method: e.method, headers: { api_key: ADMIN_KEY, "content-type": "application/json" }, body: e.method === "GET" ? undefined : "{}",
      });
      const body = await res.json() as { message?: string };
      if (res.status === 404 && String(body.message).startsWith("no route ")) unknown.push(`${e.method} ${e.path}`);
    }
    expect(unknown).toEqual([]);
  });
});
