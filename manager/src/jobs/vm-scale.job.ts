// A running VM's live resize (queued by vm/vm-actions.ts once the new size is accounted on its
// host): memory first (the balloon, which can be undone), then vCPUs (hot-plugged; never undone
// live). Each step is tried 1 + `scale.retry` times. When the host cannot, the domain's memory is
// put back, the VM and its allocation return to the old flavor, and the job fails saying so: the
// VM keeps running as it was.
import { and, eq } from "drizzle-orm";
import { databaseUnavailableFrom, fromErrorInfo, OrbitError, toErrorInfo } from "#shared/errors.js";
import type { CommandDispatcher, VmCommandTarget } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { allocations, vms } from "../db/schema.js";
import { touchHost } from "../hosts/host-generation.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { stepCommandId } from "./job-command-ids.js";
import type { ScaleSize } from "./job-input.js";
import type { JobHandler } from "./job-runner.js";

export const VM_SCALE_JOB = "vm.scale";

/** Errors no retry can mend: the command itself is wrong for the domain (past its maximum, no such capability). */
const FINAL_CODES = new Set(["invalid_argument", "unsupported", "not_found"]);

function toOrbitError(e: unknown): OrbitError {
  return e instanceof OrbitError ? e : fromErrorInfo(toErrorInfo(e));
}

export interface ScaleJobOptions {
  /** The pause before a step's next try (ms), by try number from 1. */
  backoffMs?: (attempt: number) => number;
}

export function vmScaleJob(
  db: Db, dispatcher: Pick<CommandDispatcher, "resizeVm">, settings: Pick<SettingsRegistry, "number">, o: ScaleJobOptions = {},
): JobHandler {
  const backoff = o.backoffMs ?? ((n: number) => 500 * n);
  return async ({ job, log }) => {
    if (job.vmId == null) throw new OrbitError("internal", "vm.scale job without a VM");
    const scale = job.input.scale;
    if (!scale) throw new OrbitError("internal", `vm.scale job ${job.id} has no sizes`);
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    // Stopped meanwhile: its next start defines the domain at the new size, already accounted.
    if (vm.state !== "Running" || vm.hostId == null) return { skipped: `VM is ${vm.state}: its next start runs the new size` };
    const target = (step: string): VmCommandTarget => ({
      hostId: vm.hostId!, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: stepCommandId(job.uuid, step),
      timeoutMs: settings.number("vm.deploy.timeout.ms"),
    });
    const tries = 1 + settings.number("scale.retry");
    let triesMade = 0;
    const step = async (name: string, to: { vcpus?: number; memoryMib?: number }): Promise<void> => {
      for (let n = 1; ; n++) {
        triesMade = n;
        try {
          await dispatcher.resizeVm(target(`${name}/${n}`), to);
          return;
        } catch (e) {
          const err = toOrbitError(e);
          if (databaseUnavailableFrom(e)) throw e;
          if (n >= tries || FINAL_CODES.has(err.code)) throw err;
          log.warn({ err: err.message, step: name, try: n }, "live resize step failed, trying again");
          await new Promise((r) => setTimeout(r, backoff(n)));
        }
      }
    };
    const { from, to } = scale;
    let memorySet = false;
    try {
      if (to.memoryMib !== from.memoryMib) {
        await step("memory", { memoryMib: to.memoryMib });
        memorySet = true;
      }
      if (to.vcpus !== from.vcpus) await step("vcpus", { vcpus: to.vcpus });
    } catch (e) {
      // The database, not the host, failed: the runner runs the job again (same command ids).
      if (databaseUnavailableFrom(e)) throw e;
      const err = toOrbitError(e);
      let undone = "";
      if (memorySet) {
        // Best effort: the balloon back to the old size (a failure here leaves the guest more memory than accounted, said in the error).
        undone = await dispatcher.resizeVm(target("memory-undo"), { memoryMib: from.memoryMib })
          .then(() => "", (u: unknown) => ` (putting its memory back to ${from.memoryMib} MiB failed too: ${toOrbitError(u).message})`);
      }
      await giveBack(db, vm.id, vm.hostId, from, to);
      throw new OrbitError(err.code === "invalid_argument" ? "invalid_argument" : "hypervisor_error",
        `live resize of virtual machine ${vm.id} to ${to.vcpus} vCPUs and ${to.memoryMib} MiB failed (${triesMade === 1 ? "tried once" : `tried ${triesMade} times`}): ${err.message}; `
        + `it keeps running with ${from.vcpus} vCPUs and ${from.memoryMib} MiB and its old flavor, and the capacity was given back${undone}`,
        { retryable: false, details: { from, to } });
    }
    return { scaled: { vcpus: to.vcpus, memory_mib: to.memoryMib } };
  };
}

/** The VM and its allocation back to the old size, unless something changed its flavor since. */
async function giveBack(db: Db, vmId: number, hostId: number, from: ScaleSize, to: ScaleSize): Promise<void> {
  await db.transaction(async (tx) => {
    const [now] = await tx.select({ flavorId: vms.flavorId }).from(vms).where(eq(vms.id, vmId)).for("update");
    if (now?.flavorId !== to.flavorId) return;
    await tx.update(vms).set({ flavorId: from.flavorId, vcpus: from.vcpus, memoryMib: from.memoryMib, updatedAt: new Date() })
      .where(and(eq(vms.id, vmId), eq(vms.flavorId, to.flavorId)));
    await tx.update(allocations).set({ vcpus: from.vcpus, memoryMib: from.memoryMib }).where(eq(allocations.vmId, vmId));
    await touchHost(tx, hostId);
  });
}
