// Executes manager commands on the hypervisor. A command id is executed at most once: a repeat
// while it runs joins the running execution, a repeat after it finished gets the stored result.
// Commands for one VM run one after another, so a delete never overtakes the start before it.
// A command that needs a capability the driver lacks is refused with code "unsupported".
import { ConflictError, HypervisorError, InvalidArgumentError, NotFoundError, UnsupportedError, toErrorInfo } from "#shared/errors.js";
import { StopMode, type Command, type CommandResult, type DomainStatus, type ProbeHost, type ProbeResult, type VmStats as VmStatsMessage } from "#shared/protocol.js";
import { requireCapability, type AttachDiskOptions, type Hypervisor, type MigrationProgress, type VmStats } from "../drivers/hypervisor.js";
import { checkFirewallSpec } from "../network/firewall-spec.js";

export interface CommandExecutorOptions {
  /** How many finished results to remember for dedupe. */
  remember?: number;
  defaultStopTimeoutMs?: number;
  /** How long a running guest has to release a detached disk when the command does not say. */
  defaultDetachTimeoutMs?: number;
  /** How long a snapshot may take when the command does not say (CloudStack's vmsnapshot.create.wait default, 30 min). */
  defaultSnapshotTimeoutMs?: number;
  /** How long a migration may take when the command does not say (CloudStack's migratewait default, 1 h). */
  defaultMigrationTimeoutMs?: number;
  /** Each progress sample of a running MigrateVm (the agent sends them to the manager). */
  onMigrationProgress?: (vmUuid: string, commandId: string, progress: MigrationProgress) => void;
  /** HA: answers a ProbeHost about a neighbour (absent: ProbeHost is refused as unsupported). */
  probeHost?: (probe: ProbeHost) => Promise<ProbeResult>;
  /**
   * HA: throws when this host may not run a VM now (it fenced itself and has not reached the
   * manager since). Checked when a command that would run one gets its turn, so a start queued
   * before the fence does not run after it.
   */
  refuseRun?: (what: string, vmUuid: string) => void;
}

/** The commands that make a VM run on this host. */
const RUNS_A_VM = new Set<string>(["startVm", "resumeVm", "restoreVm", "rebootVm", "revertSnapshot", "prepareMigrationIn"]);

type Output = CommandResult["output"];

/** Console log tail sent when the command does not say, and the most it may ask (well inside a gRPC message). */
export const DEFAULT_CONSOLE_LOG_BYTES = 64 * 1024;
export const MAX_CONSOLE_LOG_BYTES = 1024 * 1024;

export class CommandExecutor {
  private readonly done = new Map<string, CommandResult>();
  private readonly running = new Map<string, Promise<CommandResult>>();
  private readonly vmQueues = new Map<string, Promise<unknown>>();

  constructor(private readonly hv: Hypervisor, private readonly o: CommandExecutorOptions = {}) {}

  execute(cmd: Command): Promise<CommandResult> {
    if (!cmd.commandId) {
      return Promise.resolve({
        commandId: "", ok: false, error: { code: "invalid_argument", message: "command_id is required", retryable: false }, domain: undefined, output: undefined,
      });
    }
    const prior = this.done.get(cmd.commandId);
    if (prior) return Promise.resolve(prior);
    const inflight = this.running.get(cmd.commandId);
    if (inflight) return inflight;
    // Not queued: the VM's queue is held by the very MigrateVm it stops.
    // Nor is a probe: it concerns no VM of this host and must answer within its own timeout.
    if (cmd.body?.$case === "cancelMigration" || cmd.body?.$case === "probeHost") return this.run(cmd).then((r) => { this.remember(r); return r; });
    const key = cmd.vmUuid || "(host)";
    const previous = this.vmQueues.get(key) ?? Promise.resolve();
    const p = previous.catch(() => undefined).then(() => this.run(cmd)).then((r) => {
      this.running.delete(cmd.commandId);
      // A retryable failure is not an answer to keep: the manager's retry must run it again.
      if (r.ok || !r.error?.retryable) this.remember(r);
      return r;
    });
    this.running.set(cmd.commandId, p);
    const tail = p.catch(() => undefined);
    this.vmQueues.set(key, tail);
    void tail.then(() => { if (this.vmQueues.get(key) === tail) this.vmQueues.delete(key); });
    return p;
  }

