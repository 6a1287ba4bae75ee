// Which VMs HA restarts, and when, as KubeVirt's run strategies and CloudStack's HA flag say:
//   - lost with their host (host Down): ha_enabled VMs, and run strategy Always or RerunOnFailure
//     (a lost host is a failure for both), are placed again elsewhere; the others go Down.
//   - stopped without an API call (crash, guest poweroff) on a live host: ha_enabled and Always
//     restart on any stop; RerunOnFailure only on a failure (the domain crashed), not a clean
//     guest poweroff; Manual, Halted and none never.
//   - API actions change the strategy as KubeVirt's virtctl does: stop/shutdown of an Always VM
//     sets Halted (so it is not restarted and stays stopped), start of a Halted VM sets Always.
import { PowerState } from "#shared/protocol.js";
import type { RunStrategy } from "../vm/vm-lifecycle-options.js";

export interface HaVm { haEnabled: boolean; runStrategy: RunStrategy | null }

/** Whether the VM is restarted on another host when its host is declared Down. */
export function restartsOnHostLoss(vm: HaVm): boolean {
  return vm.haEnabled || vm.runStrategy === "Always" || vm.runStrategy === "RerunOnFailure";
}

/** Whether a domain that stopped by itself ("crashed" or a clean "shutoff") is started again on its host. */
export function restartsAfterStop(vm: HaVm, how: "crashed" | "shutoff"): boolean {
  if (vm.runStrategy === "Halted" || vm.runStrategy === "Manual") return false;
  if (vm.haEnabled || vm.runStrategy === "Always") return true;
  return vm.runStrategy === "RerunOnFailure" && how === "crashed";
}

/**
 * How a domain that stopped by itself stopped, from its host's report: a failure when the
 * hypervisor says it crashed, or when libvirt's reason says its QEMU died (a killed or failed
 * emulator is state "shut off", reason "crashed"; its lifecycle event "Stopped Failed"), else a
 * clean shutoff (the guest powered off: reason "shutdown").
 */
export function stopCause(powerState: PowerState, reason: string | undefined): "crashed" | "shutoff" {
  if (powerState === PowerState.POWER_STATE_CRASHED) return "crashed";
  return /^(crashed|failed)\b/i.test((reason ?? "").trim()) ? "crashed" : "shutoff";
}

/** The strategy after a user's power action (KubeVirt): unchanged when undefined. */
export function strategyAfterAction(current: RunStrategy | null, action: string): RunStrategy | undefined {
  if ((action === "stop" || action === "shutdown") && current === "Always") return "Halted";
  if ((action === "start" || action === "hibernate-restore") && current === "Halted") return "Always";
  return undefined;
}

export interface CrashHistory {
  /** Restarts counted so far, and when the last one was queued (null: none). */
  restarts: number;
  lastRestartAt: Date | null;
}

export interface CrashLimits { maxRetries: number; backoffMs: number; timeBetweenFailuresMs: number }

export type CrashDecision = { restart: true; afterMs: number; restarts: number } | { restart: false; reason: string };

/**
 * Another restart after the domain stopped by itself, with its wait (backoff doubling from
 * backoffMs, at most 5 minutes), or a crash loop: more than maxRetries restarts with less than
 * time.between.failures between them.
 */
export function decideCrashRestart(h: CrashHistory, limits: CrashLimits, now: Date): CrashDecision {
  const calm = h.lastRestartAt === null || now.getTime() - h.lastRestartAt.getTime() >= limits.timeBetweenFailuresMs;
  const count = calm ? 0 : h.restarts;
  if (count >= limits.maxRetries) {
    return { restart: false, reason: `crash loop: the domain stopped again after ${count} restarts within time.between.failures (max.retries ${limits.maxRetries}); not restarted` };
  }
  return { restart: true, afterMs: Math.min(300_000, limits.backoffMs * 2 ** count), restarts: count + 1 };
}
