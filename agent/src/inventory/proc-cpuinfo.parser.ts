// Parser for /proc/cpuinfo: the CPU model name (fallback when libvirt gives none), counts and
// whether hardware virtualization (vmx/svm) is there. Pure.
import { InventoryParseError } from "./inventory-parse-error.js";

export interface ProcCpuinfo {
  /** "model name" of the first CPU (x86); undefined on architectures that print none. */
  modelName: string | undefined;
  vendorId: string | undefined;
  logicalCpus: number;
  /** Distinct "physical id" values; undefined when the kernel does not print them. */
  sockets: number | undefined;
  /** "cpu MHz" of the first CPU, rounded. */
  cpuMhz: number | undefined;
  flags: string[];
  /** vmx (Intel VT-x) or svm (AMD-V) among the flags: KVM can run. */
  hardwareVirtualization: boolean;
}

export function parseProcCpuinfo(text: string): ProcCpuinfo {
  const blocks = text.split(/\r?\n\s*\r?\n/).map((b) => {
    const fields: Record<string, string> = {};
    for (const line of b.split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i > 0) fields[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return fields;
  });
  const cpus = blocks.filter((f) => f["processor"] !== undefined);
  if (cpus.length === 0) throw new InventoryParseError("/proc/cpuinfo", "no processor entries");
  const first = cpus[0]!;
  const physicalIds = new Set(cpus.map((c) => c["physical id"]).filter((v) => v !== undefined));
  const flags = (first["flags"] ?? first["Features"] ?? "").split(/\s+/).filter(Boolean);
  const mhz = first["cpu MHz"] !== undefined ? Number(first["cpu MHz"]) : NaN;
  return {
    modelName: first["model name"] ?? first["Model"] ?? undefined,
    vendorId: first["vendor_id"],
    logicalCpus: cpus.length,
    sockets: physicalIds.size > 0 ? physicalIds.size : undefined,
    cpuMhz: Number.isFinite(mhz) ? Math.round(mhz) : undefined,
    flags,
    hardwareVirtualization: flags.includes("vmx") || flags.includes("svm"),
  };
}
