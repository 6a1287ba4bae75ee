// Every log line of a request carries its reqId: the caller's X-Request-Id when well-formed, else a
// new UUID, answered in X-Request-Id and in a 5xx body; the request observer sees the route pattern.
import pino from "pino";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import type { ApiKeyService, Principal } from "../auth/api-key-service.js";
import { buildApiServer } from "./server.js";

const lines: Record<string, unknown>[] = [];
const observed: unknown[][] = [];
let app: FastifyInstance;
beforeAll(async () => {
  const apiKeys = {
    authenticate: async (): Promise<Principal> => ({ accountId: 1, userId: 1, role: "admin", keyId: 1 }),
  } as unknown as ApiKeyService;
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  app = await buildApiServer({
    log: pino({ level: "info" }, sink), apiKeys, version: "test",
    requestObserver: { observeRequest: (...a) => { observed.push(a); } },
    metrics: async () => ({ contentType: "text/plain; version=0.0.4; charset=utf-8", body: "orbit_test 1\n" }),
    routes: async (scoped) => {
      scoped.get("/v1/core/things/:id", async (req) => { req.log.info("handling a thing"); return { ok: true }; });
      scoped.get("/v1/core/boom", async () => { throw new Error("exploded"); });
    },
  });
  await app.ready();
});
afterAll(async () => { await app?.close(); });

describe("request ids", () => {
  it("takes a well-formed X-Request-Id, puts it on every line of the request and answers it", async () => {
    const r = await app.inject({ method: "GET", url: "/v1/core/things/42", headers: { "x-request-id": "lb-abc.123" } });
    expect(r.statusCode).toBe(200);
    expect(r.headers["x-request-id"]).toBe("lb-abc.123");
    const mine = lines.filter((l) => l.reqId === "lb-abc.123").map((l) => l.msg);
    expect(mine).toEqual(["incoming request", "handling a thing", "request completed"]);
  });

  it.each([["too long", "x".repeat(65)], ["spaces", "a b"], ["injection", 'a"}{"msg":"x']])("makes a new UUID for an id with %s", async (_why, given) => {
    const r = await app.inject({ method: "GET", url: "/v1/core/things/1", headers: { "x-request-id": given } });
    expect(r.headers["x-request-id"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it("two requests without one get different ids; a 5xx body quotes its id", async () => {
    const [a, b] = [await app.inject({ method: "GET", url: "/v1/core/things/1" }), await app.inject({ method: "GET", url: "/v1/core/boom" })];
    expect(a.headers["x-request-id"]).not.toBe(b.headers["x-request-id"]);
    expect(b.statusCode).toBe(500);
    expect(b.json().request_id).toBe(b.headers["x-request-id"]);
    expect(lines.some((l) => l.reqId === b.headers["x-request-id"] && l.msg === "unhandled error")).toBe(true);
  });
});

describe("request observer and /metrics", () => {
  it("sees the route pattern, the method and the status; an unknown path as no route", async () => {
    observed.length = 0;
    await app.inject({ method: "GET", url: "/v1/core/things/77" });
    await app.inject({ method: "GET", url: "/v1/core/nothing/here" });
    expect(observed.map(([m, route, status]) => [m, route, status])).toEqual([
      ["GET", "/v1/core/things/:id", 200],
      ["GET", undefined, 404],
    ]);
    expect(observed.every((o) => typeof o[3] === "number" && o[3] >= 0)).toBe(true);
  });

  it("serves /metrics without a key, outside the OpenAPI document", async () => {
    const r = await app.inject({ method: "GET", url: "/metrics" });
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(r.body).toBe("orbit_test 1\n");
    const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).not.toContain("/metrics");
    expect(Object.keys(doc.paths)).toContain("/v1/core/things/{id}");
  });
});
