// PURE: the host part of `virsh capabilities` XML: host UUID, CPU arch/model, NUMA cells.
import { XMLParser } from "fast-xml-parser";

export interface CapabilitiesNumaCell {
  id: number;
  cpus: number[];
  memoryMib: number;
}

export interface HostCapabilities {
  hostUuid: string;
  arch: string;
  cpuModel: string;
  cells: CapabilitiesNumaCell[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name, jpath) => {
    const p = String(jpath);
    return p === "capabilities.host.topology.cells.cell" || p === "capabilities.host.topology.cells.cell.cpus.cpu";
  },
});

type Node = Record<string, unknown>;
const text = (v: unknown): string => (typeof v === "string" ? v : v && typeof v === "object" ? String((v as Node)["#text"] ?? "") : "");

const KIB_PER: Record<string, number> = { KiB: 1, MiB: 1024, GiB: 1024 * 1024, b: 1 / 1024, bytes: 1 / 1024 };

export function parseCapabilities(xml: string): HostCapabilities {
  const doc = parser.parse(xml) as { capabilities?: { host?: Node } };
  const host = doc.capabilities?.host;
  if (!host) throw new Error("virsh capabilities: no <host> element");
  const cpu = (host.cpu ?? {}) as Node;
  const cells = (((host.topology as Node | undefined)?.cells as Node | undefined)?.cell ?? []) as Node[];
  return {
    hostUuid: text(host.uuid),
    arch: text(cpu.arch),
    cpuModel: text(cpu.model),
    cells: cells.map((c) => {
      const mem = c.memory as Node | string | undefined;
      const unit = typeof mem === "object" ? String(mem["@_unit"] ?? "KiB") : "KiB";
      const kib = Number(text(mem)) * (KIB_PER[unit] ?? 1);
      const cpus = (((c.cpus as Node | undefined)?.cpu ?? []) as Node[]).map((x) => Number(x["@_id"]));
      return { id: Number(c["@_id"]), cpus, memoryMib: Math.floor(kib / 1024) };
    }),
  };
}
