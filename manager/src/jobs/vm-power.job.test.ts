// The power jobs settle the VM from what the host answers: an ACPI shutdown the guest ignores
// leaves the VM Running with the reason and fails the job (not retried); a job that finds its VM
// in another state does nothing; a host answer that does not match the action is an error.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeadlineExceededError } from "#shared/errors.js";
import { PowerState, StopMode, type DomainStatus } from "#shared/protocol.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { jobs, vms } from "../db/schema.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import type { JobRow } from "./job-runner.js";
import { vmPowerJob, type VmPowerJobKind } from "./vm-power.job.js";

let database: Database;
let ids: FixtureIds;
let hostId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 1 });
  const [h] = ((await database.db.execute(sql`select id from hosts limit 1`)) as unknown as { rows: { id: number }[] }).rows;
  hostId = h!.id;
});
afterAll(async () => { await database?.close(); });

const settings = { number: (name: string) => (name === "vm.shutdown.timeout.ms" ? 1500 : 10_000) };
const domain = (powerState: PowerState): DomainStatus => ({ vmUuid: "", powerState, reason: "" } as DomainStatus);

async function vmIn(state: string): Promise<number> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "p", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state, vcpus: 1, memoryMib: 1, hostId,
  }).returning({ id: vms.id });
  return vm!.id;
}

async function run(kind: VmPowerJobKind, vmId: number, dispatcher: Record<string, unknown>) {
  const [job] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind, vmId, accountId: ids.accountId }).returning();
  const handler = vmPowerJob(kind, database.db, dispatcher as never, settings);
  return handler({ job: job as JobRow, attempt: 1, log: pino({ level: "silent" }), progress: async () => {}, signal: new AbortController().signal });
}

const vmRow = async (id: number) => (await database.db.select().from(vms).where(eq(vms.id, id)))[0]!;

describe("power jobs", () => {
  it("shutdown: a guest that ignores ACPI leaves the VM Running with the reason, the job fails for good", async () => {
    const id = await vmIn("Stopping");
    const asked: unknown[] = [];
    const err = await run("vm.shutdown", id, {
      stopVm: async (_t: unknown, o: unknown) => { asked.push(o); throw new DeadlineExceededError("did not shut down"); },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "deadline_exceeded", retryable: false });
    expect(asked).toEqual([{ mode: StopMode.STOP_MODE_ACPI, timeoutMs: 1500 }]);
    const vm = await vmRow(id);
    expect(vm.state).toBe("Running");
    expect(vm.stateReason).toContain("did not shut down within 1500 ms");
  });

  it("shutdown: a guest that powers off leaves the VM Stopped", async () => {
    const id = await vmIn("Stopping");
    await run("vm.shutdown", id, { stopVm: async () => domain(PowerState.POWER_STATE_SHUTOFF) });
    expect((await vmRow(id)).state).toBe("Stopped");
  });

  it("stop forces the domain off; other errors are the host's and leave the state to the failure hook", async () => {
    const id = await vmIn("Stopping");
    const modes: unknown[] = [];
    await run("vm.stop", id, { stopVm: async (_t: unknown, o: { mode: StopMode }) => { modes.push(o.mode); return domain(PowerState.POWER_STATE_SHUTOFF); } });
    expect(modes).toEqual([StopMode.STOP_MODE_FORCE]);
    expect((await vmRow(id)).state).toBe("Stopped");
  });

  it("hibernate: a host that reports the domain still running is an error, the VM stays Hibernating", async () => {
    const id = await vmIn("Hibernating");
    await expect(run("vm.hibernate", id, { hibernateVm: async () => domain(PowerState.POWER_STATE_RUNNING) }))
      .rejects.toMatchObject({ code: "hypervisor_error" });
    expect((await vmRow(id)).state).toBe("Hibernating");
    await run("vm.hibernate", id, { hibernateVm: async () => domain(PowerState.POWER_STATE_SHUTOFF) });
    expect((await vmRow(id)).state).toBe("Hibernated");
  });

  it("does nothing when the VM left the job's state (deleted meanwhile)", async () => {
    const id = await vmIn("Destroying");
    const r = await run("vm.restore", id, { restoreVm: async () => { throw new Error("must not be called"); } });
    expect(r).toEqual({ skipped: "VM is Destroying" });
  });
});
