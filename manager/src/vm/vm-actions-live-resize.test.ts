// VmActions.resize of a running VM: the new size is accounted on its host and the vm.scale job
// queued in one transaction; a second live resize while one is in flight, and a host without room,
// are 409s that change nothing.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { allocations, flavors, hosts, jobs, vms } from "../db/schema.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import type { PlacementResult } from "../allocator/types.js";
import { VmActions } from "./vm-actions.js";

let database: Database;
let ids: FixtureIds;
let hostId: number;
const flavorIds: Record<string, number> = {};
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 1 });
  const [h] = ((await database.db.execute(sql`select id from hosts limit 1`)) as unknown as { rows: { id: number }[] }).rows;
  hostId = h!.id;
  for (const [name, vcpus, memoryMib] of [["small", 2, 2048], ["big", 4, 4096], ["big-less-memory", 4, 3072]] as const) {
    const [f] = await database.db.insert(flavors).values({ name, vcpus, memoryMib, diskGib: 0 }).returning({ id: flavors.id });
    flavorIds[name] = f!.id;
  }
});
afterAll(async () => { await database?.close(); });

const admin = { accountId: 0, role: "admin" as const };
const fits: PlacementResult = { ok: true, plan: {} as never };
const noRoom: PlacementResult = { ok: false, rejection: { message: "No host can take the VM (2 vCPU, 2048 MiB)", vmIndex: 0, unschedulable: "now", hosts: [] } };

function actions(placed: PlacementResult) {
  const queued: number[] = [];
  const asked: unknown[] = [];
  const a = new VmActions(database.db, { enqueue: (id: number) => { queued.push(id); } }, {
    dryRun: async (r) => { asked.push(r); return placed; },
  }, { get: <T>() => true as T });
  return { a, queued, asked };
}

async function runningVm(): Promise<number> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "r", accountId: ids.accountId, environmentId: ids.envId, flavorId: flavorIds.small!, imageId: ids.imageId,
    state: "Running", vcpus: 2, memoryMib: 2048, hostId, scaleMaxVcpus: 4, scaleMaxMemoryMib: 4096, scaleMinMemoryMib: 2048,
  }).returning({ id: vms.id });
  await database.db.insert(allocations).values({ vmId: vm!.id, hostId, vcpus: 2, memoryMib: 2048 });
  return vm!.id;
}
const generation = async () => (await database.db.select({ g: hosts.generation }).from(hosts).where(eq(hosts.id, hostId)))[0]!.g;
const state = async (id: number) => ({
  vm: (await database.db.select({ flavorId: vms.flavorId, vcpus: vms.vcpus, memoryMib: vms.memoryMib }).from(vms).where(eq(vms.id, id)))[0],
  alloc: (await database.db.select({ vcpus: allocations.vcpus, memoryMib: allocations.memoryMib }).from(allocations).where(eq(allocations.vmId, id)))[0],
  jobs: (await database.db.select({ id: jobs.id, kind: jobs.kind, status: jobs.status, input: jobs.input }).from(jobs).where(eq(jobs.vmId, id))),
  generation: await generation(),
});

describe("live resize through VmActions", () => {
  it("places the growth on the VM's own host, then accounts the new size and queues vm.scale with both sizes at once", async () => {
    const id = await runningVm();
    const g = await generation();
    const { a, queued, asked } = actions(fits);
    const { jobId } = await a.resize(admin, id, "big");
    expect(asked).toEqual([expect.objectContaining({ vcpus: 2, memoryMib: 2048, hostId: String(hostId), count: 1 })]);
    expect(queued).toEqual([jobId]);
    const s = await state(id);
    expect(s.vm).toEqual({ flavorId: flavorIds.big, vcpus: 4, memoryMib: 4096 });
    expect(s.alloc).toEqual({ vcpus: 4, memoryMib: 4096 });
    expect(s.jobs).toEqual([{ id: jobId, kind: "vm.scale", status: "pending", input: {
      scale: { from: { flavorId: flavorIds.small, vcpus: 2, memoryMib: 2048 }, to: { flavorId: flavorIds.big, vcpus: 4, memoryMib: 4096 } },
    } }]);
    expect(s.generation).toBeGreaterThan(g);

    // One live resize at a time: the next is a 409 naming the job in flight, nothing changed.
    const before = await state(id);
    const second = actions(fits);
    await expect(second.a.resize(admin, id, "big-less-memory")).rejects.toMatchObject({
      code: "conflict", message: expect.stringMatching(new RegExp(`being resized live by job ${jobId}`)), details: { job_id: jobId },
    });
    expect(second.queued).toEqual([]);
    expect(await state(id)).toEqual(before);
  });

  it("a host without room for the growth: 409 no_room_on_host naming the placement's reason, nothing changed", async () => {
    const id = await runningVm();
    const before = await state(id);
    const { a, queued } = actions(noRoom);
    await expect(a.resize(admin, id, "big")).rejects.toMatchObject({
      code: "conflict", details: { rule: "no_room_on_host", state: "Running" },
      message: expect.stringMatching(/no room for flavor "big" \(No host can take the VM \(2 vCPU, 2048 MiB\)\): live migration to a host with room is not available yet/),
    });
    expect(queued).toEqual([]);
    expect(await state(id)).toEqual(before);
  });
});
