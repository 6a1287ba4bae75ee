// One interface per backend: the agent talks to libvirt (through virsh) or to the in-memory
// simulator through this, and nothing else in the agent knows which one it has. The core
// (start, stop, destroy, list) is what the manager needs to run any VM; everything else is a
// capability interface a driver may or may not have (README.md in this folder: how to add one).
import type { Duplex } from "node:stream";
import { ConflictError, OrbitError, UnsupportedError } from "#shared/errors.js";
import type { DiskSpec, DomainStatus, HostFacts, StopMode, VmSpec } from "#shared/protocol.js";
import type { SecurityRule } from "#shared/security-rules.js";

export type { DomainStatus, HostFacts, VmSpec };

/** Host facts that come from the hypervisor (CPU topology, memory, NUMA); GPUs come from GpuInventory. */
export type HypervisorHostFacts = Pick<
  HostFacts,
  | "hostUuid" | "hostname" | "hypervisor" | "cpuModel" | "cpuArch" | "sockets" | "coresPerSocket"
  | "threadsPerCore" | "cpus" | "cpuMhz" | "memoryMib" | "numaCells" | "hypervisorVersion" | "driver"
>;

export interface StopOptions {
  mode: StopMode;
  /** For ACPI modes: how long to wait for the guest before giving up (ACPI) or powering off. */
  timeoutMs: number;
}

/** A domain lifecycle event, as libvirt's `virsh event --loop` reports it. */
export interface DomainLifecycleEvent {
  vmUuid: string;
  event: string;
  detail: string;
}

/** Reboots, resets, pauses and hibernates (stop with a mode is in the core: every driver has it). */
export interface PowerCapability {
  /** ACPI reboot request; the guest decides. Running VMs only. */
  reboot(vmUuid: string): Promise<DomainStatus>;
  /** Hard reset (the reset button); no guest cooperation. Running VMs only. */
  reset(vmUuid: string): Promise<DomainStatus>;
  /** Pauses the vCPUs of a running VM (its memory stays allocated). */
  suspend(vmUuid: string): Promise<DomainStatus>;
  resume(vmUuid: string): Promise<DomainStatus>;
  /** Saves the memory to disk and stops: shut off with reason "saved". */
  hibernate(vmUuid: string): Promise<DomainStatus>;
  /** Continues a hibernated VM; ConflictError when there is no saved state. */
  restore(vmUuid: string): Promise<DomainStatus>;
}

/** vCPU and memory changes, live when running and in the definition, within the VM's maximums. */
export interface ResizeCapability {
  setVcpus(vmUuid: string, count: number): Promise<DomainStatus>;
  setMemory(vmUuid: string, memoryMib: number): Promise<DomainStatus>;
}

export interface AttachDiskOptions {
  sourcePath: string;
  /** Default "qcow2". */
  format?: string | undefined;
  /** Default "virtio". "scsi" uses the virtio-scsi controller (present when the VM has a scsi disk/cdrom). */
  bus?: "virtio" | "scsi" | undefined;
  /** Default: the next free vdX/sdX. */
  targetDev?: string | undefined;
  serial?: string | undefined;
  /** Create a qcow2 of this size first when the file does not exist. */
  createSizeGib?: number | undefined;
  /** With createSizeGib: the new qcow2 is an overlay of this base image (a bootable volume). */
  backingPath?: string | undefined;
}

/** Disks added to and removed from a defined VM (live when running, and in the definition). */
export interface DiskCapability {
  /** Returns the guest device the disk was attached as. */
  attachDisk(vmUuid: string, disk: AttachDiskOptions): Promise<string>;
  /** By target ("vdb") or source path; a running guest must release it within timeoutMs. */
  detachDisk(vmUuid: string, target: string, timeoutMs?: number): Promise<void>;
  /**
   * Creates an owned disk of a VM that is not running (or not defined yet) from its spec: a full
   * copy of `copyFromVmUuid`'s disk of the same id (that VM must not run), an overlay on
   * `backingPath`, or a blank disk. `replace` discards the disk already there first.
   */
  prepareOwnedDisk(vmUuid: string, disk: DiskSpec, opts: { replace: boolean }): Promise<void>;
  /** Removes a disk file attached to no VM (a deleted volume); one that does not exist is done already. */
  deleteDisk(sourcePath: string): Promise<void>;
  /**
   * Puts an ISO in the VM's ISO cdrom slot (replacing one that is in), or empties it: live when
   * it runs, and in the definition. Done already when the slot holds what is asked.
   */
  changeMedia(vmUuid: string, media: MediaChange): Promise<void>;
}

/** The ISO cdrom slot's new content: an ISO (absolute, or relative to the images directory), or nothing. */
export type MediaChange = { eject: true } | { eject: false; sourcePath: string };

