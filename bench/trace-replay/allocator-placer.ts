// Replays pods through Orbit's pure allocator core: one PlacementSession per run (the same place()
// as the manager, on an index updated in place as plans are committed).
import { PlacementSession, type AllocationPolicy, type FleetSnapshot } from "../../manager/src/allocator/index.js";
import type { PodPlacer } from "./replay.js";
import type { TracePod } from "./trace-csv.js";
import { traceRequest, type ShareMode } from "./trace-mapping.js";

export class AllocatorPlacer implements PodPlacer {
  private readonly session: PlacementSession;
  private n = 0;

  constructor(
    snapshot: FleetSnapshot,
    policy: AllocationPolicy,
    private readonly seed: number,
    private readonly mode: ShareMode = "fractional",
  ) {
    this.session = new PlacementSession(snapshot, policy);
  }

  place(pod: TracePod): boolean {
    // A distinct seed per request, so `random` draws afresh for every VM; reproducible per run seed.
    const seed = (this.seed * 1_000_003 + this.n++) >>> 0;
    return this.session.placeAndCommit(traceRequest(pod, this.mode), seed).ok;
  }
}
