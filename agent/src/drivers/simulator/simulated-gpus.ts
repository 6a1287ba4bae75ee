// GPUs for a simulated host, shaped like what nvidia-smi reports on a real one.
import { createHash } from "node:crypto";
import type { Gpu } from "#shared/protocol.js";

/** A vGPU type (NVIDIA profile) a simulated GPU offers, as the vGPU manager's mdev types report it. */
export interface SimulatedVgpuType { name: string; maxInstances: number; framebufferMib: number }

export interface SimulatedGpuGroup {
  model: string;
  memoryMib: number;
  count: number;
  numaNode?: number | undefined;
  /** Offered vGPU types (a vGPU host); none = passthrough only. */
  vgpuTypes?: SimulatedVgpuType[] | undefined;
}

/**
 * A GPU UUID as nvidia-smi prints one ("GPU-" and a UUID), unique to this host's GPU `index` and
 * the same on every start: a hash of the host's UUID and the index (PCI addresses repeat across hosts).
 */
export function simulatedGpuUuid(hostUuid: string, index: number): string {
  const h = createHash("sha256").update(`orbit-simulated-gpu:${hostUuid.toLowerCase()}:${index}`).digest("hex");
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Builds GPUs with PCI addresses in the layout of an 8-GPU HGX board: the first half on NUMA
 * node 0, the second on node 1 (unless a node is given), all joined by NVLink within a group.
 * Their UUIDs derive from the host's UUID (see simulatedGpuUuid).
 */
export function simulatedGpus(hostUuid: string, groups: SimulatedGpuGroup[], numaCells = 1): Gpu[] {
  const out: Gpu[] = [];
  let bus = 0x18;
  for (const g of groups) {
    const addrs = Array.from({ length: g.count }, () => `0000:${(bus++).toString(16).padStart(2, "0")}:00.0`);
    addrs.forEach((pci, i) => {
      const numa = g.numaNode ?? (numaCells > 1 ? Math.floor((i * numaCells) / g.count) : 0);
      out.push({
        pciAddress: pci,
        uuid: simulatedGpuUuid(hostUuid, out.length),
        model: g.model,
        memoryMib: g.memoryMib,
        numaNode: numa,
        virtualizationMode: g.vgpuTypes?.length ? "vgpu_host" : "passthrough",
        migEnabled: false,
        migDevices: [],
        nvlinkPeers: g.count > 1 ? addrs.filter((a) => a !== pci) : [],
        vgpuTypes: (g.vgpuTypes ?? []).map((t, k) => ({
          typeId: `nvidia-sim-${k}`, name: t.name, availableInstances: t.maxInstances, maxInstances: t.maxInstances,
          framebufferMib: t.framebufferMib, description: "",
        })),
        driverVersion: "simulated",
        cpuAffinity: "",
      });
    });
  }
  return out;
}
