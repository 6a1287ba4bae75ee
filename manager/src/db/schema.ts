// The manager's PostgreSQL schema (drizzle). Migrations in manager/drizzle are generated from
// this file with `npm run db:generate` and applied at start; never edit a generated migration.
import { sql } from "drizzle-orm";
import {
  type AnyPgColumn, bigint, bigserial, boolean, check, customType, doublePrecision, index, integer, jsonb, pgTable, serial, text, timestamp, uniqueIndex, uuid,
} from "drizzle-orm/pg-core";
import type { JobInput } from "../jobs/job-input.js";
import type { RunStrategy } from "../vm/vm-lifecycle-options.js";

/**
 * jsonb holding any JSON value, strings included. drizzle's jsonb() JSON.parses a string the
 * driver already parsed, so a stored string that reads as JSON ("true", "42") came back as a
 * boolean or number; both drivers (pg, PGlite) hand jsonb over parsed: taken as it comes.
 */
const jsonValue = customType<{ data: unknown; driverData: unknown }>({
  dataType: () => "jsonb",
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value) => value,
});

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

// Accounts own VMs, keys, groups and jobs. Deleting one only marks it (its VMs' history keeps
// pointing at it), which frees its name. Limits (CloudStack's max.account.*): null = unlimited;
// placement checks them under a lock on this row (placement/account-limits.ts).
export const accounts = pgTable("accounts", {
  id: serial("id").primaryKey(),
  name: text("name").notNull(),
  maxVms: integer("max_vms"),
  maxVcpus: integer("max_vcpus"),
  maxMemoryMib: bigint("max_memory_mib", { mode: "number" }),
  maxGpus: integer("max_gpus"),
  // A disabled account's keys are refused; its VMs stay as they are.
  disabledAt: timestamp("disabled_at", { withTimezone: true, mode: "date" }),
  deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [uniqueIndex("accounts_live_name").on(t.name).where(sql`deleted_at is null`)]);

// What each account holds (placement/account-limits.ts), as changes to sum: triggers on vms,
// allocations and gpu_allocations (migration 0046) insert a row per change, in the changing
// transaction, so no code path can forget one and no writer waits on a lock for it. A limit
// check folds an account's rows into one under the account's lock, so it reads a handful of
// rows instead of counting the account's VMs.
export const accountUsageDeltas = pgTable("account_usage_deltas", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  // No foreign key: its check would take a key-share lock on the account, making writers wait
  // behind (and deadlock with) the limit check's lock.
  accountId: integer("account_id").notNull(),
  vms: integer("vms").notNull().default(0),
  vcpus: bigint("vcpus", { mode: "number" }).notNull().default(0),
  memoryMib: bigint("memory_mib", { mode: "number" }).notNull().default(0),
  gpus: integer("gpus").notNull().default(0),
}, (t) => [index("account_usage_deltas_account").on(t.accountId)]);

