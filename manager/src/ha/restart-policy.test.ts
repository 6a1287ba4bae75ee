import { describe, expect, it } from "vitest";
import { PowerState } from "#shared/protocol.js";
import { decideCrashRestart, restartsAfterStop, restartsOnHostLoss, stopCause, strategyAfterAction } from "./restart-policy.js";

describe("restart policy", () => {
  it("host loss: ha_enabled, Always and RerunOnFailure are restarted elsewhere; Manual, Halted, none are not", () => {
    const t: [boolean, string | null, boolean][] = [
      [true, null, true], [false, "Always", true], [false, "RerunOnFailure", true],
      [false, "Manual", false], [false, "Halted", false], [false, null, false], [true, "Manual", true],
    ];
    for (const [haEnabled, runStrategy, want] of t) expect(restartsOnHostLoss({ haEnabled, runStrategy: runStrategy as never }), `${haEnabled} ${runStrategy}`).toBe(want);
  });

  it("a domain stopping by itself: Always and HA on any stop, RerunOnFailure only on a crash", () => {
    const t: [boolean, string | null, "crashed" | "shutoff", boolean][] = [
      [false, "Always", "shutoff", true], [false, "Always", "crashed", true],
      [false, "RerunOnFailure", "crashed", true], [false, "RerunOnFailure", "shutoff", false],
      [true, null, "shutoff", true], [false, null, "crashed", false],
      [false, "Manual", "crashed", false], [true, "Halted", "crashed", false],
    ];
    for (const [haEnabled, runStrategy, how, want] of t) expect(restartsAfterStop({ haEnabled, runStrategy: runStrategy as never }, how), `${haEnabled} ${runStrategy} ${how}`).toBe(want);
  });

  it("how a domain stopped, from its host's power state and libvirt's reason or event detail", () => {
    const { POWER_STATE_SHUTOFF: OFF, POWER_STATE_CRASHED: CRASHED } = PowerState;
    const t: [PowerState, string | undefined, "crashed" | "shutoff"][] = [
      [CRASHED, undefined, "crashed"], [CRASHED, "shutdown", "crashed"],
      // libvirt: a killed QEMU is "shut off (crashed)", its event "Stopped Failed"; a guest poweroff "shut off (shutdown)".
      [OFF, "crashed", "crashed"], [OFF, "failed", "crashed"], [OFF, "Failed", "crashed"],
      [OFF, "shutdown", "shutoff"], [OFF, "destroyed", "shutoff"], [OFF, "", "shutoff"], [OFF, undefined, "shutoff"],
    ];
    for (const [p, reason, want] of t) expect(stopCause(p, reason), `${PowerState[p]} ${reason}`).toBe(want);
  });

  it("KubeVirt's strategy changes on start and stop", () => {
    expect(strategyAfterAction("Always", "stop")).toBe("Halted");
    expect(strategyAfterAction("Always", "shutdown")).toBe("Halted");
    expect(strategyAfterAction("Halted", "start")).toBe("Always");
    expect(strategyAfterAction("RerunOnFailure", "stop")).toBeUndefined();
    expect(strategyAfterAction("Manual", "start")).toBeUndefined();
    expect(strategyAfterAction(null, "stop")).toBeUndefined();
    expect(strategyAfterAction("Always", "reboot")).toBeUndefined();
  });

  describe("crash restarts", () => {
    const limits = { maxRetries: 3, backoffMs: 1000, timeBetweenFailuresMs: 60_000 };
    const now = new Date("2026-01-01T00:10:00Z");
    const ago = (ms: number) => new Date(now.getTime() - ms);
    it("backs off doubling, then gives up with the reason", () => {
      expect(decideCrashRestart({ restarts: 0, lastRestartAt: null }, limits, now)).toEqual({ restart: true, afterMs: 1000, restarts: 1 });
      expect(decideCrashRestart({ restarts: 1, lastRestartAt: ago(5000) }, limits, now)).toEqual({ restart: true, afterMs: 2000, restarts: 2 });
      expect(decideCrashRestart({ restarts: 2, lastRestartAt: ago(5000) }, limits, now)).toEqual({ restart: true, afterMs: 4000, restarts: 3 });
      const d = decideCrashRestart({ restarts: 3, lastRestartAt: ago(5000) }, limits, now);
      expect(d).toMatchObject({ restart: false, reason: expect.stringMatching(/crash loop.*3 restarts/) });
    });
    it("a VM that ran longer than time.between.failures starts counting afresh", () => {
      expect(decideCrashRestart({ restarts: 3, lastRestartAt: ago(60_000) }, limits, now)).toEqual({ restart: true, afterMs: 1000, restarts: 1 });
    });
    it("max.retries 0 never restarts; the backoff is capped at 5 minutes", () => {
      expect(decideCrashRestart({ restarts: 0, lastRestartAt: null }, { ...limits, maxRetries: 0 }, now).restart).toBe(false);
      expect(decideCrashRestart({ restarts: 20, lastRestartAt: ago(1) }, { ...limits, maxRetries: 50 }, now)).toMatchObject({ afterMs: 300_000 });
    });
  });
});
