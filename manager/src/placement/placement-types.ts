// Types the placement files share (the service, its group commit and its single commit).
import type { FleetSnapshot, PlacementPlan, PlacementRequest, PlacementResult } from "../allocator/types.js";
import type { CreatedVm } from "./commit-rows.js";

export interface PlacementStats {
  commits: number;
  /** Group commits (several requests in one transaction). */
  batches: number;
  /** Group commits abandoned (a host changed elsewhere, an error): their requests went one by one. */
  batchesRedone: number;
  /** Commits whose hosts had changed since the snapshot and were re-placed under lock. */
  replacedUnderLock: number;
  /** Attempts started over (plan no longer fitted, or an affinity group changed). */
  retries: number;
}

/** What placeAndCommit answers: the plan committed and the VMs it created (by placement index). */
export interface Committed {
  plan: PlacementPlan;
  vms: CreatedVm[];
}

/** The pure allocator with the service's policy and clock. */
export type PlaceOn = (snapshot: FleetSnapshot, request: PlacementRequest, seed: number) => PlacementResult;

/** The attempt must start over on a refreshed snapshot. */
export class RetryPlacement extends Error {
  constructor(readonly dirtyHostIds: readonly string[]) {
    super("retry placement");
  }
}