// Users of an account: each API key belongs to one, and takes its role from it. A disabled user's
// keys are refused; deleting one only marks the row (and revokes its keys), which frees its name.
export const users = pgTable("users", {
  id: serial("id").primaryKey(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  name: text("name").notNull(),
  email: text("email"),
  role: text("role").notNull().$type<"admin" | "user">(),
  disabledAt: timestamp("disabled_at", { withTimezone: true, mode: "date" }),
  deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [uniqueIndex("users_account_live_name").on(t.accountId, t.name).where(sql`deleted_at is null`)]);

export const apiKeys = pgTable("api_keys", {
  id: serial("id").primaryKey(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  userId: integer("user_id").notNull().references(() => users.id),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  // sha256 of the key; the key itself is shown once. The prefix lets its owner recognise it.
  keyHash: text("key_hash").notNull().unique(),
  keyPrefix: text("key_prefix").notNull().default(""),
  createdAt: createdAt(),
  revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
}, (t) => [index("api_keys_account").on(t.accountId), index("api_keys_user").on(t.userId)]);

// Regions (zones): where hosts are. A host's cluster is in one region; the agent's `environment`
// setting names the region it registers into (created on first use).
export const regions = pgTable("regions", {
  id: serial("id").primaryKey(),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
});

// Environments (Hyperstack's): an account's container for VMs and key pairs, in one region.
export const environments = pgTable("environments", {
  id: serial("id").primaryKey(),
  name: text("name").notNull(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  regionId: integer("region_id").notNull().references(() => regions.id),
  createdAt: createdAt(),
}, (t) => [uniqueIndex("environments_account_name").on(t.accountId, t.name)]);

// An environment's private network: a CIDR (unique per environment, never overlapping another
// network of its region), its gateway (the first address) and the nameservers its VMs are given.
// floatingCidr is its pool of public addresses (null: none). Its id names the host bridge.
export const networks = pgTable("networks", {
  id: serial("id").primaryKey(),
  environmentId: integer("environment_id").notNull().references(() => environments.id, { onDelete: "cascade" }).unique(),
  regionId: integer("region_id").notNull().references(() => regions.id),
  cidr: text("cidr").notNull(),
  gateway: text("gateway").notNull(),
  nameservers: jsonb("nameservers").notNull().$type<string[]>().default([]),
  floatingCidr: text("floating_cidr"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [index("networks_region").on(t.regionId)]);

// IPAM: one row per address given out. The unique (network, address) index is what guarantees no
// address is given twice, even to concurrent creates (the loser retries with another address).
// Keyed by the VM's uuid, not its id: addresses are reserved before the placement commit writes
// the VM (a refused create deletes them), and released when the VM is Destroyed.
export type IpAllocationKind = "fixed" | "floating";

export const ipAllocations = pgTable("ip_allocations", {
  id: serial("id").primaryKey(),
  networkId: integer("network_id").notNull().references(() => networks.id, { onDelete: "cascade" }),
  kind: text("kind").notNull().$type<IpAllocationKind>(),
  address: text("address").notNull(),
  vmUuid: uuid("vm_uuid").notNull(),
  createdAt: createdAt(),
  /**
   * The stale-reservation sweep (network/ipam.ts) found its VM: never a candidate again, so the
   * sweep reads only reservations it has not checked yet, not every address of the network.
   */
  vmSeen: boolean("vm_seen").notNull().default(false),
}, (t) => [
  uniqueIndex("ip_allocations_network_address").on(t.networkId, t.address),
  uniqueIndex("ip_allocations_vm_kind").on(t.vmUuid, t.kind),
  index("ip_allocations_unchecked").on(t.networkId, t.createdAt).where(sql`not vm_seen`),
]);

export const clusters = pgTable("clusters", {
  id: serial("id").primaryKey(),
  name: text("name").notNull(),
  regionId: integer("region_id").notNull().references(() => regions.id),
  pod: text("pod").notNull().default("default"),
  createdAt: createdAt(),
}, (t) => [uniqueIndex("clusters_region_name").on(t.regionId, t.name)]);

/**
 * Connecting (registered, not heard from yet), Up, Suspect (past its liveness deadline: HA is
 * investigating; was Disconnected), Alert (investigated, inconclusive: nothing restarted, re-checked),
 * Down (fenced: its VMs were released and HA VMs restarted elsewhere). See hosts/README.md.
 */
export type HostState = "Connecting" | "Up" | "Suspect" | "Alert" | "Down";

/** What HA's last investigation of a host found (hosts.ha_evidence): each neighbour's probe. */
export interface HostProbeEvidenceJson {
  neighbourHostId: number;
  neighbour: string;
  /** False when the neighbour could not be asked (error names why). */
  answered: boolean;
  reachable: boolean;
  storageHeartbeatSeen: boolean;
  storageHeartbeatAgeMs: number;
  detail: string;
}
/**
 * What the admin lets a host take. Only Enabled hosts take new VMs. PrepareForMaintenance: its
 * VMs are being moved off (hosts/host-maintenance.ts); Maintenance: none runs there any more;
 * ErrorInMaintenance: a VM's migration failed (CloudStack's resource states).
 */
export type HostResourceState = "Enabled" | "Disabled" | "PrepareForMaintenance" | "Maintenance" | "ErrorInMaintenance";

export interface NumaCellJson { id: number; cpus: number[]; memoryMib: number }

export const hosts = pgTable("hosts", {
  id: serial("id").primaryKey(),
  uuid: uuid("uuid").notNull().unique(),
  name: text("name").notNull(),
  clusterId: integer("cluster_id").notNull().references(() => clusters.id),
  state: text("state").notNull().$type<HostState>().default("Connecting"),
  resourceState: text("resource_state").notNull().$type<HostResourceState>().default("Enabled"),
  hypervisor: text("hypervisor").notNull(),
  driver: text("driver").notNull(),
  cpuModel: text("cpu_model").notNull().default(""),
  cpuArch: text("cpu_arch").notNull().default(""),
  sockets: integer("sockets").notNull(),
  coresPerSocket: integer("cores_per_socket").notNull(),
  threadsPerCore: integer("threads_per_core").notNull(),
  cpus: integer("cpus").notNull(),
  cpuMhz: integer("cpu_mhz").notNull().default(0),
  memoryMib: bigint("memory_mib", { mode: "number" }).notNull(),
  memoryReserveMib: bigint("memory_reserve_mib", { mode: "number" }).notNull().default(0),
  numaCells: jsonb("numa_cells").notNull().$type<NumaCellJson[]>().default([]),
  tags: text("tags").array().notNull().default(sql`'{}'::text[]`),
  agentVersion: text("agent_version").notNull().default(""),
  hypervisorVersion: text("hypervisor_version").notNull().default(""),
  // The hypervisor URI peers migrate to this host under ("": it cannot be a migration destination)
  // and its address on the cluster network (the migration stream's tcp://ADDR; "": none), from its facts.
  migrationUri: text("migration_uri").notNull().default(""),
  clusterAddress: text("cluster_address").notNull().default(""),
  discoveryWarnings: jsonb("discovery_warnings").notNull().$type<string[]>().default([]),
  secretHash: text("secret_hash").notNull(),
  lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true, mode: "date" }),
  /** The shared directory its agent writes its storage heartbeat into ("": none, never fenced automatically). */
  storageHeartbeatDir: text("storage_heartbeat_dir").notNull().default(""),
  /** Why the host is in its state, as HA decided it (Suspect, Alert, Down); "" when Up. */
  haReason: text("ha_reason").notNull().default(""),
  /** The evidence of HA's last investigation of the host, and when it ran. */
  haEvidence: jsonb("ha_evidence").$type<HostProbeEvidenceJson[]>(),
  haCheckedAt: timestamp("ha_checked_at", { withTimezone: true, mode: "date" }),
  // The host's boot id from its last heartbeat: a new one means it rebooted (domains lost).
  bootId: text("boot_id").notNull().default(""),
  // Bumped by every placement commit on this host: a commit re-checks capacity under a row lock.
  generation: integer("generation").notNull().default(0),
  /**
   * Removed by an admin (DELETE /v1/admin/hosts/{id}): its credentials are revoked, it is hidden
   * from lists and placement; the row stays so the history of its VMs, jobs and GPUs stays valid.
   */
  removedAt: timestamp("removed_at", { withTimezone: true, mode: "date" }),
  /**
   * The manager process (manager_instances.id) holding the host's agent stream now; null when no
   * manager does. Set on connect, cleared on disconnect by that manager only.
   */
  connectedManagerId: uuid("connected_manager_id"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export interface VgpuTypeJson { typeId: string; name: string; availableInstances: number; maxInstances: number; framebufferMib: number }

export const gpus = pgTable("gpus", {
  id: serial("id").primaryKey(),
  hostId: integer("host_id").notNull().references(() => hosts.id, { onDelete: "cascade" }),
  pciAddress: text("pci_address").notNull(),
  uuid: text("uuid").notNull().default(""),
  model: text("model").notNull(),
  memoryMib: bigint("memory_mib", { mode: "number" }).notNull().default(0),
  numaNode: integer("numa_node").notNull().default(-1),
  nvlinkPeers: jsonb("nvlink_peers").notNull().$type<string[]>().default([]),
  vgpuTypes: jsonb("vgpu_types").notNull().$type<VgpuTypeJson[]>().default([]),
  migEnabled: boolean("mig_enabled").notNull().default(false),
  virtualizationMode: text("virtualization_mode").notNull().default("none"),
  /** The NVIDIA driver's version on the host (nvidia-smi), checked before a vGPU live migration; "": unknown. */
  driverVersion: text("driver_version").notNull().default(""),
  present: boolean("present").notNull().default(true),
}, (t) => [uniqueIndex("gpus_host_pci").on(t.hostId, t.pciAddress)]);

export const flavors = pgTable("flavors", {
  id: serial("id").primaryKey(),
  name: text("name").notNull().unique(),
  vcpus: integer("vcpus").notNull(),
  memoryMib: bigint("memory_mib", { mode: "number" }).notNull(),
  diskGib: integer("disk_gib").notNull().default(0),
  gpuModel: text("gpu_model").notNull().default(""),
  gpuCount: integer("gpu_count").notNull().default(0),
  vgpuType: text("vgpu_type").notNull().default(""),
  gpuShareMilli: integer("gpu_share_milli").notNull().default(0),
  hostTags: text("host_tags").array().notNull().default(sql`'{}'::text[]`),
  cpuType: text("cpu_type").notNull().default(""),
  // The region's name as text until regions are their own table (linked when they merge); ""
  // for an image offered in every region (the images Orbit ships).
  regionName: text("region_name").notNull().default("default"),
  /** Hyperstack's flavor features: flags the admin sets (e.g. network_optimised), shown to users. */
  features: jsonb("features").notNull().$type<Record<string, boolean>>().default({}),
  // Retired flavors are hidden from lists and refused for new VMs; VMs that have one keep it.
  retiredAt: timestamp("retired_at", { withTimezone: true }),
  createdAt: createdAt(),
});

// A flavor's labels (Hyperstack shows each with an id); set by admins as a list.
export const flavorLabels = pgTable("flavor_labels", {
  id: serial("id").primaryKey(),
  flavorId: integer("flavor_id").notNull().references(() => flavors.id, { onDelete: "cascade" }),
  label: text("label").notNull(),
}, (t) => [uniqueIndex("flavor_labels_flavor_label").on(t.flavorId, t.label)]);

export const images = pgTable("images", {
  id: serial("id").primaryKey(),
  name: text("name").notNull().unique(),
  osType: text("os_type").notNull().default("linux"),
  // Path of the base image on hosts (libvirt driver), empty for the simulator's images.
  path: text("path").notNull().default(""),
  format: text("format").notNull().default("qcow2"),
  sizeGib: integer("size_gib").notNull().default(0),
  // The region's name as text until regions are their own table (linked when they merge); ""
  // for an image offered in every region (the images Orbit ships).
  regionName: text("region_name").notNull().default("default"),
  version: text("version").notNull().default(""),
  description: text("description").notNull().default(""),
  isPublic: boolean("is_public").notNull().default(true),
  /** The owning account: a non-public image is only its (and admins') to see and use. */
  accountId: integer("account_id").references(() => accounts.id),
  // Registered images (POST /v1/admin/images) are downloaded by a job; seeded ones are Ready.
  status: text("status").notNull().$type<ImageStatus>().default("Ready"),
  /** Where a registered image came from ("" for seeded ones). */
  sourceUrl: text("source_url").notNull().default(""),
  /** "sha256:<hex>" (or md5/sha1/sha512) the download must match ("" for seeded ones). */
  checksum: text("checksum").notNull().default(""),
  /** ISO images: whether a VM may boot from it. */
  bootable: boolean("bootable").notNull().default(true),
  labels: jsonb("labels").notNull().$type<string[]>().default([]),
  /** Bytes of the stored file and the disk's virtual size (qemu-img), once Ready. */
  sizeBytes: bigint("size_bytes", { mode: "number" }),
  virtualSizeBytes: bigint("virtual_size_bytes", { mode: "number" }),
  /** Hex SHA-256 of the stored file (after any conversion): hosts check their copy against it. */
  storedSha256: text("stored_sha256").notNull().default(""),
  downloadProgress: jsonb("download_progress").$type<ImageDownloadProgress>(),
  /** Why the download failed (status Error). */
  error: text("error").notNull().default(""),
  jobId: integer("job_id"),
  createdAt: createdAt(),
});

export type ImageStatus = "Downloading" | "Ready" | "Error";
export interface ImageDownloadProgress { bytes: number; total_bytes: number | null; percent: number | null; rate_bytes_per_s: number }

export const vms = pgTable("vms", {
  id: serial("id").primaryKey(),
  uuid: uuid("uuid").notNull().unique(),
  name: text("name").notNull(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  environmentId: integer("environment_id").notNull().references(() => environments.id),
  flavorId: integer("flavor_id").notNull().references(() => flavors.id),
  imageId: integer("image_id").notNull().references(() => images.id),
  hostId: integer("host_id").references(() => hosts.id),
  state: text("state").notNull(),
  stateReason: text("state_reason").notNull().default(""),
  powerState: text("power_state").notNull().default("NOSTATE"),
  vcpus: integer("vcpus").notNull(),
  memoryMib: bigint("memory_mib", { mode: "number" }).notNull(),
  labels: jsonb("labels").notNull().$type<string[]>().default([]),
  userData: text("user_data").notNull().default(""),
  callbackUrl: text("callback_url").notNull().default(""),
  /** The key pair named at create ("" for none) and its public key, kept for the VM's seed. */
  keyName: text("key_name").notNull().default(""),
  sshAuthorizedKeys: jsonb("ssh_authorized_keys").notNull().$type<string[]>().default([]),
  /** cloud-init's instance-id for the VM's seed ("" for its uuid): a new one re-runs per-instance modules (a reset SSH key). */
  seedInstanceId: text("seed_instance_id").notNull().default(""),
  /** The VM whose root disk this one's was copied from (a clone), until that copy is made and after. */
  clonedFromVmId: integer("cloned_from_vm_id").references((): AnyPgColumn => vms.id),
  /** The bootable volume the VM boots from instead of an owned overlay of its image (null: none); not the VM's: its delete keeps it. */
  bootVolumeId: integer("boot_volume_id").references((): AnyPgColumn => volumes.id),
  /** The ISO image in the VM's cdrom (null: empty), put in every start's spec; a VM created from an ISO boots it until detached. */
  isoImageId: integer("iso_image_id").references(() => images.id),
  /**
   * The storage pool the VM's owned root disk (image overlay, ISO-boot blank disk, clone's copy) is
   * counted in, with root_disk_gib reserved there (null: not counted: no owned root disk, a cluster
   * without pools, or released when the VM stopped holding capacity). See storage/root-disks.ts.
   */
  rootDiskPoolId: integer("root_disk_pool_id").references((): AnyPgColumn => storagePools.id),
  /** The root disk's size as reserved (GiB; null: the VM boots from a volume, which counts itself). */
  rootDiskGib: integer("root_disk_gib"),
  placement: jsonb("placement").$type<Record<string, unknown>>(),
  /**
   * KubeVirt's run strategy chosen at create (null: none). Stored and shown; what Always and
   * RerunOnFailure do after a failure (restarts) comes with HA (issue 15), as does ha_enabled.
   */
  runStrategy: text("run_strategy").$type<RunStrategy>(),
  haEnabled: boolean("ha_enabled").notNull().default(false),
  /** HA restart order when its host is lost: higher first (then older VMs); admin-settable. */
  haPriority: integer("ha_priority").notNull().default(0),
  /** Restarts on its host after its domain stopped without an API call (crash loop guard), and the last one's time. */
  crashRestarts: integer("crash_restarts").notNull().default(0),
  crashRestartAt: timestamp("crash_restart_at", { withTimezone: true, mode: "date" }),
  /** When HA restarts it on its host (its backoff over): kept here, not in a timer, so a manager restart or another manager honours it. */
  crashRestartDueAt: timestamp("crash_restart_due_at", { withTimezone: true, mode: "date" }),
  /**
   * The headroom for live scaling its domain was last defined with (vm/scale-headroom.ts): at most
   * this many vCPUs and MiB, and no less memory than it booted with; 0: defined without headroom.
   */
  scaleMaxVcpus: integer("scale_max_vcpus").notNull().default(0),
  scaleMaxMemoryMib: bigint("scale_max_memory_mib", { mode: "number" }).notNull().default(0),
  scaleMinMemoryMib: bigint("scale_min_memory_mib", { mode: "number" }).notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "date" }),
}, (t) => [
  index("vms_host").on(t.hostId), index("vms_account").on(t.accountId),
  // The VM list (vm-service.ts list()) at 100,000 VMs: live VMs newest first, per account and for
  // admins (their count and pages from the index), and name search (ILIKE '%...%') through
  // trigrams (pg_trgm, enabled by the migration before this index's).
  index("vms_live_account_id").on(t.accountId, t.id).where(sql`deleted_at is null`),
  index("vms_live_id").on(t.id).where(sql`deleted_at is null`),
  // HA's round looks for due crash restarts every second: only the few VMs waiting for one are indexed.
  index("vms_crash_restart_due").on(t.crashRestartDueAt).where(sql`crash_restart_due_at is not null`),
  index("vms_name_trgm").using("gin", t.name.op("gin_trgm_ops")),
]);

// A copy of a VM's domain a lost host may still have: the VM was restarted elsewhere, went Down or
// was deleted while the host was away. When the host reports that domain again, the manager
// destroys it (vm/stale-copies.ts) before the host is sent anything else for the VM.
export const staleCopies = pgTable("stale_copies", {
  id: serial("id").primaryKey(),
  hostId: integer("host_id").notNull().references(() => hosts.id, { onDelete: "cascade" }),
  vmId: integer("vm_id").notNull().references(() => vms.id),
  vmUuid: uuid("vm_uuid").notNull(),
  /** Why the copy is stale (restarted on another host, Down, deleted). */
  reason: text("reason").notNull(),
  /** Whether the destroy removes the disks the VM owns (a deleted VM) or keeps them (restarted: they are the new instance's). */
  removeOwnedDisks: boolean("remove_owned_disks").notNull().default(false),
  createdAt: createdAt(),
  /** The DestroyVm sent for it, and when the host confirmed the copy gone (or never had it). */
  destroyCommandId: text("destroy_command_id"),
  destroyedAt: timestamp("destroyed_at", { withTimezone: true, mode: "date" }),
}, (t) => [index("stale_copies_host").on(t.hostId), uniqueIndex("stale_copies_host_vm").on(t.hostId, t.vmId)]);

// A VM's security rules (Hyperstack's sg-rules): each allows traffic one way; what none allows is
// dropped by the host's firewall (agent/src/network/). Checked by shared/src/security-rules.ts on
// the way in; ports null for "every port". Deleted with their VM's row only (the VM keeps them
// while it exists, stopped or not).
export const securityRules = pgTable("security_rules", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id, { onDelete: "cascade" }),
  direction: text("direction").notNull(),
  ethertype: text("ethertype").notNull(),
  protocol: text("protocol").notNull(),
  remoteIpPrefix: text("remote_ip_prefix").notNull(),
  portRangeMin: integer("port_range_min"),
  portRangeMax: integer("port_range_max"),
  createdAt: createdAt(),
}, (t) => [index("security_rules_vm").on(t.vmId)]);

export const vmStateTransitions = pgTable("vm_state_transitions", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id),
  fromState: text("from_state").notNull(),
  toState: text("to_state").notNull(),
  cause: text("cause").notNull(),
  at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
}, (t) => [index("vm_transitions_vm").on(t.vmId)]);

// What a VM holds on a host. A host's allocated totals are derived from these rows; releasing
// a VM deletes them in the same transaction as its state change, so capacity cannot leak.
export const allocations = pgTable("allocations", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id).unique(),
  hostId: integer("host_id").notNull().references(() => hosts.id),
  vcpus: integer("vcpus").notNull(),
  memoryMib: bigint("memory_mib", { mode: "number" }).notNull(),
  numaNode: integer("numa_node").notNull().default(-1),
  pinnedCpus: jsonb("pinned_cpus").notNull().$type<number[]>().default([]),
  createdAt: createdAt(),
}, (t) => [index("allocations_host").on(t.hostId)]);

