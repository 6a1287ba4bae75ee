// The policies the trace replay compares, all built by the allocator core's own buildPolicy().
// The fleet is one cluster of GPU hosts, so the cluster disable thresholds are lifted to 1 (the
// paper's simulator has none) and everything else is as configured in the manager.
import { buildPolicy, DEFAULT_SCORER_WEIGHTS, scorerWeightsWithout, type AllocationPolicy, type AllocationPolicyConfig } from "../../manager/src/allocator/index.js";

export interface ReplayPolicy {
  name: string;
  description: string;
  build(): AllocationPolicy;
}

const NO_THRESHOLDS: AllocationPolicyConfig = { cpuDisableThreshold: 1, memoryDisableThreshold: 1 };

export const REPLAY_POLICIES: readonly ReplayPolicy[] = [
  {
    name: "random",
    description: "CloudStack `random`: a seeded random feasible host; first GPUs that fit",
    build: () => buildPolicy({ ...NO_THRESHOLDS, algorithm: "random", scorers: {} }),
  },
  {
    name: "firstfit",
    description: "CloudStack `firstfit`: the first feasible host in host order; first GPUs that fit",
    build: () => buildPolicy({ ...NO_THRESHOLDS, algorithm: "firstfit", scorers: {} }),
  },
  {
    name: "vertical",
    description: "vertical best fit: most-allocated host first (CPU, memory) and fewest free whole GPUs left, GPU packing",
    build: () => buildPolicy({ ...NO_THRESHOLDS, algorithm: "firstfit", mode: "vertical", scorers: { "allocated-capacity": 1, "gpu-bestfit": 1, "vgpu-packing": 1 } }),
  },
  {
    name: "orbit-default",
    description: "Orbit's default policy, as the manager builds it (DEFAULT_SCORER_WEIGHTS, firstfit/vertical): gpu-fragmentation with gpu-packing-order momentum",
    build: () => buildPolicy({ ...NO_THRESHOLDS }),
  },
  {
    // What resource balance adds to the default (an ablation, not a policy anyone would choose).
    name: "orbit-no-balance",
    description: "Orbit's default without gpu-resource-balance",
    build: () => buildPolicy({ ...NO_THRESHOLDS, scorers: scorerWeightsWithout(DEFAULT_SCORER_WEIGHTS, "gpu-resource-balance") }),
  },
  {
    // Fragmentation decides where the loss differs materially; otherwise the stable first-fit order keeps
    // packing the hosts already opened (bin-packing momentum), which keeps empty hosts for big VMs.
    name: "gpu-fragmentation",
    description: "gpu-fragmentation:2 with gpu-packing-order:1 alone (no other tiers, no allocation mode)",
    build: () => buildPolicy({ ...NO_THRESHOLDS, algorithm: "firstfit", scorers: { "gpu-fragmentation": 2, "gpu-packing-order": 1 } }),
  },
];
