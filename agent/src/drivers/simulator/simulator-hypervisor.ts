// A simulated hypervisor, like CloudStack's simulator: a whole fleet runs on one machine.
// It keeps the rules a real host enforces (memory runs out, names are unique, a missing
// domain is an error) so the manager meets the same failures it would meet on libvirt.
// In memory, or with a state dir its domains outlive the process, as a real host's do.
import { randomUUID } from "node:crypto";
import { ConflictError, HypervisorError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { PowerState, StopMode, VmSpec, type DiskSpec, type DomainStatus, type NumaCell } from "#shared/protocol.js";
import {
  CAPABILITY_NAMES, type AttachDiskOptions, type MediaChange, type CapabilityName, type DiskCapability, type DomainLifecycleEvent, type Hypervisor,
  type HypervisorHostFacts, type PowerCapability, type ResizeCapability, type StatsCapability, type StopOptions, type VmStats,
  type ConsoleCapability, type ConsoleLogTail, type FirewallCapability, type VmFirewall,
  type CreateSnapshotOptions, type SnapshotCapability, type SnapshotInfo, SnapshotTimeoutError,
  type MigrateVmOptions, type MigrationCapability, type MigrationResult, MigrationCancelledError, MigrationRefusedError, MigrationTimeoutError,
} from "../hypervisor.js";
import type { SimulatedMigrationNetwork } from "./simulated-migration-network.js";
import { SimulatedConsole } from "./simulated-console.js";
import { SimulatorStateFile, type SimulatedDisk, type SimulatedDomain, type SimulatedOwnedDisk } from "./simulator-state-file.js";

export interface SimulatorOptions {
  hostUuid: string;
  hostname: string;
  cpus: number;
  memoryMib: number;
  numaCells?: number;
  startDelayMs?: number;
  /** Test hook: a reason to fail starting this spec, or undefined to start it. */
  failStart?: (spec: VmSpec) => string | undefined;
  /** Where the domains are kept across restarts (simulator-domains.json); in memory when absent. */
  stateDir?: string | undefined;
  /** The optional capabilities this host's driver has (default: all), to simulate a driver that lacks some. */
  capabilities?: readonly CapabilityName[] | undefined;
  /**
   * Live migration between simulators of one process: this host joins `network` under `uri`
   * (what other hosts' migrateVm names as destinationUri). Without it the driver has no
   * `migration` capability (it could reach no other host).
   */
  migration?: { network: SimulatedMigrationNetwork; uri: string } | undefined;
}

const GIB = 1024 ** 3;
/** Memory a domain holds on the host: running or paused (a paused guest keeps its RAM). */
const HOLDS_MEMORY = new Set([PowerState.POWER_STATE_RUNNING, PowerState.POWER_STATE_PAUSED]);

function letters(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : letters(Math.floor(i / 26) - 1) + String.fromCharCode(97 + (i % 26));
}

function splitCells(cpus: number, memoryMib: number, cells: number): NumaCell[] {
  const per = Math.floor(cpus / cells);
  return Array.from({ length: cells }, (_, i) => ({
    id: i,
    cpus: Array.from({ length: i === cells - 1 ? cpus - per * (cells - 1) : per }, (_, k) => i * per + k),
    memoryMib: Math.floor(memoryMib / cells),
  }));
}

/** The share of each vCPU a simulated guest keeps busy, so CPU usage reads as a plausible 25 %. */
const SIM_CPU_LOAD = 0.25;
/** Simulated I/O per second of CPU time: disk read/write and network in/out, in bytes. */
const SIM_IO_PER_CPU_SECOND = { read: 256 * 1024, write: 128 * 1024, rx: 64 * 1024, tx: 16 * 1024 };

/** What a small cloud image prints on its serial console while it boots. */
function simulatedBootLines(d: SimulatedDomain): string[] {
  return [
    "[    0.000000] Linux version 6.1.0-orbit-sim (simulated kernel)",
    `[    0.000000] Command line: console=ttyS0 root=/dev/vda1`,
    `[    0.010000] Memory: ${d.spec.memoryMib * 1024}K available`,
    `[    0.020000] smpboot: Allowing ${d.spec.vcpus} CPUs`,
    "[    1.200000] EXT4-fs (vda1): mounted filesystem with ordered data mode",
    "[    2.400000] cloud-init[312]: Cloud-init v. 23.1 running 'init' (simulated)",
    `[    3.100000] cloud-init[312]: hostname set to ${d.spec.name}`,
    "[    4.000000] cloud-init[540]: Cloud-init v. 23.1 finished (simulated)",
    "",
    `${d.spec.name} login: `,
  ];
}

/** A simulated snapshot: its info, and what a revert brings back (the power state, the owned disks' contents). */
interface SimulatedSnapshot {
  info: SnapshotInfo;
  state: PowerState;
  disks: Map<string, SimulatedOwnedDisk>;
}

/**
 * A domain's name as its last start defined it: the manager's choice (VmSpec.domain_name, setting
 * vm.instancename.flag), else the VM's name (a manager that predates it; the simulator's own form).
 */
function simulatedDomainName(spec: VmSpec): string {
  return spec.domainName || spec.name;
}

export class SimulatorHypervisor implements Hypervisor, PowerCapability, ResizeCapability, DiskCapability, StatsCapability, ConsoleCapability, FirewallCapability, SnapshotCapability, MigrationCapability {
  readonly kind = "simulator" as const;
  readonly power: PowerCapability | undefined;
  readonly resize: ResizeCapability | undefined;
  readonly disks: DiskCapability | undefined;
  readonly stats: StatsCapability | undefined;
  readonly console: ConsoleCapability | undefined;
  readonly firewall: FirewallCapability | undefined;
  readonly snapshots: SnapshotCapability | undefined;
  readonly migration: MigrationCapability | undefined;
  /**
   * Test hook: how long a migration's copy takes (progress is reported in 10 steps over it); a
   * cancel or the timeout during it aborts the migration.
   */
  migrationDurationMs = 0;
  /** Test hook: what the last migrateVm from this host was asked (its options, without the progress callback). */
  lastMigration: Omit<MigrateVmOptions, "onProgress"> | undefined;
  /** Test hook: the next migration from this host fails at the switch-over with this message (the VM stays here, running). */
  failNextMigration: string | undefined;
  /** Migrations running from this host, by VM: their abort. */
  private readonly outgoing = new Map<string, { cancel: () => void }>();
  private readonly leaveMigrationNetwork: (() => void) | undefined;
  /**
   * Each domain's snapshots, oldest first. In memory only (not in the state file): a simulator
   * restarted with a state dir has its domains but no snapshots.
   */
  private readonly snapshotsOf = new Map<string, SimulatedSnapshot[]>();
  /** Test hook: how long a snapshot takes (a create slower than its timeout fails and leaves nothing). */
  snapshotDelayMs = 0;
  /** The firewall applied for each VM (in memory: a real host's nft ruleset is not in the domain). */
  private readonly firewalls = new Map<string, VmFirewall>();
  /** Boots of each domain since this simulator started (each prints its boot lines to the console). */
  private readonly bridges = new Set<string>();
  private readonly boots = new Map<string, number>();
  private readonly domains: Map<string, SimulatedDomain>;
  /** CPU time of each domain: what it ran before, and since when it runs now (not persisted, like a real counter). */
  private readonly cpuClock = new Map<string, { ns: number; since: number | undefined }>();
  private readonly stateFile: SimulatorStateFile | undefined;
  private readonly listeners = new Set<(e: DomainLifecycleEvent) => void>();
  /**
   * The owned disks the simulator made, by "<vm uuid>/<disk id>": what each was made from and a
   * content token (a copy has its source's, a new disk a new one), so tests can tell a copy from
   * a fresh disk. In memory only: a disk not recorded is taken as the first one its spec makes.
   */
  readonly ownedDisks = new Map<string, SimulatedOwnedDisk>();
  /** Open console sessions per domain: they end when it stops running. */
  private readonly consoles = new Map<string, Set<SimulatedConsole>>();
  /** How many times each operation really ran (tests check commands are not executed twice). */
  readonly calls = { start: 0, stop: 0, destroy: 0 };
  /** The disk files attachDisk created (createSizeGib) and deleteDisk has not removed, with their base image ("" for none). */
  readonly diskFiles = new Map<string, { backingPath: string }>();

  constructor(private readonly o: SimulatorOptions) {
    const has = new Set(o.capabilities ?? CAPABILITY_NAMES);
    this.power = has.has("power") ? this : undefined;
    this.resize = has.has("resize") ? this : undefined;
    this.disks = has.has("disks") ? this : undefined;
    this.stats = has.has("stats") ? this : undefined;
    this.console = has.has("console") ? this : undefined;
    this.firewall = has.has("firewall") ? this : undefined;
    this.snapshots = has.has("snapshots") ? this : undefined;
    this.migration = has.has("migration") && o.migration ? this : undefined;
    this.leaveMigrationNetwork = this.migration ? o.migration!.network.register(o.migration!.uri, this) : undefined;
    this.stateFile = o.stateDir ? new SimulatorStateFile(o.stateDir) : undefined;
    const saved = this.stateFile?.load();
    if (saved && saved.hostUuid !== o.hostUuid) {
      throw new HypervisorError(`simulator state ${this.stateFile!.file} belongs to host ${saved.hostUuid}, not ${o.hostUuid}`);
    }
    this.domains = saved?.domains ?? new Map();
    // Written at once, so the host's UUID is on disk before anything is reported under it.
    if (this.stateFile && !saved) this.stateFile.save({ hostUuid: o.hostUuid, domains: this.domains });
  }

  /**
   * The one way domains change: the new state is written first, so what the manager is told
   * never runs ahead of what a restart would find. A failed write changes nothing.
   */
  private commit(uuid: string, next: SimulatedDomain | undefined): void {
    if (this.stateFile) {
      const after = new Map(this.domains);
      if (next) after.set(uuid, next);
      else after.delete(uuid);
      this.stateFile.save({ hostUuid: this.o.hostUuid, domains: after });
    }
    if (next) this.domains.set(uuid, next);
    else this.domains.delete(uuid);
    this.tickCpuClock(uuid, next);
    if (next?.state !== PowerState.POWER_STATE_RUNNING) this.hangUpConsoles(uuid);
  }

  private hangUpConsoles(uuid: string): void {
    const open = this.consoles.get(uuid);
    this.consoles.delete(uuid);
    for (const c of open ?? []) c.hangUp();
  }

  private tickCpuClock(uuid: string, d: SimulatedDomain | undefined): void {
    const now = Date.now();
    const c = this.cpuClock.get(uuid) ?? { ns: 0, since: undefined };
    if (c.since !== undefined) c.ns += (now - c.since) * 1e6 * SIM_CPU_LOAD * Math.max(1, this.domains.get(uuid)?.spec.vcpus ?? 1);
    const running = d?.state === PowerState.POWER_STATE_RUNNING;
    if (running && c.since === undefined) this.boots.set(uuid, (this.boots.get(uuid) ?? 0) + 1);
    if (!d) this.boots.delete(uuid);
    c.since = running ? now : undefined;
    if (d) this.cpuClock.set(uuid, c);
    else this.cpuClock.delete(uuid);
  }

  async hostFacts(): Promise<HypervisorHostFacts> {
    const cells = this.o.numaCells ?? 1;
    return {
      hostUuid: this.o.hostUuid,
      hostname: this.o.hostname,
      hypervisor: "simulator",
      driver: "simulator",
      cpuModel: "Simulated x86_64",
      cpuArch: "x86_64",
      sockets: cells,
      coresPerSocket: Math.max(1, Math.floor(this.o.cpus / cells / 2)),
      threadsPerCore: this.o.cpus >= 2 * cells ? 2 : 1,
      cpus: this.o.cpus,
      cpuMhz: 2400,
      memoryMib: this.o.memoryMib,
      numaCells: splitCells(this.o.cpus, this.o.memoryMib, cells),
      hypervisorVersion: "simulator",
    };
  }

  private usedMemoryMib(): number {
    let used = 0;
    for (const d of this.domains.values()) if (HOLDS_MEMORY.has(d.state)) used += d.spec.memoryMib;
    return used;
  }

  async freeMemoryMib(): Promise<number> {
    return this.freeMemoryMibNow();
  }

  async listDomains(): Promise<DomainStatus[]> {
    return this.listDomainsNow();
  }

  /** freeMemoryMib without the promise (orbit-sim's heartbeats: thousands a second). */
  freeMemoryMibNow(): number {
    return Math.max(0, this.o.memoryMib - this.usedMemoryMib());
  }

  /** listDomains without the promise (orbit-sim's heartbeats: thousands a second). */
  listDomainsNow(): DomainStatus[] {
    const out: DomainStatus[] = [];
    for (const [uuid, d] of this.domains) out.push(this.status(uuid, d));
    return out;
  }

  private status(uuid: string, d: SimulatedDomain): DomainStatus {
    return { vmUuid: uuid, name: simulatedDomainName(d.spec), powerState: d.state, reason: d.reason, managed: d.managed };
  }

  private emit(vmUuid: string, event: string, detail: string): void {
    for (const l of this.listeners) l({ vmUuid, event, detail });
  }

  async startVm(spec: VmSpec): Promise<DomainStatus> {
    this.calls.start++;
    const uuid = spec.vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (d?.state === PowerState.POWER_STATE_RUNNING) return this.status(uuid, d);
    if (spec.memoryMib > this.o.memoryMib - this.usedMemoryMib()) {
      throw new HypervisorError(`cannot start ${spec.name}: ${spec.memoryMib} MiB requested, ${this.o.memoryMib - this.usedMemoryMib()} MiB free`, {
        virshError: "internal error: process exited while connecting to monitor: cannot allocate memory",
      });
    }
    // A paused domain is already started (as libvirt's start refuses an active domain).
    if (d?.state === PowerState.POWER_STATE_PAUSED) return this.status(uuid, d);
    // A hibernated domain continues from its saved memory, with the definition it was saved with.
    if (d?.managedSave) return this.restoreSaved(uuid, d);
    this.plugNics(spec);
    const failure = this.o.failStart?.(spec);
    if (this.o.startDelayMs) await new Promise((r) => setTimeout(r, this.o.startDelayMs));
    if (failure) throw new HypervisorError(failure, { virshError: failure });
    // Owned disks not made yet are made as the libvirt driver makes them (a copy, an overlay, blank).
    for (const disk of spec.disks) {
      if (disk.owned && disk.device !== "cdrom" && !this.ownedDisks.has(`${uuid}/${disk.id || "disk0"}`)) {
        await this.prepareOwnedDisk(uuid, disk, { replace: false });
      }
      // A bootable volume first used as a boot disk: its file made as the libvirt driver makes it (kept on destroy).
      if (!disk.owned && disk.device !== "cdrom" && disk.backingPath && !this.diskFiles.has(disk.sourcePath)) {
        this.diskFiles.set(disk.sourcePath, { backingPath: disk.backingPath });
      }
    }
    // Defined anew from the spec, as the libvirt driver does: disks attached since the last
    // start and resizes of a stopped VM are not in it (the manager's spec is the definition).
    const started: SimulatedDomain = { spec, state: PowerState.POWER_STATE_RUNNING, reason: "booted", managed: d?.managed ?? true };
    this.commit(uuid, started);
    this.emit(uuid, "started", "booted");
    return this.status(uuid, started);
  }

  async stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus> {
    this.calls.stop++;
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    if (d.state === PowerState.POWER_STATE_SHUTOFF) return this.status(uuid, d);
    const stopped: SimulatedDomain = {
      ...d, state: PowerState.POWER_STATE_SHUTOFF, reason: opts.mode === StopMode.STOP_MODE_FORCE ? "destroyed" : "shutdown",
    };
    this.commit(uuid, stopped);
    this.emit(uuid, "stopped", stopped.reason);
    return this.status(uuid, stopped);
  }

  async destroyVm(vmUuid: string): Promise<void> {
    this.calls.destroy++;
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) return;
    this.commit(uuid, undefined);
    this.snapshotsOf.delete(uuid);
    for (const k of [...this.ownedDisks.keys()]) if (k.startsWith(`${uuid}/`)) this.ownedDisks.delete(k);
    if (d.state !== PowerState.POWER_STATE_SHUTOFF) this.emit(uuid, "stopped", "destroyed");
    this.emit(uuid, "undefined", "removed");
  }

  onDomainEvent(listener: (e: DomainLifecycleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    for (const uuid of [...this.consoles.keys()]) this.hangUpConsoles(uuid);
    this.leaveMigrationNetwork?.();
  }

  // ---- capability "power"

  async reboot(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.expectState(uuid, "reboot", [PowerState.POWER_STATE_RUNNING]);
    // The guest reboots inside the same domain: still running, no lifecycle event (as libvirt).
    const rebooted: SimulatedDomain = { ...d, reason: "booted" };
    this.commit(uuid, rebooted);
    return this.status(uuid, rebooted);
  }

  async reset(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.expectState(uuid, "reset", [PowerState.POWER_STATE_RUNNING]);
    return this.status(uuid, d);
  }

  async suspend(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.expectState(uuid, "suspend", [PowerState.POWER_STATE_RUNNING, PowerState.POWER_STATE_PAUSED]);
    if (d.state === PowerState.POWER_STATE_PAUSED) return this.status(uuid, d);
    const paused: SimulatedDomain = { ...d, state: PowerState.POWER_STATE_PAUSED, reason: "user" };
    this.commit(uuid, paused);
    this.emit(uuid, "suspended", "paused");
    return this.status(uuid, paused);
  }

  async resume(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.expectState(uuid, "resume", [PowerState.POWER_STATE_PAUSED, PowerState.POWER_STATE_RUNNING]);
    if (d.state === PowerState.POWER_STATE_RUNNING) return this.status(uuid, d);
    const resumed: SimulatedDomain = { ...d, state: PowerState.POWER_STATE_RUNNING, reason: "unpaused" };
    this.commit(uuid, resumed);
    this.emit(uuid, "resumed", "unpaused");
    return this.status(uuid, resumed);
  }

  async hibernate(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.expectState(uuid, "hibernate", [PowerState.POWER_STATE_RUNNING, PowerState.POWER_STATE_PAUSED]);
    const saved: SimulatedDomain = { ...d, state: PowerState.POWER_STATE_SHUTOFF, reason: "saved", managedSave: true };
    this.commit(uuid, saved);
    this.emit(uuid, "stopped", "saved");
    return this.status(uuid, saved);
  }

  async restore(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    if (!d.managedSave) throw new ConflictError(`VM ${uuid} has no hibernation (managed save) image`, "no_managed_save");
    return this.restoreSaved(uuid, d);
  }

  private restoreSaved(uuid: string, d: SimulatedDomain): DomainStatus {
    const free = this.o.memoryMib - this.usedMemoryMib();
    if (d.spec.memoryMib > free) {
      throw new HypervisorError(`cannot restore ${d.spec.name}: ${d.spec.memoryMib} MiB needed, ${free} MiB free`, {
        virshError: "internal error: process exited while connecting to monitor: cannot allocate memory",
      });
    }
    const restored: SimulatedDomain = { ...d, state: PowerState.POWER_STATE_RUNNING, reason: "restored", managedSave: false };
    this.commit(uuid, restored);
    this.emit(uuid, "started", "restored");
    return this.status(uuid, restored);
  }

  // ---- capability "resize"

  async setVcpus(vmUuid: string, count: number): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    const max = d.spec.maxVcpus || d.spec.vcpus;
    if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError("vcpus", "vCPU count must be a positive integer");
    if (count > max) throw new InvalidArgumentError("vcpus", `VM ${uuid} can have at most ${max} vCPUs (its maximum); ${count} asked`, { maximum: max });
    if (count > this.o.cpus) throw new InvalidArgumentError("vcpus", `host has ${this.o.cpus} CPUs; ${count} vCPUs asked`);
    const resized: SimulatedDomain = { ...d, spec: { ...d.spec, vcpus: count } };
    this.commit(uuid, resized);
    return this.status(uuid, resized);
  }

  async setMemory(vmUuid: string, memoryMib: number): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    const max = d.spec.maxMemoryMib || d.spec.memoryMib;
    if (!Number.isInteger(memoryMib) || memoryMib < 1) throw new InvalidArgumentError("memoryMib", "memory must be a positive integer");
    if (memoryMib > max) {
      throw new InvalidArgumentError("memoryMib", `VM ${uuid} can have at most ${max} MiB (its maximum); ${memoryMib} MiB asked`, { maximum: max });
    }
    if (HOLDS_MEMORY.has(d.state)) {
      const free = this.o.memoryMib - this.usedMemoryMib();
      if (memoryMib - d.spec.memoryMib > free) {
        throw new HypervisorError(`cannot grow ${d.spec.name} to ${memoryMib} MiB: ${free} MiB free on the host`, { virshError: "cannot allocate memory" });
      }
    }
    const resized: SimulatedDomain = { ...d, spec: { ...d.spec, memoryMib } };
    this.commit(uuid, resized);
    return this.status(uuid, resized);
  }

  // ---- capability "disks"

  async prepareOwnedDisk(vmUuid: string, disk: DiskSpec, opts: { replace: boolean }): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    const id = disk.id || "disk0";
    const d = this.domains.get(uuid);
    if (d && d.state !== PowerState.POWER_STATE_SHUTOFF) {
      throw new ConflictError(`VM ${uuid} is ${PowerState[d.state]}: its disk cannot be replaced while it runs`, PowerState[d.state]);
    }
    if (d?.managedSave) throw new ConflictError(`VM ${uuid} is hibernated: its saved memory belongs to the disk it has`, "managed_save");
    if (!opts.replace && this.ownedDiskOf(uuid, id)) return;
    let made: SimulatedOwnedDisk;
    if (disk.copyFromVmUuid) {
      const source = disk.copyFromVmUuid.toLowerCase();
      const s = this.domains.get(source);
      if (s && s.state !== PowerState.POWER_STATE_SHUTOFF) {
        throw new ConflictError(`VM ${source} is ${PowerState[s.state]}: its disk cannot be copied consistently while it runs`, PowerState[s.state]);
      }
      const from = this.ownedDiskOf(source, id);
      if (!from) throw new NotFoundError("disk", `${source}/${id}`, `VM ${source} has no disk ${id} on this host`);
      made = { origin: "copy", from: `${source}/${id}`, content: from.content };
    } else {
      made = disk.backingPath ? { origin: "overlay", from: disk.backingPath, content: randomUUID() } : { origin: "blank", from: "", content: randomUUID() };
    }
    this.ownedDisks.set(`${uuid}/${id}`, made);
  }

  /** A VM's owned disk: as recorded, else the overlay its definition's spec made (started before this process). */
  ownedDiskOf(vmUuid: string, id: string): SimulatedOwnedDisk | undefined {
    const uuid = vmUuid.toLowerCase();
    const recorded = this.ownedDisks.get(`${uuid}/${id}`);
    if (recorded) return recorded;
    const spec = this.domains.get(uuid)?.spec.disks.find((x) => (x.id || "disk0") === id && x.owned);
    return spec ? { origin: spec.backingPath ? "overlay" : "blank", from: spec.backingPath, content: `${uuid}/${id}` } : undefined;
  }

  /** The disks of a domain as a guest sees them: the definition's (virtio: vdX, others sdX), then attached ones. */
  private diskList(d: SimulatedDomain): SimulatedDisk[] {
    const out: SimulatedDisk[] = [];
    let vd = 0;
    let sd = 0;
    for (const disk of d.spec.disks) {
      const virtio = disk.device !== "cdrom" && (disk.bus || "virtio") === "virtio";
      out.push({
        targetDev: virtio ? `vd${letters(vd++)}` : `sd${letters(sd++)}`,
        sourcePath: disk.sourcePath || `${disk.id || `disk${out.length}`}.${disk.format || "qcow2"}`,
        format: disk.format || "qcow2", bus: virtio ? "virtio" : "scsi", serial: "", sizeGib: disk.sizeGib,
      });
    }
    return [...out, ...(d.attachedDisks ?? [])];
  }

  async attachDisk(vmUuid: string, disk: AttachDiskOptions): Promise<string> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    if (!disk.sourcePath) throw new InvalidArgumentError("sourcePath", "a disk needs a source path");
    const bus = disk.bus ?? "virtio";
    if (bus !== "virtio" && bus !== "scsi") throw new InvalidArgumentError("bus", `disk bus ${String(bus)} is not supported (virtio or scsi)`);
    const disks = this.diskList(d);
    if (disks.some((x) => x.sourcePath === disk.sourcePath)) {
      throw new ConflictError(`disk ${disk.sourcePath} is already attached to VM ${uuid}`, "attached");
    }
    const prefix = bus === "virtio" ? "vd" : "sd";
    let targetDev = disk.targetDev;
    if (targetDev && disks.some((x) => x.targetDev === targetDev)) throw new ConflictError(`target ${targetDev} already exists on VM ${uuid}`, "target_in_use");
    for (let i = 0; !targetDev; i++) if (!disks.some((x) => x.targetDev === `${prefix}${letters(i)}`)) targetDev = `${prefix}${letters(i)}`;
    const attached: SimulatedDisk = {
      targetDev, sourcePath: disk.sourcePath, format: disk.format ?? "qcow2", bus, serial: disk.serial ?? "", sizeGib: disk.createSizeGib ?? 0,
    };
    this.commit(uuid, { ...d, attachedDisks: [...(d.attachedDisks ?? []), attached] });
    if (disk.createSizeGib && !this.diskFiles.has(disk.sourcePath)) this.diskFiles.set(disk.sourcePath, { backingPath: disk.backingPath ?? "" });
    return targetDev;
  }

  /** Recorded in the definition, as libvirt's --config does: the spec's cdrom is the ISO slot. */
  async changeMedia(vmUuid: string, media: MediaChange): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    const disks = d.spec.disks.filter((x) => x.device !== "cdrom");
    const iso: DiskSpec[] = media.eject ? [] : [{ id: "iso", device: "cdrom", sourcePath: media.sourcePath, format: "raw", sizeGib: 0, bus: "", owned: false, backingPath: "", copyFromVmUuid: "" }];
    this.commit(uuid, { ...d, spec: { ...d.spec, disks: [...disks, ...iso] } });
  }

  /** The ISO in a domain's cdrom slot ("" when the tray is empty). */
  isoMedia(vmUuid: string): string {
    return this.domain(vmUuid.toLowerCase()).spec.disks.find((x) => x.device === "cdrom")?.sourcePath ?? "";
  }

  async deleteDisk(sourcePath: string): Promise<void> {
    if (!sourcePath) throw new InvalidArgumentError("sourcePath", "a disk needs a source path");
    this.diskFiles.delete(sourcePath);
  }

  async detachDisk(vmUuid: string, target: string): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    const isIt = (x: SimulatedDisk) => x.targetDev === target || x.sourcePath === target;
    const attached = d.attachedDisks ?? [];
    if (attached.some(isIt)) {
      this.commit(uuid, { ...d, attachedDisks: attached.filter((x) => !isIt(x)) });
      return;
    }
    const i = this.diskList(d).findIndex(isIt);
    if (i < 0) throw new NotFoundError("disk", target, `VM ${uuid} has no disk whose target or source path is ${target}`);
    // One of the definition's own disks (they come first in the list, in spec order).
    this.commit(uuid, { ...d, spec: { ...d.spec, disks: d.spec.disks.filter((_, k) => k !== i) } });
  }

  // ---- capability "stats"

  async domainStats(vmUuid?: string): Promise<VmStats[]> {
    const uuids = vmUuid ? [vmUuid.toLowerCase()] : [...this.domains.keys()];
    return uuids.map((uuid) => {
      const d = this.domain(uuid);
      const c = this.cpuClock.get(uuid);
      const cpuTimeNs = (c?.ns ?? 0) + (c?.since !== undefined ? (Date.now() - c.since) * 1e6 * SIM_CPU_LOAD * Math.max(1, d.spec.vcpus) : 0);
      const active = HOLDS_MEMORY.has(d.state);
      const cpuSeconds = cpuTimeNs / 1e9;
      const io = (perSecond: number) => Math.floor(cpuSeconds * perSecond);
      return {
        vmUuid: uuid,
        name: simulatedDomainName(d.spec),
        state: { powerState: d.state, reason: d.reason },
        cpuTimeNs: active ? cpuTimeNs : undefined,
        vcpuCurrent: d.spec.vcpus,
        vcpuMaximum: d.spec.maxVcpus || d.spec.vcpus,
        balloon: {
          currentKib: d.spec.memoryMib * 1024,
          maximumKib: (d.spec.maxMemoryMib || d.spec.memoryMib) * 1024,
          // A guest that uses 40 % of its memory.
          ...(active ? { availableKib: d.spec.memoryMib * 1024, unusedKib: Math.floor(d.spec.memoryMib * 1024 * 0.6) } : {}),
        },
        // The root disk and the first NIC carry the I/O; other devices idle.
        blocks: active
          ? this.diskList(d).map((x, i) => ({
            name: x.targetDev, path: x.sourcePath, rdBytes: i === 0 ? io(SIM_IO_PER_CPU_SECOND.read) : 0, wrBytes: i === 0 ? io(SIM_IO_PER_CPU_SECOND.write) : 0,
            rdReqs: i === 0 ? io(SIM_IO_PER_CPU_SECOND.read / 4096) : 0, wrReqs: i === 0 ? io(SIM_IO_PER_CPU_SECOND.write / 4096) : 0,
            capacityBytes: x.sizeGib * GIB, allocationBytes: 0,
          }))
          : [],
        nets: active
          ? d.spec.nics.map((_, i) => ({
            name: `vnet${i}`, rxBytes: i === 0 ? io(SIM_IO_PER_CPU_SECOND.rx) : 0, txBytes: i === 0 ? io(SIM_IO_PER_CPU_SECOND.tx) : 0,
            rxPackets: i === 0 ? io(SIM_IO_PER_CPU_SECOND.rx / 1500) : 0, txPackets: i === 0 ? io(SIM_IO_PER_CPU_SECOND.tx / 1500) : 0, rxDrops: 0, txDrops: 0,
          }))
          : [],
      };
    });
  }

  // ---- capability "console"

  /** Synthetic boot lines, once per boot since the simulator started; the tail within maxBytes. */
  async consoleLog(vmUuid: string, maxBytes: number): Promise<ConsoleLogTail> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) throw new NotFoundError("vm", uuid, `VM ${uuid} is not defined on this host`);
    const boot = simulatedBootLines(d).join("\r\n");
    // A domain found running in the state file booted before this simulator started.
    const boots = Math.max(this.boots.get(uuid) ?? 0, d.state === PowerState.POWER_STATE_RUNNING ? 1 : 0);
    const all = Buffer.from(Array.from({ length: boots }, () => boot).join("\r\n"), "utf8");
    // The lines are ASCII: a byte cut never splits a character.
    return { text: all.subarray(Math.max(0, all.length - maxBytes)).toString("utf8"), truncated: all.length > maxBytes };
  }

  // ---- capability "firewall"

  /** Kept as applied (the checks are the executor's, the enforcement nft's: see network/). */
  async applyFirewall(vmUuid: string, firewall: VmFirewall): Promise<void> {
    this.firewalls.set(vmUuid.toLowerCase(), structuredClone(firewall));
  }

  async removeFirewall(vmUuid: string): Promise<void> {
    this.firewalls.delete(vmUuid.toLowerCase());
  }

  /** The firewall last applied for the VM (tests: what the manager sent arrived). */
  firewallOf(vmUuid: string): VmFirewall | undefined {
    return this.firewalls.get(vmUuid.toLowerCase());
  }

  /** A simulated shell on the console of a running VM; it hangs up when the VM stops. */
  async openConsole(vmUuid: string): Promise<SimulatedConsole> {
    const uuid = vmUuid.toLowerCase();
    if (!this.domains.has(uuid)) throw new NotFoundError("vm", uuid, `VM ${uuid} is not defined on this host`);
    const d = this.expectState(uuid, "open the console of", [PowerState.POWER_STATE_RUNNING]);
    const c = new SimulatedConsole(d.spec.name);
    let set = this.consoles.get(uuid);
    if (!set) this.consoles.set(uuid, (set = new Set()));
    set.add(c);
    c.once("close", () => this.consoles.get(uuid)?.delete(c));
    return c;
  }

  // ---- capability "snapshots" (libvirt's rules: memory needs a running VM; a revert to a
  // snapshot without memory leaves the VM shut off)

  async createSnapshot(vmUuid: string, o: CreateSnapshotOptions): Promise<SnapshotInfo> {
    const uuid = vmUuid.toLowerCase();
    const d = this.expectState(uuid, "snapshot", [PowerState.POWER_STATE_RUNNING, PowerState.POWER_STATE_SHUTOFF]);
    const list = this.snapshotsOf.get(uuid) ?? [];
    const existing = list.find((x) => x.info.name === o.name);
    if (existing) return existing.info;
    const running = d.state === PowerState.POWER_STATE_RUNNING;
    if (o.memory && !running) throw new InvalidArgumentError("memory", `VM ${uuid} is shut off: it has no memory state to snapshot`);
    if (o.quiesce && running && o.memory) throw new InvalidArgumentError("quiesce", "a memory snapshot keeps the guest's running state whole: quiesce is for snapshots without memory");
    if (o.quiesce && running) throw new ConflictError(`VM ${uuid} has no guest agent channel: its filesystems cannot be quiesced`, "no_guest_agent");
    if (this.snapshotDelayMs > 0) {
      if (this.snapshotDelayMs > o.timeoutMs) {
        await new Promise((r) => setTimeout(r, o.timeoutMs));
        throw new SnapshotTimeoutError(uuid, o.name, o.timeoutMs);
      }
      await new Promise((r) => setTimeout(r, this.snapshotDelayMs));
    }
    const disks = new Map([...this.ownedDisks].filter(([k]) => k.startsWith(`${uuid}/`)).map(([k, v]) => [k, { ...v }]));
    // A deterministic stand-in for libvirt's measure: a running VM's whole memory saved, and 1 MiB
    // of metadata (L1 table copy, refcounts) per owned disk; the disks grow by exactly that.
    const sizeBytes = (running ? d.spec.memoryMib * 1024 * 1024 : 0) + disks.size * 1024 * 1024;
    const info: SnapshotInfo = {
      name: o.name, parent: list.at(-1)?.info.name ?? "", state: running ? "running" : "shutoff", memory: running,
      createdAtMs: Date.now(), sizeBytes, createdBytes: sizeBytes,
    };
    this.snapshotsOf.set(uuid, [...list, { info, state: d.state, disks }]);
    return info;
  }

  async revertSnapshot(vmUuid: string, name: string, opts: { shutOff?: boolean } = {}): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const d = this.domain(uuid);
    const snap = this.snapshotsOf.get(uuid)?.find((x) => x.info.name === name);
    if (!snap) throw new NotFoundError("snapshot", name);
    for (const k of [...this.ownedDisks.keys()]) if (k.startsWith(`${uuid}/`)) this.ownedDisks.delete(k);
    for (const [k, v] of snap.disks) this.ownedDisks.set(k, { ...v });
    const state = snap.state === PowerState.POWER_STATE_RUNNING && !opts.shutOff ? PowerState.POWER_STATE_RUNNING : PowerState.POWER_STATE_SHUTOFF;
    const reverted: SimulatedDomain = { ...d, state, reason: "from_snapshot", managedSave: false };
    this.commit(uuid, reverted);
    this.emit(uuid, state === PowerState.POWER_STATE_RUNNING ? "started" : "stopped", "from_snapshot");
    return this.status(uuid, reverted);
  }

  async deleteSnapshot(vmUuid: string, name: string): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    const list = this.snapshotsOf.get(uuid) ?? [];
    const gone = list.find((x) => x.info.name === name);
    if (!gone) return;
    // Its children now hang off its parent, as libvirt re-parents them.
    this.snapshotsOf.set(uuid, list.filter((x) => x !== gone).map((x) => (x.info.parent === name ? { ...x, info: { ...x.info, parent: gone.info.parent } } : x)));
  }

  async listSnapshots(vmUuid: string): Promise<SnapshotInfo[]> {
    const uuid = vmUuid.toLowerCase();
    this.domain(uuid);
    // createdBytes is the create's own answer (a retried create repeats it); a list has none, as on libvirt.
    return (this.snapshotsOf.get(uuid) ?? []).map((x) => ({ ...x.info, createdBytes: 0 }));
  }

  // ---- capability "migration" (libvirt's and CloudStack's rules: a managed, running or paused
  // domain without snapshots or passthrough GPUs; the destination needs the memory; on any
  // failure the VM stays here as it was)

  async migrateVm(vmUuid: string, o: MigrateVmOptions): Promise<MigrationResult> {
    const uuid = vmUuid.toLowerCase();
    const started = Date.now();
    const { onProgress: _progress, ...asked } = o;
    this.lastMigration = asked;
    const d = this.domains.get(uuid);
    if (!d) throw new NotFoundError("vm", uuid, `VM ${uuid} is not defined on this host`);
    if (!d.managed) throw new MigrationRefusedError(uuid, "unmanaged", "its domain is not managed by Orbit");
    if (this.outgoing.has(uuid)) throw new MigrationRefusedError(uuid, "migrating", "a migration of it is already running");
    if (!HOLDS_MEMORY.has(d.state)) {
      throw new MigrationRefusedError(uuid, "not_running", `it is ${PowerState[d.state].replace("POWER_STATE_", "").toLowerCase()} (${d.reason}): a live migration needs it running or paused`);
    }
    const snaps = this.snapshotsOf.get(uuid) ?? [];
    if (snaps.length > 0) {
      throw new MigrationRefusedError(uuid, "has_snapshots", `it has ${snaps.length} snapshot(s) (${snaps.map((x) => x.info.name).join(", ")}), which live in its disks on this host and which libvirt does not migrate: delete them first`);
    }
    const passthrough = d.spec.gpus.filter((g) => g.mode === "passthrough" || (!g.mdevUuid && g.mode !== "share"));
    if (passthrough.length > 0) {
      throw new MigrationRefusedError(uuid, "gpu_passthrough", `it has passthrough GPUs (${passthrough.map((g) => g.pciAddress).join(", ")}): their state cannot be moved live; stop it and migrate it cold`);
    }
    const vgpus = d.spec.gpus.filter((g) => g.mdevUuid);
    if (vgpus.length > 0) {
      throw new MigrationRefusedError(uuid, "vgpu", `it has vGPUs (${vgpus.map((g) => g.mdevUuid).join(", ")}): live migration of vGPUs needs vendor driver, libvirt and QEMU support this driver does not check yet; stop it and migrate it cold`);
    }
    const dest = this.o.migration?.network.resolve(o.destinationUri);
    if (!dest) {
      throw new HypervisorError(`migration of VM ${uuid} to ${o.destinationUri} failed, the VM stays on this host: no host answers there`, { code: "migration_failed" });
    }
    if (dest === this) throw new MigrationRefusedError(uuid, "same_host", "the destination is the host it runs on");
    dest.expectCanReceive(uuid, d);

    // The copy: progress in steps; a cancel or the deadline aborts it (nothing changed yet on either host).
    let stop: "cancelled" | "timeout" | undefined;
    let wake: () => void = () => {};
    this.outgoing.set(uuid, { cancel: () => { stop ??= "cancelled"; wake(); } });
    const timer = setTimeout(() => { stop ??= "timeout"; wake(); }, o.timeoutMs);
    const totalBytes = d.spec.memoryMib * 1024 * 1024;
    let samples = 0;
    try {
      const steps = 10;
      for (let i = 0; i < steps && !stop; i++) {
        const processed = Math.round((totalBytes * i) / steps);
        samples++;
        o.onProgress?.({
          elapsedMs: Date.now() - started, dataProcessedBytes: processed, dataRemainingBytes: totalBytes - processed, dataTotalBytes: totalBytes,
          dirtyRatePagesPerSec: 0, memoryBandwidthBps: undefined, expectedDowntimeMs: o.maxDowntimeMs ?? 300, iteration: 1,
        });
        await new Promise<void>((r) => { wake = r; setTimeout(r, this.migrationDurationMs / steps); });
      }
    } finally {
      clearTimeout(timer);
      this.outgoing.delete(uuid);
    }
    if (stop === "cancelled") throw new MigrationCancelledError(uuid);
    if (stop === "timeout") throw new MigrationTimeoutError(uuid, o.timeoutMs);
    if (this.failNextMigration !== undefined) {
      const why = this.failNextMigration;
      this.failNextMigration = undefined;
      throw new HypervisorError(`migration of VM ${uuid} failed, the VM stays on this host: ${why}`, { code: "migration_failed" });
    }
    // The switch-over: the destination defines and runs it, then it goes from here (files are on shared storage).
    const current = this.domains.get(uuid);
    if (!current || !HOLDS_MEMORY.has(current.state)) {
      throw new HypervisorError(`migration of VM ${uuid} failed, the VM stays on this host: it stopped during the copy`, { code: "migration_failed" });
    }
    dest.expectCanReceive(uuid, current);
    const disks = [...this.ownedDisks].filter(([k]) => k.startsWith(`${uuid}/`));
    dest.receiveMigrated(uuid, current, disks);
    this.commit(uuid, undefined);
    // Its rules here protect nothing now; the destination's are the manager's to apply before (as on libvirt).
    this.firewalls.delete(uuid);
    for (const [k] of disks) this.ownedDisks.delete(k);
    this.emit(uuid, "stopped", "migrated");
    this.emit(uuid, "undefined", "removed");
    return { totalMs: Date.now() - started, downtimeMs: 1, jobMs: Date.now() - started, dataBytes: totalBytes, progressSamples: samples };
  }

  /** The NICs' bridges, as the libvirt driver makes them (a migration arriving without them fails, as there). */
  async prepareIncomingMigration(spec: VmSpec): Promise<void> {
    this.plugNics(spec);
  }

  async cancelMigration(vmUuid: string): Promise<boolean> {
    const m = this.outgoing.get(vmUuid.toLowerCase());
    m?.cancel();
    return m !== undefined;
  }

  /** As a destination libvirt: the uuid must not be defined here, the memory must be free, its bridges there. */
  private expectCanReceive(uuid: string, d: SimulatedDomain): void {
    const missing = d.spec.nics.map((n) => n.bridge).filter((b) => !this.bridges.has(b));
    if (missing.length > 0) {
      throw new HypervisorError(`migration of VM ${uuid} failed, the VM stays on its host: ${this.o.hostname} has no bridge ${missing.join(", ")} (prepareIncomingMigration first)`, { code: "migration_failed" });
    }
    if (this.domains.has(uuid)) throw new HypervisorError(`migration of VM ${uuid} failed, the VM stays on its host: a domain with its uuid already exists on ${this.o.hostname}`, { code: "migration_failed" });
    const free = this.o.memoryMib - this.usedMemoryMib();
    if (d.spec.memoryMib > free) {
      throw new HypervisorError(`migration of VM ${uuid} failed, the VM stays on its host: ${d.spec.memoryMib} MiB needed on ${this.o.hostname}, ${free} MiB free`, { code: "migration_failed" });
    }
  }

  /** The destination's side of the switch-over: the domain as it ran on the source, now here. */
  private receiveMigrated(uuid: string, d: SimulatedDomain, disks: [string, SimulatedOwnedDisk][]): void {
    for (const [k, v] of disks) this.ownedDisks.set(k, { ...v });
    this.commit(uuid, { ...d, reason: "migrated" });
    this.emit(uuid, "started", "migrated");
  }

  // ---- helpers

  private domain(uuid: string): SimulatedDomain {
    const d = this.domains.get(uuid);
    if (!d) throw new HypervisorError(`domain ${uuid} not found`, { virshError: "Domain not found", code: "no_domain" });
    return d;
  }

  /** The domain, if it is in one of the states the operation needs (ConflictError naming its state otherwise). */
  private expectState(uuid: string, operation: string, states: PowerState[]): SimulatedDomain {
    const d = this.domain(uuid);
    if (!states.includes(d.state)) {
      const st = PowerState[d.state];
      throw new ConflictError(`cannot ${operation} VM ${uuid}: it is ${st.replace("POWER_STATE_", "").toLowerCase()} (${d.reason}); ${operation} needs ${states.map((s) => PowerState[s].replace("POWER_STATE_", "").toLowerCase()).join(" or ")}`, st);
    }
    return d;
  }

  // ---- test hooks: things that happen to real hosts behind the manager's back

  /** The guest powers itself off (or crashes). */
  crash(vmUuid: string, reason = "crashed"): void {
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) return;
    this.commit(uuid, { ...d, state: reason === "crashed" ? PowerState.POWER_STATE_CRASHED : PowerState.POWER_STATE_SHUTOFF, reason });
    this.emit(uuid, "stopped", reason);
  }

  /** A domain someone defined by hand, outside Orbit. */
  addUnmanaged(uuid: string, name: string): void {
    this.commit(uuid.toLowerCase(), {
      spec: VmSpec.fromPartial({ vmUuid: uuid, name }), state: PowerState.POWER_STATE_RUNNING, reason: "", managed: false,
    });
  }

  has(vmUuid: string): boolean {
    return this.domains.has(vmUuid.toLowerCase());
  }

  /** The definition the domain was last started with (its NICs, seed...), for tests. */
  specOf(vmUuid: string): VmSpec | undefined {
    return this.domains.get(vmUuid.toLowerCase())?.spec;
  }

  /** The bridges NICs were plugged into (created on first use, as the libvirt driver does). */
  bridgeNames(): string[] {
    return [...this.bridges].sort();
  }

  /** As Linux and libvirt would: a NIC needs a bridge whose name fits IFNAMSIZ, and a valid MAC. */
  private plugNics(spec: VmSpec): void {
    spec.nics.forEach((n, i) => {
      if (!n.bridge || n.bridge.length > 15) throw new InvalidArgumentError(`nics[${i}].bridge`, `bridge name "${n.bridge}" must be 1 to 15 characters`);
      if (n.mac && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(n.mac)) throw new InvalidArgumentError(`nics[${i}].mac`, `not a MAC address: ${n.mac}`);
    });
    for (const n of spec.nics) this.bridges.add(n.bridge);
  }
}