export const gpuAllocations = pgTable("gpu_allocations", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id),
  hostId: integer("host_id").notNull().references(() => hosts.id),
  gpuId: integer("gpu_id").notNull().references(() => gpus.id),
  mode: text("mode").notNull().$type<"passthrough" | "vgpu" | "share">(),
  vgpuType: text("vgpu_type").notNull().default(""),
  mdevUuid: text("mdev_uuid").notNull().default(""),
  shareMilli: integer("share_milli").notNull().default(0),
}, (t) => [index("gpu_allocations_gpu").on(t.gpuId), index("gpu_allocations_vm").on(t.vmId)]);

export type JobStatus = "pending" | "running" | "succeeded" | "failed";

export const jobs = pgTable("jobs", {
  id: serial("id").primaryKey(),
  uuid: uuid("uuid").notNull().unique(),
  kind: text("kind").notNull(),
  vmId: integer("vm_id").references(() => vms.id),
  // The volume a volume.attach / volume.detach job works on (one job per volume).
  volumeId: integer("volume_id").references((): AnyPgColumn => volumes.id),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  // Who asked for it (its events name them); null: Orbit itself (reconciler) or before users existed.
  userId: integer("user_id").references(() => users.id),
  status: text("status").notNull().$type<JobStatus>().default("pending"),
  progress: integer("progress").notNull().default(0),
  attempts: integer("attempts").notNull().default(0),
  input: jsonb("input").notNull().$type<JobInput>().default({}),
  result: jsonb("result").$type<Record<string, unknown>>(),
  error: jsonb("error").$type<{ code: string; message: string; retryable: boolean }>(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  // The manager instance running the job (managers.id) until lease_expires_at, renewed while it
  // runs (jobs/job-runner.ts). Null expiry: never claimed yet (its creator is about to); past:
  // free to claim (its manager died, or released it when stopping).
  leaseOwner: text("lease_owner"),
  leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true, mode: "date" }),
}, (t) => [index("jobs_status").on(t.status)]);

