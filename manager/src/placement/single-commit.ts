// The single commit: one request, one transaction. It locks the chosen hosts' rows (FOR NO KEY UPDATE,
// in id order) and compares their generation with the one the snapshot reflected. Equal: nothing
// was placed there since, the plan stands. Different: the locked hosts are re-read inside the
// transaction and the request is placed again on just those hosts (the pure core re-checks
// capacity, GPUs, affinity); only if it no longer fits there is the attempt retried on a
// refreshed snapshot, after a jittered back-off. Strict affinity groups are locked as well and
// their members re-read, so two deploys into one group cannot both miss each other. Before any of
// that, the account is locked when it has limits and the request is refused if it would pass one.
// A commit refused because a storage pool has no room for the VMs' root disks is placed again
// without that pool's cluster; when nothing else fits, the 409 names the full pools.
import { randomInt } from "node:crypto";
import { inArray } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { rejectionError } from "../allocator/index.js";
import type { FleetSnapshot, PlacementRequest } from "../allocator/types.js";
import type { Db } from "../db/database.js";
import { hosts } from "../db/schema.js";
import { generationToken } from "../hosts/host-generation.js";
import { accountDemands, checkAccountLimits } from "./account-limits.js";
import { lockStrictGroups, withMemberHosts } from "./affinity-members.js";
import { prepareRows, writeRows, type CommitRows } from "./commit-rows.js";
import { RetryPlacement, type Committed, type PlaceOn, type PlacementStats } from "./placement-types.js";
import type { SnapshotCache } from "./snapshot-cache.js";
import { buildSnapshot } from "./snapshot-builder.js";
import { storagePoolFullError, type FullPool } from "../storage/root-disks.js";
import type { SnapshotFreshness } from "./snapshot-freshness.js";

/** The commit found these pools without room for its root disks: place again elsewhere. */
class PoolsFull extends Error {
  constructor(readonly pools: readonly FullPool[]) {
    super("storage pools full");
  }
}

/** The snapshot without the hosts of clusters whose pool has no room for the request's root disks. */
function withoutClusters(snapshot: FleetSnapshot, full: ReadonlyMap<number, FullPool>): FleetSnapshot {
  if (full.size === 0) return snapshot;
  const clusters = new Set([...full.values()].map((p) => String(p.clusterId)));
  return { ...snapshot, hosts: snapshot.hosts.filter((h) => !clusters.has(h.cluster)) };
}

export interface SingleCommitOptions {
  db: Db;
  cache: SnapshotCache;
  freshness: SnapshotFreshness;
  stats: PlacementStats;
  placeOn: PlaceOn;
  /** Attempts before giving up with a retryable conflict (default 20). */
  maxAttempts?: number;
  /** false: build a fresh snapshot for every placement (the benchmark's baseline). */
  cacheSnapshots?: boolean;
}

/**
 * Places one request and commits it in its own transaction (with re-placement under lock and
 * bounded retries). `refusedOnCache`: it did not fit on the cached snapshot already, so the first
 * attempt confirms on a current one.
 */
export async function placeAndCommitAlone(o: SingleCommitOptions, request: PlacementRequest, rows: CommitRows, refusedOnCache = false): Promise<Committed> {
  const maxAttempts = o.maxAttempts ?? 20;
  const env = request.environment;
  let fresh = refusedOnCache && (request.affinityGroups ?? []).length === 0;
  // Pools a commit found full (by id), their clusters left out from then on.
  const fullPools = new Map<number, FullPool>();
  for (let attempt = 1; ; attempt++) {
    const req = await withMemberHosts(o.db, request);
    const cached = o.cacheSnapshots === false ? await o.cache.get(env, true)
      : fresh ? await o.freshness.current(env) : await o.cache.get(env);
    const seed = randomInt(2 ** 31);
    const placed = o.placeOn(withoutClusters(cached.snapshot, fullPools), req, seed);
    if (!placed.ok) {
      // Never refuse on a cached view: confirm on a snapshot brought up to date just now.
      if (!fresh && o.cacheSnapshots !== false) { fresh = true; attempt--; continue; }
      // It fitted, but only where the root disks had no room: that is the reason to give.
      if (fullPools.size > 0) throw storagePoolFullError([...fullPools.values()]);
      throw rejectionError(placed.rejection);
    }
    fresh = false;
    const plan = placed.plan;
    const seen = new Map(plan.placements.map((p) => [p.hostId, cached.generations.get(p.hostId)]));
    try {
      const out = await o.db.transaction(async (tx) => {
        // Accounts first, then groups, then hosts: every commit takes these locks in that order.
        const breach = await checkAccountLimits(tx, accountDemands([prepareRows(rows, plan)]));
        if (breach) throw breach;
        if (!(await lockStrictGroups(tx, req))) throw new RetryPlacement([]);
        const hostIds = [...new Set(plan.placements.map((p) => Number(p.hostId)))].sort((a, b) => a - b);
        const locked = await tx.select({ id: hosts.id, generation: hosts.generation }).from(hosts)
          .where(inArray(hosts.id, hostIds)).orderBy(hosts.id).for("no key update");
        const lockedGen = new Map(locked.map((h) => [String(h.id), h.generation]));
        let final = plan;
        if (locked.some((h) => seen.get(String(h.id)) !== h.generation)) {
          // Someone committed on one of these hosts since our snapshot: decide again on their
          // current state under our lock: the cache's copy when it is at exactly the locked
          // generations (commits of this process), else read from PostgreSQL.
          const current = o.cache.hostsAt(env, lockedGen) ?? await buildSnapshot(tx, { hostIds });
          const again = o.placeOn(withoutClusters(current, fullPools), req, seed);
          if (!again.ok) throw new RetryPlacement(hostIds.map(String));
          final = again.plan;
          o.stats.replacedUnderLock++;
        }
        const touched = [...new Set(final.placements.map((p) => p.hostId))];
        const token = generationToken();
        // The hosts are locked already: the statement's own check cannot fail.
        const outcome = await writeRows(tx, {
          hosts: touched.map((id) => ({ id: Number(id), generation: lockedGen.get(id) })),
          token,
          requests: [prepareRows(rows, final)],
        });
        if ("refused" in outcome && outcome.refused === "storage-pool") throw new PoolsFull(outcome.pools);
        const created = "written" in outcome ? outcome.written[0] : undefined;
        if (created === undefined) throw new OrbitError("internal", "placement commit found its locked hosts changed");
        await rows.after?.(tx, created);
        o.cache.committed(env, req, final, lockedGen, token);
        return { plan: final, vms: created };
      });
      o.stats.commits++;
      o.cache.landedOn(env, out.plan.placements.map((p) => p.hostId));
      return out;
    } catch (e) {
      if (e instanceof PoolsFull) {
        for (const p of e.pools) fullPools.set(p.id, p);
        if (attempt >= maxAttempts) throw storagePoolFullError([...fullPools.values()]);
        continue;
      }
      if (!(e instanceof RetryPlacement)) throw e;
      o.stats.retries++;
      o.cache.markDirty(env, e.dirtyHostIds);
      if (attempt >= maxAttempts) {
        throw new OrbitError("conflict", `placement kept colliding with concurrent deploys (${attempt} attempts)`, { retryable: true });
      }
      // Jittered, growing back-off so that colliding deploys spread out.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
    }
  }
}
