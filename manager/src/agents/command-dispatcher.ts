// Sends a command to a host's agent and records it. The command id is chosen by the caller and
// kept across retries, so the agent executes it at most once. A command for a host whose agent
// is away waits for the agent to reconnect, up to the host's liveness deadline (hosts/host-liveness.ts):
// a manager restart, or an agent's short absence, is waited out instead of failing the work.
import { randomUUID } from "node:crypto";
import { and, eq, inArray, isNull, notInArray, or } from "drizzle-orm";
import { ConflictError, OrbitError, fromErrorInfo, toErrorInfo } from "#shared/errors.js";
import type { AttachDisk, Command, CommandResult, ConsoleLog, DiskSpec, DomainStatus, FirewallSpec, ProbeResult, SnapshotInfo, StopMode, VmStats } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { commands, hosts, jobs, vms } from "../db/schema.js";
import type { AgentSessions } from "./agent-sessions.js";
import type { CommandRouter } from "./command-router.js";

export interface AgentLiveness {
  /** Until when (epoch ms) a host with this last heartbeat counts as alive. */
  aliveUntil(lastHeartbeatAt: Date | null): number;
}

/** Who a typed command is for and how long it may take; commandId is kept across a job's retries. */
export interface VmCommandTarget {
  hostId: number;
  vmUuid: string;
  vmId?: number;
  jobId?: number;
  /** Default: a new id (a job passes its own, so a retried attempt is answered from the agent's memory). */
  commandId?: string;
  timeoutMs: number;
}

type CommandBody = NonNullable<Command["body"]>;

/** Commands that may make a VM's domain run on the host they are sent to. */
const STARTS_A_DOMAIN: ReadonlySet<string> = new Set(["startVm", "restoreVm", "revertSnapshot", "resumeVm"]);

export class CommandDispatcher {
  constructor(
    private readonly db: Db,
    private readonly sessions: AgentSessions,
    private readonly liveness: AgentLiveness,
    private readonly now: () => number = Date.now,
    /**
     * Several managers on one PostgreSQL: a host whose stream is not here gets its commands
     * through the database (command-router.ts). Without it (PGlite, one manager) a command waits
     * for the host's agent to connect here.
     */
    private readonly router?: CommandRouter,
  ) {}

  /** Resolves with the result when ok; throws the agent's error (typed, with its retryable flag) otherwise. */
  async run(
    hostId: number, command: Command, opts: { vmId?: number; jobId?: number; timeoutMs: number },
  ): Promise<CommandResult> {
    const kind = command.body?.$case ?? "unknown";
    const row = { id: command.commandId, hostId, vmId: opts.vmId ?? null, jobId: opts.jobId ?? null, kind };
    let result: CommandResult;
    await this.refuseStartElsewhere(hostId, command);
    if (this.router && !this.sessions.isConnected(hostId)) {
      // Another manager holds the stream, or will: the router writes the row and waits for its result.
      result = await this.router.route(hostId, command, { ...row, timeoutMs: opts.timeoutMs, pickupBy: await this.livenessDeadline(hostId) });
      await this.record(result);
      if (!result.ok) throw fromErrorInfo(result.error ?? { code: "internal", message: "agent reported failure", retryable: false });
      return result;
    }
    try {
      await this.agentConnected(hostId);
      await this.db.insert(commands).values({ ...row, status: "sent" })
        .onConflictDoUpdate({ target: commands.id, set: { status: "sent" } });
      result = await this.sessions.dispatch(hostId, command, opts.timeoutMs);
    } catch (e) {
      await this.db.insert(commands).values({ ...row, status: "pending", error: toErrorInfo(e) })
        .onConflictDoUpdate({ target: commands.id, set: { status: "pending", error: toErrorInfo(e) } });
      throw e;
    }
    await this.record(result);
    if (!result.ok) throw fromErrorInfo(result.error ?? { code: "internal", message: "agent reported failure", retryable: false });
    return result;
  }

