// The impure half of placement: snapshot from PostgreSQL → pure allocator → commit. The commit
// locks the chosen hosts' rows and checks their generation; if another commit touched one of
// them since the snapshot, the whole attempt is retried on a fresh snapshot, so no host is ever
// allocated beyond what the allocator saw as free.
import { randomInt } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
import { InsufficientCapacityError, OrbitError } from "#shared/errors.js";
import { place } from "../allocator/index.js";
import type { AllocationPolicy } from "../allocator/policy.js";
import type { PlacementPlan, PlacementRejection, PlacementRequest } from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import { allocations, gpuAllocations, hosts } from "../db/schema.js";
import { buildSnapshot } from "./snapshot-builder.js";

class GenerationConflict extends Error {}

export interface PlacementServiceOptions {
  db: Db;
  policy: () => AllocationPolicy;
  now?: () => Date;
  maxAttempts?: number;
}

export interface CommitContext {
  tx: Tx;
  plan: PlacementPlan;
}

export function rejectionError(r: PlacementRejection): InsufficientCapacityError {
  const err = new InsufficientCapacityError(r.message, r.hosts.map((h) => ({
    hostId: h.hostId, hostName: h.hostName, filter: h.filter, reason: h.reason,
  })), r.unschedulable === "now");
  Object.assign(err.details, { unschedulable: r.unschedulable, vmIndex: r.vmIndex });
  return err;
}

export class PlacementService {
  constructor(private readonly o: PlacementServiceOptions) {}

  /** Dry run: place on a fresh snapshot, commit nothing. */
  async dryRun(request: PlacementRequest, seed = randomInt(2 ** 31)) {
    const snapshot = await buildSnapshot(this.o.db, { environment: request.environment });
    return place(snapshot, request, { seed, now: this.o.now?.() ?? new Date(), policy: this.o.policy() });
  }

  /**
   * Places the request and, in one transaction, writes the caller's rows (`before`: e.g. the VM
   * rows whose ids the allocations reference) and the allocations. Returns what `before` returned.
   */
  async placeAndCommit<T>(
    request: PlacementRequest,
    before: (tx: Tx, plan: PlacementPlan) => Promise<{ result: T; vmIds: number[] }>,
  ): Promise<{ plan: PlacementPlan; result: T }> {
    const maxAttempts = this.o.maxAttempts ?? 50;
    for (let attempt = 1; ; attempt++) {
      const snapshot = await buildSnapshot(this.o.db, { environment: request.environment });
      const seed = randomInt(2 ** 31);
      const placed = place(snapshot, request, { seed, now: this.o.now?.() ?? new Date(), policy: this.o.policy() });
      if (!placed.ok) throw rejectionError(placed.rejection);
      const plan = placed.plan;
      try {
        const result = await this.o.db.transaction(async (tx) => {
          const hostIds = [...new Set(plan.placements.map((p) => Number(p.hostId)))].sort((a, b) => a - b);
          const locked = await tx.select({ id: hosts.id, generation: hosts.generation }).from(hosts)
            .where(inArray(hosts.id, hostIds)).orderBy(hosts.id).for("update");
          for (const h of locked) {
            const seen = snapshot.hosts.find((s) => s.id === String(h.id))?.generation;
            if (seen !== h.generation) throw new GenerationConflict();
          }
          const written = await before(tx, plan);
          for (const p of plan.placements) {
            const vmId = written.vmIds[p.index];
            if (vmId === undefined) throw new OrbitError("internal", `no VM row for placement ${p.index}`);
            await tx.insert(allocations).values({
              vmId, hostId: Number(p.hostId), vcpus: p.vcpus, memoryMib: p.memoryMib,
              numaNode: p.numaNode ?? -1, pinnedCpus: p.pinnedCpus ?? [],
            });
            for (const g of p.gpus) {
              await tx.insert(gpuAllocations).values({
                vmId, hostId: Number(p.hostId), gpuId: Number(g.gpuId), mode: g.mode,
                vgpuType: g.vgpuType ?? "", shareMilli: g.shareMilli ?? (g.mode === "share" ? 0 : 1000),
              });
            }
          }
          await tx.update(hosts).set({ generation: sql`${hosts.generation} + 1` }).where(inArray(hosts.id, hostIds));
          return written.result;
        });
        return { plan, result };
      } catch (e) {
        if (e instanceof GenerationConflict && attempt < maxAttempts) {
          // Back off a little, with jitter, so colliding deploys spread out.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
          continue;
        }
        if (e instanceof GenerationConflict) {
          throw new OrbitError("conflict", `placement kept colliding with concurrent deploys (${attempt} attempts)`, { retryable: true });
        }
        throw e;
      }
    }
  }
}

/** Bumps a host's generation (its capacity changed outside a placement: release, new facts). */
export async function touchHost(tx: Tx | Db, hostId: number): Promise<void> {
  await tx.update(hosts).set({ generation: sql`${hosts.generation} + 1` }).where(eq(hosts.id, hostId));
}
