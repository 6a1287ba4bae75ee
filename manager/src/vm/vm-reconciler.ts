// Brings the manager's idea of VMs in line with what hosts report: heartbeats carry the power
// state of every domain (and the host's boot id); domain events arrive as they happen. Only
// settled states are changed here (Running, Stopped, Unknown, Error: the rules are in
// vm-state-machine.ts); transitions in flight belong to their jobs. A host that stops reporting
// leaves its running VMs Unknown until it reports again (or HA declares it Down: ha/). Host states (Up, Suspect...) are not
// decided here: host liveness owns them (hosts/host-liveness.ts) and marks a host Up before its
// heartbeat reaches this handler. Domains Orbit does not know are recorded
// as unmanaged and never touched.
import { randomUUID } from "node:crypto";
import { and, desc, eq, gt, inArray, isNull, notInArray } from "drizzle-orm";
import type { Logger } from "pino";
import { PowerState, type CommandResult, type DomainEvent, type DomainStatus, type Heartbeat } from "#shared/protocol.js";
import type { HostStreamHandler } from "../agents/agent-gateway.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { allocations, hosts, jobs, unmanagedDomains, vmMigrations, vms } from "../db/schema.js";
import { stopCause } from "../ha/restart-policy.js";
import { isVmState, onHostLost, reconcileWithHost, type HostDomainReport, type VmState } from "./vm-state-machine.js";
import { transitionVm } from "./vm-transitions.js";

export interface JobQueue { enqueue(jobId: number): void }

const STOPPED = new Set([PowerState.POWER_STATE_SHUTOFF, PowerState.POWER_STATE_CRASHED]);

function powerName(p: PowerState): string {
  return PowerState[p]?.replace("POWER_STATE_", "") ?? "UNSPECIFIED";
}

export class VmReconciler implements HostStreamHandler {
  constructor(
    private readonly db: Db,
    private readonly dispatcher: CommandDispatcher,
    private readonly log: Logger,
    private readonly jobQueue: JobQueue,
    /** Told when a Running VM's domain stopped without an API call (HA's crash restarts: ha/crash-restarts.ts). */
    private readonly onStoppedByItself?: (vmId: number, how: "crashed" | "shutoff") => Promise<void>,
  ) {}

  async onConnected(_hostId: number): Promise<void> {
    // Nothing: host liveness marked the host Up; its VMs are reconciled at its first heartbeat.
  }

  async onDisconnected(_hostId: number): Promise<void> {
    // Nothing yet: a stream that drops and comes back within the host's liveness deadline is no
    // outage. The liveness loop marks the host Suspect when the deadline passes.
  }

  /** Running VMs on Suspect or Alert hosts become Unknown (run after every liveness check; HA decides the rest). */
  async hostsLost(): Promise<void> {
    const rows = await this.db.select({ id: vms.id, state: vms.state, host: hosts.name }).from(vms)
      .innerJoin(hosts, eq(hosts.id, vms.hostId))
      .where(and(inArray(hosts.state, ["Suspect", "Alert"]), eq(vms.state, "Running"), isNull(vms.deletedAt)));
    for (const vm of rows) {
      const to = isVmState(vm.state) ? onHostLost(vm.state) : undefined;
      if (!to) continue;
      const done = await this.db.transaction((tx) => transitionVm(tx, vm.id, to, `host ${vm.host} missed its heartbeats`, {
        onlyFrom: [vm.state as "Running"],
        reason: `host ${vm.host} stopped reporting: the VM's state is unknown until it reports again`,
      }));
      if (done) this.log.warn({ vmId: vm.id, host: vm.host }, "VM state unknown: its host missed its heartbeats");
    }
  }

  async onLateResult(_hostId: number, r: CommandResult): Promise<void> {
    await this.dispatcher.record(r);
  }

