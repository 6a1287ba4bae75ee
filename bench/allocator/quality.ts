// Placement quality: stream a realistic mix of GPU and CPU VMs into a fleet until the first
// request no host can take, then report how much of the fleet is allocated. Orbit's GPU-aware
// default policy against a plain CloudStack-style `firstfit`, on the same request sequences.
//   npx tsx bench/allocator/quality.ts [--seeds 10] [--cpu-hosts 20,10]
// Two fleets by default: 20 CPU hosts (CPU VMs rarely spill onto GPU hosts) and 10 (they do).

import {
  buildPolicy,
  CLOUDSTACK_SCORER_WEIGHTS,
  DEFAULT_SCORER_WEIGHTS,
  defaultPolicy,
  PlacementSession,
  scorerWeightsWithout,
  type AllocationPolicy,
  type FleetSnapshot,
  type GpuWorkloadShape,
  type HostSnapshot,
  type PlacementRequest,
} from "../../manager/src/allocator/index.js";
import { GpuWorkloadLearner } from "../../manager/src/allocator/gpu/gpu-workload-mix.js";
import { seededRandom } from "../../manager/src/allocator/prng.js";
import { cpuHost, gpuHost } from "../../manager/src/allocator/testing/fleet-builder.js";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const seeds = Number(arg("seeds", "10"));
const cpuHostCounts = arg("cpu-hosts", "20,10").split(",").map(Number);

const L40S_TYPES = [
  { name: "L40S-12Q", maxInstances: 4 },
  { name: "L40S-24Q", maxInstances: 2 },
];

/** 100 hosts: `cpuHosts` CPU hosts, 20 PCIe hosts (8 x L40S, no NVLink), the rest HGX (8 x H100, NVSwitch, 2 NUMA nodes). */
function qualityFleet(cpuHosts: number): FleetSnapshot {
  const hosts: HostSnapshot[] = [];
  const cpuEvery = 100 / cpuHosts;
  for (let i = 0; i < 100; i++) {
    const id = `h${String(i).padStart(3, "0")}`;
    const cluster = `c${Math.floor(i / 25)}`;
    if (i % cpuEvery === 0) {
      hosts.push(cpuHost(id, { cluster, cpu: { total: 128, allocated: 0 }, memory: { totalMib: 512 * 1024, reservedMib: 8192, allocatedMib: 0 } }));
    } else if (i % 5 !== 4) {
      hosts.push(gpuHost(id, { cluster, model: "H100 80GB", cpu: { total: 192, allocated: 0 }, memory: { totalMib: 2048 * 1024, reservedMib: 32768, allocatedMib: 0 } }));
    } else {
      hosts.push(gpuHost(id, { cluster, model: "L40S", nvlinkDomainOf: null, vgpuTypes: L40S_TYPES, cpu: { total: 128, allocated: 0 }, memory: { totalMib: 1024 * 1024, reservedMib: 16384, allocatedMib: 0 } }));
    }
  }
  return { hosts, clusters: ["c0", "c1", "c2", "c3"].map((id) => ({ id, cpuDisableThreshold: 1, memoryDisableThreshold: 1 })) };
}

/** A GPU cloud's demand (by VM count): CPU VMs, H100 passthrough 1/2/4/8, L40S vGPU, shares and passthrough. */
function requestStream(seed: number, n: number): PlacementRequest[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const out: PlacementRequest[] = [];
  for (let i = 0; i < n; i++) {
    const x = rnd();
    const base = { accountId: `a${Math.floor(rnd() * 50)}`, environment: "env1" };
    if (x < 0.4) {
      const vcpus = pick([2, 4, 8, 16, 32]);
      out.push({ ...base, vcpus, memoryMib: vcpus * pick([2048, 4096, 8192]) });
    } else if (x < 0.8) {
      const count = pick([1, 1, 1, 1, 2, 2, 4, 8]);
      // Flavors per GPU: 16-32 vCPU and 128-256 GiB: some take more than the host's share per GPU.
      // (8-GPU flavors stay within a host: 192 CPUs, 2 TiB.)
      const perGpuCpu = pick(count === 8 ? [16, 24] : [16, 24, 32]);
      const perGpuMem = pick(count === 8 ? [128, 192, 240] : [128, 192, 256]);
      out.push({ ...base, vcpus: count * perGpuCpu, memoryMib: count * perGpuMem * 1024, gpu: { kind: "passthrough", count, models: ["H100 80GB"] } });
    } else if (x < 0.9) {
      const t = pick(L40S_TYPES);
      out.push({ ...base, vcpus: pick([4, 8, 16]), memoryMib: pick([16, 32, 64]) * 1024, gpu: { kind: "vgpu", vgpuType: t.name, models: ["L40S"] } });
    } else if (x < 0.95) {
      out.push({ ...base, vcpus: pick([2, 4, 8]), memoryMib: pick([8, 16, 32]) * 1024, gpu: { kind: "share", milli: pick([250, 500]), models: ["L40S"] } });
    } else {
      const count = pick([1, 2]);
      out.push({ ...base, vcpus: count * 16, memoryMib: count * 96 * 1024, gpu: { kind: "passthrough", count, models: ["L40S"] } });
    }
  }
  return out;
}

