// Hosts as the manager keeps them: registration from agent facts, authentication of agent
// streams, the Up / Suspect writes host liveness decides (hosts/host-liveness.ts), and each host's
// capacity and what is allocated on it (presented by api/admin/host.presenter.ts).
import { and, eq, inArray, isNull, ne, notInArray, sql } from "drizzle-orm";
import { NotFoundError, UnauthenticatedError } from "#shared/errors.js";
import { removedHostMessage } from "../security/host-certificate-service.js";
import type { HostFacts } from "#shared/protocol.js";
import { newSecret, safeEqual, sha256 } from "#shared/secrets.js";
import type { Db, Tx } from "../db/database.js";
import {
  allocations, clusters, gpuAllocations, gpus, hosts, regions, unmanagedDomains,
  type HostProbeEvidenceJson, type HostResourceState, type HostState, type NumaCellJson, type VgpuTypeJson,
} from "../db/schema.js";
import { generationToken } from "./host-generation.js";
import { validateHostFacts } from "./host-facts.validation.js";
import { seedLocalPool } from "../storage/storage-pool-service.js";

export interface RegisteredHost { id: number; uuid: string; secret: string }

/** Steps that share the registration's transaction: throwing from either refuses it, atomically. */
export interface RegistrationHooks {
  /** Runs first (e.g. consumes a one-time token); the host row does not exist yet or is the old one. */
  authorize?(tx: Tx, hostUuid: string): Promise<void>;
  /** Runs last, with the host's row id (e.g. records the certificate issued to it). */
  registered?(tx: Tx, host: { id: number; uuid: string }): Promise<void>;
}

export class HostService {
  /** memoryReserveMib: host.memory.reserve.mib for a host (and its cluster): host > cluster > global. */
  constructor(private readonly db: Db, private readonly memoryReserveMib: (ctx: { hostId?: number; clusterId: number }) => number) {}

  /**
   * Writes each host's memory reserve as the setting now resolves for it (after a change at any
   * scope), with a new generation where it changed so cached snapshots re-read the host.
   * Idempotent: every manager may run it for the same change. Returns how many hosts changed.
   */
  async refreshMemoryReserve(): Promise<number> {
    const rows = await this.db.select({ id: hosts.id, clusterId: hosts.clusterId, reserve: hosts.memoryReserveMib }).from(hosts);
    let changed = 0;
    for (const h of rows) {
      const want = this.memoryReserveMib({ hostId: h.id, clusterId: h.clusterId });
      if (want === h.reserve) continue;
      await this.db.update(hosts).set({ memoryReserveMib: want, generation: generationToken() }).where(eq(hosts.id, h.id));
      changed++;
    }
    return changed;
  }

  /** The cluster's id in the region named (the agent's `environment` setting), both created on first use. */
  async ensureCluster(region: string, cluster: string): Promise<number> {
    await this.db.insert(regions).values({ name: region }).onConflictDoNothing();
    const [r] = await this.db.select().from(regions).where(eq(regions.name, region));
    const [created] = await this.db.insert(clusters).values({ name: cluster, regionId: r!.id }).onConflictDoNothing().returning({ id: clusters.id });
    // A new cluster gets a local storage pool, so volumes work before storage is configured.
    if (created) await seedLocalPool(this.db, created.id, region, cluster);
    const [cl] = await this.db.select().from(clusters)
      .where(and(eq(clusters.name, cluster), eq(clusters.regionId, r!.id)));
    return cl!.id;
  }

