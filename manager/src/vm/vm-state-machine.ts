// The VM state machine: every state, every allowed transition, and how each state looks to
// Hyperstack-style clients. The only place that decides whether a VM may change state.
import { ConflictError } from "#shared/errors.js";

export const VM_STATES = [
  "Creating", "Starting", "Running", "Stopping", "Stopped", "Migrating", "Hibernating",
  "Hibernated", "Down", "Unknown", "Error", "Destroying", "Destroyed",
] as const;
export type VmState = (typeof VM_STATES)[number];

const TRANSITIONS: Record<VmState, readonly VmState[]> = {
  Creating: ["Starting", "Error", "Destroying"],
  Starting: ["Running", "Stopped", "Error", "Destroying", "Down"],
  Running: ["Stopping", "Stopped", "Migrating", "Hibernating", "Down", "Unknown", "Error", "Destroying"],
  Stopping: ["Stopped", "Running", "Error", "Destroying", "Down"],
  Stopped: ["Starting", "Destroying", "Error", "Running"],
  Migrating: ["Running", "Error", "Down"],
  Hibernating: ["Hibernated", "Running", "Error"],
  Hibernated: ["Starting", "Destroying", "Error"],
  Down: ["Starting", "Stopped", "Running", "Destroying", "Error"],
  Unknown: ["Running", "Stopped", "Down", "Destroying", "Error"],
  Error: ["Starting", "Destroying", "Running", "Stopped"],
  Destroying: ["Destroyed", "Error"],
  Destroyed: [],
};

export function canTransition(from: VmState, to: VmState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws a ConflictError naming both states when the transition is not allowed. */
export function assertTransition(from: VmState, to: VmState, what = "VM"): void {
  if (!canTransition(from, to)) {
    throw new ConflictError(`${what} cannot go from ${from} to ${to}`, from, { to });
  }
}

/** States in which a VM holds capacity on a host. */
export function holdsCapacity(state: VmState): boolean {
  return state !== "Destroyed" && state !== "Error";
}

/** States the user may delete from (Hyperstack allows delete from any settled state). */
export function canDestroyFrom(state: VmState): boolean {
  return canTransition(state, "Destroying");
}

export function isVmState(s: string): s is VmState {
  return (VM_STATES as readonly string[]).includes(s);
}

/** Hyperstack's instance `status` and `power_state` for an Orbit state. */
export function hyperstackStatus(state: VmState): { status: string; powerState: string; vmState: string } {
  switch (state) {
    case "Creating": return { status: "CREATING", powerState: "NOSTATE", vmState: "building" };
    case "Starting": return { status: "STARTING", powerState: "NOSTATE", vmState: "building" };
    case "Running": return { status: "ACTIVE", powerState: "RUNNING", vmState: "active" };
    case "Stopping": return { status: "SHUTTING_DOWN", powerState: "RUNNING", vmState: "active" };
    case "Stopped": return { status: "SHUTOFF", powerState: "SHUTDOWN", vmState: "stopped" };
    case "Migrating": return { status: "MIGRATING", powerState: "RUNNING", vmState: "active" };
    case "Hibernating": return { status: "HIBERNATING", powerState: "RUNNING", vmState: "active" };
    case "Hibernated": return { status: "HIBERNATED", powerState: "SHUTDOWN", vmState: "shelved_offloaded" };
    case "Down": return { status: "HOST_DOWN", powerState: "NOSTATE", vmState: "error" };
    case "Unknown": return { status: "UNKNOWN", powerState: "NOSTATE", vmState: "error" };
    case "Error": return { status: "ERROR", powerState: "NOSTATE", vmState: "error" };
    case "Destroying": return { status: "DELETING", powerState: "NOSTATE", vmState: "deleted" };
    case "Destroyed": return { status: "DELETED", powerState: "NOSTATE", vmState: "deleted" };
  }
}
