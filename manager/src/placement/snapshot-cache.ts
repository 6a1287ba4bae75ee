// An in-memory fleet snapshot per environment, so a placement does not re-read the whole fleet
// from PostgreSQL. It is a hint, never the truth: the commit step locks the chosen hosts and
// compares their generation with the one recorded here, re-reading them when they differ.
//
// Kept current by: this process's own placements (applied to the snapshot as they are decided,
// group commits even before they commit, each touched host marked with the generation token its
// commit writes); hosts a commit found changed or failed to write (re-read from PostgreSQL on
// next use, only those); `invalidate` (admin changes); and a maximum age, rebuilt in the
// background (changes made elsewhere: releases, other managers, agents' state changes).
import { applyPlan } from "../allocator/index.js";
import type { FleetSnapshot, HostSnapshot, PlacementPlan, PlacementRequest } from "../allocator/types.js";
import type { Db } from "../db/database.js";
import { buildSnapshot } from "./snapshot-builder.js";

export interface CachedSnapshot {
  snapshot: FleetSnapshot;
  /** Each host's generation as this snapshot reflects it (host id → generation). */
  generations: ReadonlyMap<string, number>;
  builtAt: number;
}

interface Entry extends CachedSnapshot {
  generations: Map<string, number>;
  /** Host ids to re-read before the next use. */
  dirty: Set<string>;
  /** Checked against this process's commits that landed while it was being built. */
  reconciled?: boolean;
}

export interface SnapshotCacheOptions {
  /** Rebuild an environment's snapshot from scratch (in the background) when older than this (ms). */
  maxAgeMs?: number;
  now?: () => number;
  /** Reads a snapshot from PostgreSQL (tests replace it to order concurrent builds). */
  build?: typeof buildSnapshot;
  /** Told when a background rebuild failed (the cached entry stays; the next get() tries again). */
  onBackgroundError?: (e: unknown) => void;
}

export class SnapshotCache {
  private readonly entries = new Map<string, Entry>();
  private readonly building = new Map<string, Promise<Entry>>();
  /** Per environment, hosts with adopted group commits still in flight (host id → how many). */
  private readonly pending = new Map<string, Map<string, number>>();
  /** Per environment, when this process's last commit on each host landed (host id → time). */
  private readonly landed = new Map<string, Map<string, number>>();
  /** Bumped by invalidate(): a build started before it is not stored. */
  private epoch = 0;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly build: typeof buildSnapshot;
  private readonly onBackgroundError: (e: unknown) => void;

  constructor(private readonly db: Db, o: SnapshotCacheOptions = {}) {
    this.maxAgeMs = o.maxAgeMs ?? 5000;
    this.now = o.now ?? Date.now;
    this.build = o.build ?? buildSnapshot;
    this.onBackgroundError = o.onBackgroundError ?? (() => undefined);
  }

  /**
   * The environment's snapshot. `fresh` waits for a full rebuild (e.g. before answering "no
   * capacity"); an entry past its age is served as it is while a rebuild runs in the background
   * (the commit re-checks, so a stale hint costs at most a re-placement under lock).
   */
  async get(environment: string, fresh = false): Promise<CachedSnapshot> {
    let e = this.entries.get(environment);
    if (fresh || e === undefined) e = await this.rebuild(environment, fresh);
    else if (this.now() - e.builtAt > this.maxAgeMs && !this.building.has(environment)) {
      this.rebuild(environment, false).catch((e: unknown) => this.onBackgroundError(e)); // the next get() tries again
    }
    this.reconcile(environment, e);
    if (e.dirty.size > 0) {
      await this.refreshDirty(environment, e);
      e = this.entries.get(environment) ?? e;
    }
    return e;
  }

  /**
   * The cached hosts with these ids, if the cache reflects exactly the given generations (read
   * under lock): the commit step can then re-place on them without reading PostgreSQL.
   */
  hostsAt(environment: string, generations: ReadonlyMap<string, number>): FleetSnapshot | undefined {
    const e = this.entries.get(environment);
    if (e === undefined) return undefined;
    for (const [id, g] of generations) if (e.dirty.has(id) || e.generations.get(id) !== g) return undefined;
    const hosts = e.snapshot.hosts.filter((h) => generations.has(h.id));
    if (hosts.length !== generations.size) return undefined;
    return { ...e.snapshot, hosts };
  }

  private rebuild(environment: string, fresh: boolean): Promise<Entry> {
    const pending = this.building.get(environment);
    // Concurrent callers share one build (a forced one must start after the caller's request).
    if (pending && !fresh) return pending;
    const epoch = this.epoch;
    const startedAt = this.now();
    const p = this.build(this.db, { environment }).then((fresh) => {
      // Builds overlap (a forced one during a background one) and may end out of order. One that
      // started before the stored entry's must not replace it: that entry's reconcile has already
      // dropped the record of this process's commits the older read may have missed.
      const newer = this.entries.get(environment);
      if (epoch === this.epoch && newer !== undefined && newer.builtAt > startedAt) return newer;
      let snapshot = fresh;
      const generations = generationsOf(fresh.hosts);
      // Hosts with group commits in flight keep their cached state (which holds those commits,
      // the fresh read may not): else every batch placed on them would have to be redone.
      const old = this.entries.get(environment);
      const busy = this.pending.get(environment);
      if (old !== undefined && busy !== undefined && busy.size > 0) {
        const oldById = new Map(old.snapshot.hosts.map((h) => [h.id, h]));
        snapshot = {
          ...fresh,
          hosts: fresh.hosts.map((h) => {
            const kept = busy.has(h.id) ? oldById.get(h.id) : undefined;
            if (kept === undefined) return h;
            generations.set(h.id, old.generations.get(h.id)!);
            return kept;
          }),
        };
      }
      const entry: Entry = { snapshot, generations, builtAt: startedAt, dirty: new Set() };
      if (epoch === this.epoch) this.entries.set(environment, entry);
      return entry;
    }).finally(() => {
      if (this.building.get(environment) === p) this.building.delete(environment);
    });
    this.building.set(environment, p);
    return p;
  }

