// Builds the allocator's immutable fleet snapshot from PostgreSQL: hosts of one environment (or
// the listed host ids) with what their allocation rows hold, their GPUs' use, their VMs (account
// and affinity groups), and the clusters' over-provisioning / threshold overrides.
import { and, count, eq, gt, inArray, isNull, like, or } from "drizzle-orm";
import type {
  ClusterSnapshot, FleetSnapshot, GpuDevice, GpuUse, GpuWorkloadShape, HostSnapshot, HostStatus, HostVm, NumaCell,
} from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import {
  affinityGroupMembers, allocations, clusters, flavors, gpuAllocations, gpus, hosts, regions, settings, vmMigrations, vms,
} from "../db/schema.js";

export interface SnapshotScope {
  environment?: string;
  /** Restrict to these host ids (the commit step re-reads only the hosts it locked). */
  hostIds?: readonly number[];
}

/** Host tags of the form `os.<type>` mark a host as preferred for that image OS type. */
export const OS_TAG_PREFIX = "os.";

/** Cluster-scoped settings are stored in `settings` with scope `cluster:<id>`. */
export const CLUSTER_SCOPE_PREFIX = "cluster:";

/** GPUs grouped by NVLink peers: a connected component of peers is one NVLink domain. */
function nvlinkDomains(gs: { pciAddress: string; nvlinkPeers: string[] }[]): Map<string, string> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const g of gs) parent.set(g.pciAddress, g.pciAddress);
  for (const g of gs) for (const p of g.nvlinkPeers) if (parent.has(p)) parent.set(find(g.pciAddress), find(p));
  const out = new Map<string, string>();
  for (const g of gs) if (g.nvlinkPeers.length) out.set(g.pciAddress, find(g.pciAddress));
  return out;
}

/** Host tags of the form `cpu.<type>` name the host's CPU type (CloudSigma's cpu_type). */
export const CPU_TAG_PREFIX = "cpu.";

/** The host's CPU type: a `cpu.` tag, else the vendor in the CPU model name. */
export function cpuTypeOf(tags: readonly string[], cpuModel: string): string | undefined {
  const tag = tags.find((t) => t.startsWith(CPU_TAG_PREFIX));
  if (tag) return tag.slice(CPU_TAG_PREFIX.length);
  if (/\b(amd|epyc|ryzen|opteron)\b/i.test(cpuModel)) return "amd";
  if (/\b(intel|xeon)\b/i.test(cpuModel)) return "intel";
  return undefined;
}

function hostStatus(state: string): HostStatus {
  // Suspect (missed its heartbeats, being investigated) is the allocator's Disconnected; only Up takes VMs.
  return state === "Up" ? "Up" : state === "Connecting" ? "Connecting" : state === "Down" ? "Down" : state === "Alert" ? "Alert" : "Disconnected";
}