// Named cluster-wide leases (cluster/cluster-lease.ts): a singleton duty (HA checks, host
// liveness) runs only in the manager instance holding its lease, renewed while it runs.
export const leases = pgTable("leases", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
});

// Manager instances sharing the database (GET /v1/admin/managers): one row per process start,
// its heartbeat every few seconds (cluster/manager-instances.ts).
export const managers = pgTable("managers", {
  id: text("id").primaryKey(),
  hostname: text("hostname").notNull(),
  pid: integer("pid").notNull(),
  version: text("version").notNull().default(""),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
  lastSeenAt: timestamp("last_seen_at", { withTimezone: true, mode: "date" }).notNull(),
  // Set by a graceful stop; a killed manager's row just stops being seen.
  stoppedAt: timestamp("stopped_at", { withTimezone: true, mode: "date" }),
});

/**
 * routed: written for the manager holding the host's stream (agents/command-router.ts), not yet
 * taken by it; sent: on a stream; pending: not sent (the agent was away).
 */
export type CommandStatus = "pending" | "routed" | "sent" | "succeeded" | "failed";

export const commands = pgTable("commands", {
  id: uuid("id").primaryKey(),
  hostId: integer("host_id").notNull().references(() => hosts.id),
  vmId: integer("vm_id").references(() => vms.id),
  jobId: integer("job_id").references(() => jobs.id),
  kind: text("kind").notNull(),
  status: text("status").notNull().$type<CommandStatus>().default("pending"),
  error: jsonb("error").$type<{ code: string; message: string; retryable: boolean }>(),
  createdAt: createdAt(),
  completedAt: timestamp("completed_at", { withTimezone: true, mode: "date" }),
  // Routed commands only (a host on another manager, agents/command-router.ts): the Command and
  // its CommandResult as protobuf (base64), how long the holder waits for the agent, and until
  // when a holder may still send it (later it is stale: its sender has given up).
  request: text("request"),
  result: text("result"),
  timeoutMs: integer("timeout_ms"),
  deliverBy: timestamp("deliver_by", { withTimezone: true, mode: "date" }),
}, (t) => [index("commands_host").on(t.hostId)]);

