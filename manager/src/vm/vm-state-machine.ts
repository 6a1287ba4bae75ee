// The VM state machine: every state, every allowed transition, what a host's report or silence
// means for a VM. The only place that decides whether (and to what) a VM may change state (how a
// state looks to Hyperstack clients is api/hyperstack/instance.presenter.ts).
import { ConflictError } from "#shared/errors.js";

export const VM_STATES = [
  "Creating", "Starting", "Running", "Stopping", "Stopped", "Migrating", "Hibernating",
  "Hibernated", "Reinstalling", "Down", "Unknown", "Error", "Destroying", "Destroyed",
] as const;
export type VmState = (typeof VM_STATES)[number];

const TRANSITIONS: Record<VmState, readonly VmState[]> = {
  // Stopped: created with start false (or run strategy Halted), placed with its capacity held;
  // or a clone asked not to start, once its disk is copied.
  Creating: ["Starting", "Stopped", "Error", "Destroying"],
  Starting: ["Running", "Stopped", "Error", "Destroying", "Down"],
  Running: ["Stopping", "Stopped", "Migrating", "Hibernating", "Reinstalling", "Down", "Unknown", "Error", "Destroying"],
  Stopping: ["Stopped", "Running", "Error", "Destroying", "Down"],
  // Migrating (migration/): a live move ends Running (on the destination, or on the source when it
  // failed); a cold one stops the VM, moves it and starts it (Starting), or ends Stopped.
  Stopped: ["Starting", "Destroying", "Error", "Running", "Reinstalling", "Migrating"],
  Migrating: ["Running", "Stopped", "Starting", "Error", "Down"],
  Hibernating: ["Hibernated", "Running", "Error"],
  Hibernated: ["Starting", "Destroying", "Error"],
  // Its root disk is being replaced by a fresh one on the image; it ends as it was (running or stopped).
  Reinstalling: ["Running", "Stopped", "Error"],
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

/**
 * The user's power actions: from which states each makes sense, the state the VM shows while its
 * job runs (none: reboots leave a Running VM Running) and the job that does it. Starting a
 * hibernated VM restores it (libvirt's start continues from the managed save too).
 */
export const VM_ACTIONS = ["start", "stop", "shutdown", "reboot", "hard-reboot", "hibernate", "hibernate-restore", "reinstall"] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

const ACTION_RULES: Record<VmAction, { from: readonly VmState[]; during?: VmState; job: (from: VmState) => string }> = {
  start: { from: ["Stopped", "Hibernated"], during: "Starting", job: (from) => (from === "Hibernated" ? "vm.restore" : "vm.start") },
  stop: { from: ["Running"], during: "Stopping", job: () => "vm.stop" },
  shutdown: { from: ["Running"], during: "Stopping", job: () => "vm.shutdown" },
  reboot: { from: ["Running"], job: () => "vm.reboot" },
  "hard-reboot": { from: ["Running"], job: () => "vm.hard-reboot" },
  hibernate: { from: ["Running"], during: "Hibernating", job: () => "vm.hibernate" },
  "hibernate-restore": { from: ["Hibernated"], during: "Starting", job: () => "vm.restore" },
  // CloudStack's restoreVirtualMachine (Orbit's POST .../restore): a running VM is stopped for it
  // and started again after; a hibernated one is not (its saved memory belongs to the old disk).
  reinstall: { from: ["Running", "Stopped"], during: "Reinstalling", job: (from) => (from === "Running" ? "vm.reinstall-and-start" : "vm.reinstall") },
};

/**
 * Actions that change a stopped VM without starting it (clone's copy of its disk, a new SSH key
 * for its next boot): a ConflictError naming the state and why otherwise.
 */
export function requireStopped(from: VmState, what: string, action: string, why: string): void {
  if (from !== "Stopped") throw new ConflictError(`${what} cannot ${action} while ${from}: ${why}`, from, { action });
}

/** What an action does from a state; a ConflictError naming the state when it makes no sense there. */
export function planAction(action: VmAction, from: VmState, what = "VM"): { during: VmState | undefined; job: string } {
  const rule = ACTION_RULES[action];
  if (!rule.from.includes(from)) {
    throw new ConflictError(`${what} cannot ${action} while ${from} (only from ${rule.from.join(" or ")})`, from, { action });
  }
  return { during: rule.during, job: rule.job(from) };
}

export function isVmState(s: string): s is VmState {
  return (VM_STATES as readonly string[]).includes(s);
}

/** What a host says about one VM's domain (heartbeat), and whether the host booted since it last spoke. */
export interface HostDomainReport {
  /** running (any power state but shut off / crashed), stopped (shut off, crashed) or absent. */
  domain: "running" | "stopped" | "absent";
  /** How the host describes it, for the reason (e.g. "shutoff (destroyed)"). */
  detail?: string;
  /** The host reports a new boot id: what is not running now was lost to the reboot. */
  hostRebooted: boolean;
}

/** The VM as the reconciler sees it. */
export interface ReconciledVm {
  state: VmState;
  /** Whether the VM still has its allocation (an Error VM may have released it). */
  holdsAllocation: boolean;
  /** The VM's latest job, when it matters (Error VMs). */
  lastJob?: { kind: string; status: string; retryable: boolean } | undefined;
}

export type Reconciliation =
  | { to: VmState; reason: string; powerState: "RUNNING" | "SHUTDOWN" }
  | { retryDelete: true; reason: string }
  | undefined;

function stoppedReason(r: HostDomainReport): string {
  if (r.hostRebooted) return `host rebooted: the domain is ${r.domain === "absent" ? "gone" : `${r.detail ?? "shut off"}`} after the reboot`;
  return r.domain === "absent" ? "domain not found on host" : `host reports the domain ${r.detail ?? "shut off"}`;
}

/**
 * What a host's report means for a VM. Only settled states are changed (jobs own those in
 * flight): Running and Stopped follow the domain; Unknown (host was silent) becomes what the host
 * reports again; an Error VM whose domain runs is Running again if it kept its capacity; an Error
 * VM whose delete failed because the host could not be reached has its delete retried.
 */
export function reconcileWithHost(vm: ReconciledVm, r: HostDomainReport): Reconciliation {
  switch (vm.state) {
    case "Running":
      return r.domain === "running" ? undefined : { to: "Stopped", reason: stoppedReason(r), powerState: "SHUTDOWN" };
    case "Stopped":
      return r.domain === "running" ? { to: "Running", reason: "host reports the domain running", powerState: "RUNNING" } : undefined;
    case "Unknown":
      return r.domain === "running"
        ? { to: "Running", reason: "host is back and reports the domain running", powerState: "RUNNING" }
        : { to: "Stopped", reason: stoppedReason(r), powerState: "SHUTDOWN" };
    case "Error": {
      const j = vm.lastJob;
      if (j?.kind === "vm.destroy" && j.status === "failed" && j.retryable) {
        return { retryDelete: true, reason: "the host is reachable again: retrying the delete that could not reach it" };
      }
      if (r.domain === "running" && vm.holdsAllocation) {
        return { to: "Running", reason: "host reports the domain running", powerState: "RUNNING" };
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** A VM on a host that stopped reporting: running VMs become Unknown (capacity held; HA decides later). */
export function onHostLost(state: VmState): VmState | undefined {
  return state === "Running" ? "Unknown" : undefined;
}
