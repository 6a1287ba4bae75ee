// PURE: the disks of a domain XML (`virsh dumpxml`): target, bus, source; and their SCSI controllers.
import { XMLParser } from "fast-xml-parser";

export interface DomainDisk {
  device: string;
  targetDev: string;
  bus: string;
  sourcePath: string;
  /** libvirt's alias of the device ("" when it has none in the XML). */
  alias: string;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseAttributeValue: false,
  isArray: (name, jpath) => String(jpath) === "domain.devices.disk",
});

export function parseDomainDisks(xml: string): DomainDisk[] {
  const doc = parser.parse(xml) as { domain?: { devices?: { disk?: Record<string, Record<string, string>>[] } } };
  return (doc.domain?.devices?.disk ?? []).map((d) => ({
    device: String(d["@_device"] ?? "disk"),
    targetDev: d.target?.["@_dev"] ?? "",
    bus: d.target?.["@_bus"] ?? "",
    sourcePath: d.source?.["@_file"] ?? d.source?.["@_dev"] ?? "",
    alias: d.alias?.["@_name"] ?? "",
  }));
}

const hostdevParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseAttributeValue: false,
  isArray: (name, jpath) => String(jpath) === "domain.devices.hostdev",
});

/** PURE: the mdev UUIDs (vGPUs) a domain XML's `<hostdev type='mdev'>` devices use. */
export function parseDomainMdevs(xml: string): string[] {
  type Hostdev = { "@_type"?: string; source?: { address?: { "@_uuid"?: string } } };
  const doc = hostdevParser.parse(xml) as { domain?: { devices?: { hostdev?: Hostdev[] } } };
  return (doc.domain?.devices?.hostdev ?? [])
    .filter((h) => h["@_type"] === "mdev")
    .map((h) => String(h.source?.address?.["@_uuid"] ?? ""))
    .filter(Boolean);
}

/** PURE: the host PCI devices (passthrough GPUs) a domain XML's `<hostdev type='pci'>` devices use, as "DDDD:BB:SS.F". */
export function parseDomainPciHostdevs(xml: string): string[] {
  type Addr = { "@_domain"?: string; "@_bus"?: string; "@_slot"?: string; "@_function"?: string };
  type Hostdev = { "@_type"?: string; source?: { address?: Addr } };
  const doc = hostdevParser.parse(xml) as { domain?: { devices?: { hostdev?: Hostdev[] } } };
  const hex = (v: string | undefined, width: number): string => Number(v ?? 0).toString(16).padStart(width, "0");
  return (doc.domain?.devices?.hostdev ?? [])
    .filter((h) => h["@_type"] === "pci")
    .map((h) => h.source?.address ?? {})
    .map((a) => `${hex(a["@_domain"], 4)}:${hex(a["@_bus"], 2)}:${hex(a["@_slot"], 2)}.${hex(a["@_function"], 1)}`);
}

const controllerParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseAttributeValue: false,
  isArray: (name, jpath) => String(jpath) === "domain.devices.controller",
});

/** PURE: the models of a domain XML's SCSI controllers ("virtio-scsi", "lsilogic"...; "" when libvirt's default). */
export function parseScsiControllerModels(xml: string): string[] {
  type Controller = { "@_type"?: string; "@_model"?: string };
  const doc = controllerParser.parse(xml) as { domain?: { devices?: { controller?: Controller[] } } };
  return (doc.domain?.devices?.controller ?? []).filter((c) => c["@_type"] === "scsi").map((c) => c["@_model"] ?? "");
}

const interfaceParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseAttributeValue: false,
  isArray: (name, jpath) => String(jpath) === "domain.devices.interface",
});

/** PURE: the bridges a domain XML's `<interface type='bridge'>` NICs plug into, each once. */
export function parseDomainBridges(xml: string): string[] {
  type Iface = { "@_type"?: string; source?: { "@_bridge"?: string } };
  const doc = interfaceParser.parse(xml) as { domain?: { devices?: { interface?: Iface[] } } };
  const names = (doc.domain?.devices?.interface ?? [])
    .filter((i) => i["@_type"] === "bridge")
    .map((i) => String(i.source?.["@_bridge"] ?? ""))
    .filter(Boolean);
  return [...new Set(names)];
}

const serialParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseAttributeValue: false,
  isArray: (name, jpath) => String(jpath) === "domain.devices.serial",
});

/** PURE: the unix socket path the first serial port (the console) is bound to; undefined for a pty serial. */
export function parseSerialSocketPath(xml: string): string | undefined {
  type Serial = { "@_type"?: string; source?: { "@_mode"?: string; "@_path"?: string } };
  const doc = serialParser.parse(xml) as { domain?: { devices?: { serial?: Serial[] } } };
  const s = (doc.domain?.devices?.serial ?? []).find((x) => x["@_type"] === "unix" && x.source?.["@_path"]);
  return s?.source?.["@_path"];
}