export interface BlockStats {
  name: string;
  path: string;
  rdBytes: number;
  wrBytes: number;
  rdReqs: number;
  wrReqs: number;
  capacityBytes: number;
  allocationBytes: number;
}

export interface NetStats {
  name: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxDrops: number;
  txDrops: number;
}

/** One domain's counters; undefined where the driver or the guest does not report it. */
export interface VmStats {
  /** undefined for a domain whose uuid could not be resolved. */
  vmUuid: string | undefined;
  name: string;
  state: { powerState: PowerStateValue; reason: string } | undefined;
  cpuTimeNs: number | undefined;
  vcpuCurrent: number | undefined;
  vcpuMaximum: number | undefined;
  balloon: {
    currentKib: number | undefined;
    maximumKib: number | undefined;
    /** Guest-reported (balloon driver in the guest): what it could use, and what of that is unused. */
    availableKib?: number | undefined;
    unusedKib?: number | undefined;
  };
  blocks: BlockStats[];
  nets: NetStats[];
}
type PowerStateValue = DomainStatus["powerState"];

export interface StatsCapability {
  /** Counters of one VM, or of every domain when vmUuid is omitted. */
  domainStats(vmUuid?: string): Promise<VmStats[]>;
}

/** A bounded tail of the serial console output. */
export interface ConsoleLogTail {
  text: string;
  /** Older output was left out to stay within maxBytes. */
  truncated: boolean;
}

/**
 * An interactive attachment to a VM's serial console: what is written goes to the guest, what
 * the guest prints is read. It ends (the stream closes) when the VM stops; destroy() detaches.
 */
export type ConsoleStream = Duplex;

/** What the guest printed on its serial console (kept by the host across the VM's boots), and a live attachment to it. */
export interface ConsoleCapability {
  /** The last maxBytes bytes at most ("" when the VM printed nothing yet); NotFoundError for an unknown VM. */
  consoleLog(vmUuid: string, maxBytes: number): Promise<ConsoleLogTail>;
  /** Attaches to the serial console of a running VM (ConflictError naming the state otherwise; NotFoundError for an unknown VM). */
  openConsole(vmUuid: string): Promise<ConsoleStream>;
}

/** A VM's firewall as checked (network/firewall-spec.ts): its allow rules and its addresses. */
export interface VmFirewall {
  rules: SecurityRule[];
  /** The VM's address; undefined: the rules apply on its tap by interface alone. */
  privateIp?: string | undefined;
  /** Public IPv4 NATed to privateIp. */
  floatingIp?: string | undefined;
}

/** Security rules and floating-IP NAT enforced on the host (nftables on the VM's tap). */
export interface FirewallCapability {
  /** Replaces the VM's firewall whole; the VM need not be running (its tap name is known ahead). */
  applyFirewall(vmUuid: string, firewall: VmFirewall): Promise<void>;
  /** Removes the VM's firewall and NAT; a VM without one is left alone. */
  removeFirewall(vmUuid: string): Promise<void>;
}

export interface CreateSnapshotOptions {
  name: string;
  description?: string | undefined;
  /**
   * Include the running VM's memory and device state: a revert resumes it running. Without it, a
   * running VM's snapshot is still taken as a whole checkpoint (libvirt 9.0 has no live disk-only
   * internal snapshot) but its revert leaves the VM shut off with the disks as they were then
   * (crash-consistent, as if the power had been cut at that instant). A stopped VM's snapshot has
   * no memory: asking for it is an InvalidArgumentError.
   */
  memory: boolean;
  /**
   * Freeze a running guest's filesystems through its guest agent around the snapshot: ConflictError
   * when it has no guest agent channel, InvalidArgumentError with memory (the saved guest would be
   * frozen). Ignored for a stopped VM (its disks are consistent).
   */
  quiesce: boolean;
  /** Give up (abort and delete what was made) after this long: DeadlineExceededError. */
  timeoutMs: number;
}

/** A snapshot as the host has it. */
export interface SnapshotInfo {
  name: string;
  /** "" for the first of the chain. */
  parent: string;
  /** The domain's state when it was taken ("running", "shutoff"). */
  state: string;
  /** Holds memory and device state: a revert resumes the VM running. */
  memory: boolean;
  createdAtMs: number;
  /** Bytes of saved memory (vmstate) the snapshot holds in the VM's disks, 0 when unknown or none. */
  sizeBytes: number;
  /**
   * Bytes the VM's disk files grew by while this snapshot was made (at least its vmstate): what
   * its storage pool counts for it. Set by the createSnapshot that made it, 0 otherwise.
   */
  createdBytes: number;
}

