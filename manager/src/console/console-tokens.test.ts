import { describe, expect, it } from "vitest";
import { ConsoleTokens, MAX_TOKENS_PER_VM, hashConsoleToken } from "./console-tokens.js";

const target = { vmId: 7, vmUuid: "0e0e0e0e-0000-4000-8000-000000000007", hostId: 3 };

function tokensAt(ttlMs = 60_000) {
  const clock = { now: 1_000_000 };
  return { clock, tokens: new ConsoleTokens(() => ttlMs, () => clock.now) };
}

describe("ConsoleTokens", () => {
  it("issues a random token valid for the ttl, and stores only its hash", () => {
    const { tokens } = tokensAt();
    const a = tokens.issue(target);
    const b = tokens.issue(target);
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.expiresAt.getTime()).toBe(1_000_000 + 60_000);
    const stored = tokens.storedHashes();
    expect(stored.sort()).toEqual([hashConsoleToken(a.token), hashConsoleToken(b.token)].sort());
    expect(stored).not.toContain(a.token);
    expect(hashConsoleToken(a.token)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("answers the target once: a second use is refused", () => {
    const { tokens } = tokensAt();
    const { token } = tokens.issue(target);
    expect(tokens.consume(token)).toEqual(target);
    expect(tokens.consume(token)).toBeUndefined();
    expect(tokens.storedHashes()).toEqual([]);
  });

  it("refuses a token at and after its expiry, and forgets expired ones", () => {
    const { clock, tokens } = tokensAt(1000);
    const early = tokens.issue(target);
    const late = tokens.issue(target);
    clock.now += 999;
    expect(tokens.consume(early.token)).toEqual(target);
    clock.now += 1;
    expect(tokens.consume(late.token)).toBeUndefined();
    tokens.issue(target);
    clock.now += 1000;
    expect(tokens.storedHashes()).toEqual([]);
  });

  it("refuses an unknown token, and the unused tokens of a VM whose console was closed", () => {
    const { tokens } = tokensAt();
    expect(tokens.consume("nope")).toBeUndefined();
    const mine = tokens.issue(target);
    const other = tokens.issue({ ...target, vmId: 8 });
    expect(tokens.revokeVm(7)).toBe(1);
    expect(tokens.consume(mine.token)).toBeUndefined();
    expect(tokens.consume(other.token)).toMatchObject({ vmId: 8 });
  });

  it("keeps at most MAX_TOKENS_PER_VM unused tokens per VM, forgetting the oldest", () => {
    const { tokens } = tokensAt();
    const issued = Array.from({ length: MAX_TOKENS_PER_VM + 2 }, () => tokens.issue(target).token);
    const other = tokens.issue({ ...target, vmId: 9 });
    expect(tokens.storedHashes()).toHaveLength(MAX_TOKENS_PER_VM + 1);
    expect(tokens.consume(issued[0]!)).toBeUndefined();
    expect(tokens.consume(issued[1]!)).toBeUndefined();
    expect(tokens.consume(issued[2]!)).toEqual(target);
    expect(tokens.consume(issued.at(-1)!)).toEqual(target);
    expect(tokens.consume(other.token)).toMatchObject({ vmId: 9 });
  });
});
