// The allocator's data contract. The snapshot builder (manager/src/placement) fills a
// `FleetSnapshot` from PostgreSQL; `place()` reads it (never mutates it) and returns a
// `PlacementResult`; the commit step writes the plan's rows. Plain data only: no classes,
// so a snapshot can be built from DB rows, JSON fixtures or a test fleet builder alike.

import type { HostRejection } from "#shared/errors.js";

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

/** Agent connection state (CloudStack's host status). Only `Up` hosts take new VMs. */
export type HostStatus = "Up" | "Down" | "Disconnected" | "Connecting" | "Alert" | "Error";

/** Admin-controlled state. Only `Enabled` hosts take new VMs. */
export type HostResourceState = "Enabled" | "Disabled" | "Maintenance" | "PrepareForMaintenance" | "ErrorInMaintenance";

export interface NumaCell {
  id: number;
  /** Logical CPU ids of this cell. */
  cpus: readonly number[];
  memoryMib: number;
  /** CPUs already pinned to VMs (the allocator pins only onto the others). */
  pinnedCpus?: readonly number[];
  /** Memory already bound to this cell by NUMA-local VMs. */
  allocatedMemoryMib?: number;
}

/** A vGPU type a physical GPU can host (NVIDIA mdev type / profile). */
export interface VgpuTypeSpec {
  name: string;
  /** Instances of this type one GPU holds when it hosts only this type. */
  maxInstances: number;
  /**
   * MIG-backed types: MIG slices (compute units out of `GpuDevice.migSlices`) one instance takes.
   * MIG-backed types may share a GPU with other MIG-backed types as long as slices remain;
   * time-sliced types (no `migSlices`) are homogeneous: one type per GPU at a time.
   */
  migSlices?: number;
  framebufferMib?: number;
}

/** Current use of one physical GPU. */
export type GpuUse =
  | { kind: "free" }
  | { kind: "passthrough"; vmId?: string }
  | { kind: "vgpu"; instances: readonly { vgpuType: string; count: number }[] }
  | { kind: "share"; milliUsed: number };

export interface GpuDevice {
  id: string;
  /** Model name as the catalogue spells it, e.g. "H100 80GB". Requests match it exactly. */
  model: string;
  memoryMib?: number;
  /** NUMA node the GPU's PCI root sits on; -1 or absent when unknown. */
  numaNode?: number;
  /** GPUs with the same NVLink/NVSwitch domain id are fully connected. */
  nvlinkDomain?: string;
  /** Direct NVLink peers (GPU ids), when no domain id is known. */
  nvlinkPeers?: readonly string[];
  use: GpuUse;
  /** Total MIG slices (7 on A100/H100) when MIG is enabled; MIG-backed vGPU types count against it. */
  migSlices?: number;
  /** vGPU types this GPU can host. */
  vgpuTypes?: readonly VgpuTypeSpec[];
  /** Whether time-sliced fractional shares may be placed on it (default true). */
  allowShares?: boolean;
}

/** A VM already on a host (for dispersing, affinity, avoid). */
export interface HostVm {
  vmId: string;
  accountId: string;
  affinityGroupIds?: readonly string[];
}

export interface OverprovisioningFactors {
  cpu?: number;
  memory?: number;
}

export interface HostSnapshot {
  id: string;
  name: string;
  /** Zone: the region's name. */
  environment: string;
  pod: string;
  cluster: string;
  status: HostStatus;
  resourceState: HostResourceState;
  /** e.g. "KVM". */
  hypervisor: string;
  cpuType?: string;
  cpuModel?: string;
  tags: readonly string[];
  /** OS types (image OS category) this host is preferred for: CloudStack's host guest-OS category. */
  osTypes?: readonly string[];
  cpu: { total: number; allocated: number };
  memory: { totalMib: number; reservedMib: number; allocatedMib: number };
  /** Overrides the cluster's and the global factors. */
  overprovisioning?: OverprovisioningFactors;
  numa?: readonly NumaCell[];
  gpus?: readonly GpuDevice[];
  vms?: readonly HostVm[];
  /** Echoed into the plan so the commit step can check nothing changed since the snapshot. */
  generation?: number;
}

export interface ClusterSnapshot {
  id: string;
  name?: string;
  overprovisioning?: OverprovisioningFactors;
  /** `cluster.cpu.allocated.capacity.disablethreshold` for this cluster (else the policy's). */
  cpuDisableThreshold?: number;
  /** `cluster.memory.allocated.capacity.disablethreshold` for this cluster (else the policy's). */
  memoryDisableThreshold?: number;
}

