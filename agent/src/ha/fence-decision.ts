// When a host fences itself: the pure rule (self-fencer.ts acts on it).
//
// A host that has neither reached the manager nor written its storage heartbeat for
// self_fence_after_ms must assume the rest of the cluster has given up on it and will restart its
// HA VMs elsewhere: it powers its own VMs off first. "Both failing for X" means both last
// successes are at least X old, so the clock runs from the later of the two failures. Once fenced,
// a host stays fenced (no VM starts) until the manager is reached again: the manager decides.

export interface FenceInputs {
  now: number;
  /** AgentSettings.self_fence_after_ms as last told (0: off). */
  selfFenceAfterMs: number;
  /** False: no storage_heartbeat_dir, so no storage heartbeat and never any self-fencing. */
  hasHeartbeatDir: boolean;
  /** The last time anything came from the manager (registration, any stream message). */
  lastManagerContactMs: number;
  /** The last storage heartbeat write that succeeded. */
  lastHeartbeatOkMs: number;
  /** When this host fenced itself; undefined when it has not (or the manager was reached since). */
  fencedAtMs: number | undefined;
}

export type FenceDecision =
  /** Self-fencing is off (no setting, or no heartbeat dir). */
  | { action: "off"; why: string }
  /** Nothing to do; `isolatedForMs` > 0 while both the manager and the storage fail. */
  | { action: "watch"; isolatedForMs: number }
  /** Fence now: power off every Orbit-managed domain. */
  | { action: "fence"; isolatedForMs: number }
  /** Fenced and still isolated from the manager: keep the domains off. */
  | { action: "stay-fenced" }
  /** Fenced, and the manager has been reached since: no longer fenced (the manager decides). */
  | { action: "unfence" };

export function decideFence(i: FenceInputs): FenceDecision {
  if (i.fencedAtMs !== undefined) {
    return i.lastManagerContactMs > i.fencedAtMs ? { action: "unfence" } : { action: "stay-fenced" };
  }
  if (!i.hasHeartbeatDir) return { action: "off", why: "no storage heartbeat dir" };
  if (i.selfFenceAfterMs <= 0) return { action: "off", why: "self_fence_after_ms is 0" };
  const managerSilentMs = i.now - i.lastManagerContactMs;
  const storageSilentMs = i.now - i.lastHeartbeatOkMs;
  const isolatedForMs = Math.max(0, Math.min(managerSilentMs, storageSilentMs));
  return isolatedForMs >= i.selfFenceAfterMs ? { action: "fence", isolatedForMs } : { action: "watch", isolatedForMs };
}
