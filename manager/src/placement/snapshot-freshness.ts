// Snapshot freshness: a refusal is never answered from a cached view. Before the placement
// says "does not fit", it asks here for the cached snapshot brought up to date with PostgreSQL
// now. Every change to what a host can take gives it a new generation (hosts/host-generation.ts),
// so one small read of the environment's host generations tells which hosts to re-read.
import { sql } from "drizzle-orm";
import type { Db } from "../db/database.js";
import type { CachedSnapshot, SnapshotCache } from "./snapshot-cache.js";

export class SnapshotFreshness {
  /** Per environment, the full snapshot builds and host generation reads for confirming refusals. */
  private readonly freshBuilds = new Map<string, Shared<CachedSnapshot>>();
  private readonly generationReads = new Map<string, Shared<GenerationRead>>();

  /**
   * `inFlight`: the hosts with group commits in flight (host id → their commit); the cache
   * already holds those commits' placements, so PostgreSQL showing less there is no change.
   */
  constructor(private readonly db: Db, private readonly cache: SnapshotCache, private readonly inFlight: ReadonlyMap<string, unknown>) {}

  /**
   * The cached snapshot brought up to date with PostgreSQL now, to confirm a refusal. Reading the
   * environment's host generations (one small query) tells which hosts to re-read; only those
   * are. A full build when the hosts themselves changed (added, removed) or too many did.
   * Cluster settings changed by another manager are not seen here (as in the cache, until its
   * periodic rebuild); affinity members are read per attempt anyway. Before this, a refusal cost
   * a full build (~200 ms for 1,000 hosts with 15,000 VMs).
   */
  async current(env: string): Promise<CachedSnapshot> {
    const cached = await this.cache.get(env);
    const read = await sharedAfterCall(this.generationReads, env, () => this.hostGenerations(env));
    const current = read.generations;
    if (current.size !== cached.generations.size || [...current.keys()].some((id) => !cached.generations.has(id))) {
      return this.fresh(env);
    }
    // Compared with the cache as it was when the read started. Hosts with group commits in flight
    // then or now carry the generation those will write and hold their placements: more than
    // PostgreSQL shows (if a commit fails, its hosts are re-read); so do hosts this process
    // committed on during the read.
    const changed: string[] = [];
    for (const [id, g] of current) {
      const was = read.cached.get(id);
      if (g !== was && !read.busy.has(id) && !this.inFlight.has(id) && cached.generations.get(id) === was) changed.push(id);
    }
    if (changed.length === 0) return cached;
    if (changed.length > current.size / 4) return this.fresh(env);
    this.cache.markDirty(env, changed);
    return this.cache.get(env);
  }

  /**
   * A snapshot built from PostgreSQL after this call (to confirm a refusal). Callers that ask
   * while one is being built share the next one, so a burst of refusals (say, deploys into a full
   * GPU pool) costs one or two full builds instead of one each (each a read of the whole
   * environment, on the thread that places everything else).
   */
  fresh(env: string): Promise<CachedSnapshot> {
    return sharedAfterCall(this.freshBuilds, env, () => this.cache.get(env, true));
  }

  /** The environment's hosts and their generations in PostgreSQL (one row: cheap to decode). */
  private async hostGenerations(env: string): Promise<GenerationRead> {
    const cached = new Map((await this.cache.get(env)).generations);
    const busy = new Set(this.inFlight.keys());
    const res = (await this.db.execute(sql`
      select coalesce(json_agg(h.id), '[]') as ids, coalesce(json_agg(h.generation), '[]') as gens
      from hosts h join clusters c on c.id = h.cluster_id join regions r on r.id = c.region_id
      where r.name = ${env}`)) as unknown as { rows: { ids: number[] | string; gens: number[] | string }[] };
    const row = res.rows[0];
    const ids = typeof row?.ids === "string" ? JSON.parse(row.ids) as number[] : row?.ids ?? [];
    const gens = typeof row?.gens === "string" ? JSON.parse(row.gens) as number[] : row?.gens ?? [];
    return { generations: new Map(ids.map((id, i) => [String(id), gens[i]!])), cached, busy };
  }
}

interface GenerationRead {
  /** Host id → generation in PostgreSQL. */
  generations: Map<string, number>;
  /** The cache's generations, and the hosts with group commits in flight, when the read started. */
  cached: Map<string, number>;
  busy: Set<string>;
}

/** A result some callers share: the one being computed, and the one queued to start after it. */
interface Shared<T> { current?: Promise<T>; next?: Promise<T> }

/**
 * `start()`'s result for a caller that needs one begun after its call: callers that come while
 * one runs share the next, which starts when it ends. So a burst of N callers costs at most two
 * runs, and none gets a result older than its call.
 */
function sharedAfterCall<T>(slots: Map<string, Shared<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let slot = slots.get(key);
  if (slot === undefined) slots.set(key, (slot = {}));
  const s = slot;
  const run = (): Promise<T> => {
    const p: Promise<T> = start().finally(() => {
      if (s.current === p) s.current = undefined;
    });
    s.current = p;
    return p;
  };
  if (s.next !== undefined) return s.next;
  if (s.current === undefined) return run();
  const next = s.current.then(() => undefined, () => undefined).then(() => {
    if (s.next === next) s.next = undefined;
    return run();
  });
  s.next = next;
  return next;
}
