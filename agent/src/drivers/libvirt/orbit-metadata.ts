// Orbit's own element inside a domain's <metadata>: it marks the domain as Orbit-managed and
// remembers what Orbit needs after the VmSpec is gone (which files the VM owns, its labels).
// PURE: builds the element as a fast-xml-parser object and reads it back from domain XML.
import { XMLParser } from "fast-xml-parser";

export const ORBIT_METADATA_NS = "https://orbit.dev/xmlns/libvirt/vm/1";
export const ORBIT_METADATA_PREFIX = "orbit";

export interface OrbitDomainMetadata {
  vmUuid: string;
  name: string;
  labels: Record<string, string>;
  /** Files created for this VM and removed with it (owned disk overlays, seed ISO). */
  ownedFiles: string[];
  /** Directory holding the VM's overlays, seed, NVRAM and serial log (may be ""). */
  instanceDir: string;
}

const P = ORBIT_METADATA_PREFIX;

/** The `<orbit:vm>` element as an XMLBuilder object (attributes prefixed "@_"). */
export function orbitMetadataElement(meta: OrbitDomainMetadata): Record<string, unknown> {
  return {
    [`${P}:vm`]: {
      [`@_xmlns:${P}`]: ORBIT_METADATA_NS,
      [`${P}:uuid`]: meta.vmUuid,
      [`${P}:name`]: meta.name,
      [`${P}:instance-dir`]: meta.instanceDir,
      [`${P}:labels`]: {
        [`${P}:label`]: Object.entries(meta.labels)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, value]) => ({ "@_key": key, "@_value": value })),
      },
      [`${P}:owned`]: { [`${P}:file`]: meta.ownedFiles.map((path) => ({ "@_path": path })) },
    },
  };
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  // Prefixes are kept: the element is found by its namespace URI, whatever prefix it carries.
  removeNSPrefix: false,
  isArray: (name) => name === "label" || name === "file" || name.endsWith(":label") || name.endsWith(":file"),
  parseTagValue: false,
  parseAttributeValue: false,
});

/**
 * Reads Orbit's metadata from a full domain XML (`virsh dumpxml`). Returns undefined for a domain
 * Orbit did not create.
 */
export function parseOrbitMetadata(xml: string): OrbitDomainMetadata | undefined {
  if (!xml.includes(ORBIT_METADATA_NS)) return undefined;
  const doc = parser.parse(xml) as Record<string, unknown>;
  const vm = findOrbitVm(doc);
  if (!vm) return undefined;
  const prefix = Object.keys(vm)
    .find((k) => k.startsWith("@_xmlns:") && vm[k] === ORBIT_METADATA_NS)
    ?.slice("@_xmlns:".length);
  return readVm(vm, prefix);
}

/**
 * Reads the element as `virsh metadata DOMAIN --uri ORBIT_METADATA_NS` prints it: libvirt has
 * already selected it by namespace and prints it without prefix or xmlns (`<vm><uuid>...`).
 */
export function parseOrbitMetadataElement(xml: string): OrbitDomainMetadata | undefined {
  const doc = parser.parse(xml) as Record<string, unknown>;
  const vm = doc.vm;
  if (!vm || typeof vm !== "object") return undefined;
  return readVm(vm as Record<string, unknown>, undefined);
}

function readVm(vm: Record<string, unknown>, prefix: string | undefined): OrbitDomainMetadata {
  const el = (local: string): unknown => vm[prefix ? `${prefix}:${local}` : local];
  const text = (v: unknown): string => (typeof v === "string" ? v : "");
  const labelsEl = el("labels") as Record<string, unknown> | undefined;
  const ownedEl = el("owned") as Record<string, unknown> | undefined;
  const labelList = (labelsEl?.[prefix ? `${prefix}:label` : "label"] ?? []) as Record<string, string>[];
  const fileList = (ownedEl?.[prefix ? `${prefix}:file` : "file"] ?? []) as Record<string, string>[];
  const labels: Record<string, string> = {};
  for (const l of labelList) if (l["@_key"] !== undefined) labels[l["@_key"]] = l["@_value"] ?? "";
  return {
    vmUuid: text(el("uuid")),
    name: text(el("name")),
    instanceDir: text(el("instance-dir")),
    labels,
    ownedFiles: fileList.map((f) => f["@_path"] ?? "").filter((p) => p !== ""),
  };
}

function findOrbitVm(node: unknown): Record<string, unknown> | undefined {
  if (node === null || typeof node !== "object") return undefined;
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (key.startsWith("@_")) continue;
    if ((key === "vm" || key.endsWith(":vm")) && value && typeof value === "object") {
      const attrs = value as Record<string, unknown>;
      if (Object.keys(attrs).some((k) => k.startsWith("@_xmlns") && attrs[k] === ORBIT_METADATA_NS)) return attrs;
    }
    const found = Array.isArray(value) ? value.map(findOrbitVm).find(Boolean) : findOrbitVm(value);
    if (found) return found;
  }
  return undefined;
}
