// Builds the allocator's immutable fleet snapshot from PostgreSQL.
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type {
  FleetSnapshot, GpuDevice, GpuUse, HostSnapshot, HostVm,
} from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import { allocations, clusters, environments, gpuAllocations, gpus, hosts, vms } from "../db/schema.js";

export interface SnapshotScope {
  environment?: string;
  /** Restrict to these host ids (the commit step re-checks only the hosts it touches). */
  hostIds?: readonly number[];
}

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

export async function buildSnapshot(db: Db | Tx, scope: SnapshotScope = {}): Promise<FleetSnapshot> {
  const conds = [];
  if (scope.environment) conds.push(eq(environments.name, scope.environment));
  if (scope.hostIds) conds.push(inArray(hosts.id, [...scope.hostIds]));
  const rows = await db.select({
    h: hosts, clusterId: clusters.id, pod: clusters.pod, environment: environments.name,
  }).from(hosts).innerJoin(clusters, eq(hosts.clusterId, clusters.id))
    .innerJoin(environments, eq(clusters.environmentId, environments.id))
    .where(conds.length ? and(...conds) : undefined).orderBy(hosts.id);
  if (rows.length === 0) return { hosts: [] };
  const ids = rows.map((r) => r.h.id);
  const [allocRows, gpuRows, gpuAllocRows, vmRows] = await Promise.all([
    db.select({
      hostId: allocations.hostId,
      vcpus: sql<number>`coalesce(sum(${allocations.vcpus}),0)::int`,
      memoryMib: sql<string>`coalesce(sum(${allocations.memoryMib}),0)::bigint`,
    }).from(allocations).where(inArray(allocations.hostId, ids)).groupBy(allocations.hostId),
    db.select().from(gpus).where(and(inArray(gpus.hostId, ids), eq(gpus.present, true))).orderBy(gpus.hostId, gpus.pciAddress),
    db.select().from(gpuAllocations).where(inArray(gpuAllocations.hostId, ids)),
    db.select({ id: vms.id, uuid: vms.uuid, hostId: vms.hostId, accountId: vms.accountId })
      .from(vms).innerJoin(allocations, eq(allocations.vmId, vms.id))
      .where(and(inArray(allocations.hostId, ids), isNull(vms.deletedAt))),
  ]);
  const allocByHost = new Map(allocRows.map((a) => [a.hostId, a]));
  const gpusByHost = new Map<number, typeof gpuRows>();
  for (const g of gpuRows) (gpusByHost.get(g.hostId) ?? gpusByHost.set(g.hostId, []).get(g.hostId)!).push(g);
  const gpuAllocByGpu = new Map<number, typeof gpuAllocRows>();
  for (const a of gpuAllocRows) (gpuAllocByGpu.get(a.gpuId) ?? gpuAllocByGpu.set(a.gpuId, []).get(a.gpuId)!).push(a);
  const vmsByHost = new Map<number, HostVm[]>();
  for (const v of vmRows) {
    if (v.hostId == null) continue;
    (vmsByHost.get(v.hostId) ?? vmsByHost.set(v.hostId, []).get(v.hostId)!).push({ vmId: v.uuid, accountId: String(v.accountId) });
  }

  const hostSnaps: HostSnapshot[] = rows.map(({ h, clusterId, pod, environment }) => {
    const a = allocByHost.get(h.id);
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
    return {
      id: String(h.id),
      name: h.name,
      environment,
      pod,
      cluster: String(clusterId),
      status: h.state === "Up" ? "Up" : h.state === "Connecting" ? "Connecting" : h.state === "Down" ? "Down" : "Disconnected",
      resourceState: h.resourceState,
      hypervisor: h.hypervisor,
      cpuModel: h.cpuModel,
      tags: h.tags,
      cpu: { total: h.cpus, allocated: a?.vcpus ?? 0 },
      memory: { totalMib: h.memoryMib, reservedMib: h.memoryReserveMib, allocatedMib: Number(a?.memoryMib ?? 0) },
      numa: h.numaCells.map((c) => ({ id: c.id, cpus: c.cpus, memoryMib: c.memoryMib })),
      gpus: gpuSnaps,
      vms: vmsByHost.get(h.id) ?? [],
      generation: h.generation,
    } satisfies HostSnapshot & { cluster: string };
  });
  return { hosts: hostSnaps };
}
