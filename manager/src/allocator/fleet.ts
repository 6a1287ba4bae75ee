// The allocator's internal index of a snapshot: per-host numbers precomputed once (capacity after
// over-provisioning, used totals, GPU states), so filters and scorers run on plain fields in the
// hot loop. Built lazily from a FleetSnapshot and cached per snapshot (see fleet-cache.ts); never
// visible to callers. Hosts are cloned before any change (copy-on-write).

import { compileGpuWorkload, PRIOR_GPU_WORKLOAD, type GpuWorkloadMixView } from "./gpu/gpu-workload-mix.js";
import type {
  ClusterSnapshot,
  FleetSnapshot,
  GpuDevice,
  GpuWorkloadShape,
  HostSnapshot,
  NumaCell,
  VgpuTypeSpec,
} from "./types.js";

export const GPU_FREE = 0;
export const GPU_PASSTHROUGH = 1;
export const GPU_VGPU = 2;
export const GPU_SHARE = 3;
export type GpuMode = typeof GPU_FREE | typeof GPU_PASSTHROUGH | typeof GPU_VGPU | typeof GPU_SHARE;

export const MILLI_PER_GPU = 1000;

export class GpuState {
  /** Copied from `src` as plain fields: read in the hot loops. */
  readonly model: string;
  readonly numaNode: number;

  constructor(
    readonly src: GpuDevice,
    /** Position in the host's GPU list. */
    readonly index: number,
    public mode: GpuMode,
    /** vGPU instances per type (only in GPU_VGPU mode). */
    public vgpus: Map<string, number> | null,
    /** MIG slices taken by MIG-backed vGPU instances. */
    public migUsed: number,
    /** Milli taken by fractional shares (only in GPU_SHARE mode). */
    public shareMilli: number,
  ) {
    this.model = src.model;
    this.numaNode = src.numaNode ?? -1;
  }

  clone(): GpuState {
    return new GpuState(this.src, this.index, this.mode, this.vgpus && new Map(this.vgpus), this.migUsed, this.shareMilli);
  }

  vgpuSpec(type: string): VgpuTypeSpec | undefined {
    const types = this.src.vgpuTypes;
    if (types === undefined) return undefined;
    for (const t of types) if (t.name === type) return t;
    return undefined;
  }

  /** Instances of all types on this GPU. */
  vgpuInstances(): number {
    let n = 0;
    if (this.vgpus) for (const c of this.vgpus.values()) n += c;
    return n;
  }

  static from(src: GpuDevice, index: number): GpuState {
    const use = src.use;
    switch (use.kind) {
      case "free":
        return new GpuState(src, index, GPU_FREE, null, 0, 0);
      case "passthrough":
        return new GpuState(src, index, GPU_PASSTHROUGH, null, 0, 0);
      case "share":
        return new GpuState(src, index, use.milliUsed > 0 ? GPU_SHARE : GPU_FREE, null, 0, use.milliUsed);
      case "vgpu": {
        const vgpus = new Map<string, number>();
        let mig = 0;
        for (const inst of use.instances) {
          if (inst.count <= 0) continue;
          vgpus.set(inst.vgpuType, (vgpus.get(inst.vgpuType) ?? 0) + inst.count);
          const spec = src.vgpuTypes?.find((t) => t.name === inst.vgpuType);
          mig += (spec?.migSlices ?? 0) * inst.count;
        }
        if (vgpus.size === 0) return new GpuState(src, index, GPU_FREE, null, 0, 0);
        return new GpuState(src, index, GPU_VGPU, vgpus, mig, 0);
      }
    }
  }
}

export interface NumaState {
  readonly cell: NumaCell;
  pinned: Set<number>;
  memoryUsedMib: number;
}

const NO_GPUS: GpuState[] = [];

/**
 * One host as the allocator sees it. Plugins read what placement changes (used CPU/memory, GPU
 * states, VM counts) from these fields and only static facts (zone, tags, models...) from `src`:
 * after `applyPlan` the `src` of a reused index may lag behind in its allocation numbers.
 */