  /** Whether this command id has been seen (finished or running). */
  knows(commandId: string): boolean {
    return this.done.has(commandId) || this.running.has(commandId);
  }

  private remember(r: CommandResult): void {
    this.done.set(r.commandId, r);
    const max = this.o.remember ?? 10_000;
    if (this.done.size > max) this.done.delete(this.done.keys().next().value!);
  }

  private async run(cmd: Command): Promise<CommandResult> {
    const ok = (domain: DomainStatus | undefined, output: Output = undefined): CommandResult =>
      ({ commandId: cmd.commandId, ok: true, error: undefined, domain, output });
    try {
      if (cmd.deadlineMs && Date.now() > cmd.deadlineMs) {
        throw new HypervisorError(`command ${cmd.commandId} arrived after its deadline`, { retryable: false });
      }
      const b = cmd.body;
      if (!b) throw new InvalidArgumentError("body", "command has no body");
      // A disk attached to no VM: the one command that names none.
      if (b.$case === "deleteDisk") {
        if (!b.value.sourcePath) throw new InvalidArgumentError("delete_disk.source_path", "DeleteDisk needs a source path");
        await requireCapability(this.hv, "disks", "delete disk").deleteDisk(b.value.sourcePath);
        return ok(undefined);
      }
      // HA evidence about another host: names no VM either.
      if (b.$case === "probeHost") {
        if (!this.o.probeHost) throw new UnsupportedError("this agent cannot probe hosts");
        const p = b.value;
        if (!p.hostUuid) throw new InvalidArgumentError("probe_host.host_uuid", "ProbeHost needs the probed host's uuid");
        if (!p.address) throw new InvalidArgumentError("probe_host.address", "ProbeHost needs the probed host's address");
        return ok(undefined, { $case: "probe", value: await this.o.probeHost(p) });
      }
      // Every command below names its VM; only the body is optional in the wire format.
      if (!cmd.vmUuid) throw new InvalidArgumentError("vm_uuid", `${b.$case} needs a vm_uuid`);
      const vm = cmd.vmUuid;
      if (RUNS_A_VM.has(b.$case)) this.o.refuseRun?.(b.$case, vm);
      switch (b.$case) {
        case "startVm": {
          const spec = b.value.spec;
          if (!spec) throw new InvalidArgumentError("start_vm.spec", "StartVm needs a spec");
          if (spec.vmUuid.toLowerCase() !== vm.toLowerCase()) throw new InvalidArgumentError("start_vm.spec.vm_uuid", "spec is for another VM than the command");
          // The firewall goes up before the VM first runs: no moment without it.
          if (spec.firewall) {
            const firewall = checkFirewallSpec(spec.firewall, "start_vm.spec.firewall");
            await requireCapability(this.hv, "firewall", "start with a firewall").applyFirewall(vm, firewall);
          }
          return ok(await this.hv.startVm(spec));
        }
        case "stopVm":
          return ok(await this.hv.stopVm(vm, {
            mode: b.value.mode === StopMode.STOP_MODE_UNSPECIFIED ? StopMode.STOP_MODE_ACPI_THEN_FORCE : b.value.mode,
            timeoutMs: b.value.timeoutMs || (this.o.defaultStopTimeoutMs ?? 60_000),
          }));
        case "destroyVm":
          await this.hv.destroyVm(vm, { removeOwnedDisks: b.value.removeOwnedDisks });
          await this.hv.firewall?.removeFirewall(vm);
          return ok(undefined);
        case "rebootVm": {
          const power = requireCapability(this.hv, "power", b.value.hard ? "reset" : "reboot");
          return ok(await (b.value.hard ? power.reset(vm) : power.reboot(vm)));
        }
        case "suspendVm":
          return ok(await requireCapability(this.hv, "power", "suspend").suspend(vm));
        case "resumeVm":
          return ok(await requireCapability(this.hv, "power", "resume").resume(vm));
        case "hibernateVm":
          return ok(await requireCapability(this.hv, "power", "hibernate").hibernate(vm));
        case "restoreVm":
          return ok(await requireCapability(this.hv, "power", "restore").restore(vm));
        case "resizeVm":
          return ok(await this.resize(vm, b.value.vcpus, b.value.memoryMib));
        case "attachDisk": {
          const disks = requireCapability(this.hv, "disks", "attach disk");
          const a = b.value;
          if (!a.sourcePath) throw new InvalidArgumentError("attach_disk.source_path", "AttachDisk needs a source path");
          if (a.bus && a.bus !== "virtio" && a.bus !== "scsi") throw new InvalidArgumentError("attach_disk.bus", `disk bus ${a.bus} is not supported (virtio or scsi)`);
          if (a.format && a.format !== "qcow2" && a.format !== "raw") throw new InvalidArgumentError("attach_disk.format", `disk format ${a.format} is not supported (qcow2 or raw)`);
          const opts: AttachDiskOptions = {
            sourcePath: a.sourcePath,
            ...(a.format ? { format: a.format } : {}),
            ...(a.bus ? { bus: a.bus as "virtio" | "scsi" } : {}),
            ...(a.targetDev ? { targetDev: a.targetDev } : {}),
            ...(a.serial ? { serial: a.serial } : {}),
            ...(a.createSizeGib ? { createSizeGib: a.createSizeGib } : {}),
            ...(a.backingPath ? { backingPath: a.backingPath } : {}),
          };
          const targetDev = await disks.attachDisk(vm, opts);
          return ok(await this.statusOf(vm), { $case: "diskAttached", value: { targetDev } });
        }
        case "detachDisk": {
          const disks = requireCapability(this.hv, "disks", "detach disk");
          if (!b.value.target) throw new InvalidArgumentError("detach_disk.target", "DetachDisk needs a target device or source path");
          await disks.detachDisk(vm, b.value.target, b.value.timeoutMs || (this.o.defaultDetachTimeoutMs ?? 20_000));
          return ok(await this.statusOf(vm));
        }
        case "prepareDisk": {
          const disks = requireCapability(this.hv, "disks", "prepare disk");
          const d = b.value.disk;
          if (!d) throw new InvalidArgumentError("prepare_disk.disk", "PrepareDisk needs a disk");
          if (!d.owned || d.device === "cdrom") throw new InvalidArgumentError("prepare_disk.disk.owned", `disk ${d.id || "(no id)"} is not an owned disk: only the VM's own disks are created or replaced`);
          if (d.copyFromVmUuid && d.copyFromVmUuid.toLowerCase() === vm.toLowerCase()) {
            throw new InvalidArgumentError("prepare_disk.disk.copy_from_vm_uuid", "a disk cannot be copied from its own VM");
          }
          await disks.prepareOwnedDisk(vm, d, { replace: b.value.replace });
          return ok(await this.statusOf(vm));
        }
        case "changeMedia": {
          const disks = requireCapability(this.hv, "disks", "change cdrom media");
          const m = b.value;
          if (m.eject && m.sourcePath) throw new InvalidArgumentError("change_media.source_path", "ChangeMedia ejects or inserts: an eject names no ISO");
          if (!m.eject && !m.sourcePath) throw new InvalidArgumentError("change_media.source_path", "ChangeMedia needs the ISO to insert (or eject)");
          await disks.changeMedia(vm, m.eject ? { eject: true } : { eject: false, sourcePath: m.sourcePath });
          return ok(await this.statusOf(vm));
        }
        case "getVmStats": {
          const [s] = await requireCapability(this.hv, "stats", "VM stats").domainStats(vm);
          if (!s) throw new HypervisorError(`no stats for VM ${vm}`, { code: "no_domain" });
          return ok(await this.statusOf(vm), { $case: "vmStats", value: toVmStatsMessage(s) });
        }
        case "getConsoleLog": {
          const maxBytes = b.value.maxBytes || DEFAULT_CONSOLE_LOG_BYTES;
          if (maxBytes > MAX_CONSOLE_LOG_BYTES) {
            throw new InvalidArgumentError("get_console_log.max_bytes", `at most ${MAX_CONSOLE_LOG_BYTES} bytes of console log are sent; ${maxBytes} asked`);
          }
          const tail = await requireCapability(this.hv, "console", "console log").consoleLog(vm, maxBytes);
          return ok(undefined, { $case: "consoleLog", value: tail });
        }
        case "createSnapshot": {
          const snaps = requireCapability(this.hv, "snapshots", "create snapshot");
          const c = b.value;
          if (!c.name) throw new InvalidArgumentError("create_snapshot.name", "CreateSnapshot needs a name");
          const info = await snaps.createSnapshot(vm, {
            name: c.name, description: c.description, memory: c.memory, quiesce: c.quiesce,
            timeoutMs: c.timeoutMs || (this.o.defaultSnapshotTimeoutMs ?? 1_800_000),
          });
          return ok(await this.statusOf(vm), { $case: "snapshots", value: { snapshots: [info] } });
        }
        case "revertSnapshot": {
          const snaps = requireCapability(this.hv, "snapshots", "revert snapshot");
          if (!b.value.name) throw new InvalidArgumentError("revert_snapshot.name", "RevertSnapshot needs a name");
          return ok(await snaps.revertSnapshot(vm, b.value.name, { shutOff: b.value.shutOff }));
        }
        case "deleteSnapshot": {
          const snaps = requireCapability(this.hv, "snapshots", "delete snapshot");
          if (!b.value.name) throw new InvalidArgumentError("delete_snapshot.name", "DeleteSnapshot needs a name");
          await snaps.deleteSnapshot(vm, b.value.name);
          return ok(await this.statusOf(vm));
        }
        case "listSnapshots": {
          const list = await requireCapability(this.hv, "snapshots", "list snapshots").listSnapshots(vm);
          return ok(await this.statusOf(vm), { $case: "snapshots", value: { snapshots: list } });
        }
        case "migrateVm": {
          const mig = requireCapability(this.hv, "migration", "migrate");
          const c = b.value;
          if (!c.destinationUri) throw new InvalidArgumentError("migrate_vm.destination_uri", "MigrateVm needs the destination's URI");
          if (c.copyStorage !== "" && c.copyStorage !== "none" && c.copyStorage !== "all") {
            throw new InvalidArgumentError("migrate_vm.copy_storage", `copy_storage is "none" or "all", not "${c.copyStorage}"`);
          }
          const r = await mig.migrateVm(vm, {
            destinationUri: c.destinationUri,
            migrateUri: c.migrateUri || undefined,
            live: c.live,
            copyStorage: c.copyStorage === "all" ? "all" : "none",
            maxDowntimeMs: c.maxDowntimeMs || undefined,
            autoConverge: c.autoConverge,
            allowUnsafe: c.allowUnsafe,
            maxBandwidthMibps: c.maxBandwidthMibps || undefined,
            timeoutMs: c.timeoutMs || (this.o.defaultMigrationTimeoutMs ?? 3_600_000),
            onProgress: (p) => this.o.onMigrationProgress?.(vm, cmd.commandId, p),
          });
          // The VM is the destination's now: no domain state here.
          return ok(undefined, {
            $case: "migration",
            value: {
              totalMs: r.totalMs, downtimeMs: r.downtimeMs ?? 0, hasDowntime: r.downtimeMs !== undefined,
              jobMs: r.jobMs ?? 0, dataBytes: r.dataBytes ?? 0, progressSamples: r.progressSamples,
            },
          });
        }
        case "prepareMigrationIn": {
          const mig = requireCapability(this.hv, "migration", "prepare an incoming migration");
          const spec = b.value.spec;
          if (!spec) throw new InvalidArgumentError("prepare_migration_in.spec", "PrepareMigrationIn needs the VM's spec");
          if (spec.vmUuid.toLowerCase() !== vm.toLowerCase()) throw new InvalidArgumentError("prepare_migration_in.spec.vm_uuid", "spec is for another VM than the command");
          // Its rules are up here before it arrives, as before a start.
          if (spec.firewall) {
            const firewall = checkFirewallSpec(spec.firewall, "prepare_migration_in.spec.firewall");
            await requireCapability(this.hv, "firewall", "prepare an incoming migration with a firewall").applyFirewall(vm, firewall);
          }
          await mig.prepareIncomingMigration(spec);
          return ok(undefined);
        }
        case "cancelMigration": {
          const cancelled = await requireCapability(this.hv, "migration", "cancel migration").cancelMigration(vm);
          if (!cancelled) throw new ConflictError(`VM ${vm} has no migration running on this host`, "not_migrating");
          return ok(undefined);
        }
        case "applyFirewall": {
          const fw = requireCapability(this.hv, "firewall", "apply firewall");
          if (!b.value.firewall) throw new InvalidArgumentError("apply_firewall.firewall", "ApplyFirewall needs a firewall");
          const firewall = checkFirewallSpec(b.value.firewall, "apply_firewall.firewall");
          const domain = await this.statusOf(vm);
          if (!domain) throw new NotFoundError("domain", vm);
          await fw.applyFirewall(vm, firewall);
          return ok(domain);
        }
      }
    } catch (e) {
      return { commandId: cmd.commandId, ok: false, error: toErrorInfo(e), domain: undefined, output: undefined };
    }
  }