/**
 * The manager processes sharing this database, each heartbeating its row (manager_instances.ts):
 * the agent addresses agents are told to fail over to, and which process holds a host's stream.
 */
export const managerInstances = pgTable("manager_instances", {
  id: uuid("id").primaryKey(),
  agentAddress: text("agent_address").notNull(),
  apiAddress: text("api_address").notNull(),
  hostname: text("hostname").notNull(),
  pid: integer("pid").notNull(),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  lastSeenAt: timestamp("last_seen_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/** One VM's part in a host's maintenance (hosts/maintenance-plan.ts decides it). */
export type MaintenanceVmStatus = "queued" | "migrating" | "moved" | "blocked" | "failed" | "stays";
export interface MaintenanceVmJson {
  status: MaintenanceVmStatus;
  /** queued (waiting for a transient state), blocked, stays: why. */
  reason?: string;
  /** failed: the migration's error. */
  error?: string;
  /** migrating, moved, failed: the migration's job and record, the host it goes to and how. */
  job_id?: number;
  migration_id?: number;
  destination_host_id?: number;
  mode?: "live" | "cold";
}

// A host's maintenance (POST /v1/admin/hosts/{id}/maintenance): its `host.maintenance` job moves
// the VMs off, each VM's part kept here so a restarted manager resumes where it was. One active
// row per host at most (ended_at null); ended ones stay as history.
export const hostMaintenances = pgTable("host_maintenances", {
  id: serial("id").primaryKey(),
  hostId: integer("host_id").notNull().references(() => hosts.id),
  jobId: integer("job_id").references(() => jobs.id),
  allowColdMigration: boolean("allow_cold_migration").notNull().default(false),
  vms: jsonb("vms").notNull().$type<Record<string, MaintenanceVmJson>>().default({}),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  /** Cancelled (DELETE .../maintenance) or the host was removed; null while active. */
  endedAt: timestamp("ended_at", { withTimezone: true, mode: "date" }),
  endedBy: text("ended_by").$type<"cancelled" | "removed">(),
}, (t) => [uniqueIndex("host_maintenances_active").on(t.hostId).where(sql`ended_at is null`)]);

export const settings = pgTable("settings", {
  name: text("name").notNull(),
  // "global", or "<scope>:<id>" for environment, cluster, host and account (settings/setting-scope.ts).
  scope: text("scope").notNull().default("global"),
  value: jsonValue("value").notNull(),
  updatedAt: updatedAt(),
}, (t) => [uniqueIndex("settings_name_scope").on(t.name, t.scope)]);

// Every change of a setting (PUT or DELETE at any scope): who, when, where, old and new value.
// oldValue / newValue are null when there was no value at that scope before / after.
export const settingChanges = pgTable("setting_changes", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  name: text("name").notNull(),
  scope: text("scope").notNull(),
  scopeId: integer("scope_id"),
  oldValue: jsonValue("old_value"),
  newValue: jsonValue("new_value"),
  // The request's principal (no foreign key: the audit outlives deleted users and keys).
  userId: integer("user_id"),
  apiKeyId: integer("api_key_id"),
  createdAt: createdAt(),
}, (t) => [index("setting_changes_name").on(t.name, t.id)]);

// Hosts' domains that Orbit does not manage, as last reported: shown to admins, never destroyed.
export const unmanagedDomains = pgTable("unmanaged_domains", {
  id: serial("id").primaryKey(),
  hostId: integer("host_id").notNull().references(() => hosts.id, { onDelete: "cascade" }),
  domainUuid: text("domain_uuid").notNull(),
  name: text("name").notNull(),
  powerState: text("power_state").notNull(),
  seenAt: timestamp("seen_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
}, (t) => [uniqueIndex("unmanaged_host_domain").on(t.hostId, t.domainUuid)]);

// Affinity groups (CloudStack's host affinity / anti-affinity), per account. Strict groups are
// never violated (the deploy is rejected instead); non-strict groups are a placement preference.
export const affinityGroups = pgTable("affinity_groups", {
  id: serial("id").primaryKey(),
  uuid: uuid("uuid").notNull().unique(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  name: text("name").notNull(),
  type: text("type").notNull().$type<"host-affinity" | "host-anti-affinity">(),
  strict: boolean("strict").notNull().default(true),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
}, (t) => [uniqueIndex("affinity_groups_account_name").on(t.accountId, t.name)]);

export const affinityGroupMembers = pgTable("affinity_group_members", {
  groupId: integer("group_id").notNull().references(() => affinityGroups.id, { onDelete: "cascade" }),
  vmId: integer("vm_id").notNull().references(() => vms.id),
}, (t) => [uniqueIndex("affinity_group_members_pk").on(t.groupId, t.vmId), index("affinity_group_members_vm").on(t.vmId)]);

// The manager's certificate authority for agent mTLS: one row (id 1), shared by every manager
// of a deployment. The key is stored in clear here; in production it should be wrapped by a KMS
// (envelope encryption) or kept in an HSM, and only unwrapped in memory.
export const certificateAuthorities = pgTable("certificate_authorities", {
  id: integer("id").primaryKey(),
  certPem: text("cert_pem").notNull(),
  keyPem: text("key_pem").notNull(),
  createdAt: createdAt(),
});

// One-time registration tokens created by an admin; only a hash is kept (the token is shown once).
export const registrationTokens = pgTable("registration_tokens", {
  id: serial("id").primaryKey(),
  tokenHash: text("token_hash").notNull().unique(),
  note: text("note").notNull().default(""),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
  usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
  usedByHostId: integer("used_by_host_id").references(() => hosts.id, { onDelete: "set null" }),
  revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
});

// Client certificates the CA signed for hosts; a connection is refused once its row is revoked.
export const hostCertificates = pgTable("host_certificates", {
  id: serial("id").primaryKey(),
  hostId: integer("host_id").notNull().references(() => hosts.id, { onDelete: "cascade" }),
  // Lowercase hex, as the certificate carries it.
  serial: text("serial").notNull().unique(),
  fingerprintSha256: text("fingerprint_sha256").notNull(),
  notBefore: timestamp("not_before", { withTimezone: true, mode: "date" }).notNull(),
  notAfter: timestamp("not_after", { withTimezone: true, mode: "date" }).notNull(),
  revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
}, (t) => [index("host_certificates_host").on(t.hostId)]);

// Answers to POSTs sent with an Idempotency-Key, per account, kept for a bounded time: a retry
// with the same key and request gets the first answer again instead of doing the work twice.
// The unique (account, key) row is inserted before the work starts, so two concurrent requests
// with one key cannot both run; status_code stays null until the first one has answered.
export const idempotencyKeys = pgTable("idempotency_keys", {
  id: serial("id").primaryKey(),
  accountId: integer("account_id").notNull().references(() => accounts.id, { onDelete: "cascade" }),
  key: text("key").notNull(),
  // sha256 of the method, route, path parameters and body (keys sorted).
  fingerprint: text("fingerprint").notNull(),
  statusCode: integer("status_code"),
  responseBody: text("response_body"),
  createdAt: createdAt(),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
}, (t) => [uniqueIndex("idempotency_keys_account_key").on(t.accountId, t.key), index("idempotency_keys_expires").on(t.expiresAt)]);

// SSH key pairs of an account, per environment (Hyperstack's model). Only public keys are kept:
// a generated key pair's private key is returned once and never stored.
export const keypairs = pgTable("keypairs", {
  id: serial("id").primaryKey(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  environmentId: integer("environment_id").notNull().references(() => environments.id),
  name: text("name").notNull(),
  publicKey: text("public_key").notNull(),
  // MD5, colon-separated hex: what Hyperstack (and OpenStack) show as a key pair's fingerprint.
  fingerprint: text("fingerprint").notNull(),
  // "SHA256:<base64>": what current OpenSSH prints.
  fingerprintSha256: text("fingerprint_sha256").notNull(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex("keypairs_account_environment_name").on(t.accountId, t.environmentId, t.name)]);

// Event callbacks (README, Event callbacks). Each account signs its callbacks with its own
// secret (HMAC-SHA256); after a rotation the previous secret also signs until previous_valid_until,
// so receivers can switch without losing events. Kept in clear: signing needs the secret itself.
export const callbackSigningSecrets = pgTable("callback_signing_secrets", {
  accountId: integer("account_id").primaryKey().references(() => accounts.id, { onDelete: "cascade" }),
  secret: text("secret").notNull(),
  previousSecret: text("previous_secret"),
  previousValidUntil: timestamp("previous_valid_until", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
  rotatedAt: timestamp("rotated_at", { withTimezone: true, mode: "date" }),
});

export type CallbackDeliveryStatus = "pending" | "delivered" | "failed" | "cancelled";

// The outbox: one row per event to POST to a VM's or a volume's callback URL, written in the transaction that
// records the event. Delivery workers claim due rows (FOR UPDATE SKIP LOCKED) under a lease, so
// two managers never send the same row at once and a restart resumes where the last one stopped.
export const callbackDeliveries = pgTable("callback_deliveries", {
  id: serial("id").primaryKey(),
  // The event's id (X-Orbit-Event-Id, and event_id in GET .../events): one delivery per event.
  eventId: text("event_id").notNull().unique(),
  eventType: text("event_type").notNull(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  // The resource it is about: a VM or a volume (exactly one).
  vmId: integer("vm_id").references(() => vms.id),
  volumeId: integer("volume_id").references((): AnyPgColumn => volumes.id),
  url: text("url").notNull(),
  // The JSON body exactly as sent (the signature covers these bytes).
  body: text("body").notNull(),
  status: text("status").notNull().$type<CallbackDeliveryStatus>().default("pending"),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, mode: "date" }).notNull(),
  leaseOwner: text("lease_owner"),
  leaseUntil: timestamp("lease_until", { withTimezone: true, mode: "date" }),
  lastStatusCode: integer("last_status_code"),
  lastError: text("last_error"),
  // Retries stop once the retry window (a setting), counted from here, is over.
  createdAt: createdAt(),
  finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
}, (t) => [
  index("callback_deliveries_due").on(t.status, t.nextAttemptAt), index("callback_deliveries_vm").on(t.vmId),
  index("callback_deliveries_volume").on(t.volumeId),
  check("callback_deliveries_one_resource", sql`(${t.vmId} is null) <> (${t.volumeId} is null)`),
]);

// Every POST of a delivery: when, to where, and what came back (a status code or an error).
export const callbackAttempts = pgTable("callback_attempts", {
  id: serial("id").primaryKey(),
  deliveryId: integer("delivery_id").notNull().references(() => callbackDeliveries.id, { onDelete: "cascade" }),
  attempt: integer("attempt").notNull(),
  url: text("url").notNull(),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
  durationMs: integer("duration_ms").notNull(),
  statusCode: integer("status_code"),
  error: text("error"),
}, (t) => [index("callback_attempts_delivery").on(t.deliveryId)]);

// One sample of a VM's usage, made from two successive counter reports of its agent (rates over
// the time between them, which is the sample's granularity). Purged past the retention setting
// vm.metrics.retention.days.
export const vmMetrics = pgTable("vm_metrics", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id, { onDelete: "cascade" }),
  at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
  granularitySeconds: integer("granularity_seconds").notNull(),
  cpuPercent: doublePrecision("cpu_percent").notNull(),
  memoryUsedBytes: bigint("memory_used_bytes", { mode: "number" }).notNull(),
  diskReadBytesPerSecond: doublePrecision("disk_read_bytes_per_second").notNull(),
  diskWriteBytesPerSecond: doublePrecision("disk_write_bytes_per_second").notNull(),
  networkInBytesPerSecond: doublePrecision("network_in_bytes_per_second").notNull(),
  networkOutBytesPerSecond: doublePrecision("network_out_bytes_per_second").notNull(),
}, (t) => [index("vm_metrics_vm_at").on(t.vmId, t.at), index("vm_metrics_at").on(t.at)]);

// Console log requests (Hyperstack's request-then-fetch pair): the id is what POST .../logs
// answers; the agent's answer (a bounded tail of the serial console) is stored when it comes.
export const vmLogRequests = pgTable("vm_log_requests", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id, { onDelete: "cascade" }),
  /** Lines asked for (the tail); null: as many as fit the byte bound. */
  lines: integer("lines"),
  // pending, succeeded, failed.
  status: text("status").notNull(),
  logs: text("logs"),
  truncated: boolean("truncated").notNull().default(false),
  error: jsonb("error").$type<{ code: string; message: string; retryable: boolean }>(),
  createdAt: createdAt(),
  completedAt: timestamp("completed_at", { withTimezone: true, mode: "date" }),
}, (t) => [index("vm_log_requests_vm").on(t.vmId), index("vm_log_requests_created").on(t.createdAt)]);

// One-time console tokens (console/console-tokens.ts): only their SHA-256 is stored. In the
// database, not a manager's memory: open-console may be answered by one manager and the WebSocket
// reach another (several managers behind a load balancer); whichever consumes it first wins.
export const consoleTokens = pgTable("console_tokens", {
  tokenHash: text("token_hash").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id, { onDelete: "cascade" }),
  vmUuid: text("vm_uuid").notNull(),
  hostId: integer("host_id").notNull(),
  createdAt: createdAt(),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
}, (t) => [index("console_tokens_vm").on(t.vmId), index("console_tokens_expires").on(t.expiresAt)]);

export type StoragePoolKind = "local" | "shared";

// Where volumes live, per cluster. `local`: a folder on each host (path relative to the agent's
// images directory, or absolute); a local volume is created on the host of the VM it is first
// attached to and stays there. `shared`: one path mounted on every host of the cluster (NFS...),
// so its volumes attach anywhere in the cluster. Capacity is the manager's bookkeeping: a volume's
// size is added to allocated_gib when it is created (refused when it would pass capacity_gib).
export const storagePools = pgTable("storage_pools", {
  id: serial("id").primaryKey(),
  name: text("name").notNull().unique(),
  clusterId: integer("cluster_id").notNull().references(() => clusters.id),
  kind: text("kind").notNull().$type<StoragePoolKind>(),
  path: text("path").notNull(),
  capacityGib: bigint("capacity_gib", { mode: "number" }).notNull(),
  allocatedGib: bigint("allocated_gib", { mode: "number" }).notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [index("storage_pools_cluster").on(t.clusterId)]);

export type VolumeStatus = "available" | "attaching" | "in-use" | "detaching" | "error";

// Volumes of an account, in one environment and one storage pool. Deleting one marks it (its
// jobs keep pointing at it) and gives its size back to the pool in the same transaction.
export const volumes = pgTable("volumes", {
  id: serial("id").primaryKey(),
  uuid: uuid("uuid").notNull().unique(),
  name: text("name").notNull(),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  environmentId: integer("environment_id").notNull().references(() => environments.id),
  poolId: integer("pool_id").notNull().references(() => storagePools.id),
  sizeGib: integer("size_gib").notNull(),
  // The image a bootable volume was created from (null: a data volume).
  imageId: integer("image_id").references(() => images.id),
  description: text("description").notNull().default(""),
  callbackUrl: text("callback_url").notNull().default(""),
  status: text("status").notNull().$type<VolumeStatus>().default("available"),
  // The disk file as the agent is told it (relative to its images directory, or absolute).
  path: text("path").notNull(),
  // The host that created its file, at its first attach (null: not created yet). A local volume
  // lives there; a shared one is reached from every host of its pool's cluster.
  hostId: integer("host_id").references(() => hosts.id),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "date" }),
}, (t) => [index("volumes_account").on(t.accountId), index("volumes_pool").on(t.poolId)]);

