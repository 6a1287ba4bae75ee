// The production binary's defaults are the secure ones; the embedded profile keeps the
// single-machine conveniences; database bounds have defaults and are validated.
import { describe, expect, it } from "vitest";
import { loadManagerConfig } from "./config.js";
import { DEFAULT_DATABASE_TIMEOUTS } from "./db/database.js";

describe("loadManagerConfig", () => {
  it("production (orbit-manager): mutual TLS on, one-time join tokens only", () => {
    const c = loadManagerConfig({});
    expect(c).toMatchObject({ grpcTls: true, allowStaticJoinToken: false, agentToken: undefined });
    expect(loadManagerConfig({}, { profile: "production" })).toMatchObject({ grpcTls: true, allowStaticJoinToken: false });
  });

  it("production refuses a static join token it would have to generate and print", () => {
    expect(() => loadManagerConfig({ ORBIT_ALLOW_STATIC_JOIN_TOKEN: "true" })).toThrow(/ORBIT_AGENT_TOKEN: required when ORBIT_ALLOW_STATIC_JOIN_TOKEN=true/);
    expect(loadManagerConfig({ ORBIT_ALLOW_STATIC_JOIN_TOKEN: "true", ORBIT_AGENT_TOKEN: "join_0123456789abcdef", ORBIT_GRPC_TLS: "false" }))
      .toMatchObject({ allowStaticJoinToken: true, grpcTls: false, agentToken: "join_0123456789abcdef" });
  });

  it("embedded (npm start, test harnesses): plain gRPC on loopback and a generated multi-use token", () => {
    expect(loadManagerConfig({}, { profile: "embedded" })).toMatchObject({ grpcTls: false, allowStaticJoinToken: true, agentToken: undefined });
    expect(loadManagerConfig({ ORBIT_GRPC_TLS: "true" }, { profile: "embedded" })).toMatchObject({ grpcTls: true });
  });

  it("database timeouts: defaults, overrides, and a bad value named", () => {
    expect(loadManagerConfig({}).databaseTimeouts).toEqual(DEFAULT_DATABASE_TIMEOUTS);
    expect(loadManagerConfig({ ORBIT_DB_CONNECT_TIMEOUT_MS: "2000", ORBIT_DB_STATEMENT_TIMEOUT_MS: "10000", ORBIT_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: "20000" }).databaseTimeouts)
      .toEqual({ connectMs: 2000, statementMs: 10_000, idleInTransactionMs: 20_000 });
    expect(() => loadManagerConfig({ ORBIT_DB_STATEMENT_TIMEOUT_MS: "0" })).toThrow(/^ORBIT_DB_STATEMENT_TIMEOUT_MS: /);
    expect(() => loadManagerConfig({ ORBIT_DB_CONNECT_TIMEOUT_MS: "soon" })).toThrow(/^ORBIT_DB_CONNECT_TIMEOUT_MS: /);
  });

  it("metrics: on the API port by default, on an address of their own, or off; anything else named", () => {
    expect(loadManagerConfig({}).metrics).toEqual({ on: "api" });
    expect(loadManagerConfig({ ORBIT_METRICS_ADDR: "off" }).metrics).toEqual({ on: "off" });
    expect(loadManagerConfig({ ORBIT_METRICS_ADDR: "0.0.0.0:9100" }).metrics).toEqual({ on: "own", host: "0.0.0.0", port: 9100 });
    expect(loadManagerConfig({ ORBIT_METRICS_ADDR: "[::]:9100" }).metrics).toEqual({ on: "own", host: "::", port: 9100 });
    for (const bad of ["9100", "yes", "h:99999", "http://h:1"]) {
      expect(() => loadManagerConfig({ ORBIT_METRICS_ADDR: bad })).toThrow(/^ORBIT_METRICS_ADDR: expected "api", "off" or "host:port"/);
    }
  });

  it("the agent address advertised to agents: unset by default, host:port when set, anything else named", () => {
    expect(loadManagerConfig({}).advertiseAgentAddress).toBeUndefined();
    expect(loadManagerConfig({ ORBIT_ADVERTISE_AGENT_ADDR: "m1.example.net:9090" }).advertiseAgentAddress).toBe("m1.example.net:9090");
    expect(loadManagerConfig({ ORBIT_ADVERTISE_AGENT_ADDR: "[fd00::1]:9090" }).advertiseAgentAddress).toBe("[fd00::1]:9090");
    for (const bad of ["m1", "m1:", "http://m1:9090", "m 1:9090"]) {
      expect(() => loadManagerConfig({ ORBIT_ADVERTISE_AGENT_ADDR: bad })).toThrow(/^ORBIT_ADVERTISE_AGENT_ADDR: expected "host:port"/);
    }
  });
});