  /** Creates or refreshes a host from its facts; returns a new secret for its streams. */
  async register(rawFacts: HostFacts | undefined, hooks: RegistrationHooks = {}): Promise<RegisteredHost> {
    const f = validateHostFacts(rawFacts);
    const clusterId = await this.ensureCluster(f.environment, f.cluster);
    const [known] = await this.db.select({ id: hosts.id }).from(hosts).where(eq(hosts.uuid, f.hostUuid.toLowerCase()));
    const secret = newSecret("hs_");
    const row = {
      uuid: f.hostUuid.toLowerCase(),
      name: f.hostname,
      clusterId,
      hypervisor: f.hypervisor,
      driver: f.driver,
      cpuModel: f.cpuModel,
      cpuArch: f.cpuArch,
      sockets: f.sockets,
      coresPerSocket: f.coresPerSocket,
      threadsPerCore: f.threadsPerCore,
      cpus: f.cpus,
      cpuMhz: f.cpuMhz,
      memoryMib: f.memoryMib,
      memoryReserveMib: this.memoryReserveMib({ clusterId, ...(known ? { hostId: known.id } : {}) }),
      numaCells: f.numaCells.map((c) => ({ id: c.id, cpus: c.cpus, memoryMib: c.memoryMib })),
      tags: f.hostTags,
      agentVersion: f.agentVersion,
      hypervisorVersion: f.hypervisorVersion,
      migrationUri: f.migrationUri,
      clusterAddress: f.clusterAddress,
      discoveryWarnings: f.discoveryWarnings,
      storageHeartbeatDir: f.storageHeartbeatDir ?? "",
      secretHash: sha256(secret),
      // A removed host joining again with a new join token is back (resource state as it was left).
      removedAt: null,
      // New facts (memory, GPUs) change what the host can take: cached snapshots must re-read it.
      generation: generationToken(),
    };
    return this.db.transaction(async (tx) => {
      await hooks.authorize?.(tx, row.uuid);
      const [host] = await tx.insert(hosts).values(row)
        .onConflictDoUpdate({ target: hosts.uuid, set: { ...row, updatedAt: new Date() } })
        .returning({ id: hosts.id, uuid: hosts.uuid });
      const hostId = host!.id;
      for (const g of f.gpus) {
        const values = {
          hostId, pciAddress: g.pciAddress, uuid: g.uuid, model: g.model, memoryMib: g.memoryMib,
          numaNode: g.numaNode, nvlinkPeers: g.nvlinkPeers, migEnabled: g.migEnabled,
          virtualizationMode: g.virtualizationMode, driverVersion: g.driverVersion, present: true,
          vgpuTypes: g.vgpuTypes.map((t) => ({
            typeId: t.typeId, name: t.name, availableInstances: t.availableInstances,
            maxInstances: t.maxInstances, framebufferMib: t.framebufferMib,
          })),
        };
        await tx.insert(gpus).values(values).onConflictDoUpdate({ target: [gpus.hostId, gpus.pciAddress], set: values });
      }
      // A GPU that vanished keeps its row (allocations may point at it) but is not placeable.
      const present = f.gpus.map((g) => g.pciAddress);
      await tx.update(gpus).set({ present: false }).where(and(
        eq(gpus.hostId, hostId),
        present.length ? notInArray(gpus.pciAddress, present) : sql`true`,
      ));
      await hooks.registered?.(tx, { id: hostId, uuid: host!.uuid });
      return { id: hostId, uuid: host!.uuid, secret };
    });
  }

  /** The host a stream speaks for, if its secret matches. */
  async authenticate(hostUuid: string, secret: string): Promise<{ id: number; uuid: string; name: string }> {
    if (!/^[0-9a-f-]{36}$/i.test(hostUuid) || !secret) throw new UnauthenticatedError("unknown host or bad host secret");
    const [h] = await this.db.select({ id: hosts.id, uuid: hosts.uuid, name: hosts.name, secretHash: hosts.secretHash, removedAt: hosts.removedAt })
      .from(hosts).where(eq(hosts.uuid, hostUuid.toLowerCase()));
    if (h?.removedAt) throw new UnauthenticatedError(removedHostMessage(h.uuid));
    if (!h || !safeEqual(h.secretHash, sha256(secret))) throw new UnauthenticatedError("unknown host or bad host secret");
    return { id: h.id, uuid: h.uuid, name: h.name };
  }

  /**
   * The host was heard from (its stream opened, or a heartbeat at `heartbeatAt`): Up. Called by
   * host liveness only (hosts/host-liveness.ts), which owns every Up / Suspect marking. A host
   * that reports again is Up from any state (Suspect, Alert, Down): its stale copies are destroyed
   * first (ha/stale-copies.ts, before the reconciler sees the heartbeat).
   */
  async markUp(hostId: number, heartbeatAt?: Date): Promise<void> {
    if (heartbeatAt) await this.db.update(hosts).set({ lastHeartbeatAt: heartbeatAt }).where(eq(hosts.id, hostId));
    // A state change decides whether the host takes VMs at all: give it a new generation.
    await this.db.update(hosts).set({ state: "Up", haReason: "", updatedAt: new Date(), generation: generationToken() })
      .where(and(eq(hosts.id, hostId), ne(hosts.state, "Up")));
  }