/** A snapshot not made within its time: aborted and removed. Final (a retry would only take as long again). */
export class SnapshotTimeoutError extends OrbitError {
  constructor(vmUuid: string, name: string, timeoutMs: number) {
    super("deadline_exceeded", `snapshot ${name} of VM ${vmUuid} did not finish within ${timeoutMs} ms: it was aborted and nothing of it was kept`, {
      retryable: false, details: { snapshot: name, timeout_ms: timeoutMs },
    });
  }
}

/**
 * Snapshots of a VM's disks and (optionally) running state, kept inside the VM's qcow2 files on
 * its host. A snapshot's name is unique per VM. A revert restores the disks, and the running
 * state for a memory snapshot (the VM runs after it; otherwise it is shut off).
 */
export interface SnapshotCapability {
  /** Done already when a snapshot of that name exists (a retried command). */
  createSnapshot(vmUuid: string, opts: CreateSnapshotOptions): Promise<SnapshotInfo>;
  /**
   * NotFoundError for an unknown snapshot. `shutOff`: leave the VM shut off even when the
   * snapshot holds memory (one taken with `memory: false` of a running VM).
   */
  revertSnapshot(vmUuid: string, name: string, opts?: { shutOff?: boolean }): Promise<DomainStatus>;
  /** A snapshot that does not exist is deleted already. */
  deleteSnapshot(vmUuid: string, name: string): Promise<void>;
  /** Oldest first. */
  listSnapshots(vmUuid: string): Promise<SnapshotInfo[]>;
}

/** Where storage goes in a live migration: nowhere (shared storage), or every disk copied to the destination. */
export type MigrationStorageCopy = "none" | "all";

/** One sample of a running migration's job (libvirt's domjobinfo); undefined where not reported. */
export interface MigrationProgress {
  elapsedMs: number | undefined;
  dataProcessedBytes: number | undefined;
  dataRemainingBytes: number | undefined;
  dataTotalBytes: number | undefined;
  /** Pages the guest dirties per second (the reason a migration may not converge). */
  dirtyRatePagesPerSec: number | undefined;
  /** Bytes per second sent. */
  memoryBandwidthBps: number | undefined;
  /** QEMU's estimate of the pause at the switch-over, for the dirty memory left now. */
  expectedDowntimeMs: number | undefined;
  /** Pre-copy pass number. */
  iteration: number | undefined;
}

export interface MigrateVmOptions {
  /** The destination host's hypervisor, as its agent's driver knows it: a libvirt URI ("qemu+tcp://B/system") for libvirt. */
  destinationUri: string;
  /** Where the memory stream goes (libvirt's --migrateuri, e.g. "tcp://10.0.0.2"); default: the hypervisor's choice from the destination's hostname. */
  migrateUri?: string | undefined;
  /** A running VM keeps running while its memory is copied; false: paused for the whole copy. */
  live: boolean;
  /** Default "none": the disks are on storage both hosts see. */
  copyStorage?: MigrationStorageCopy | undefined;
  /** The longest pause QEMU may take at the switch-over (vm.migrate.downtime). */
  maxDowntimeMs?: number | undefined;
  /**
   * Skip libvirt's check that the disks are safe to migrate (on storage it knows as shared, with
   * cache=none): for disks on a path both hosts see that libvirt cannot tell is shared.
   */
  allowUnsafe?: boolean | undefined;
  /** Bandwidth cap of the memory (and disk) stream, MiB/s; default: none. */
  maxBandwidthMibps?: number | undefined;
  /** Throttle the guest's vCPUs when the copy does not converge. */
  autoConverge?: boolean | undefined;
  /** Past this the migration is aborted (the VM stays on the source): MigrationTimeoutError. */
  timeoutMs: number;
  /** Called with each sample while the migration runs. */
  onProgress?: ((p: MigrationProgress) => void) | undefined;
  /** How often progress is sampled. Default 500 ms. */
  progressIntervalMs?: number | undefined;
}

/** What a finished migration took, as the hypervisor measured it where it could. */
export interface MigrationResult {
  /** Wall time of the whole migration, as the agent saw it. */
  totalMs: number;
  /** The guest's pause at the switch-over, as libvirt measured it; undefined when not reported. */
  downtimeMs: number | undefined;
  /** The migration job's own duration (libvirt's time elapsed); undefined when not reported. */
  jobMs: number | undefined;
  /** Bytes sent (memory, and disks when copied); undefined when not reported. */
  dataBytes: number | undefined;
  /** Progress samples seen. */
  progressSamples: number;
}

/** Why a VM cannot be live-migrated (snapshots, a passthrough GPU, an unmanaged domain...). Final. */
export class MigrationRefusedError extends ConflictError {
  constructor(vmUuid: string, readonly reason: MigrationRefusal, message: string) {
    super(`VM ${vmUuid} cannot be migrated: ${message}`, reason, { reason });
  }
}
export type MigrationRefusal = "has_snapshots" | "unmanaged" | "not_running" | "gpu_passthrough" | "vgpu" | "same_host" | "migrating";

