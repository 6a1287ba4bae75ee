import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AgentUnavailableError } from "#shared/errors.js";
import { AgentSessions } from "./agent-sessions.js";

const sink = () => ({ write: vi.fn(), end: vi.fn() });

describe("AgentSessions.waitForSession", () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it("resolves at once for a connected host, and when an away host's agent connects", async () => {
    const s = new AgentSessions();
    s.open(1, sink());
    await expect(s.waitForSession(1, 1000)).resolves.toBeUndefined();
    const waiting = s.waitForSession(2, 10_000);
    vi.advanceTimersByTime(5000);
    s.open(2, sink());
    await expect(waiting).resolves.toBeUndefined();
  });

  it("gives up with a retryable AgentUnavailableError (the reason given) when the deadline passes first", async () => {
    const s = new AgentSessions();
    const waiting = s.waitForSession(3, 2000, "agent of host 3 did not reconnect before its liveness deadline");
    const caught = waiting.catch((e: unknown) => e);
    vi.advanceTimersByTime(2000);
    const e = await caught;
    expect(e).toBeInstanceOf(AgentUnavailableError);
    expect(e).toMatchObject({ retryable: true, message: "agent of host 3 did not reconnect before its liveness deadline" });
    // A deadline already past fails at once.
    await expect(s.waitForSession(3, 0)).rejects.toBeInstanceOf(AgentUnavailableError);
  });

  it("releases every waiter when the manager stops", async () => {
    const s = new AgentSessions();
    const a = s.waitForSession(4, 60_000).catch((e: unknown) => e);
    const b = s.waitForSession(5, 60_000).catch((e: unknown) => e);
    s.closeAll();
    expect(await a).toMatchObject({ code: "agent_unavailable", retryable: true });
    expect(await b).toMatchObject({ code: "agent_unavailable", retryable: true });
    expect(vi.getTimerCount()).toBe(0);
  });
});