/**
 * One request shape of the GPU workload the fleet serves (for the `gpu-fragmentation` scorer):
 * `gpuCount` GPUs of `gpuMilli` each (1000 = whole GPUs; < 1000 = a share of one GPU).
 */
export interface GpuWorkloadShape {
  vcpus: number;
  memoryMib: number;
  gpuCount: number;
  gpuMilli: number;
  /** GPU models the shape accepts; empty or absent = any. */
  models?: readonly string[];
  /** Relative popularity (any positive scale). */
  weight: number;
}

export interface FleetSnapshot {
  /** Order matters: it is the stable order `firstfit` walks (the builder sorts by host id). */
  hosts: readonly HostSnapshot[];
  clusters?: readonly ClusterSnapshot[];
  /**
   * The GPU workload to keep room for (the manager: its GPU flavors, weighted by the VMs that run
   * them). Absent: a generic prior (gpu/gpu-workload-mix.ts).
   */
  gpuWorkload?: readonly GpuWorkloadShape[];
}

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

export type GpuDemand =
  /** N whole GPUs, all of one model out of `models` (any model when empty). */
  | { kind: "passthrough"; count: number; models?: readonly string[]; requireLocality?: boolean }
  /** One vGPU instance of a type. */
  | { kind: "vgpu"; vgpuType: string; models?: readonly string[] }
  /** A time-sliced fraction (1..999 milli) of one GPU. */
  | { kind: "share"; milli: number; models?: readonly string[] };

export type AffinityKind = "host-affinity" | "host-anti-affinity";

export interface AffinityGroupRef {
  id: string;
  kind: AffinityKind;
  /** Strict: never violate (reject instead). Non-strict: a scoring preference. */
  strict: boolean;
  /** Hosts the group's existing members run on (added to those found in the snapshot's VM lists). */
  memberHostIds?: readonly string[];
}

export interface PlacementRequest {
  vcpus: number;
  memoryMib: number;
  /** VMs to place (default 1); all or none. */
  count?: number;
  accountId: string;
  environment: string;
  pod?: string;
  cluster?: string;
  /** An admin's explicit target host (CloudStack's deployVirtualMachine hostid). */
  hostId?: string;
  /** The flavor's host tags: all must be on the host. */
  hostTags?: readonly string[];
  /**
   * `vm.strict.host.tags` semantics: on an explicit `hostId` only the flavor tags listed in the
   * policy's strict tags must match (the admin chose the host); with this flag all of them must.
   * Without `hostId` every flavor tag must always match.
   */
  strictHostTags?: boolean;
  osType?: string;
  hypervisor?: string;
  cpuType?: string;
  gpu?: GpuDemand;
  affinityGroups?: readonly AffinityGroupRef[];
  /** CloudSigma `avoid`: keep away from the hosts of these VMs when possible. */
  avoidVmIds?: readonly string[];
  /** Ids for the VMs being placed (echoed in the plan; used by later VMs of the same request). */
  vmIds?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------

export type GpuMode = "passthrough" | "vgpu" | "share";

export interface GpuAssignment {
  gpuId: string;
  model: string;
  mode: GpuMode;
  vgpuType?: string;
  shareMilli?: number;
}

export interface ScorerScore {
  scorer: string;
  /** Normalised 0..1. */
  score: number;
  weight: number;
}

export interface VmPlacement {
  /** 0-based index of the VM in the request's `count`. */
  index: number;
  vmId?: string;
  hostId: string;
  hostName: string;
  hostGeneration?: number;
  vcpus: number;
  memoryMib: number;
  gpus: GpuAssignment[];
  /** NUMA node the VM is bound to (GPU-local multi-GPU VMs). */
  numaNode?: number;
  pinnedCpus?: number[];
  scores: ScorerScore[];
  total: number;
}

export interface PlacementPlan {
  placements: VmPlacement[];
  policy: string;
  seed: number;
  decidedAt: Date;
}

export interface HostRefusal extends HostRejection {
  /** Stable machine code, e.g. "gpu_capacity". */
  code: string;
  /** True when freeing capacity would not help (wrong zone, tags, model...). */
  unresolvable: boolean;
}

export interface PlacementRejection {
  message: string;
  /** Which VM of the request could not be placed (earlier ones fitted in the working copy). */
  vmIndex: number;
  /** "never": no host could ever take it as the fleet is configured; "now": capacity is the problem. */
  unschedulable: "now" | "never";
  hosts: HostRefusal[];
}

export type PlacementResult = { ok: true; plan: PlacementPlan } | { ok: false; rejection: PlacementRejection };
