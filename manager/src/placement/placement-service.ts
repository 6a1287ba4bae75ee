// The impure half of placement: snapshot (cached) → pure allocator → commit in PostgreSQL.
//
// The commit locks the chosen hosts' rows (FOR UPDATE, in id order) and compares their
// generation with the one the snapshot reflected. Equal: nothing was placed there since, the
// plan stands. Different: the locked hosts are re-read inside the transaction and the request is
// placed again on just those hosts (the pure core re-checks capacity, GPUs, affinity); only if
// it no longer fits there is the attempt retried on a refreshed snapshot, after a jittered
// back-off. So colliding deploys (vertical packing sends them all to one host) mostly commit on
// the first attempt instead of starving, and no host is ever allocated beyond what a check made
// under its lock saw as free. Strict affinity groups are locked as well and their members
// re-read, so two deploys into one group cannot both miss each other.
import { randomInt } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { place, rejectionError } from "../allocator/index.js";
import type { AllocationPolicy } from "../allocator/policy.js";
import type { PlacementPlan, PlacementRequest, PlacementResult } from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import { allocations, gpuAllocations, hosts } from "../db/schema.js";
import { lockStrictGroups, withMemberHosts } from "./affinity-members.js";
import { SnapshotCache } from "./snapshot-cache.js";
import { buildSnapshot } from "./snapshot-builder.js";

export { rejectionError };

/** The attempt must start over on a refreshed snapshot. */
class RetryPlacement extends Error {
  constructor(readonly dirtyHostIds: readonly string[]) {
    super("retry placement");
  }
}

export interface PlacementServiceOptions {
  db: Db;
  policy: () => AllocationPolicy;
  now?: () => Date;
  /** Attempts before giving up with a retryable conflict (default 20). */
  maxAttempts?: number;
  /** Snapshot cache max age in ms (default 1000); 0 rebuilds the snapshot for every placement. */
  snapshotMaxAgeMs?: number;
}

export interface PlacementStats {
  commits: number;
  /** Commits whose hosts had changed since the snapshot and were re-placed under lock. */
  replacedUnderLock: number;
  /** Attempts started over (plan no longer fitted, or an affinity group changed). */
  retries: number;
}

export class PlacementService {
  readonly cache: SnapshotCache;
  readonly stats: PlacementStats = { commits: 0, replacedUnderLock: 0, retries: 0 };

  constructor(private readonly o: PlacementServiceOptions) {
    this.cache = new SnapshotCache(o.db, { maxAgeMs: o.snapshotMaxAgeMs ?? 1000 });
  }

  private placeOn(snapshot: Parameters<typeof place>[0], request: PlacementRequest, seed: number): PlacementResult {
    return place(snapshot, request, { seed, now: this.o.now?.() ?? new Date(), policy: this.o.policy() });
  }

  /** Dry run: place on a fresh snapshot, commit nothing. */
  async dryRun(request: PlacementRequest, seed = randomInt(2 ** 31)): Promise<PlacementResult> {
    const snapshot = await buildSnapshot(this.o.db, { environment: request.environment });
    return this.placeOn(snapshot, await withMemberHosts(this.o.db, request), seed);
  }

  /** Hosts or settings changed outside placements: drop cached snapshots. */
  invalidate(): void {
    this.cache.invalidate();
  }

