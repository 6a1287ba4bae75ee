// An environment's VM quota (Hyperstack's GET /core/environments/{id}/vm-quota): Hyperstack counts
// the IPs left in the environment's subnet; Orbit counts those too (its private network, once
// made by the environment's first VM) and what the account's limits (placement/account-limits.ts)
// and the region's stock still allow.
import { and, count, eq, isNull } from "drizzle-orm";
import type { CatalogService, Flavor } from "../catalog/catalog-service.js";
import { flavorGpuDemand } from "../catalog/flavor-stock.js";
import type { Db } from "../db/database.js";
import { accounts, ipAllocations, networks, vms } from "../db/schema.js";
import { parseCidr, vmAddressRange } from "../network/cidr.js";
import { accountUsage } from "../placement/account-limits.js";
import type { Environment, EnvironmentService } from "./environment-service.js";

export interface FlavorQuota { flavor: Flavor; availableVms: number }

export interface EnvironmentQuota {
  environment: Environment;
  /** The account's live VMs in this environment. */
  currentVms: number;
  /** How many more VMs the account may create here now: the most of any flavor (0 with none). */
  availableVms: number;
  /** Per flavor (every one not retired): the fewest of what the limits, the region's stock and the network's free addresses allow. */
  flavors: FlavorQuota[];
  /** The environment's private network ("" before its first VM made it). */
  cidr: string;
}

const roomUnder = (max: number | null, used: number, each: number): number =>
  max === null || each <= 0 ? Number.POSITIVE_INFINITY : Math.max(0, Math.floor((max - used) / each));

export class EnvironmentQuotaService {
  constructor(private readonly db: Db, private readonly environments: EnvironmentService, private readonly catalog: CatalogService) {}

  async quota(accountId: number, environmentId: number): Promise<EnvironmentQuota> {
    const environment = await this.environments.get(accountId, environmentId);
    const [[here], [limits], usage, room, [network]] = await Promise.all([
      this.db.select({ n: count() }).from(vms).where(and(eq(vms.environmentId, environmentId), eq(vms.accountId, accountId), isNull(vms.deletedAt))),
      this.db.select().from(accounts).where(eq(accounts.id, accountId)),
      accountUsage(this.db, [accountId]),
      this.catalog.flavorRoom(environment.region),
      this.db.select().from(networks).where(eq(networks.environmentId, environmentId)),
    ]);
    let freeAddresses = Number.POSITIVE_INFINITY;
    if (network) {
      const range = vmAddressRange(parseCidr(network.cidr, "cidr"));
      const [taken] = await this.db.select({ n: count() }).from(ipAllocations)
        .where(and(eq(ipAllocations.networkId, network.id), eq(ipAllocations.kind, "fixed")));
      freeAddresses = Math.max(0, range.last - range.first + 1 - Number(taken?.n ?? 0));
    }
    const used = usage.get(accountId) ?? { vms: 0, vcpus: 0, memoryMib: 0, gpus: 0 };
    const flavors = room.map(({ flavor, room: stock }) => {
      const gpus = flavorGpuDemand(flavor)?.kind === "passthrough" ? flavor.gpuCount : flavorGpuDemand(flavor) ? 1 : 0;
      const n = Math.min(
        stock ?? Number.POSITIVE_INFINITY,
        roomUnder(limits?.maxVms ?? null, used.vms, 1),
        roomUnder(limits?.maxVcpus ?? null, used.vcpus, flavor.vcpus),
        roomUnder(limits?.maxMemoryMib ?? null, used.memoryMib, flavor.memoryMib),
        roomUnder(limits?.maxGpus ?? null, used.gpus, gpus),
        freeAddresses,
      );
      // Infinite only with no fleet to measure (a catalog without one) and no limit: claim nothing.
      return { flavor, availableVms: Number.isFinite(n) ? n : 0 };
    });
    return {
      environment, currentVms: Number(here?.n ?? 0),
      availableVms: flavors.reduce((most, f) => Math.max(most, f.availableVms), 0), flavors, cidr: network?.cidr ?? "",
    };
  }
}
