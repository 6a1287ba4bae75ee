// Admin changes that affect placement: a host's resource state (Enabled / Disabled; the
// maintenance states are hosts/host-maintenance.ts's) and cluster-scoped allocator settings (over-provisioning factors, disable
// thresholds). Each bumps what the placement cache must re-read.
import { eq } from "drizzle-orm";
import { ConflictError, InvalidArgumentError } from "#shared/errors.js";
import { ALLOCATOR_SETTINGS, type AllocatorSettingDefinition } from "../allocator/index.js";
import type { Db } from "../db/database.js";
import { clusters, regions, settings, type HostResourceState } from "../db/schema.js";
import type { SettingActor, SettingsService } from "../settings/settings-service.js";
import { IN_MAINTENANCE, lockHost, setResourceState } from "../hosts/host-maintenance.js";
import { CLUSTER_SCOPE_PREFIX } from "./snapshot-builder.js";

export const RESOURCE_STATES: readonly HostResourceState[] = ["Enabled", "Disabled", "PrepareForMaintenance", "Maintenance", "ErrorInMaintenance"];
/** The states PUT /v1/admin/hosts/{id} sets; the others belong to the maintenance routes. */
export const SETTABLE_RESOURCE_STATES: readonly HostResourceState[] = ["Enabled", "Disabled"];

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
  constructor(private readonly db: Db, private readonly settings: SettingsService, private readonly changed: () => void) {}

  /**
   * Enables or disables a host. The maintenance states are entered and left through
   * /v1/admin/hosts/{id}/maintenance only (their job moves VMs), so they are refused here both ways.
   */
  async setResourceState(hostId: number, state: HostResourceState): Promise<void> {
    if (!SETTABLE_RESOURCE_STATES.includes(state)) {
      throw new ConflictError(
        `resource state ${state} is not set directly: POST /v1/admin/hosts/${hostId}/maintenance puts a host into maintenance, DELETE cancels it`,
        undefined, { requested: state },
      );
    }
    await this.db.transaction(async (tx) => {
      const host = await lockHost(tx, hostId);
      if (IN_MAINTENANCE.includes(host.resourceState)) {
        throw new ConflictError(
          `host ${hostId} is ${host.resourceState}: cancel its maintenance first (DELETE /v1/admin/hosts/${hostId}/maintenance)`, host.resourceState,
        );
      }
      // Enabling or disabling a host changes what it may take: a new generation for cached snapshots.
      await setResourceState(tx, hostId, state);
    });
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

  /**
   * Sets (or with `null` removes) a cluster override of an allocator setting: the same change as
   * PUT/DELETE /v1/admin/settings/{name}?scope=cluster, audited and applied live.
   */
  async setClusterSetting(clusterId: number, name: string, value: unknown, actor?: SettingActor): Promise<ClusterSettingValue | null> {
    if (!CLUSTER_SETTINGS.includes(name)) {
      throw new InvalidArgumentError("name", `setting ${name} cannot be set per cluster (only ${CLUSTER_SETTINGS.join(", ")})`);
    }
    const at = { scope: "cluster" as const, id: clusterId };
    if (value === null) {
      await this.settings.reset(name, at, actor);
      return null;
    }
    return await this.settings.set(name, value, at, actor) as ClusterSettingValue;
  }
}
