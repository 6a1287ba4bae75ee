// What `nvidia-smi -q` tells about the GPUs of a machine, whichever form it was printed in
// (XML with -x, or text). Both parsers return this; the inventory turns it into proto Gpu.

export interface NvidiaSmiMigDevice {
  /** MIG device index on its GPU: the "Device N" of `nvidia-smi -L`. */
  index: number;
  gpuInstanceId: number;
  computeInstanceId: number;
  memoryMib: number;
  multiprocessorCount: number | undefined;
  /** Profile such as "1g.10gb": not in -q output, filled from `nvidia-smi -L`. */
  profile: string;
  /** "MIG-..." UUID: not in -q output, filled from `nvidia-smi -L`. */
  uuid: string;
}

/** Orbit's names for nvidia-smi's virtualization modes (proto Gpu.virtualization_mode). */
export type GpuVirtualizationMode =
  | "none" | "passthrough" | "vgpu_guest" | "vgpu_host" | "vsga_host" | "unknown" | (string & {});

export interface NvidiaSmiGpu {
  /** nvidia-smi's GPU index: the order of the report (PCI bus order), NOT minor_number. */
  index: number;
  /** As printed, e.g. "00000000:81:00.0". */
  busId: string;
  /** Canonical form, e.g. "0000:81:00.0" (see pci-address.ts). */
  pciAddress: string;
  uuid: string;
  productName: string;
  productBrand: string | undefined;
  architecture: string | undefined;
  /** Framebuffer total (MiB); 0 when unknown. */
  memoryMib: number;
  minorNumber: number | undefined;
  serial: string | undefined;
  virtualizationMode: GpuVirtualizationMode;
  /** "SR-IOV" / "Non SR-IOV" on a vGPU host; undefined elsewhere. */
  hostVgpuMode: string | undefined;
  migCurrent: "enabled" | "disabled" | undefined;
  migPending: "enabled" | "disabled" | undefined;
  migDevices: NvidiaSmiMigDevice[];
  /** Inside a vGPU guest: the licensed product ("NVIDIA RTX Virtual Workstation"). */
  vgpuLicensedProduct: string | undefined;
}

export interface NvidiaSmiReport {
  driverVersion: string;
  cudaVersion: string | undefined;
  /** As the report states it; may exceed gpus.length when a capture was trimmed. */
  attachedGpus: number;
  gpus: NvidiaSmiGpu[];
  /** What the parser skipped and why (a banner before the XML, an unreadable GPU section...). */
  warnings: string[];
}

// nvidia-smi's ways of printing "no value": N/A, [N/A], Not Found, Not Supported, Unknown Error,
// [Insufficient Permissions], [GPU requires reset]... Any fully bracketed text is one too: values
// nvidia-smi really reports are never bracketed.
const PLACEHOLDER = /^(?:N\/A|Not Found|Not Supported|Not Available|Unknown Error|Insufficient Permissions)$/i;

/** True for nvidia-smi's placeholders, which are absent values (never a version, mode or name). */
export function isNvidiaSmiPlaceholder(v: string): boolean {
  const t = v.trim();
  return PLACEHOLDER.test(t) || (t.length >= 2 && t.startsWith("[") && t.endsWith("]"));
}

/** No value: missing, empty, a placeholder, or "None". */
export function isNotAvailable(v: string | undefined): boolean {
  if (v === undefined) return true;
  const t = v.trim();
  return t === "" || /^none$/i.test(t) || isNvidiaSmiPlaceholder(t);
}

/** A value, or undefined for N/A and friends. */
export function present(v: string | undefined): string | undefined {
  return isNotAvailable(v) ? undefined : v!.trim();
}

/** "81920 MiB" → 81920; "2 GiB" → 2048; N/A → undefined. */
export function parseMib(v: string | undefined): number | undefined {
  const t = present(v);
  if (t === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(MiB|MB|GiB|GB|KiB|KB)?$/i.exec(t);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch ((m[2] ?? "MiB").toLowerCase()) {
    case "gib": case "gb": return Math.round(n * 1024);
    case "kib": case "kb": return Math.floor(n / 1024);
    default: return Math.round(n);
  }
}

export function parseIntOrUndefined(v: string | undefined): number | undefined {
  const t = present(v);
  if (t === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : Number(t);
  return Number.isInteger(n) ? n : undefined;
}

export function parseEnabled(v: string | undefined): "enabled" | "disabled" | undefined {
  const t = present(v)?.toLowerCase();
  if (t === "enabled") return "enabled";
  if (t === "disabled") return "disabled";
  return undefined;
}

const VIRTUALIZATION_MODES: Record<string, GpuVirtualizationMode> = {
  "none": "none",
  "pass-through": "passthrough",
  "vgpu": "vgpu_guest",
  "host vgpu": "vgpu_host",
  "host vsga": "vsga_host",
};

/** nvidia-smi's "Pass-Through", "VGPU", "Host VGPU"... → Orbit's names; missing → "unknown". */
export function normalizeVirtualizationMode(v: string | undefined): GpuVirtualizationMode {
  // "None" is a mode (bare metal, no virtualization); the placeholders are not.
  if (v === undefined || v.trim() === "" || isNvidiaSmiPlaceholder(v)) return "unknown";
  const key = v.trim().toLowerCase();
  return VIRTUALIZATION_MODES[key] ?? key.replace(/[^a-z0-9]+/g, "_");
}