  /**
   * Routine heartbeats of many hosts in ONE statement (hosts/heartbeat-coalescer.ts): each host's
   * last heartbeat, and Up with markUp's other writes where it is not Up (a host another manager
   * marked Suspect meanwhile). Arrays go as one text parameter each: the same SQL on PGlite and PostgreSQL.
   * Returns the hosts that were not Up.
   */
  async recordHeartbeats(batch: { hostId: number; at: Date }[]): Promise<number[]> {
    if (batch.length === 0) return [];
    const ids = `{${batch.map((b) => String(Math.trunc(b.hostId))).join(",")}}`;
    const ats = `{${batch.map((b) => `"${b.at.toISOString()}"`).join(",")}}`;
    const changed = sql`${hosts.state} <> 'Up'`;
    // "was" joins the row as it was before this statement: the hosts this write brought back Up.
    const result = await this.db.execute(sql`UPDATE ${hosts} SET
      last_heartbeat_at = v.at,
      state = 'Up',
      ha_reason = CASE WHEN ${changed} THEN '' ELSE ${hosts.haReason} END,
      updated_at = CASE WHEN ${changed} THEN now() ELSE ${hosts.updatedAt} END,
      generation = CASE WHEN ${changed} THEN (1 + floor(random() * 2147483645))::int ELSE ${hosts.generation} END
      FROM unnest(${ids}::int[], ${ats}::timestamptz[]) AS v(id, at) JOIN hosts AS was ON was.id = v.id
      WHERE ${hosts.id} = v.id
      RETURNING ${hosts.id} AS id, was.state AS was`);
    return (result as unknown as { rows: { id: number; was: string }[] }).rows.filter((r) => r.was !== "Up").map((r) => Number(r.id));
  }

  /** Hosts Up whose last heartbeat is older than the cutoff become Suspect, for HA to investigate (host liveness only). */
  async markStale(cutoff: Date, heardSince?: Date): Promise<number[]> {
    const rows = await this.db.update(hosts).set({
      state: "Suspect", haReason: "missed its heartbeats: being investigated", updatedAt: new Date(), generation: generationToken(),
    })
      .where(and(
        eq(hosts.state, "Up"), isNull(hosts.removedAt), sql`${hosts.lastHeartbeatAt} < ${cutoff.toISOString()}`,
        heardSince ? sql`${hosts.lastHeartbeatAt} >= ${heardSince.toISOString()}` : undefined,
      ))
      .returning({ id: hosts.id });
    return rows.map((r) => r.id);
  }

  /** One host as list() shows it, with HA's last investigation of it (admin API); NotFoundError when unknown. */
  async detail(hostId: number): Promise<{ host: HostOverview; ha: { storageHeartbeatDir: string; checkedAt: Date | null; evidence: HostProbeEvidenceJson[] } }> {
    const [h] = await this.db.select({ dir: hosts.storageHeartbeatDir, checkedAt: hosts.haCheckedAt, evidence: hosts.haEvidence }).from(hosts).where(eq(hosts.id, hostId));
    const overview = h ? (await this.list()).find((o) => o.id === hostId) : undefined;
    if (!h || !overview) throw new NotFoundError("host", hostId);
    return { host: overview, ha: { storageHeartbeatDir: h.dir, checkedAt: h.checkedAt, evidence: h.evidence ?? [] } };
  }

