// /openapi.json describes what every route answers: each route has a 2xx response whose schema is
// typed all the way down. A free-form node ({} or an object that allows anything and names no
// property) tells a client nothing, so it fails here with the route and the JSON path to it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCloud, type TestCloud } from "./harness.js";

type Schema = Record<string, unknown>;
let cloud: TestCloud;
let doc: { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> }>> };

const METHODS = new Set(["get", "post", "put", "patch", "delete"]);

/** Where a schema is untyped, as JSON paths under `at` (empty: fully typed). */
export function untypedNodes(schema: unknown, at: string, out: string[] = []): string[] {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) { out.push(`${at} (not a schema)`); return out; }
  const s = schema as Schema;
  if (typeof s.$ref === "string") return out;
  for (const k of ["anyOf", "oneOf", "allOf"] as const) {
    const alts = s[k];
    if (Array.isArray(alts)) { alts.forEach((a, i) => untypedNodes(a, `${at}.${k}[${i}]`, out)); return out; }
  }
  if ("enum" in s || "const" in s) return out;
  const type = s.type;
  if (type === undefined) { out.push(`${at} (no type)`); return out; }
  if (type === "array") {
    // An array that must stay empty (a feature not built yet) says all there is to say.
    if (s.items === undefined) { if (s.maxItems !== 0) out.push(`${at}[] (array of anything)`); }
    else untypedNodes(s.items, `${at}[]`, out);
    return out;
  }
  if (type === "object") {
    const props = (s.properties ?? {}) as Record<string, unknown>;
    const extra = s.additionalProperties;
    const typedMap = extra !== undefined && typeof extra === "object" && extra !== null;
    if (Object.keys(props).length === 0 && !typedMap) out.push(`${at} (object with no properties)`);
    for (const [k, v] of Object.entries(props)) untypedNodes(v, `${at}.${k}`, out);
    if (typedMap) untypedNodes(extra, `${at}.*`, out);
    return out;
  }
  return out;
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [] });
  const res = await fetch(`${cloud.manager.apiUrl}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json() as typeof doc;
}, 60_000);

afterAll(async () => { await cloud?.stop(); });

describe("the OpenAPI document", () => {
  it("the checker itself flags untyped nodes and passes typed ones", () => {
    expect(untypedNodes({}, "$")).toEqual(["$ (no type)"]);
    expect(untypedNodes({ type: "object", additionalProperties: true }, "$")).toEqual(["$ (object with no properties)"]);
    expect(untypedNodes({ type: "array" }, "$")).toEqual(["$[] (array of anything)"]);
    expect(untypedNodes({ type: "object", properties: { a: { type: "array", items: {} } } }, "$")).toEqual(["$.a[] (no type)"]);
    expect(untypedNodes({ type: "array", maxItems: 0 }, "$")).toEqual([]);
    expect(untypedNodes({ anyOf: [{ type: "string" }, { type: "null" }] }, "$")).toEqual([]);
    expect(untypedNodes({ type: "object", additionalProperties: { type: "integer" } }, "$")).toEqual([]);
    expect(untypedNodes({ type: "object", properties: { id: { type: "integer" } } }, "$")).toEqual([]);
  });

  it("lists the API's routes", () => {
    const routes = Object.keys(doc.paths);
    expect(routes.filter((p) => p.startsWith("/v1/core/")).length).toBeGreaterThan(3);
    expect(routes.filter((p) => p.startsWith("/v1/admin/")).length).toBeGreaterThan(3);
  });

  it("gives every route a typed 2xx JSON response schema", () => {
    const problems: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!METHODS.has(method)) continue;
        const route = `${method.toUpperCase()} ${path}`;
        const ok = Object.entries(op.responses ?? {}).filter(([code]) => /^2\d\d$/.test(code));
        if (ok.length === 0) { problems.push(`${route}: no 2xx response`); continue; }
        for (const [code, r] of ok) {
          const schema = r.content?.["application/json"]?.schema;
          if (!schema) { problems.push(`${route} ${code}: no JSON schema`); continue; }
          for (const where of untypedNodes(schema, "$")) problems.push(`${route} ${code}: ${where}`);
        }
      }
    }
    expect(problems, problems.join("\n")).toEqual([]);
  });
});
