// Parser for `nvidia-smi -L`: GPUs with their UUIDs and, under MIG, the profile name and UUID of
// every MIG device (which `-q -x` does not print). Pure.
import { GpuParseError } from "./gpu-parse-error.js";

export interface ListedMigDevice {
  /** "Device N": the MIG device index on its GPU. */
  index: number;
  /** e.g. "3g.40gb". */
  profile: string;
  uuid: string;
}

export interface ListedGpu {
  index: number;
  name: string;
  uuid: string;
  migDevices: ListedMigDevice[];
}

// "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"
const GPU_LINE = /^GPU\s+(\d+):\s*(.*?)\s*\(UUID:\s*([^)\s]+)\s*\)\s*$/;
// "  MIG 3g.40gb     Device  0: (UUID: MIG-...)" (older drivers: "MIG-GPU-<uuid>/<gi>/<ci>")
const MIG_LINE = /^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s*\(UUID:\s*([^)\s]+)\s*\)\s*$/;

export function parseNvidiaSmiList(text: string): ListedGpu[] {
  const gpus: ListedGpu[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "") continue;
    const g = GPU_LINE.exec(raw);
    if (g) {
      gpus.push({ index: Number(g[1]), name: g[2]!, uuid: g[3]!, migDevices: [] });
      continue;
    }
    const m = MIG_LINE.exec(raw);
    if (m && gpus.length > 0) {
      gpus[gpus.length - 1]!.migDevices.push({ index: Number(m[2]), profile: m[1]!, uuid: m[3]! });
      continue;
    }
    // Unknown child lines (future device kinds) are skipped; an unknown top line means garbage.
    if (!/^\s/.test(raw)) throw new GpuParseError("nvidia-smi -L", `unexpected line: ${raw.slice(0, 120)}`);
  }
  return gpus;
}