  /** Every host with its capacity, what is allocated on it, its GPUs and the domains Orbit does not manage (admin API). */
  async list(): Promise<HostOverview[]> {
    const hs = await this.db.select({ host: hosts, cluster: clusters.name, environment: regions.name })
      .from(hosts).innerJoin(clusters, eq(hosts.clusterId, clusters.id))
      .innerJoin(regions, eq(clusters.regionId, regions.id)).where(isNull(hosts.removedAt)).orderBy(hosts.id);
    if (hs.length === 0) return [];
    const ids = hs.map((h) => h.host.id);
    const alloc = await this.db.select({
      hostId: allocations.hostId,
      vcpus: sql<number>`coalesce(sum(${allocations.vcpus}),0)::int`,
      memoryMib: sql<number>`coalesce(sum(${allocations.memoryMib}),0)::bigint`,
      vms: sql<number>`count(*)::int`,
    }).from(allocations).where(inArray(allocations.hostId, ids)).groupBy(allocations.hostId);
    const gpuRows = await this.db.select().from(gpus).where(inArray(gpus.hostId, ids)).orderBy(gpus.pciAddress);
    const gpuAlloc = await this.db.select().from(gpuAllocations).where(inArray(gpuAllocations.hostId, ids));
    const unmanaged = await this.db.select().from(unmanagedDomains).where(inArray(unmanagedDomains.hostId, ids));
    return hs.map(({ host: h, cluster, environment }) => {
      const a = alloc.find((x) => x.hostId === h.id);
      return {
        id: h.id,
        uuid: h.uuid,
        name: h.name,
        environment,
        cluster,
        state: h.state,
        haReason: h.haReason,
        resourceState: h.resourceState,
        hypervisor: h.hypervisor,
        driver: h.driver,
        cpuModel: h.cpuModel,
        tags: h.tags,
        lastHeartbeatAt: h.lastHeartbeatAt,
        connectedManagerId: h.connectedManagerId,
        agentVersion: h.agentVersion,
        hypervisorVersion: h.hypervisorVersion,
        migrationUri: h.migrationUri,
        clusterAddress: h.clusterAddress,
        discoveryWarnings: h.discoveryWarnings,
        capacity: {
          cpus: h.cpus,
          sockets: h.sockets,
          coresPerSocket: h.coresPerSocket,
          threadsPerCore: h.threadsPerCore,
          memoryMib: h.memoryMib,
          memoryReserveMib: h.memoryReserveMib,
          numaCells: h.numaCells,
        },
        // sum() of a bigint comes back as a string.
        allocated: { vcpus: a?.vcpus ?? 0, memoryMib: Number(a?.memoryMib ?? 0), vms: a?.vms ?? 0 },
        unmanagedDomains: unmanaged.filter((u) => u.hostId === h.id)
          .map((u) => ({ uuid: u.domainUuid, name: u.name, powerState: u.powerState, seenAt: u.seenAt })),
        gpus: gpuRows.filter((g) => g.hostId === h.id).map((g) => ({
          id: g.id,
          pciAddress: g.pciAddress,
          uuid: g.uuid,
          model: g.model,
          memoryMib: g.memoryMib,
          numaNode: g.numaNode,
          nvlinkPeers: g.nvlinkPeers,
          vgpuTypes: g.vgpuTypes,
          present: g.present,
          allocations: gpuAlloc.filter((x) => x.gpuId === g.id)
            .map((x) => ({ vmId: x.vmId, mode: x.mode, vgpuType: x.vgpuType, shareMilli: x.shareMilli })),
        })),
      };
    });
  }
}

/** A host as the admin API shows it (HostService.list). */
export interface HostOverview {
  id: number;
  uuid: string;
  name: string;
  environment: string;
  cluster: string;
  state: HostState;
  /** Why HA put it in its state (Suspect, Alert, Down); "" when Up. */
  haReason: string;
  resourceState: HostResourceState;
  hypervisor: string;
  driver: string;
  cpuModel: string;
  tags: string[];
  lastHeartbeatAt: Date | null;
  /** The manager holding its agent's stream (manager_instances.id); null: none. */
  connectedManagerId: string | null;
  agentVersion: string;
  hypervisorVersion: string;
  /** "": the host cannot be a live migration destination. */
  migrationUri: string;
  clusterAddress: string;
  discoveryWarnings: string[];
  capacity: {
    cpus: number;
    sockets: number;
    coresPerSocket: number;
    threadsPerCore: number;
    memoryMib: number;
    memoryReserveMib: number;
    numaCells: NumaCellJson[];
  };
  allocated: { vcpus: number; memoryMib: number; vms: number };
  /** Domains the host runs that are not Orbit's VMs. */
  unmanagedDomains: { uuid: string; name: string; powerState: string; seenAt: Date }[];
  gpus: {
    id: number;
    pciAddress: string;
    uuid: string;
    model: string;
    memoryMib: number;
    numaNode: number;
    nvlinkPeers: string[];
    vgpuTypes: VgpuTypeJson[];
    /** False once the host stopped reporting it (its row stays for the allocations that point at it). */
    present: boolean;
    allocations: { vmId: number; mode: "passthrough" | "vgpu" | "share"; vgpuType: string; shareMilli: number }[];
  }[];
}
