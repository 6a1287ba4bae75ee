// Which way a VM can move to another host, and which hosts cannot take it (pure; table tests in
// migration-rules.test.ts). The allocator decides capacity, tags, GPUs; these are migration's own
// rules. Every refusal carries a stable code (API clients and host maintenance match on it).
//
// GPUs:
//   - passthrough GPUs: their device state cannot be copied (no VFIO migration for a whole GPU in
//     the NVIDIA stack Orbit drives): cold only (stop, move, start);
//   - vGPUs: live only when both hosts run a stack that supports NVIDIA vGPU live migration on KVM,
//     and the same NVIDIA driver on both. Minimums, from the documentation (on paper: no GPU here):
//       * NVIDIA lists vGPU live migration on "Ubuntu with KVM 24.04 LTS" and "RHEL with KVM 9.4 /
//         9.6 / 10.0" (docs.nvidia.com/ai-enterprise/.../vgpu/features/live-migration.html; the vGPU
//         knowledge base docs.nvidia.com/vgpu/knowledge-base/latest). Ubuntu 24.04 ships QEMU 8.2.2
//         and libvirt 10.0.0, RHEL 9.4 QEMU 8.2 and libvirt 10.0: QEMU >= 8.2 and libvirt >= 10.0.
//       * NVIDIA's first vGPU release for Ubuntu 24.04 KVM is the R550 branch (vGPU 17): driver >= 550.
//       * Red Hat: "vGPU live migration fails if the vGPU driver version differs on the source and
//         destination hosts", and post-copy and a virtual IOMMU cannot be used with it
//         (docs.redhat.com, RHEL 9/10 "Live migrating a virtual machine with an attached NVIDIA vGPU").
//   - post-copy: never for a VM with VFIO devices (passthrough or vGPU). Orbit's MigrateVm has no
//     post-copy flag at all today, so no migration asks for it; migrationPlan says so explicitly.
//
// Storage: a VM whose disks are all on shared pools moves within its cluster (the disks stay).
// Local disks move only live with storage motion (libvirt's copy-storage all), when asked; a
// cold move of local disks would need a copy Orbit does not make, and is refused.

export type MigrationMode = "live" | "cold";
export type RequestedMode = MigrationMode | "auto";

export interface Refusal { code: string; message: string }

/** Where the VM's disks live: every one on shared pools, or at least one on the host itself. */
export type VmStorage = "shared" | "local";

export interface MigratingVm {
  id: number;
  state: string;
  gpuModes: readonly ("passthrough" | "vgpu" | "share")[];
  storage: VmStorage;
  snapshots: number;
}

export interface MigrationHostFacts {
  id: number;
  name: string;
  state: string;
  resourceState: string;
  hypervisor: string;
  cpuArch: string;
  clusterId: number;
  migrationUri: string;
  /** libvirt's facts: "QEMU 8.2.2, libvirt 10.0.0". */
  hypervisorVersion: string;
  /** NVIDIA driver versions of its GPUs ("" unknown). */
  gpuDriverVersions: readonly string[];
}

export const VGPU_LIVE_MINIMUM = { qemu: [8, 2], libvirt: [10, 0], nvidiaDriver: [550] } as const;

/** The numeric parts of a version ("8.2.2" → [8, 2, 2]); undefined when there is none. */
export function parseVersion(s: string): number[] | undefined {
  const m = /(\d+(?:\.\d+)*)/.exec(s);
  return m ? m[1]!.split(".").map(Number) : undefined;
}

export function versionAtLeast(have: readonly number[], want: readonly number[]): boolean {
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0;
    if (h !== want[i]) return h > want[i]!;
  }
  return true;
}

/** QEMU's and libvirt's versions from a host's hypervisor_version ("QEMU 8.2.2, libvirt 10.0.0"). */
export function stackVersions(hypervisorVersion: string): { qemu?: number[]; libvirt?: number[] } {
  const qemu = /qemu\s+(\d+(?:\.\d+)*)/i.exec(hypervisorVersion)?.[1];
  const libvirt = /libvirt\s+(\d+(?:\.\d+)*)/i.exec(hypervisorVersion)?.[1];
  return { ...(qemu ? { qemu: parseVersion(qemu)! } : {}), ...(libvirt ? { libvirt: parseVersion(libvirt)! } : {}) };
}

