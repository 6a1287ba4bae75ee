// Brings the manager's idea of VMs in line with what hosts report: heartbeats carry the power
// state of every domain; domain events arrive as they happen. Only settled states are changed
// here (Running ⇄ Stopped); transitions in flight belong to their jobs. Domains Orbit does not
// know are recorded as unmanaged and never touched.
import { and, eq, inArray, isNull, notInArray } from "drizzle-orm";
import type { Logger } from "pino";
import { PowerState, type CommandResult, type DomainEvent, type DomainStatus, type Heartbeat } from "#shared/protocol.js";
import type { HostStreamHandler } from "../agents/agent-gateway.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { unmanagedDomains, vms } from "../db/schema.js";
import type { HostService } from "../hosts/host-service.js";
import { transitionVm } from "./vm-transitions.js";

const STOPPED = new Set([PowerState.POWER_STATE_SHUTOFF, PowerState.POWER_STATE_CRASHED]);

function powerName(p: PowerState): string {
  return PowerState[p]?.replace("POWER_STATE_", "") ?? "UNSPECIFIED";
}

export class VmReconciler implements HostStreamHandler {
  constructor(
    private readonly db: Db,
    private readonly hosts: HostService,
    private readonly dispatcher: CommandDispatcher,
    private readonly log: Logger,
  ) {}

  async onConnected(hostId: number): Promise<void> {
    await this.hosts.setState(hostId, "Up");
  }

  async onDisconnected(hostId: number): Promise<void> {
    await this.hosts.setState(hostId, "Disconnected");
  }

  async onLateResult(_hostId: number, r: CommandResult): Promise<void> {
    await this.dispatcher.record(r);
  }

  async onHeartbeat(hostId: number, hb: Heartbeat): Promise<void> {
    await this.hosts.heartbeat(hostId, new Date());
    const reported = new Map<string, DomainStatus>();
    for (const d of hb.domains) reported.set(d.vmUuid.toLowerCase(), d);
    const mine = await this.db.select({ id: vms.id, uuid: vms.uuid, state: vms.state }).from(vms)
      .where(and(eq(vms.hostId, hostId), isNull(vms.deletedAt)));
    for (const vm of mine) {
      const d = reported.get(vm.uuid);
      if (vm.state === "Running" && (!d || STOPPED.has(d.powerState))) {
        const why = d ? `host reports the domain ${powerName(d.powerState).toLowerCase()}${d.reason ? ` (${d.reason})` : ""}` : "domain not found on host";
        await this.apply(vm.id, "Stopped", `heartbeat: ${why}`, "SHUTDOWN");
      } else if (vm.state === "Stopped" && d?.powerState === PowerState.POWER_STATE_RUNNING) {
        await this.apply(vm.id, "Running", "heartbeat: host reports the domain running", "RUNNING");
      }
    }
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
    if (vm.state === "Running" && STOPPED.has(e.powerState)) {
      await this.apply(vm.id, "Stopped", `event: domain ${e.event}${e.detail ? ` (${e.detail})` : ""}`, "SHUTDOWN");
    } else if (vm.state === "Stopped" && e.powerState === PowerState.POWER_STATE_RUNNING) {
      await this.apply(vm.id, "Running", `event: domain ${e.event}`, "RUNNING");
    }
  }

  private async apply(vmId: number, to: "Running" | "Stopped", cause: string, powerState: string): Promise<void> {
    const from = to === "Running" ? "Stopped" : "Running";
    const done = await this.db.transaction((tx) => transitionVm(tx, vmId, to, cause, { onlyFrom: [from], powerState }));
    if (done) this.log.info({ vmId, from: done.from, to, cause }, "VM state reconciled");
  }
}
