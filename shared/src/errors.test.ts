// Which errors mean "the database is unavailable" (503, retryable) and which are the statement's
// own fault; and that a driver's query parameters never reach an error's wire form.
import { describe, expect, it } from "vitest";
import { ConflictError, DatabaseUnavailableError, databaseUnavailableFrom, toErrorInfo, transactionConflictFrom } from "./errors.js";

const pgError = (message: string, code: string) => Object.assign(new Error(message), { code, severity: "FATAL" });
/** The shape drizzle wraps driver errors in (DrizzleQueryError): query, params, cause. */
const drizzleError = (cause: unknown, params: unknown[] = ["a3f1c0ffee"]) =>
  Object.assign(new Error(`Failed query: select 1 where x = $1\nparams: ${params.join(",")}`), { query: "select 1 where x = $1", params, cause });

describe("databaseUnavailableFrom", () => {
  it.each([
    ["admin shutdown (pg_terminate_backend, pg_ctl stop)", pgError("terminating connection due to administrator command", "57P01")],
    ["crash shutdown", pgError("terminating connection because of crash of another server process", "57P02")],
    ["starting up", pgError("the database system is starting up", "57P03")],
    ["connection failure (class 08)", pgError("connection failure", "08006")],
    ["statement timeout", pgError("canceling statement due to statement timeout", "57014")],
    ["idle-in-transaction timeout", pgError("terminating connection due to idle-in-transaction timeout", "25P03")],
    ["refused", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })],
    ["refused on every address", new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })], "")],
    ["socket lost", new Error("Connection terminated unexpectedly")],
    ["client broken mid-transaction", new Error("Client has encountered a connection error and is not queryable")],
    ["pool connect timeout", new Error("timeout exceeded when trying to connect")],
    ["wrapped by drizzle", drizzleError(pgError("terminating connection due to administrator command", "57P01"))],
  ])("recognises %s", (_what, e) => {
    const u = databaseUnavailableFrom(e);
    expect(u).toBeInstanceOf(DatabaseUnavailableError);
    expect(u).toMatchObject({ code: "database_unavailable", retryable: true });
    expect(u!.retryAfterSeconds).toBeGreaterThan(0);
    expect(u!.message).not.toContain("a3f1c0ffee");
    expect(toErrorInfo(e)).toMatchObject({ code: "database_unavailable", retryable: true });
  });

  it.each([
    ["a unique violation", drizzleError(pgError("duplicate key value violates unique constraint", "23505"))],
    ["a syntax error", pgError("syntax error at or near", "42601")],
    ["an Orbit error", new ConflictError("no")],
    ["a plain error", new Error("boom")],
    ["a non-error", "text"],
  ])("leaves %s alone", (_what, e) => {
    expect(databaseUnavailableFrom(e)).toBeUndefined();
  });
});

describe("toErrorInfo", () => {
  it("never passes a failed query's parameters on", () => {
    const info = toErrorInfo(drizzleError(pgError("duplicate key value violates unique constraint \"x\"", "23505"), ["s3cr3t-hash"]));
    expect(info).toEqual({ code: "internal", message: "database query failed: duplicate key value violates unique constraint \"x\"", retryable: false });
  });
});

describe("transactionConflictFrom", () => {
  it("a deadlock or serialization failure, wrapped by drizzle, is a retryable conflict (the job runner retries it, HTTP answers 409)", () => {
    for (const code of ["40P01", "40001"]) {
      const e = drizzleError(pgError(code === "40P01" ? "deadlock detected" : "could not serialize access", code));
      expect(transactionConflictFrom(e)).toMatchObject({ code: "conflict", retryable: true, details: { reason: "transaction_conflict" } });
      const info = toErrorInfo(e);
      expect(info).toMatchObject({ code: "conflict", retryable: true });
      expect(info.message).toContain(`SQLSTATE ${code}`);
      expect(info.message).not.toContain("a3f1c0ffee");
    }
  });

  it("other statement errors are not", () => {
    expect(transactionConflictFrom(drizzleError(pgError("duplicate key", "23505")))).toBeUndefined();
    expect(transactionConflictFrom(new ConflictError("a VM conflict"))).toBeUndefined();
  });
});