  /**
   * Places the request and, in one transaction, writes the caller's rows (`before`: e.g. the VM
   * rows whose ids the allocations reference) and the allocations. Returns what `before` returned.
   * Throws InsufficientCapacityError (checked against a freshly built snapshot) when nothing fits.
   */
  async placeAndCommit<T>(
    request: PlacementRequest,
    before: (tx: Tx, plan: PlacementPlan) => Promise<{ result: T; vmIds: number[] }>,
  ): Promise<{ plan: PlacementPlan; result: T }> {
    const maxAttempts = this.o.maxAttempts ?? 20;
    const env = request.environment;
    let fresh = false;
    for (let attempt = 1; ; attempt++) {
      const req = await withMemberHosts(this.o.db, request);
      const cached = await this.cache.get(env, fresh);
      const seed = randomInt(2 ** 31);
      const placed = this.placeOn(cached.snapshot, req, seed);
      if (!placed.ok) {
        // Never refuse on a cached view: confirm on a snapshot built just now.
        if (!fresh) { fresh = true; attempt--; continue; }
        throw rejectionError(placed.rejection);
      }
      fresh = false;
      const plan = placed.plan;
      const seen = new Map(plan.placements.map((p) => [p.hostId, cached.generations.get(p.hostId)]));
      try {
        const out = await this.o.db.transaction(async (tx) => {
          if (!(await lockStrictGroups(tx, req))) throw new RetryPlacement([]);
          const hostIds = [...new Set(plan.placements.map((p) => Number(p.hostId)))].sort((a, b) => a - b);
          const locked = await tx.select({ id: hosts.id, generation: hosts.generation }).from(hosts)
            .where(inArray(hosts.id, hostIds)).orderBy(hosts.id).for("update");
          const lockedGen = new Map(locked.map((h) => [String(h.id), h.generation]));
          let final = plan;
          if (locked.some((h) => seen.get(String(h.id)) !== h.generation)) {
            // Someone committed on one of these hosts since our snapshot: decide again on their
            // current state, read under our lock.
            const current = await buildSnapshot(tx, { hostIds });
            const again = this.placeOn(current, req, seed);
            if (!again.ok) throw new RetryPlacement(hostIds.map(String));
            final = again.plan;
            this.stats.replacedUnderLock++;
          }
          const written = await before(tx, final);
          await writeAllocations(tx, final, written.vmIds);
          const touched = [...new Set(final.placements.map((p) => Number(p.hostId)))];
          await tx.update(hosts).set({ generation: sql`${hosts.generation} + 1` }).where(inArray(hosts.id, touched));
          this.cache.committed(env, req, final, lockedGen);
          return { plan: final, result: written.result };
        });
        this.stats.commits++;
        return out;
      } catch (e) {
        if (!(e instanceof RetryPlacement)) throw e;
        this.stats.retries++;
        this.cache.markDirty(env, e.dirtyHostIds);
        if (attempt >= maxAttempts) {
          throw new OrbitError("conflict", `placement kept colliding with concurrent deploys (${attempt} attempts)`, { retryable: true });
        }
        // Jittered, growing back-off so that colliding deploys spread out.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
      }
    }
  }
}

async function writeAllocations(tx: Tx, plan: PlacementPlan, vmIds: readonly number[]): Promise<void> {
  const rows = plan.placements.map((p) => {
    const vmId = vmIds[p.index];
    if (vmId === undefined) throw new OrbitError("internal", `no VM row for placement ${p.index}`);
    return { p, vmId };
  });
  await tx.insert(allocations).values(rows.map(({ p, vmId }) => ({
    vmId, hostId: Number(p.hostId), vcpus: p.vcpus, memoryMib: p.memoryMib,
    numaNode: p.numaNode ?? -1, pinnedCpus: p.pinnedCpus ?? [],
  })));
  const gpuRows = rows.flatMap(({ p, vmId }) => p.gpus.map((g) => ({
    vmId, hostId: Number(p.hostId), gpuId: Number(g.gpuId), mode: g.mode,
    vgpuType: g.vgpuType ?? "", shareMilli: g.shareMilli ?? (g.mode === "share" ? 0 : 1000),
  })));
  if (gpuRows.length) await tx.insert(gpuAllocations).values(gpuRows);
}

/** Bumps a host's generation (its capacity changed outside a placement: release, new facts). */
export async function touchHost(tx: Tx | Db, hostId: number): Promise<void> {
  await tx.update(hosts).set({ generation: sql`${hosts.generation} + 1` }).where(eq(hosts.id, hostId));
}
