// PURE: `virsh nodeinfo` text -> numbers.
export interface NodeInfo {
  /** libvirt prints the architecture here ("x86_64"), not the marketing model. */
  cpuModel: string;
  cpus: number;
  cpuMhz: number;
  /** Sockets per NUMA cell, as libvirt counts them. */
  socketsPerCell: number;
  coresPerSocket: number;
  threadsPerCore: number;
  numaCells: number;
  memoryKib: number;
}

export function parseNodeInfo(text: string): NodeInfo {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const num = (key: string): number => {
    const v = fields.get(key);
    const n = v === undefined ? NaN : parseInt(v, 10);
    if (!Number.isFinite(n)) throw new Error(`virsh nodeinfo: no number for "${key}"`);
    return n;
  };
  return {
    cpuModel: fields.get("CPU model") ?? "",
    cpus: num("CPU(s)"),
    cpuMhz: num("CPU frequency"),
    socketsPerCell: num("CPU socket(s)"),
    coresPerSocket: num("Core(s) per socket"),
    threadsPerCore: num("Thread(s) per core"),
    numaCells: num("NUMA cell(s)"),
    memoryKib: num("Memory size"),
  };
}
