// vGPU lifecycle around any hypervisor driver: the mdev a VM's vGPU needs is created (a UUID
// written to the type's `create` in sysfs) before the domain starts, and removed when the
// domain stops or is destroyed, so a stopped VM holds no vGPU slot on the physical GPU.
import { AlreadyExistsError, HypervisorError } from "#shared/errors.js";
import { PowerState, type DomainStatus, type GpuAssignment, type VmSpec } from "#shared/protocol.js";
import type { MdevManager } from "../gpu/mdev-manager.js";
import type {
  ConsoleCapability, DiskCapability, FirewallCapability, SnapshotCapability, MigrationCapability, DomainLifecycleEvent, Hypervisor, HypervisorHostFacts, PowerCapability, ResizeCapability, StatsCapability, StopOptions,
} from "./hypervisor.js";

type Vgpu = GpuAssignment & { mode: "vgpu" };
const isVgpu = (g: GpuAssignment): g is Vgpu => g.mode === "vgpu";

export class VgpuHypervisor implements Hypervisor {
  get kind() { return this.inner.kind; }
  /** vm uuid → the mdevs its running domain uses (rebuilt by the next start after an agent restart). */
  private readonly mdevsOf = new Map<string, string[]>();

  constructor(private readonly inner: Hypervisor, private readonly mdevs: Pick<MdevManager, "create" | "remove">) {}

  hostFacts(): Promise<HypervisorHostFacts> { return this.inner.hostFacts(); }
  freeMemoryMib(): Promise<number> { return this.inner.freeMemoryMib(); }
  listDomains(): Promise<DomainStatus[]> { return this.inner.listDomains(); }
  onDomainEvent(l: (e: DomainLifecycleEvent) => void): () => void { return this.inner.onDomainEvent(l); }
  close(): Promise<void> { return this.inner.close(); }
  attachedMdevs(vmUuid: string): Promise<string[]> { return this.mdevsFor(vmUuid); }

  // The inner driver's capabilities, as they are: none of them creates or ends a domain's life,
  // so none needs or frees an mdev. A hibernated VM keeps its mdevs (its saved state uses them
  // and restore has no spec to create them from); a stop or destroy after it releases them.
  get power(): PowerCapability | undefined { return this.inner.power; }
  get resize(): ResizeCapability | undefined { return this.inner.resize; }
  get disks(): DiskCapability | undefined { return this.inner.disks; }
  get stats(): StatsCapability | undefined { return this.inner.stats; }
  get console(): ConsoleCapability | undefined { return this.inner.console; }
  get firewall(): FirewallCapability | undefined { return this.inner.firewall; }
  // A VM with a GPU gets disk-only snapshots only (the manager refuses memory ones: device state
  // cannot be saved); their revert leaves the domain shut off, its mdevs freed at its next start or destroy.
  get snapshots(): SnapshotCapability | undefined { return this.inner.snapshots; }
  // Passed through: the drivers refuse to live-migrate a domain with vGPUs (or passthrough GPUs),
  // so a migrated domain never leaves mdevs behind here.
  get migration(): MigrationCapability | undefined { return this.inner.migration; }

  async startVm(spec: VmSpec): Promise<DomainStatus> {
    const vgpus = spec.gpus.filter(isVgpu);
    const created: string[] = [];
    try {
      for (const g of vgpus) {
        if (!g.mdevUuid || !g.vgpuType) throw new HypervisorError(`vGPU on ${g.pciAddress} needs an mdev uuid and a type id`);
        try {
          await this.mdevs.create(g.pciAddress, g.vgpuType, g.mdevUuid);
          created.push(g.mdevUuid);
        } catch (e) {
          // Already there from an earlier attempt of the same start: reuse it.
          if (!(e instanceof AlreadyExistsError)) throw e;
        }
      }
      const status = await this.inner.startVm(spec);
      if (vgpus.length) this.mdevsOf.set(spec.vmUuid.toLowerCase(), vgpus.map((g) => g.mdevUuid));
      return status;
    } catch (e) {
      // Leave nothing behind that this attempt created.
      for (const u of created) await this.mdevs.remove(u).catch(() => false);
      throw e;
    }
  }

  async stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus> {
    const mdevs = await this.mdevsFor(vmUuid);
    const status = await this.inner.stopVm(vmUuid, opts);
    if (status.powerState === PowerState.POWER_STATE_SHUTOFF) await this.release(vmUuid, mdevs);
    return status;
  }

  async destroyVm(vmUuid: string, opts: { removeOwnedDisks: boolean }): Promise<void> {
    // Read them before the definition is gone: after an agent restart memory knows nothing.
    const mdevs = await this.mdevsFor(vmUuid);
    await this.inner.destroyVm(vmUuid, opts);
    await this.release(vmUuid, mdevs);
  }

  private async mdevsFor(vmUuid: string): Promise<string[]> {
    const known = this.mdevsOf.get(vmUuid.toLowerCase());
    if (known) return known;
    return (await this.inner.attachedMdevs?.(vmUuid)) ?? [];
  }

  private async release(vmUuid: string, mdevs: string[]): Promise<void> {
    for (const u of mdevs) await this.mdevs.remove(u);
    this.mdevsOf.delete(vmUuid.toLowerCase());
  }
}
