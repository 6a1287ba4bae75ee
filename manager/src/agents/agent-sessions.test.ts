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

describe("AgentSessions outbound bound", () => {
  it("refuses a command, retryable and saying why, when the host has as many awaiting answers as allowed", async () => {
    const s = new AgentSessions(undefined, { commandsInFlight: 2, bufferedBytes: 1_000_000 });
    const out = sink();
    s.open(1, out);
    const cmd = (id: string) => ({ commandId: id, deadlineMs: 0, vmUuid: "", body: { $case: "stopVm", value: { mode: 0, timeoutMs: 0 } } }) as never;
    const a = s.dispatch(1, cmd("a"), 60_000);
    const b = s.dispatch(1, cmd("b"), 60_000);
    const e = await s.dispatch(1, cmd("c"), 60_000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentUnavailableError);
    expect(e).toMatchObject({ retryable: true, message: "host 1 already has 2 commands awaiting its agent's answer (the limit is 2); try again later" });
    expect(out.write).toHaveBeenCalledTimes(2);
    // The same command id again waits with the one sent; an answer frees a place.
    expect(s.dispatch(1, cmd("a"), 60_000)).toBe(a);
    s.resolve(1, { commandId: "a", ok: true } as never);
    await a;
    const c = s.dispatch(1, cmd("c"), 60_000);
    expect(out.write).toHaveBeenCalledTimes(3);
    s.closeAll();
    await Promise.allSettled([b, c]);
  });

  it("refuses a command while the stream has more bytes unsent than allowed", async () => {
    const s = new AgentSessions(undefined, { commandsInFlight: 100, bufferedBytes: 1000 });
    s.open(1, { ...sink(), buffered: () => 5000 });
    await expect(s.dispatch(1, { commandId: "x", deadlineMs: 0, vmUuid: "" } as never, 1000))
      .rejects.toMatchObject({ code: "agent_unavailable", message: "the stream to host 1 has 5000 bytes not yet sent (the limit is 1000); try again later" });
    s.closeAll();
  });
});
