// An admin's HA settings of a VM: whether it is restarted elsewhere when its host is lost, and in
// which order (vms.ha_priority, higher first, then older VMs).
import { eq } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { vms } from "../db/schema.js";

export interface VmHaView { id: number; haEnabled: boolean; haPriority: number; runStrategy: string | null }

export class VmHa {
  constructor(private readonly db: Db) {}

  /** Changes what is given; NotFoundError for an unknown or deleted VM. */
  async set(id: number, change: { haEnabled?: boolean; haPriority?: number }): Promise<VmHaView> {
    return setVmHa(this.db, id, change);
  }
}

async function setVmHa(db: Db, id: number, change: { haEnabled?: boolean; haPriority?: number }): Promise<VmHaView> {
  const [vm] = await db.update(vms).set({
    ...(change.haEnabled !== undefined ? { haEnabled: change.haEnabled } : {}),
    ...(change.haPriority !== undefined ? { haPriority: change.haPriority } : {}),
    updatedAt: new Date(),
  }).where(eq(vms.id, id)).returning({ id: vms.id, haEnabled: vms.haEnabled, haPriority: vms.haPriority, runStrategy: vms.runStrategy, state: vms.state });
  if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
  return { id: vm.id, haEnabled: vm.haEnabled, haPriority: vm.haPriority, runStrategy: vm.runStrategy };
}
