// One interface per backend: the agent talks to libvirt (through virsh) or to the in-memory
// simulator through this, and nothing else in the agent knows which one it has.
import type { DomainStatus, HostFacts, StopMode, VmSpec } from "#shared/protocol.js";

export type { DomainStatus, HostFacts, VmSpec };

/** Host facts that come from the hypervisor (CPU topology, memory, NUMA); GPUs come from GpuInventory. */
export type HypervisorHostFacts = Pick<
  HostFacts,
  | "hostUuid" | "hostname" | "hypervisor" | "cpuModel" | "cpuArch" | "sockets" | "coresPerSocket"
  | "threadsPerCore" | "cpus" | "cpuMhz" | "memoryMib" | "numaCells" | "hypervisorVersion" | "driver"
>;

export interface StopOptions {
  mode: StopMode;
  /** For ACPI modes: how long to wait for the guest before giving up (ACPI) or powering off. */
  timeoutMs: number;
}

/** A domain lifecycle event, as libvirt's `virsh event --loop` reports it. */
export interface DomainLifecycleEvent {
  vmUuid: string;
  event: string;
  detail: string;
}

export interface Hypervisor {
  readonly kind: "libvirt" | "simulator";
  hostFacts(): Promise<HypervisorHostFacts>;
  freeMemoryMib(): Promise<number>;
  /** Every domain on the host, managed by Orbit or not. */
  listDomains(): Promise<DomainStatus[]>;
  /** Defines (if needed) and starts the domain. Idempotent: starting a running VM succeeds. */
  startVm(spec: VmSpec): Promise<DomainStatus>;
  stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus>;
  /** Powers off if needed and undefines; removes the disks the VM owns when asked. Idempotent. */
  destroyVm(vmUuid: string, opts: { removeOwnedDisks: boolean }): Promise<void>;
  /** The mdev UUIDs (vGPUs) the domain's definition uses; [] when none or no such domain. */
  attachedMdevs?(vmUuid: string): Promise<string[]>;
  /** Subscribe to lifecycle events; returns an unsubscribe function. */
  onDomainEvent(listener: (e: DomainLifecycleEvent) => void): () => void;
  close(): Promise<void>;
}