  async onHeartbeat(hostId: number, hb: Heartbeat): Promise<void> {
    const [host] = await this.db.select({ bootId: hosts.bootId }).from(hosts).where(eq(hosts.id, hostId));
    const hostRebooted = Boolean(hb.bootId && host?.bootId && hb.bootId !== host.bootId);
    if (hostRebooted) {
      this.log.warn({ hostId }, "host rebooted: domains not running are reconciled as lost to the reboot");
      const closed = await this.dispatcher.closeAbandoned("the host rebooted before answering", { hostId });
      if (closed) this.log.info({ hostId, closed }, "closed commands the rebooted host will never answer");
    }
    const reported = new Map<string, DomainStatus>();
    for (const d of hb.domains) reported.set(d.vmUuid.toLowerCase(), d);
    const mine = await this.db.select({ id: vms.id, uuid: vms.uuid, state: vms.state, accountId: vms.accountId, allocation: allocations.id })
      .from(vms).leftJoin(allocations, eq(allocations.vmId, vms.id))
      .where(and(eq(vms.hostId, hostId), isNull(vms.deletedAt)));
    // A VM that migrated here after the heartbeat's domain list was taken is not in it yet: its
    // absence says nothing (a Migrating VM is its job's, and its source's or destination's report
    // of it is never read: reconcileWithHost leaves Migrating alone, and a domain of one of Orbit's
    // VMs on another host is never taken as unmanaged).
    const arrivedLater = new Set(hb.sentAtMs ? (await this.db.select({ vmId: vmMigrations.vmId }).from(vmMigrations).where(and(
      eq(vmMigrations.destinationHostId, hostId), eq(vmMigrations.state, "succeeded"),
      gt(vmMigrations.finishedAt, new Date(Number(hb.sentAtMs) - 1000)),
    ))).map((r) => r.vmId) : []);
    for (const vm of mine) {
      if (!isVmState(vm.state) || arrivedLater.has(vm.id)) continue;
      const d = reported.get(vm.uuid);
      const report: HostDomainReport = {
        domain: !d ? "absent" : STOPPED.has(d.powerState) ? "stopped" : "running",
        ...(d ? { detail: `${powerName(d.powerState).toLowerCase()}${d.reason ? ` (${d.reason})` : ""}` } : {}),
        hostRebooted,
      };
      const lastJob = vm.state === "Error" ? await this.lastJob(vm.id) : undefined;
      const decision = reconcileWithHost({ state: vm.state, holdsAllocation: vm.allocation != null, lastJob }, report);
      if (!decision) continue;
      if ("retryDelete" in decision) await this.retryDelete(vm.id, vm.accountId, decision.reason);
      else {
        const how = !d || hostRebooted ? "crashed" : stopCause(d.powerState, d.reason);
        await this.apply(vm.id, vm.state, decision.to, `heartbeat: ${decision.reason}`, decision.reason, decision.powerState, how);
      }
    }
    // Only now: a check cut short above sees the reboot again at the next heartbeat.
    if (hb.bootId && hb.bootId !== host?.bootId) await this.db.update(hosts).set({ bootId: hb.bootId }).where(eq(hosts.id, hostId));
    const known = new Set(mine.map((v) => v.uuid));
    const foreign = hb.domains.filter((d) => !known.has(d.vmUuid.toLowerCase()));
    // Domains of VMs this manager destroyed long ago, or never made: shown, never destroyed.
    const stillOurs = foreign.length
      ? await this.db.select({ uuid: vms.uuid }).from(vms).where(inArray(vms.uuid, foreign.filter((d) => /^[0-9a-f-]{36}$/i.test(d.vmUuid)).map((d) => d.vmUuid.toLowerCase()).concat(["00000000-0000-0000-0000-000000000000"])))
      : [];
    const unmanaged = foreign.filter((d) => !stillOurs.some((s) => s.uuid === d.vmUuid.toLowerCase()));
    for (const d of unmanaged) {
      await this.db.insert(unmanagedDomains).values({
        hostId, domainUuid: d.vmUuid, name: d.name, powerState: powerName(d.powerState), seenAt: new Date(),
      }).onConflictDoUpdate({
        target: [unmanagedDomains.hostId, unmanagedDomains.domainUuid],
        set: { name: d.name, powerState: powerName(d.powerState), seenAt: new Date() },
      });
    }
    await this.db.delete(unmanagedDomains).where(and(
      eq(unmanagedDomains.hostId, hostId),
      unmanaged.length ? notInArray(unmanagedDomains.domainUuid, unmanaged.map((d) => d.vmUuid)) : undefined,
    ));
  }

  async onDomainEvent(hostId: number, e: DomainEvent): Promise<void> {
    const [vm] = await this.db.select({ id: vms.id, state: vms.state }).from(vms)
      .where(and(eq(vms.uuid, e.vmUuid.toLowerCase()), eq(vms.hostId, hostId)));
    if (!vm) return;
    // Events say only that a domain started or stopped; the rest (Error, reboots) waits for a heartbeat.
    const domain = STOPPED.has(e.powerState) ? "stopped" : e.powerState === PowerState.POWER_STATE_RUNNING ? "running" : undefined;
    if (!domain || !isVmState(vm.state) || !["Running", "Stopped", "Unknown"].includes(vm.state)) return;
    const decision = reconcileWithHost({ state: vm.state, holdsAllocation: true }, {
      domain, detail: `${powerName(e.powerState).toLowerCase()}${e.detail ? ` (${e.detail})` : ""}`, hostRebooted: false,
    });
    if (decision && "to" in decision) {
      const how = stopCause(e.powerState, e.detail);
      await this.apply(vm.id, vm.state, decision.to, `event: domain ${e.event}${e.detail ? ` (${e.detail})` : ""}`, decision.reason, decision.powerState, how);
    }
  }

  private async lastJob(vmId: number): Promise<{ kind: string; status: string; retryable: boolean } | undefined> {
    const [j] = await this.db.select({ kind: jobs.kind, status: jobs.status, error: jobs.error }).from(jobs)
      .where(eq(jobs.vmId, vmId)).orderBy(desc(jobs.id)).limit(1);
    return j ? { kind: j.kind, status: j.status, retryable: j.error?.retryable ?? false } : undefined;
  }

  /** Error → Destroying with a new destroy job, as a user's delete would. */
  private async retryDelete(vmId: number, accountId: number, reason: string): Promise<void> {
    const jobId = await this.db.transaction(async (tx) => {
      const done = await transitionVm(tx, vmId, "Destroying", `reconciler: ${reason}`, { onlyFrom: ["Error"], reason });
      if (!done) return undefined;
      const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "vm.destroy", vmId, accountId }).returning({ id: jobs.id });
      return job!.id;
    });
    if (jobId === undefined) return;
    this.log.info({ vmId, jobId }, "retrying the delete of a VM whose host could not be reached");
    this.jobQueue.enqueue(jobId);
  }

  private async apply(
    vmId: number, from: string, to: VmState, cause: string, reason: string, powerState: string, how: "crashed" | "shutoff" = "shutoff",
  ): Promise<void> {
    if (!isVmState(from)) return;
    const done = await this.db.transaction((tx) => transitionVm(tx, vmId, to, cause, { onlyFrom: [from], powerState, reason }));
    if (done) this.log.info({ vmId, from: done.from, to, cause }, "VM state reconciled");
    // Running → Stopped here is never an API stop (those go through Stopping and their job).
    if (done?.from === "Running" && to === "Stopped") await this.onStoppedByItself?.(vmId, how);
  }
}
