// What a host's maintenance does with each VM on it, and when it is over: pure decisions the
// `host.maintenance` job (hosts/host-maintenance.job.ts) applies at every pass.
import type { MaintenanceVmJson } from "../db/schema.js";
import type { VmState } from "../vm/vm-state-machine.js";

/** A VM the host holds (vms.host_id), as a pass reads it. */
export interface VmOnHost {
  id: number;
  state: VmState;
  /** It holds a GPU in passthrough (or a share of one, passed through too): libvirt cannot live-migrate a VFIO device. */
  passthroughGpu: boolean;
}

export type VmStep =
  /** Ask the migration service to move it (target auto). */
  | { do: "migrate"; mode: "live" | "cold" }
  /** Nothing to start now; the VM's entry becomes this (queued while waiting, blocked, stays). */
  | { do: "hold"; entry: MaintenanceVmJson }
  /** Its entry is already final or in flight: leave it. */
  | { do: "keep" };

/** States a VM passes through on its own (a job is at work): a pass waits for them to end. */
const TRANSIENT: ReadonlySet<VmState> = new Set(["Creating", "Starting", "Stopping", "Migrating", "Hibernating", "Reinstalling", "Destroying"]);
/** States that run nothing on the host: they never keep it from Maintenance. */
const NOT_RUNNING: ReadonlySet<VmState> = new Set(["Hibernated", "Down", "Unknown", "Error", "Destroyed"]);

export const PASSTHROUGH_BLOCK_REASON =
  "gpu_passthrough: a VM with a passthrough GPU cannot be live-migrated; start maintenance with allow_cold_migration to stop, move and start it, or stop the VM";

/**
 * The next step for one VM. `entry` is what earlier passes recorded for it. A failed migration is
 * not tried again within one maintenance run (POST maintenance again retries it); a blocked VM is
 * looked at again every pass (its owner may stop it, capacity may free up elsewhere).
 */
export function nextStep(vm: VmOnHost, entry: MaintenanceVmJson | undefined, allowCold: boolean): VmStep {
  if (entry && (entry.status === "migrating" || entry.status === "moved" || entry.status === "failed")) return { do: "keep" };
  if (TRANSIENT.has(vm.state)) return { do: "hold", entry: { status: "queued", reason: `waiting for the VM to leave ${vm.state}` } };
  if (NOT_RUNNING.has(vm.state)) return { do: "hold", entry: { status: "stays", reason: `the VM is ${vm.state}: it runs nothing on the host` } };
  if (vm.state === "Stopped") {
    // A stopped VM's record is moved where the migration service can (shared storage): its next
    // start is on the new host. One it refuses stays, stopped, and does not keep the host from Maintenance.
    if (entry?.status === "stays") return { do: "keep" };
    return { do: "migrate", mode: "cold" };
  }
  // Running.
  if (vm.passthroughGpu) return allowCold ? { do: "migrate", mode: "cold" } : { do: "hold", entry: { status: "blocked", reason: PASSTHROUGH_BLOCK_REASON } };
  return { do: "migrate", mode: "live" };
}

/** Whether a VM in this state keeps the host from Maintenance (it runs there, or may soon). */
export function keepsHostBusy(state: VmState): boolean {
  return state === "Running" || TRANSIENT.has(state);
}

export type PassOutcome =
  /** Nothing runs on the host any more and nothing failed: Maintenance. */
  | "maintenance"
  /** Nothing left to do, but a migration failed: ErrorInMaintenance (POST maintenance again retries). */
  | "error"
  /** VMs are queued, migrating or blocked: another pass. */
  | "continue";

/** What a pass ends in, from the VMs still on the host and the entries recorded. */
export function passOutcome(onHost: readonly VmOnHost[], entries: Readonly<Record<string, MaintenanceVmJson>>): PassOutcome {
  const inFlight = Object.values(entries).some((e) => e.status === "migrating" || e.status === "queued" || e.status === "blocked");
  if (inFlight) return "continue";
  const busy = onHost.filter((v) => keepsHostBusy(v.state));
  const failed = busy.filter((v) => entries[String(v.id)]?.status === "failed");
  if (busy.length === 0) return "maintenance";
  // Every VM still running there failed its migration: nothing more this run can do.
  if (failed.length === busy.length) return "error";
  return "continue";
}

/** Counts for the status view: total, moved, remaining (not moved and not staying). */
export function maintenanceCounts(entries: Readonly<Record<string, MaintenanceVmJson>>): { total: number; moved: number; remaining: number } {
  const all = Object.values(entries);
  const moved = all.filter((e) => e.status === "moved").length;
  const stays = all.filter((e) => e.status === "stays").length;
  return { total: all.length, moved, remaining: all.length - moved - stays };
}
