// The reinstall and clone jobs send their steps in order, each under an id derived from the job's
// (a retried attempt sends the same ids, answered from the agent's memory), and settle the VM as
// it was asked: a reinstalled VM as it was before, a clone stopped or running.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PowerState, type Command, type DiskSpec, type DomainStatus } from "#shared/protocol.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { images, jobs, vms } from "../db/schema.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import type { VmCommandTarget } from "../agents/command-dispatcher.js";
import { stepCommandId } from "./job-command-ids.js";
import type { JobHandler, JobRow } from "./job-runner.js";
import { vmCloneJob, type VmCloneJobKind } from "./vm-clone.job.js";
import { vmReinstallJob, type VmReinstallJobKind } from "./vm-reinstall.job.js";

let database: Database;
let ids: FixtureIds;
let hostId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 1 });
  const [h] = ((await database.db.execute(sql`select id from hosts limit 1`)) as unknown as { rows: { id: number }[] }).rows;
  hostId = h!.id;
  await database.db.update(images).set({ path: "/images/base.qcow2" }).where(eq(images.id, ids.imageId));
});
afterAll(async () => { await database?.close(); });

const settings = { number: () => 10_000 };
const domain = (powerState: PowerState): DomainStatus => ({ vmUuid: "", name: "", powerState, reason: "", managed: true });

async function vmIn(state: string, clonedFromVmId?: number): Promise<{ id: number; uuid: string }> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "j", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state, vcpus: 1, memoryMib: 1, hostId, ...(clonedFromVmId ? { clonedFromVmId } : {}),
  }).returning({ id: vms.id, uuid: vms.uuid });
  return vm!;
}

/** A dispatcher that records each step: its name, command id and what it carried. */
function recorder() {
  const steps: { step: string; commandId: string | undefined; disk?: DiskSpec; replace?: boolean }[] = [];
  return {
    steps,
    stopVm: async (t: VmCommandTarget) => { steps.push({ step: "stop", commandId: t.commandId }); return domain(PowerState.POWER_STATE_SHUTOFF); },
    prepareDisk: async (t: VmCommandTarget, disk: DiskSpec, o: { replace: boolean }) => {
      steps.push({ step: "disk", commandId: t.commandId, disk, replace: o.replace });
      return undefined;
    },
    run: async (_h: number, c: Command) => { steps.push({ step: c.body!.$case, commandId: c.commandId }); return { domain: domain(PowerState.POWER_STATE_RUNNING) }; },
  };
}

async function run(kind: string, handlerFor: (d: ReturnType<typeof recorder>) => JobHandler, vmId: number) {
  const [job] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind, vmId, accountId: ids.accountId }).returning();
  const d = recorder();
  const result = await handlerFor(d)({ job: job as JobRow, attempt: 1, log: pino({ level: "silent" }), progress: async () => {}, signal: new AbortController().signal });
  return { job: job!, steps: d.steps, result };
}

const stateOf = async (id: number) => (await database.db.select({ state: vms.state }).from(vms).where(eq(vms.id, id)))[0]!.state;
const reinstall = (kind: VmReinstallJobKind) => (d: ReturnType<typeof recorder>) => vmReinstallJob(kind, database.db, d as never, settings);
const clone = (kind: VmCloneJobKind) => (d: ReturnType<typeof recorder>) => vmCloneJob(kind, database.db, d as never, settings);

describe("reinstall jobs", () => {
  it("a running VM: power off, replace the root disk on the image, start, each step under its own derived id; then Running", async () => {
    const vm = await vmIn("Reinstalling");
    const { job, steps, result } = await run("vm.reinstall-and-start", reinstall("vm.reinstall-and-start"), vm.id);
    expect(steps.map((s) => s.step)).toEqual(["stop", "disk", "startVm"]);
    expect(steps.map((s) => s.commandId)).toEqual(["stop", "disk", "start"].map((s) => stepCommandId(job.uuid, s)));
    expect(new Set(steps.map((s) => s.commandId)).size).toBe(3);
    expect(steps[1]).toMatchObject({ replace: true, disk: { id: "root", owned: true, backingPath: "/images/base.qcow2", copyFromVmUuid: "" } });
    expect(result).toMatchObject({ image_name: expect.any(String) });
    expect(await stateOf(vm.id)).toBe("Running");
  });

  it("a stopped VM: only the disk is replaced, and it stays Stopped; a VM no longer Reinstalling is left alone", async () => {
    const vm = await vmIn("Reinstalling");
    const { steps } = await run("vm.reinstall", reinstall("vm.reinstall"), vm.id);
    expect(steps.map((s) => s.step)).toEqual(["disk"]);
    expect(await stateOf(vm.id)).toBe("Stopped");
    const gone = await vmIn("Destroying");
    const skipped = await run("vm.reinstall", reinstall("vm.reinstall"), gone.id);
    expect(skipped.steps).toEqual([]);
    expect(skipped.result).toEqual({ skipped: "VM is Destroying" });
  });
});

describe("clone jobs", () => {
  it("copies the source's root disk into the clone (never replacing one there), then leaves it Stopped or starts it", async () => {
    const source = await vmIn("Stopped");
    const stopped = await vmIn("Creating", source.id);
    const a = await run("vm.clone", clone("vm.clone"), stopped.id);
    expect(a.steps.map((s) => s.step)).toEqual(["disk"]);
    expect(a.steps[0]).toMatchObject({ replace: false, commandId: stepCommandId(a.job.uuid, "disk"), disk: { copyFromVmUuid: source.uuid, backingPath: "/images/base.qcow2" } });
    expect(a.result).toEqual({ host_id: hostId, cloned_from: source.id });
    expect(await stateOf(stopped.id)).toBe("Stopped");
    const started = await vmIn("Creating", source.id);
    const b = await run("vm.clone-and-start", clone("vm.clone-and-start"), started.id);
    expect(b.steps.map((s) => s.step)).toEqual(["disk", "startVm"]);
    expect(await stateOf(started.id)).toBe("Running");
  });
});
