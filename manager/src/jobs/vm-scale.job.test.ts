// The live resize's job: memory then vCPUs to the running domain, each step tried 1 + scale.retry
// times; when the host cannot, the memory is put back, the VM and its allocation return to the old
// flavor and the job fails for good saying so. A VM stopped meanwhile gets its new size at its next start.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, OrbitError } from "#shared/errors.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { allocations, flavors, hosts, jobs, vms } from "../db/schema.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import type { VmCommandTarget } from "../agents/command-dispatcher.js";
import type { JobRow } from "./job-runner.js";
import { vmScaleJob } from "./vm-scale.job.js";

let database: Database;
let ids: FixtureIds;
let hostId: number;
let bigFlavorId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 1 });
  const [h] = ((await database.db.execute(sql`select id from hosts limit 1`)) as unknown as { rows: { id: number }[] }).rows;
  hostId = h!.id;
  const [f] = await database.db.insert(flavors).values({ name: "scale-big", vcpus: 4, memoryMib: 4096, diskGib: 0 }).returning({ id: flavors.id });
  bigFlavorId = f!.id;
});
afterAll(async () => { await database?.close(); });

const retries = (n: number) => ({ number: (name: string) => (name === "scale.retry" ? n : 10_000) });
const FROM = () => ({ flavorId: ids.flavorId, vcpus: 2, memoryMib: 2048 });
const TO = () => ({ flavorId: bigFlavorId, vcpus: 4, memoryMib: 4096 });

/** A running VM already accounted at the new size, as vm-actions leaves it, and its queued job. */
async function accepted(state = "Running"): Promise<{ vmId: number; job: JobRow }> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "s", accountId: ids.accountId, environmentId: ids.envId, flavorId: bigFlavorId, imageId: ids.imageId,
    state, vcpus: 4, memoryMib: 4096, hostId, scaleMaxVcpus: 4, scaleMaxMemoryMib: 4096, scaleMinMemoryMib: 2048,
  }).returning({ id: vms.id });
  await database.db.insert(allocations).values({ vmId: vm!.id, hostId, vcpus: 4, memoryMib: 4096 });
  const [job] = await database.db.insert(jobs).values({
    uuid: randomUUID(), kind: "vm.scale", vmId: vm!.id, accountId: ids.accountId, input: { scale: { from: FROM(), to: TO() } },
  }).returning();
  return { vmId: vm!.id, job: job as JobRow };
}

type Asked = { to: { vcpus?: number; memoryMib?: number }; commandId: string | undefined };
function host(answer: (to: Asked["to"], n: number) => void) {
  const asked: Asked[] = [];
  return {
    asked,
    resizeVm: async (t: VmCommandTarget, to: Asked["to"]) => { asked.push({ to, commandId: t.commandId }); answer(to, asked.length); return {}; },
  };
}

const run = (job: JobRow, dispatcher: ReturnType<typeof host>, retry = 2) =>
  vmScaleJob(database.db, dispatcher as never, retries(retry), { backoffMs: () => 0 })({
    job, attempt: 1, log: pino({ level: "silent" }), progress: async () => {}, signal: new AbortController().signal,
  });
const rows = async (vmId: number) => ({
  vm: (await database.db.select({ flavorId: vms.flavorId, vcpus: vms.vcpus, memoryMib: vms.memoryMib, state: vms.state }).from(vms).where(eq(vms.id, vmId)))[0],
  alloc: (await database.db.select({ vcpus: allocations.vcpus, memoryMib: allocations.memoryMib }).from(allocations).where(eq(allocations.vmId, vmId)))[0],
});

describe("vm.scale job", () => {
  it("sets the memory, then the vCPUs, each under its own command id, and keeps the new size", async () => {
    const { vmId, job } = await accepted();
    const generation = (await database.db.select({ g: hosts.generation }).from(hosts).where(eq(hosts.id, hostId)))[0]!.g;
    const d = host(() => {});
    expect(await run(job, d)).toEqual({ scaled: { vcpus: 4, memory_mib: 4096 } });
    expect(d.asked.map((a) => a.to)).toEqual([{ memoryMib: 4096 }, { vcpus: 4 }]);
    expect(new Set(d.asked.map((a) => a.commandId)).size).toBe(2);
    expect(await rows(vmId)).toEqual({ vm: { flavorId: bigFlavorId, vcpus: 4, memoryMib: 4096, state: "Running" }, alloc: { vcpus: 4, memoryMib: 4096 } });
    // Nothing given back: the host's capacity is as the resize left it.
    expect((await database.db.select({ g: hosts.generation }).from(hosts).where(eq(hosts.id, hostId)))[0]!.g).toBe(generation);
  });

  it("tries a failing step again, scale.retry times, each try a new command", async () => {
    const { job } = await accepted();
    const d = host((to, n) => { if (to.vcpus && n < 4) throw new OrbitError("hypervisor_error", "host busy", { retryable: true }); });
    expect(await run(job, d, 2)).toMatchObject({ scaled: { vcpus: 4 } });
    expect(d.asked.map((a) => a.to)).toEqual([{ memoryMib: 4096 }, { vcpus: 4 }, { vcpus: 4 }, { vcpus: 4 }]);
    expect(new Set(d.asked.map((a) => a.commandId)).size).toBe(4);
  });

  it("after the last try: memory put back, the old flavor and capacity restored, the job failed for good saying the VM runs as it was", async () => {
    const { vmId, job } = await accepted();
    const d = host((to) => { if (to.vcpus) throw new OrbitError("hypervisor_error", "host busy", { retryable: true }); });
    const err = await run(job, d, 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "hypervisor_error", retryable: false });
    expect((err as Error).message).toMatch(/failed \(tried 2 times\): host busy; it keeps running with 2 vCPUs and 2048 MiB and its old flavor, and the capacity was given back$/);
    expect(d.asked.map((a) => a.to)).toEqual([{ memoryMib: 4096 }, { vcpus: 4 }, { vcpus: 4 }, { memoryMib: 2048 }]);
    expect(await rows(vmId)).toEqual({ vm: { flavorId: ids.flavorId, vcpus: 2, memoryMib: 2048, state: "Running" }, alloc: { vcpus: 2, memoryMib: 2048 } });
  });

  it("does not try again what no retry mends (past the domain's maximum), and says when the memory could not be put back", async () => {
    const { vmId, job } = await accepted();
    const d = host((to) => {
      if (to.vcpus) throw new InvalidArgumentError("resize_vm.vcpus", "VM can have at most 2 vCPUs (its maximum); 4 asked");
      if (to.memoryMib === 2048) throw new OrbitError("hypervisor_error", "host gone");
    });
    const err = await run(job, d, 2).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "invalid_argument", retryable: false });
    expect((err as Error).message).toMatch(/failed \(tried once\): VM can have at most 2 vCPUs.*given back \(putting its memory back to 2048 MiB failed too: host gone\)$/);
    expect(d.asked.map((a) => a.to)).toEqual([{ memoryMib: 4096 }, { vcpus: 4 }, { memoryMib: 2048 }]);
    expect((await rows(vmId)).vm).toMatchObject({ flavorId: ids.flavorId, vcpus: 2 });
  });

  it("a VM stopped before the job ran is sent nothing: its next start runs the new size", async () => {
    const { vmId, job } = await accepted("Stopped");
    const d = host(() => {});
    expect(await run(job, d)).toEqual({ skipped: "VM is Stopped: its next start runs the new size" });
    expect(d.asked).toEqual([]);
    expect((await rows(vmId)).vm).toMatchObject({ flavorId: bigFlavorId, vcpus: 4 });
  });
});
