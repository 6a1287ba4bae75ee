// Merges what each source says about the GPUs into proto Gpu facts. Pure.
//  -q -x: the GPUs themselves; -L: MIG profile names and UUIDs; topo -m: NVLink peers and CPU/NUMA
//  affinity (by nvidia-smi index = report order); sysfs: vGPU types still creatable and a NUMA
//  fallback; vgpu -s -v: every supported vGPU type with its limits.
import type { Gpu, MigDevice, VgpuType } from "#shared/protocol.js";
import type { ListedGpu } from "./nvidia-smi-list.parser.js";
import type { NvidiaSmiGpu, NvidiaSmiReport } from "./nvidia-smi-report.js";
import type { NvidiaTopology } from "./nvidia-smi-topo.parser.js";
import type { NvidiaVgpuTypesOfGpu } from "./nvidia-smi-vgpu.parser.js";
import type { SysfsVgpuType } from "./vgpu-sysfs.reader.js";

export interface GpuFactSources {
  report: NvidiaSmiReport;
  list?: ListedGpu[];
  topology?: NvidiaTopology;
  sysfsVgpuTypes?: SysfsVgpuType[];
  supportedVgpuTypes?: NvidiaVgpuTypesOfGpu[];
  /** NUMA node per PCI address from sysfs, used when topo -m does not say. */
  sysfsNumaNodes?: Record<string, number>;
}

export interface MergedGpus {
  gpus: Gpu[];
  warnings: string[];
}

function typeNumber(typeId: string): number {
  const m = /(\d+)$/.exec(typeId);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

function migDevices(g: NvidiaSmiGpu, listed: ListedGpu | undefined): MigDevice[] {
  return g.migDevices.map((m) => {
    const l = listed?.migDevices.find((x) => x.index === m.index);
    return {
      gpuInstanceId: Math.max(0, m.gpuInstanceId),
      computeInstanceId: Math.max(0, m.computeInstanceId),
      profile: l?.profile ?? m.profile,
      memoryMib: m.memoryMib,
      uuid: l?.uuid ?? m.uuid,
    };
  });
}

/** vGPU types of one GPU: creatable ones from sysfs summed over its parents (GPU or VFs), plus
 *  supported-but-not-creatable ones from `vgpu -s -v` with 0 available. */
export function vgpuTypesOfGpu(
  pciAddress: string,
  sysfs: SysfsVgpuType[] = [],
  supported: NvidiaVgpuTypesOfGpu[] = [],
): VgpuType[] {
  const byType = new Map<string, VgpuType & { maxKnown: boolean }>();
  for (const t of sysfs.filter((s) => s.gpuPci === pciAddress)) {
    const cur = byType.get(t.typeId);
    if (cur) {
      cur.availableInstances += t.availableInstances;
      if (t.maxInstances === undefined) cur.maxKnown = false;
      else cur.maxInstances += t.maxInstances;
    } else {
      byType.set(t.typeId, {
        typeId: t.typeId,
        name: t.name,
        availableInstances: t.availableInstances,
        maxInstances: t.maxInstances ?? 0,
        maxKnown: t.maxInstances !== undefined,
        framebufferMib: t.framebufferMib ?? 0,
        description: t.description,
      });
    }
  }
  const info = supported.find((s) => s.pciAddress === pciAddress);
  for (const s of info?.types ?? []) {
    const cur = byType.get(s.typeId);
    if (cur) {
      // nvidia-smi's per-GPU limits are authoritative over the per-parent description.
      if (s.maxInstances !== undefined) { cur.maxInstances = s.maxInstances; cur.maxKnown = true; }
      if (s.framebufferMib !== undefined) cur.framebufferMib = s.framebufferMib;
      if (!cur.name) cur.name = s.name;
    } else {
      byType.set(s.typeId, {
        typeId: s.typeId, name: s.name, availableInstances: 0, maxInstances: s.maxInstances ?? 0,
        maxKnown: s.maxInstances !== undefined, framebufferMib: s.framebufferMib ?? 0, description: "",
      });
    }
  }
  return [...byType.values()]
    .sort((a, b) => typeNumber(a.typeId) - typeNumber(b.typeId) || a.typeId.localeCompare(b.typeId))
    .map(({ maxKnown, ...t }) => ({ ...t, maxInstances: maxKnown ? t.maxInstances : 0 }));
}

export function mergeGpuFacts(src: GpuFactSources): MergedGpus {
  const warnings: string[] = [];
  const { report } = src;
  const byIndex = new Map(report.gpus.map((g) => [g.index, g]));
  const gpus = report.gpus.map((g): Gpu => {
    const listed = src.list?.find((l) => l.uuid === g.uuid && g.uuid !== "") ?? src.list?.find((l) => l.index === g.index);
    const topo = src.topology?.gpus.find((t) => t.index === g.index);
    const nvlinkPeers: string[] = [];
    for (const p of topo?.nvlinkPeers ?? []) {
      const peer = byIndex.get(p.index);
      if (peer) nvlinkPeers.push(peer.pciAddress);
      else warnings.push(`topo -m: GPU${g.index} has an NVLink to GPU${p.index}, which nvidia-smi -q does not list`);
    }
    const sysfsNuma = src.sysfsNumaNodes?.[g.pciAddress];
    const numaNode = topo && topo.numaNode >= 0 ? topo.numaNode : sysfsNuma !== undefined && sysfsNuma >= 0 ? sysfsNuma : -1;
    return {
      pciAddress: g.pciAddress,
      uuid: g.uuid,
      model: g.productName,
      memoryMib: g.memoryMib,
      numaNode,
      virtualizationMode: g.virtualizationMode,
      migEnabled: g.migCurrent === "enabled",
      migDevices: migDevices(g, listed),
      nvlinkPeers,
      vgpuTypes: vgpuTypesOfGpu(g.pciAddress, src.sysfsVgpuTypes, src.supportedVgpuTypes),
      driverVersion: report.driverVersion,
      cpuAffinity: topo?.cpuAffinity ?? "",
    };
  });
  return { gpus, warnings: [...new Set(warnings)] };
}
