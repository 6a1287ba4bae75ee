// What the admin placement controls answer: a host's resource state, clusters and their overrides.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { CLUSTER_SETTING_DEFINITIONS } from "../../placement/host-admin.js";
import { Id } from "../schemas.js";

export const ResourceState = Type.Union([Type.Literal("Enabled"), Type.Literal("Disabled"), Type.Literal("Maintenance")]);

export const HostResourceStateView = Type.Object({ id: Id(), resource_state: ResourceState });
export type HostResourceStateView = Static<typeof HostResourceStateView>;

const settingValue = (kind: "string" | "number", description?: string): TSchema =>
  kind === "number" ? Type.Number(description ? { description } : {}) : Type.String(description ? { description } : {});

export const ClusterView = Type.Object({
  id: Id(),
  name: Type.String(),
  pod: Type.String(),
  environment: Type.String({ description: "The environment's name" }),
  settings: Type.Object(
    Object.fromEntries(CLUSTER_SETTING_DEFINITIONS.map((d) => [d.name, Type.Optional(settingValue(d.type, d.description))])),
    { description: "The cluster's overrides of allocator settings (a setting not named here takes its global value)" },
  ),
});
export type ClusterView = Static<typeof ClusterView>;

export const ClusterSettingView = Type.Object({
  cluster_id: Id(),
  name: Type.String(),
  value: Type.Union([Type.Number(), Type.String(), Type.Null()], { description: "The value now in force for the cluster; null: the override was removed" }),
});
export type ClusterSettingView = Static<typeof ClusterSettingView>;
