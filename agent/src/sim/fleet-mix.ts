// What a simulated fleet is made of: how many hosts of each kind, each kind shaped like a real
// server (CPU nodes, HGX boards of 8 NVLinked H100 or A100, L40S hosts offering vGPU profiles).
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "#shared/errors.js";
import type { SimulatedGpuGroup } from "../drivers/simulator/simulated-gpus.js";
import { seededRandom } from "./seeded-random.js";

export type HostKind = "cpu" | "h100" | "a100" | "vgpu";

export interface SimHostSpec {
  index: number;
  hostname: string;
  /** Stable for a seed and index, so a restarted simulator speaks for the same hosts. */
  uuid: string;
  kind: HostKind;
  cpus: number;
  memoryMib: number;
  numaCells: number;
  gpus: SimulatedGpuGroup[];
  tags: string[];
}

/** NVIDIA L40S time-sliced vGPU profiles (48 GB frame buffer split 4, 2 or 1 ways). */
export const L40S_VGPU_PROFILES = [
  { name: "NVIDIA L40S-12Q", maxInstances: 4, framebufferMib: 12288 },
  { name: "NVIDIA L40S-24Q", maxInstances: 2, framebufferMib: 24576 },
  { name: "NVIDIA L40S-48Q", maxInstances: 1, framebufferMib: 49152 },
];

type KindShape = Pick<SimHostSpec, "cpus" | "memoryMib" | "numaCells" | "gpus" | "tags">;

const GIB = 1024;

/** Each kind as its usual server: 2 sockets, the GPUs split between the two NUMA nodes. */
export const HOST_KINDS: Record<HostKind, KindShape> = {
  // A 2 x 32-core node with hyper-threads.
  cpu: { cpus: 128, memoryMib: 512 * GIB, numaCells: 2, gpus: [], tags: [] },
  // HGX H100: 8 SXM GPUs on NVSwitch (every GPU an NVLink peer of every other), 2 x 56 cores.
  h100: { cpus: 224, memoryMib: 2048 * GIB, numaCells: 2, gpus: [{ model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 8 }], tags: ["gpu"] },
  // HGX A100 80GB: 8 SXM4 GPUs on NVSwitch, 2 x 64 cores.
  a100: { cpus: 256, memoryMib: 1024 * GIB, numaCells: 2, gpus: [{ model: "NVIDIA A100-SXM4-80GB", memoryMib: 81920, count: 8 }], tags: ["gpu"] },
  // 4 PCIe L40S with the vGPU manager: time-sliced profiles, no NVLink between cards.
  vgpu: {
    cpus: 128, memoryMib: 1024 * GIB, numaCells: 2, tags: ["gpu", "vgpu"],
    gpus: [
      { model: "NVIDIA L40S", memoryMib: 46068, count: 1, numaNode: 0, vgpuTypes: L40S_VGPU_PROFILES },
      { model: "NVIDIA L40S", memoryMib: 46068, count: 1, numaNode: 0, vgpuTypes: L40S_VGPU_PROFILES },
      { model: "NVIDIA L40S", memoryMib: 46068, count: 1, numaNode: 1, vgpuTypes: L40S_VGPU_PROFILES },
      { model: "NVIDIA L40S", memoryMib: 46068, count: 1, numaNode: 1, vgpuTypes: L40S_VGPU_PROFILES },
    ],
  },
};

export const DEFAULT_MIX = "cpu:70,h100:15,a100:10,vgpu:5";

/** "cpu:70,h100:15,..." as weights by kind; every kind named once, weights ≥ 0, some > 0. */
export function parseMix(text: string): Map<HostKind, number> {
  const out = new Map<HostKind, number>();
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]+):(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw new InvalidArgumentError("mix", `mix: "${part}" is not KIND:WEIGHT (e.g. ${DEFAULT_MIX})`);
    const kind = m[1] as HostKind;
    if (!(kind in HOST_KINDS)) throw new InvalidArgumentError("mix", `mix: unknown host kind "${kind}" (kinds: ${Object.keys(HOST_KINDS).join(", ")})`);
    if (out.has(kind)) throw new InvalidArgumentError("mix", `mix: "${kind}" is named twice`);
    out.set(kind, Number(m[2]));
  }
  if (![...out.values()].some((w) => w > 0)) throw new InvalidArgumentError("mix", "mix: no host kind has a weight above 0");
  return out;
}

/** How many hosts of each kind: the weights' shares of `count`, rounded by largest remainder (they sum to count). */
export function kindCounts(count: number, mix: Map<HostKind, number>): Map<HostKind, number> {
  const total = [...mix.values()].reduce((a, b) => a + b, 0);
  const exact = [...mix].map(([k, w]) => ({ k, x: (count * w) / total }));
  const counts = new Map(exact.map(({ k, x }) => [k, Math.floor(x)]));
  let left = count - [...counts.values()].reduce((a, b) => a + b, 0);
  for (const { k } of [...exact].sort((a, b) => (b.x - Math.floor(b.x)) - (a.x - Math.floor(a.x)))) {
    if (left-- <= 0) break;
    counts.set(k, counts.get(k)! + 1);
  }
  return counts;
}

/** A UUID (v4 layout) derived from the seed and index. */
export function simHostUuid(seed: number, index: number): string {
  const h = createHash("sha256").update(`orbit-sim-host:${seed}:${index}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[parseInt(h[16]!, 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The fleet: `count` hosts in the mix's proportions, kinds shuffled by the seed, names sim-<kind>-<index>. */
export function buildFleet(o: { count: number; mix?: string; seed: number; namePrefix?: string }): SimHostSpec[] {
  if (!Number.isInteger(o.count) || o.count < 0) throw new InvalidArgumentError("count", `count: ${o.count} is not a whole number ≥ 0`);
  const kinds = [...kindCounts(o.count, parseMix(o.mix ?? DEFAULT_MIX))].flatMap(([k, n]) => Array<HostKind>(n).fill(k));
  const random = seededRandom(o.seed);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const prefix = o.namePrefix ?? "sim";
  return kinds.map((kind, index) => ({
    // The shape is shared between hosts of a kind (read only): 10,000 hosts, a handful of objects.
    index, kind, ...HOST_KINDS[kind],
    hostname: `${prefix}-${kind}-${String(index).padStart(5, "0")}`,
    uuid: simHostUuid(o.seed, index),
  }));
}
