// vm.migrate: moves a VM to the host its migration reserved (queued by migration/migration-service.ts
// with the VM Migrating and the destination's capacity held). Every step has its own command id
// derived from the job's (job-command-ids.ts), so a job run again (a retry, a manager restart)
// sends each step under the same id: the agent answers a finished one from its memory and joins
// one still running (a MigrateVm in progress is never started twice).
//
// Live: PrepareMigrationIn on the destination (bridges, firewall, from the start spec), then
// MigrateVm on the source with `migratewait`, `vm.migrate.downtime` and `vm.migrate.autoconverge`.
// Its progress samples arrive as events (migration/migration-progress.ts). Success moves the
// capacity (migration-settle.ts); a failure, a timeout or a cancel leaves the VM running on the
// source and drops the reservation. A source that no longer knows the VM (its agent restarted and
// lost the command's answer) is asked no more: the destination is asked whether it runs it.
//
// A storage motion (disks local to the source, copied by the migration) that fails or is cancelled
// has the files its prepare made on the destination removed there (discardCopies).
//
// Cold: the VM is stopped (ACPI, forced after vm.shutdown.timeout.ms), its domain undefined on the
// source without its disks (DestroyVm remove_owned_disks=false: the disks are on shared storage),
// the capacity moved, and it is started on the destination with its new GPUs. A stopped VM is
// only undefined and moved.
import { eq } from "drizzle-orm";
import { OrbitError, databaseUnavailableFrom, fromErrorInfo, toErrorInfo } from "#shared/errors.js";
import { PowerState, StopMode } from "#shared/protocol.js";
import type { CommandDispatcher, VmCommandTarget } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { hosts, vmMigrations, vms } from "../db/schema.js";
import { storageOf } from "../migration/migration-service.js";
import { migrationFlags } from "../migration/migration-rules.js";
import { settleAbandoned, settleMoved } from "../migration/migration-settle.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { transitionVm } from "../vm/vm-transitions.js";
import type { JobEnqueuer } from "../vm/vm-service.js";
import { stepCommandId } from "./job-command-ids.js";
import type { JobHandler, JobResult } from "./job-runner.js";
import type { HeadroomSettings } from "./start-headroom.js";
import { queueFirewallIfChanged } from "./vm-firewall.job.js";
import { startSpec } from "./vm-power.job.js";

type Dispatcher = Pick<CommandDispatcher, "run" | "stopVm">;
type Settings = Pick<SettingsRegistry, "number" | "get"> & HeadroomSettings;

function asOrbit(e: unknown): OrbitError {
  return e instanceof OrbitError ? e : fromErrorInfo(toErrorInfo(e));
}

/** A failure the runner must not retry: the migration is settled and says how. */
function final(message: string, code: OrbitError["code"] = "hypervisor_error"): OrbitError {
  return new OrbitError(code, message, { retryable: false });
}