/** A migration not done within its time: aborted, the VM stays on the source. Final. */
export class MigrationTimeoutError extends OrbitError {
  constructor(vmUuid: string, timeoutMs: number) {
    super("deadline_exceeded", `migration of VM ${vmUuid} did not finish within ${timeoutMs} ms: it was aborted and the VM stays on the source`, {
      retryable: false, details: { timeout_ms: timeoutMs },
    });
  }
}

/** A migration stopped by cancelMigration: the VM stays on the source. */
export class MigrationCancelledError extends ConflictError {
  constructor(vmUuid: string) {
    super(`migration of VM ${vmUuid} was cancelled: the VM stays on the source`, "migration_cancelled");
  }
}

/**
 * Moves a domain to another host of the same hypervisor kind. The VM must be managed by Orbit,
 * running (or paused) and without snapshots; on success it is defined and running on the
 * destination and gone from this host; on any failure it is still here, as it was.
 */
export interface MigrationCapability {
  /**
   * On the destination, before a migration to it: what the domain needs here that the migration
   * does not bring (its NICs' bridges, with their gateways; for disks local to the source, which a
   * storage-motion migration copies, the files it copies into and the read-only images it does not
   * copy). Idempotent. The firewall is applied separately (FirewallCapability: the tap's name is
   * known ahead).
   */
  prepareIncomingMigration(spec: VmSpec): Promise<void>;
  /** NotFoundError for an unknown VM; MigrationRefusedError for one that cannot move. */
  migrateVm(vmUuid: string, opts: MigrateVmOptions): Promise<MigrationResult>;
  /** Aborts the VM's running migration (its migrateVm rejects with MigrationCancelledError); false when none runs. */
  cancelMigration(vmUuid: string): Promise<boolean>;
}

/** Every optional capability, by the name hosts report it under (HostFacts.capabilities). */
export interface Capabilities {
  power: PowerCapability;
  resize: ResizeCapability;
  disks: DiskCapability;
  stats: StatsCapability;
  console: ConsoleCapability;
  firewall: FirewallCapability;
  snapshots: SnapshotCapability;
  migration: MigrationCapability;
}
export type CapabilityName = keyof Capabilities;
export const CAPABILITY_NAMES: readonly CapabilityName[] = ["power", "resize", "disks", "stats", "console", "firewall", "snapshots", "migration"];

/** A command needs a capability this host's driver does not have. Code "unsupported", final. */
export class CapabilityUnsupportedError extends UnsupportedError {
  constructor(readonly capability: CapabilityName, driver: string, operation: string) {
    super(`${operation} needs the "${capability}" capability, which this host's ${driver} driver does not have`);
    Object.assign(this.details, { capability, driver, operation });
  }
}

/** The names of the capabilities a driver has, in a stable order. */
export function capabilityNames(hv: Pick<Hypervisor, CapabilityName>): CapabilityName[] {
  return CAPABILITY_NAMES.filter((c) => hv[c] !== undefined);
}

/** The capability, or CapabilityUnsupportedError naming the operation that needed it. */
export function requireCapability<C extends CapabilityName>(hv: Hypervisor, capability: C, operation: string): Capabilities[C] {
  const c = hv[capability] as Capabilities[C] | undefined;
  if (!c) throw new CapabilityUnsupportedError(capability, hv.kind, operation);
  return c;
}

/** The optional capabilities: a driver declares one by having it (undefined: it lacks it). */
export type DeclaredCapabilities = { readonly [C in CapabilityName]?: Capabilities[C] | undefined };

export interface Hypervisor extends DeclaredCapabilities {
  readonly kind: "libvirt" | "simulator";
  hostFacts(): Promise<HypervisorHostFacts>;
  freeMemoryMib(): Promise<number>;
  /** Every domain on the host, managed by Orbit or not. */
  listDomains(): Promise<DomainStatus[]>;
  /** Defines (if needed) and starts the domain. Idempotent: starting a running VM succeeds. */
  startVm(spec: VmSpec): Promise<DomainStatus>;
  stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus>;
  /** Powers off if needed and undefines; removes the disks the VM owns when asked. Idempotent. */
  destroyVm(vmUuid: string, opts: { removeOwnedDisks: boolean }): Promise<void>;
  /** The mdev UUIDs (vGPUs) the domain's definition uses; [] when none or no such domain. */
  attachedMdevs?(vmUuid: string): Promise<string[]>;
  /** Subscribe to lifecycle events; returns an unsubscribe function. */
  onDomainEvent(listener: (e: DomainLifecycleEvent) => void): () => void;
  close(): Promise<void>;
}
