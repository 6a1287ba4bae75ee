// Environment networks: each environment has one private network, created with its first VM (a
// free block of the supernet setting) or set by the admin. Within a region no two networks
// overlap, and no two floating pools overlap anywhere; both checks run under a lock on the
// region row (floating pools: on every region's, in id order), so concurrent changes cannot both pass.
import { asc, count, eq, ne } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { environments, ipAllocations, networks, regions } from "../db/schema.js";
import { firstFreeBlock, gatewayOf, overlaps, parseCidr } from "./cidr.js";
import type { NetworkDefaults } from "./network-settings.js";

export type Network = typeof networks.$inferSelect;

export interface NetworkChange {
  cidr?: string | undefined;
  /** null removes the pool. */
  floating_ip_pool?: string | null | undefined;
}

export interface NetworkUsage { network: Network; environmentName: string; fixedInUse: number; floatingInUse: number }

/** The host bridge of a network (Linux allows 15 characters: "orb-" + up to 11 digits). */
export function bridgeName(networkId: number): string {
  return `orb-${networkId}`;
}

export class NetworkService {
  /** defaults: the network settings as they resolve for an environment and its account. */
  constructor(private readonly db: Db, private readonly defaults: (ctx: { environmentId: number; accountId: number }) => NetworkDefaults) {}

  /** The environment's network, created now (a free block of the supernet) when it has none. */
  async forEnvironment(env: { id: number; regionId: number; name: string }): Promise<Network> {
    const [existing] = await this.db.select().from(networks).where(eq(networks.environmentId, env.id));
    if (existing) return existing;
    return this.db.transaction(async (tx) => {
      await lockRegions(tx, [env.regionId]);
      const [again] = await tx.select().from(networks).where(eq(networks.environmentId, env.id));
      if (again) return again;
      const [owner] = await tx.select({ accountId: environments.accountId }).from(environments).where(eq(environments.id, env.id));
      const d = this.defaults({ environmentId: env.id, accountId: owner!.accountId });
      const supernet = parseCidr(d.supernet, "network.private.supernet");
      const taken = (await tx.select({ cidr: networks.cidr }).from(networks).where(eq(networks.regionId, env.regionId)))
        .map((n) => parseCidr(n.cidr, "cidr"));
      const block = firstFreeBlock(supernet, Math.max(d.prefix, supernet.prefix), taken);
      if (!block) {
        throw new ConflictError(`environment "${env.name}" needs a private network but the supernet ${supernet.text} has no free /${d.prefix} left in its region: an admin sets one with PUT /v1/admin/environments/${env.id}/network`);
      }
      const [row] = await tx.insert(networks).values({
        environmentId: env.id, regionId: env.regionId, cidr: block.text, gateway: gatewayOf(block), nameservers: d.nameservers,
      }).returning();
      return row!;
    });
  }

  /** Admin: an environment's network with what is in use (created now when it has none). */
  async get(environmentId: number): Promise<NetworkUsage> {
    const env = await this.environment(environmentId);
    const network = await this.forEnvironment(env);
    return this.usage(this.db, network, env.name);
  }

