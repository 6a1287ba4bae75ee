// Parser for `nvidia-smi vgpu -s -v` (supported vGPU types) and `-c -v` (creatable ones): per
// physical GPU, its vGPU types, time-sliced or MIG-backed. A line it does not understand (or a
// type block without a readable id) is skipped with a warning and the rest is kept; output without
// any GPU line is not a listing. Pure, and linear in the text's length (no regex over a whole line).
import { GpuParseError } from "./gpu-parse-error.js";
import { normalizePciAddress } from "./pci-address.js";
import { parseIntOrUndefined, parseMib, present } from "./nvidia-smi-report.js";
import { firstFewWarnings, lineExcerpt, skippedLinesWarnings } from "./skipped-lines.js";

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

export interface NvidiaVgpuListing {
  gpus: NvidiaVgpuTypesOfGpu[];
  /** What was skipped: lines not understood, type blocks without a readable id. */
  warnings: string[];
}

const SOURCE = "nvidia-smi vgpu -s -v";

function finish(fields: Record<string, string>, vgpuTypeId: number): NvidiaVgpuTypeInfo {
  const gip = parseIntOrUndefined(fields["GPU Instance Profile ID"]);
  return {
    vgpuTypeId,
    typeId: `nvidia-${vgpuTypeId}`,
    name: present(fields["Name"]) ?? "",
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

const GPU_HEAD = /^GPU\s+([0-9A-Fa-f:.]+)$/;

/** "    Key   : value" → [key, value]: split at the first colon; the key line must be indented. */
function keyValue(raw: string): [string, string] | undefined {
  if (!/^\s/.test(raw)) return undefined;
  const colon = raw.indexOf(":");
  if (colon === -1) return undefined;
  const key = raw.slice(0, colon).trim();
  return key === "" ? undefined : [key, raw.slice(colon + 1).trim()];
}

export function parseNvidiaSmiVgpuTypes(text: string): NvidiaVgpuListing {
  const gpus: NvidiaVgpuTypesOfGpu[] = [];
  const skipped: string[] = [];
  const badIds: string[] = [];
  let gpu: NvidiaVgpuTypesOfGpu | undefined;
  let fields: Record<string, string> | undefined;
  let typeId: number | undefined;
  const flush = () => {
    if (gpu && fields && typeId !== undefined) gpu.types.push(finish(fields, typeId));
    fields = undefined;
    typeId = undefined;
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const head = /^\S/.test(raw) ? GPU_HEAD.exec(line) : null;
    if (head) {
      flush();
      gpu = { busId: head[1]!, pciAddress: normalizePciAddress(head[1]!) ?? head[1]!, types: [] };
      gpus.push(gpu);
      continue;
    }
    const kv = keyValue(raw);
    if (!kv || !gpu) {
      skipped.push(raw);
      continue;
    }
    const [key, value] = kv;
    if (key === "vGPU Type ID") {
      flush();
      const id = parseIntOrUndefined(value);
      // Its fields are dropped with it: they cannot be told apart from the previous type's.
      if (id === undefined) badIds.push(`${SOURCE}: unreadable vGPU type id on GPU ${gpu.busId}: ${lineExcerpt(value)}; that type skipped`);
      else {
        typeId = id;
        fields = {};
      }
    } else if (fields) {
      fields[key] = value;
    }
  }
  flush();
  if (gpus.length === 0 && skipped.length > 0) {
    throw new GpuParseError(SOURCE, `no GPU line found; first line: ${lineExcerpt(skipped[0]!)}`);
  }
  return {
    gpus,
    warnings: [...firstFewWarnings(SOURCE, badIds, "type(s) with an unreadable id skipped"), ...skippedLinesWarnings(SOURCE, skipped)],
  };
}
