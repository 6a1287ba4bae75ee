// Parser for the text form of `nvidia-smi -q` (no -x): an indented "Key : Value" tree. Used to
// cross-check the XML parser, and by the inventory as its fallback when `-q -x` fails or prints
// no readable XML. Pure.
import { GpuParseError } from "./gpu-parse-error.js";
import { normalizePciAddress } from "./pci-address.js";
import {
  normalizeVirtualizationMode, parseEnabled, parseIntOrUndefined, parseMib, present,
  type NvidiaSmiGpu, type NvidiaSmiMigDevice, type NvidiaSmiReport,
} from "./nvidia-smi-report.js";

const SOURCE = "nvidia-smi -q";

interface TextNode {
  key: string;
  value: string | undefined;
  indent: number;
  children: TextNode[];
}

function buildTree(text: string): TextNode {
  const root: TextNode = { key: "", value: undefined, indent: -1, children: [] };
  const stack: TextNode[] = [root];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "" || /^=+\s*NVSMI LOG\s*=+$/.test(raw.trim())) continue;
    const indent = raw.length - raw.trimStart().length;
    const colon = raw.indexOf(" : ");
    const node: TextNode = colon === -1
      ? { key: raw.trim(), value: undefined, indent, children: [] }
      : { key: raw.slice(0, colon).trim(), value: raw.slice(colon + 3).trim(), indent, children: [] };
    while (stack.length > 1 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    stack[stack.length - 1]!.children.push(node);
    stack.push(node);
  }
  return root;
}

function find(node: TextNode | undefined, ...path: string[]): TextNode | undefined {
  let cur = node;
  for (const p of path) cur = cur?.children.find((c) => c.key === p);
  return cur;
}

const val = (node: TextNode | undefined, ...path: string[]): string | undefined => find(node, ...path)?.value;

function parseMigDevice(node: TextNode, position: number): NvidiaSmiMigDevice {
  return {
    index: parseIntOrUndefined(val(node, "Index")) ?? position,
    gpuInstanceId: parseIntOrUndefined(val(node, "GPU Instance ID")) ?? -1,
    computeInstanceId: parseIntOrUndefined(val(node, "Compute Instance ID")) ?? -1,
    memoryMib: parseMib(val(node, "Shared FB Memory Usage", "Total") ?? val(node, "FB Memory Usage", "Total")) ?? 0,
    multiprocessorCount: parseIntOrUndefined(val(node, "Device Attributes", "Shared", "Multiprocessor count")),
    profile: "",
    uuid: "",
  };
}

function parseGpu(node: TextNode, index: number): NvidiaSmiGpu {
  const busId = present(val(node, "PCI", "Bus Id")) ?? node.key.replace(/^GPU\s+/, "");
  return {
    index,
    busId,
    pciAddress: normalizePciAddress(busId) ?? busId.toLowerCase(),
    uuid: present(val(node, "GPU UUID")) ?? "",
    productName: present(val(node, "Product Name")) ?? "",
    productBrand: present(val(node, "Product Brand")),
    architecture: present(val(node, "Product Architecture")),
    memoryMib: parseMib(val(node, "FB Memory Usage", "Total")) ?? 0,
    minorNumber: parseIntOrUndefined(val(node, "Minor Number")),
    serial: present(val(node, "Serial Number")),
    virtualizationMode: normalizeVirtualizationMode(val(node, "GPU Virtualization Mode", "Virtualization Mode")),
    hostVgpuMode: present(val(node, "GPU Virtualization Mode", "Host VGPU Mode")),
    migCurrent: parseEnabled(val(node, "MIG Mode", "Current")),
    migPending: parseEnabled(val(node, "MIG Mode", "Pending")),
    migDevices: node.children.filter((c) => c.key === "MIG Device").map(parseMigDevice),
    vgpuLicensedProduct: present(val(node, "vGPU Software Licensed Product", "Product Name")),
  };
}

export function parseNvidiaSmiText(text: string): NvidiaSmiReport {
  const root = buildTree(text);
  const gpuNodes = root.children.filter((c) => /^GPU\s+[0-9A-Fa-f]+:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d$/.test(c.key));
  const driverVersion = present(val(root, "Driver Version"));
  if (driverVersion === undefined && gpuNodes.length === 0) {
    throw new GpuParseError(SOURCE, "neither a driver version nor a GPU section found");
  }
  const gpus = gpuNodes.map(parseGpu);
  return {
    driverVersion: driverVersion ?? "",
    cudaVersion: present(val(root, "CUDA Version")),
    attachedGpus: parseIntOrUndefined(val(root, "Attached GPUs")) ?? gpus.length,
    gpus,
    warnings: [],
  };
}
