// Parser for `virsh nodeinfo`. Pure.
import { InventoryParseError } from "./inventory-parse-error.js";
import { kibToMib } from "#shared/units.js";

export interface VirshNodeinfo {
  /** libvirt's "CPU model" here is the architecture (x86_64, i686, aarch64). */
  cpuModel: string;
  cpus: number;
  cpuMhz: number;
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  numaCells: number;
  memoryKib: number;
  memoryMib: number;
}

const FIELDS: Record<string, Exclude<keyof VirshNodeinfo, "cpuModel" | "memoryMib">> = {
  "CPU(s)": "cpus",
  "CPU frequency": "cpuMhz",
  "CPU socket(s)": "sockets",
  "Core(s) per socket": "coresPerSocket",
  "Thread(s) per core": "threadsPerCore",
  "NUMA cell(s)": "numaCells",
  "Memory size": "memoryKib",
};

export function parseVirshNodeinfo(text: string): VirshNodeinfo {
  const out: Partial<VirshNodeinfo> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([^:]+):\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key.trim() === "CPU model") {
      out.cpuModel = value;
      continue;
    }
    const field = FIELDS[key.trim()];
    if (!field) continue;
    const n = /^(\d+)(?:\s*(KiB|MHz))?$/.exec(value);
    if (!n) throw new InventoryParseError("virsh nodeinfo", `unreadable ${key.trim()}: ${value}`);
    out[field] = Number(n[1]);
  }
  const missing = ["cpuModel", ...Object.values(FIELDS)].filter((k) => out[k as keyof VirshNodeinfo] === undefined);
  if (missing.length > 0) throw new InventoryParseError("virsh nodeinfo", `missing fields: ${missing.join(", ")}`);
  return { ...(out as VirshNodeinfo), memoryMib: kibToMib(out.memoryKib!) };
}