export class FleetHost {
  /** The model of all the host's GPUs when they are all one model (the common case), else null. */
  readonly gpuModel: string | null;
  /** Bumped by every change (consume): lets scorers memoise per host state. */
  version = 0;
  /**
   * The host's expected GPU fragmentation under the fleet's GPU workload (gpu-fragmentation scorer),
   * and its ranking scores per GPU need (shared by request classes that differ only in tags, OS...),
   * valid while `version` and the workload's epoch are those recorded: hosts change rarely, scores often.
   */
  fragmentationMemo = { version: -1, epoch: -1, value: 0, scores: [] as number[] };

  constructor(
    readonly index: number,
    readonly src: HostSnapshot,
    readonly clusterIndex: number,
    readonly cpuCapacity: number,
    public cpuUsed: number,
    readonly memCapacity: number,
    public memUsed: number,
    public gpus: GpuState[],
    /** Free whole GPUs (mode free). */
    public gpusFree: number,
    public vmCount: number,
    /** VMs per account on this host. */
    public accountVms: Map<string, number>,
    public numa: NumaState[] | null,
  ) {
    let model: string | null = gpus.length > 0 ? gpus[0]!.model : null;
    for (const g of gpus) if (g.model !== model) model = null;
    this.gpuModel = model;
  }

  get id(): string {
    return this.src.id;
  }

  get name(): string {
    return this.src.name;
  }

  get hasGpus(): boolean {
    return this.gpus.length > 0;
  }

  get cpuFree(): number {
    return this.cpuCapacity - this.cpuUsed;
  }

  get memFree(): number {
    return this.memCapacity - this.memUsed;
  }

  /** Copy-on-write: a clone the engine may change without touching the original. */
  clone(): FleetHost {
    return new FleetHost(
      this.index,
      this.src,
      this.clusterIndex,
      this.cpuCapacity,
      this.cpuUsed,
      this.memCapacity,
      this.memUsed,
      this.gpus.length === 0 ? NO_GPUS : this.gpus.map((g) => g.clone()),
      this.gpusFree,
      this.vmCount,
      new Map(this.accountVms),
      this.numa && this.numa.map((n) => ({ cell: n.cell, pinned: new Set(n.pinned), memoryUsedMib: n.memoryUsedMib })),
    );
  }
}

export class ClusterState {
  constructor(
    readonly id: string,
    readonly src: ClusterSnapshot | undefined,
    public cpuCapacity: number,
    public cpuUsed: number,
    public memCapacity: number,
    public memUsed: number,
  ) {}

  clone(): ClusterState {
    return new ClusterState(this.id, this.src, this.cpuCapacity, this.cpuUsed, this.memCapacity, this.memUsed);
  }
}

export interface CapacityDefaults {
  cpuOverprovisioning: number;
  memoryOverprovisioning: number;
}

/** Static, snapshot-wide lookups built once (they do not change as VMs are placed). */
export class Fleet {
  /** Rankings per request class (see stage.ts). */
  readonly stages = new Map<string, unknown>();
  /** Static filters' verdicts per host, per filter and key (see stage.ts). */
  readonly staticFilterPasses = new WeakMap<object, Map<string, Uint8Array>>();
  /** Static scorers' scores per host, per scorer and key (see stage.ts). */
  readonly staticScores = new WeakMap<object, Map<string, Float64Array>>();
  /** Host indices changed by applyPlan, in order: stages catch up from where they last read. */
  readonly changeLog: number[] = [];
  /** The GPU workload to keep room for, compiled (the snapshot's, or the prior). */
  gpuWorkload: GpuWorkloadMixView;

  constructor(
    public hosts: FleetHost[],
    public clusters: ClusterState[],
    readonly hostIndexById: Map<string, number>,
    /** Host index of each VM in the snapshot (for avoid and affinity). */
    readonly vmHost: Map<string, number>,
    /** Hosts running VMs of each account. */
    readonly accountHostSets: Map<string, Set<number>>,
    /** Hosts of each affinity group's members. */
    readonly groupHosts: Map<string, Set<number>>,
    /** Distinct pods, and each host's pod index (for the user-concentrated-pod scorers). */
    readonly podIndexOfHost: Int32Array,
    readonly podCount: number,
    readonly defaults: CapacityDefaults,
    gpuWorkload: readonly GpuWorkloadShape[] | undefined,
  ) {
    this.gpuWorkload = compileGpuWorkload(gpuWorkload ?? PRIOR_GPU_WORKLOAD);
  }