/** Why this host's stack cannot live-migrate a vGPU VM (empty: it can). */
export function vgpuLiveGaps(h: MigrationHostFacts): string[] {
  const gaps: string[] = [];
  const v = stackVersions(h.hypervisorVersion);
  const w = VGPU_LIVE_MINIMUM;
  if (!v.qemu || !versionAtLeast(v.qemu, w.qemu)) gaps.push(`QEMU ${v.qemu?.join(".") ?? "unknown"} (needs ${w.qemu.join(".")} or later)`);
  if (!v.libvirt || !versionAtLeast(v.libvirt, w.libvirt)) gaps.push(`libvirt ${v.libvirt?.join(".") ?? "unknown"} (needs ${w.libvirt.join(".")} or later)`);
  const drivers = [...new Set(h.gpuDriverVersions.filter(Boolean))];
  if (drivers.length === 0) gaps.push(`NVIDIA driver unknown (needs ${w.nvidiaDriver.join(".")} or later)`);
  for (const d of drivers) {
    const p = parseVersion(d);
    if (!p || !versionAtLeast(p, w.nvidiaDriver)) gaps.push(`NVIDIA driver ${d} (needs ${w.nvidiaDriver.join(".")} or later)`);
  }
  return gaps;
}

export type ModeDecision = { ok: true; mode: MigrationMode } | { ok: false; refusal: Refusal; badRequest?: boolean };

/**
 * The mode a VM moves in. Live needs it Running; passthrough GPUs never move live, and auto moves
 * them cold only when the request allows stopping it (allowCold). A stopped VM always moves cold.
 */
export function chooseMode(vm: MigratingVm, requested: RequestedMode, allowCold: boolean): ModeDecision {
  const passthrough = vm.gpuModes.some((m) => m === "passthrough" || m === "share");
  if (vm.state === "Migrating") return { ok: false, refusal: { code: "already_migrating", message: `virtual machine ${vm.id} is migrating already` } };
  if (vm.state !== "Running" && vm.state !== "Stopped") {
    return { ok: false, refusal: { code: "vm_state", message: `virtual machine ${vm.id} is ${vm.state}: only a Running VM (live or cold) or a Stopped one (cold) can migrate` } };
  }
  if (vm.snapshots > 0) {
    return { ok: false, refusal: { code: "has_snapshots", message: `virtual machine ${vm.id} has ${vm.snapshots} snapshot(s), kept in its disks on its host, which a migration does not carry: delete them first` } };
  }
  if (vm.state === "Stopped") {
    if (requested === "live") return { ok: false, refusal: { code: "vm_not_running", message: `virtual machine ${vm.id} is Stopped: a live migration needs it Running (ask for mode cold)` } };
    return { ok: true, mode: "cold" };
  }
  if (requested === "cold") return { ok: true, mode: "cold" };
  if (passthrough) {
    if (requested === "live") {
      return { ok: false, refusal: { code: "gpu_passthrough_live", message: `virtual machine ${vm.id} has passthrough GPUs, whose state cannot be moved live: migrate it cold (mode "cold", which stops it)` } };
    }
    if (!allowCold) {
      return { ok: false, refusal: { code: "cold_not_allowed", message: `virtual machine ${vm.id} has passthrough GPUs and can only migrate cold, which stops it: ask for mode "cold"` } };
    }
    return { ok: true, mode: "cold" };
  }
  return { ok: true, mode: "live" };
}

/**
 * Why `dest` cannot take the VM from `source` in this mode (empty: it can, as far as migration's
 * own rules go; the allocator decides capacity). Local disks moving live need storage motion,
 * which storageRefusal checks for the request as a whole; with it they may go to another cluster.
 */
