// Parser for `nvidia-smi vgpu -s -v` (supported vGPU types) and `-c -v` (creatable ones): per
// physical GPU, its vGPU types, time-sliced or MIG-backed. Pure.
import { GpuParseError } from "./gpu-parse-error.js";
import { normalizePciAddress } from "./pci-address.js";
import { parseIntOrUndefined, parseMib, present } from "./nvidia-smi-report.js";

export interface NvidiaVgpuTypeInfo {
  /** NVIDIA's numeric vGPU type id (printed in hex). */
  vgpuTypeId: number;
  /** The matching mdev type directory name, "nvidia-<decimal id>". */
  typeId: string;
  name: string;
  /** "NVS", "Quadro", "Compute"... */
  vgpuClass: string | undefined;
  /** Set for MIG-backed types: the GPU instance profile the vGPU lives in. */
  gpuInstanceProfileId: number | undefined;
  migBacked: boolean;
  maxInstances: number | undefined;
  maxInstancesPerVm: number | undefined;
  maxInstancesPerGi: number | undefined;
  framebufferMib: number | undefined;
  /** Every "key: value" line of the block, as printed. */
  fields: Record<string, string>;
}

export interface NvidiaVgpuTypesOfGpu {
  busId: string;
  pciAddress: string;
  types: NvidiaVgpuTypeInfo[];
}

const SOURCE = "nvidia-smi vgpu -s -v";

function finish(fields: Record<string, string>, vgpuTypeId: number): NvidiaVgpuTypeInfo {
  const gip = parseIntOrUndefined(fields["GPU Instance Profile ID"]);
  return {
    vgpuTypeId,
    typeId: `nvidia-${vgpuTypeId}`,
    name: fields["Name"] ?? "",
    vgpuClass: present(fields["Class"]),
    gpuInstanceProfileId: gip,
    migBacked: gip !== undefined,
    maxInstances: parseIntOrUndefined(fields["Max Instances"]),
    maxInstancesPerVm: parseIntOrUndefined(fields["Max Instances Per VM"]),
    maxInstancesPerGi: parseIntOrUndefined(fields["Max Instances Per GI"]),
    framebufferMib: parseMib(fields["FB Memory"]),
    fields,
  };
}

export function parseNvidiaSmiVgpuTypes(text: string): NvidiaVgpuTypesOfGpu[] {
  const out: NvidiaVgpuTypesOfGpu[] = [];
  let gpu: NvidiaVgpuTypesOfGpu | undefined;
  let fields: Record<string, string> | undefined;
  let typeId: number | undefined;
  const flush = () => {
    if (gpu && fields && typeId !== undefined) gpu.types.push(finish(fields, typeId));
    fields = undefined;
    typeId = undefined;
  };
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "") continue;
    const head = /^GPU\s+([0-9A-Fa-f:.]+)\s*$/.exec(raw);
    if (head) {
      flush();
      gpu = { busId: head[1]!, pciAddress: normalizePciAddress(head[1]!) ?? head[1]!, types: [] };
      out.push(gpu);
      continue;
    }
    const kv = /^\s+([^:]+?)\s*:\s*(.*?)\s*$/.exec(raw);
    if (!kv || !gpu) throw new GpuParseError(SOURCE, `unexpected line: ${raw.slice(0, 120)}`);
    const [, key, value] = kv as unknown as [string, string, string];
    if (key === "vGPU Type ID") {
      flush();
      const id = parseIntOrUndefined(value);
      if (id === undefined) throw new GpuParseError(SOURCE, `unreadable vGPU type id: ${value}`);
      typeId = id;
      fields = {};
    } else if (fields) {
      fields[key] = value;
    }
  }
  flush();
  return out;
}