export type VolumeAttachmentStatus = "attaching" | "attached" | "detaching";

// A volume attached to a VM: at most one row per volume (no multi-attach). Removed when the
// detach is done (or when the VM is destroyed).
export const volumeAttachments = pgTable("volume_attachments", {
  id: serial("id").primaryKey(),
  volumeId: integer("volume_id").notNull().references(() => volumes.id).unique(),
  vmId: integer("vm_id").notNull().references(() => vms.id),
  status: text("status").notNull().$type<VolumeAttachmentStatus>(),
  // The guest device ("/dev/vdb") once attached.
  device: text("device").notNull().default(""),
  protected: boolean("protected").notNull().default(false),
  createdAt: createdAt(),
}, (t) => [index("volume_attachments_vm").on(t.vmId)]);

export type VmSnapshotState = "Creating" | "Ready" | "Reverting" | "Deleting" | "Error";

// A VM snapshot (CloudStack's VM snapshot): its disks, and with memory its running state, kept in
// the VM's qcow2 files on its host under `host_name`. The chain: each is taken on top of the
// VM's current one (parent_id; null for the first). Removed with its VM.
export const vmSnapshots = pgTable("vm_snapshots", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id, { onDelete: "cascade" }),
  accountId: integer("account_id").notNull().references(() => accounts.id),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  /** Holds the VM's memory: a revert resumes it running (else the VM is stopped after it). */
  memory: boolean("memory").notNull(),
  quiesce: boolean("quiesce").notNull().default(false),
  parentId: integer("parent_id").references((): AnyPgColumn => vmSnapshots.id, { onDelete: "set null" }),
  /** The VM's current snapshot (the parent of its next one; the one it was last reverted to). */
  current: boolean("current").notNull().default(false),
  state: text("state").notNull().$type<VmSnapshotState>(),
  /** Why it is in Error ("" otherwise). */
  error: text("error").notNull().default(""),
  /** The snapshot's name on the host (unique per VM there). */
  hostName: text("host_name").notNull(),
  /** Bytes of saved memory it holds on the host as the agent measured them at create; null until known. (Its pool count: pool_gib.) */
  sizeBytes: bigint("size_bytes", { mode: "number" }),
  /**
   * The storage pool its disk use is counted in (the VM's root disk's pool, or its boot volume's)
   * with pool_gib reserved there: the estimate from its create's acceptance, the measured size once
   * made (storage/snapshot-pool-use.ts). Null (and 0): counted nowhere (released, or no pool).
   */
  poolId: integer("pool_id").references((): AnyPgColumn => storagePools.id),
  poolGib: integer("pool_gib").notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [index("vm_snapshots_vm").on(t.vmId), index("vm_snapshots_account").on(t.accountId), uniqueIndex("vm_snapshots_vm_name").on(t.vmId, t.name)]);

