// The two plugin kinds of the allocator, after Nomad's feasibility-then-rank stack and the
// Kubernetes scheduling framework: a Filter says whether a host can take the VM (and why not),
// a Scorer ranks the hosts that remain (0..1, multiplied by its weight in the policy).
// Each plugin is one file exporting one class with a `name`, registered in registry.ts.

import type { ClusterState, Fleet, FleetHost } from "./fleet.js";
import type { ResolvedPolicyConfig } from "./policy-config.js";
import type { GpuMode, PlacementRequest } from "./types.js";

/** An earlier VM of the same request, already placed in the working copy. */
export interface PlacedVm {
  readonly hostIndex: number;
  readonly vmId: string | undefined;
}

export interface PlacementContext {
  readonly request: PlacementRequest;
  /** Snapshot-wide lookups (VM → host, affinity group → hosts, pods). */
  readonly fleet: Fleet;
  /** Hosts as they are now, including capacity taken by earlier VMs of this request. */
  readonly hosts: readonly FleetHost[];
  readonly clusters: readonly ClusterState[];
  readonly config: ResolvedPolicyConfig;
  /** Index of the VM being placed within the request's `count`. */
  readonly vmIndex: number;
  readonly placed: readonly PlacedVm[];
  readonly seed: number;
}

export interface FilterVerdict {
  /** Stable machine code, e.g. "gpu_capacity". */
  code: string;
  /** Human reason, without the host or filter name: "needs 4 x H100 on one NUMA node, 2 free". */
  reason: string;
  /** True when freeing capacity would not make the host fit. */
  unresolvable: boolean;
}

export interface FilterCheck {
  /** Hot path: true when the host can take the VM. Must not allocate. */
  test(host: FleetHost): boolean;
  /** Why `test` refused this host; called only to build a rejection. */
  explain(host: FleetHost): FilterVerdict;
}

export interface Filter {
  readonly name: string;
  /**
   * Static filters look only at host facts that placing VMs never changes (zone, state, tags...):
   * the engine evaluates them once per request class and snapshot and caches the survivors.
   */
  readonly static: boolean;
  /** For static filters: the request fields the result depends on (part of the cache key). */
  staticKey?(request: PlacementRequest): string;
  /** The check for this request, or null when this filter cannot refuse any host for it. */
  prepare(ctx: PlacementContext): FilterCheck | null;
}

/** GPUs chosen inside a host. */
export interface GpuPick {
  /** Positions in the host's GPU list. */
  gpuIndices: number[];
  mode: GpuMode;
  vgpuType?: string;
  shareMilli?: number;
}

export interface ScoreFunction {
  /** 0..1, higher is better. Must be a pure function of the host (it is recomputed for the winner). */
  score(host: FleetHost): number;
  /** Cheaper than the dynamic filters (e.g. a hash): the engine may score before filtering. */
  cheap?: boolean;
  /** Scorers that care which GPUs of the winning host are used choose them (highest weight wins). */
  pickGpus?(host: FleetHost): GpuPick | null;
}

/**
 * What a scorer's value depends on; the engine caches accordingly.
 * - "static": host facts placement never changes, and the request fields in `staticKey`.
 * - "stateful": also the host's current state (FleetHost fields); recomputed only for hosts that
 *   changed. Its function is prepared once per request class, so it may use only the request
 *   fields in `staticKey`.
 * - "dynamic": anything in the context (account, seed, VM index, earlier VMs, other hosts).
 */
export type ScorerKind = "static" | "stateful" | "dynamic";

export interface Scorer {
  readonly name: string;
  readonly kind: ScorerKind;
  /** For static and stateful scorers: the request fields the scores depend on (cache key). */
  staticKey?(request: PlacementRequest): string;
  /** The scoring function for this request, or null when it scores every host the same. */
  prepare(ctx: PlacementContext): ScoreFunction | null;
  /**
   * Stateful scorers whose exact score also depends on request fields left out of `staticKey`
   * (so that requests differing only there share one ranking): `prepare` then gives an upper
   * bound (null = 1 for every host), and `refine` the exact score for this VM, never above the
   * bound. The engine ranks hosts by the bound and refines only the hosts it walks, stopping
   * once no bound can beat the best exact total: the result is a full scan's.
   */
  refine?(ctx: PlacementContext): ScoreFunction | null;
}

export type FilterFactory = (config: ResolvedPolicyConfig) => Filter;
export type ScorerFactory = (config: ResolvedPolicyConfig) => Scorer;
