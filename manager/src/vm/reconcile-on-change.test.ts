import { describe, expect, it, vi } from "vitest";
import { PowerState, type Heartbeat } from "#shared/protocol.js";
import type { HostStreamHandler } from "../agents/agent-gateway.js";
import { ReconcileOnChange, reportDigest } from "./reconcile-on-change.js";

const beat = (domains: [string, PowerState][], bootId = "boot-1", seq = 1): Heartbeat => ({
  seq, sentAtMs: 1000 + seq, freeMemoryMib: 1000 - seq, bootId,
  domains: domains.map(([vmUuid, powerState]) => ({ vmUuid, name: `vm-${vmUuid}`, powerState, reason: "" })),
} as unknown as Heartbeat);

function handlers() {
  const full: HostStreamHandler = {
    onConnected: vi.fn(async () => undefined), onHeartbeat: vi.fn(async () => undefined), onDomainEvent: vi.fn(async () => undefined),
    onLateResult: vi.fn(async () => undefined), onDisconnected: vi.fn(async () => undefined),
  };
  const routine = { onHeartbeat: vi.fn(async () => undefined) };
  return { full, routine };
}

describe("reportDigest", () => {
  it("changes with the boot id and the domains' power states, not with seq, clock or domain order", () => {
    const a = beat([["a", PowerState.POWER_STATE_RUNNING], ["b", PowerState.POWER_STATE_SHUTOFF]], "boot-1", 1);
    expect(reportDigest(a)).toBe(reportDigest(beat([["b", PowerState.POWER_STATE_SHUTOFF], ["a", PowerState.POWER_STATE_RUNNING]], "boot-1", 9)));
    expect(reportDigest(a)).not.toBe(reportDigest(beat([["a", PowerState.POWER_STATE_RUNNING], ["b", PowerState.POWER_STATE_RUNNING]])));
    expect(reportDigest(a)).not.toBe(reportDigest(beat([["a", PowerState.POWER_STATE_RUNNING], ["b", PowerState.POWER_STATE_SHUTOFF]], "boot-2")));
    expect(reportDigest(a)).not.toBe(reportDigest(beat([["a", PowerState.POWER_STATE_RUNNING]])));
  });

  it("ignores the uuid's case; changes with a domain's name or reason, and when two domains swap states", () => {
    const two = (x: PowerState, y: PowerState) => beat([["aa-1", x], ["bb-2", y]]);
    const a = two(PowerState.POWER_STATE_RUNNING, PowerState.POWER_STATE_SHUTOFF);
    const upper = { ...a, domains: [{ ...a.domains[0]!, vmUuid: "AA-1" }, a.domains[1]!] };
    expect(reportDigest(a)).toBe(reportDigest(upper));
    expect(reportDigest(a)).not.toBe(reportDigest(two(PowerState.POWER_STATE_SHUTOFF, PowerState.POWER_STATE_RUNNING)));
    const renamed = { ...a, domains: [{ ...a.domains[0]!, name: "other" }, a.domains[1]!] };
    expect(reportDigest(a)).not.toBe(reportDigest(renamed));
    const reason = { ...a, domains: [a.domains[0]!, { ...a.domains[1]!, reason: "crashed" }] };
    expect(reportDigest(a)).not.toBe(reportDigest(reason));
    expect(reportDigest(beat([]))).not.toBe(reportDigest(beat([], "boot-2")));
  });
});

describe("ReconcileOnChange", () => {
  it("reconciles the first heartbeat, a changed report and a due periodic pass; the rest go the routine path", async () => {
    let now = 0;
    const gate = new ReconcileOnChange({ fullEveryMs: () => 60_000, now: () => now, random: () => 0.5 });
    const { full, routine } = handlers();
    const h = gate.handler(full, routine);
    const same = beat([["a", PowerState.POWER_STATE_RUNNING]]);
    await h.onHeartbeat(1, same);
    await h.onHeartbeat(1, beat([["a", PowerState.POWER_STATE_RUNNING]], "boot-1", 2));
    expect(full.onHeartbeat).toHaveBeenCalledTimes(1);
    expect(routine.onHeartbeat).toHaveBeenCalledTimes(1);
    await h.onHeartbeat(1, beat([["a", PowerState.POWER_STATE_SHUTOFF]]));
    expect(full.onHeartbeat).toHaveBeenCalledTimes(2);
    now = 59_999; // jitter 0.5 → due after exactly 60 s
    await h.onHeartbeat(1, beat([["a", PowerState.POWER_STATE_SHUTOFF]]));
    expect(full.onHeartbeat).toHaveBeenCalledTimes(2);
    now = 60_000;
    await h.onHeartbeat(1, beat([["a", PowerState.POWER_STATE_SHUTOFF]]));
    expect(full.onHeartbeat).toHaveBeenCalledTimes(3);
  });

  it("tries again at the next heartbeat after a failed pass, and after the stream reopened", async () => {
    const gate = new ReconcileOnChange({ fullEveryMs: () => 60_000, now: () => 0 });
    const { full, routine } = handlers();
    const h = gate.handler(full, routine);
    const hb = beat([]);
    vi.mocked(full.onHeartbeat).mockRejectedValueOnce(new Error("database away"));
    await expect(h.onHeartbeat(2, hb)).rejects.toThrow("database away");
    await h.onHeartbeat(2, hb);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(2);
    await h.onHeartbeat(2, hb);
    expect(routine.onHeartbeat).toHaveBeenCalledTimes(1);
    await h.onDisconnected(2);
    await h.onConnected(2);
    await h.onHeartbeat(2, hb);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(3);
    expect(full.onConnected).toHaveBeenCalledWith(2);
  });

  it("reconciles every heartbeat of a host for a while after a command result or domain event on its stream", async () => {
    let now = 0;
    const gate = new ReconcileOnChange({ fullEveryMs: () => 60_000, activeForMs: 10_000, now: () => now, random: () => 0.5 });
    const { full, routine } = handlers();
    const h = gate.handler(full, routine);
    const hb = beat([["a", PowerState.POWER_STATE_RUNNING]]);
    await h.onHeartbeat(3, hb);
    await h.onHeartbeat(3, hb);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(1);
    gate.active(3); // a command result
    await h.onHeartbeat(3, hb);
    now = 9_999;
    await h.onHeartbeat(3, hb);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(3);
    now = 10_000;
    await h.onHeartbeat(3, hb);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(3);
    await h.onDomainEvent(3, {} as never);
    await h.onHeartbeat(3, hb);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(4);
    expect(routine.onHeartbeat).toHaveBeenCalledTimes(2);
  });

  it("reconciles an unchanged heartbeat that brought its host back Up (its VMs may have gone Unknown)", async () => {
    const gate = new ReconcileOnChange({ fullEveryMs: () => 60_000, now: () => 0 });
    const { full } = handlers();
    const routine = { onHeartbeat: vi.fn(async (hostId: number) => { gate.cameBackUp(hostId); }) };
    const h = gate.handler(full, routine);
    const hb = beat([["a", PowerState.POWER_STATE_RUNNING]]);
    await h.onHeartbeat(4, hb);
    await h.onHeartbeat(4, hb); // routine, which finds the host was not Up: full after all
    expect(routine.onHeartbeat).toHaveBeenCalledTimes(1);
    expect(full.onHeartbeat).toHaveBeenCalledTimes(2);
  });
});