  /**
   * HA's fence guard: a domain is never made to run on a host other than the VM's (vms.host_id):
   * a VM restarted elsewhere must not be started again on the host it was lost with.
   */
  private async refuseStartElsewhere(hostId: number, command: Command): Promise<void> {
    if (!command.body || !STARTS_A_DOMAIN.has(command.body.$case) || !command.vmUuid) return;
    const [vm] = await this.db.select({ id: vms.id, hostId: vms.hostId, deletedAt: vms.deletedAt }).from(vms).where(eq(vms.uuid, command.vmUuid.toLowerCase()));
    if (vm && vm.hostId === hostId && !vm.deletedAt) return;
    throw new ConflictError(
      vm ? `refusing ${command.body.$case} of virtual machine ${vm.id} on host ${hostId}: ${vm.deletedAt ? "it was deleted" : `the manager places it on host ${vm.hostId ?? "none"}`}`
        : `refusing ${command.body.$case} of unknown VM ${command.vmUuid} on host ${hostId}`,
      "vm_on_other_host", { host_id: hostId, vm_host_id: vm?.hostId ?? null },
    );
  }

  /** Asks a host to probe another (HA): network reachability and its storage heartbeat as this host sees it. */
  async probeHost(neighbourHostId: number, target: { hostUuid: string; address: string }, timeoutMs: number): Promise<ProbeResult> {
    const r = await this.run(neighbourHostId, {
      commandId: randomUUID(), deadlineMs: this.now() + timeoutMs + 1000, vmUuid: "",
      body: { $case: "probeHost", value: { hostUuid: target.hostUuid, address: target.address, timeoutMs } },
    }, { timeoutMs: timeoutMs + 1000 });
    if (r.output?.$case !== "probe") throw new OrbitError("internal", `host ${neighbourHostId} answered a probe without its result`);
    return r.output.value;
  }

  /** Destroys a stale copy of a VM's domain on a host (HA): disks the VM owns are kept unless asked. */
  async destroyStaleCopy(hostId: number, vm: { id: number; uuid: string }, o: { commandId: string; removeOwnedDisks: boolean; timeoutMs: number }): Promise<void> {
    await this.run(hostId, {
      commandId: o.commandId, deadlineMs: this.now() + o.timeoutMs, vmUuid: vm.uuid,
      body: { $case: "destroyVm", value: { removeOwnedDisks: o.removeOwnedDisks } },
    }, { vmId: vm.id, timeoutMs: o.timeoutMs });
  }

  // ---- typed commands: one per agent command, each resolving with what that command returns.
  // A command the host's driver cannot do is refused by the agent with code "unsupported".