export function vmMigrateJob(db: Db, dispatcher: Dispatcher, settings: Settings, queue?: JobEnqueuer): JobHandler {
  return async (ctx) => {
    const { job } = ctx;
    const [found] = await db.select().from(vmMigrations).where(eq(vmMigrations.jobId, job.id));
    if (!found) throw new OrbitError("internal", `vm.migrate job ${job.id} has no migration`);
    const m = found;
    if (m.state !== "running") return { skipped: `migration ${m.id} is ${m.state}`, host_id: m.state === "succeeded" ? m.destinationHostId : m.sourceHostId };
    const [vm] = await db.select().from(vms).where(eq(vms.id, m.vmId));
    if (!vm || vm.state !== "Migrating") {
      // Never Migrating (or changed by hand): nothing was sent under this migration's name yet that settling would undo.
      await settleAbandoned(db, m.id, { state: "failed", error: { code: "vm_state", message: `the VM is ${vm?.state ?? "gone"}` }, to: "Running", cause: `job ${job.id}: vm.migrate` });
      return { skipped: `VM is ${vm?.state ?? "gone"}` };
    }
    const [source] = await db.select().from(hosts).where(eq(hosts.id, m.sourceHostId));
    const [dest] = await db.select().from(hosts).where(eq(hosts.id, m.destinationHostId));
    const step = (s: string) => stepCommandId(job.uuid, s);
    const abandon = async (state: "failed" | "cancelled", err: OrbitError, to: "Running" | "Stopped", what: string): Promise<never> => {
      await settleAbandoned(db, m.id, { state, error: { code: state === "cancelled" ? "cancelled" : err.code, message: err.message }, to, cause: `job ${job.id}: vm.migrate ${state}` });
      throw final(`${what}: ${err.message}; virtual machine ${vm.id} stays on host ${source!.name}${to === "Stopped" ? ", stopped" : ", running"}, and the reservation on ${dest!.name} was released`,
        state === "cancelled" ? "conflict" : err.code === "deadline_exceeded" ? "deadline_exceeded" : "hypervisor_error");
    };
    const cancelRequested = async () => (await db.select({ c: vmMigrations.cancelRequested }).from(vmMigrations).where(eq(vmMigrations.id, m.id)))[0]?.c === true;

    if (m.mode === "live") {
      return live();
    }
    return cold();

    async function live(): Promise<JobResult> {
      const timeoutMs = settings.number("migratewait") * 1000;
      const deployTimeout = settings.number("vm.deploy.timeout.ms");
      if (await cancelRequested()) await abandon("cancelled", final("cancelled before it started", "conflict"), "Running", "migration cancelled");
      // The destination gets the VM's networks and firewall as a start would define them.
      const spec = await startSpec(db, { ...vm!, hostId: dest!.id }, settings);
      try {
        await dispatcher.run(dest!.id, {
          commandId: step("prepare"), deadlineMs: Date.now() + deployTimeout, vmUuid: vm!.uuid, body: { $case: "prepareMigrationIn", value: { spec } },
        }, { vmId: vm!.id, jobId: job.id, timeoutMs: deployTimeout });
      } catch (e) {
        const err = asOrbit(e);
        if (databaseUnavailableFrom(e) || err.retryable) throw e;
        await discardCopies();
        await abandon("failed", err, "Running", `host ${dest!.name} could not prepare for the VM`);
      }
      await ctx.progress(5);
      if (await cancelRequested()) await abandon("cancelled", final("cancelled before the copy started", "conflict"), "Running", "migration cancelled");
      const flags = migrationFlags({ id: vm!.id, state: vm!.state, gpuModes: [], storage: await storageOf(db, vm!), snapshots: 0 }, m.storageMotion);
      let done;
      try {
        done = await dispatcher.run(source!.id, {
          commandId: step("migrate"), deadlineMs: Date.now() + timeoutMs + 60_000, vmUuid: vm!.uuid,
          body: {
            $case: "migrateVm",
            value: {
              destinationUri: dest!.migrationUri,
              migrateUri: dest!.clusterAddress ? `tcp://${dest!.clusterAddress}` : "",
              live: true,
              copyStorage: flags.copyStorage,
              maxDowntimeMs: settings.number("vm.migrate.downtime"),
              autoConverge: settings.get<boolean>("vm.migrate.autoconverge") === true,
              timeoutMs,
              // Shared storage libvirt cannot tell is shared (a plain path both hosts mount): its safety check would refuse it.
              allowUnsafe: flags.copyStorage === "none",
              maxBandwidthMibps: 0,
            },
          },
          // The agent's own timeout (migratewait) fires first and answers; this one only covers a lost answer.
        }, { vmId: vm!.id, jobId: job.id, timeoutMs: timeoutMs + 60_000 });
      } catch (e) {
        const err = asOrbit(e);
        if (databaseUnavailableFrom(e) || err.retryable) throw e;
        if (err.code === "not_found") return located(err);
        // The driver's contract: any failure leaves the VM on the source, as it was.
        const cancelled = /cancel/i.test(err.message) || (err.code === "conflict" && await cancelRequested());
        await discardCopies();
        await abandon(cancelled ? "cancelled" : "failed", err, "Running", cancelled ? "migration cancelled" : "live migration failed");
      }
      const out = done!.output?.$case === "migration" ? done!.output.value : undefined;
      await settleMoved(db, m.id, {
        to: "Running", cause: `job ${job.id}: vm.migrate to ${dest!.name}`,
        totalMs: out?.totalMs, downtimeMs: out?.hasDowntime ? out.downtimeMs : undefined,
      });
      await queueFirewallIfChanged(db, vm!, spec.firewall, queue);
      return { host_id: dest!.id };
    }

    /**
     * A storage motion that did not happen: the files the destination made for the copy
     * (prepareIncomingMigration) go. Only once the destination says it has no domain of the VM
     * (then DestroyVm removes just those files). Best effort: a destination that cannot be asked,
     * or fails to, keeps them (never a reason to leave the migration unsettled).
     */
    async function discardCopies(): Promise<void> {
      if (!m.storageMotion) return;
      const timeoutMs = 30_000;
      const there = await dispatcher.run(dest!.id, {
        commandId: step("discard-locate"), deadlineMs: Date.now() + timeoutMs, vmUuid: vm!.uuid, body: { $case: "getVmStats", value: {} },
      }, { vmId: vm!.id, jobId: job.id, timeoutMs }).then((r) => r.domain ? "defined" as const : "absent" as const, (e: unknown) => asOrbit(e).retryable ? "unknown" as const : "absent" as const);
      if (there !== "absent") return;
      await dispatcher.run(dest!.id, {
        commandId: step("discard"), deadlineMs: Date.now() + timeoutMs, vmUuid: vm!.uuid, body: { $case: "destroyVm", value: { removeOwnedDisks: true } },
      }, { vmId: vm!.id, jobId: job.id, timeoutMs }).catch(() => undefined);
    }

    /** The source does not know the VM: it is on the destination (moved before a restart) or lost. */
    async function located(err: OrbitError): Promise<JobResult> {
      const target: VmCommandTarget = { hostId: dest!.id, vmUuid: vm!.uuid, vmId: vm!.id, jobId: job.id, timeoutMs: 30_000 };
      const there = await dispatcher.run(dest!.id, {
        commandId: step("locate"), deadlineMs: Date.now() + target.timeoutMs, vmUuid: vm!.uuid, body: { $case: "getVmStats", value: {} },
      }, { vmId: vm!.id, jobId: job.id, timeoutMs: target.timeoutMs }).then((r) => r.domain, () => undefined);
      if (there && there.powerState !== PowerState.POWER_STATE_SHUTOFF) {
        await settleMoved(db, m.id, { to: "Running", cause: `job ${job.id}: vm.migrate found the VM on ${dest!.name}` });
        return { host_id: dest!.id };
      }
      // On neither host: the reservation goes, and the VM is Stopped on its source (a start defines it again).
      return abandon("failed", err, "Stopped", `host ${source!.name} no longer knows the VM and ${dest!.name} does not run it`);
    }

    async function cold(): Promise<JobResult> {
      const target = (hostId: number, s: string, timeoutMs: number): VmCommandTarget =>
        ({ hostId, vmUuid: vm!.uuid, vmId: vm!.id, jobId: job.id, commandId: step(s), timeoutMs });
      const deployTimeout = settings.number("vm.deploy.timeout.ms");
      if (m.wasRunning) {
        if (await cancelRequested()) await abandon("cancelled", final("cancelled before the VM was stopped", "conflict"), "Running", "migration cancelled");
        const shutdownMs = settings.number("vm.shutdown.timeout.ms");
        try {
          await dispatcher.stopVm(target(source!.id, "stop", shutdownMs + deployTimeout), { mode: StopMode.STOP_MODE_ACPI, timeoutMs: shutdownMs })
            .catch(async (e: unknown) => {
              if (databaseUnavailableFrom(e)) throw e;
              return dispatcher.stopVm(target(source!.id, "stop-force", deployTimeout), { mode: StopMode.STOP_MODE_FORCE });
            });
        } catch (e) {
          const err = asOrbit(e);
          if (databaseUnavailableFrom(e) || err.retryable) throw e;
          await abandon("failed", err, "Running", `host ${source!.name} could not stop the VM`);
        }
        await ctx.progress(30);
      }
      try {
        // Undefined, disks kept: they are on storage the destination sees.
        await dispatcher.run(source!.id, {
          commandId: step("undefine"), deadlineMs: Date.now() + deployTimeout, vmUuid: vm!.uuid, body: { $case: "destroyVm", value: { removeOwnedDisks: false } },
        }, { vmId: vm!.id, jobId: job.id, timeoutMs: deployTimeout });
      } catch (e) {
        const err = asOrbit(e);
        if (databaseUnavailableFrom(e) || err.retryable) throw e;
        // A stopped VM the host never defined (created with start false) has nothing to undefine.
        if (err.code !== "not_found") await abandon("failed", err, "Stopped", `host ${source!.name} could not undefine the VM`);
      }
      await ctx.progress(60);
      await settleMoved(db, m.id, { to: m.wasRunning ? "Starting" : "Stopped", cause: `job ${job.id}: vm.migrate (cold) to ${dest!.name}` });
      if (!m.wasRunning) return { host_id: dest!.id };
      const [moved] = await db.select().from(vms).where(eq(vms.id, vm!.id));
      const spec = await startSpec(db, moved!, settings);
      try {
        const r = await dispatcher.run(dest!.id, {
          commandId: step("start"), deadlineMs: Date.now() + deployTimeout, vmUuid: vm!.uuid, body: { $case: "startVm", value: { spec } },
        }, { vmId: vm!.id, jobId: job.id, timeoutMs: deployTimeout });
        if (r.domain?.powerState !== PowerState.POWER_STATE_RUNNING) throw final(`host ${dest!.name} started the VM but reports it ${PowerState[r.domain?.powerState ?? 0]}`);
      } catch (e) {
        const err = asOrbit(e);
        if (databaseUnavailableFrom(e) || err.retryable) throw e;
        await db.transaction((tx) => transitionVm(tx, vm!.id, "Stopped", `job ${job.id}: vm.migrate start on ${dest!.name} failed`, {
          onlyFrom: ["Starting"], reason: `moved to host ${dest!.name}, which could not start it: ${err.message}`, powerState: "SHUTDOWN",
        }));
        throw final(`virtual machine ${vm!.id} moved to host ${dest!.name} (capacity there), which could not start it: ${err.message}; it is Stopped`);
      }
      await db.transaction((tx) => transitionVm(tx, vm!.id, "Running", `job ${job.id}: vm.migrate started on ${dest!.name}`, { onlyFrom: ["Starting"], powerState: "RUNNING" }));
      await queueFirewallIfChanged(db, moved!, spec.firewall, queue);
      return { host_id: dest!.id };
    }
  };
}
