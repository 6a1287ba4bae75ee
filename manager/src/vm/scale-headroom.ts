// The room a domain is defined with for live scaling (CloudStack's enable.dynamic.scale.vm): its
// vCPU maximum (<vcpu current='N'>MAX</vcpu>; more are hot-plugged with setvcpus) and its memory
// maximum (<memory>MAX</memory>, <currentMemory> the flavor's; a virtio balloon gives the guest
// more or less of it). Only the flavor's size is accounted on the host; the headroom is a ceiling.
//
// Why a balloon and not DIMM hotplug: it needs no NUMA cell, no 128 MiB DIMM alignment and no
// guest that onlines new memory blocks; it works the same on KVM and on TCG (libvirt 9.0, QEMU
// 7.2), and scaling down is the same operation as scaling up. Its cost: QEMU's RAM is MAX, so a
// guest without a balloon driver could touch all of it (the cap of 2x bounds that), and a device
// that pins all guest RAM (VFIO: passthrough GPUs, vGPUs) would pin MAX, so GPU VMs get vCPU
// headroom only.
import type { CpuTopology, VmSpec } from "#shared/protocol.js";

/** How many times its flavor's size a domain may grow to, live. */
export const SCALE_HEADROOM_FACTOR = 2;

export interface ScaleHeadroom {
  /** 0: none (the domain is defined at the flavor's size). */
  maxVcpus: number;
  maxMemoryMib: number;
  /** The memory it boots with: a live resize never balloons the guest below it. */
  minMemoryMib: number;
}

export const NO_HEADROOM: ScaleHeadroom = { maxVcpus: 0, maxMemoryMib: 0, minMemoryMib: 0 };

export interface HeadroomInput {
  enabled: boolean;
  vcpus: number;
  memoryMib: number;
  /** Pinned CPUs: a vCPU more would need a pin the allocator did not give. */
  pinned: boolean;
  /** Any GPU (passthrough or vGPU): VFIO pins the whole of guest RAM. */
  hasGpu: boolean;
  hostCpus: number;
  hostMemoryMib: number;
}

/**
 * The headroom: SCALE_HEADROOM_FACTOR times the flavor, never more than the host has (a domain
 * with more vCPUs than the host's CPUs, or more memory than it, could never use them). None when
 * dynamic scaling is off, or the VM's CPUs are pinned.
 */
export function scaleHeadroom(i: HeadroomInput): ScaleHeadroom {
  if (!i.enabled || i.pinned) return NO_HEADROOM;
  const maxVcpus = Math.max(i.vcpus, Math.min(i.hostCpus, i.vcpus * SCALE_HEADROOM_FACTOR));
  const maxMemoryMib = i.hasGpu ? i.memoryMib : Math.max(i.memoryMib, Math.min(i.hostMemoryMib, i.memoryMib * SCALE_HEADROOM_FACTOR));
  return { maxVcpus, maxMemoryMib, minMemoryMib: i.memoryMib };
}

/** The spec with the headroom: maxima, and one socket of maxVcpus cores (libvirt's topology counts the maximum). */
export function withHeadroom(spec: VmSpec, h: ScaleHeadroom): VmSpec {
  if (h.maxVcpus === 0) return spec;
  const topology: CpuTopology = { sockets: 1, cores: h.maxVcpus, threads: 1 };
  return { ...spec, maxVcpus: h.maxVcpus, maxMemoryMib: h.maxMemoryMib, topology };
}
