// The error body of every kind of failure, including the 5xx a live cloud cannot be made to give.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { AgentUnavailableError, InsufficientCapacityError } from "#shared/errors.js";
import type { ApiKeyService, Principal } from "../auth/api-key-service.js";
import { buildApiServer } from "./server.js";

let app: FastifyInstance;
beforeAll(async () => {
  const apiKeys = {
    authenticate: async (key: string | undefined): Promise<Principal> => ({ accountId: 1, userId: 1, role: key === "admin" ? "admin" : "user", keyId: 1 }),
  } as unknown as ApiKeyService;
  app = await buildApiServer({
    log: pino({ level: "silent" }), apiKeys, version: "test",
    routes: async (scoped) => {
      scoped.get("/v1/core/boom", async () => { throw new Error("database exploded"); });
      scoped.get("/v1/core/agent", async () => { throw new AgentUnavailableError("7"); });
      scoped.get("/v1/core/deadlock", async () => {
        const driver = Object.assign(new Error("deadlock detected"), { code: "40P01" });
        throw Object.assign(new Error("Failed query: update vms set x = $1\nparams: s3cr3t"), { query: "update vms set x = $1", params: ["s3cr3t"], cause: driver });
      });
      scoped.get("/v1/core/full", async () => {
        throw new InsufficientCapacityError("No host can take the VM", [
          { hostId: "7", hostName: "secret-host-7", filter: "cpu-capacity", reason: "needs 8 vCPU, 2 free" },
          { hostId: "8", hostName: "secret-host-8", filter: "cpu-capacity", reason: "needs 8 vCPU, 1 free" },
          { hostId: "9", hostName: "secret-host-9", filter: "gpu-model", reason: "no H100" },
        ]);
      });
    },
  });
  await app.ready();
});
afterAll(async () => { await app?.close(); });

describe("error bodies", () => {
  it("a 500 carries code internal and a request_id, never the cause", async () => {
    const r = await app.inject({ method: "GET", url: "/v1/core/boom", headers: { api_key: "user" } });
    expect(r.statusCode).toBe(500);
    const body = r.json();
    expect(body).toEqual({ status: false, message: expect.stringContaining(body.request_id), error_reason: "server_error", code: "internal", request_id: expect.any(String) });
    expect(r.body).not.toContain("exploded");
  });

  it("a transaction PostgreSQL aborted to break a deadlock is a 409 the client may retry, not a 500", async () => {
    const r = await app.inject({ method: "GET", url: "/v1/core/deadlock", headers: { api_key: "user" } });
    expect(r.statusCode).toBe(409);
    expect(r.headers["retry-after"]).toBe("1");
    expect(r.json()).toMatchObject({ status: false, code: "conflict", error_reason: "conflict", reason: "transaction_conflict" });
    expect(r.json().message).toMatch(/deadlock detected.*try again/);
    expect(r.body).not.toContain("s3cr3t");
  });

  it("an OrbitError 5xx carries its code and a request_id", async () => {
    const r = await app.inject({ method: "GET", url: "/v1/core/agent", headers: { api_key: "user" } });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: false, code: "agent_unavailable", error_reason: "server_error", request_id: expect.any(String) });
  });

  it("a 409 for capacity: counts per filter for users, each host's refusal in snake_case for admins", async () => {
    const user = (await app.inject({ method: "GET", url: "/v1/core/full", headers: { api_key: "user" } })).json();
    expect(user).toEqual({
      status: false, message: "No host can take the VM", error_reason: "insufficient_capacity", code: "insufficient_capacity",
      summary: { hosts_refused: 3, by_filter: [{ filter: "cpu-capacity", hosts: 2 }, { filter: "gpu-model", hosts: 1 }] },
    });
    const admin = (await app.inject({ method: "GET", url: "/v1/core/full", headers: { api_key: "admin" } })).json();
    expect(admin.rejections[0]).toEqual({ host_id: "7", host_name: "secret-host-7", filter: "cpu-capacity", reason: "needs 8 vCPU, 2 free" });
  });

  it("4xx bodies of Fastify's own errors have a code", async () => {
    const noRoute = await app.inject({ method: "GET", url: "/nowhere" });
    expect(noRoute.json()).toEqual({ status: false, message: "no route GET /nowhere", error_reason: "not_found", code: "not_found" });
    const badUrl = await app.inject({ method: "GET", url: "/v1/core/%ED%A0%80" });
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.json()).toMatchObject({ status: false, error_reason: "bad_request", code: "invalid_argument", field: "url" });
  });
});

describe("validation messages", () => {
  it("list the allowed values of a union of literals instead of repeating 'equal to constant'", async () => {
    const { validationMessage } = await import("./errors.js");
    const issues = [
      { instancePath: "/duration", schemaPath: "#/properties/duration/anyOf/0/const", keyword: "const", params: { allowedValue: "1h" }, message: "must be equal to constant" },
      { instancePath: "/duration", schemaPath: "#/properties/duration/anyOf/1/const", keyword: "const", params: { allowedValue: "2h" }, message: "must be equal to constant" },
      { instancePath: "/duration", schemaPath: "#/properties/duration/anyOf", keyword: "anyOf", params: {}, message: "must match a schema in anyOf" },
    ];
    expect(validationMessage(issues, "querystring")).toEqual({ field: "duration", message: "query parameter 'duration' must be one of \"1h\", \"2h\"" });
  });
});
