// Parser for `nvidia-smi topo -m`: the link matrix between GPUs (and NICs), and each GPU's CPU and
// NUMA affinity. Columns are tab-separated as printed, or runs of spaces once pasted somewhere;
// the header may carry ANSI escapes; NIC columns and the "GPU NUMA ID" column come and go. Pure.
import { GpuParseError } from "./gpu-parse-error.js";
import { isNotAvailable } from "./nvidia-smi-report.js";

export interface TopoGpu {
  /** nvidia-smi's GPU index ("GPU3" → 3). */
  index: number;
  /** Link code to every other device column: "X", "NV12", "SYS", "PIX", "NODE"... */
  links: Record<string, string>;
  /** Indexes of the GPUs joined to this one by NVLink, with the bonded link count. */
  nvlinkPeers: { index: number; links: number }[];
  /** Host CPUs close to this GPU, as printed ("0-51,104-155"); undefined when N/A. */
  cpuAffinity: string | undefined;
  /** Host NUMA node close to this GPU; -1 when N/A. */
  numaNode: number;
  /** The GPU's own NUMA node id (coherent-memory systems such as Grace Hopper); undefined when N/A. */
  gpuNumaId: number | undefined;
}

export interface NvidiaTopology {
  gpus: TopoGpu[];
  /** Non-GPU device columns (NIC0, mlx5_0...). */
  otherDevices: string[];
}

const SOURCE = "nvidia-smi topo -m";
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const NAMED_COLUMNS = ["CPU Affinity", "NUMA Affinity", "GPU NUMA ID"] as const;

/** Cells are separated by tabs or by runs of spaces (pasted output), and indentation of either
 *  kind is not a cell: a row reads the same however it was indented. Names such as "CPU Affinity"
 *  hold single spaces only. */
function cells(line: string): string[] {
  return line.split(/\t|\s{2,}/).map((c) => c.trim()).filter((c) => c !== "");
}

function intOrUndefined(v: string | undefined): number | undefined {
  if (isNotAvailable(v)) return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

export function parseNvidiaSmiTopo(text: string): NvidiaTopology {
  const lines = text.replace(ANSI, "").split(/\r?\n/);
  const end = lines.findIndex((l) => /^\s*(NIC )?Legend:/.test(l));
  const body = end === -1 ? lines : lines.slice(0, end);
  // The header is the first row that names GPU0 and holds only column names (no "X" link code).
  const headerAt = body.findIndex((l) => {
    const c = cells(l);
    return c.includes("GPU0") && !c.includes("X");
  });
  if (headerAt === -1) throw new GpuParseError(SOURCE, "no header row with GPU0 found");
  const header = cells(body[headerAt]!);
  const named = header.filter((h) => (NAMED_COLUMNS as readonly string[]).includes(h));
  const devices = header.filter((h) => !(NAMED_COLUMNS as readonly string[]).includes(h));

  const gpus: TopoGpu[] = [];
  for (const line of body.slice(headerAt + 1)) {
    const row = cells(line);
    const label = row[0];
    if (label === undefined || !/^GPU\d+$/.test(label)) continue;
    const links: Record<string, string> = {};
    devices.forEach((d, i) => {
      const v = row[1 + i];
      if (v !== undefined) links[d] = v;
    });
    const rest: Record<string, string | undefined> = {};
    named.forEach((n, i) => { rest[n] = row[1 + devices.length + i]; });
    const nvlinkPeers = Object.entries(links).flatMap(([dev, code]) => {
      const nv = /^NV(\d+)$/.exec(code);
      const gpu = /^GPU(\d+)$/.exec(dev);
      return nv && gpu ? [{ index: Number(gpu[1]), links: Number(nv[1]) }] : [];
    });
    gpus.push({
      index: Number(label.slice(3)),
      links,
      nvlinkPeers,
      cpuAffinity: isNotAvailable(rest["CPU Affinity"]) ? undefined : rest["CPU Affinity"],
      numaNode: intOrUndefined(rest["NUMA Affinity"]) ?? -1,
      gpuNumaId: intOrUndefined(rest["GPU NUMA ID"]),
    });
  }
  if (gpus.length === 0) throw new GpuParseError(SOURCE, "no GPU rows found");
  return { gpus, otherDevices: devices.filter((d) => !/^GPU\d+$/.test(d)) };
}
