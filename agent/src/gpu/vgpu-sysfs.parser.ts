// Parsers for the vGPU files NVIDIA's host driver puts in sysfs. Pure.
//  - mdev framework: mdev_supported_types/<type>/description, e.g.
//    "num_heads=4, frl_config=60, framebuffer=2048M, max_resolution=4096x2160, max_instance=4";
//  - vendor VFIO framework (vGPU 17+, no mdev): <vf>/nvidia/creatable_vgpu_types, lines
//    "<numeric id> : <name>", possibly under an "ID : vGPU Name" header.

export interface MdevDescription {
  framebufferMib: number | undefined;
  maxInstances: number | undefined;
  fields: Record<string, string>;
}

function sizeToMib(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\s*([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]!.toUpperCase()) {
    case "K": return Math.floor(n / 1024);
    case "G": return n * 1024;
    case "T": return n * 1024 * 1024;
    case "M": return n;
    default: return Math.floor(n / (1024 * 1024)); // plain bytes
  }
}

export function parseMdevDescription(text: string): MdevDescription {
  const fields: Record<string, string> = {};
  for (const part of text.split(/[,\n]/)) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const max = fields["max_instance"] !== undefined ? Number(fields["max_instance"]) : undefined;
  return {
    framebufferMib: sizeToMib(fields["framebuffer"]),
    maxInstances: max !== undefined && Number.isInteger(max) ? max : undefined,
    fields,
  };
}

export interface CreatableVgpuType {
  vgpuTypeId: number;
  /** "nvidia-<id>", the same name the mdev framework gives the type. */
  typeId: string;
  name: string;
}

/** Linear in the text's length: split at the first colon, no regex over the whole line. */
export function parseCreatableVgpuTypes(text: string): CreatableVgpuType[] {
  const out: CreatableVgpuType[] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const id = line.slice(0, colon).trim();
    const name = line.slice(colon + 1).trim();
    // The "ID : vGPU Name" header and anything else without a numeric id is not a type.
    if (/^\d+$/.test(id) && name !== "") out.push({ vgpuTypeId: Number(id), typeId: `nvidia-${Number(id)}`, name });
  }
  return out;
}
