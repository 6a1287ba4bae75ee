// The manager's log keeps secrets out: a failing query's parameters (here the sha256 of an API
// key), driver client objects (with the cancel key), headers and fields named like secrets.
// Output is captured from pino's destination stream.
import { Writable } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "#shared/secrets.js";
import { databaseUnavailableFrom } from "#shared/errors.js";
import { openTestDatabase, type Database } from "./db/database.js";
import { apiKeys } from "./db/schema.js";
import { createManagerLogger } from "./logging.js";

function capture(): { log: ReturnType<typeof createManagerLogger>; text: () => string } {
  let out = "";
  const destination = new Writable({ write(chunk, _enc, cb) { out += String(chunk); cb(); } });
  // pino writes synchronously to a plain stream's write(); nothing is buffered.
  return { log: createManagerLogger({ level: "debug", destination: destination as unknown as NodeJS.WritableStream & { write(s: string): boolean } }), text: () => out };
}

const SECRET_KEY = "orb_logging_test_admin_key_0123456789";
const HASH = sha256(SECRET_KEY);

let database: Database & { url?: string };
beforeAll(async () => { database = await openTestDatabase(); });
afterAll(async () => { await database?.close(); });

async function failingInsert(): Promise<unknown> {
  // account 999999 does not exist: a foreign-key violation, with the key hash among the parameters.
  return database.db.insert(apiKeys).values({ accountId: 999_999, userId: 999_999, name: "leak?", keyHash: HASH }).then(() => undefined, (e: unknown) => e);
}

describe("manager log", () => {
  it("logs a failed query with its statement but without its parameters", async () => {
    const err = await failingInsert();
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toContain(HASH); // what drizzle puts in the message...
    const { log, text } = capture();
    log.error({ err }, "query failed");
    log.child({ component: "x" }).warn({ err: (err as Error).message }, "as text");
    log.error({ err: Object.assign(new Error("wrapper", { cause: err })) }, "wrapped");
    const out = text();
    expect(out).not.toContain(HASH); // ...never reaches the log
    expect(out).toContain("api_keys");
    expect(out).toContain("params: [redacted]");
    expect(out.trim().split("\n")).toHaveLength(3);
  });

  it("redacts driver clients, secret-named fields and auth headers", async () => {
    const { log, text } = capture();
    let client: unknown = Object.assign(new (class Client { secretKey = 424242; processID = 7; })(), {});
    let real: pg.Client | undefined;
    if (database.url) {
      real = new pg.Client({ connectionString: database.url });
      await real.connect();
      client = real;
    }
    try {
      const err = Object.assign(new Error("Connection terminated unexpectedly"), { client });
      log.warn({ err }, "idle client lost");
      log.warn({ client }, "a client");
      log.info({ req: { headers: { authorization: `Bearer ${SECRET_KEY}`, api_key: SECRET_KEY } }, token: "join_abc", host: { hostSecret: "hs_x", keyHash: HASH } }, "fields");
      log.error({ err: Object.assign(new Error("x"), { params: [HASH], keyHash: HASH }) }, "err fields");
      expect(databaseUnavailableFrom(err)).toBeDefined();
    } finally {
      await real?.end();
    }
    const out = text();
    for (const secret of [SECRET_KEY, HASH, "join_abc", "hs_x", "424242"]) expect(out).not.toContain(secret);
    expect(out).not.toMatch(/secretKey/);
    expect(out).toContain("[redacted]");
  });
});