export function destinationRefusals(
  vm: MigratingVm, mode: MigrationMode, source: MigrationHostFacts, dest: MigrationHostFacts,
): Refusal[] {
  const out: Refusal[] = [];
  const r = (code: string, message: string) => out.push({ code, message });
  if (dest.id === source.id) r("same_host", `host ${dest.name} is the host the VM is on`);
  if (dest.state !== "Up") r("host_not_up", `host ${dest.name} is ${dest.state}, not Up`);
  if (dest.resourceState !== "Enabled") r("host_not_enabled", `host ${dest.name} is ${dest.resourceState}, not Enabled`);
  if (dest.hypervisor !== source.hypervisor) r("hypervisor_mismatch", `host ${dest.name} runs ${dest.hypervisor}, the VM's host ${source.hypervisor}`);
  if (dest.cpuArch !== source.cpuArch) r("cpu_arch_mismatch", `host ${dest.name} is ${dest.cpuArch || "of unknown architecture"}, the VM's host ${source.cpuArch || "unknown"}`);
  if (mode === "live") {
    if (!dest.migrationUri) r("no_migration_uri", `host ${dest.name} reports no migration URI (agent setting host.migration_uri): it cannot receive a live migration`);
    if (vm.storage === "shared" && dest.clusterId !== source.clusterId) {
      r("different_cluster", `host ${dest.name} is in another cluster, which does not see the VM's shared storage`);
    }
    if (vm.gpuModes.includes("vgpu")) {
      const gaps = [...vgpuLiveGaps(source).map((g) => `source ${source.name}: ${g}`), ...vgpuLiveGaps(dest).map((g) => `${dest.name}: ${g}`)];
      if (gaps.length) r("vgpu_live_unsupported", `live migration of vGPUs needs QEMU, libvirt and NVIDIA driver versions these hosts lack: ${gaps.join("; ")}`);
      const a = [...new Set(source.gpuDriverVersions.filter(Boolean))].sort().join(",");
      const b = [...new Set(dest.gpuDriverVersions.filter(Boolean))].sort().join(",");
      if (a && b && a !== b) r("vgpu_driver_mismatch", `host ${dest.name} runs NVIDIA driver ${b}, the VM's host ${a}: vGPU live migration needs the same driver on both`);
    }
  } else {
    // Cold: the disks stay where they are and the VM is defined again on the destination.
    if (vm.storage === "local") r("local_storage_cold", `the VM's disks are local to its host: a cold migration would need them copied, which Orbit does not do (migrate it live with storage_motion)`);
    else if (dest.clusterId !== source.clusterId) r("different_cluster", `host ${dest.name} is in another cluster, which does not see the VM's shared storage`);
  }
  return out;
}

/** Refusals of the request itself whatever the destination (storage motion asked wrongly, local disks without it). */
export function storageRefusal(vm: MigratingVm, mode: MigrationMode, storageMotion: boolean): Refusal | undefined {
  if (mode === "live" && vm.storage === "local" && !storageMotion) {
    return { code: "local_storage", message: `the VM's disks are local to its host: a live migration copies them only when asked (storage_motion: true)` };
  }
  if (storageMotion && mode === "cold") {
    return { code: "storage_motion_cold", message: "storage_motion copies disks during a live migration; a cold migration cannot copy them" };
  }
  if (storageMotion && vm.storage === "shared") {
    return { code: "storage_motion_shared", message: "the VM's disks are on shared storage, which the destination sees: storage_motion would copy them onto themselves" };
  }
  return undefined;
}

/** What MigrateVm is asked for a live migration. */
export function migrationFlags(vm: MigratingVm, storageMotion: boolean): { copyStorage: "none" | "all"; postCopy: false; postCopyWhyNot: string } {
  const vfio = vm.gpuModes.length > 0;
  return {
    copyStorage: storageMotion && vm.storage === "local" ? "all" : "none",
    postCopy: false,
    postCopyWhyNot: vfio ? "VFIO devices (GPUs) cannot migrate post-copy" : "Orbit migrates pre-copy only",
  };
}
