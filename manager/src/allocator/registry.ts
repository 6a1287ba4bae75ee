// Every filter and scorer by name. Adding a plugin = one file + one line here.

import { AffinityFilter } from "./filters/affinity.filter.js";
import { ClusterThresholdFilter } from "./filters/cluster-threshold.filter.js";
import { CpuCapacityFilter } from "./filters/cpu-capacity.filter.js";
import { CpuTypeFilter } from "./filters/cpu-type.filter.js";
import { GpuCapacityFilter } from "./filters/gpu-capacity.filter.js";
import { GpuModelFilter } from "./filters/gpu-model.filter.js";
import { HostStateFilter } from "./filters/host-state.filter.js";
import { HostTagsFilter } from "./filters/host-tags.filter.js";
import { HypervisorFilter } from "./filters/hypervisor.filter.js";
import { MemoryCapacityFilter } from "./filters/memory-capacity.filter.js";
import { ScopeFilter } from "./filters/scope.filter.js";
import type { FilterFactory, ScorerFactory } from "./plugin.js";
import { AffinityPreferenceScorer } from "./scorers/affinity-preference.scorer.js";
import { AllocatedCapacityScorer } from "./scorers/allocated-capacity.scorer.js";
import { AvoidScorer } from "./scorers/avoid.scorer.js";
import { FirstFitScorer } from "./scorers/firstfit.scorer.js";
import { GpuBestFitScorer } from "./scorers/gpu-bestfit.scorer.js";
import { GpuFragmentationScorer } from "./scorers/gpu-fragmentation.scorer.js";
import { GpuPackingOrderScorer } from "./scorers/gpu-packing-order.scorer.js";
import { GpuResourceBalanceScorer } from "./scorers/gpu-resource-balance.scorer.js";
import { GpuHostsLastScorer } from "./scorers/gpu-hosts-last.scorer.js";
import { GpuLocalityScorer } from "./scorers/gpu-locality.scorer.js";
import { LeastConsumedScorer } from "./scorers/leastconsumed.scorer.js";
import { OsTypeScorer } from "./scorers/os-type.scorer.js";
import { RandomScorer } from "./scorers/random.scorer.js";
import { UserConcentratedPodScorer } from "./scorers/userconcentratedpod.scorer.js";
import { UserDispersingScorer } from "./scorers/userdispersing.scorer.js";
import { VgpuPackingScorer } from "./scorers/vgpu-packing.scorer.js";

export const FILTERS: ReadonlyMap<string, FilterFactory> = new Map<string, FilterFactory>([
  [ScopeFilter.NAME, () => new ScopeFilter()],
  [HostStateFilter.NAME, () => new HostStateFilter()],
  [HypervisorFilter.NAME, () => new HypervisorFilter()],
  [CpuTypeFilter.NAME, () => new CpuTypeFilter()],
  [HostTagsFilter.NAME, () => new HostTagsFilter()],
  [GpuModelFilter.NAME, () => new GpuModelFilter()],
  [CpuCapacityFilter.NAME, () => new CpuCapacityFilter()],
  [MemoryCapacityFilter.NAME, () => new MemoryCapacityFilter()],
  [ClusterThresholdFilter.NAME, () => new ClusterThresholdFilter()],
  [GpuCapacityFilter.NAME, () => new GpuCapacityFilter()],
  [AffinityFilter.NAME, () => new AffinityFilter()],
]);

export const SCORERS: ReadonlyMap<string, ScorerFactory> = new Map<string, ScorerFactory>([
  [RandomScorer.NAME, () => new RandomScorer()],
  [FirstFitScorer.NAME, () => new FirstFitScorer()],
  [UserDispersingScorer.NAME, () => new UserDispersingScorer()],
  [UserConcentratedPodScorer.NAME, () => new UserConcentratedPodScorer()],
  [LeastConsumedScorer.NAME, () => new LeastConsumedScorer()],
  [AllocatedCapacityScorer.NAME, (config) => new AllocatedCapacityScorer(config)],
  [OsTypeScorer.NAME, () => new OsTypeScorer()],
  [GpuHostsLastScorer.NAME, () => new GpuHostsLastScorer()],
  [AffinityPreferenceScorer.NAME, () => new AffinityPreferenceScorer()],
  [AvoidScorer.NAME, () => new AvoidScorer()],
  [GpuLocalityScorer.NAME, () => new GpuLocalityScorer()],
  [GpuBestFitScorer.NAME, () => new GpuBestFitScorer()],
  [GpuFragmentationScorer.NAME, () => new GpuFragmentationScorer()],
  [GpuPackingOrderScorer.NAME, () => new GpuPackingOrderScorer()],
  [GpuResourceBalanceScorer.NAME, () => new GpuResourceBalanceScorer()],
  [VgpuPackingScorer.NAME, () => new VgpuPackingScorer()],
]);