  /**
   * vCPUs, then memory. Both are checked against the VM's maximums first (when the driver reports
   * them), so a resize asking too much of either changes neither.
   */
  private async resize(vm: string, vcpus: number, memoryMib: number): Promise<DomainStatus> {
    const resize = requireCapability(this.hv, "resize", "resize");
    if (!vcpus && !memoryMib) throw new InvalidArgumentError("resize_vm", "ResizeVm needs vcpus or memory_mib (0 leaves one unchanged, not both)");
    if (vcpus && memoryMib && this.hv.stats) {
      const [s] = await this.hv.stats.domainStats(vm);
      if (s?.vcpuMaximum !== undefined && vcpus > s.vcpuMaximum) {
        throw new InvalidArgumentError("resize_vm.vcpus", `VM ${vm} can have at most ${s.vcpuMaximum} vCPUs (its maximum); ${vcpus} asked`);
      }
      const maxMib = s?.balloon.maximumKib !== undefined ? Math.floor(s.balloon.maximumKib / 1024) : undefined;
      if (maxMib !== undefined && memoryMib > maxMib) {
        throw new InvalidArgumentError("resize_vm.memory_mib", `VM ${vm} can have at most ${maxMib} MiB (its maximum); ${memoryMib} MiB asked`);
      }
    }
    let status: DomainStatus | undefined;
    if (vcpus) status = await resize.setVcpus(vm, vcpus);
    if (memoryMib) status = await resize.setMemory(vm, memoryMib);
    return status!;
  }

