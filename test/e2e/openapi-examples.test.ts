// /openapi.json shows an example of every request body and 2xx answer, and each example is valid
// against the schema beside it (ajv, as the server validates requests), so a reader of /docs can
// send what they see and expects what they get. A route added without examples fails here with
// the line to add and the file to add it to.
import { Ajv, type ErrorObject } from "ajv";
import * as ajvFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleFileFor, OPERATION_EXAMPLES } from "../../manager/src/api/openapi-examples.js";
import { startTestCloud, type TestCloud } from "./harness.js";

// ajv-formats is CommonJS: its default export arrives as `default` or as the module itself.
const addFormats = ((ajvFormats as unknown as { default?: unknown }).default ?? ajvFormats) as (ajv: Ajv) => Ajv;

interface Media { schema?: object; example?: unknown }
interface Operation {
  requestBody?: { content?: Record<string, Media> };
  responses?: Record<string, { content?: Record<string, Media> }>;
}
type Doc = { paths: Record<string, Record<string, Operation>> };

const METHODS = new Set(["get", "post", "put", "patch", "delete"]);
let cloud: TestCloud;
let doc: Doc;

/** OpenAPI 3.0 schemas are JSON Schema plus `nullable` (which ajv knows) and `example` (ignored). */
function validator(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message ?? e.keyword}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ""}`).join("; ");
}

/** What is wrong with the examples of one operation (empty: complete and valid). */
export function exampleProblems(ajv: Ajv, method: string, path: string, op: Operation): string[] {
  const route = `${method.toUpperCase()} ${path}`;
  const where = `add them under "${route}" in ${exampleFileFor(path)} ({ request?: <body>, response: <2xx answer> })`;
  const problems: string[] = [];
  const body = op.requestBody?.content?.["application/json"];
  if (body?.schema) {
    if (body.example === undefined) problems.push(`${route}: no request body example; ${where}`);
    else if (!ajv.validate(body.schema, body.example)) problems.push(`${route}: the request example does not match the body schema: ${describeErrors(ajv.errors)} (fix it in ${exampleFileFor(path)})`);
  }
  const ok = Object.keys(op.responses ?? {}).filter((code) => /^2\d\d$/.test(code)).sort()[0];
  const answer = ok === undefined ? undefined : op.responses![ok]!.content?.["application/json"];
  if (answer?.schema) {
    if (answer.example === undefined) problems.push(`${route}: no ${ok} response example; ${where}`);
    else if (!ajv.validate(answer.schema, answer.example)) problems.push(`${route}: the ${ok} response example does not match the response schema: ${describeErrors(ajv.errors)} (fix it in ${exampleFileFor(path)})`);
  }
  return problems;
}

function operations(): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).filter(([m]) => METHODS.has(m)).map(([m, op]) => [m, path, op] as [string, string, Operation]));
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [] });
  const res = await fetch(`${cloud.manager.apiUrl}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json() as Doc;
}, 60_000);

afterAll(async () => { await cloud?.stop(); });

describe("examples in /openapi.json", () => {
  it("the checker refuses a missing example and an invalid one, naming the route and the file", () => {
    const ajv = validator();
    const schema = { type: "object", required: ["name"], properties: { name: { type: "string", nullable: false }, ip: { type: "string", nullable: true } }, additionalProperties: false };
    const op = (example: unknown): Operation => ({ requestBody: { content: { "application/json": { schema, example } } } });
    expect(exampleProblems(ajv, "post", "/v1/core/things", op({ name: "a", ip: null }))).toEqual([]);
    expect(exampleProblems(ajv, "post", "/v1/core/things", op(undefined))).toEqual([
      `POST /v1/core/things: no request body example; add them under "POST /v1/core/things" in manager/src/api/hyperstack/examples.ts ({ request?: <body>, response: <2xx answer> })`,
    ]);
    const [bad] = exampleProblems(ajv, "post", "/v1/admin/things", op({ name: 1, extra: true }));
    expect(bad).toMatch(/^POST \/v1\/admin\/things: the request example does not match the body schema: .*must NOT have additional properties.*\/name must be string.*manager\/src\/api\/admin\/examples\.ts/);
    const answer = (example: unknown): Operation => ({ responses: { 200: { content: { "application/json": { schema: { type: "object", properties: { at: { type: "string", format: "date-time" } } }, example } } } } });
    expect(exampleProblems(ajv, "get", "/v1/core/things", answer({ at: "yesterday" }))[0]).toMatch(/\/at must match format "date-time"/);
  });

  it("every request body and 2xx JSON answer has an example that validates against its schema", () => {
    const ajv = validator();
    const ops = operations();
    expect(ops.length).toBeGreaterThan(50);
    const problems = ops.flatMap(([method, path, op]) => exampleProblems(ajv, method, path, op));
    expect(problems, `\n${problems.join("\n")}`).toEqual([]);
  });

  it("every example names an operation of the API, with a request example only where it takes a body", () => {
    const known = new Map(operations().map(([m, p, op]) => [`${m.toUpperCase()} ${p}`, op]));
    const stale: string[] = [];
    for (const [route, example] of Object.entries(OPERATION_EXAMPLES)) {
      const op = known.get(route);
      if (!op) stale.push(`${route}: no such operation in /openapi.json (renamed or removed? paths are written /x/{id})`);
      else if (example.request !== undefined && !op.requestBody) stale.push(`${route}: has a request example but takes no body`);
    }
    expect(stale, `\n${stale.join("\n")}`).toEqual([]);
  });
});
