// The impure half of placement: snapshot (cached) → pure allocator → commit in PostgreSQL.
// This file only puts the parts together:
//   - snapshot-cache.ts: the cached snapshot per environment;
//   - snapshot-freshness.ts: a refusal is confirmed on the cache brought up to date first;
//   - group-commit.ts: concurrent requests share one transaction (the default path);
//   - single-commit.ts: one request, one transaction, re-placed under lock when its hosts changed;
//   - commit-rows.ts: the statement both commits write.
// No host is ever allocated beyond what a check made under its lock saw as free.
import { randomInt } from "node:crypto";
import type { Logger } from "pino";
import { place, rejectionError } from "../allocator/index.js";
import type { AllocationPolicy } from "../allocator/policy-types.js";
import type { PlacementRequest, PlacementResult } from "../allocator/types.js";
import type { Db } from "../db/database.js";
import { withMemberHosts } from "./affinity-members.js";
import type { CommitRows } from "./commit-rows.js";
import { GroupCommit } from "./group-commit.js";
import type { Committed, PlaceOn, PlacementStats } from "./placement-types.js";
import { placeAndCommitAlone, type SingleCommitOptions } from "./single-commit.js";
import { SnapshotCache } from "./snapshot-cache.js";
import { buildSnapshot } from "./snapshot-builder.js";
import { SnapshotFreshness } from "./snapshot-freshness.js";

export { rejectionError };
export type { CommitRows, CreatedVm, NewVm } from "./commit-rows.js";
export type { Committed, PlacementStats } from "./placement-types.js";

export interface PlacementServiceOptions {
  db: Db;
  policy: () => AllocationPolicy;
  now?: () => Date;
  /** Attempts before giving up with a retryable conflict (default 20). */
  maxAttempts?: number;
  /** Snapshot cache max age in ms (default 5000); older snapshots are rebuilt in the background. */
  snapshotMaxAgeMs?: number;
  /** false: build a fresh snapshot for every placement (the benchmark's baseline). */
  cacheSnapshots?: boolean;
  /** false: every request in its own transaction (default: concurrent requests share one). */
  groupCommit?: boolean;
  /** Most requests in one group commit (default 32). */
  maxBatch?: number;
  /** Group commits in flight at once, each on its own connection (default 4). */
  maxBatchesInFlight?: number;
  /** Where errors the placement absorbs are logged (a background snapshot rebuild, a group commit redone). */
  log?: Logger;
  /** Told about those errors first; returns true when it logs a database outage itself. */
  onDatabaseUnavailable?: (e: unknown) => boolean;
  /** Told about every placeAndCommit: VMs placed, or the error (rejections carry the allocator's refusal codes). */
  metrics?: { placed(vms: number, seconds: number): void; placementRefused(err: unknown, seconds: number): void };
}

export class PlacementService {
  readonly cache: SnapshotCache;
  readonly stats: PlacementStats = { commits: 0, batches: 0, batchesRedone: 0, replacedUnderLock: 0, retries: 0 };
  private readonly group: GroupCommit;
  private readonly single: SingleCommitOptions;

  constructor(private readonly o: PlacementServiceOptions) {
    const report = (e: unknown, msg: string): void => {
      if (!o.onDatabaseUnavailable?.(e)) o.log?.warn({ err: e }, msg);
    };
    this.cache = new SnapshotCache(o.db, {
      ...(o.snapshotMaxAgeMs !== undefined && { maxAgeMs: o.snapshotMaxAgeMs }),
      onBackgroundError: (e) => report(e, "placement: a background snapshot rebuild failed; the next placement tries again"),
    });
    const placeOn: PlaceOn = (snapshot, request, seed) => this.placeOn(snapshot, request, seed);
    this.group = new GroupCommit({
      db: o.db, cache: this.cache, stats: this.stats, policy: o.policy,
      ...(o.now && { now: o.now }),
      ...(o.maxBatch !== undefined && { maxBatch: o.maxBatch }),
      ...(o.maxBatchesInFlight !== undefined && { maxBatchesInFlight: o.maxBatchesInFlight }),
      alone: (request, rows, refused) => this.placeAndCommitAlone(request, rows, refused),
      report,
    });
    this.single = {
      db: o.db, cache: this.cache, stats: this.stats, placeOn,
      freshness: new SnapshotFreshness(o.db, this.cache, this.group.inFlightByHost),
      ...(o.maxAttempts !== undefined && { maxAttempts: o.maxAttempts }),
      ...(o.cacheSnapshots !== undefined && { cacheSnapshots: o.cacheSnapshots }),
    };
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
   * Places the request and, in one transaction, writes its VM rows (`rows.vm`, one per placement),
   * their jobs, the allocations and the hosts' new generation; concurrent requests share that
   * transaction (one statement), each all-or-nothing. Answers the plan and the VMs created.
   * Throws InsufficientCapacityError (checked against a freshly built snapshot) when nothing fits.
   */
  async placeAndCommit(request: PlacementRequest, rows: CommitRows): Promise<Committed> {
    const started = performance.now();
    try {
      const committed = this.o.groupCommit === false ? await this.placeAndCommitAlone(request, rows) : await this.group.submit(request, rows);
      this.o.metrics?.placed(committed.vms.length, (performance.now() - started) / 1000);
      return committed;
    } catch (e) {
      this.o.metrics?.placementRefused(e, (performance.now() - started) / 1000);
      throw e;
    }
  }

  /** One request, one transaction (with re-placement under lock and bounded retries). */
  placeAndCommitAlone(request: PlacementRequest, rows: CommitRows, refusedOnCache = false): Promise<Committed> {
    return placeAndCommitAlone(this.single, request, rows, refusedOnCache);
  }
}