interface Outcome {
  placed: number;
  gpuPct: number;
  memPct: number;
  cpuPct: number;
  /** Free GPUs on hosts without the CPU or memory left for the smallest VM of that GPU model. */
  strandedGpus: number;
  /** Free whole GPUs of the rejected request's models. */
  freeOfModel: number;
  idleGpus: number;
  firstRejected: string;
}

/** Smallest CPU and memory a VM using one GPU of each model asks for in the stream below. */
const SMALLEST_GPU_VM: Record<string, { vcpus: number; memoryMib: number }> = {
  "H100 80GB": { vcpus: 16, memoryMib: 128 * 1024 },
  L40S: { vcpus: 2, memoryMib: 8 * 1024 },
};

/** GPU capacity in use, in GPUs: whole GPUs, vGPU instances as their share of a GPU, shares in milli. */
function gpuUnitsUsed(session: PlacementSession): { used: number; total: number } {
  let used = 0;
  let total = 0;
  for (const h of session.hosts) {
    for (const g of h.gpus) {
      total++;
      if (g.mode === 1) used += 1;
      else if (g.mode === 3) used += g.shareMilli / 1000;
      else if (g.mode === 2) {
        for (const [type, n] of g.vgpus ?? []) used += n / (g.vgpuSpec(type)?.maxInstances ?? n);
      }
    }
  }
  return { used, total };
}

function describe(r: PlacementRequest): string {
  const g = r.gpu;
  if (g === undefined) return `CPU ${r.vcpus} vCPU`;
  if (g.kind === "passthrough") return `${g.count} x ${g.models?.join("|")}`;
  if (g.kind === "vgpu") return `vGPU ${g.vgpuType}`;
  return `share ${g.milli}`;
}

/** The stream's GPU flavors (passthrough and shares; vGPU is packed by type) as workload shapes. */
function gpuFlavors(requests: readonly PlacementRequest[]): Omit<GpuWorkloadShape, "weight">[] {
  const out = new Map<string, Omit<GpuWorkloadShape, "weight">>();
  for (const r of requests) {
    const shape = shapeOf(r);
    if (shape !== undefined) out.set(JSON.stringify(shape), shape);
  }
  return [...out.values()];
}

function shapeOf(r: PlacementRequest): Omit<GpuWorkloadShape, "weight"> | undefined {
  const g = r.gpu;
  if (g === undefined || g.kind === "vgpu") return undefined;
  return { vcpus: r.vcpus, memoryMib: r.memoryMib, gpuCount: g.kind === "share" ? 1 : g.count, gpuMilli: g.kind === "share" ? g.milli : 1000, models: g.models ?? [] };
}

/**
 * As the manager's snapshots carry it: every GPU flavor weighted by 1 + the VMs running it,
 * handed to the session again whenever that weight has doubled.
 */
function run(policy: AllocationPolicy, requests: readonly PlacementRequest[], cpuHosts: number): Outcome {
  const session = new PlacementSession(qualityFleet(cpuHosts), policy);
  const workload = new GpuWorkloadLearner({ halfLifeRequests: Infinity });
  for (const f of gpuFlavors(requests)) workload.observe(f);
  session.setGpuWorkload(workload.take());
  let placed = 0;
  let firstRejected = "none";
  let rejected: PlacementRequest | undefined;
  for (const [i, r] of requests.entries()) {
    if (!session.placeAndCommit(r, i).ok) {
      firstRejected = describe(r);
      rejected = r;
      break;
    }
    placed++;
    const shape = shapeOf(r);
    if (shape !== undefined) {
      workload.observe(shape);
      if (workload.refreshDue) session.setGpuWorkload(workload.take());
    }
  }
  const models = rejected?.gpu?.models;
  let freeOfModel = 0;
  let stranded = 0;
  for (const h of session.hosts) {
    for (const g of h.gpus) {
      if (g.mode !== 0) continue;
      if (models === undefined || models.includes(g.model)) freeOfModel++;
      const least = SMALLEST_GPU_VM[g.model]!;
      if (h.cpuCapacity - h.cpuUsed < least.vcpus || h.memCapacity - h.memUsed < least.memoryMib) stranded++;
    }
  }
  let memUsed = 0, memCap = 0, cpuUsed = 0, cpuCap = 0;
  for (const h of session.hosts) {
    memUsed += h.memUsed;
    memCap += h.memCapacity;
    cpuUsed += h.cpuUsed;
    cpuCap += h.cpuCapacity;
  }
  const gpu = gpuUnitsUsed(session);
  return {
    placed,
    gpuPct: (100 * gpu.used) / gpu.total,
    memPct: (100 * memUsed) / memCap,
    cpuPct: (100 * cpuUsed) / cpuCap,
    strandedGpus: stranded,
    freeOfModel,
    idleGpus: gpu.total - gpu.used,
    firstRejected,
  };
}

