// Readers for Alibaba cluster-trace-gpu-v2023 CSVs (node list and pod lists). Pure: text in, records out.
// The files are plain comma-separated values with a header and no quoting, so a field split is enough;
// a quote anywhere is rejected rather than mis-parsed.

export interface TraceNode {
  name: string;
  cpuMilli: number;
  memoryMib: number;
  gpuCount: number;
  gpuModel: string;
}

export interface TracePod {
  name: string;
  cpuMilli: number;
  memoryMib: number;
  /** Number of GPUs requested (0..8). */
  numGpu: number;
  /** Per-GPU share in 1/1000 GPU; only meaningful when numGpu == 1. */
  gpuMilli: number;
  /** Allowed GPU models; empty = any. */
  gpuModels: string[];
}

function rows(text: string, required: readonly string[], what: string): { header: Map<string, number>; cells: string[][] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const first = lines[0];
  if (first === undefined) throw new Error(`${what}: empty file`);
  if (text.includes('"')) throw new Error(`${what}: quoted CSV fields are not supported`);
  const names = first.split(",").map((s) => s.trim());
  const header = new Map(names.map((n, i) => [n, i]));
  for (const col of required) if (!header.has(col)) throw new Error(`${what}: missing column "${col}" in header "${first}"`);
  return { header, cells: lines.slice(1).map((l) => l.split(",")) };
}

function intCell(cells: string[], header: Map<string, number>, col: string, line: number, what: string): number {
  const raw = (cells[header.get(col) ?? -1] ?? "").trim();
  if (raw === "") return 0;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${what} line ${line}: bad ${col} "${raw}"`);
  return v;
}

function strCell(cells: string[], header: Map<string, number>, col: string): string {
  const i = header.get(col);
  return i === undefined ? "" : (cells[i] ?? "").trim();
}

/** `sn,cpu_milli,memory_mib,gpu,model` */
export function parseNodeList(text: string): TraceNode[] {
  const what = "node list";
  const { header, cells } = rows(text, ["sn", "cpu_milli", "memory_mib", "gpu", "model"], what);
  return cells.map((c, i) => ({
    name: strCell(c, header, "sn"),
    cpuMilli: intCell(c, header, "cpu_milli", i + 2, what),
    memoryMib: intCell(c, header, "memory_mib", i + 2, what),
    gpuCount: intCell(c, header, "gpu", i + 2, what),
    gpuModel: strCell(c, header, "model"),
  }));
}

/** 11-column layout (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,...`) or the 5-column one of multigpuNN. */
export function parsePodList(text: string): TracePod[] {
  const what = "pod list";
  const { header, cells } = rows(text, ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"], what);
  return cells.map((c, i) => {
    const spec = strCell(c, header, "gpu_spec");
    return {
      name: strCell(c, header, "name"),
      cpuMilli: intCell(c, header, "cpu_milli", i + 2, what),
      memoryMib: intCell(c, header, "memory_mib", i + 2, what),
      numGpu: intCell(c, header, "num_gpu", i + 2, what),
      gpuMilli: intCell(c, header, "gpu_milli", i + 2, what),
      gpuModels: spec === "" ? [] : spec.split("|").map((s) => s.trim()).filter((s) => s.length > 0),
    };
  });
}

/** GPU demand of a pod in milli-GPU, as the paper counts it: num_gpu x 1000 when > 1, gpu_milli when 1. */
export function podGpuDemandMilli(pod: TracePod): number {
  if (pod.numGpu <= 0) return 0;
  if (pod.numGpu === 1) return Math.min(pod.gpuMilli, 1000);
  return pod.numGpu * 1000;
}
