// Removing a host (CloudStack's deleteHost): only an empty host the admin took out of service. The
// row stays, marked removed (hosts.removed_at), so the VMs, jobs, commands and GPU allocations
// that name it keep a valid history; its credentials are revoked so its agent cannot come back
// without a new join token.
import { and, eq, isNull, ne } from "drizzle-orm";
import { ConflictError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { allocations, gpuAllocations, gpus, hostMaintenances, hosts, storagePools, unmanagedDomains, vmMigrations, vms, volumes } from "../db/schema.js";
import { generationToken } from "./host-generation.js";
import { lockHost } from "./host-maintenance.js";

/** Resource states a host may be removed from (an admin took it out of service)… */
const REMOVABLE_RESOURCE_STATES = ["Maintenance", "Disabled"];
/** …or agent states that say it is gone anyway. */
const REMOVABLE_HOST_STATES = ["Down", "Suspect", "Alert"];

export interface RemovedHost { hostId: number; uuid: string; revoked: string[] }

export class HostRemoval {
  constructor(
    private readonly db: Db,
    /** Revokes the host's certificates and clears its secret, dropping its streams (HostCertificateService.resetIdentity). */
    private readonly revokeCredentials: (hostId: number) => Promise<string[]>,
    private readonly changed: () => void,
  ) {}

  async remove(hostId: number): Promise<RemovedHost> {
    const uuid = await this.db.transaction(async (tx) => {
      const host = await lockHost(tx, hostId);
      if (!REMOVABLE_RESOURCE_STATES.includes(host.resourceState) && !REMOVABLE_HOST_STATES.includes(host.state)) {
        throw new ConflictError(
          `host ${hostId} is ${host.resourceState} and ${host.state}: only a host in Maintenance or Disabled, or one Down, Suspect or Alert (not heard from), can be removed`,
          host.resourceState, { host_state: host.state },
        );
      }
      // Every VM not Destroyed (stopped ones too: their disks and record are there), and any
      // capacity held on it, e.g. the destination's reservation of a migration under way.
      const onHost = await tx.select({ id: vms.id, state: vms.state }).from(vms).where(and(eq(vms.hostId, hostId), ne(vms.state, "Destroyed")));
      const held = await tx.select({ vmId: allocations.vmId }).from(allocations).where(eq(allocations.hostId, hostId));
      const heldGpus = await tx.select({ vmId: gpuAllocations.vmId }).from(gpuAllocations).where(eq(gpuAllocations.hostId, hostId));
      const migrating = await tx.select({ vmId: vmMigrations.vmId }).from(vmMigrations)
        .where(and(eq(vmMigrations.destinationHostId, hostId), eq(vmMigrations.state, "running")));
      const reserved = [...new Set([...held, ...heldGpus, ...migrating].map((r) => r.vmId))].filter((id) => !onHost.some((v) => v.id === id));
      if (onHost.length || reserved.length) {
        const parts = [
          ...(onHost.length ? [`VMs ${onHost.map((v) => `${v.id} (${v.state})`).join(", ")}`] : []),
          ...(reserved.length ? [`capacity reserved for VMs ${reserved.join(", ")} (a migration under way)`] : []),
        ];
        throw new ConflictError(`host ${hostId} still holds ${parts.join(" and ")}: move or delete them first`, host.resourceState, {
          vm_ids: onHost.map((v) => v.id), reserved_for_vm_ids: reserved,
        });
      }
      // Local volumes whose file lives there would be lost with it.
      const local = await tx.select({ id: volumes.id }).from(volumes).innerJoin(storagePools, eq(volumes.poolId, storagePools.id))
        .where(and(eq(volumes.hostId, hostId), eq(storagePools.kind, "local"), isNull(volumes.deletedAt)));
      if (local.length) {
        throw new ConflictError(`host ${hostId} still stores local volumes ${local.map((v) => v.id).join(", ")}: delete them first`, host.resourceState, {
          volume_ids: local.map((v) => v.id),
        });
      }
      await tx.update(hosts).set({ removedAt: new Date(), state: "Down", updatedAt: new Date(), generation: generationToken() }).where(eq(hosts.id, hostId));
      await tx.update(hostMaintenances).set({ endedAt: new Date(), endedBy: "removed" })
        .where(and(eq(hostMaintenances.hostId, hostId), isNull(hostMaintenances.endedAt)));
      // GPU rows stay (allocations in the history point at them), no longer placeable.
      await tx.update(gpus).set({ present: false }).where(eq(gpus.hostId, hostId));
      await tx.delete(unmanagedDomains).where(eq(unmanagedDomains.hostId, hostId));
      return host.uuid;
    });
    this.changed();
    const revoked = await this.revokeCredentials(hostId);
    return { hostId, uuid, revoked };
  }
}