  /**
   * Admin: sets the CIDR and/or the floating pool. Refused (nothing changed): a CIDR overlapping
   * another network of the region, a pool overlapping another pool or a private network, and
   * changing either while addresses of it are given out.
   */
  async set(environmentId: number, change: NetworkChange): Promise<NetworkUsage> {
    const env = await this.environment(environmentId);
    const cidr = change.cidr === undefined ? undefined : parseCidr(change.cidr, "cidr");
    if (cidr && cidr.prefix > 29) throw new InvalidArgumentError("cidr", `cidr ${cidr.text} is too small: a network needs at least a /29`);
    const pool = change.floating_ip_pool == null ? change.floating_ip_pool : parseCidr(change.floating_ip_pool, "floating_ip_pool");
    await this.forEnvironment(env);
    return this.db.transaction(async (tx) => {
      const allRegions = pool ? (await tx.select({ id: regions.id }).from(regions)).map((r) => r.id) : [env.regionId];
      await lockRegions(tx, allRegions);
      const [current] = await tx.select().from(networks).where(eq(networks.environmentId, env.id));
      const others = await tx.select({ id: networks.id, cidr: networks.cidr, floatingCidr: networks.floatingCidr, regionId: networks.regionId, env: environments.name })
        .from(networks).innerJoin(environments, eq(environments.id, networks.environmentId)).where(ne(networks.id, current!.id))
        // Oldest first: a refusal names the same clash on every database.
        .orderBy(asc(networks.id));
      const inUse = await this.usage(tx, current!, env.name);
      const update: Partial<Network> = {};
      if (cidr && cidr.text !== current!.cidr) {
        if (inUse.fixedInUse > 0) {
          throw new ConflictError(`environment "${env.name}" network ${current!.cidr} has ${inUse.fixedInUse} address(es) given to VMs: its CIDR cannot change until they are deleted`,
            undefined, { field: "cidr", in_use: inUse.fixedInUse });
        }
        const clash = others.find((o) => o.regionId === env.regionId && overlaps(parseCidr(o.cidr, "cidr"), cidr));
        if (clash) {
          throw new ConflictError(`cidr ${cidr.text} overlaps network ${clash.cidr} of environment "${clash.env}" in the same region`,
            undefined, { field: "cidr", overlaps: clash.cidr, network_id: clash.id });
        }
        const ownPool = pool === undefined ? current!.floatingCidr : pool?.text;
        if (ownPool && overlaps(parseCidr(ownPool, "floating_ip_pool"), cidr)) {
          throw new ConflictError(`cidr ${cidr.text} overlaps the environment's floating IP pool ${ownPool}`, undefined, { field: "cidr", overlaps: ownPool });
        }
        Object.assign(update, { cidr: cidr.text, gateway: gatewayOf(cidr) });
      }
      if (pool !== undefined && (pool?.text ?? null) !== current!.floatingCidr) {
        if (inUse.floatingInUse > 0) {
          throw new ConflictError(`environment "${env.name}" has ${inUse.floatingInUse} floating IP(s) attached: its pool cannot change until they are detached`,
            undefined, { field: "floating_ip_pool", in_use: inUse.floatingInUse });
        }
        if (pool) {
          const privateCidr = parseCidr(update.cidr ?? current!.cidr, "cidr");
          if (overlaps(pool, privateCidr)) {
            throw new ConflictError(`floating_ip_pool ${pool.text} overlaps the environment's private network ${privateCidr.text}`, undefined, { field: "floating_ip_pool", overlaps: privateCidr.text });
          }
          const clash = others.find((o) => o.floatingCidr && overlaps(parseCidr(o.floatingCidr, "floating_ip_pool"), pool));
          if (clash) {
            throw new ConflictError(`floating_ip_pool ${pool.text} overlaps the floating IP pool ${clash.floatingCidr} of environment "${clash.env}"`,
              undefined, { field: "floating_ip_pool", overlaps: clash.floatingCidr, network_id: clash.id });
          }
        }
        update.floatingCidr = pool?.text ?? null;
      }
      if (Object.keys(update).length === 0) return inUse;
      const [row] = await tx.update(networks).set({ ...update, updatedAt: new Date() }).where(eq(networks.id, current!.id)).returning();
      return { ...inUse, network: row! };
    });
  }

  private async environment(id: number): Promise<{ id: number; regionId: number; name: string }> {
    const [env] = await this.db.select({ id: environments.id, regionId: environments.regionId, name: environments.name })
      .from(environments).where(eq(environments.id, id));
    if (!env) throw new NotFoundError("environment", id);
    return env;
  }

  private async usage(db: Db | Tx, network: Network, environmentName: string): Promise<NetworkUsage> {
    const rows = await db.select({ kind: ipAllocations.kind, n: count() }).from(ipAllocations)
      .where(eq(ipAllocations.networkId, network.id)).groupBy(ipAllocations.kind);
    const n = (k: string) => Number(rows.find((r) => r.kind === k)?.n ?? 0);
    return { network, environmentName, fixedInUse: n("fixed"), floatingInUse: n("floating") };
  }
}

/** Locks region rows in id order (the order every network change takes them in). */
async function lockRegions(tx: Tx, ids: readonly number[]): Promise<void> {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  for (const id of sorted) await tx.select({ id: regions.id }).from(regions).where(eq(regions.id, id)).for("update");
}