  /** The domain's state after a command whose driver call returns none (the core listing has it). */
  private async statusOf(vm: string): Promise<DomainStatus | undefined> {
    return (await this.hv.listDomains()).find((d) => d.vmUuid.toLowerCase() === vm.toLowerCase());
  }
}

/** The driver's stats in wire form (counters a driver does not report are 0). */
/** Guest-used memory: what its balloon driver says it could use minus what it leaves unused. */
function guestUsedKib(b: VmStats["balloon"]): number {
  return b.availableKib !== undefined && b.unusedKib !== undefined ? Math.max(0, b.availableKib - b.unusedKib) : 0;
}

export function toVmStatsMessage(s: VmStats): VmStatsMessage {
  return {
    powerState: s.state?.powerState ?? 0,
    cpuTimeNs: s.cpuTimeNs ?? 0,
    vcpusCurrent: s.vcpuCurrent ?? 0,
    vcpusMaximum: s.vcpuMaximum ?? 0,
    memoryCurrentKib: s.balloon.currentKib ?? 0,
    memoryMaximumKib: s.balloon.maximumKib ?? 0,
    blocks: s.blocks.map((x) => ({ ...x })),
    interfaces: s.nets.map((x) => ({ ...x })),
    memoryUsedKib: guestUsedKib(s.balloon),
  };
}