  /** Replaces the GPU workload; the rankings built on the old one are dropped. */
  setGpuWorkload(shapes: readonly GpuWorkloadShape[] | undefined): void {
    this.gpuWorkload = compileGpuWorkload(shapes ?? PRIOR_GPU_WORKLOAD);
    this.stages.clear();
  }

  accountHosts(accountId: string): Iterable<number> {
    return this.accountHostSets.get(accountId) ?? NO_HOSTS;
  }
}

const NO_HOSTS: readonly number[] = [];

function factor(...candidates: (number | undefined)[]): number {
  for (const c of candidates) if (c !== undefined && Number.isFinite(c) && c > 0) return c;
  return 1;
}

export function buildFleet(snapshot: FleetSnapshot, defaults: CapacityDefaults): Fleet {
  const clusterById = new Map<string, ClusterSnapshot>();
  for (const c of snapshot.clusters ?? []) clusterById.set(c.id, c);
  const clusterIndex = new Map<string, number>();
  const clusters: ClusterState[] = [];
  const hostIndexById = new Map<string, number>();
  const vmHost = new Map<string, number>();
  const accountHostSets = new Map<string, Set<number>>();
  const groupHosts = new Map<string, Set<number>>();
  const podIndex = new Map<string, number>();
  const podIndexOfHost = new Int32Array(snapshot.hosts.length);
  const hosts: FleetHost[] = new Array<FleetHost>(snapshot.hosts.length);

  for (let i = 0; i < snapshot.hosts.length; i++) {
    const h = snapshot.hosts[i]!;
    let ci = clusterIndex.get(h.cluster);
    if (ci === undefined) {
      ci = clusters.length;
      clusterIndex.set(h.cluster, ci);
      clusters.push(new ClusterState(h.cluster, clusterById.get(h.cluster), 0, 0, 0, 0));
    }
    const cluster = clusters[ci]!;
    let pi = podIndex.get(h.pod);
    if (pi === undefined) {
      pi = podIndex.size;
      podIndex.set(h.pod, pi);
    }
    podIndexOfHost[i] = pi;
    hostIndexById.set(h.id, i);

    const cpuFactor = factor(h.overprovisioning?.cpu, cluster.src?.overprovisioning?.cpu, defaults.cpuOverprovisioning);
    const memFactor = factor(h.overprovisioning?.memory, cluster.src?.overprovisioning?.memory, defaults.memoryOverprovisioning);
    const cpuCapacity = h.cpu.total * cpuFactor;
    const memCapacity = Math.max(0, h.memory.totalMib - h.memory.reservedMib) * memFactor;

    const gpus = h.gpus === undefined || h.gpus.length === 0 ? NO_GPUS : h.gpus.map((g, gi) => GpuState.from(g, gi));
    let gpusFree = 0;
    for (const g of gpus) if (g.mode === GPU_FREE) gpusFree++;

    const accountVms = new Map<string, number>();
    const vms = h.vms ?? [];
    for (const vm of vms) {
      accountVms.set(vm.accountId, (accountVms.get(vm.accountId) ?? 0) + 1);
      vmHost.set(vm.vmId, i);
      let ah = accountHostSets.get(vm.accountId);
      if (!ah) accountHostSets.set(vm.accountId, (ah = new Set()));
      ah.add(i);
      if (vm.affinityGroupIds) {
        for (const g of vm.affinityGroupIds) {
          let set = groupHosts.get(g);
          if (!set) groupHosts.set(g, (set = new Set()));
          set.add(i);
        }
      }
    }
    const numa = h.numa && h.numa.length > 0
      ? h.numa.map((cell) => ({ cell, pinned: new Set(cell.pinnedCpus ?? []), memoryUsedMib: cell.allocatedMemoryMib ?? 0 }))
      : null;

    hosts[i] = new FleetHost(i, h, ci, cpuCapacity, h.cpu.allocated, memCapacity, h.memory.allocatedMib, gpus, gpusFree, vms.length, accountVms, numa);
    cluster.cpuCapacity += cpuCapacity;
    cluster.cpuUsed += h.cpu.allocated;
    cluster.memCapacity += memCapacity;
    cluster.memUsed += h.memory.allocatedMib;
  }
  return new Fleet(hosts, clusters, hostIndexById, vmHost, accountHostSets, groupHosts, podIndexOfHost, podIndex.size, defaults, snapshot.gpuWorkload);
}
