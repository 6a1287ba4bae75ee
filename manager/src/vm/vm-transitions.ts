// Applies a VM state change inside a transaction: checks it against the state machine,
// records it with time and cause, and releases the VM's capacity (host and root disk's pool) in
// the same transaction when the new state holds none.
import { eq, inArray } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { allocations, gpuAllocations, ipAllocations, vms, vmStateTransitions } from "../db/schema.js";
import { enqueueVmCallback } from "../callbacks/callback-outbox.js";
import { stateChangedEvent } from "../events/vm-event.js";
import { touchHost } from "../hosts/host-generation.js";
import { addressesFreed } from "../network/ipam.js";
import { releaseRootDisk } from "../storage/root-disks.js";
import { assertTransition, holdsCapacity, isVmState, type VmState } from "./vm-state-machine.js";

type VmRow = typeof vms.$inferSelect;

export interface TransitionOptions {
  reason?: string;
  powerState?: string;
  /** Only apply when the VM is currently in one of these states; otherwise return null. */
  onlyFrom?: readonly VmState[];
  /**
   * Keep the VM's allocations even though the new state holds none by default: the host's side is
   * unknown (agent unreachable, destroy failed), so the domain may still be using them.
   */
  keepCapacity?: boolean;
}

export async function transitionVm(
  tx: Tx | Db, vmId: number, to: VmState, cause: string, opts: TransitionOptions = {},
): Promise<{ from: VmState; to: VmState; vm: VmRow } | null> {
  const [vm] = await tx.select({ state: vms.state, callbackUrl: vms.callbackUrl }).from(vms).where(eq(vms.id, vmId)).for("update");
  if (!vm) throw new NotFoundError("virtual machine", vmId);
  const from = isVmState(vm.state) ? vm.state : "Unknown";
  if (opts.onlyFrom && !opts.onlyFrom.includes(from)) return null;
  if (from === to) return null;
  assertTransition(from, to, `virtual machine ${vmId}`);
  const now = new Date();
  const [row] = await tx.update(vms).set({
    state: to,
    stateReason: opts.reason ?? "",
    ...(opts.powerState ? { powerState: opts.powerState } : {}),
    updatedAt: now,
    ...(to === "Destroyed" ? { deletedAt: now } : {}),
    // Any way out of Stopped (a user's start or delete, HA's own restart) ends a pending crash restart (ha/crash-restarts.ts).
    ...(from === "Stopped" ? { crashRestartDueAt: null } : {}),
  }).where(eq(vms.id, vmId)).returning();
  const [recorded] = await tx.insert(vmStateTransitions).values({ vmId, fromState: from, toState: to, cause, at: now }).returning();
  // The VM's callback announcing the change commits with it, or not at all (none without a URL:
  // the row is locked, so the URL read above is the one the outbox would read).
  if (vm.callbackUrl !== "") await enqueueVmCallback(tx, vmId, (v) => stateChangedEvent(v, recorded!));
  if (!holdsCapacity(to) && !opts.keepCapacity) {
    await tx.delete(gpuAllocations).where(eq(gpuAllocations.vmId, vmId));
    const released = await tx.delete(allocations).where(eq(allocations.vmId, vmId)).returning({ hostId: allocations.hostId });
    // Freed capacity: a new generation tells cached snapshots to re-read the host.
    for (const r of released) await touchHost(tx, r.hostId);
    // Its root disk's space too (a destroyed VM's disk is gone; a refused deploy never made it).
    await releaseRootDisk(tx, vmId);
  }
  // Its addresses (fixed and floating) are free again once the domain is gone.
  if (to === "Destroyed") {
    addressesFreed(await tx.delete(ipAllocations).where(inArray(ipAllocations.vmUuid, tx.select({ uuid: vms.uuid }).from(vms).where(eq(vms.id, vmId))))
      .returning({ networkId: ipAllocations.networkId, kind: ipAllocations.kind, address: ipAllocations.address }));
  }
  return { from, to, vm: row! };
}
