// A start's spec with the live-scaling headroom of vm/scale-headroom.ts, recorded on the VM's row
// as the domain is (re)defined: a live resize (vm/vm-actions.ts) stays within what its running
// domain was defined with, whatever the setting says since.
import { eq } from "drizzle-orm";
import type { VmSpec } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { hosts, vms } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { scaleHeadroom, withHeadroom } from "../vm/scale-headroom.js";

/** The registry (its get); without one (other jobs' unit tests) a domain gets no headroom. */
export type HeadroomSettings = Partial<Pick<SettingsRegistry, "get">>;

export async function withStartHeadroom(db: Db, settings: HeadroomSettings, vm: typeof vms.$inferSelect, spec: VmSpec): Promise<VmSpec> {
  const enabled = settings.get?.<boolean>("enable.dynamic.scale.vm") === true;
  const pinned = spec.pinnedCpus.length > 0;
  // The host's size matters only for a headroom there is (a deploy with scaling off reads nothing).
  const [host] = vm.hostId == null || !enabled || pinned ? [] : await db.select({ cpus: hosts.cpus, memoryMib: hosts.memoryMib }).from(hosts).where(eq(hosts.id, vm.hostId));
  const h = scaleHeadroom({
    enabled, vcpus: vm.vcpus, memoryMib: vm.memoryMib, pinned, hasGpu: spec.gpus.length > 0,
    hostCpus: host?.cpus ?? vm.vcpus, hostMemoryMib: host?.memoryMib ?? vm.memoryMib,
  });
  // Written only when it changes (`vm` is the row as read for this start).
  if (vm.scaleMaxVcpus !== h.maxVcpus || vm.scaleMaxMemoryMib !== h.maxMemoryMib || vm.scaleMinMemoryMib !== h.minMemoryMib) {
    await db.update(vms).set({ scaleMaxVcpus: h.maxVcpus, scaleMaxMemoryMib: h.maxMemoryMib, scaleMinMemoryMib: h.minMemoryMib }).where(eq(vms.id, vm.id));
  }
  return withHeadroom(spec, h);
}
