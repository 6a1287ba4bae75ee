import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { consoleTokens } from "../db/schema.js";
import { seedBasics, sqlRows } from "../placement/testing/placement-fixture.js";
import { ConsoleTokens, MAX_TOKENS_PER_VM, hashConsoleToken } from "./console-tokens.js";

let database: Database;
let target: { vmId: number; vmUuid: string; hostId: number };
let otherVm: number;

beforeAll(async () => {
  database = await openTestDatabase();
  const ids = await seedBasics(database.db);
  const vm = async (name: string) => {
    const uuid = randomUUID();
    const [r] = await sqlRows<{ id: number }>(database.db, sql`insert into vms(uuid, name, account_id, environment_id, flavor_id, image_id, state, vcpus, memory_mib)
      values (${uuid}, ${name}, ${ids.accountId}, ${ids.envId}, ${ids.flavorId}, ${ids.imageId}, 'Running', 1, 512) returning id`);
    return { id: r!.id, uuid };
  };
  const a = await vm("console-a");
  target = { vmId: a.id, vmUuid: a.uuid, hostId: 3 };
  otherVm = (await vm("console-b")).id;
}, 60_000);
afterAll(async () => { await database?.close(); });
beforeEach(async () => { await database.db.delete(consoleTokens); });

function tokensAt(ttlMs = 60_000) {
  const clock = { now: Date.parse("2026-12-05T07:00:00Z") };
  return { clock, tokens: new ConsoleTokens(database.db, () => ttlMs, () => clock.now) };
}

describe("ConsoleTokens (in the database, shared by managers)", () => {
  it("issues a random token valid for the ttl, and stores only its hash", async () => {
    const { clock, tokens } = tokensAt();
    const a = await tokens.issue(target);
    const b = await tokens.issue(target);
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.expiresAt.getTime()).toBe(clock.now + 60_000);
    const stored = await tokens.storedHashes();
    expect(stored.sort()).toEqual([hashConsoleToken(a.token), hashConsoleToken(b.token)].sort());
    expect(stored).not.toContain(a.token);
    expect(hashConsoleToken(a.token)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("answers the target once: a second use is refused; peeking does not use it", async () => {
    const { tokens } = tokensAt();
    const { token } = await tokens.issue(target);
    expect(await tokens.peek(token)).toEqual(target);
    expect(await tokens.peek(token)).toEqual(target);
    expect(await tokens.consume(token)).toEqual(target);
    expect(await tokens.consume(token)).toBeUndefined();
    expect(await tokens.peek(token)).toBeUndefined();
    expect(await tokens.storedHashes()).toEqual([]);
  });

  it("another manager's instance (same database) consumes a token this one issued, once", async () => {
    const { clock, tokens } = tokensAt();
    const elsewhere = new ConsoleTokens(database.db, () => 60_000, () => clock.now);
    const { token } = await tokens.issue(target);
    const both = await Promise.all([elsewhere.consume(token), tokens.consume(token)]);
    expect(both.filter(Boolean)).toEqual([target]);
  });

  it("refuses a token at and after its expiry, and forgets expired ones", async () => {
    const { clock, tokens } = tokensAt(1000);
    const early = await tokens.issue(target);
    const late = await tokens.issue(target);
    clock.now += 999;
    expect(await tokens.consume(early.token)).toEqual(target);
    clock.now += 1;
    expect(await tokens.peek(late.token)).toBeUndefined();
    expect(await tokens.consume(late.token)).toBeUndefined();
    await tokens.issue(target);
    clock.now += 1000;
    expect(await tokens.storedHashes()).toEqual([]);
  });

  it("refuses an unknown token, and the unused tokens of a VM whose console was closed", async () => {
    const { tokens } = tokensAt();
    expect(await tokens.consume("nope")).toBeUndefined();
    const mine = await tokens.issue(target);
    const other = await tokens.issue({ ...target, vmId: otherVm });
    expect(await tokens.revokeVm(target.vmId)).toBe(1);
    expect(await tokens.consume(mine.token)).toBeUndefined();
    expect(await tokens.consume(other.token)).toMatchObject({ vmId: otherVm });
  });

  it("keeps at most MAX_TOKENS_PER_VM unused tokens per VM, forgetting the oldest", async () => {
    const { clock, tokens } = tokensAt();
    const issued: string[] = [];
    for (let i = 0; i < MAX_TOKENS_PER_VM + 2; i++) {
      issued.push((await tokens.issue(target)).token);
      clock.now += 1;
    }
    const other = await tokens.issue({ ...target, vmId: otherVm });
    expect(await tokens.storedHashes()).toHaveLength(MAX_TOKENS_PER_VM + 1);
    expect(await tokens.consume(issued[0]!)).toBeUndefined();
    expect(await tokens.consume(issued[1]!)).toBeUndefined();
    expect(await tokens.consume(issued[2]!)).toEqual(target);
    expect(await tokens.consume(issued.at(-1)!)).toEqual(target);
    expect(await tokens.consume(other.token)).toMatchObject({ vmId: otherVm });
  });
});
