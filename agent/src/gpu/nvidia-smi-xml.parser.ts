// Parser for `nvidia-smi -q -x` (DTD v11, v12, v13, or none at all). Pure.
// Every element may be missing or "N/A" depending on driver, GPU and whether we run in a VM.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { GpuParseError } from "./gpu-parse-error.js";
import { normalizePciAddress } from "./pci-address.js";
import {
  normalizeVirtualizationMode, parseEnabled, parseIntOrUndefined, parseMib, present,
  type NvidiaSmiGpu, type NvidiaSmiMigDevice, type NvidiaSmiReport,
} from "./nvidia-smi-report.js";

const SOURCE = "nvidia-smi -q -x";

// A single <gpu> must still be a list, and so must a single <mig_device>.
const ALWAYS_ARRAYS = new Set(["nvidia_smi_log.gpu", "nvidia_smi_log.gpu.mig_devices.mig_device"]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  isArray: (_name, jpath) => ALWAYS_ARRAYS.has(String(jpath)),
});

type XmlNode = Record<string, unknown>;

function child(node: unknown, name: string): XmlNode | undefined {
  if (node === null || typeof node !== "object") return undefined;
  const v = (node as XmlNode)[name];
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as XmlNode) : undefined;
}

/** Text of node.path[0].path[1]...; undefined when absent or not a leaf. */
function text(node: unknown, ...path: string[]): string | undefined {
  let cur: unknown = node;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as XmlNode)[p];
  }
  if (typeof cur === "string") return cur;
  if (typeof cur === "number") return String(cur);
  // <x attr="..">text</x> comes back as { "#text": ... }
  if (cur !== null && typeof cur === "object" && typeof (cur as XmlNode)["#text"] === "string") {
    return (cur as XmlNode)["#text"] as string;
  }
  return undefined;
}

function list(node: unknown, ...path: string[]): unknown[] {
  let cur: unknown = node;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return [];
    cur = (cur as XmlNode)[p];
  }
  if (Array.isArray(cur)) return cur;
  return cur !== null && typeof cur === "object" ? [cur] : [];
}

function parseMigDevice(node: unknown, position: number): NvidiaSmiMigDevice {
  return {
    index: parseIntOrUndefined(text(node, "index")) ?? position,
    gpuInstanceId: parseIntOrUndefined(text(node, "gpu_instance_id")) ?? -1,
    computeInstanceId: parseIntOrUndefined(text(node, "compute_instance_id")) ?? -1,
    memoryMib: parseMib(text(node, "fb_memory_usage", "total")) ?? 0,
    multiprocessorCount: parseIntOrUndefined(text(node, "device_attributes", "shared", "multiprocessor_count")),
    profile: "",
    uuid: "",
  };
}

function parseGpu(node: unknown, index: number): NvidiaSmiGpu {
  const busId = present(text(node, "pci", "pci_bus_id")) ?? present(text(node, "@_id")) ?? "";
  const migCurrent = parseEnabled(text(node, "mig_mode", "current_mig"));
  return {
    index,
    busId,
    pciAddress: normalizePciAddress(busId) ?? busId.toLowerCase(),
    uuid: present(text(node, "uuid")) ?? "",
    productName: present(text(node, "product_name")) ?? "",
    productBrand: present(text(node, "product_brand")),
    architecture: present(text(node, "product_architecture")),
    memoryMib: parseMib(text(node, "fb_memory_usage", "total")) ?? 0,
    minorNumber: parseIntOrUndefined(text(node, "minor_number")),
    serial: present(text(node, "serial")),
    virtualizationMode: normalizeVirtualizationMode(text(node, "gpu_virtualization_mode", "virtualization_mode")),
    hostVgpuMode: present(text(node, "gpu_virtualization_mode", "host_vgpu_mode")),
    migCurrent,
    migPending: parseEnabled(text(node, "mig_mode", "pending_mig")),
    // <mig_devices>None</mig_devices> when MIG is off: list() then finds no mig_device.
    migDevices: list(child(node, "mig_devices"), "mig_device").map(parseMigDevice),
    vgpuLicensedProduct: present(text(node, "vgpu_software_licensed_product", "licensed_product_name")),
  };
}

const ROOT_CLOSE = "</nvidia_smi_log>";

/** Shortened first line of a skipped text, for a warning. */
function firstLineOf(text: string): string {
  const line = text.trim().split(/\r?\n/, 1)[0] ?? "";
  return line.length > 120 ? `${line.slice(0, 120)}...` : line;
}

const lineCount = (text: string): number => text.trim().split(/\r?\n/).length;

/** The XML document inside nvidia-smi's output, and what was printed around it (warnings such as
 *  "WARNING: infoROM is corrupted at gpu ..." come before `<?xml` on some drivers). */
function isolateXml(output: string): { xml: string; warnings: string[] } {
  const starts = ["<?xml", "<!DOCTYPE", "<nvidia_smi_log"].map((m) => output.indexOf(m)).filter((i) => i >= 0);
  if (starts.length === 0) return { xml: output, warnings: [] };
  const start = Math.min(...starts);
  const closeAt = output.lastIndexOf(ROOT_CLOSE);
  const end = closeAt === -1 ? output.length : closeAt + ROOT_CLOSE.length;
  const before = output.slice(0, start);
  const after = output.slice(end);
  const warnings: string[] = [];
  if (before.trim() !== "") {
    warnings.push(`${SOURCE}: ignored ${lineCount(before)} line(s) printed before the XML: ${firstLineOf(before)}`);
  }
  if (after.trim() !== "") {
    warnings.push(`${SOURCE}: ignored ${lineCount(after)} line(s) printed after the XML: ${firstLineOf(after)}`);
  }
  return { xml: output.slice(start, end), warnings };
}

/** Throws GpuParseError when the output holds no nvidia-smi XML report; text printed around the
 *  report is skipped with a warning. */
export function parseNvidiaSmiXml(output: string): NvidiaSmiReport {
  const { xml, warnings } = isolateXml(output);
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    throw new GpuParseError(SOURCE, `not valid XML (line ${validation.err.line}: ${validation.err.msg})`);
  }
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (e) {
    throw new GpuParseError(SOURCE, `unreadable XML: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const log = child(doc, "nvidia_smi_log");
  if (!log) throw new GpuParseError(SOURCE, "no <nvidia_smi_log> root element");
  const gpus = list(log, "gpu").map(parseGpu);
  return {
    driverVersion: present(text(log, "driver_version")) ?? "",
    cudaVersion: present(text(log, "cuda_version")),
    attachedGpus: parseIntOrUndefined(text(log, "attached_gpus")) ?? gpus.length,
    gpus,
    warnings,
  };
}