const policies: [string, AllocationPolicy][] = [
  ["Orbit default (GPU-aware)", defaultPolicy],
  ["CloudStack firstfit", buildPolicy({ algorithm: "firstfit", scorers: CLOUDSTACK_SCORER_WEIGHTS })],
  ["CloudStack random (its default algorithm)", buildPolicy({ algorithm: "random", scorers: CLOUDSTACK_SCORER_WEIGHTS })],
  // What the resource-balance scorer adds: the default without it.
  ["Orbit default without gpu-resource-balance", buildPolicy({ scorers: scorerWeightsWithout(DEFAULT_SCORER_WEIGHTS, "gpu-resource-balance") })],
];

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const fmt = (xs: number[], d = 1) => `${mean(xs).toFixed(d)} ± ${sd(xs).toFixed(d)}`;

console.log(`$ npx tsx bench/allocator/quality.ts --seeds ${seeds} --cpu-hosts ${cpuHostCounts.join(",")}`);
console.log("Stream (by VM): 40% CPU VMs (2-32 vCPU, 2-8 GiB per vCPU), 40% H100 passthrough (1/2/4/8; 16-32 vCPU and 128-256 GiB per GPU), 10% L40S vGPU (homogeneous 12Q/24Q), 5% L40S shares (1/4, 1/2), 5% L40S passthrough (1-2).");
console.log(`Each seed: a new random order of the stream; all policies see the same requests until their first rejection (${seeds} seeds, mean ± sd).`);

for (const cpuHosts of cpuHostCounts) {
  const results = new Map<string, Outcome[]>(policies.map(([n]) => [n, []]));
  for (let s = 1; s <= seeds; s++) {
    const requests = requestStream(s, 5000);
    for (const [name, policy] of policies) results.get(name)!.push(run(policy, requests, cpuHosts));
  }
  const gpus = qualityFleet(cpuHosts).hosts.reduce((n, h) => n + (h.gpus?.length ?? 0), 0);
  console.log("");
  console.log(`Fleet: ${cpuHosts} CPU hosts (128 CPUs, 512 GiB), ${80 - cpuHosts} HGX hosts (8 x H100 80GB, NVSwitch, 2 NUMA nodes, 192 CPUs, 2 TiB), 20 PCIe hosts (8 x L40S, vGPU/shares, 128 CPUs, 1 TiB): ${gpus} GPUs.`);
  console.log("");
  console.log("| policy | VMs placed before the first rejection | GPUs allocated % | memory allocated % | CPU allocated % | GPUs unallocated | free GPUs of the rejected request's model | GPUs stranded (free, but no CPU/memory left beside them) |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const [name] of policies) {
    const r = results.get(name)!;
    console.log(`| ${name} | ${fmt(r.map((x) => x.placed), 0)} | ${fmt(r.map((x) => x.gpuPct))} | ${fmt(r.map((x) => x.memPct))} | ${fmt(r.map((x) => x.cpuPct))} | ${fmt(r.map((x) => x.idleGpus))} | ${fmt(r.map((x) => x.freeOfModel))} | ${fmt(r.map((x) => x.strandedGpus))} |`);
  }
  console.log("");
  for (const key of ["strandedGpus", "freeOfModel"] as const) {
    const ours = mean(results.get(policies[0]![0])!.map((x) => x[key]));
    const base = mean(results.get(policies[1]![0])!.map((x) => x[key]));
    const what = key === "strandedGpus" ? "GPUs stranded (no CPU/memory beside them)" : "free GPUs of the rejected model";
    // The target is on stranded GPUs; the other count is context (when a CPU VM is refused it counts every free GPU).
    const target = key === "strandedGpus" ? " (target ≥ 20%)" : "";
    console.log(`${what}: Orbit ${ours.toFixed(1)} vs firstfit ${base.toFixed(1)}: ${(100 * (1 - ours / base)).toFixed(0)}% fewer${target}.`);
  }
}
