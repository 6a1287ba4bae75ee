// Parser for `virsh capabilities` XML: host UUID, CPU (arch, model, vendor, topology), NUMA cells
// with their CPUs and memory, and the domain types (kvm / qemu) each guest arch supports. Pure.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { NumaCell } from "#shared/protocol.js";
import { InventoryParseError } from "./inventory-parse-error.js";

export type { NumaCell };

export interface CpuTopology {
  sockets: number;
  dies: number;
  cores: number;
  threads: number;
}

export interface GuestCapability {
  osType: string;
  arch: string;
  /** e.g. ["qemu", "kvm"]: "kvm" present means hardware virtualization is usable. */
  domainTypes: string[];
}

export interface HostCapabilities {
  /** "" when libvirt does not say (its test driver). */
  hostUuid: string;
  cpuArch: string;
  /** The host CPU model as libvirt names it ("Skylake-Server-IBRS", "kvm64"); "" when absent. */
  cpuModel: string;
  cpuVendor: string;
  /** Per-socket topology; undefined when libvirt does not print it (its test driver). */
  topology: CpuTopology | undefined;
  numaCells: NumaCell[];
  /** Logical CPUs over all NUMA cells. */
  cpus: number;
  iommu: boolean | undefined;
  guests: GuestCapability[];
}

const SOURCE = "virsh capabilities";

// Elements that repeat, kept as lists even when there is only one.
const LISTS = new Set([
  "capabilities.host.topology.cells.cell",
  "capabilities.host.topology.cells.cell.cpus.cpu",
  "capabilities.guest",
  "capabilities.guest.arch",
  "capabilities.guest.arch.domain",
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name, jpath) => LISTS.has(String(jpath)),
});

type Node = Record<string, unknown>;
const obj = (v: unknown): Node | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Node) : undefined);
const arr = (v: unknown): Node[] => (Array.isArray(v) ? v.filter((x): x is Node => obj(x) !== undefined) : obj(v) ? [v as Node] : []);
const str = (v: unknown): string => {
  if (typeof v === "string") return v.trim();
  const o = obj(v);
  return o && typeof o["#text"] === "string" ? o["#text"].trim() : "";
};
const int = (v: unknown): number | undefined => {
  const n = Number(str(v));
  return str(v) !== "" && Number.isInteger(n) ? n : undefined;
};

const UNIT_TO_MIB: Record<string, number> = {
  b: 1 / (1024 * 1024), bytes: 1 / (1024 * 1024), kib: 1 / 1024, k: 1 / 1024, mib: 1, m: 1, gib: 1024, g: 1024, tib: 1024 * 1024,
};

function memoryMib(node: unknown): number {
  const amount = int(node) ?? 0;
  const unit = String(obj(node)?.["@_unit"] ?? "KiB").toLowerCase();
  return Math.floor(amount * (UNIT_TO_MIB[unit] ?? 1 / 1024));
}

export function parseVirshCapabilities(xml: string): HostCapabilities {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new InventoryParseError(SOURCE, `not valid XML (line ${valid.err.line}: ${valid.err.msg})`);
  const caps = obj(obj(parser.parse(xml))?.["capabilities"]);
  const host = obj(caps?.["host"]);
  if (!caps || !host) throw new InventoryParseError(SOURCE, "no <capabilities><host> element");
  const cpu = obj(host["cpu"]);
  const topo = obj(cpu?.["topology"]);
  const cells = arr(obj(obj(host["topology"])?.["cells"])?.["cell"]);
  const numaCells: NumaCell[] = cells.map((c) => ({
    id: Number(c["@_id"]),
    cpus: arr(obj(c["cpus"])?.["cpu"]).map((x) => Number(x["@_id"])).filter(Number.isInteger).sort((a, b) => a - b),
    memoryMib: memoryMib(c["memory"]),
  }));
  const iommu = obj(host["iommu"])?.["@_support"];
  return {
    hostUuid: str(host["uuid"]),
    cpuArch: str(cpu?.["arch"]),
    cpuModel: str(cpu?.["model"]),
    cpuVendor: str(cpu?.["vendor"]),
    topology: topo
      ? {
        sockets: Number(topo["@_sockets"] ?? 1),
        dies: Number(topo["@_dies"] ?? 1),
        cores: Number(topo["@_cores"] ?? 1),
        threads: Number(topo["@_threads"] ?? 1),
      }
      : undefined,
    numaCells,
    cpus: numaCells.reduce((n, c) => n + c.cpus.length, 0),
    iommu: iommu === undefined ? undefined : iommu === "yes",
    guests: arr(caps["guest"]).flatMap((g) =>
      arr(g["arch"]).map((a) => ({
        osType: str(g["os_type"]),
        arch: String(a["@_name"] ?? ""),
        domainTypes: arr(a["domain"]).map((d) => String(d["@_type"] ?? "")),
      })),
    ),
  };
}
