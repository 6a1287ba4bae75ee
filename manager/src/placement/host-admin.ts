// Admin changes that affect placement: a host's resource state (Enabled / Disabled /
// Maintenance) and cluster-scoped allocator settings (over-provisioning factors, disable
// thresholds). Each bumps what the placement cache must re-read.
import { and, eq } from "drizzle-orm";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { ALLOCATOR_SETTINGS, type AllocatorSettingDefinition } from "../allocator/index.js";
import type { Db } from "../db/database.js";
import { clusters, hosts, regions, settings, type HostResourceState } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { generationToken } from "../hosts/host-generation.js";
import { CLUSTER_SCOPE_PREFIX } from "./snapshot-builder.js";

export const RESOURCE_STATES: readonly HostResourceState[] = ["Enabled", "Disabled", "Maintenance"];

/** Settings an admin may override per cluster. */
export const CLUSTER_SETTING_DEFINITIONS: readonly AllocatorSettingDefinition[] = ALLOCATOR_SETTINGS.filter((s) => s.scopes.includes("cluster"));
export const CLUSTER_SETTINGS: readonly string[] = CLUSTER_SETTING_DEFINITIONS.map((s) => s.name);

/** A cluster override's value, of its setting's type (validated when set). */
export type ClusterSettingValue = AllocatorSettingDefinition["default"];

export interface ClusterWithSettings {
  id: number;
  name: string;
  pod: string;
  environment: string;
  /** The cluster's overrides by setting name. */
  settings: Record<string, ClusterSettingValue>;
}

export class HostAdmin {
  constructor(private readonly db: Db, private readonly registry: SettingsRegistry, private readonly changed: () => void) {}

  async setResourceState(hostId: number, state: HostResourceState): Promise<void> {
    // Enabling or disabling a host changes what it may take: a new generation for cached snapshots.
    const rows = await this.db.update(hosts).set({ resourceState: state, updatedAt: new Date(), generation: generationToken() })
      .where(eq(hosts.id, hostId)).returning({ id: hosts.id });
    if (rows.length === 0) throw new NotFoundError("host", hostId);
    this.changed();
  }

  async listClusters(): Promise<ClusterWithSettings[]> {
    const rows = await this.db.select({ c: clusters, environment: regions.name })
      .from(clusters).innerJoin(regions, eq(clusters.regionId, regions.id)).orderBy(clusters.id);
    const overrides = await this.db.select().from(settings);
    return rows.map(({ c, environment }) => ({
      id: c.id, name: c.name, pod: c.pod, environment,
      settings: Object.fromEntries(overrides.filter((o) => o.scope === `${CLUSTER_SCOPE_PREFIX}${c.id}`).map((o) => [o.name, o.value as ClusterSettingValue])),
    }));
  }

  /** Sets (or with `null` removes) a cluster override of an allocator setting. */
  async setClusterSetting(clusterId: number, name: string, value: unknown): Promise<ClusterSettingValue | null> {
    if (!CLUSTER_SETTINGS.includes(name)) {
      throw new InvalidArgumentError("name", `setting ${name} cannot be set per cluster (only ${CLUSTER_SETTINGS.join(", ")})`);
    }
    const [c] = await this.db.select({ id: clusters.id }).from(clusters).where(eq(clusters.id, clusterId));
    if (!c) throw new NotFoundError("cluster", clusterId);
    const scope = `${CLUSTER_SCOPE_PREFIX}${clusterId}`;
    if (value === null) {
      await this.db.delete(settings).where(and(eq(settings.name, name), eq(settings.scope, scope)));
      this.changed();
      return null;
    }
    const v = this.registry.validate(name, value) as ClusterSettingValue;
    await this.db.insert(settings).values({ name, scope, value: v })
      .onConflictDoUpdate({ target: [settings.name, settings.scope], set: { value: v, updatedAt: new Date() } });
    this.changed();
    return v;
  }
}
