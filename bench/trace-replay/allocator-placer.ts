// Replays pods through Orbit's pure allocator core: one PlacementSession per run (the same place()
// as the manager, on an index updated in place as plans are committed).
//
// The GPU workload the fragmentation scorer keeps room for is learned online, from the pods that
// have arrived so far (never the future), and handed to the session as a manager's snapshot would
// carry it (there: the GPU flavors weighted by the VMs running them). A new mix is set only when
// the observed weight has doubled since the last one: about log2(pods) times per run.
import { PlacementSession, type AllocationPolicy, type FleetSnapshot } from "../../manager/src/allocator/index.js";
import { GpuWorkloadLearner } from "../../manager/src/allocator/gpu/gpu-workload-mix.js";
import type { PodPlacer } from "./replay.js";
import type { TracePod } from "./trace-csv.js";
import { traceRequest, type ShareMode } from "./trace-mapping.js";

export class AllocatorPlacer implements PodPlacer {
  private readonly session: PlacementSession;
  private readonly learner = new GpuWorkloadLearner();
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
    const request = traceRequest(pod, this.mode);
    const g = request.gpu;
    if (g !== undefined && g.kind !== "vgpu") {
      this.learner.observe({
        vcpus: request.vcpus,
        memoryMib: request.memoryMib,
        gpuCount: g.kind === "share" ? 1 : g.count,
        gpuMilli: g.kind === "share" ? g.milli : 1000,
        models: g.models ?? [],
      });
      if (this.learner.refreshDue) this.session.setGpuWorkload(this.learner.take());
    }
    // A distinct seed per request, so `random` draws afresh for every VM; reproducible per run seed.
    const seed = (this.seed * 1_000_003 + this.n++) >>> 0;
    return this.session.placeAndCommit(request, seed).ok;
  }
}
