// Examples in /openapi.json (and so in /docs): one request body and one 2xx answer per operation,
// kept beside each dialect (hyperstack/examples.ts, admin/examples.ts) rather than in the route
// schemas, and attached to the finished document. test/e2e/openapi-examples.test.ts checks that
// every operation has them and that they validate against its schemas.

import { adminExamples } from "./admin/examples.js";
import { hyperstackExamples } from "./hyperstack/examples.js";

/** An operation's examples: the JSON body it accepts (if it takes one) and the JSON of its 2xx answer. */
export interface OperationExample {
  request?: unknown;
  response: unknown;
}

/** Keyed by "METHOD /path" as /openapi.json writes it: `GET /v1/core/virtual-machines/{id}`. */
export type OperationExamples = Record<string, OperationExample>;

/** Where each dialect's examples live: the file to add a new route's examples to. */
export const EXAMPLE_FILES = {
  "/v1/admin/": "manager/src/api/admin/examples.ts",
  "/v1/": "manager/src/api/hyperstack/examples.ts",
} as const;

export const OPERATION_EXAMPLES: OperationExamples = { ...hyperstackExamples, ...adminExamples };

/** The file an operation's examples belong in. */
export function exampleFileFor(path: string): string {
  return path.startsWith("/v1/admin/") ? EXAMPLE_FILES["/v1/admin/"] : EXAMPLE_FILES["/v1/"];
}

interface MediaType { example?: unknown }
interface Operation {
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { content?: Record<string, MediaType> }>;
}

const METHODS = new Set(["get", "put", "post", "delete", "patch"]);

/** Sets `example` on each operation's JSON request body and on its lowest 2xx JSON answer (in place). */
export function attachExamples<T extends { paths?: unknown }>(doc: T, examples: OperationExamples = OPERATION_EXAMPLES): T {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, unknown> | undefined>;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item ?? {})) {
      if (!METHODS.has(method) || !op || typeof op !== "object") continue;
      const example = examples[`${method.toUpperCase()} ${path}`];
      if (!example) continue;
      const operation = op as Operation;
      const body = operation.requestBody?.content?.["application/json"];
      if (body && example.request !== undefined) body.example = example.request;
      const ok = Object.keys(operation.responses ?? {}).filter((code) => /^2\d\d$/.test(code)).sort()[0];
      const answer = ok === undefined ? undefined : operation.responses![ok]!.content?.["application/json"];
      if (answer) answer.example = example.response;
    }
  }
  return doc;
}
