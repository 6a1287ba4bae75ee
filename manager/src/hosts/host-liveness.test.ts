import pino from "pino";
import { describe, expect, it } from "vitest";
import { HostLiveness, LivenessRule, STARTUP_GRACE_MS } from "./host-liveness.js";

const T0 = 1_000_000;

describe("LivenessRule", () => {
  it("a host is alive until its last heartbeat plus interval x miss factor", () => {
    let now = T0;
    const rule = new LivenessRule({ intervalMs: () => 10_000, missFactor: () => 3 }, () => now);
    now += 120_000;
    expect(rule.windowMs()).toBe(30_000);
    expect(rule.aliveUntil(new Date(now - 5000))).toBe(now + 25_000);
    expect(rule.staleCutoff()!.getTime()).toBe(now - 30_000);
  });

  it("counts from the manager's start: after a restart no host is stale, and every host is waited for, for one full window", () => {
    let now = T0;
    const rule = new LivenessRule({ intervalMs: () => 10_000, missFactor: () => 3 }, () => now);
    const heardBeforeTheRestart = new Date(T0 - 60_000);
    expect(rule.staleCutoff()).toBeUndefined();
    expect(rule.aliveUntil(heardBeforeTheRestart)).toBe(T0 + 30_000);
    expect(rule.aliveUntil(null)).toBe(T0 + 30_000);
    now = T0 + 29_999;
    expect(rule.staleCutoff()).toBeUndefined();
    now = T0 + 30_001;
    expect(rule.staleCutoff()!.getTime()).toBe(T0 + 1);
    expect(heardBeforeTheRestart.getTime() < rule.staleCutoff()!.getTime()).toBe(true);
  });

  it("after a start, waits at least STARTUP_GRACE_MS for hosts not heard from since, even when the window is shorter", () => {
    let now = T0;
    const rule = new LivenessRule({ intervalMs: () => 500, missFactor: () => 8 }, () => now);
    expect(rule.windowMs()).toBe(4000);
    expect(rule.aliveUntil(null)).toBe(T0 + STARTUP_GRACE_MS);
    expect(rule.aliveUntil(new Date(T0 - 1000))).toBe(T0 + STARTUP_GRACE_MS);
    now = T0 + 5000;
    // Past one window: hosts heard since the start may be stale, the others not yet.
    expect(rule.staleCutoff()!.getTime()).toBe(now - 4000);
    expect(rule.staleOnlyHeardSince()!.getTime()).toBe(T0);
    // A host heard from since the start is judged by its heartbeat and the window alone.
    expect(rule.aliveUntil(new Date(T0 + 500))).toBe(T0 + 4500);
    now = T0 + STARTUP_GRACE_MS;
    expect(rule.staleOnlyHeardSince()).toBeUndefined();
  });

  it("tells agents a reconnect backoff cap of half the window, so an agent is back before the deadline", () => {
    let interval = 10_000;
    let factor = 3;
    const rule = new LivenessRule({ intervalMs: () => interval, missFactor: () => factor }, () => T0);
    expect(rule.reconnectBackoffMaxMs()).toBe(15_000);
    interval = 500;
    factor = 4;
    expect(rule.reconnectBackoffMaxMs()).toBe(1000);
    expect(rule.reconnectBackoffMaxMs()).toBeLessThan(rule.windowMs());
  });

  it("keeps the old, longer window for one old period after the interval is shortened (no flapping)", () => {
    let now = T0;
    let interval = 30_000;
    const rule = new LivenessRule({ intervalMs: () => interval, missFactor: () => 3 }, () => now);
    now += 1_000_000;
    interval = 1000;
    rule.intervalChanged(30_000);
    expect(rule.windowMs()).toBe(90_000);
    now += 90_001;
    expect(rule.windowMs()).toBe(3000);
  });
});

describe("HostLiveness.check", () => {
  it("marks nothing stale in the first window after start, then passes the cutoff of the rule", async () => {
    let now = T0;
    const liveness = new HostLiveness({ intervalMs: () => 1000, missFactor: () => 2 }, pino({ level: "silent" }), () => now);
    const cutoffs: number[] = [];
    const heardSince: (number | undefined)[] = [];
    const after: number[][] = [];
    const loop = {
      markStale: async (c: Date, since?: Date) => { cutoffs.push(c.getTime()); heardSince.push(since?.getTime()); return [7]; },
      afterCheck: async (ids: number[]) => { after.push(ids); },
    };
    await liveness.check(loop);
    expect(cutoffs).toEqual([]);
    expect(after).toEqual([[]]);
    now += 2500;
    await liveness.check(loop);
    expect(cutoffs).toEqual([now - 2000]);
    expect(after).toEqual([[], [7]]);
    // Within the start-up grace only hosts heard since the start; after it, all.
    expect(heardSince).toEqual([T0]);
    now = T0 + STARTUP_GRACE_MS + 500;
    await liveness.check(loop);
    expect(heardSince).toEqual([T0, undefined]);
  });
});

describe("HostLiveness.followSettings", () => {
  it("gives a shortened interval its grace and tells agents the new interval and cap; ignores other settings", () => {
    let now = T0;
    let interval = 10_000;
    let factor = 3;
    const liveness = new HostLiveness({ intervalMs: () => interval, missFactor: () => factor }, pino({ level: "silent" }), () => now);
    let fire: (name: string) => void = () => undefined;
    const told: unknown[] = [];
    liveness.followSettings((l) => { fire = l; }, (s) => told.push(s));
    now += 1_000_000;
    interval = 1000;
    fire("ping.interval");
    expect(told).toEqual([{ heartbeatIntervalMs: 1000, reconnectBackoffMaxMs: 15_000 }]); // the old window still counts
    expect(liveness.windowMs()).toBe(30_000);
    now += 30_001;
    factor = 4;
    fire("ping.timeout");
    expect(told.at(-1)).toEqual({ heartbeatIntervalMs: 1000, reconnectBackoffMaxMs: 2000 });
    fire("vm.deploy.timeout.ms");
    expect(told).toHaveLength(2);
  });
});

describe("HostLiveness.marksHostsUp", () => {
  it("marks a host heard from Up before the next handler sees the event, and nothing else", async () => {
    const now = T0;
    const liveness = new HostLiveness({ intervalMs: () => 1000, missFactor: () => 2 }, pino({ level: "silent" }), () => now);
    const seen: string[] = [];
    const store = { markUp: async (id: number, at?: Date) => { seen.push(`up ${id} ${at?.getTime() ?? "-"}`); } };
    const next = {
      onConnected: async (id: number) => { seen.push(`connected ${id}`); },
      onHeartbeat: async (id: number) => { seen.push(`heartbeat ${id}`); },
      onDomainEvent: async (id: number) => { seen.push(`event ${id}`); },
      onLateResult: async (id: number) => { seen.push(`result ${id}`); },
      onDisconnected: async (id: number) => { seen.push(`disconnected ${id}`); },
    };
    const handler = liveness.marksHostsUp(store, next);
    await handler.onConnected(1);
    await handler.onHeartbeat(1, { bootId: "", domains: [] } as never);
    await handler.onDomainEvent(1, {} as never);
    await handler.onLateResult(1, {} as never);
    await handler.onDisconnected(1);
    expect(seen).toEqual([
      "up 1 -", "connected 1",
      `up 1 ${T0}`, "heartbeat 1",
      "event 1", "result 1", "disconnected 1",
    ]);
  });
});