  async stopVm(t: VmCommandTarget, opts: { mode: StopMode; timeoutMs?: number }): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "stopVm", value: { mode: opts.mode, timeoutMs: opts.timeoutMs ?? 0 } }));
  }

  /** ACPI reboot, or with hard a reset (no guest cooperation). */
  async rebootVm(t: VmCommandTarget, opts: { hard?: boolean } = {}): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "rebootVm", value: { hard: opts.hard ?? false } }));
  }

  async suspendVm(t: VmCommandTarget): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "suspendVm", value: {} }));
  }

  async resumeVm(t: VmCommandTarget): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "resumeVm", value: {} }));
  }

  async hibernateVm(t: VmCommandTarget): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "hibernateVm", value: {} }));
  }

  async restoreVm(t: VmCommandTarget): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "restoreVm", value: {} }));
  }

  /** New vCPU count and/or memory (leave one out to keep it). */
  async resizeVm(t: VmCommandTarget, to: { vcpus?: number; memoryMib?: number }): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "resizeVm", value: { vcpus: to.vcpus ?? 0, memoryMib: to.memoryMib ?? 0 } }));
  }

  /** Resolves with the guest device the disk was attached as. */
  async attachDisk(
    t: VmCommandTarget, disk: Pick<AttachDisk, "sourcePath"> & Partial<AttachDisk>,
  ): Promise<{ targetDev: string; domain: DomainStatus | undefined }> {
    const r = await this.send(t, {
      $case: "attachDisk",
      value: { format: "", bus: "", targetDev: "", serial: "", createSizeGib: 0, ...disk, backingPath: disk.backingPath ?? "" },
    });
    if (r.output?.$case !== "diskAttached") throw new OrbitError("internal", `agent attached a disk to ${t.vmUuid} but did not say as which device`);
    return { targetDev: r.output.value.targetDev, domain: r.domain };
  }

  /** By guest device ("vdb") or source path; a running guest gets timeoutMs (0: the agent's default) to release it. */
  async detachDisk(t: VmCommandTarget, target: string, opts: { releaseTimeoutMs?: number } = {}): Promise<DomainStatus | undefined> {
    return (await this.send(t, { $case: "detachDisk", value: { target, timeoutMs: opts.releaseTimeoutMs ?? 0 } })).domain;
  }

  /** Makes (or with replace, remakes) an owned disk of a VM that does not run; the domain's state when it is defined. */
  async prepareDisk(t: VmCommandTarget, disk: DiskSpec, opts: { replace: boolean }): Promise<DomainStatus | undefined> {
    return (await this.send(t, { $case: "prepareDisk", value: { disk, replace: opts.replace } })).domain;
  }

  /** Removes a disk file attached to no VM (a deleted volume's) from the host. */
  async deleteDisk(hostId: number, sourcePath: string, o: { commandId: string; jobId: number; timeoutMs: number }): Promise<void> {
    await this.run(hostId, {
      commandId: o.commandId, deadlineMs: this.now() + o.timeoutMs, vmUuid: "",
      body: { $case: "deleteDisk", value: { sourcePath } },
    }, { jobId: o.jobId, timeoutMs: o.timeoutMs });
  }

  async vmStats(t: VmCommandTarget): Promise<VmStats> {
    const r = await this.send(t, { $case: "getVmStats", value: {} });
    if (r.output?.$case !== "vmStats") throw new OrbitError("internal", `agent answered a stats command for ${t.vmUuid} without stats`);
    return r.output.value;
  }

  /** The tail of the VM's serial console output, at most maxBytes (the agent caps it at 1 MiB). */
  async consoleLog(t: VmCommandTarget, maxBytes: number): Promise<ConsoleLog> {
    const r = await this.send(t, { $case: "getConsoleLog", value: { maxBytes } });
    if (r.output?.$case !== "consoleLog") throw new OrbitError("internal", `agent answered a console log command for ${t.vmUuid} without the log`);
    return r.output.value;
  }

  /** Replaces the VM's firewall on its host with this one (capability "firewall"). */
  async applyFirewall(t: VmCommandTarget, firewall: FirewallSpec): Promise<DomainStatus | undefined> {
    return (await this.send(t, { $case: "applyFirewall", value: { firewall } })).domain;
  }

  /** Inserts an ISO into (or ejects it from) the VM's ISO cdrom slot, live (capability "disks"). */
  async changeMedia(t: VmCommandTarget, media: { sourcePath: string } | { eject: true }): Promise<DomainStatus | undefined> {
    const value = "eject" in media ? { sourcePath: "", eject: true } : { sourcePath: media.sourcePath, eject: false };
    return (await this.send(t, { $case: "changeMedia", value })).domain;
  }

  /** Takes a snapshot (capability "snapshots"); the agent aborts and removes it past snapshotTimeoutMs. */
  async createSnapshot(
    t: VmCommandTarget, s: { name: string; description: string; memory: boolean; quiesce: boolean; snapshotTimeoutMs: number },
  ): Promise<{ snapshot: SnapshotInfo; domain: DomainStatus | undefined }> {
    const r = await this.send(t, { $case: "createSnapshot", value: { name: s.name, description: s.description, memory: s.memory, quiesce: s.quiesce, timeoutMs: s.snapshotTimeoutMs } });
    const snapshot = r.output?.$case === "snapshots" ? r.output.value.snapshots[0] : undefined;
    if (!snapshot) throw new OrbitError("internal", `agent took snapshot ${s.name} of ${t.vmUuid} but did not describe it`);
    return { snapshot, domain: r.domain };
  }

  /** Reverts to a snapshot; shutOff leaves the VM shut off even when the snapshot holds memory. */
  async revertSnapshot(t: VmCommandTarget, name: string, opts: { shutOff: boolean }): Promise<DomainStatus> {
    return this.domainOf(await this.send(t, { $case: "revertSnapshot", value: { name, shutOff: opts.shutOff } }));
  }

  /** Removes a snapshot (one the host does not have is removed already). */
  async deleteSnapshot(t: VmCommandTarget, name: string): Promise<void> {
    await this.send(t, { $case: "deleteSnapshot", value: { name } });
  }

  private send(t: VmCommandTarget, body: CommandBody): Promise<CommandResult> {
    return this.run(t.hostId, {
      commandId: t.commandId ?? randomUUID(),
      deadlineMs: this.now() + t.timeoutMs,
      vmUuid: t.vmUuid,
      body,
    }, { ...(t.vmId !== undefined ? { vmId: t.vmId } : {}), ...(t.jobId !== undefined ? { jobId: t.jobId } : {}), timeoutMs: t.timeoutMs });
  }

  private domainOf(r: CommandResult): DomainStatus {
    if (!r.domain) throw new OrbitError("internal", `agent answered command ${r.commandId} without the domain's state`);
    return r.domain;
  }

  /** Waits for the host's agent until the host's liveness deadline; AgentUnavailableError after it. */
  /** Until when (epoch ms) the host's agent counts as alive: how long a command waits for it. */
  private async livenessDeadline(hostId: number): Promise<number> {
    const [h] = await this.db.select({ lastHeartbeatAt: hosts.lastHeartbeatAt }).from(hosts).where(eq(hosts.id, hostId));
    return this.liveness.aliveUntil(h?.lastHeartbeatAt ?? null);
  }

  private async agentConnected(hostId: number): Promise<void> {
    if (this.sessions.isConnected(hostId)) return;
    const [h] = await this.db.select({ lastHeartbeatAt: hosts.lastHeartbeatAt }).from(hosts).where(eq(hosts.id, hostId));
    const until = this.liveness.aliveUntil(h?.lastHeartbeatAt ?? null);
    const last = h?.lastHeartbeatAt ? `last heartbeat ${h.lastHeartbeatAt.toISOString()}` : "no heartbeat yet";
    await this.sessions.waitForSession(hostId, until - this.now(),
      `agent of host ${hostId} is not connected and did not reconnect before its liveness deadline ${new Date(until).toISOString()} (${last})`);
  }

  async record(result: CommandResult): Promise<void> {
    await this.db.update(commands).set({
      status: result.ok ? "succeeded" : "failed",
      error: result.ok ? null : (result.error ?? null),
      completedAt: new Date(),
    }).where(eq(commands.id, result.commandId));
  }

  /**
   * Closes (failed, with the reason) the commands still open whose job will never wait for them
   * again: the job ended, or there is none. Optionally only one host's or one job's. A late answer
   * from the agent still overwrites this (record), since the host's word is the truth.
   */
  async closeAbandoned(reason: string, scope: { hostId?: number; jobId?: number } = {}): Promise<number> {
    const activeJobs = this.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.status, ["pending", "running"]));
    const rows = await this.db.update(commands).set({
      status: "failed",
      error: { code: "agent_unavailable", message: reason, retryable: false },
      completedAt: new Date(),
    }).where(and(
      inArray(commands.status, ["pending", "sent"]),
      scope.hostId !== undefined ? eq(commands.hostId, scope.hostId) : undefined,
      scope.jobId !== undefined ? eq(commands.jobId, scope.jobId) : or(isNull(commands.jobId), notInArray(commands.jobId, activeJobs)),
    )).returning({ id: commands.id });
    return rows.length;
  }
}