function groupBy<T, K>(rows: readonly T[], key: (r: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/** Cluster overrides (`cpu.overprovisioning.factor` ... at scope `cluster:<id>`). */
export async function loadClusterSnapshots(db: Db | Tx, clusterIds: readonly number[]): Promise<ClusterSnapshot[]> {
  if (clusterIds.length === 0) return [];
  const rows = await db.select().from(settings).where(like(settings.scope, `${CLUSTER_SCOPE_PREFIX}%`));
  const wanted = new Set(clusterIds.map(String));
  const byCluster = new Map<string, ClusterSnapshot>();
  for (const r of rows) {
    const id = r.scope.slice(CLUSTER_SCOPE_PREFIX.length);
    if (!wanted.has(id) || typeof r.value !== "number") continue;
    const c = byCluster.get(id) ?? { id };
    switch (r.name) {
      case "cpu.overprovisioning.factor": c.overprovisioning = { ...c.overprovisioning, cpu: r.value }; break;
      case "mem.overprovisioning.factor": c.overprovisioning = { ...c.overprovisioning, memory: r.value }; break;
      case "cluster.cpu.allocated.capacity.disablethreshold": c.cpuDisableThreshold = r.value; break;
      case "cluster.memory.allocated.capacity.disablethreshold": c.memoryDisableThreshold = r.value; break;
      default: continue;
    }
    byCluster.set(id, c);
  }
  return [...byCluster.values()];
}

/**
 * The GPU workload the fragmentation scorer keeps room for: every GPU flavor (passthrough or share;
 * vGPU types are packed by type instead) weighted by 1 + the VMs that run it now, so that flavors
 * in use count most and a new flavor still counts a little.
 */
export async function loadGpuWorkload(db: Db | Tx): Promise<GpuWorkloadShape[]> {
  const rows = await db.select({
    vcpus: flavors.vcpus, memoryMib: flavors.memoryMib, gpuModel: flavors.gpuModel, gpuCount: flavors.gpuCount,
    gpuShareMilli: flavors.gpuShareMilli, vms: count(vms.id),
  }).from(flavors)
    .leftJoin(vms, and(eq(vms.flavorId, flavors.id), isNull(vms.deletedAt)))
    .where(and(eq(flavors.vgpuType, ""), or(gt(flavors.gpuCount, 0), gt(flavors.gpuShareMilli, 0))))
    .groupBy(flavors.id);
  return rows.map((f) => ({
    vcpus: f.vcpus,
    memoryMib: Number(f.memoryMib),
    gpuCount: f.gpuShareMilli > 0 ? 1 : f.gpuCount,
    gpuMilli: f.gpuShareMilli > 0 ? Math.min(f.gpuShareMilli, 1000) : 1000,
    ...(f.gpuModel ? { models: [f.gpuModel] } : {}),
    weight: 1 + Number(f.vms),
  }));
}

export async function buildSnapshot(db: Db | Tx, scope: SnapshotScope = {}): Promise<FleetSnapshot> {
  const conds = [];
  if (scope.environment) conds.push(eq(regions.name, scope.environment));
  if (scope.hostIds) conds.push(inArray(hosts.id, [...scope.hostIds]));
  const rows = await db.select({
    h: hosts, clusterId: clusters.id, pod: clusters.pod, environment: regions.name,
  }).from(hosts).innerJoin(clusters, eq(hosts.clusterId, clusters.id))
    .innerJoin(regions, eq(clusters.regionId, regions.id))
    .where(conds.length ? and(...conds) : undefined).orderBy(hosts.id);
  if (rows.length === 0) return { hosts: [] };
  const ids = rows.map((r) => r.h.id);
  // Sequential on purpose: on a transaction handle the queries share one connection anyway.
  const allocRows = await db.select({
    hostId: allocations.hostId, vmId: allocations.vmId, vcpus: allocations.vcpus, memoryMib: allocations.memoryMib,
    numaNode: allocations.numaNode, pinnedCpus: allocations.pinnedCpus, uuid: vms.uuid, accountId: vms.accountId,
  }).from(allocations).innerJoin(vms, eq(vms.id, allocations.vmId))
    .where(and(inArray(allocations.hostId, ids), isNull(vms.deletedAt)));
  // Running migrations hold their vCPUs and memory on their destination until they end (their
  // GPUs there are gpu_allocations rows already): counted as used, so no placement takes them.
  const reservedRows = await db.select({
    hostId: vmMigrations.destinationHostId, vcpus: vmMigrations.reservedVcpus, memoryMib: vmMigrations.reservedMemoryMib,
  }).from(vmMigrations).where(and(inArray(vmMigrations.destinationHostId, ids), eq(vmMigrations.state, "running")));
  const gpuRows = await db.select().from(gpus)
    .where(and(inArray(gpus.hostId, ids), eq(gpus.present, true))).orderBy(gpus.hostId, gpus.pciAddress);
  const gpuAllocRows = gpuRows.length
    ? await db.select().from(gpuAllocations).where(inArray(gpuAllocations.hostId, ids))
    : [];
  const memberRows = allocRows.length
    ? await db.select({ vmId: affinityGroupMembers.vmId, groupId: affinityGroupMembers.groupId })
      .from(affinityGroupMembers).innerJoin(allocations, eq(allocations.vmId, affinityGroupMembers.vmId))
      .where(inArray(allocations.hostId, ids))
    : [];
  const clusterSnaps = await loadClusterSnapshots(db, [...new Set(rows.map((r) => r.clusterId))]);
  const gpuWorkload = gpuRows.length ? await loadGpuWorkload(db) : [];

  const allocByHost = groupBy(allocRows, (a) => a.hostId);
  const gpusByHost = groupBy(gpuRows, (g) => g.hostId);
  const gpuAllocByGpu = groupBy(gpuAllocRows, (a) => a.gpuId);
  const groupsByVm = groupBy(memberRows, (m) => m.vmId);
  const reservedByHost = groupBy(reservedRows, (r) => r.hostId);

  const hostSnaps: HostSnapshot[] = rows.map(({ h, clusterId, pod, environment }) => {
    const allocs = allocByHost.get(h.id) ?? [];
    let vcpus = 0;
    let memoryMib = 0;
    const numaPinned = new Map<number, number[]>();
    const numaMemory = new Map<number, number>();
    const hostVms: HostVm[] = [];
    for (const a of allocs) {
      vcpus += a.vcpus;
      memoryMib += Number(a.memoryMib);
      if (a.numaNode >= 0) {
        numaMemory.set(a.numaNode, (numaMemory.get(a.numaNode) ?? 0) + Number(a.memoryMib));
        if (a.pinnedCpus.length) numaPinned.set(a.numaNode, [...(numaPinned.get(a.numaNode) ?? []), ...a.pinnedCpus]);
      }
      const groups = groupsByVm.get(a.vmId);
      hostVms.push({
        vmId: a.uuid, accountId: String(a.accountId),
        ...(groups ? { affinityGroupIds: groups.map((g) => String(g.groupId)) } : {}),
      });
    }
    for (const r of reservedByHost.get(h.id) ?? []) {
      vcpus += r.vcpus;
      memoryMib += Number(r.memoryMib);
    }
    const hostGpus = gpusByHost.get(h.id) ?? [];
    const domains = nvlinkDomains(hostGpus);
    const gpuSnaps: GpuDevice[] = hostGpus.map((g) => {
      const uses = gpuAllocByGpu.get(g.id) ?? [];
      let use: GpuUse = { kind: "free" };
      if (uses.some((u) => u.mode === "passthrough")) use = { kind: "passthrough" };
      else if (uses.some((u) => u.mode === "vgpu")) {
        const counts = new Map<string, number>();
        for (const u of uses) counts.set(u.vgpuType, (counts.get(u.vgpuType) ?? 0) + 1);
        use = { kind: "vgpu", instances: [...counts].map(([vgpuType, count]) => ({ vgpuType, count })) };
      } else if (uses.length) use = { kind: "share", milliUsed: uses.reduce((s, u) => s + u.shareMilli, 0) };
      const dev: GpuDevice = {
        id: String(g.id),
        model: g.model,
        memoryMib: g.memoryMib,
        numaNode: g.numaNode,
        use,
        vgpuTypes: g.vgpuTypes.map((t) => ({ name: t.name, maxInstances: t.maxInstances, framebufferMib: t.framebufferMib })),
      };
      const d = domains.get(g.pciAddress);
      if (d) dev.nvlinkDomain = d;
      return dev;
    });
    const numa: NumaCell[] = h.numaCells.map((c) => ({
      id: c.id, cpus: c.cpus, memoryMib: c.memoryMib,
      ...(numaPinned.has(c.id) ? { pinnedCpus: numaPinned.get(c.id)! } : {}),
      ...(numaMemory.has(c.id) ? { allocatedMemoryMib: numaMemory.get(c.id)! } : {}),
    }));
    const cpuType = cpuTypeOf(h.tags, h.cpuModel);
    const osTypes = h.tags.filter((t) => t.startsWith(OS_TAG_PREFIX)).map((t) => t.slice(OS_TAG_PREFIX.length));
    return {
      id: String(h.id),
      name: h.name,
      environment,
      pod,
      cluster: String(clusterId),
      status: hostStatus(h.state),
      resourceState: h.resourceState,
      hypervisor: h.hypervisor,
      cpuModel: h.cpuModel,
      ...(cpuType ? { cpuType } : {}),
      tags: h.tags,
      ...(osTypes.length ? { osTypes } : {}),
      cpu: { total: h.cpus, allocated: vcpus },
      memory: { totalMib: h.memoryMib, reservedMib: h.memoryReserveMib, allocatedMib: memoryMib },
      numa,
      gpus: gpuSnaps,
      vms: hostVms,
      generation: h.generation,
    };
  });
  return { hosts: hostSnaps, clusters: clusterSnaps, ...(gpuWorkload.length ? { gpuWorkload } : {}) };
}
