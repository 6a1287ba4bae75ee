// The Hypervisor driver for libvirt, through virsh. Per VM it keeps a directory
// <instancesDir>/<vmUuid>/ with the owned disk overlays, the cloud-init seed, the UEFI NVRAM,
// the serial log and the last domain XML it defined. Operations on one VM are serialised.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { connect as netConnect, type Socket } from "node:net";
import { hostname as osHostname, tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { execa } from "execa";
import { ConflictError, DeadlineExceededError, HypervisorError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { type DiskSpec, type DomainStatus, PowerState, StopMode, type VmSpec } from "#shared/protocol.js";
import { buildSeedFiles } from "../../seed/cloud-init-seed.js";
import { writeSeedIso } from "../../seed/seed-iso.js";
import { parseProcMeminfo } from "../../inventory/proc-meminfo.parser.js";
import { parseVirshCapabilities } from "../../inventory/virsh-capabilities.parser.js";
import { parseVirshNodeinfo } from "../../inventory/virsh-nodeinfo.parser.js";
import { readFileTail } from "../file-tail.js";
import type {
  AttachDiskOptions, MediaChange, ConsoleCapability, ConsoleLogTail, ConsoleStream, DiskCapability, FirewallCapability, VmFirewall, DomainLifecycleEvent, Hypervisor, HypervisorHostFacts, PowerCapability, ResizeCapability,
  StatsCapability, StopOptions, CreateSnapshotOptions, SnapshotCapability, SnapshotInfo,
  MigrateVmOptions, MigrationCapability, MigrationResult,
} from "../hypervisor.js";
import { MigrationCancelledError, MigrationRefusedError, MigrationTimeoutError, SnapshotTimeoutError } from "../hypervisor.js";
import { type DomainJobInfo, parseDomjobinfoRaw, progressOf } from "./domjobinfo.parser.js";
import { parseQemuImgSnapshotSizes, parseSnapshotNames, parseSnapshotXml } from "./snapshot.parser.js";
import { allocatedBytes, snapshotCreatedBytes } from "./snapshot-disk-use.js";
import { parseDomainBridges, parseDomainDisks, parseDomainMdevs, parseDomainPciHostdevs, parseScsiControllerModels, parseSerialSocketPath } from "./domain-disks.parser.js";
import { DomainEventStream } from "./domain-event-stream.js";
import { parseUuidNameList } from "./domain-list.parser.js";
import { type DomainState, isActive, parseDomstateReason } from "./domain-state.js";
import { buildDiskDeviceXml, buildDomainXml, buildScsiControllerXml, diskLetters, domainNameFor, type DomainType, type DomainXmlOptions, ISO_SLOT_ALIAS } from "./domain-xml.js";
import { type DomainStats, parseDomstats } from "./domstats.parser.js";
import { parseNodeMemStatsFreeKib } from "./node-memstats.parser.js";
import { ORBIT_METADATA_NS, type OrbitDomainMetadata, parseOrbitMetadata, parseOrbitMetadataElement } from "./orbit-metadata.js";
import { type BridgeGateway, execaIp, LinuxBridges } from "./linux-bridge.js";
import { Virsh } from "./virsh.js";
import { ENV_BRIDGE_PREFIX, NftBridgeIsolation } from "../../network/bridge-isolation.js";
import { NftFirewall } from "../../network/nft-firewall.js";
import { vmTapName } from "../../network/tap-name.js";
import { isVirshError } from "./virsh-error.js";

export interface LibvirtHypervisorOptions {
  /** libvirt connection URI, e.g. "qemu:///system". */
  uri: string;
  /** "kvm" in production, "qemu" (TCG) on hosts without hardware virtualisation. */
  domainType: DomainType;
  /** Per-VM directories (overlays, seed ISO, NVRAM, serial log) go under here. */
  instancesDir: string;
  /** Relative backing paths and cdrom paths are resolved here. Default: instancesDir. */
  imagesDir?: string;
  /**
   * Fetches an image missing from imagesDir (a relative backing or cdrom path) from the manager's
   * image store, writing `dest` atomically. Without it a missing image fails the deploy.
   */
  fetchImage?: (path: string, dest: string) => Promise<void>;
  /** Domain XML settings other than the domain type (machine, cpu, emulator, cdrom bus, firmware...). */
  xml?: Omit<DomainXmlOptions, "domainType">;
  virshPath?: string;
  qemuImgPath?: string;
  genisoimagePath?: string;
  /**
   * Makes sure a NIC's bridge exists and is up before a domain using it is defined, with the
   * network's gateway on it and IPv4 forwarding on when the NIC has a gateway. Default: `ip`
   * (iproute2; needs CAP_NET_ADMIN, as libvirt's qemu:///system agent has) and
   * /proc/sys/net/ipv4/ip_forward. Tests on libvirt's test driver, which plugs nothing, pass a no-op.
   */
  ensureBridge?: (name: string, gateway?: BridgeGateway) => Promise<void>;
  /**
   * Removes an environment bridge (orb-...) once no domain defined on this host uses it, with its
   * gateway and isolation. Default: LinuxBridges.releaseIfUnused with `ip`; when ensureBridge is
   * given and this is not, bridges are the caller's and nothing is removed.
   */
  releaseBridge?: (name: string) => Promise<void>;
  /** The `ip` binary of the default ensureBridge. Default "ip". */
  ipPath?: string;
  /** Timeout of a single virsh call. Default 120 s. */
  commandTimeoutMs?: number;
  /** State polling while waiting for an ACPI shutdown or a detach. Default 250 ms. */
  pollIntervalMs?: number;
  /** ACPI power-button presses are repeated this often while waiting (guests that were still booting miss the first). Default 5000 ms. */
  acpiRepeatMs?: number;
  /** Restart delay of the `virsh event` process. Default 1000 ms. */
  eventRestartDelayMs?: number;
  /** Reported hostname; default: `virsh hostname`, then os.hostname(). */
  hostname?: string;
  onWarning?: (message: string) => void;
  /** The nft command VM firewalls are applied with; default ["nft"]. */
  nftCommand?: readonly string[];
}

/** libvirt's stats: the common VmStats plus what only domstats reports (user/system CPU time, guest memory). */
export interface LibvirtVmStats extends DomainStats {
  /** undefined for a domain whose uuid could not be resolved. */
  vmUuid: string | undefined;
}

const GIB = 1024 ** 3;

/** In a VM's instance directory: what prepareIncomingMigration made here for a migration not arrived yet. */
const INCOMING_MIGRATION_FILE = "incoming-migration.json";

interface IncomingMigrationRecord {
  /** The instance directory did not exist before. */
  madeDir: boolean;
  files: string[];
}

export class LibvirtHypervisor implements Hypervisor, PowerCapability, ResizeCapability, DiskCapability, StatsCapability, ConsoleCapability, FirewallCapability, SnapshotCapability, MigrationCapability {
  readonly kind = "libvirt" as const;
  // The capabilities this driver has: all of them, implemented by this class's methods below.
  readonly power: PowerCapability = this;
  readonly resize: ResizeCapability = this;
  readonly disks: DiskCapability = this;
  readonly stats: StatsCapability = this;
  readonly console: ConsoleCapability = this;
  readonly firewall: FirewallCapability = this;
  readonly snapshots: SnapshotCapability = this;
  readonly migration: MigrationCapability = this;
  readonly virsh: Virsh;
  private readonly nft: NftFirewall;
  private readonly opts: LibvirtHypervisorOptions;
  private readonly imagesDir: string;
  private readonly pollMs: number;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** uuid -> Orbit metadata (null: not managed). Metadata never changes after define. */
  private readonly metadataCache = new Map<string, OrbitDomainMetadata | null>();
  /** domain name -> uuid, for events (virsh event names domains by name). */
  private readonly uuidByName = new Map<string, string>();
  private events: DomainEventStream | undefined;
  private readonly eventListeners = new Set<(e: DomainLifecycleEvent) => void>();
  private eventChain: Promise<void> = Promise.resolve();
  private readonly ensureBridge: (name: string, gateway?: BridgeGateway) => Promise<void>;
  private readonly releaseBridge: (name: string) => Promise<void>;

  constructor(opts: LibvirtHypervisorOptions) {
    // Fail at agent start, not on every VM start, for a configuration QEMU cannot run.
    if (opts.domainType === "qemu" && opts.xml?.cpu?.mode === "host-passthrough") {
      throw new InvalidArgumentError("libvirt.cpu", "CPU mode host-passthrough needs domain type kvm; under TCG (qemu) use a custom model such as qemu64");
    }
    const bus: string | undefined = opts.xml?.cdromBus;
    if (bus !== undefined && !["scsi", "sata", "ide"].includes(bus)) {
      throw new InvalidArgumentError("libvirt.cdromBus", `cdrom bus ${bus} is not supported by libvirt (use scsi, sata or ide)`);
    }
    this.opts = opts;
    this.virsh = new Virsh({ uri: opts.uri, binary: opts.virshPath, timeoutMs: opts.commandTimeoutMs });
    const isolation = new NftBridgeIsolation(opts.nftCommand ? { nftCommand: opts.nftCommand } : {});
    const bridges = new LinuxBridges(execaIp(opts.ipPath), { onNotice: opts.onWarning, isolation });
    this.ensureBridge = opts.ensureBridge ?? ((name, gateway) => bridges.ensure(name, gateway));
    this.releaseBridge = opts.releaseBridge ?? (opts.ensureBridge ? async () => {} : async (name) => { await bridges.releaseIfUnused(name); });
    this.nft = new NftFirewall(opts.nftCommand ? { nftCommand: opts.nftCommand } : {});
    this.imagesDir = opts.imagesDir ?? opts.instancesDir;
    this.pollMs = opts.pollIntervalMs ?? 250;
  }

  // ------------------------------------------------------------------ host

  async hostFacts(): Promise<HypervisorHostFacts> {
    const [nodeinfoText, capsXml, versionText] = await Promise.all([
      this.virsh.run(["nodeinfo"]),
      this.virsh.run(["capabilities"]),
      this.virsh.run(["version"]).catch(() => ""),
    ]);
    const node = parseVirshNodeinfo(nodeinfoText);
    const caps = parseVirshCapabilities(capsXml);
    const hostname = this.opts.hostname ?? ((await this.virsh.run(["hostname"]).catch(() => "")).trim() || osHostname());
    // "QEMU 8.2.2, libvirt 10.0.0": the manager checks both before a vGPU live migration.
    const running = /Running hypervisor:\s*(.+)$/m.exec(versionText)?.[1]?.trim() ?? "";
    const library = /Using library:\s*(libvirt\s+\S+)/m.exec(versionText)?.[1]?.trim() ?? "";
    const hv = [running, library].filter(Boolean).join(", ");
    const cells = Math.max(1, node.numaCells);
    return {
      hostUuid: caps.hostUuid,
      hostname,
      hypervisor: this.opts.domainType,
      cpuModel: caps.cpuModel || node.cpuModel,
      cpuArch: caps.cpuArch || node.cpuModel,
      // nodeinfo counts sockets per NUMA cell
      sockets: node.sockets * cells,
      coresPerSocket: node.coresPerSocket,
      threadsPerCore: node.threadsPerCore,
      cpus: node.cpus,
      cpuMhz: node.cpuMhz,
      memoryMib: node.memoryMib,
      numaCells: caps.numaCells,
      hypervisorVersion: hv,
      driver: "libvirt",
    };
  }

  /** Free + reclaimable memory from `virsh nodememstats`; /proc/meminfo when the driver has no memory stats. */
  async freeMemoryMib(): Promise<number> {
    try {
      return Math.floor(parseNodeMemStatsFreeKib(await this.virsh.run(["nodememstats"])) / 1024);
    } catch (e) {
      if (isVirshError(e, "connection")) throw e;
      return parseProcMeminfo(await readFile("/proc/meminfo", "utf8")).memAvailableMib;
    }
  }

  // ------------------------------------------------------------------ domains

  async listDomains(): Promise<DomainStatus[]> {
    const [listText, statsText] = await Promise.all([
      this.virsh.run(["list", "--all", "--uuid", "--name"]),
      this.virsh.run(["domstats", "--state"]),
    ]);
    const states = new Map(parseDomstats(statsText).map((s) => [s.name, s.state]));
    const out: DomainStatus[] = [];
    for (const { uuid, name } of parseUuidNameList(listText)) {
      this.uuidByName.set(name, uuid);
      const st = states.get(name) ?? (await this.domainState(uuid).catch(() => undefined));
      let meta: OrbitDomainMetadata | undefined;
      try {
        meta = await this.metadata(uuid);
      } catch (e) {
        // Undefined between the list and this lookup: it is gone, so it is not listed.
        if (isVirshError(e, "no_domain")) continue;
        throw e;
      }
      out.push({
        vmUuid: uuid,
        name,
        powerState: st?.powerState ?? PowerState.POWER_STATE_UNSPECIFIED,
        reason: st?.reason ?? "unknown",
        managed: meta !== undefined,
      });
    }
    return out;
  }

  async startVm(spec: VmSpec): Promise<DomainStatus> {
    const uuid = spec.vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const existing = await this.domainState(uuid).catch((e: unknown) => {
        if (isVirshError(e, "no_domain")) return undefined;
        throw e;
      });
      if (existing && (isActive(existing.powerState) || existing.powerState === PowerState.POWER_STATE_CRASHED)) {
        return this.status(uuid);
      }
      // A hibernated domain restores from its managed save image with the config it was saved with.
      const hasManagedSave = existing !== undefined && (await this.hasManagedSave(uuid));
      if (!hasManagedSave) await this.define(spec);
      try {
        await this.virsh.run(["start", uuid]);
      } catch (e) {
        if (!isVirshError(e, "already_running")) throw e;
      }
      return this.status(uuid);
    });
  }

  async stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const st = await this.domainState(uuid);
      if (st.powerState === PowerState.POWER_STATE_SHUTOFF) return this.status(uuid);
      const mode = opts.mode === StopMode.STOP_MODE_UNSPECIFIED ? StopMode.STOP_MODE_ACPI_THEN_FORCE : opts.mode;
      const acpiUseless = st.powerState === PowerState.POWER_STATE_PAUSED || st.powerState === PowerState.POWER_STATE_CRASHED;
      if (mode === StopMode.STOP_MODE_FORCE || (mode === StopMode.STOP_MODE_ACPI_THEN_FORCE && acpiUseless)) {
        await this.forceOff(uuid);
        return this.status(uuid);
      }
      if (acpiUseless) throw new ConflictError(`VM ${uuid} is ${st.reason} (${PowerState[st.powerState]}): an ACPI shutdown cannot reach it`, PowerState[st.powerState]);
      const off = await this.acpiShutdownAndWait(uuid, opts.timeoutMs);
      if (!off) {
        if (mode === StopMode.STOP_MODE_ACPI) {
          throw new DeadlineExceededError(`VM ${uuid} did not shut down within ${opts.timeoutMs} ms of an ACPI shutdown request`);
        }
        await this.forceOff(uuid);
      }
      return this.status(uuid);
    });
  }

  async destroyVm(vmUuid: string, opts: { removeOwnedDisks: boolean }): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    await this.withLock(uuid, async () => {
      let xml: string;
      try {
        xml = await this.virsh.run(["dumpxml", "--inactive", uuid]);
      } catch (e) {
        // Not defined here: only what an incoming migration that never arrived left (its copies' targets).
        if (isVirshError(e, "no_domain")) return this.removeUnarrivedMigrationFiles(uuid);
        throw e;
      }
      const meta = parseOrbitMetadata(xml);
      if (!meta) throw new ConflictError(`domain ${uuid} is not managed by Orbit; refusing to destroy it`, "unmanaged");
      await this.forceOff(uuid);
      // Internal snapshots live in the qcow2 files, attached volumes' too: deleted, not just forgotten.
      await this.deleteAllSnapshots(uuid);
      await this.undefine(uuid);
      this.metadataCache.delete(uuid);
      await this.releaseUnusedBridges(parseDomainBridges(xml));
      if (opts.removeOwnedDisks) {
        await this.removeInstanceFiles(meta);
      } else {
        const seed = meta.instanceDir ? join(meta.instanceDir, "seed.iso") : undefined;
        if (seed && meta.ownedFiles.includes(seed)) await rm(seed, { force: true });
      }
    });
  }

  /** The VM's owned files (disks, seed) and what Orbit keeps beside them; its directory when that leaves it empty. */
  private async removeInstanceFiles(meta: OrbitDomainMetadata): Promise<void> {
    for (const f of meta.ownedFiles) if (isAbsolute(f)) await rm(f, { force: true });
    if (!meta.instanceDir) return;
    for (const f of ["serial.log", "domain.xml", INCOMING_MIGRATION_FILE]) await rm(join(meta.instanceDir, f), { force: true });
    // Console sockets (console.sock, or a migrated domain's console-<hex>.sock) a stopped QEMU left.
    const sockets = await readdir(meta.instanceDir).then((names) => names.filter((n) => /^console(-[0-9a-f]+)?\.sock$/.test(n)), () => [] as string[]);
    for (const f of sockets) await rm(join(meta.instanceDir, f), { force: true });
    // Only an empty directory goes: anything else in it was not created by Orbit.
    await rmdir(meta.instanceDir).catch(() => undefined);
  }

  /**
   * A storage-motion migration to this host that failed or was cancelled: the files its prepare
   * made here for the copy (INCOMING_MIGRATION_FILE lists them), and the directory if it made it.
   * Called only when no domain of the VM is defined here: then nothing uses them.
   */
  private async removeUnarrivedMigrationFiles(uuid: string): Promise<void> {
    const dir = join(this.opts.instancesDir, uuid);
    const record = await readFile(join(dir, INCOMING_MIGRATION_FILE), "utf8").then((t) => JSON.parse(t) as IncomingMigrationRecord, () => undefined);
    if (!record) return;
    for (const f of record.files) if (isAbsolute(f) && f.startsWith(`${dir}/`)) await rm(f, { force: true });
    for (const f of ["serial.log", INCOMING_MIGRATION_FILE]) await rm(join(dir, f), { force: true });
    if (record.madeDir) await rmdir(dir).catch(() => undefined);
  }

  onDomainEvent(listener: (e: DomainLifecycleEvent) => void): () => void {
    this.eventListeners.add(listener);
    if (!this.events) {
      this.events = new DomainEventStream(this.virsh, { restartDelayMs: this.opts.eventRestartDelayMs, onWarning: this.opts.onWarning });
      this.events.subscribe((ev) => {
        if (ev.type !== "lifecycle") return;
        // Keep events in order while resolving names to uuids.
        this.eventChain = this.eventChain.then(async () => {
          const vmUuid = await this.uuidForName(ev.domain);
          if (!vmUuid) {
            this.opts.onWarning?.(`event for unknown domain ${ev.domain}: ${ev.text}`);
            return;
          }
          for (const l of this.eventListeners) l({ vmUuid, event: ev.event, detail: ev.detail });
        });
      });
    }
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  /** The event stream (exposed for diagnostics: pid, restart count). */
  get eventStream(): DomainEventStream | undefined {
    return this.events;
  }

  async close(): Promise<void> {
    this.events?.close();
    this.events = undefined;
    this.eventListeners.clear();
    await Promise.allSettled([...this.locks.values()]);
  }

  // ------------------------------------------------------------------ capabilities and helpers

  async attachedMdevs(vmUuid: string): Promise<string[]> {
    let xml: string;
    try {
      xml = await this.virsh.run(["dumpxml", "--inactive", vmUuid]);
    } catch (e) {
      if (isVirshError(e) && e.kind === "no_domain") return [];
      throw e;
    }
    return parseDomainMdevs(xml);
  }

  /** Current power state and reason (`virsh domstate --reason`). */
  async status(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    const [st, name, meta] = await Promise.all([this.domainState(uuid), this.virsh.run(["domname", uuid]), this.metadata(uuid)]);
    this.uuidByName.set(name.trim(), uuid);
    return { vmUuid: uuid, name: name.trim(), powerState: st.powerState, reason: st.reason, managed: meta !== undefined };
  }

  /** ACPI reboot request; the guest decides. */
  async reboot(vmUuid: string): Promise<DomainStatus> {
    return this.simple(vmUuid, ["reboot"]);
  }

  /** Hard reset (like the reset button); no guest cooperation. */
  async reset(vmUuid: string): Promise<DomainStatus> {
    return this.simple(vmUuid, ["reset"]);
  }

  async suspend(vmUuid: string): Promise<DomainStatus> {
    return this.simple(vmUuid, ["suspend"]);
  }

  async resume(vmUuid: string): Promise<DomainStatus> {
    return this.simple(vmUuid, ["resume"]);
  }

  /** Saves RAM to libvirt's managed save image and stops (state "shut off (saved)"). */
  async hibernate(vmUuid: string): Promise<DomainStatus> {
    return this.simple(vmUuid, ["managedsave"]);
  }

  /** Starts from the managed save image; fails when there is none (use startVm to boot). */
  async restore(vmUuid: string): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      if (!(await this.hasManagedSave(uuid))) {
        throw new ConflictError(`VM ${uuid} has no hibernation (managed save) image`, "no_managed_save");
      }
      await this.virsh.run(["start", uuid]);
      return this.status(uuid);
    });
  }

  /** Changes the vCPU count (hot-plug on a running VM, up to its maximum) and the persistent config. */
  async setVcpus(vmUuid: string, count: number): Promise<DomainStatus> {
    if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError("vcpus", "vCPU count must be a positive integer");
    return this.liveAndConfig(vmUuid, ["setvcpus", "--count", String(count)]);
  }

  /** Sets the balloon target (running VM) and the boot memory, up to the domain's maximum. */
  async setMemory(vmUuid: string, memoryMib: number): Promise<DomainStatus> {
    if (!Number.isInteger(memoryMib) || memoryMib < 1) throw new InvalidArgumentError("memoryMib", "memory must be a positive integer");
    return this.liveAndConfig(vmUuid, ["setmem", "--size", String(memoryMib * 1024)]);
  }

  /** Attaches a disk (live when running, and to the config). Returns the target device name. */
  async attachDisk(vmUuid: string, disk: AttachDiskOptions): Promise<string> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const path = this.resolveImage(disk.sourcePath);
      if (disk.createSizeGib && !(await exists(path))) {
        // Volumes live in a folder of their own (e.g. <images dir>/volumes), made on first use.
        await mkdir(dirname(path), { recursive: true });
        if (disk.backingPath) {
          await this.ensureImage(disk.backingPath);
          const backing = this.resolveImage(disk.backingPath);
          const info = JSON.parse(await this.qemuImg(["info", "--output=json", "-U", backing])) as { format: string };
          await this.qemuImg(["create", "-q", "-f", "qcow2", "-b", backing, "-F", info.format, path, `${disk.createSizeGib}G`]);
        } else {
          await this.qemuImg(["create", "-q", "-f", disk.format ?? "qcow2", path, `${disk.createSizeGib}G`]);
        }
      }
      const bus = disk.bus ?? "virtio";
      const xml = await this.virsh.run(["dumpxml", uuid]);
      const used = new Set(parseDomainDisks(xml).map((d) => d.targetDev));
      const prefix = bus === "virtio" ? "vd" : "sd";
      let targetDev = disk.targetDev;
      for (let i = 0; !targetDev; i++) if (!used.has(`${prefix}${diskLetters(i)}`)) targetDev = `${prefix}${diskLetters(i)}`;
      const flags = await this.liveConfigFlags(uuid);
      // Without a SCSI controller libvirt would add its default one, LSI: a conventional PCI device
      // q35 has no slot for ("No more available PCI slots") and cloud kernels often no driver for.
      if (bus === "scsi" && parseScsiControllerModels(xml).length === 0) {
        await this.attachDeviceXml(uuid, "scsi-controller", buildScsiControllerXml(), flags);
      }
      await this.attachDeviceXml(uuid, targetDev, buildDiskDeviceXml({ sourcePath: path, format: disk.format ?? "qcow2", targetDev, bus, serial: disk.serial }), flags);
      return targetDev;
    });
  }

  /**
   * Inserts an ISO into (or ejects it from) the domain's ISO cdrom slot (domain-xml.ts), live
   * when it runs and in the config. A domain defined before it had the slot has none until it
   * is started again. Ejecting is forced: a guest that locked the tray would otherwise keep it.
   */
  async changeMedia(vmUuid: string, media: MediaChange): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    const path = media.eject ? "" : this.resolveImage(media.sourcePath);
    if (!media.eject) await this.ensureImage(media.sourcePath);
    await this.withLock(uuid, async () => {
      const flags = await this.liveConfigFlags(uuid);
      const slot = parseDomainDisks(await this.virsh.run(flags.includes("--live") ? ["dumpxml", uuid] : ["dumpxml", "--inactive", uuid]))
        .find((d) => d.device === "cdrom" && d.alias === ISO_SLOT_ALIAS);
      if (!slot) throw new ConflictError(`VM ${uuid} has no ISO cdrom slot: its domain was defined before domains had one (stop and start it)`, "no_iso_slot");
      if (slot.sourcePath === path) return;
      const args = media.eject ? ["--eject", "--force"] : [path, slot.sourcePath ? "--update" : "--insert"];
      await this.virsh.run(["change-media", uuid, slot.targetDev, ...args, ...flags]);
    });
  }

  // ---------------------------------------------------------------- snapshots
  // Internal qcow2 snapshots (libvirt 9.0 cannot revert external ones; 9.9 can): every qcow2
  // disk of the domain, attached volumes included, holds the snapshot; the seed and ISO cdroms
  // (read-only) are left out. A running domain's snapshot always holds its memory (QEMU's savevm:
  // libvirt has no live internal disk-only snapshot); `memory: false` only changes its revert,
  // which then leaves the VM shut off (revertSnapshot's shutOff). Domains with UEFI pflash NVRAM
  // are refused by libvirt 9.0 (internal snapshots need every writable image to be qcow2).

  async createSnapshot(vmUuid: string, o: CreateSnapshotOptions): Promise<SnapshotInfo> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const st = await this.domainState(uuid);
      const running = st.powerState === PowerState.POWER_STATE_RUNNING;
      if (!running && st.powerState !== PowerState.POWER_STATE_SHUTOFF) {
        throw new ConflictError(`cannot snapshot VM ${uuid} while it is ${PowerState[st.powerState].replace("POWER_STATE_", "").toLowerCase()}: it must run or be shut off`, "state");
      }
      if ((await this.snapshotNames(uuid)).includes(o.name)) return this.snapshotInfo(uuid, o.name);
      if (o.memory && !running) throw new InvalidArgumentError("memory", `VM ${uuid} is shut off: it has no memory state to snapshot`);
      // The disk files' allocated bytes before, to report what the snapshot added to them (its storage pool counts it).
      const paths = await this.snapshotDiskPaths(uuid);
      const before = await allocatedBytes((p) => this.qemuImg(["info", "--output=json", "-U", p]), paths);
      const quiesce = o.quiesce && running;
      if (quiesce) {
        if (o.memory) throw new InvalidArgumentError("quiesce", "a memory snapshot keeps the guest's running state whole: quiesce is for snapshots without memory");
        if (!/org\.qemu\.guest_agent\.0/.test(await this.virsh.run(["dumpxml", uuid]))) {
          throw new ConflictError(`VM ${uuid} has no guest agent channel: its filesystems cannot be quiesced`, "no_guest_agent");
        }
        await this.virsh.run(["domfsfreeze", uuid], { timeoutMs: o.timeoutMs });
      }
      try {
        // (virsh refuses an empty --description.)
        const description = o.description ? ["--description", o.description] : [];
        await this.virsh.run(["snapshot-create-as", uuid, "--name", o.name, ...description, "--atomic"], { timeoutMs: o.timeoutMs });
      } catch (e) {
        // virsh gave up, libvirtd may still be at it: abort its job, then remove what it made.
        if (isVirshError(e, "timeout")) await this.virsh.run(["domjobabort", uuid]).catch(() => undefined);
        await this.waitSnapshotGone(uuid, o.name);
        if (isVirshError(e, "timeout")) throw new SnapshotTimeoutError(uuid, o.name, o.timeoutMs);
        throw e;
      } finally {
        if (quiesce) await this.virsh.run(["domfsthaw", uuid]).catch((e: unknown) => this.opts.onWarning?.(`thawing ${uuid} after its snapshot: ${String(e)}`));
      }
      const info = await this.snapshotInfo(uuid, o.name);
      const after = await allocatedBytes((p) => this.qemuImg(["info", "--output=json", "-U", p]), paths);
      return { ...info, createdBytes: snapshotCreatedBytes(before, after, info.sizeBytes) };
    });
  }

  async revertSnapshot(vmUuid: string, name: string, opts: { shutOff?: boolean } = {}): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const snap = await this.snapshotXml(uuid, name);
      if (snap.memory && !opts.shutOff) {
        await this.virsh.run(["snapshot-revert", uuid, name, "--running"]);
      } else if (snap.memory) {
        // The disks as they were, without the running state: loaded paused, then powered off (the guest never runs).
        await this.virsh.run(["snapshot-revert", uuid, name, "--paused"]);
        await this.forceOff(uuid);
      } else {
        await this.forceOff(uuid);
        await this.virsh.run(["snapshot-revert", uuid, name]);
      }
      return this.status(uuid);
    });
  }

  async deleteSnapshot(vmUuid: string, name: string): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    await this.withLock(uuid, async () => {
      try {
        await this.virsh.run(["snapshot-delete", uuid, name]);
      } catch (e) {
        if (isVirshError(e, "no_snapshot") || isVirshError(e, "no_domain")) return;
        throw e;
      }
    });
  }

  async listSnapshots(vmUuid: string): Promise<SnapshotInfo[]> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const infos = [];
      for (const name of await this.snapshotNames(uuid)) infos.push(await this.snapshotInfo(uuid, name));
      return infos.sort((a, b) => a.createdAtMs - b.createdAtMs);
    });
  }

  private async snapshotNames(uuid: string): Promise<string[]> {
    return parseSnapshotNames(await this.virsh.run(["snapshot-list", uuid, "--name"]));
  }

  private async snapshotXml(uuid: string, name: string) {
    try {
      return parseSnapshotXml(await this.virsh.run(["snapshot-dumpxml", uuid, name]));
    } catch (e) {
      if (isVirshError(e, "no_snapshot")) throw new NotFoundError("snapshot", name, `VM ${uuid} has no snapshot ${name}`);
      throw e;
    }
  }

  /** libvirt's view of the snapshot, and its saved memory's bytes in the VM's qcow2 disks (qemu-img, -U: the domain may hold them). */
  private async snapshotInfo(uuid: string, name: string): Promise<SnapshotInfo> {
    const s = await this.snapshotXml(uuid, name);
    let sizeBytes = 0;
    for (const path of await this.snapshotDiskPaths(uuid)) {
      const sizes = await this.qemuImg(["info", "--output=json", "-U", path]).then(parseQemuImgSnapshotSizes, () => new Map<string, number>());
      sizeBytes += sizes.get(name) ?? 0;
    }
    return { name: s.name, parent: s.parent, state: s.state, memory: s.memory, createdAtMs: s.createdAtMs, sizeBytes, createdBytes: 0 };
  }

  /** The files of the domain's disks (cdroms left out): the ones its snapshots live in. */
  private async snapshotDiskPaths(uuid: string): Promise<string[]> {
    return parseDomainDisks(await this.virsh.run(["dumpxml", "--inactive", uuid])).filter((d) => d.device === "disk" && d.sourcePath).map((d) => d.sourcePath);
  }

  /**
   * Deletes a snapshot a failed or aborted create may have left. libvirtd finishes a create whose
   * virsh was killed (and QEMU's savevm cannot be aborted), so snapshot-list may not show it yet;
   * snapshot-delete needs the domain's job, so it waits for that create to end first, then
   * deletes what it made or finds nothing ("no_snapshot"). A busy job lock is waited out again.
   */
  private async waitSnapshotGone(uuid: string, name: string): Promise<void> {
    let last: unknown;
    for (let i = 0; i < 10; i++) {
      try {
        await this.virsh.run(["snapshot-delete", uuid, name]);
        return;
      } catch (e) {
        if (isVirshError(e, "no_snapshot") || isVirshError(e, "no_domain")) return;
        last = e;
        if (!isVirshError(e, "timeout")) await sleep(500);
      }
    }
    this.opts.onWarning?.(`snapshot ${name} of ${uuid} may be left after a failed create: ${String(last)}`);
  }

  /** Every snapshot of the domain, children before parents (a VM being destroyed). */
  private async deleteAllSnapshots(uuid: string): Promise<void> {
    const names = await this.virsh.run(["snapshot-list", uuid, "--name", "--topological"]).then(parseSnapshotNames, () => [] as string[]);
    for (const name of names.reverse()) {
      await this.virsh.run(["snapshot-delete", uuid, name]).catch((e: unknown) => {
        if (!isVirshError(e, "no_snapshot")) throw e;
      });
    }
  }

  // ---------------------------------------------------------------- migration
  // Peer-to-peer (`virsh migrate --p2p`): this host's libvirtd connects to the destination's
  // (destinationUri) itself, so only the two daemons need to reach each other. The domain is
  // defined on the destination (--persistent); its inactive definition left here is undefined
  // after the completed job's statistics (measured downtime) were read from it, keeping the
  // files: with shared storage they are the destination's now.

  private readonly migrations = new Map<string, MigrationJob>();

  async migrateVm(vmUuid: string, o: MigrateVmOptions): Promise<MigrationResult> {
    const uuid = vmUuid.toLowerCase();
    if (this.migrations.has(uuid)) throw new MigrationRefusedError(uuid, "migrating", "a migration of it is already running");
    if (!o.destinationUri) throw new InvalidArgumentError("destinationUri", "a migration needs the destination's libvirt URI");
    if (!(o.timeoutMs > 0)) throw new InvalidArgumentError("timeoutMs", "a migration needs a positive timeout");
    const job: MigrationJob = { cancelled: false, timedOut: false, settled: false };
    this.migrations.set(uuid, job);
    try {
      return await this.withLock(uuid, async () => {
        await this.expectMigratable(uuid);
        if (job.cancelled) throw new MigrationCancelledError(uuid);
        const started = Date.now();
        if (o.maxDowntimeMs !== undefined) await this.virsh.run(["migrate-setmaxdowntime", uuid, String(o.maxDowntimeMs)]);
        const xmlDir = await mkdtemp(join(tmpdir(), "orbit-migrate-"));
        try {
          return await this.runMigration(uuid, o, job, started, xmlDir);
        } finally {
          await rm(xmlDir, { recursive: true, force: true });
        }
      });
    } finally {
      job.settled = true;
      this.migrations.delete(uuid);
    }
  }

  /** The migration proper, under the VM's lock: `virsh migrate` with progress sampling and the deadline's abort. */
  private async runMigration(uuid: string, o: MigrateVmOptions, job: MigrationJob, started: number, xmlDir: string): Promise<MigrationResult> {
    const xmlArgs = await this.destinationXmlArgs(uuid, xmlDir);
    const args = [
      "migrate", ...(o.live ? ["--live"] : []), "--p2p", "--persistent",
      ...(o.copyStorage === "all" ? ["--copy-storage-all"] : []),
      ...(o.autoConverge ? ["--auto-converge"] : []),
      ...(o.maxBandwidthMibps ? ["--bandwidth", String(o.maxBandwidthMibps)] : []),
      ...(o.allowUnsafe ? ["--unsafe"] : []),
      ...(o.migrateUri ? ["--migrateuri", o.migrateUri] : []),
      ...xmlArgs,
      uuid, o.destinationUri,
    ];
    let samples = 0;
    let last: DomainJobInfo | undefined;
    const poller = this.pollMigrationJob(uuid, o.progressIntervalMs ?? 500, (j) => {
      samples++;
      last = j;
      try {
        o.onProgress?.(progressOf(j));
      } catch (e) {
        this.opts.onWarning?.(`migration progress listener of ${uuid} failed: ${String(e)}`);
      }
    });
    const timer = setTimeout(() => {
      job.timedOut = true;
      void this.abortMigrationJob(uuid, job);
    }, o.timeoutMs);
    try {
      // virsh itself is killed only well after our own deadline: the abort ends it first.
      await this.virsh.run(args, { timeoutMs: o.timeoutMs + 60_000 });
    } catch (e) {
      if (job.cancelled) throw new MigrationCancelledError(uuid);
      if (job.timedOut) throw new MigrationTimeoutError(uuid, o.timeoutMs);
      // Not this host's libvirt failing (a "connection" error is the destination's): final, named as a migration failure.
      const text = e instanceof Error ? e.message : String(e);
      throw new HypervisorError(`migration of VM ${uuid} to ${o.destinationUri} failed, the VM stays on this host: ${text}`, {
        code: "migration_failed", retryable: false, ...(isVirshError(e) ? { virshError: e.virshError } : {}),
      });
    } finally {
      job.settled = true;
      clearTimeout(timer);
      await poller.stop();
    }
    const totalMs = Date.now() - started;
    const done = await this.virsh.run(["domjobinfo", "--completed", "--rawstats", uuid]).then(parseDomjobinfoRaw, (e: unknown) => {
      this.opts.onWarning?.(`statistics of ${uuid}'s completed migration unavailable: ${String(e)}`);
      return undefined;
    });
    const inactive = await this.virsh.run(["dumpxml", "--inactive", uuid]).catch(() => "");
    const bridges = parseDomainBridges(inactive);
    const meta = parseOrbitMetadata(inactive);
    await this.forgetMigratedDomain(uuid);
    // Its disks were copied (local to this host): the destination has its own now, these are nobody's.
    if (o.copyStorage === "all" && meta) {
      await this.removeInstanceFiles(meta).catch((e: unknown) => this.opts.onWarning?.(`files of ${uuid} left after its storage migration: ${String(e)}`));
    }
    // Its tap is gone from this host: its rules here protect nothing (the destination's are the
    // manager's to apply before migrating), and its environment bridges may be unused now.
    await this.nft.remove(uuid).catch((e: unknown) => this.opts.onWarning?.(`firewall of ${uuid} left after its migration: ${String(e)}`));
    await this.releaseUnusedBridges(bridges);
    return {
      totalMs,
      downtimeMs: done?.downtimeMs,
      jobMs: done?.elapsedMs,
      dataBytes: done?.dataProcessedBytes ?? last?.dataProcessedBytes,
      progressSamples: samples,
    };
  }

  async prepareIncomingMigration(spec: VmSpec): Promise<void> {
    const nics = uniqueBy(spec.nics, (n) => n.bridge);
    // Under the bridges' locks, as a define: a destroy here meanwhile sees the bridge made anew.
    await this.withBridgeLocks(nics.map((n) => n.bridge), async () => {
      for (const nic of nics) {
        await this.ensureBridge(nic.bridge, nic.gateway ? { address: nic.gateway, prefixLength: nic.prefixLength } : undefined);
      }
    });
    const uuid = spec.vmUuid.toLowerCase();
    await this.withLock(uuid, () => this.prepareIncomingFiles(uuid, spec));
  }

  /**
   * The VM's files this host does not have, at the paths the source's domain uses (the same
   * instances and images dirs on every host): on shared storage all exist and nothing is made.
   * With disks local to the source, libvirt's copy-storage-all mirrors each writable disk into a
   * file that must already exist here, no smaller than the source's (libvirt creates it only for
   * disks in its own storage pools): each owned disk is made as a start would (a qcow2 overlay on
   * its image, fetched from the manager when missing, or a blank image), so the qcow2's backing
   * file exists too. Read-only devices are not copied but opened as they are: the cloud-init seed
   * is written again from the spec, ISOs fetched. What is made is recorded
   * (INCOMING_MIGRATION_FILE), for a migration that never arrives (destroyVm).
   */
  private async prepareIncomingFiles(uuid: string, spec: VmSpec): Promise<void> {
    const defined = await this.domainState(uuid).then(() => true, (e: unknown) => {
      if (isVirshError(e, "no_domain")) return false;
      throw e;
    });
    // Defined here already: its files are in use (a VM on shared storage may even run here).
    if (defined) return;
    const dir = join(this.opts.instancesDir, uuid);
    const madeDir = !(await exists(dir));
    await mkdir(dir, { recursive: true });
    const recordFile = join(dir, INCOMING_MIGRATION_FILE);
    const earlier = await readFile(recordFile, "utf8").then((t) => JSON.parse(t) as IncomingMigrationRecord, () => undefined);
    const record: IncomingMigrationRecord = { madeDir: earlier?.madeDir ?? madeDir, files: [...(earlier?.files ?? [])] };
    const made = async (path: string, make: () => Promise<unknown>): Promise<void> => {
      if (await exists(path)) return;
      await make();
      if (!record.files.includes(path)) record.files.push(path);
    };
    try {
      for (const [i, d] of spec.disks.entries()) {
        if (d.device === "cdrom" || !d.owned) {
          // ISOs and volumes are the images dir's: fetched when missing, never made here.
          if (d.device === "cdrom" && d.sourcePath) await this.ensureImage(d.sourcePath);
          continue;
        }
        // Never a clone's copy: the disk comes from the source.
        const disk = { ...d, copyFromVmUuid: "" };
        await made(this.ownedDiskPath(disk, i, dir), () => this.prepareDisk(disk, i, dir));
      }
      if (spec.cloudInit) {
        const seedIso = join(dir, "seed.iso");
        const files = buildSeedFiles({ instanceId: uuid, defaultHostname: spec.name, cloudInit: spec.cloudInit, nics: spec.nics });
        await made(seedIso, () => writeSeedIso(seedIso, files, { genisoimage: this.opts.genisoimagePath }));
      }
    } finally {
      if (record.files.length > 0 || record.madeDir) await writeFile(recordFile, JSON.stringify(record));
    }
  }

  async cancelMigration(vmUuid: string): Promise<boolean> {
    const uuid = vmUuid.toLowerCase();
    const job = this.migrations.get(uuid);
    if (!job) return false;
    job.cancelled = true;
    await this.abortMigrationJob(uuid, job);
    return true;
  }

  /**
   * The domain as the destination gets it (live and persistent), with the console socket renamed:
   * on shared storage the destination's libvirt binds its socket (unlinking ours) before this
   * host's domain stops, and the stop then removes the path, the destination's socket by then.
   * A fresh name per migration keeps both. None when the serial is a pty.
   */
  private async destinationXmlArgs(uuid: string, dir: string): Promise<string[]> {
    const live = await this.virsh.run(["dumpxml", "--migratable", uuid]);
    const socket = parseSerialSocketPath(live);
    if (!socket) return [];
    const renamed = join(dirname(socket), `console-${randomBytes(4).toString("hex")}.sock`);
    // A path longer than a unix socket's 107 bytes would fail the destination's QEMU: keep the old one.
    if (Buffer.byteLength(renamed) > 107) return [];
    const persistent = await this.virsh.run(["dumpxml", "--inactive", "--migratable", uuid]);
    const files = { live: join(dir, "live.xml"), persistent: join(dir, "persistent.xml") };
    await writeFile(files.live, live.split(socket).join(renamed));
    await writeFile(files.persistent, persistent.split(socket).join(renamed));
    return ["--xml", files.live, "--persistent-xml", files.persistent];
  }

  /** Managed, running or paused, no snapshots (libvirt refuses them), no passthrough or vGPU device. */
  private async expectMigratable(uuid: string): Promise<void> {
    let meta: OrbitDomainMetadata | undefined;
    try {
      meta = await this.metadata(uuid);
    } catch (e) {
      if (isVirshError(e, "no_domain")) throw new NotFoundError("vm", uuid, `VM ${uuid} is not defined on this host`);
      throw e;
    }
    if (!meta) throw new MigrationRefusedError(uuid, "unmanaged", "its domain is not managed by Orbit");
    const st = await this.domainState(uuid);
    if (st.powerState !== PowerState.POWER_STATE_RUNNING && st.powerState !== PowerState.POWER_STATE_PAUSED) {
      throw new MigrationRefusedError(uuid, "not_running", `it is ${PowerState[st.powerState].replace("POWER_STATE_", "").toLowerCase()} (${st.reason}): a live migration needs it running or paused`);
    }
    const snaps = await this.snapshotNames(uuid);
    if (snaps.length > 0) {
      throw new MigrationRefusedError(uuid, "has_snapshots", `it has ${snaps.length} snapshot(s) (${snaps.join(", ")}), which live in its disks on this host and which libvirt does not migrate: delete them first`);
    }
    const xml = await this.virsh.run(["dumpxml", uuid]);
    const pci = parseDomainPciHostdevs(xml);
    if (pci.length > 0) {
      throw new MigrationRefusedError(uuid, "gpu_passthrough", `it has passthrough PCI devices (${pci.join(", ")}): their state cannot be moved live; stop it and migrate it cold`);
    }
    const mdevs = parseDomainMdevs(xml);
    if (mdevs.length > 0) {
      throw new MigrationRefusedError(uuid, "vgpu", `it has vGPUs (${mdevs.join(", ")}): live migration of vGPUs needs vendor driver, libvirt and QEMU support this driver does not check yet; stop it and migrate it cold`);
    }
  }

  /** Samples `domjobinfo` while the migration runs (the first right away); stop() waits for the sampler to end. */
  private pollMigrationJob(uuid: string, everyMs: number, onSample: (j: DomainJobInfo) => void): { stop(): Promise<void> } {
    let stopped = false;
    let wake: () => void = () => {};
    const loop = (async () => {
      while (!stopped) {
        const j = await this.virsh.run(["domjobinfo", "--rawstats", uuid]).then(parseDomjobinfoRaw, () => undefined);
        if (!stopped && j && (j.type === "unbounded" || j.type === "bounded")) onSample(j);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, everyMs);
        });
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        wake();
        await loop;
      },
    };
  }

  /**
   * `domjobabort` until the migration's virsh returns: asked before libvirt has begun the job
   * (or between its phases) the abort finds no job, so it is asked again.
   */
  private async abortMigrationJob(uuid: string, job: MigrationJob): Promise<void> {
    while (!job.settled) {
      try {
        await this.virsh.run(["domjobabort", uuid]);
        return;
      } catch (e) {
        if (isVirshError(e, "no_domain")) return;
        await sleep(100);
      }
    }
  }

  /** Undefines the inactive definition a completed migration left here; the files stay (the destination's now). */
  private async forgetMigratedDomain(uuid: string): Promise<void> {
    for (const flags of [["--keep-nvram"], []]) {
      try {
        await this.virsh.run(["undefine", uuid, ...flags]);
        break;
      } catch (e) {
        if (isVirshError(e, "no_domain")) break;
        if (flags.length === 0) {
          this.opts.onWarning?.(`the definition of ${uuid} left after its migration was not undefined: ${String(e)}`);
        }
      }
    }
    this.metadataCache.delete(uuid);
    for (const [name, u] of this.uuidByName) if (u === uuid) this.uuidByName.delete(name);
  }

  /** Removes a volume's file (attached to no VM: the manager detached it first). */
  async deleteDisk(sourcePath: string): Promise<void> {
    if (!sourcePath) throw new InvalidArgumentError("sourcePath", "a disk needs a source path");
    await rm(this.resolveImage(sourcePath), { force: true });
  }

  /**
   * Detaches a disk by target ("vdb") or source path, live and from the config. A running guest
   * must release it: waits up to timeoutMs for it to leave the live XML, else DeadlineExceeded.
   */
  async detachDisk(vmUuid: string, rawTarget: string, timeoutMs = 20_000): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    // A source path is resolved as attachDisk resolved it (relative to the images directory).
    const target = rawTarget.includes("/") ? this.resolveImage(rawTarget) : rawTarget;
    await this.withLock(uuid, async () => {
      const flags = await this.liveConfigFlags(uuid);
      try {
        await this.virsh.run(["detach-disk", uuid, target, ...flags]);
      } catch (e) {
        // The same code as the simulator's: the manager tells a wrong target from a host failure.
        if (isVirshError(e, "device_not_found")) throw new NotFoundError("disk", target, `VM ${uuid} has no disk whose target or source path is ${target}: ${e.message}`);
        throw e;
      }
      if (!flags.includes("--live")) return;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const disks = parseDomainDisks(await this.virsh.run(["dumpxml", uuid]));
        if (!disks.some((d) => d.targetDev === target || d.sourcePath === target)) return;
        if (Date.now() >= deadline) throw new DeadlineExceededError(`guest of VM ${uuid} did not release disk ${target} within ${timeoutMs} ms`);
        await sleep(this.pollMs);
      }
    });
  }

  /**
   * Creates (or with `replace`, recreates) an owned disk of a VM that does not run, in its
   * instance directory, as startVm would: the next start defines the domain on it.
   */
  async prepareOwnedDisk(vmUuid: string, disk: DiskSpec, opts: { replace: boolean }): Promise<void> {
    const uuid = vmUuid.toLowerCase();
    await this.withLock(uuid, async () => {
      await this.expectNotRunning(uuid, "its disk cannot be replaced while it runs");
      const saved = await this.hasManagedSave(uuid).catch((e: unknown) => {
        if (isVirshError(e, "no_domain")) return false;
        throw e;
      });
      if (saved) {
        throw new ConflictError(`VM ${uuid} is hibernated: its saved memory belongs to the disk it has`, "managed_save");
      }
      const dir = await this.instanceDir(uuid);
      if (!opts.replace) {
        await this.prepareDisk(disk, 0, dir);
        return;
      }
      // The new disk is made beside the old one and renamed over it: a refusal or a failure
      // half-way leaves the VM the disk it had.
      const path = this.ownedDiskPath(disk, 0, dir);
      const fresh = `${path}.new`;
      await rm(fresh, { force: true });
      try {
        await this.prepareDisk({ ...disk, id: disk.id || "disk0", sourcePath: fresh }, 0, dir);
        await rename(fresh, path);
      } finally {
        await rm(fresh, { force: true });
      }
    });
  }

  /** `virsh domstats` for one VM or all domains, typed. */
  async domainStats(vmUuid?: string): Promise<LibvirtVmStats[]> {
    const groups = ["--state", "--cpu-total", "--balloon", "--vcpu", "--interface", "--block"];
    const args = vmUuid ? ["domstats", ...groups, vmUuid.toLowerCase()] : ["domstats", ...groups];
    const stats = parseDomstats(await this.virsh.run(args));
    return Promise.all(stats.map(async (s) => ({ ...s, vmUuid: vmUuid?.toLowerCase() ?? (await this.uuidForName(s.name)) })));
  }

  // ---- capability "firewall": nftables on the VM's first NIC, named ahead by vmTapName (domain-xml.ts)

  async applyFirewall(vmUuid: string, firewall: VmFirewall): Promise<void> {
    await this.nft.apply({ vmUuid: vmUuid.toLowerCase(), tapInterface: vmTapName(vmUuid), ...firewall });
  }

  async removeFirewall(vmUuid: string): Promise<void> {
    await this.nft.remove(vmUuid.toLowerCase());
  }

  /** The serial console log file of a VM (what the guest printed on ttyS0). */
  serialLogPath(vmUuid: string): string {
    return join(this.opts.instancesDir, vmUuid.toLowerCase(), "serial.log");
  }

  /**
   * The tail of the serial log libvirt writes for the domain (domain-xml.ts: `<serial><log append="on">`,
   * so it spans the VM's boots). The VM is known by its instance directory, which outlives a
   * domain that was shut off and undefined until the VM is destroyed.
   */
  async consoleLog(vmUuid: string, maxBytes: number): Promise<ConsoleLogTail> {
    const uuid = vmUuid.toLowerCase();
    const tail = await readFileTail(this.serialLogPath(uuid), maxBytes);
    if (tail) return tail;
    const dir = join(this.opts.instancesDir, uuid);
    if (!(await access(dir, constants.F_OK).then(() => true, () => false))) {
      throw new NotFoundError("vm", uuid, `VM ${uuid} has no instance directory on this host (${dir})`);
    }
    return { text: "", truncated: false };
  }

  /** The unix socket QEMU binds for the VM's serial console (domain-xml.ts, `<serial type="unix">`). */
  consoleSocketPath(vmUuid: string): string {
    return join(this.opts.instancesDir, vmUuid.toLowerCase(), "console.sock");
  }

  /**
   * Connects to the serial console's socket of a running domain. QEMU serves one client at a
   * time on it: a second attachment waits until the first one leaves. Domains defined before
   * the socket existed (a pty serial) have no socket until they are started again.
   */
  async openConsole(vmUuid: string): Promise<ConsoleStream> {
    const uuid = vmUuid.toLowerCase();
    let st: DomainState;
    try {
      st = await this.domainState(uuid);
    } catch (e) {
      if (isVirshError(e) && e.kind === "no_domain") throw new NotFoundError("vm", uuid, `VM ${uuid} is not defined on this host`);
      throw e;
    }
    if (st.powerState !== PowerState.POWER_STATE_RUNNING) {
      const name = PowerState[st.powerState];
      throw new ConflictError(`cannot open the console of VM ${uuid}: it is ${name.replace("POWER_STATE_", "").toLowerCase()} (${st.reason}); the console needs it running`, name);
    }
    // A migrated domain's socket has another name (destinationXmlArgs): the live XML says which.
    const path = parseSerialSocketPath(await this.virsh.run(["dumpxml", uuid]).catch(() => "")) ?? this.consoleSocketPath(uuid);
    return new Promise<Socket>((resolve, reject) => {
      const socket = netConnect(path);
      socket.once("connect", () => { socket.off("error", reject); resolve(socket); });
      socket.once("error", (e: NodeJS.ErrnoException) => {
        reject(e.code === "ENOENT"
          ? new ConflictError(`VM ${uuid} has no console socket (${path}): it was started before consoles had one (stop and start it), or the path is over 107 bytes`, "no_console_socket")
          : new HypervisorError(`cannot connect to the console socket of VM ${uuid} (${path}): ${e.message}`, { code: "console_socket" }));
      });
    });
  }

  // ------------------------------------------------------------------ internals

  private async define(spec: VmSpec): Promise<void> {
    const uuid = spec.vmUuid.toLowerCase();
    const dir = await this.instanceDir(uuid);
    const owned: string[] = [];
    const disks: DiskSpec[] = [];
    for (const [i, d] of spec.disks.entries()) {
      const prepared = await this.prepareDisk(d, i, dir);
      if (d.owned) owned.push(prepared.sourcePath);
      disks.push(prepared);
    }
    let seedIso: string | undefined;
    if (spec.cloudInit) {
      seedIso = join(dir, "seed.iso");
      const files = buildSeedFiles({ instanceId: uuid, defaultHostname: spec.name, cloudInit: spec.cloudInit, nics: spec.nics });
      await writeSeedIso(seedIso, files, { genisoimage: this.opts.genisoimagePath });
      owned.push(seedIso);
    }
    const xml = buildDomainXml(
      { ...spec, vmUuid: uuid, disks },
      { ...this.opts.xml, domainType: this.opts.domainType },
      {
        serialLog: join(dir, "serial.log"),
        // A unix socket path is at most 107 bytes (sun_path): past that QEMU could not start the
        // domain, so a deep instances dir keeps the pty serial (and has no interactive console).
        ...(Buffer.byteLength(this.consoleSocketPath(uuid)) <= 107 ? { consoleSocket: this.consoleSocketPath(uuid) } : {}),
        nvram: join(dir, "nvram.fd"),
        seedIso,
        instanceDir: dir,
        ownedFiles: owned,
      },
    );
    const file = join(dir, "domain.xml");
    await writeFile(file, xml);
    // libvirt checks the bridge exists when the domain starts; one bridge per environment network,
    // which gets the network's gateway (the host routes floating-IP traffic through it).
    // Under the bridges' locks until the domain is defined: a destroy elsewhere on this host then
    // sees it as a user and leaves the bridge in place.
    const nics = uniqueBy(spec.nics, (n) => n.bridge);
    await this.withBridgeLocks(nics.map((n) => n.bridge), async () => {
      for (const nic of nics) {
        await this.ensureBridge(nic.bridge, nic.gateway ? { address: nic.gateway, prefixLength: nic.prefixLength } : undefined);
      }
      // A renamed VM: libvirt refuses to redefine a uuid under a new name, so rename first (inactive only).
      const wanted = domainNameFor(spec);
      const current = await this.virsh.run(["domname", uuid]).then((n) => n.trim(), () => undefined);
      if (current !== undefined && current !== wanted) await this.virsh.run(["domrename", uuid, wanted]);
      await this.virsh.run(["define", file]);
    });
    this.metadataCache.delete(uuid);
  }

  /**
   * Environment bridges no domain defined here uses any more (a stopped or hibernated one still
   * does: it starts on the bridge) are removed. A failure is only reported: the VM is gone
   * either way, and the next destroy on that network tries again.
   */
  private async releaseUnusedBridges(bridges: string[]): Promise<void> {
    const candidates = bridges.filter((b) => b.startsWith(ENV_BRIDGE_PREFIX));
    if (candidates.length === 0) return;
    await this.withBridgeLocks(candidates, async () => {
      const used = new Set<string>();
      const uuids = (await this.virsh.run(["list", "--all", "--uuid"])).split("\n").map((l) => l.trim()).filter(Boolean);
      for (const other of uuids) {
        const xml = await this.virsh.run(["dumpxml", "--inactive", other]).catch(() => "");
        for (const b of parseDomainBridges(xml)) used.add(b);
      }
      for (const b of candidates.filter((c) => !used.has(c))) {
        await this.releaseBridge(b).catch((e: unknown) => this.opts.onWarning?.(`bridge ${b} not removed: ${(e as Error).message}`));
      }
    });
  }

  /** Runs fn holding each bridge's lock (taken in name order: two callers never wait on each other crosswise). */
  private withBridgeLocks<T>(bridges: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(bridges)].sort();
    const run = (i: number): Promise<T> => i === sorted.length ? fn() : this.withLock(`bridge:${sorted[i]}`, () => run(i + 1));
    return run(0);
  }

  /** Resolves paths and creates owned disks that do not exist yet (qcow2 overlay or blank image). */
  private async prepareDisk(d: DiskSpec, i: number, dir: string): Promise<DiskSpec> {
    const id = d.id || `disk${i}`;
    if (d.device === "cdrom") {
      if (!d.sourcePath) throw new InvalidArgumentError(`disks[${i}].sourcePath`, `cdrom ${id} has no ISO path`);
      await this.ensureImage(d.sourcePath);
      return { ...d, sourcePath: this.resolveImage(d.sourcePath) };
    }
    if (!d.owned) {
      if (!d.sourcePath) throw new InvalidArgumentError(`disks[${i}].sourcePath`, `disk ${id} is not owned and has no path`);
      const path = this.resolveImage(d.sourcePath);
      // A bootable volume first used as a VM's boot disk: made here as an overlay of its image,
      // and not the VM's (never in its owned files), so the VM's destroy keeps it.
      if (d.backingPath && !(await exists(path))) {
        await mkdir(dirname(path), { recursive: true });
        await this.ensureImage(d.backingPath);
        const backing = this.resolveImage(d.backingPath);
        const info = JSON.parse(await this.qemuImg(["info", "--output=json", "-U", backing])) as { format: string; "virtual-size": number };
        const size = d.sizeGib * GIB > info["virtual-size"] ? [`${d.sizeGib}G`] : [];
        await this.qemuImg(["create", "-q", "-f", "qcow2", "-b", backing, "-F", info.format, path, ...size]);
      }
      return { ...d, sourcePath: path };
    }
    const format = d.format || "qcow2";
    const path = this.ownedDiskPath(d, i, dir);
    if (!(await exists(path))) {
      if (d.copyFromVmUuid) {
        await this.copyDisk(d, i, path);
      } else if (d.backingPath) {
        if (format !== "qcow2") throw new InvalidArgumentError(`disks[${i}].format`, "an overlay on a backing image must be qcow2");
        await this.ensureImage(d.backingPath);
        const backing = this.resolveImage(d.backingPath);
        const info = JSON.parse(await this.qemuImg(["info", "--output=json", "-U", backing])) as { format: string; "virtual-size": number };
        const size = d.sizeGib * GIB > info["virtual-size"] ? [`${d.sizeGib}G`] : [];
        await this.qemuImg(["create", "-q", "-f", "qcow2", "-b", backing, "-F", info.format, path, ...size]);
      } else {
        if (d.sizeGib <= 0) throw new InvalidArgumentError(`disks[${i}].sizeGib`, `owned disk ${id} needs a size or a backing image`);
        await this.qemuImg(["create", "-q", "-f", format, path, `${d.sizeGib}G`]);
      }
    }
    return { ...d, id, format, sourcePath: path };
  }

  /** Where an owned disk lives: its spec's path, else `<id>.<format>` in the VM's instance directory. */
  private ownedDiskPath(d: DiskSpec, i: number, dir: string): string {
    const id = d.id || `disk${i}`;
    return d.sourcePath ? this.resolveImage(d.sourcePath) : join(dir, `${id.replace(/[^A-Za-z0-9_.-]/g, "_")}.${d.format || "qcow2"}`);
  }

  /**
   * A full copy (no backing file: independent of the source and its image) of the same disk of
   * another VM on this host, which must not run. Written beside and renamed, so a copy cut short
   * is never taken for a disk. qemu-img also refuses a disk a running QEMU holds locked.
   */
  private async copyDisk(d: DiskSpec, i: number, path: string): Promise<void> {
    const source = d.copyFromVmUuid.toLowerCase();
    await this.expectNotRunning(source, "its disk cannot be copied consistently while it runs");
    const from = this.ownedDiskPath({ ...d, sourcePath: "" }, i, join(this.opts.instancesDir, source));
    if (!(await exists(from))) throw new NotFoundError("disk", from, `VM ${source} has no disk ${d.id || `disk${i}`} on this host (${from})`);
    const part = `${path}.part`;
    try {
      await this.qemuImg(["convert", "-q", "-O", "qcow2", from, part]);
      await rename(part, path);
    } finally {
      await rm(part, { force: true });
    }
  }

  /** Refuses when the VM's domain is active (an undefined domain does not run). */
  private async expectNotRunning(uuid: string, why: string): Promise<void> {
    const st = await this.domainState(uuid).catch((e: unknown) => {
      if (isVirshError(e, "no_domain")) return undefined;
      throw e;
    });
    if (st && (isActive(st.powerState) || st.powerState === PowerState.POWER_STATE_CRASHED)) {
      throw new ConflictError(`VM ${uuid} is ${PowerState[st.powerState]}: ${why}`, PowerState[st.powerState]);
    }
  }

  /** `virsh attach-device` of one device element, through a file in the VM's directory. */
  private async attachDeviceXml(uuid: string, what: string, xml: string, flags: string[]): Promise<void> {
    const file = join(await this.instanceDir(uuid), `attach-${what}.xml`);
    await writeFile(file, xml);
    try {
      await this.virsh.run(["attach-device", uuid, file, ...flags]);
    } finally {
      await rm(file, { force: true });
    }
  }

  private readonly fetching = new Map<string, Promise<void>>();

  /** A relative image path missing from imagesDir is fetched from the manager (once, whoever asks). */
  private async ensureImage(p: string): Promise<void> {
    const fetchImage = this.opts.fetchImage;
    if (!fetchImage || isAbsolute(p) || p.includes("/")) return;
    const dest = this.resolveImage(p);
    if (await exists(dest)) return;
    let pending = this.fetching.get(p);
    if (!pending) {
      pending = (async () => {
        await mkdir(this.imagesDir, { recursive: true });
        await fetchImage(p, dest);
      })().finally(() => this.fetching.delete(p));
      this.fetching.set(p, pending);
    }
    await pending;
  }

  private resolveImage(p: string): string {
    return isAbsolute(p) ? p : resolve(this.imagesDir, p);
  }

  private async instanceDir(uuid: string): Promise<string> {
    const dir = join(this.opts.instancesDir, uuid);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  private async qemuImg(args: string[]): Promise<string> {
    const r = await execa(this.opts.qemuImgPath ?? "qemu-img", args, { reject: false, env: { LC_ALL: "C" } });
    if (r.exitCode !== 0) throw new HypervisorError(`qemu-img ${args[0]} failed: ${r.stderr.trim() || r.message}`, { code: "qemu_img" });
    return r.stdout;
  }

  private async domainState(uuid: string): Promise<DomainState> {
    return parseDomstateReason(await this.virsh.run(["domstate", "--reason", uuid]));
  }

  private async hasManagedSave(uuid: string): Promise<boolean> {
    const info = await this.virsh.run(["dominfo", uuid]);
    return /^Managed save:\s+yes/m.test(info);
  }

  private async metadata(uuid: string): Promise<OrbitDomainMetadata | undefined> {
    const cached = this.metadataCache.get(uuid);
    if (cached !== undefined) return cached ?? undefined;
    try {
      const meta = parseOrbitMetadataElement(await this.virsh.run(["metadata", uuid, "--uri", ORBIT_METADATA_NS]));
      this.metadataCache.set(uuid, meta ?? null);
      return meta;
    } catch (e) {
      if (isVirshError(e, "metadata_not_found")) {
        this.metadataCache.set(uuid, null);
        return undefined;
      }
      // The test driver has no metadata API: read it from the XML instead.
      if (isVirshError(e, "unsupported")) {
        const meta = parseOrbitMetadata(await this.virsh.run(["dumpxml", uuid]));
        this.metadataCache.set(uuid, meta ?? null);
        return meta;
      }
      throw e;
    }
  }

  private async uuidForName(name: string): Promise<string | undefined> {
    const known = this.uuidByName.get(name);
    if (known) return known;
    try {
      const uuid = (await this.virsh.run(["domuuid", name])).trim().toLowerCase();
      this.uuidByName.set(name, uuid);
      return uuid;
    } catch {
      return undefined;
    }
  }

  private async forceOff(uuid: string): Promise<void> {
    try {
      await this.virsh.run(["destroy", uuid]);
    } catch (e) {
      if (!isVirshError(e, "not_running") && !isVirshError(e, "operation_invalid")) throw e;
    }
  }

  /** Presses the ACPI power button (again every acpiRepeatMs) until shut off; false on timeout. */
  private async acpiShutdownAndWait(uuid: string, timeoutMs: number): Promise<boolean> {
    const repeatMs = this.opts.acpiRepeatMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    let nextPress = 0;
    for (;;) {
      const st = await this.domainState(uuid);
      if (st.powerState === PowerState.POWER_STATE_SHUTOFF) return true;
      const now = Date.now();
      if (now >= deadline) return false;
      if (now >= nextPress) {
        try {
          await this.virsh.run(["shutdown", uuid]);
        } catch (e) {
          if (!isVirshError(e, "not_running")) throw e;
        }
        nextPress = now + repeatMs;
      }
      await sleep(Math.min(this.pollMs, Math.max(1, deadline - Date.now())));
    }
  }

  private async undefine(uuid: string): Promise<void> {
    // Drivers without NVRAM/managed-save support reject those flags: retry with fewer.
    const attempts = [["--nvram", "--managed-save", "--snapshots-metadata"], ["--managed-save", "--snapshots-metadata"], []];
    for (const [i, flags] of attempts.entries()) {
      try {
        await this.virsh.run(["undefine", uuid, ...flags]);
        return;
      } catch (e) {
        if (isVirshError(e, "no_domain")) return;
        if (!isVirshError(e, "unsupported") || i === attempts.length - 1) throw e;
      }
    }
  }

  private async liveConfigFlags(uuid: string): Promise<string[]> {
    const st = await this.domainState(uuid);
    return isActive(st.powerState) ? ["--live", "--config"] : ["--config"];
  }

  private async liveAndConfig(vmUuid: string, command: string[]): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      const [verb, ...rest] = command;
      try {
        await this.virsh.run([verb!, uuid, ...rest, ...(await this.liveConfigFlags(uuid))]);
      } catch (e) {
        // libvirt's "invalid argument" (past the maximum, below 1): a bad request, not a host failure.
        if (isVirshError(e, "invalid_config")) throw new InvalidArgumentError(verb === "setvcpus" ? "vcpus" : "memoryMib", `${verb} of VM ${uuid}: ${e.message}`);
        throw e;
      }
      return this.status(uuid);
    });
  }

  private async simple(vmUuid: string, command: string[]): Promise<DomainStatus> {
    const uuid = vmUuid.toLowerCase();
    return this.withLock(uuid, async () => {
      try {
        await this.virsh.run([...command, uuid]);
      } catch (e) {
        // Asked of a domain in the wrong state (suspend a shut-off VM...): a conflict, as in the simulator.
        if (isVirshError(e, "not_running") || isVirshError(e, "operation_invalid")) {
          throw new ConflictError(`cannot ${command[0]} VM ${uuid}: ${e.message}`, e.kind);
        }
        throw e;
      }
      return this.status(uuid);
    });
  }

  private withLock<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(uuid, settled);
    void settled.then(() => {
      if (this.locks.get(uuid) === settled) this.locks.delete(uuid);
    });
    return next;
  }
}

interface MigrationJob {
  cancelled: boolean;
  timedOut: boolean;
  /** The migration's virsh has returned (an abort has nothing left to stop). */
  settled: boolean;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The first item of each key, in order. */
function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}
