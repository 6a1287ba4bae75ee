// Parser for `nvidia-smi -L`: GPUs with their UUIDs and, under MIG, the profile name and UUID of
// every MIG device (which `-q -x` does not print). Lines are read the same whether indented or
// not (output pasted or re-indented somewhere). A line it does not know is skipped with a
// warning; output with no GPU line at all is not a listing. Pure, and linear in the text's length
// (string searches, and regexes whose repeated parts cannot overlap).
import { GpuParseError } from "./gpu-parse-error.js";
import { present } from "./nvidia-smi-report.js";
import { lineExcerpt, skippedLinesWarnings } from "./skipped-lines.js";

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

export interface NvidiaSmiListing {
  gpus: ListedGpu[];
  /** Lines skipped because they were not understood. */
  warnings: string[];
}

const SOURCE = "nvidia-smi -L";
// "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"
const GPU_HEAD = /^GPU\s+(\d+):/;
// "MIG 3g.40gb     Device  0: (UUID: MIG-...)" (older drivers: "MIG-GPU-<uuid>/<gi>/<ci>")
const MIG_HEAD = /^MIG\s+(\S+)\s+Device\s+(\d+):/;
const UUID_OPEN = "(UUID:";

/** Splits "<text> (UUID: <uuid>)" at its last "(UUID:"; undefined when the line does not end so. */
function splitUuid(rest: string): { before: string; uuid: string } | undefined {
  if (!rest.endsWith(")")) return undefined;
  const at = rest.lastIndexOf(UUID_OPEN);
  if (at === -1) return undefined;
  const printed = rest.slice(at + UUID_OPEN.length, -1);
  const uuid = present(printed); // "(UUID: N/A)", "(UUID: [Unknown Error])": no UUID
  if (uuid !== undefined && (uuid.includes(")") || /\s/.test(uuid))) return undefined;
  return { before: rest.slice(0, at).trim(), uuid: uuid ?? "" };
}

export function parseNvidiaSmiList(text: string): NvidiaSmiListing {
  const gpus: ListedGpu[] = [];
  const skipped: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const g = GPU_HEAD.exec(line);
    const gpuRest = g ? splitUuid(line.slice(g[0].length)) : undefined;
    if (g && gpuRest) {
      gpus.push({ index: Number(g[1]), name: gpuRest.before, uuid: gpuRest.uuid, migDevices: [] });
      continue;
    }
    const m = MIG_HEAD.exec(line);
    const migRest = m ? splitUuid(line.slice(m[0].length)) : undefined;
    if (m && migRest && migRest.before === "" && gpus.length > 0) {
      gpus[gpus.length - 1]!.migDevices.push({ index: Number(m[2]), profile: m[1]!, uuid: migRest.uuid });
      continue;
    }
    skipped.push(line);
  }
  if (gpus.length === 0 && skipped.length > 0) {
    throw new GpuParseError(SOURCE, `no GPU line found; first line: ${lineExcerpt(skipped[0]!)}`);
  }
  return { gpus, warnings: skippedLinesWarnings(SOURCE, skipped) };
}
