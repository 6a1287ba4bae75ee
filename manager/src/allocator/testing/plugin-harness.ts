// Runs one filter or scorer against a fake fleet, outside the engine (for table-driven tests).

import { buildFleet } from "../fleet.js";
import type { Filter, FilterVerdict, PlacedVm, PlacementContext, Scorer } from "../plugin.js";
import { defaultPolicy } from "../policy.js";
import type { ResolvedPolicyConfig } from "../policy-config.js";
import type { FleetSnapshot, PlacementRequest } from "../types.js";

export interface HarnessOptions {
  config?: ResolvedPolicyConfig;
  seed?: number;
  vmIndex?: number;
  /** Host ids of earlier VMs of the same request. */
  placedOn?: readonly string[];
}

export function contextFor(snapshot: FleetSnapshot, request: PlacementRequest, o: HarnessOptions = {}): PlacementContext {
  const config = o.config ?? defaultPolicy.config;
  const fleet = buildFleet(snapshot, config);
  const placed: PlacedVm[] = (o.placedOn ?? []).map((id) => ({ hostIndex: fleet.hostIndexById.get(id)!, vmId: undefined }));
  return { request, fleet, hosts: fleet.hosts, clusters: fleet.clusters, config, vmIndex: o.vmIndex ?? 0, placed, seed: o.seed ?? 1 };
}

export interface FilterOutcome {
  host: string;
  pass: boolean;
  verdict?: FilterVerdict;
}

/** Per host: passes, or the verdict. `null` when the filter does not apply to the request. */
export function runFilter(filter: Filter, snapshot: FleetSnapshot, request: PlacementRequest, o: HarnessOptions = {}): FilterOutcome[] | null {
  const ctx = contextFor(snapshot, request, o);
  const check = filter.prepare(ctx);
  if (check === null) return null;
  return ctx.hosts.map((h) => (check.test(h) ? { host: h.src.id, pass: true } : { host: h.src.id, pass: false, verdict: check.explain(h) }));
}

/** Ids of the hosts the filter lets through (all when it does not apply). */
export function passing(filter: Filter, snapshot: FleetSnapshot, request: PlacementRequest, o: HarnessOptions = {}): string[] {
  const out = runFilter(filter, snapshot, request, o);
  return out === null ? snapshot.hosts.map((h) => h.id) : out.filter((x) => x.pass).map((x) => x.host);
}

/** Score per host id (the exact one for refinable scorers), or null when the scorer does not apply to the request. */
export function runScorer(scorer: Scorer, snapshot: FleetSnapshot, request: PlacementRequest, o: HarnessOptions = {}): Record<string, number> | null {
  const ctx = contextFor(snapshot, request, o);
  const fn = scorer.refine !== undefined ? scorer.refine(ctx) : scorer.prepare(ctx);
  if (fn === null) return null;
  return Object.fromEntries(ctx.hosts.map((h) => [h.src.id, fn.score(h)]));
}

export interface BoundCheck {
  /** Host and request pairs whose exact score is outside 0..bound (must be none). */
  violations: string[];
  /** Pairs whose exact score is strictly below the bound (the bound is not simply the exact score). */
  below: number;
}

/** For a refinable scorer: compares `refine`'s exact score with `prepare`'s bound on every host, for each request. */
export function checkBound(scorer: Scorer, snapshot: FleetSnapshot, requests: readonly PlacementRequest[]): BoundCheck {
  const out: BoundCheck = { violations: [], below: 0 };
  for (const [i, r] of requests.entries()) {
    const ctx = contextFor(snapshot, r);
    const bound = scorer.prepare(ctx);
    const exact = scorer.refine?.(ctx) ?? null;
    if (exact === null) continue;
    for (const h of ctx.hosts) {
      const b = bound === null ? 1 : bound.score(h);
      const e = exact.score(h);
      if (!(e >= 0 && e <= b + 1e-12)) out.violations.push(`request ${i}, host ${h.src.id}: exact ${e}, bound ${b}`);
      if (e < b - 1e-9) out.below++;
    }
  }
  return out;
}