export type VmMigrationState = "running" | "succeeded" | "failed" | "cancelled";

/** A migration progress sample as stored (migration/migration-progress.ts); 0: not reported. */
export interface MigrationProgressJson {
  at: string;
  elapsedMs: number;
  dataProcessedBytes: number;
  dataRemainingBytes: number;
  dataTotalBytes: number;
  dirtyRatePagesPerSec: number;
  memoryBandwidthBps: number;
  expectedDowntimeMs: number;
  iteration: number;
}

// A VM's move to another host (migration/). While it runs (state "running") its reserved vCPUs,
// memory and root disk count as used on the destination (snapshot builder, placement commits),
// and its GPUs on the destination are gpu_allocations rows of the VM with the destination's
// host_id: the VM holds capacity on both hosts. Its end moves the allocation (success) or drops
// the reservation (failure, cancel), in one transaction with the row's new state.
export const vmMigrations = pgTable("vm_migrations", {
  id: serial("id").primaryKey(),
  vmId: integer("vm_id").notNull().references(() => vms.id),
  jobId: integer("job_id").references(() => jobs.id),
  sourceHostId: integer("source_host_id").notNull().references(() => hosts.id),
  destinationHostId: integer("destination_host_id").notNull().references(() => hosts.id),
  mode: text("mode").notNull().$type<"live" | "cold">(),
  /** Disks copied with the memory (libvirt's copy-storage all). */
  storageMotion: boolean("storage_motion").notNull().default(false),
  /** The VM was running when asked (a cold migration starts it again on the destination). */
  wasRunning: boolean("was_running").notNull().default(true),
  state: text("state").notNull().$type<VmMigrationState>().default("running"),
  reservedVcpus: integer("reserved_vcpus").notNull(),
  reservedMemoryMib: bigint("reserved_memory_mib", { mode: "number" }).notNull(),
  /** The root disk's size reserved in the destination's pool when it differs from the source's (storage motion to another cluster); null: none. */
  destinationPoolId: integer("destination_pool_id").references((): AnyPgColumn => storagePools.id),
  reservedDiskGib: integer("reserved_disk_gib").notNull().default(0),
  /** The latest progress sample of the running copy. */
  progress: jsonb("progress").$type<MigrationProgressJson>(),
  cancelRequested: boolean("cancel_requested").notNull().default(false),
  /** What the destination hypervisor measured at the end (ms; null: not reported). */
  downtimeMs: integer("downtime_ms"),
  totalMs: integer("total_ms"),
  error: jsonb("error").$type<{ code: string; message: string }>(),
  createdAt: createdAt(),
  finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
}, (t) => [
  index("vm_migrations_vm").on(t.vmId),
  // One running migration per VM; the destinations' running reservations are read by every snapshot.
  uniqueIndex("vm_migrations_one_running").on(t.vmId).where(sql`state = 'running'`),
  index("vm_migrations_running_destination").on(t.destinationHostId).where(sql`state = 'running'`),
]);