  /** Re-reads only the hosts marked dirty and splices them into a new snapshot. */
  private async refreshDirty(environment: string, e: Entry): Promise<void> {
    const ids = [...e.dirty];
    e.dirty.clear();
    const fresh = await this.build(this.db, { environment, hostIds: ids.map(Number) });
    if (this.entries.get(environment) !== e) return;
    const byId = new Map(fresh.hosts.map((h) => [h.id, h]));
    const hosts = e.snapshot.hosts.map((h) => byId.get(h.id) ?? h);
    const known = new Set(e.snapshot.hosts.map((h) => h.id));
    for (const h of fresh.hosts) if (!known.has(h.id)) hosts.push(h);
    const clusters = new Map((e.snapshot.clusters ?? []).map((c) => [c.id, c]));
    for (const c of fresh.clusters ?? []) clusters.set(c.id, c);
    const gpuWorkload = fresh.gpuWorkload ?? e.snapshot.gpuWorkload;
    e.snapshot = { hosts, clusters: [...clusters.values()], ...(gpuWorkload ? { gpuWorkload } : {}) };
    for (const h of fresh.hosts) e.generations.set(h.id, h.generation ?? 0);
  }

  /**
   * Called by the commit step after writing a plan while it still holds the hosts' locks.
   * `lockedGenerations` are the generations read under lock, `token` the one the commit wrote.
   */
  committed(environment: string, request: PlacementRequest, plan: PlacementPlan, lockedGenerations: ReadonlyMap<string, number>, token: number): void {
    const e = this.entries.get(environment);
    if (e === undefined) return;
    const hostIds = [...new Set(plan.placements.map((p) => p.hostId))];
    const current = hostIds.every((id) => e.generations.has(id) && e.generations.get(id) === lockedGenerations.get(id));
    if (!current) {
      this.markDirty(environment, hostIds);
      return;
    }
    try {
      e.snapshot = applyPlan(e.snapshot, request, plan);
      for (const id of hostIds) e.generations.set(id, token);
    } catch {
      // The plan does not apply to the cached copy (it differs from what was locked): re-read those hosts.
      this.markDirty(environment, hostIds);
    }
  }

  /**
   * A batch placed on `base` became `working`: cache it now, its hosts at the generation `token`
   * its commit will write (a failed commit marks them dirty). False when `base` is no longer the
   * cached snapshot (rebuilt meanwhile): the caller then commits its requests one by one.
   */
  adopt(environment: string, base: FleetSnapshot, working: FleetSnapshot, hostIds: readonly string[], token: number): boolean {
    const e = this.entries.get(environment);
    if (e === undefined || e.snapshot !== base) return false;
    e.snapshot = working;
    for (const id of hostIds) e.generations.set(id, token);
    let busy = this.pending.get(environment);
    if (busy === undefined) this.pending.set(environment, (busy = new Map()));
    for (const id of hostIds) busy.set(id, (busy.get(id) ?? 0) + 1);
    return true;
  }

  /** The commit of a batch `adopt`ed on these hosts finished (committed or not). */
  settled(environment: string, hostIds: readonly string[]): void {
    const busy = this.pending.get(environment);
    if (busy === undefined) return;
    for (const id of hostIds) {
      const n = (busy.get(id) ?? 1) - 1;
      if (n <= 0) busy.delete(id);
      else busy.set(id, n);
    }
  }

  /** This process's commits on these hosts have landed in PostgreSQL (call once the transaction committed). */
  landedOn(environment: string, hostIds: readonly string[]): void {
    let m = this.landed.get(environment);
    if (m === undefined) this.landed.set(environment, (m = new Map()));
    const now = this.now();
    for (const id of hostIds) m.set(id, now);
  }

  /**
   * A full build may have read a host before one of this process's commits on it landed (it keeps
   * its own copy only of hosts whose commits were still in flight when it ended): every batch then
   * placed on that stale host would fail its generation check and be redone. So the first use of a
   * build re-reads the hosts whose commits landed after it started.
   */
  private reconcile(environment: string, e: Entry): void {
    if (e.reconciled) return;
    e.reconciled = true;
    const landed = this.landed.get(environment);
    if (landed === undefined) return;
    const busy = this.pending.get(environment);
    for (const [id, at] of landed) {
      if (at < e.builtAt) landed.delete(id);
      else if (!busy?.has(id)) e.dirty.add(id);
    }
  }

  markDirty(environment: string, hostIds: readonly string[]): void {
    const e = this.entries.get(environment);
    if (e === undefined) return;
    for (const id of hostIds) e.dirty.add(id);
  }

  /** Drops every cached snapshot (hosts added, resource state or cluster settings changed). */
  invalidate(): void {
    this.epoch++;
    this.entries.clear();
  }
}

function generationsOf(hosts: readonly HostSnapshot[]): Map<string, number> {
  return new Map(hosts.map((h) => [h.id, h.generation ?? 0]));
}
