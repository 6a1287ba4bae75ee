// A placement session: the allocator's own index of a snapshot, changed in place as plans are
// committed. For simulations that stream many placements into one fleet (benchmarks, trace
// replay): no snapshot is rebuilt per VM. Each place() is still the pure core on the current
// state; the manager itself places on fresh snapshots from PostgreSQL instead.

import { commitVm, gpuUseOf } from "./commit-to-fleet.js";
import { buildFleet, type Fleet, type FleetHost } from "./fleet.js";
import { placeOnFleet } from "./place.js";
import type { AllocationPolicy } from "./policy-types.js";
import type { FleetSnapshot, GpuWorkloadShape, HostSnapshot, PlacementPlan, PlacementRequest, PlacementResult } from "./types.js";

export class PlacementSession {
  private readonly fleet: Fleet;
  private vmSeq = 0;
  private gpuWorkload: readonly GpuWorkloadShape[] | undefined;

  constructor(
    private readonly initial: FleetSnapshot,
    readonly policy: AllocationPolicy,
  ) {
    this.fleet = buildFleet(initial, policy.config);
    this.gpuWorkload = initial.gpuWorkload;
  }

  place(request: PlacementRequest, seed: number, now: Date = new Date(0)): PlacementResult {
    return placeOnFleet(this.fleet, request, { seed, now, policy: this.policy });
  }

  /**
   * Replaces the GPU workload the fragmentation scorer keeps room for (a simulation learning it
   * online, as a manager's snapshot would carry it). Rankings are rebuilt: call it when the mix
   * has moved materially, not per VM.
   */
  setGpuWorkload(shapes: readonly GpuWorkloadShape[] | undefined): void {
    this.gpuWorkload = shapes;
    this.fleet.setGpuWorkload(shapes);
  }

  /** Records a plan from this session's place() as committed. */
  commit(request: PlacementRequest, plan: PlacementPlan): void {
    for (const p of plan.placements) {
      const i = this.fleet.hostIndexById.get(p.hostId);
      if (i === undefined) throw new Error(`plan places a VM on unknown host ${p.hostId}`);
      commitVm(this.fleet, i, request, p, p.vmId ?? `session-vm-${this.vmSeq++}`);
    }
  }

  /** place() and, when it fits, commit(). */
  placeAndCommit(request: PlacementRequest, seed: number): PlacementResult {
    const res = this.place(request, seed);
    if (res.ok) this.commit(request, res.plan);
    return res;
  }

  /** Current state of the hosts (read-only views; allocation totals as committed). */
  get hosts(): readonly FleetHost[] {
    return this.fleet.hosts;
  }

  /**
   * The current state as a snapshot (O(hosts)): allocation totals and GPU uses as committed.
   * VM lists keep the initial VMs only.
   */
  snapshot(): FleetSnapshot {
    const hosts: HostSnapshot[] = this.fleet.hosts.map((h) => ({
      ...h.src,
      cpu: { ...h.src.cpu, allocated: h.cpuUsed },
      memory: { ...h.src.memory, allocatedMib: h.memUsed },
      ...(h.src.gpus !== undefined && { gpus: h.src.gpus.map((g, gi) => ({ ...g, use: gpuUseOf(h.gpus[gi]!) })) }),
    }));
    const { gpuWorkload: _initialWorkload, ...rest } = this.initial;
    return { ...rest, hosts, ...(this.gpuWorkload !== undefined && { gpuWorkload: this.gpuWorkload }) };
  }
}
